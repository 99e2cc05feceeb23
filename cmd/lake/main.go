// Command lake writes, reads and serves a lake from the command line.
//
//	lake [--meta URL] COMMAND [ARGS]
//
// Each subcommand is one file of this package that registers itself with
// register in an init function; main.go knows none of them by name.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	lake "github.com/hkloudou/lake/v2"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1 // the operation failed: store unavailable, locked, corrupt data...
	exitUsage   = 2 // bad command line or bad input: nothing was written
)

const defaultMeta = "file://./lake-data"

// command is one subcommand. setup registers the command's flags on fs and
// returns the function that runs it with the positional arguments.
type command struct {
	name    string
	summary string   // one line for `lake --help`
	usage   string   // the usage line, after "lake "
	help    string   // what it does, flags are listed after it
	example []string // example command lines
	setup   func(fs *flag.FlagSet, app *app) func(ctx context.Context, args []string) error
}

var commands = map[string]*command{}

// register adds a subcommand; each subcommand file calls it from init.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("lake: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// app is what every subcommand shares: the streams and the global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	meta           string
	logLevel       slog.Level
}

// open returns a client of the lake at --meta. Library warnings go to
// stderr.
func (a *app) open(opts ...func(*lake.Option)) *lake.Client {
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: a.logLevel}))
	return lake.NewLake(a.meta, append([]func(*lake.Option){func(o *lake.Option) { o.Logger = logger }}, opts...)...)
}

// usageError is a bad command line: exit 2 with the message.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// inputErrors are the library's errors about what the caller asked for
// (nothing was written); they exit 2 like a bad command line.
var inputErrors = []error{
	lake.ErrInvalidCatalog, lake.ErrInvalidField, lake.ErrInvalidValue,
	lake.ErrUnknownMergeType, lake.ErrBodyTooLarge, lake.ErrInvalidConfig,
	lake.ErrUnsupportedStorage, lake.ErrInvalidMetaURL,
	lake.ErrInvalidScript, lake.ErrScriptNotFound,
}

// exitCode returns the process exit code for the error a command returned.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	// Broken stored data can wrap an input error (a corrupt delta wraps the
	// merge error that found it): it is a runtime error all the same.
	for _, target := range []error{lake.ErrCorrupt, lake.ErrBodyMissing, lake.ErrDecrypt, lake.ErrScriptFailed} {
		if errors.Is(err, target) {
			return exitRuntime
		}
	}
	for _, target := range inputErrors {
		if errors.Is(err, target) {
			return exitUsage
		}
	}
	return exitRuntime
}

// hint adds advice to errors that have a usual cause.
func hint(err error) string {
	switch {
	case errors.Is(err, lake.ErrMetaLocked):
		return "another process has this file:// lake open (is `lake serve` running on it? use its HTTP API, or stop it)"
	case errors.Is(err, lake.ErrMetaUnavailable):
		return "the meta store did not answer: check --meta / LAKE_META"
	}
	return ""
}

func main() {
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(run(context.Background(), a, os.Args[1:]))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, a *app, args []string) int {
	global := flag.NewFlagSet("lake", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	a.meta = os.Getenv("LAKE_META")
	if a.meta == "" {
		a.meta = defaultMeta
	}
	addGlobalFlags(global, a)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			mainUsage(a.stdout)
			return exitOK
		}
		fmt.Fprintf(a.stderr, "lake: %v\n\n", err)
		mainUsage(a.stderr)
		return exitUsage
	}
	rest := global.Args()
	if len(rest) == 0 {
		mainUsage(a.stderr)
		return exitUsage
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) == 0 {
			mainUsage(a.stdout)
			return exitOK
		}
		name, rest = rest[0], []string{"--help"}
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(a.stderr, "lake: unknown command %q\n\n", name)
		mainUsage(a.stderr)
		return exitUsage
	}

	fs := flag.NewFlagSet("lake "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addGlobalFlags(fs, a)
	runCmd := cmd.setup(fs, a)
	positional, err := parseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(a.stdout, cmd, fs)
		return exitOK
	}
	if err == nil {
		err = runCmd(ctx, positional)
	}
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	fmt.Fprintf(a.stderr, "lake %s: %v\n", cmd.name, err)
	if h := hint(err); h != "" {
		fmt.Fprintf(a.stderr, "hint: %s\n", h)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "usage: lake %s   (lake %s --help for more)\n", cmd.usage, cmd.name)
	}
	return code
}

