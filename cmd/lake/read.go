package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	lake "github.com/hkloudou/lake/v2"
)

func init() {
	register(&command{
		name:    "read",
		summary: "print a catalog's document as one line of JSON",
		usage:   "read CATALOG [--at VERSION|TIME] [--snap] [--strict] [--pretty] [--verbose]",
		help: `Prints the catalog's current document (the latest snapshot with the deltas
after it folded in) as one line of JSON on stdout (indented with --pretty).
A catalog never written to prints {}. With --verbose (-v), the version and
the fold's details go to stderr.

--at prints the document as it was at a version (a positive integer, as
lake write and lake history print them) or at an RFC 3339 time
(2026-12-01T10:00:00Z, fractional seconds and UTC offsets allowed): every
delta up to it folded, whether its entry is still in the meta store or
archived in a log segment. A version older than the lake keeps (its config's
retention) or than the catalog's last deletion exits 2 and names the oldest
one still readable; so does a version or time in the future.`,
		example: []string{
			`lake read users`,
			`lake read users --pretty`,
			`lake read users --snap --verbose`,
			`lake read users --at 2026-12-01T10:00:00Z`,
			`lake read users --at 1796119200000000 -v`,
		},
		setup: setupRead,
	})
}

// readOptions are the flags of lake read.
type readOptions struct {
	snap, strict, verbose, pretty bool
	at                            string // --at: a version or an RFC 3339 time
}

func setupRead(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	var o readOptions
	fs.BoolVar(&o.snap, "snap", false, "save the folded document as a snapshot, so later reads start there")
	fs.BoolVar(&o.strict, "strict", false, "fail (exit 1) instead of printing a document without the deltas that cannot apply")
	fs.BoolVar(&o.verbose, "verbose", false, "print the version, snapshot and skipped deltas on stderr")
	boolAlias(fs, &o.verbose, "v", "verbose")
	fs.BoolVar(&o.pretty, "pretty", false, "print the document indented, over several lines")
	fs.StringVar(&o.at, "at", "", "print the document as it was at `VERSION|TIME` (a version, or an RFC 3339 time such as 2026-12-01T10:00:00Z)")
	return func(ctx context.Context, args []string) error { return runRead(ctx, a, o, args) }
}

// runRead prints the document of the catalog args[0] on stdout, and what
// the fold did on stderr.
func runRead(ctx context.Context, a *app, o readOptions, args []string) error {
	if err := wantArgs(args, 1, 1, "CATALOG"); err != nil {
		return err
	}
	if err := lake.ValidateCatalog(args[0]); err != nil {
		return err
	}
	req := readRequest(args[0], o.snap, o.strict)
	if err := pastRead(&req, o.at); err != nil {
		return err
	}
	client := a.open()
	defer closeClient(a, client)
	res, err := client.Read(ctx, req)
	if err != nil {
		return err
	}
	if o.pretty {
		var out bytes.Buffer
		if err := json.Indent(&out, res.Data, "", "  "); err != nil {
			return fmt.Errorf("lake: read %q: indent the document: %w", args[0], err)
		}
		out.WriteByte('\n')
		a.stdout.Write(out.Bytes())
	} else {
		fmt.Fprintln(a.stdout, res.Data)
	}
	printReadDetails(a.stderr, res, o.verbose)
	return nil
}

// printReadDetails prints the version, the snapshot and each skipped delta
// when verbose, else only how many deltas were skipped, if any.
func printReadDetails(w io.Writer, res *lake.ReadResult, verbose bool) {
	if !verbose {
		if n := len(res.Skipped); n > 0 {
			fmt.Fprintf(w, "lake read: %d delta(s) could not apply and were skipped (--verbose lists them)\n", n)
		}
		return
	}
	fmt.Fprintf(w, "version %d (snapshot %d + %d deltas", res.Version, res.Snapshot.Version, res.Snapshot.Deltas)
	if res.Snapshot.Saved {
		fmt.Fprintf(w, ", snapshot saved")
	} else if res.Snapshot.SaveError != nil {
		fmt.Fprintf(w, ", snapshot not saved: %v", res.Snapshot.SaveError)
	}
	fmt.Fprintln(w, ")")
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "skipped version %d (field %q, merge %s): %s\n", s.Version, s.Field, s.Merge, s.Reason)
	}
}

// pastRead points req at the past that --at names: a version or an RFC
// 3339 time (lake.ParseAt). An empty at leaves req a read of the present.
func pastRead(req *lake.ReadRequest, at string) error {
	if at == "" {
		return nil
	}
	if req.GenerateSnap {
		return usagef("--snap saves the current document: it cannot go with --at")
	}
	v, t, err := lake.ParseAt(at)
	if err != nil {
		return usagef("--at %q: invalid version: want a version (a positive integer, at most 2^53-1) or an RFC 3339 time such as 2026-12-01T10:00:00Z", at)
	}
	req.AtVersion, req.AtTime = v, t
	return nil
}

// readRequest builds the library request.
func readRequest(catalog string, snap, strict bool) lake.ReadRequest {
	return lake.ReadRequest{Catalog: catalog, GenerateSnap: snap, Strict: strict}
}
