package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/server"
)

func init() {
	register(&command{
		name:    "compact",
		summary: "archive catalogs' logs to segments and trim them from the meta store",
		usage:   "compact CATALOG... | compact --all",
		help: `Compacts each CATALOG (or every catalog with --all): every log entry not
archived yet is written, with its body, to log segments in the object store,
a snapshot of the current document is saved, and the entries at or below it
are removed from the meta store, which keeps its memory bounded. Entries
younger than two minutes stay (a lost commit answer is retried for a minute).
Reads of the present are unchanged; reads of the past (lake read --at,
lake history) read the segments.

Prints one JSON line per catalog:
  {"catalog":"...","snapshot":N,"archived":N,"segments":N,"entries":N,"trimmed":N,"removed":N}
archived and trimmed are where the archive and the trim stand after the run,
segments and entries what it archived, removed how many entries it trimmed;
"busy":true means another process was compacting the catalog, and this run
did nothing. A catalog that fails is reported on stderr and the others are
still compacted; the exit code is then 1 (or 2 for bad input).

lake serve compacts the catalogs it writes to in the background (see its
--compact-every); this command is for other writers, or to compact now.`,
		example: []string{
			`lake compact users`,
			`lake compact users orders`,
			`lake --meta redis://localhost:6379 compact --all`,
		},
		setup: setupCompact,
	})
}

func setupCompact(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	var all bool
	fs.BoolVar(&all, "all", false, "compact every catalog")
	return func(ctx context.Context, args []string) error { return runCompact(ctx, a, all, args) }
}

// runCompact compacts the named catalogs, or every catalog with all, and
// prints each result. Every catalog is tried; the error reports how many
// failed.
func runCompact(ctx context.Context, a *app, all bool, args []string) error {
	if all {
		if err := wantArgs(args, 0, 0, "no CATALOG with --all"); err != nil {
			return err
		}
	} else if len(args) == 0 {
		return usagef("want CATALOG... or --all, got 0 argument(s)")
	}
	for _, name := range args {
		if err := lake.ValidateCatalog(name); err != nil {
			return err
		}
	}
	client := a.open()
	defer closeClient(a, client)
	run := &compactRun{a: a, client: client}
	if !all {
		for _, name := range args {
			run.compact(ctx, name)
		}
		return run.err()
	}
	// The listing goes on after the last catalog of each page: compaction
	// adds and removes no catalog.
	after := ""
	for {
		list, err := client.Catalogs(ctx, after, server.MaxListLimit)
		if err != nil {
			return err // the catalogs compacted so far are printed
		}
		for _, c := range list {
			run.compact(ctx, c.Name)
		}
		if len(list) < server.MaxListLimit {
			return run.err()
		}
		after = list[len(list)-1].Name
	}
}

// compactRun compacts catalogs one after the other and counts failures.
type compactRun struct {
	a             *app
	client        *lake.Client
	total, failed int
	first         error
}

// compact compacts one catalog and prints its result, or reports its
// failure on stderr.
func (r *compactRun) compact(ctx context.Context, catalog string) {
	r.total++
	res, err := r.client.Compact(ctx, catalog)
	if err != nil {
		r.fail(err)
		return
	}
	out, err := json.Marshal(res)
	if err != nil {
		r.fail(fmt.Errorf("lake: compact %q: %w", catalog, err))
		return
	}
	fmt.Fprintln(r.a.stdout, string(out))
}

func (r *compactRun) fail(err error) {
	fmt.Fprintln(r.a.stderr, errorLine("compact", err))
	r.failed++
	if r.first == nil {
		r.first = err
	}
}

// err is the run's error: nil when every catalog was compacted.
func (r *compactRun) err() error {
	if r.failed == 0 {
		return nil
	}
	return &compactFailures{failed: r.failed, total: r.total, first: r.first}
}

// compactFailures is the error of a run in which some catalogs failed, each
// reported on stderr as it failed. It unwraps to the first failure, whose
// kind sets the exit code and the hint.
type compactFailures struct {
	failed, total int
	first         error
}

func (e *compactFailures) Error() string {
	return fmt.Sprintf("%d of %d catalog(s) failed (reported above)", e.failed, e.total)
}

func (e *compactFailures) Unwrap() error { return e.first }
