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

	"github.com/redis/rueidis"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
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
		setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
			o := benchOptions{}
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
				return runBench(ctx, a, o)
			}
		},
	})
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

func isFileMeta(meta string) bool { return strings.HasPrefix(meta, "file://") }

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
	if isFileMeta(a.meta) {
		dir := strings.TrimPrefix(a.meta, "file://")
		if _, err := os.Stat(filepath.Join(dir, "meta.db")); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	client := a.open()
	defer closeClient(a, client)
	return client.GetConfig(ctx)
}

func runBench(parent context.Context, a *app, o benchOptions) (err error) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt)
	defer stop()

	var cfg *config.Config
	if o.storage == "config" {
		if cfg, err = lakeConfig(ctx, a); err != nil {
			return err
		}
		if cfg == nil {
			return usagef("--storage config: the lake at %s has no config, so there is no configured storage to benchmark (use --storage memory or local)", a.meta)
		}
	}

	id := randomHex(4)
	prefix := a.keyPrefix + "lakebench:" + id + ":"
	metaURL := a.meta
	// Cleanups run last first, with a context that an interrupt does not end.
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	warn := func(format string, args ...any) { fmt.Fprintf(a.stderr, "lake bench: "+format+"\n", args...) }

	if isFileMeta(a.meta) {
		dir, err := os.MkdirTemp("", "lakebench-meta-")
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() {
			if err := os.RemoveAll(dir); err != nil {
				warn("remove %s: %v", dir, err)
			}
		})
		metaURL = "file://" + dir
	} else {
		cleanups = append(cleanups, func() {
			if err := deleteRedisPrefix(metaURL, prefix); err != nil {
				warn("delete keys %s*: %v", prefix, err)
			}
		})
	}

	var store storage.Storage
	switch o.storage {
	case "memory":
		store = storage.NewMemoryStorage()
	case "local":
		dir, err := os.MkdirTemp("", "lakebench-objects-")
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() {
			if err := os.RemoveAll(dir); err != nil {
				warn("remove %s: %v", dir, err)
			}
		})
		if store, err = storage.NewLocalStorage(dir); err != nil {
			return err
		}
	case "config":
		inner, err := storage.Open(cfg)
		if err != nil {
			return err
		}
		rec := &recordingStorage{inner: inner, keys: map[string]struct{}{}}
		cleanups = append(cleanups, func() {
			if n, err := rec.deleteAll(); err != nil {
				warn("delete the benchmark's %d object(s) from the configured storage: %v", n, err)
			}
		})
		store = rec
	}

	// Warnings are expected under load (mixed reads racing to save the same
	// snapshot) and would drown the output: only errors are logged.
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: max(a.logLevel, slog.LevelError)}))
	client := lake.NewLake(metaURL, func(opt *lake.Option) {
		opt.Logger = logger
		opt.KeyPrefix = prefix
		opt.Storage = store
		opt.SnapshotMinDeltas = o.snapshotMinDeltas
		opt.SnapshotAsync = o.snapshotAsync
	})
	// Closed before the keys and directories go.
	cleanups = append(cleanups, func() { closeClient(a, client) })

	if cfg != nil {
		// The lake's config, copied into the benchmark's namespace: its
		// encryption applies to the bodies as it does in the lake.
		if err := client.UpdateConfig(ctx, cfg); err != nil {
			return err
		}
	}
	// Connect before the clock starts.
	if err := client.Ping(ctx); err != nil {
		return err
	}

	catalogs := make([]string, o.catalogs)
	for i := range catalogs {
		catalogs[i] = fmt.Sprintf("lakebench-%s-%d", id, i)
	}
	fields := make([]string, o.fields)
	for i := range fields {
		fields[i] = fmt.Sprintf("f%d", i)
	}
	value := lake.JSON(`"` + strings.Repeat("x", o.valueSize-2) + `"`)

	if o.op == "read" || o.op == "mixed" {
		if !o.json {
			fmt.Fprintf(a.stderr, "preparing %d catalogs with %d fields...\n", o.catalogs, o.fields)
		}
		if err := benchPrepare(ctx, client, catalogs, fields, value); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	res, firstErr := benchRun(ctx, a, o, client, catalogs, fields, value)
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if firstErr != nil {
		warn("%d error(s); the first: %v", res.Errors, firstErr)
	}
	if o.json {
		out, err := json.Marshal(res)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, string(out))
	} else {
		printBenchTable(a.stdout, res)
	}
	if ctx.Err() != nil && parent.Err() == nil {
		return errors.New("interrupted")
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d of %d op(s) failed", res.Errors, res.Ops)
	}
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

	progressDone := make(chan struct{})
	var progressWG sync.WaitGroup
	if !o.json {
		progressWG.Go(func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			show := func(now time.Time) {
				elapsed := now.Sub(start).Seconds()
				n := ops.Load()
				fmt.Fprintf(a.stderr, "\r%6.1fs %12d ops %12.0f ops/s", elapsed, n, float64(n)/elapsed)
			}
			for {
				select {
				case <-progressDone:
					show(time.Now()) // the final count
					fmt.Fprintln(a.stderr)
					return
				case now := <-tick.C:
					show(now)
				}
			}
		})
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
	if !o.json {
		close(progressDone)
		progressWG.Wait()
	}

	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res := benchResult{
		Op: o.op, Clients: o.clients, DurationS: elapsed.Seconds(),
		Ops: ops.Load(), Errors: errCount.Load(),
		P50Ms: ms(percentile(all, 50)), P90Ms: ms(percentile(all, 90)), P99Ms: ms(percentile(all, 99)),
	}
	if len(all) > 0 {
		res.MaxMs = ms(all[len(all)-1])
	}
	if elapsed > 0 {
		res.OpsPerSec = float64(res.Ops) / elapsed.Seconds()
	}
	return res, firstErr
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