// addGlobalFlags registers the flags that every command accepts, before or
// after its name.
func addGlobalFlags(fs *flag.FlagSet, a *app) {
	fs.StringVar(&a.meta, "meta", a.meta, "meta store `URL`: file://DIR (embedded), redis://host:port/db, rediss://, unix:///path (env LAKE_META)")
}

// parseInterspersed parses fs from args, allowing flags before, between and
// after the positional arguments (`lake write c f 1 --merge patch`). "--"
// ends the flags. A negative JSON number (-1, -2.5e3) is a value, not a flag.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for len(args) > 0 {
		arg := args[0]
		switch {
		case arg == "--":
			return append(positional, args[1:]...), nil
		case len(arg) < 2 || arg[0] != '-' || isNegativeNumber(arg):
			positional = append(positional, arg)
			args = args[1:]
		default:
			// Hand the flag package the flags up to the next token that is
			// not one of them, so that it never sees a negative number or
			// "--" as a flag.
			end := 1
			for end < len(args) && args[end] != "--" && !isNegativeNumber(args[end]) {
				end++
			}
			if err := fs.Parse(args[:end]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return nil, err
				}
				return nil, &usageError{msg: err.Error()}
			}
			args = append(fs.Args(), args[end:]...)
		}
	}
	return positional, nil
}

func isNegativeNumber(s string) bool {
	if len(s) < 2 || s[0] != '-' || s[1] < '0' || s[1] > '9' {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil
}

func mainUsage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(`lake: a JSON document store on the command line and over HTTP.

Usage:
  lake [--meta URL] COMMAND [ARGS] [FLAGS]

Commands:
`)
	for _, name := range names {
		fmt.Fprintf(&b, "  %-10s %s\n", name, commands[name].summary)
	}
	b.WriteString(`  help       lake help COMMAND shows a command's usage and examples

Global flags (before or after the command):
  --meta URL   the lake's meta store (env LAKE_META; default ` + defaultMeta + `):
               file://DIR                 the embedded engine: meta.db and the bodies in DIR,
                                          no Redis needed (one process at a time)
               redis://[user:pass@]host:port/db, rediss://..., unix:///path   a Redis

Exit codes:
  0  success
  1  the operation failed: store unavailable or locked, corrupt or missing data
  2  bad usage or bad input (invalid catalog, field, value, merge type, config;
     value too large): nothing was written

Examples:
  lake write users profile.name '{"first":"Ada"}'
  lake read users
  lake --meta redis://localhost:6379 catalogs
  lake serve --listen 127.0.0.1:7171
`)
	io.WriteString(w, b.String())
}

func commandUsage(w io.Writer, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage:\n  lake %s\n\n%s\n", cmd.usage, strings.TrimSpace(cmd.help))
	fmt.Fprintf(w, "\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			usage += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, usage)
	})
	if len(cmd.example) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, ex := range cmd.example {
			fmt.Fprintf(w, "  %s\n", ex)
		}
	}
	fmt.Fprintf(w, "\nExit codes: 0 ok, 1 runtime error, 2 bad usage or input (see lake --help).\n")
}

// closeClient closes c, reporting a failure on stderr.
func closeClient(a *app, c *lake.Client) {
	if err := c.Close(); err != nil {
		fmt.Fprintf(a.stderr, "lake: close: %v\n", err)
	}
}

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, minN, maxN int, names string) error {
	if len(args) < minN || len(args) > maxN {
		return usagef("want %s, got %d argument(s)", names, len(args))
	}
	return nil
}
