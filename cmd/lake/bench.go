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
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/storage"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "measure write, read or mixed throughput and latency against a meta store",
		usage:   "bench write|read|mixed [--storage memory|local|config] [--clients N] [--duration D] [--catalogs K] [--fields F] [--value-size B] [--snapshot-min-deltas N] [--snapshot-async] [--cpuprofile FILE] [--json]",
		help: `Runs N concurrent clients against the meta store at --meta for D, then
prints ops, ops/s, latency percentiles (p50, p90, p99, max, in ms) and the
number of errors. Exit 1 if any op failed.

  write  each client writes B-byte values (a JSON string) to F fields spread
         over K catalogs
  read   K catalogs with F fields each are written and snapshotted first,
         then each client reads them
  mixed  90% reads (saving snapshots) and 10% writes over K catalogs; a read
         whose version is older than a write the same client had committed
         to that catalog counts as an error. --snapshot-min-deltas and
         --snapshot-async set the snapshot policy of those reads

The benchmark never touches the lake's own catalogs: on Redis it uses its own
key prefix (lakebench:<random>:, after --key-prefix) and deletes every key
under it at the end; on file:// it uses a fresh temporary directory, removed
at the end.

--storage memory keeps the bodies in memory, --storage local in a temporary
directory (removed at the end), --storage config in the storage named by the
lake's config (the bodies the benchmark writes are deleted at the end). The
lake's config is read, never changed; --storage config on a lake without a
config is refused (exit 2).

Progress goes to stderr once a second (not with --json); with --json stdout
holds exactly one JSON object.`,
		example: []string{
			`lake --meta redis://localhost:6379 bench write`,
			`lake --meta redis://localhost:6379 bench read --clients 16 --duration 30s --json`,
			`lake --meta redis://localhost:6379 bench mixed --storage config`,
		},
		setup: setupBench,
	})
}

func setupBench(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	o := &benchOptions{}
	fs.StringVar(&o.storage, "storage", "memory", "`KIND` of storage for the bodies: memory, local (a temporary directory) or config (the lake's configured storage)")
	fs.IntVar(&o.clients, "clients", 64, "`N` concurrent clients (goroutines)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run, a `DURATION` such as 10s or 2m")
	fs.IntVar(&o.catalogs, "catalogs", 16, "`K` catalogs the ops are spread over")
	fs.IntVar(&o.fields, "fields", 100, "`F` distinct fields per catalog")
	fs.IntVar(&o.valueSize, "value-size", 1024, "`BYTES` per written value (a JSON string, quotes included)")
	fs.IntVar(&o.snapshotMinDeltas, "snapshot-min-deltas", 1, "mixed: save a snapshot only when it is `N` or more deltas behind (Option.SnapshotMinDeltas)")
	fs.BoolVar(&o.snapshotAsync, "snapshot-async", false, "mixed: save snapshots in the background (Option.SnapshotAsync)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to `FILE` (read it with go tool pprof FILE)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object on stdout, and no progress")
	return func(ctx context.Context, args []string) error {
		if err := wantArgs(args, 1, 1, "write, read or mixed"); err != nil {
			return err
		}
		o.op = args[0]
		if err := o.validate(); err != nil {
			return err
		}
		return runBench(ctx, a, *o)
	}
}

type benchOptions struct {
	op, storage                          string
	clients, catalogs, fields, valueSize int
	snapshotMinDeltas                    int
	snapshotAsync                        bool
	cpuProfile                           string
	duration                             time.Duration
	json                                 bool
}

