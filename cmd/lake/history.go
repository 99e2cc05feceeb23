package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	lake "github.com/hkloudou/lake/v2"
)

func init() {
	register(&command{
		name:    "history",
		summary: "list the changes of a catalog (or of one field), newest first",
		usage:   "history CATALOG [FIELD] [--before VERSION] [--after VERSION] [--limit N]",
		help: `Prints the changes of the catalog that touched FIELD (a delta at the field,
under it, or above it, which may have replaced it; every change without
FIELD), newest first, one JSON line each:
  {"version":N,"time":"RFC 3339","field":"...","merge":"...","value":...}
"value" is the value as written; a delete has none. Archived changes (in
log segments) are listed like the others; changes older than the lake's
retention are not.

--before and --after bound the versions (after < version < before). At most
--limit changes are printed (default 100, at most 1000); when more remain, a
last line on stderr gives the --before that continues the listing.
lake read CATALOG --at VERSION prints the document as it was at one of them.`,
		example: []string{
			`lake history users`,
			`lake history users profile.name --limit 10`,
			`lake history users profile --before 1796119200000000`,
		},
		setup: setupHistory,
	})
}

// historyOptions are the flags of lake history.
type historyOptions struct {
	before, after int64
	limit         int
}

func setupHistory(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	var o historyOptions
	fs.Int64Var(&o.before, "before", 0, "list the changes older than `VERSION` (0: no bound)")
	fs.Int64Var(&o.after, "after", 0, "list the changes newer than `VERSION` (0: no bound)")
	fs.IntVar(&o.limit, "limit", 0, fmt.Sprintf("print at most `N` changes (0: %d; at most %d)", lake.DefaultHistoryLimit, lake.MaxHistoryLimit))
	return func(ctx context.Context, args []string) error { return runHistory(ctx, a, o, args) }
}

// runHistory prints one page of the changes of the catalog args[0] (of
// the field args[1], if given), and how to get the next one.
func runHistory(ctx context.Context, a *app, o historyOptions, args []string) error {
	if err := wantArgs(args, 1, 2, "CATALOG [FIELD]"); err != nil {
		return err
	}
	if err := lake.ValidateCatalog(args[0]); err != nil {
		return err
	}
	if o.before < 0 || o.after < 0 {
		return usagef("--before %d --after %d: want versions >= 0", o.before, o.after)
	}
	if o.limit < 0 {
		return usagef("--limit %d: want a number >= 0", o.limit)
	}
	req := lake.HistoryRequest{Catalog: args[0], Before: o.before, After: o.after, Limit: o.limit}
	if len(args) == 2 {
		req.Field = args[1]
	}
	client := a.open()
	defer closeClient(a, client)
	res, err := client.History(ctx, req)
	if err != nil {
		return err
	}
	for _, c := range res.Changes {
		line, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("lake: history of %q: version %d: %w", req.Catalog, c.Version, err)
		}
		fmt.Fprintln(a.stdout, string(line))
	}
	if res.Next != 0 {
		fmt.Fprintf(a.stderr, "lake history: more changes remain: add --before %d to continue\n", res.Next)
	}
	return nil
}
