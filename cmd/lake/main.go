// Command lake writes, reads and serves a lake from the command line.
//
//	lake [--meta URL] COMMAND [ARGS]
//
// Each subcommand is one file of this package that registers itself with
// register in an init function (bench's other parts, one job each:
// bench_lake.go the lake it runs in, bench_run.go the clients' loop,
// bench_storage.go the counting storage decorator); main.go knows none of
// them by name. A command file names its parts setupX (its flags) and runX
// (what it does).
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
	"github.com/hkloudou/lake/v2/storage"
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
	storage        string // --storage: storageConfig or storageMemory
	keyPrefix      string // --key-prefix
	version        bool   // --version
	logLevel       slog.Level
}

// Values of --storage.
const (
	storageConfig = "config" // the storage the lake's config names; never process memory
	storageMemory = "memory" // bodies in this process's memory, gone when it exits
)

// open returns a client of the lake at --meta. Library warnings go to
// stderr.
//
// Unless --storage memory is given, the client refuses writes whose bodies
// would live only in process memory (Option.RequireDurableStorage): a Redis
// lake without a stored config. A file:// lake without a config keeps its
// bodies in DIR/objects, which is durable, and works as before.
func (a *app) open(opts ...func(*lake.Option)) *lake.Client {
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: a.logLevel}))
	base := func(o *lake.Option) {
		o.Logger = logger
		o.KeyPrefix = a.keyPrefix
		if a.storage == storageMemory {
			o.Storage = storage.NewMemoryStorage()
		} else {
			o.RequireDurableStorage = true
		}
	}
	return lake.NewLake(a.meta, append([]func(*lake.Option){base}, opts...)...)
}

// usageError is a bad command line: exit 2 with the message.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode returns the process exit code for the error a command returned:
// exitUsage for a bad command line and for the library's input errors
// (lake.IsInputError: nothing was written), exitRuntime for the rest,
// stored data that cannot be used among them.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	// A config that would move a lake with data is refused before anything
	// is written, and --force is the way past it: bad usage, for the CLI.
	// So is a recovery onto an index that still has catalogs, which
	// --force is the way past.
	if lake.IsInputError(err) || errors.Is(err, lake.ErrStorageChange) || errors.Is(err, lake.ErrIndexNotEmpty) {
		return exitUsage
	}
	return exitRuntime
}

// hint adds advice to errors that have a usual cause.
func hint(err error) string {
	switch {
	case errors.Is(err, lake.ErrNoDurableStorage):
		return `this lake has no config naming a durable object store, so the bodies would live only in this process's memory and die with it. Store a config first, e.g.
  lake --meta URL config set '{"storage":"local","path":"/var/lib/lake/objects"}'
  lake --meta URL config set --create-bucket '{"storage":"s3","endpoint":"https://s3.amazonaws.com","region":"us-east-1","bucket":"my-lake","access_key":"...","secret_key":"..."}'
or give --storage memory (env LAKE_STORAGE=memory) to accept bodies that die with the process`
	case errors.Is(err, lake.ErrStorageChange):
		return "the bodies written so far stay in the old object store and reads of them would fail; copy them to the new store first, or give --force to switch anyway (then `lake check --all --repair` removes the entries whose bodies are gone)"
	case errors.Is(err, lake.ErrDocumentTooLarge):
		return "the document is larger than the read limit; `lake serve --max-document-size BYTES` raises it for the server"
	case errors.Is(err, lake.ErrMetaLocked):
		return "another process has this file:// lake open (is `lake serve` running on it? use its HTTP API, or stop it)"
	case errors.Is(err, lake.ErrMetaUnavailable):
		return "the meta store did not answer: check --meta / LAKE_META"
	case errors.Is(err, lake.ErrGCNotSupported):
		return "garbage collection and recovery list the object store's keys, which this lake's storage cannot do (memory storage: no config stored, or --storage memory); nothing was deleted or written"
	case errors.Is(err, lake.ErrIndexNotEmpty):
		return "lake recover rebuilds an index that lost its catalogs; --force rebuilds only the catalogs this index lacks and leaves the others as they are"
	case errors.Is(err, lake.ErrHistoryExpired):
		return "lake history CATALOG lists the changes still kept; the lake's config sets how long (retention)"
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
	a.storage = os.Getenv("LAKE_STORAGE")
	if a.storage == "" {
		a.storage = storageConfig
	}
	a.keyPrefix = os.Getenv("LAKE_KEY_PREFIX")
	addGlobalFlags(global, a)
	global.BoolVar(&a.version, "version", false, "print the version and exit")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			mainUsage(a.stdout)
			return exitOK
		}
		fmt.Fprintf(a.stderr, "lake: %v\n\n", err)
		mainUsage(a.stderr)
		return exitUsage
	}
	if a.version {
		printVersion(a.stdout)
		return exitOK
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
	runCmd := cmd.setup(fs, a)
	// The command's own flags come first: a command may define a flag of
	// the same name as a global one (bench --storage), which then means the
	// command's flag after the command name.
	addGlobalFlags(fs, a)
	positional, err := parseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(a.stdout, cmd, fs)
		return exitOK
	}
	if err == nil {
		err = checkGlobalFlags(a)
	}
	if err == nil {
		err = runCmd(ctx, positional)
	}
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	fmt.Fprintln(a.stderr, errorLine(cmd.name, err))
	if h := hint(err); h != "" {
		fmt.Fprintf(a.stderr, "hint: %s\n", h)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "usage: lake %s   (lake %s --help for more)\n", cmd.usage, cmd.name)
	}
	return code
}