func (o *benchOptions) validate() error {
	switch o.op {
	case "write", "read", "mixed":
	default:
		return usagef("unknown benchmark %q: want write, read or mixed", o.op)
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
	if o.catalogs < 1 {
		return usagef("--catalogs %d: want at least 1", o.catalogs)
	}
	if o.fields < 1 {
		return usagef("--fields %d: want at least 1", o.fields)
	}
	if o.snapshotMinDeltas < 1 {
		return usagef("--snapshot-min-deltas %d: want at least 1", o.snapshotMinDeltas)
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
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// lakeConfig returns the config of the lake at --meta, read by a client
// without the benchmark's prefix; nil when it has none. A file:// lake whose
// meta.db does not exist has none, and is not created.
func lakeConfig(ctx context.Context, a *app) (*config.Config, error) {
	if dir, ok := index.EmbeddedDir(a.meta); ok {
		if _, err := os.Stat(filepath.Join(dir, "meta.db")); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	client := a.open()
	defer closeClient(a, client)
	return client.GetConfig(ctx)
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
	return nil
}

// benchLake is the lake a benchmark runs in, apart from the lake at --meta:
// its own key prefix (or temporary directory), storage and client, the
// catalogs and fields the ops spread over, and how to remove it all.
type benchLake struct {
	a        *app
	client   *lake.Client
	catalogs []string
	fields   []string
	value    lake.JSON // what every write writes
	// cleanups run last first, with a context that an interrupt does not
	// end.
	cleanups []func()
}

func (b *benchLake) cleanup() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

func (b *benchLake) warn(format string, args ...any) {
	fmt.Fprintf(b.a.stderr, "lake bench: "+format+"\n", args...)
}

// tempDir creates a temporary directory removed by cleanup.
func (b *benchLake) tempDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	b.cleanups = append(b.cleanups, func() {
		if err := os.RemoveAll(dir); err != nil {
			b.warn("remove %s: %v", dir, err)
		}
	})
	return dir, nil
}

// setup opens the benchmark's client and, for read and mixed, writes and
// snapshots every catalog. Whatever it made is removed by cleanup, also
// when it fails.
func (b *benchLake) setup(ctx context.Context, o benchOptions) error {
	var cfg *config.Config
	if o.storage == "config" {
		var err error
		if cfg, err = lakeConfig(ctx, b.a); err != nil {
			return err
		}
		if cfg == nil {
			return usagef("--storage config: the lake at %s has no config, so there is no configured storage to benchmark (use --storage memory or local)", b.a.meta)
		}
	}
	id := randomHex(4)
	if err := b.open(ctx, o, id, cfg); err != nil {
		return err
	}
	b.catalogs = make([]string, o.catalogs)
	for i := range b.catalogs {
		b.catalogs[i] = fmt.Sprintf("lakebench-%s-%d", id, i)
	}
	b.fields = make([]string, o.fields)
	for i := range b.fields {
		b.fields[i] = fmt.Sprintf("f%d", i)
	}
	b.value = lake.JSON(`"` + strings.Repeat("x", o.valueSize-2) + `"`)
	if o.op != "read" && o.op != "mixed" {
		return nil
	}
	if !o.json {
		fmt.Fprintf(b.a.stderr, "preparing %d catalogs with %d fields...\n", o.catalogs, o.fields)
	}
	if err := benchPrepare(ctx, b.client, b.catalogs, b.fields, b.value); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

// open opens the client, connected, in a namespace of its own: the key
// prefix lakebench:ID: (after --key-prefix) on Redis, wiped at the end, or a
// temporary directory for a file:// lake. cfg, the lake's config for
// --storage config, is copied into it.
func (b *benchLake) open(ctx context.Context, o benchOptions, id string, cfg *config.Config) error {
	a := b.a
	prefix := a.keyPrefix + "lakebench:" + id + ":"
	metaURL := a.meta
	if _, embedded := index.EmbeddedDir(a.meta); embedded {
		dir, err := b.tempDir("lakebench-meta-")
		if err != nil {
			return err
		}
		metaURL = "file://" + dir
	} else {
		b.cleanups = append(b.cleanups, func() {
			if err := wipeKeyPrefix(metaURL, prefix); err != nil {
				b.warn("delete keys %s*: %v", prefix, err)
			}
		})
	}
	store, err := b.storage(o.storage, cfg)
	if err != nil {
		return err
	}

	// Warnings are expected under load (mixed reads racing to save the same
	// snapshot) and would drown the output: only errors are logged.
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: max(a.logLevel, slog.LevelError)}))
	b.client = lake.NewLake(metaURL, func(opt *lake.Option) {
		opt.Logger = logger
		opt.KeyPrefix = prefix
		opt.Storage = store
		opt.SnapshotMinDeltas = o.snapshotMinDeltas
		opt.SnapshotAsync = o.snapshotAsync
	})
	// Closed before the keys and directories go.
	b.cleanups = append(b.cleanups, func() { closeClient(a, b.client) })

	if cfg != nil {
		// The lake's config, copied into the benchmark's namespace: its
		// encryption applies to the bodies as it does in the lake.
		if err := b.client.UpdateConfig(ctx, cfg); err != nil {
			return err
		}
	}
	// Connect before the clock starts.
	return b.client.Ping(ctx)
}

// storage returns the store of --storage KIND; cfg is the lake's config for
// KIND config. What the benchmark stores is removed by cleanup.
func (b *benchLake) storage(kind string, cfg *config.Config) (storage.Storage, error) {
	switch kind {
	case "local":
		dir, err := b.tempDir("lakebench-objects-")
		if err != nil {
			return nil, err
		}
		return storage.NewLocalStorage(dir)
	case "config":
		inner, err := storage.Open(cfg)
		if err != nil {
			return nil, err
		}
		rec := &recordingStorage{inner: inner, keys: map[string]struct{}{}}
		b.cleanups = append(b.cleanups, func() {
			if n, err := rec.deleteAll(); err != nil {
				b.warn("delete the benchmark's %d object(s) from the configured storage: %v", n, err)
			}
		})
		return rec, nil
	}
	return storage.NewMemoryStorage(), nil
}

// run runs the clients for the duration, under a CPU profile when asked,
// and returns the result and the first error an op returned; err is a
// profile that could not be started.
func (b *benchLake) run(ctx context.Context, o benchOptions) (res benchResult, firstErr, err error) {
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return benchResult{}, nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return benchResult{}, nil, err
		}
		defer pprof.StopCPUProfile()
	}
	res, firstErr = benchRun(ctx, b.a, o, b.client, b.catalogs, b.fields, b.value)
	return res, firstErr, nil
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

