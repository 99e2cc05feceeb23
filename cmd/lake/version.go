package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print the version, the VCS commit it was built from and the Go version",
		usage:   "version",
		help: `Prints the module and its version, the VCS commit the binary was built from
(with "modified" when the work tree had uncommitted changes), and the Go
version. A binary built from a checkout (go build, go run) reports the
version "(devel)" or a pseudo-version; one installed with
"go install github.com/hkloudou/lake/v2/cmd/lake@VERSION" reports VERSION.
lake --version prints the same.`,
		example: []string{`lake version`, `lake --version`},
		setup:   setupVersion,
	})
}

func setupVersion(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error { return runVersion(a, args) }
}

func runVersion(a *app, args []string) error {
	if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
		return err
	}
	printVersion(a.stdout)
	return nil
}

// buildVersion describes the running binary from its build info.
type buildVersion struct {
	path, version    string
	revision, time   string
	modified, hasVCS bool
}

func readBuildVersion() buildVersion {
	v := buildVersion{path: "github.com/hkloudou/lake/v2", version: "(unknown)"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if info.Main.Path != "" {
		v.path = info.Main.Path
	}
	if info.Main.Version != "" {
		v.version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.revision, v.hasVCS = s.Value, true
		case "vcs.time":
			v.time = s.Value
		case "vcs.modified":
			v.modified = s.Value == "true"
		}
	}
	return v
}

// printVersion prints, for example:
//
//	lake github.com/hkloudou/lake/v2 (devel)
//	commit 6711cd8e... 2025-06-01T10:00:00Z (modified)
//	go1.26.0 linux/amd64
func printVersion(w io.Writer) {
	v := readBuildVersion()
	fmt.Fprintf(w, "lake %s %s\n", v.path, v.version)
	if v.hasVCS {
		line := "commit " + v.revision
		if v.time != "" {
			line += " " + v.time
		}
		if v.modified {
			line += " (modified)"
		}
		fmt.Fprintln(w, line)
	} else {
		fmt.Fprintln(w, "commit unknown (built without VCS information)")
	}
	fmt.Fprintf(w, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
