package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/server"
)

func init() {
	register(&command{
		name:    "write",
		summary: "write one value (a delta) to a field of a catalog; prints the version",
		usage:   "write CATALOG FIELD VALUE|- [--merge TYPE] [--script NAME]",
		help: `Commits one delta: VALUE merged into FIELD of the catalog's document, and
prints the version it was committed at.

CATALOG is 1-128 characters from A-Z a-z 0-9 _ (and . : @ = - after the first).
FIELD is a dotted path (profile.name; a\.b is the key "a.b"), a JSON Pointer
(/profile/name), or "" for the whole document.
VALUE is JSON text: a string needs its quotes ('"Ada"'); text that is not
valid JSON is refused (exit 2), never quoted for you. Put -- before a VALUE
that starts with "-" and is not a number. A VALUE of - reads the JSON text
from stdin (for values too large or awkward for the command line).`,
		example: []string{
			`lake write users profile.name '"Ada"'`,
			`lake write users profile '{"age":36}' --merge patch`,
			`lake write users tags '[{"op":"add","path":"/-","value":"x"}]' --merge jsonpatch`,
			`lake write users profile.age null --merge delete`,
			`lake write counters hits -1`,
			`lake write counters hits 5 --merge script --script counter`,
			`jq .profile user.json | lake write users profile -`,
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
				if args[2] == "-" {
					if value, err = readValue(a.stdin); err != nil {
						return err
					}
				}
				if !json.Valid(value) {
					shown := args[2]
					if shown == "-" {
						shown = "from stdin"
						if len(value) <= 64 {
							shown = fmt.Sprintf("%q from stdin", value)
						}
					} else {
						shown = fmt.Sprintf("%q", shown)
					}
					return fmt.Errorf("%w: VALUE %s is not valid JSON text (to write a string, quote it: '\"text\"')",
						lake.ErrInvalidValue, shown)
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

// maxStdinValue bounds what `write ... -` reads from stdin: JSON text may
// carry whitespace the encoded body does not, but not this much.
const maxStdinValue = 4 * lake.DefaultMaxBodySize

// readValue reads a VALUE from r, without the whitespace around it.
func readValue(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxStdinValue+1))
	if err != nil {
		return nil, usagef("read VALUE from stdin: %v", err)
	}
	if len(data) > maxStdinValue {
		return nil, fmt.Errorf("%w: VALUE from stdin is over %d bytes", lake.ErrBodyTooLarge, maxStdinValue)
	}
	return bytes.TrimSpace(data), nil
}