// benchPrepare writes every field of every catalog and reads each with
// GenerateSnap, one goroutine per catalog.
func benchPrepare(ctx context.Context, client *lake.Client, catalogs, fields []string, value lake.JSON) error {
	errs := make([]error, len(catalogs))
	var wg sync.WaitGroup
	for i, catalog := range catalogs {
		wg.Go(func() {
			for _, field := range fields {
				if err := client.Write(ctx, lake.WriteRequest{Catalog: catalog, Field: field, Value: value}); err != nil {
					errs[i] = err
					return
				}
			}
			// The snapshot policy decides whether (and when) it is saved.
			res, err := client.Read(ctx, lake.ReadRequest{Catalog: catalog, GenerateSnap: true})
			if err == nil && res.Snapshot.SaveError != nil {
				err = fmt.Errorf("snapshot of %s not saved: %w", catalog, res.Snapshot.SaveError)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// benchRun runs the clients for the duration and returns the result and the
// first error an op returned.
func benchRun(ctx context.Context, a *app, o benchOptions, client *lake.Client, catalogs, fields []string, value lake.JSON) (benchResult, error) {
	var (
		ops, errCount atomic.Int64
		firstErr      error
		errOnce       sync.Once
		wg            sync.WaitGroup
	)
	fail := func(err error) {
		errCount.Add(1)
		errOnce.Do(func() { firstErr = err })
	}
	latencies := make([][]time.Duration, o.clients)
	start := time.Now()
	deadline := start.Add(o.duration)
	runCtx, cancel := context.WithDeadline(ctx, deadline.Add(30*time.Second))
	defer cancel()

	stopProgress := func() {}
	if !o.json {
		stopProgress = showProgress(a.stderr, start, &ops)
	}

	for g := range o.clients {
		// Room for a few seconds of ops per client; append grows it beyond.
		lat := make([]time.Duration, 0, 1<<14)
		wg.Go(func() {
			defer func() { latencies[g] = lat }()
			rng := mrand.New(mrand.NewPCG(uint64(g), uint64(start.UnixNano())))
			lastWrite := make([]int64, len(catalogs)) // mixed: the last version this client committed per catalog
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				c := rng.IntN(len(catalogs))
				write := o.op == "write" || (o.op == "mixed" && rng.IntN(10) == 0)
				var err error
				if write {
					var version int64
					version, err = client.WriteVersion(runCtx, lake.WriteRequest{
						Catalog: catalogs[c], Field: fields[rng.IntN(len(fields))], Value: value,
					})
					if err == nil && version > lastWrite[c] {
						lastWrite[c] = version
					}
				} else {
					var res *lake.ReadResult
					res, err = client.Read(runCtx, lake.ReadRequest{Catalog: catalogs[c], GenerateSnap: o.op == "mixed"})
					if err == nil && res.Version < lastWrite[c] {
						err = fmt.Errorf("read %s: version %d is older than this client's committed write %d", catalogs[c], res.Version, lastWrite[c])
					}
				}
				lat = append(lat, time.Since(t0))
				if err != nil && ctx.Err() != nil {
					lat = lat[:len(lat)-1] // cut short by an interrupt: not a result
					return
				}
				ops.Add(1)
				if err != nil {
					fail(err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	return summarize(o, elapsed, ops.Load(), errCount.Load(), latencies), firstErr
}

// showProgress prints the ops so far and their rate on w once a second
// until stop is called, which prints the final count and returns once the
// line is done.
func showProgress(w io.Writer, start time.Time, ops *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		show := func(now time.Time) {
			elapsed := now.Sub(start).Seconds()
			n := ops.Load()
			fmt.Fprintf(w, "\r%6.1fs %12d ops %12.0f ops/s", elapsed, n, float64(n)/elapsed)
		}
		for {
			select {
			case <-done:
				show(time.Now()) // the final count
				fmt.Fprintln(w)
				return
			case now := <-tick.C:
				show(now)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// summarize computes the result from each client's latencies.
func summarize(o benchOptions, elapsed time.Duration, ops, errs int64, latencies [][]time.Duration) benchResult {
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res := benchResult{
		Op: o.op, Clients: o.clients, DurationS: elapsed.Seconds(), Ops: ops, Errors: errs,
		P50Ms: ms(percentile(all, 50)), P90Ms: ms(percentile(all, 90)), P99Ms: ms(percentile(all, 99)),
	}
	if len(all) > 0 {
		res.MaxMs = ms(all[len(all)-1])
	}
	if elapsed > 0 {
		res.OpsPerSec = float64(ops) / elapsed.Seconds()
	}
	return res
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(float64(n)*p/100 + 0.999999999) // ceil
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

func printBenchTable(w io.Writer, r benchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tclients\tops\tops/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\terrors\t")
	fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t\n",
		r.Op, r.Clients, r.Ops, r.OpsPerSec, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs, r.Errors)
	tw.Flush()
}

// wipeKeyPrefix removes every key under prefix from the meta store at
// metaURL.
func wipeKeyPrefix(metaURL, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idx, err := index.Open(ctx, metaURL, index.Options{KeyPrefix: prefix})
	if err != nil {
		return err
	}
	defer idx.Close()
	w, ok := idx.(index.Wiper)
	if !ok {
		return fmt.Errorf("the meta store at %s cannot remove a key prefix", index.RedactURL(metaURL))
	}
	return w.Wipe(ctx)
}
