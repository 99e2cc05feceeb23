package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/index"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "measure write, read, mixed, raw put or cold read throughput and latency, and object-store requests",
		usage:   "bench write|read|mixed|put|coldread [--storage memory|local|config] [--clients N] [--duration D | --ops N] [--catalogs K] [--fields F] [--value-size B] [--snapshot-min-deltas N] [--snapshot-async] [--deltas N] [--writers W] [--compact-every DURATION|off] [--compact-keep N] [--compact-min-age DURATION] [--sample-memory FILE] [--cpuprofile FILE] [--json]",
		help: `Runs N concurrent clients against the meta store at --meta for D, or
until --ops N ops have been made (giving both --duration and --ops is
refused), then prints ops, ops/s, latency percentiles (p50, p90, p99, max,
in ms), the number of errors and the requests that reached the object
store. Exit 1 if any op failed.

  write     each client writes B-byte values (a JSON string) to F fields
            spread over K catalogs
  read      K catalogs with F fields each are written and snapshotted first,
            then each client reads them
  mixed     90% reads (saving snapshots) and 10% writes over K catalogs; a
            read whose version is older than a write the same client had
            committed to that catalog counts as an error.
            --snapshot-min-deltas and --snapshot-async set the snapshot
            policy of those reads
  put       the raw baseline of write: no Lake and no meta-store calls
            while it runs (--storage config reads the lake's config
            first). Each client stores B-byte objects (the bytes write
            writes as a value) under fresh keys of its own with one Put
            each: on s3 and oss one PutObject request, on local one file;
            on memory each client overwrites 1024 keys in turn. No
            encryption, even when the lake's config sets aes_pwd
  coldread  one catalog gets --deltas N deltas (default 1000; B-byte values
            over F fields, written by --writers W concurrent writers,
            default 64) and no snapshot. Then each client (--clients,
            default 1 here) reads the whole catalog again and again with
            its document cache off (Option.CacheSize and CacheBytes
            negative), so every read loads the N index entries from the
            meta store and folds all N bodies fetched from the object
            store: a cold read of a catalog N deltas past its snapshot. A
            read that does not fold exactly N deltas from no snapshot
            counts as an error. Concurrent reads of one catalog share one
            fold, so with more than one client the gets per read drop.
            --catalogs is ignored

Requests to the object store are counted below Lake's encryption, where
they reach the store --storage opens, from when the clock starts (setup,
the connection probe and preparing catalogs are not counted): puts, gets
(whole-object GETs plus ranged GETs), and per op: puts per write (every
PUT, snapshot saves included, over the writes) and gets per read. One
counted request is one call of the store's Put, Get, GetRange or Delete: on
s3 one HTTP request, unless the S3 client retries it.

Background compaction (Option.Compaction) is the library's default unless
told otherwise, so that bench write measures what a client gets: every
--compact-every (default 10s; off, or a negative duration, turns it off) the
client archives the catalogs it wrote to into log segments, and trims a
catalog's log in the meta store once it holds more than --compact-keep
entries (default 1000), of those older than --compact-min-age (default 2m:
longer than most runs, so that a run of minutes archives but trims
nothing; give it a second to see the log bounded). Bodies held in process
memory are never compacted: with --storage memory the --compact-* flags are
refused but for off; use --storage local.

--sample-memory FILE writes to FILE, once a second while the clock runs
(and once at its start and its end), a CSV line elapsed_s,ops,used_memory_bytes
(after a header line of those names): the seconds since the start, the ops
made so far, and used_memory from INFO memory of the meta store's Redis,
read over a connection of its own (summed over every node it knows, for a
cluster). A file:// meta store has no Redis to sample: refused.

The benchmark never touches the lake's own catalogs: on Redis it uses its own
key prefix (lakebench:<random>:, after --key-prefix) and deletes every key
under it at the end; on file:// it uses a fresh temporary directory, removed
at the end.

--storage memory keeps the bodies in memory, --storage local in a temporary
directory (removed at the end), --storage config in the storage named by the
lake's config (the objects the benchmark writes, put's included, are deleted
at the end). The lake's config is read, never changed; --storage config on a
lake without a config is refused (exit 2). put reads the meta store only for
that config.

The JSON object has op, clients, duration_s, ops, ops_per_sec, p50_ms,
p90_ms, p99_ms, max_ms, errors, storage (the kind of store counted), writes,
reads, puts, put_bytes, gets (ranged ones included), ranged_gets,
get_bytes, deletes, puts_per_write (when there were writes),
gets_per_read (when there were reads), for coldread deltas and, but for
put, compact_every (the interval in effect: off on memory storage, which
is never compacted), compact_keep and compact_min_age.

Progress goes to stderr once a second (not with --json); with --json stdout
holds exactly one JSON object.`,
		example: []string{
			`lake --meta redis://localhost:6379 bench write`,
			`lake --meta redis://localhost:6379 bench read --clients 16 --duration 30s --json`,
			`lake --meta redis://localhost:6379 bench mixed --storage config`,
			`lake --meta redis://localhost:6379 bench put --storage config --clients 512`,
			`lake --meta redis://localhost:6379 bench coldread --storage config --deltas 1000 --json`,
			`lake --meta redis://localhost:6379 bench write --storage local --ops 2000000 --compact-every 1s --compact-min-age 1s --sample-memory mem.csv`,
		},
		setup: setupBench,
	})
}