// deleteRedisPrefix deletes every key under prefix from the Redis at metaURL.
func deleteRedisPrefix(metaURL, prefix string) error {
	if !strings.Contains(metaURL, "://") {
		metaURL = "redis://" + metaURL
	}
	opt, err := rueidis.ParseURL(metaURL)
	if err != nil {
		return err
	}
	opt.DisableCache = true
	opt.Dialer.Timeout = 5 * time.Second
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for cursor := uint64(0); ; {
		entry, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return err
		}
		if len(entry.Elements) > 0 {
			if err := client.Do(ctx, client.B().Del().Key(entry.Elements...).Build()).Error(); err != nil {
				return err
			}
		}
		if cursor = entry.Cursor; cursor == 0 {
			return nil
		}
	}
}

// recordingStorage remembers the keys it stores, so that the benchmark can
// delete its bodies from the lake's configured storage.
type recordingStorage struct {
	inner storage.Storage
	mu    sync.Mutex
	keys  map[string]struct{}
}

func (r *recordingStorage) Put(ctx context.Context, key string, data []byte) error {
	r.mu.Lock()
	r.keys[key] = struct{}{}
	r.mu.Unlock()
	return r.inner.Put(ctx, key, data)
}

func (r *recordingStorage) Get(ctx context.Context, key string) ([]byte, error) {
	return r.inner.Get(ctx, key)
}

func (r *recordingStorage) Delete(ctx context.Context, key string) error {
	err := r.inner.Delete(ctx, key)
	if err == nil {
		r.mu.Lock()
		delete(r.keys, key)
		r.mu.Unlock()
	}
	return err
}

func (r *recordingStorage) String() string { return storage.Kind(r.inner) }

// deleteAll deletes every key stored and not yet deleted, 16 at a time; it
// returns how many it could not delete and the first error.
func (r *recordingStorage) deleteAll() (int, error) {
	r.mu.Lock()
	keys := make([]string, 0, len(r.keys))
	for k := range r.keys {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		failed   atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, 16)
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := r.inner.Delete(ctx, k); err != nil {
				failed.Add(1)
				once.Do(func() { firstErr = err })
			}
		})
	}
	wg.Wait()
	return int(failed.Load()), firstErr
}
