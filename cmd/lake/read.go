package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"

	lake "github.com/hkloudou/lake/v2"
)

func init() {
	register(&command{
		name:    "read",
		summary: "print a catalog's document as one line of JSON",
		usage:   "read CATALOG [--snap] [--strict] [--pretty] [--verbose]",
		help: `Prints the catalog's current document (the latest snapshot with the deltas
after it folded in) as one line of JSON on stdout (indented with --pretty).
A catalog never written to prints {}. With --verbose (-v), the version and
the fold's details go to stderr.`,
		example: []string{
			`lake read users`,
			`lake read users --pretty`,
			`lake read users --snap --verbose`,
		},
		setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
			snap := fs.Bool("snap", false, "save the folded document as a snapshot, so later reads start there")
			strict := fs.Bool("strict", false, "fail (exit 1) instead of printing a document without the deltas that cannot apply")
			verbose := fs.Bool("verbose", false, "print the version, snapshot and skipped deltas on stderr")
			boolAlias(fs, verbose, "v", "verbose")
			pretty := fs.Bool("pretty", false, "print the document indented, over several lines")
			return func(ctx context.Context, args []string) error {
				if err := wantArgs(args, 1, 1, "CATALOG"); err != nil {
					return err
				}
				if err := lake.ValidateCatalog(args[0]); err != nil {
					return err
				}
				client := a.open()
				defer closeClient(a, client)
				res, err := client.Read(ctx, readRequest(args[0], *snap, *strict))
				if err != nil {
					return err
				}
				if *pretty {
					var out bytes.Buffer
					if err := json.Indent(&out, res.Data, "", "  "); err != nil {
						return fmt.Errorf("lake: read %q: indent the document: %w", args[0], err)
					}
					out.WriteByte('\n')
					a.stdout.Write(out.Bytes())
				} else {
					fmt.Fprintln(a.stdout, res.Data)
				}
				if *verbose {
					fmt.Fprintf(a.stderr, "version %d (snapshot %d + %d deltas", res.Version, res.Snapshot.Version, res.Snapshot.Deltas)
					if res.Snapshot.Saved {
						fmt.Fprintf(a.stderr, ", snapshot saved")
					} else if res.Snapshot.SaveError != nil {
						fmt.Fprintf(a.stderr, ", snapshot not saved: %v", res.Snapshot.SaveError)
					}
					fmt.Fprintln(a.stderr, ")")
					for _, s := range res.Skipped {
						fmt.Fprintf(a.stderr, "skipped version %d (field %q, merge %s): %s\n", s.Version, s.Field, s.Merge, s.Reason)
					}
				} else if n := len(res.Skipped); n > 0 {
					fmt.Fprintf(a.stderr, "lake read: %d delta(s) could not apply and were skipped (--verbose lists them)\n", n)
				}
				return nil
			}
		},
	})
}

// readRequest builds the library request.
func readRequest(catalog string, snap, strict bool) lake.ReadRequest {
	return lake.ReadRequest{Catalog: catalog, GenerateSnap: snap, Strict: strict}
}