// errorLine is the message printed for a failed command. The library's
// errors start with "lake: " and name what failed, so they are printed as
// they are; the command name is added to the others ("lake read: want
// CATALOG, got 0 argument(s)").
func errorLine(name string, err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "lake") {
		return msg
	}
	return "lake " + name + ": " + msg
}

// addGlobalFlags registers the flags that every command accepts, before or
// after its name, except those the command defines itself.
func addGlobalFlags(fs *flag.FlagSet, a *app) {
	if fs.Lookup("meta") == nil {
		fs.StringVar(&a.meta, "meta", a.meta, "meta store `URL`: file://DIR (embedded), redis://host:port/db, rediss://, unix:///path (env LAKE_META)")
	}
	if fs.Lookup("storage") == nil {
		fs.StringVar(&a.storage, "storage", a.storage, "`KIND` of storage for the bodies: config (the object store of the lake's config; "+
			"writes are refused while it has none, except on file:// lakes, which keep them in DIR/objects) or memory "+
			"(this process's memory, whatever the config says: gone when it exits) (env LAKE_STORAGE)")
	}
	if fs.Lookup("key-prefix") == nil {
		fs.StringVar(&a.keyPrefix, "key-prefix", a.keyPrefix, "`PREFIX` put before every Redis key, to share one Redis between lakes (env LAKE_KEY_PREFIX)")
	}
}

// checkGlobalFlags validates the global flags once they are parsed.
func checkGlobalFlags(a *app) error {
	switch a.storage {
	case storageConfig, storageMemory:
		return nil
	}
	return usagef("--storage %q: want config or memory", a.storage)
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
  lake [--meta URL] [--storage config|memory] [--key-prefix PREFIX] COMMAND [ARGS] [FLAGS]
  lake --version

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
  --storage KIND  where the bodies go (env LAKE_STORAGE):
               config (default)  the object store named by the lake's config; a Redis
                                 lake without one refuses writes, since the bodies would
                                 live only in this process's memory (a file:// lake keeps
                                 them in DIR/objects)
               memory            this process's memory, whatever the config says: the
                                 bodies die with the process (tests, throwaway lakes)
  --key-prefix PREFIX   put before every Redis key, to share one Redis between
               lakes (env LAKE_KEY_PREFIX)
  --version    print the version (also: lake version)

Exit codes:
  0  success
  1  the operation failed: store unavailable or locked, corrupt or missing data,
     no durable object store configured (see --storage), problems found by check
  2  bad usage or bad input (invalid catalog, field, value, merge type, config;
     value too large; a config that would move the lake's data without --force;
     a version or time in the future, or older than the lake keeps;
     lake recover onto an index that still has catalogs, without --force):
     nothing was written

Examples:
  lake write users profile.name '{"first":"Ada"}'
  lake read users
  lake read users --at 2026-12-01T10:00:00Z
  lake history users profile.name
  lake --meta redis://localhost:6379 config set '{"storage":"local","path":"/var/lib/lake/objects"}'
  lake --meta redis://localhost:6379 catalogs
  lake --meta redis://localhost:6379 gc --dry-run
  lake --meta redis://localhost:6379 recover --config lake-config.json
  lake serve --listen 127.0.0.1:7171
`)
	io.WriteString(w, b.String())
}

func commandUsage(w io.Writer, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage:\n  lake %s\n\n%s\n", cmd.usage, strings.TrimSpace(cmd.help))
	fmt.Fprintf(w, "\nFlags:\n")
	aliases := map[string][]string{} // flag name -> its short aliases
	fs.VisitAll(func(f *flag.Flag) {
		if target, ok := aliasOf(f); ok {
			aliases[target] = append(aliases[target], f.Name)
		}
	})
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := aliasOf(f); ok {
			return
		}
		fmt.Fprint(w, flagHelp(f, aliases[f.Name]))
	})
	if len(cmd.example) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, ex := range cmd.example {
			fmt.Fprintf(w, "  %s\n", ex)
		}
	}
	fmt.Fprintf(w, "\nExit codes: 0 ok, 1 runtime error, 2 bad usage or input (see lake --help).\n")
}

// flagHelp is the help of one flag: "--name ARG" (every flag is listed
// with two dashes, which is also how it is spelt in usage lines; the flag
// package accepts one or two), its short aliases, and its usage with the
// default. A number, duration or bool default is printed as it is, a string
// default quoted.
func flagHelp(f *flag.Flag, aliases []string) string {
	name, usage := flag.UnquoteUsage(f)
	line := "  --" + f.Name
	if name != "" {
		line += " " + name
	}
	for _, alias := range aliases {
		line += ", -" + alias
	}
	if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
		var def any = f.DefValue
		if g, ok := f.Value.(flag.Getter); ok {
			def = g.Get()
		}
		if s, ok := def.(string); ok {
			usage += fmt.Sprintf(" (default %q)", s)
		} else {
			usage += fmt.Sprintf(" (default %v)", def)
		}
	}
	return fmt.Sprintf("%s\n      %s\n", line, usage)
}

// aliasPrefix marks the usage of a flag that is a short alias of another:
// the help lists it beside that flag instead of on its own.
const aliasPrefix = "\x00alias of "

// boolAlias registers short as another name of the bool flag long.
func boolAlias(fs *flag.FlagSet, p *bool, short, long string) {
	fs.BoolVar(p, short, false, aliasPrefix+long)
}

func aliasOf(f *flag.Flag) (string, bool) {
	return strings.CutPrefix(f.Usage, aliasPrefix)
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