func setupBench(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	o := &benchOptions{}
	fs.StringVar(&o.storage, "storage", "memory", "`KIND` of storage for the bodies: memory, local (a temporary directory) or config (the lake's configured storage)")
	fs.IntVar(&o.clients, "clients", 64, "`N` concurrent clients (goroutines); coldread: 1 unless given")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run, a `DURATION` such as 10s or 2m")
	fs.Int64Var(&o.ops, "ops", 0, "stop after `N` ops in all instead of after --duration (not both)")
	fs.Var(&o.compactEvery, "compact-every", fmt.Sprintf("background compaction every `DURATION` (0: the library's default, %v; off or a negative duration: none)",
		lake.DefaultCompactionInterval))
	fs.IntVar(&o.compactKeep, "compact-keep", 0, fmt.Sprintf("log entries background compaction leaves per catalog, `N` (0: the library's default, %d)", lake.DefaultKeepEntries))
	fs.DurationVar(&o.compactMinAge, "compact-min-age", 0, fmt.Sprintf("no log entry younger than `DURATION` is trimmed (0: the library's default, %v; negative: no minimum)",
		lake.DefaultCompactionMinAge))
	fs.StringVar(&o.sampleMemory, "sample-memory", "", "write elapsed_s,ops,used_memory_bytes of the meta store's Redis to `FILE` (CSV) once a second")
	fs.IntVar(&o.catalogs, "catalogs", 16, "`K` catalogs the ops are spread over")
	fs.IntVar(&o.fields, "fields", 100, "`F` distinct fields per catalog")
	fs.IntVar(&o.valueSize, "value-size", 1024, "`BYTES` per written value (a JSON string, quotes included)")
	fs.IntVar(&o.snapshotMinDeltas, "snapshot-min-deltas", 1, "mixed: save a snapshot only when it is `N` or more deltas behind (Option.SnapshotMinDeltas)")
	fs.BoolVar(&o.snapshotAsync, "snapshot-async", false, "mixed: save snapshots in the background (Option.SnapshotAsync)")
	fs.IntVar(&o.deltas, "deltas", 1000, "coldread: `N` deltas in the catalog that is read, with no snapshot")
	fs.IntVar(&o.writers, "writers", 64, "coldread: `W` concurrent writers of the deltas before the clock starts")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to `FILE` (read it with go tool pprof FILE)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object on stdout, and no progress")
	return func(ctx context.Context, args []string) error {
		if err := wantArgs(args, 1, 1, "write, read, mixed, put or coldread"); err != nil {
			return err
		}
		o.op = args[0]
		o.given = map[string]bool{}
		fs.Visit(func(f *flag.Flag) { o.given[f.Name] = true })
		if o.op == "coldread" && !o.given["clients"] {
			o.clients = 1
		}
		if err := o.validate(); err != nil {
			return err
		}
		if _, embedded := index.EmbeddedDir(a.meta); embedded && o.sampleMemory != "" {
			return usagef("--sample-memory: the meta store %s is a file:// lake, which has no Redis memory to sample", a.meta)
		}
		return runBench(ctx, a, *o)
	}
}

