package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/hkloudou/lake/v2/server"
)

func init() {
	register(&command{
		name:    "catalogs",
		summary: "list the catalogs and their versions",
		usage:   "catalogs [--after NAME] [--limit N]",
		help: `Prints one line per catalog, "name<TAB>version", in byte order of the names.
Without --limit, lists every catalog (fetched in pages).`,
		example: []string{
			`lake catalogs`,
			`lake catalogs --after users --limit 10`,
		},
		setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
			after := fs.String("after", "", "list the catalogs whose names sort after `NAME`")
			limit := fs.Int("limit", 0, "list at most `N` catalogs (0: all)")
			return func(ctx context.Context, args []string) error {
				if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
					return err
				}
				if *limit < 0 {
					return usagef("--limit %d: want a number >= 0", *limit)
				}
				client := a.open()
				defer closeClient(a, client)
				cursor, left := *after, *limit
				for {
					page := server.MaxListLimit
					if *limit > 0 {
						page = min(page, left)
					}
					list, err := client.Catalogs(ctx, cursor, page)
					if err != nil {
						return err
					}
					for _, c := range list {
						fmt.Fprintf(a.stdout, "%s\t%d\n", c.Name, c.Version)
					}
					left -= len(list)
					if len(list) < page || (*limit > 0 && left <= 0) {
						return nil
					}
					cursor = list[len(list)-1].Name
				}
			}
		},
	})
}
