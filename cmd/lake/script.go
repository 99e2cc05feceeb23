package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
)

func init() {
	register(&command{
		name:    "script",
		summary: "register, show, list or delete merge scripts (--merge script)",
		usage:   "script put NAME FILE|- | script get NAME | script list [--json] | script delete NAME",
		help: `Merge scripts are JavaScript functions that writes with --merge script
--script NAME merge with (see the README's "Merge scripts").

  put NAME FILE|-   compiles the source from FILE (or stdin with -), checks
                    that it defines function merge, and registers it under
                    NAME for every client of the lake; prints its hash.
                    Writes from then on use this version; deltas written
                    earlier keep merging with the version they were written
                    against.
  get NAME          prints the source NAME points at now.
  list              prints a header line, then "name<TAB>hash" per script
                    (--json: one JSON document).
  delete NAME       unregisters NAME: later writes cannot use it; deltas
                    written with it still fold the same way.`,
		example: []string{
			`lake script put counter counter.js`,
			`echo 'function merge(old, value) { return (old || 0) + value }' | lake script put counter -`,
			`lake script get counter`,
			`lake script list`,
			`lake script delete counter`,
			`lake write counters hits 5 --merge script --script counter`,
		},
		setup: setupScript,
	})
}

func setupScript(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	asJSON := fs.Bool("json", false, `list: print one JSON document, {"scripts":[{"name":...,"hash":...}]}`)
	return func(ctx context.Context, args []string) error { return runScript(ctx, a, *asJSON, args) }
}

// runScript runs script put, get, list or delete.
func runScript(ctx context.Context, a *app, asJSON bool, args []string) error {
	if len(args) == 0 {
		return usagef("want put, get, list or delete")
	}
	sub, rest := args[0], args[1:]
	if asJSON && sub != "list" {
		return usagef("--json goes with script list")
	}
	switch sub {
	case "put":
		if err := wantArgs(rest, 2, 2, "NAME and FILE (or -) after put"); err != nil {
			return err
		}
		return scriptPut(ctx, a, rest[0], rest[1])
	case "get":
		if err := wantArgs(rest, 1, 1, "NAME after get"); err != nil {
			return err
		}
		return scriptGet(ctx, a, rest[0])
	case "list":
		if err := wantArgs(rest, 0, 0, "no argument after list"); err != nil {
			return err
		}
		return scriptList(ctx, a, asJSON)
	case "delete":
		if err := wantArgs(rest, 1, 1, "NAME after delete"); err != nil {
			return err
		}
		return scriptDelete(ctx, a, rest[0])
	}
	return usagef("unknown script command %q: want put, get, list or delete", sub)
}

func scriptPut(ctx context.Context, a *app, name, source string) error {
	var (
		data []byte
		err  error
	)
	if source == "-" {
		data, err = io.ReadAll(a.stdin)
	} else {
		data, err = os.ReadFile(source)
	}
	if err != nil {
		return usagef("read script: %v", err)
	}
	client := a.open()
	defer closeClient(a, client)
	if err := client.PutScript(ctx, name, string(data)); err != nil {
		return err
	}
	info, err := client.GetScript(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, info.Hash)
	fmt.Fprintf(a.stderr, "lake script: registered %s\n", name)
	return nil
}

func scriptGet(ctx context.Context, a *app, name string) error {
	client := a.open()
	defer closeClient(a, client)
	info, err := client.GetScript(ctx, name)
	if err != nil {
		return err
	}
	io.WriteString(a.stdout, info.Source)
	if n := len(info.Source); n > 0 && info.Source[n-1] != '\n' {
		fmt.Fprintln(a.stdout)
	}
	return nil
}

func scriptDelete(ctx context.Context, a *app, name string) error {
	client := a.open()
	defer closeClient(a, client)
	if err := client.DeleteScript(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "lake script: deleted %s\n", name)
	return nil
}

type scriptJSON struct {
	Name string `json:"name"`
	Hash string `json:"hash"`
}

func scriptList(ctx context.Context, a *app, asJSON bool) error {
	client := a.open()
	defer closeClient(a, client)
	list, err := client.Scripts(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		out := struct {
			Scripts []scriptJSON `json:"scripts"`
		}{Scripts: []scriptJSON{}}
		for _, s := range list {
			out.Scripts = append(out.Scripts, scriptJSON{Name: s.Name, Hash: s.Hash})
		}
		data, err := json.Marshal(out)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, string(data))
		return nil
	}
	fmt.Fprintln(a.stdout, "SCRIPT\tHASH")
	for _, s := range list {
		fmt.Fprintf(a.stdout, "%s\t%s\n", s.Name, s.Hash)
	}
	return nil
}