type benchOptions struct {
	op, storage                          string
	clients, catalogs, fields, valueSize int
	snapshotMinDeltas                    int
	snapshotAsync                        bool
	deltas, writers                      int
	cpuProfile                           string
	duration                             time.Duration
	ops                                  int64 // stop after this many ops, not after duration (0: duration)
	compactEvery                         compactInterval
	compactKeep                          int
	compactMinAge                        time.Duration
	sampleMemory                         string // --sample-memory FILE
	json                                 bool
	given                                map[string]bool // the flags given on the command line
}

// compaction is the client's Option.Compaction.
func (o *benchOptions) compaction() lake.CompactionPolicy {
	return lake.CompactionPolicy{Interval: time.Duration(o.compactEvery), KeepEntries: o.compactKeep, MinAge: o.compactMinAge}
}

func (o *benchOptions) validate() error {
	switch o.op {
	case "write", "read", "mixed", "put", "coldread":
	default:
		return usagef("unknown benchmark %q: want write, read, mixed, put or coldread", o.op)
	}
	switch o.storage {
	case "memory", "local", "config":
	default:
		return usagef("--storage %q: want memory, local or config", o.storage)
	}
	if o.clients < 1 {
		return usagef("--clients %d: want at least 1", o.clients)
	}
	if o.duration <= 0 {
		return usagef("--duration %s: want more than 0", o.duration)
	}
	if o.given["ops"] && o.given["duration"] {
		return usagef("--ops and --duration: give one (--ops N stops after N ops, --duration D after D)")
	}
	if o.given["ops"] && o.ops < 1 {
		return usagef("--ops %d: want at least 1", o.ops)
	}
	if o.compactKeep < 0 {
		return usagef("--compact-keep %d: want at least 1, or 0 for the default (%d)", o.compactKeep, lake.DefaultKeepEntries)
	}
	if o.storage == "memory" {
		for _, name := range []string{"compact-every", "compact-keep", "compact-min-age"} {
			if o.given[name] && !(name == "compact-every" && o.compactEvery < 0) {
				return usagef("--%s: bodies held in process memory (--storage memory) are never compacted; use --storage local", name)
			}
		}
	}
	if o.catalogs < 1 {
		return usagef("--catalogs %d: want at least 1", o.catalogs)
	}
	if o.fields < 1 {
		return usagef("--fields %d: want at least 1", o.fields)
	}
	if o.snapshotMinDeltas < 1 {
		return usagef("--snapshot-min-deltas %d: want at least 1", o.snapshotMinDeltas)
	}
	if o.deltas < 1 {
		return usagef("--deltas %d: want at least 1", o.deltas)
	}
	if o.writers < 1 {
		return usagef("--writers %d: want at least 1", o.writers)
	}
	if o.valueSize < 2 || o.valueSize > lake.DefaultMaxBodySize {
		return usagef("--value-size %d: want 2 to %d", o.valueSize, lake.DefaultMaxBodySize)
	}
	return nil
}

