package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/hkloudou/lake/v2/server"
)

func init() {
	register(&command{
		name:    "catalogs",
		summary: "list the catalogs and their versions",
		usage:   "catalogs [--after NAME] [--limit N] [--json]",
		help: `Prints a header line (CATALOG<TAB>VERSION), then one line per catalog,
"name<TAB>version", in byte order of the names. With --json, prints one JSON
document instead: {"catalogs":[{"name":...,"version":...}]}.
Without --limit, lists every catalog (fetched in pages).`,
		example: []string{
			`lake catalogs`,
			`lake catalogs --after users --limit 10`,
			`lake catalogs --json`,
		},
		setup: setupCatalogs,
	})
}

// catalogsOptions are the flags of lake catalogs.
type catalogsOptions struct {
	after  string // list the names after this one
	limit  int    // 0: all
	asJSON bool
}

func setupCatalogs(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	var o catalogsOptions
	fs.StringVar(&o.after, "after", "", "list the catalogs whose names sort after `NAME`")
	fs.IntVar(&o.limit, "limit", 0, "list at most `N` catalogs (0: all)")
	fs.BoolVar(&o.asJSON, "json", false, `print one JSON document, {"catalogs":[{"name":...,"version":...}]}`)
	return func(ctx context.Context, args []string) error { return runCatalogs(ctx, a, o, args) }
}

// runCatalogs lists the catalogs page by page: the table is printed as the
// pages come, the JSON document whole at the end.
func runCatalogs(ctx context.Context, a *app, o catalogsOptions, args []string) error {
	if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
		return err
	}
	if o.limit < 0 {
		return usagef("--limit %d: want a number >= 0", o.limit)
	}
	client := a.open()
	defer closeClient(a, client)
	all := []catalogJSON{}
	header := !o.asJSON // printed with the first page, so a failure prints no table
	cursor, left := o.after, o.limit
	for {
		page := server.MaxListLimit
		if o.limit > 0 {
			page = min(page, left)
		}
		list, err := client.Catalogs(ctx, cursor, page)
		if err != nil {
			return err
		}
		if o.asJSON {
			for _, c := range list {
				all = append(all, catalogJSON{Name: c.Name, Version: c.Version})
			}
		} else {
			if header {
				fmt.Fprintln(a.stdout, "CATALOG\tVERSION")
				header = false
			}
			for _, c := range list {
				fmt.Fprintf(a.stdout, "%s\t%d\n", c.Name, c.Version)
			}
		}
		left -= len(list)
		if len(list) < page || (o.limit > 0 && left <= 0) {
			break
		}
		cursor = list[len(list)-1].Name
	}
	if !o.asJSON {
		return nil
	}
	out, err := json.Marshal(catalogsJSON{Catalogs: all})
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, string(out))
	return nil
}

// catalogsJSON is the --json output, the shape of GET /v1/catalogs without
// its cursor.
type catalogsJSON struct {
	Catalogs []catalogJSON `json:"catalogs"`
}

type catalogJSON struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
}
