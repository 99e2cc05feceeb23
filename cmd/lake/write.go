package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/merge"
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
		setup: setupWrite,
	})
}

// mergeRFCs names the RFC that defines a merge type, for --merge's help.
var mergeRFCs = map[string]string{"patch": "RFC 7396", "jsonpatch": "RFC 6902"}

// mergeTypesHelp lists the merge types as --merge's help shows them:
// "set, insert, ..., patch (RFC 7396), jsonpatch (RFC 6902) or script".
func mergeTypesHelp() string {
	names := merge.TypeNames()
	for i, name := range names {
		if rfc := mergeRFCs[name]; rfc != "" {
			names[i] += " (" + rfc + ")"
		}
	}
	last := len(names) - 1
	return strings.Join(names[:last], ", ") + " or " + names[last]
}

// writeOptions are the flags of lake write.
type writeOptions struct {
	merge  string // --merge: the merge type's name
	script string // --script: the merge script of --merge script
}

func setupWrite(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	var o writeOptions
	fs.StringVar(&o.merge, "merge", "set", "merge `TYPE`: "+mergeTypesHelp())
	fs.StringVar(&o.script, "script", "", "the registered merge script `NAME` of --merge script")
	return func(ctx context.Context, args []string) error { return runWrite(ctx, a, o, args) }
}

// runWrite commits VALUE (args[2], or stdin for "-") to FIELD of CATALOG and
// prints the version. The merge type, VALUE and CATALOG are checked before
// the lake is opened.
func runWrite(ctx context.Context, a *app, o writeOptions, args []string) error {
	if err := wantArgs(args, 3, 3, "CATALOG FIELD VALUE"); err != nil {
		return err
	}
	mergeType, err := lake.ParseMergeType(o.merge)
	if err != nil {
		return err
	}
	value, err := writeValue(a, args[2])
	if err != nil {
		return err
	}
	if err := lake.ValidateCatalog(args[0]); err != nil {
		return err
	}
	client := a.open()
	defer closeClient(a, client)
	version, err := client.WriteVersion(ctx, lake.WriteRequest{
		Catalog: args[0], Field: args[1], Value: lake.JSON(value), MergeType: mergeType, Script: o.script,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, version)
	return nil
}

// writeValue returns the JSON text of the VALUE argument: arg itself, or
// stdin when arg is "-". Text that is not valid JSON is ErrInvalidValue.
func writeValue(a *app, arg string) ([]byte, error) {
	value := []byte(arg)
	if arg == "-" {
		var err error
		if value, err = readValue(a.stdin); err != nil {
			return nil, err
		}
	}
	if json.Valid(value) {
		return value, nil
	}
	shown := fmt.Sprintf("%q", arg)
	if arg == "-" {
		shown = "from stdin"
		if len(value) <= 64 {
			shown = fmt.Sprintf("%q from stdin", value)
		}
	}
	return nil, fmt.Errorf("%w: VALUE %s is not valid JSON text (to write a string, quote it: '\"text\"')",
		lake.ErrInvalidValue, shown)
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
