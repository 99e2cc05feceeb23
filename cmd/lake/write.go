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
		name:    "write",
		summary: "write one value (a delta) to a field of a catalog; prints the version",
		usage:   "write CATALOG FIELD VALUE [--merge TYPE] [--script NAME]",
		help: `Commits one delta: VALUE merged into FIELD of the catalog's document, and
prints the version it was committed at.

CATALOG is 1-128 characters from A-Z a-z 0-9 _ (and . : @ = - after the first).
FIELD is a dotted path (profile.name; a\.b is the key "a.b"), a JSON Pointer
(/profile/name), or "" for the whole document.
VALUE is JSON text: a string needs its quotes ('"Ada"'); text that is not
valid JSON is refused (exit 2), never quoted for you. Put -- before a VALUE
that starts with "-" and is not a number.`,
		example: []string{
			`lake write users profile.name '"Ada"'`,
			`lake write users profile '{"age":36}' --merge patch`,
			`lake write users tags '[{"op":"add","path":"/-","value":"x"}]' --merge jsonpatch`,
			`lake write users profile.age null --merge delete`,
			`lake write counters hits -1`,
			`lake write counters hits 5 --merge script --script counter`,
		},
		setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
			mergeName := fs.String("merge", "set", "merge `TYPE`: set, insert, replace, delete, patch (RFC 7396), jsonpatch (RFC 6902) or script")
			script := fs.String("script", "", "the registered merge script `NAME` of --merge script")
			return func(ctx context.Context, args []string) error {
				if err := wantArgs(args, 3, 3, "CATALOG FIELD VALUE"); err != nil {
					return err
				}
				mergeType, err := lake.ParseMergeType(*mergeName)
				if err != nil {
					return err
				}
				if !server.Supported(mergeType) {
					return fmt.Errorf("%w %q: not supported by this command (supported: set, insert, replace, delete, patch, jsonpatch, script)",
						lake.ErrUnknownMergeType, *mergeName)
				}
				value := []byte(args[2])
				if !json.Valid(value) {
					return fmt.Errorf("%w: VALUE %q is not valid JSON text (to write a string, quote it: '\"text\"')",
						lake.ErrInvalidValue, args[2])
				}
				if err := lake.ValidateCatalog(args[0]); err != nil {
					return err
				}
				client := a.open()
				defer closeClient(a, client)
				version, err := client.WriteVersion(ctx, lake.WriteRequest{
					Catalog: args[0], Field: args[1], Value: lake.JSON(value), MergeType: mergeType, Script: *script,
				})
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, version)
				return nil
			}
		},
	})
}