// benchResult is the --json output.
type benchResult struct {
	Op        string  `json:"op"`
	Clients   int     `json:"clients"`
	DurationS float64 `json:"duration_s"`
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Ms     float64 `json:"p50_ms"`
	P90Ms     float64 `json:"p90_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	Errors    int64   `json:"errors"`

	// The object store's side, counted while the clock ran (see
	// benchStorage): requests below Lake's encryption.
	Storage      string   `json:"storage"` // the kind of store counted: memory, local, s3...
	Writes       int64    `json:"writes"`  // ops that were writes (put: every op)
	Reads        int64    `json:"reads"`   // ops that were reads
	Puts         int64    `json:"puts"`
	PutBytes     int64    `json:"put_bytes"`
	Gets         int64    `json:"gets"` // whole-object GETs plus ranged GETs
	RangedGets   int64    `json:"ranged_gets"`
	GetBytes     int64    `json:"get_bytes"` // both kinds
	Deletes      int64    `json:"deletes"`
	PutsPerWrite *float64 `json:"puts_per_write,omitempty"` // puts / writes, when writes > 0
	GetsPerRead  *float64 `json:"gets_per_read,omitempty"`  // gets / reads, when reads > 0
	Deltas       int      `json:"deltas,omitempty"`         // coldread: deltas per read

	// Background compaction as the client ran it (not for put, which has
	// no client): the interval ("off" when none ran), the entries kept per
	// catalog and the minimum age of a trimmed entry, as Go durations.
	CompactEvery  string `json:"compact_every,omitempty"`
	CompactKeep   int    `json:"compact_keep,omitempty"`
	CompactMinAge string `json:"compact_min_age,omitempty"`
}

// addCompaction fills in the compaction settings the client ran with;
// memory says its bodies were in process memory, which is never compacted.
func (r *benchResult) addCompaction(p lake.CompactionPolicy, memory bool) {
	r.CompactEvery = compactInterval(p.Interval).effective()
	if memory {
		r.CompactEvery = "off"
	}
	r.CompactKeep = p.KeepEntries
	if r.CompactKeep <= 0 {
		r.CompactKeep = lake.DefaultKeepEntries
	}
	switch {
	case p.MinAge < 0:
		r.CompactMinAge = "0s"
	case p.MinAge == 0:
		r.CompactMinAge = lake.DefaultCompactionMinAge.String()
	default:
		r.CompactMinAge = p.MinAge.String()
	}
}

// addCounts fills in the store's counts and the ratios per op.
func (r *benchResult) addCounts(kind string, c storeCounts) {
	r.Storage = kind
	r.Puts, r.PutBytes = c.Puts, c.PutBytes
	r.Gets, r.RangedGets, r.GetBytes = c.Gets+c.Ranges, c.Ranges, c.GetBytes+c.RangeBytes
	r.Deletes = c.Deletes
	ratio := func(n, per int64) *float64 {
		if per <= 0 {
			return nil
		}
		v := float64(n) / float64(per)
		return &v
	}
	r.PutsPerWrite = ratio(r.Puts, r.Writes)
	r.GetsPerRead = ratio(r.Gets, r.Reads)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// runBench sets up a lake of the benchmark's own, runs the clients in it,
// reports, and removes what it set up, even when interrupted.
func runBench(parent context.Context, a *app, o benchOptions) error {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt)
	defer stop()
	b := &benchLake{a: a}
	defer b.cleanup()
	if err := b.setup(ctx, o); err != nil {
		return err
	}
	res, firstErr, err := b.run(ctx, o)
	if err != nil {
		return err
	}
	if err := reportBench(a, o, res, firstErr); err != nil {
		return err
	}
	if ctx.Err() != nil && parent.Err() == nil {
		return errors.New("interrupted")
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d of %d op(s) failed", res.Errors, res.Ops)
	}
	if b.sampler != nil && b.sampler.err != nil {
		return fmt.Errorf("--sample-memory: a sample failed, the file lacks it: %w", b.sampler.err)
	}
	return nil
}

// reportBench prints the result, as a table or one JSON object, and the
// first error on stderr.
func reportBench(a *app, o benchOptions, res benchResult, firstErr error) error {
	if firstErr != nil {
		fmt.Fprintf(a.stderr, "lake bench: %d error(s); the first: %v\n", res.Errors, firstErr)
	}
	if !o.json {
		printBenchTable(a.stdout, res)
		return nil
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, string(out))
	return nil
}

func printBenchTable(w io.Writer, r benchResult) {
	ratio := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%.3f", *v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tclients\tops\tops/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\terrors\tstorage\tputs\tgets\tputs/write\tgets/read\t")
	fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%s\t%d\t%d\t%s\t%s\t\n",
		r.Op, r.Clients, r.Ops, r.OpsPerSec, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs, r.Errors,
		r.Storage, r.Puts, r.Gets, ratio(r.PutsPerWrite), ratio(r.GetsPerRead))
	tw.Flush()
}
