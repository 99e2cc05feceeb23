package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/storage"
	"github.com/redis/rueidis"
)

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

// benchLake is the lake a benchmark runs in, apart from the lake at --meta:
// its own key prefix (or temporary directory), storage and client, the
// catalogs and fields the ops spread over, and how to remove it all. put
// has no client: it uses the store alone.
type benchLake struct {
	a        *app
	client   *lake.Client
	store    storage.Storage // the counted store below the client
	counter  *benchStorage   // store's counts
	catalogs []string
	fields   []string
	value    lake.JSON      // what every write writes
	putKeys  string         // put: the prefix of the keys it stores
	sampler  *memorySampler // --sample-memory, when given
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

// setup opens the benchmark's store and, but for put, its client; for read
// and mixed it writes and snapshots every catalog, for coldread it writes
// the deltas. Whatever it made is removed by cleanup, also when it fails.
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
	if err := b.openStorage(o.storage, cfg); err != nil {
		return err
	}
	b.value = lake.JSON(`"` + strings.Repeat("x", o.valueSize-2) + `"`)
	if o.op == "put" {
		b.putKeys = fmt.Sprintf("lakebench-%s-put/", id)
		return nil
	}
	if err := b.open(ctx, o, id, cfg); err != nil {
		return err
	}
	if o.op == "coldread" {
		o.catalogs = 1
	}
	b.catalogs = make([]string, o.catalogs)
	for i := range b.catalogs {
		b.catalogs[i] = fmt.Sprintf("lakebench-%s-%d", id, i)
	}
	b.fields = make([]string, o.fields)
	for i := range b.fields {
		b.fields[i] = fmt.Sprintf("f%d", i)
	}
	switch o.op {
	case "read", "mixed":
		if !o.json {
			fmt.Fprintf(b.a.stderr, "preparing %d catalogs with %d fields...\n", o.catalogs, o.fields)
		}
		if err := benchPrepare(ctx, b.client, b.catalogs, b.fields, b.value); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	case "coldread":
		if !o.json {
			fmt.Fprintf(b.a.stderr, "writing %d deltas to one catalog with %d writers...\n", o.deltas, o.writers)
		}
		if err := benchPrepareDeltas(ctx, b.client, b.catalogs[0], b.fields, b.value, o.deltas, o.writers); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	return nil
}

// open opens the client, connected, in a namespace of its own: the key
// prefix lakebench:ID: (after --key-prefix) on Redis, wiped at the end, or a
// temporary directory for a file:// lake. Its Option.Storage is b.store;
// cfg, the lake's config for --storage config, is copied into it, so that
// its encryption applies on top of b.store as in the lake.
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

	// Warnings are expected under load (mixed reads racing to save the same
	// snapshot) and would drown the output: only errors are logged.
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: max(a.logLevel, slog.LevelError)}))
	b.client = lake.NewLake(metaURL, func(opt *lake.Option) {
		opt.Logger = logger
		opt.KeyPrefix = prefix
		opt.Storage = b.store
		opt.SnapshotMinDeltas = o.snapshotMinDeltas
		opt.SnapshotAsync = o.snapshotAsync
		opt.Compaction = o.compaction()
		if o.op == "coldread" {
			// Every read folds from the object store.
			opt.CacheSize, opt.CacheBytes = -1, -1
		}
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

// openSampler opens --sample-memory: file, created (or truncated) with its
// header line, and a Redis connection of its own to the meta store, whose
// INFO memory it reads. Both are closed by cleanup.
func (b *benchLake) openSampler(file string) (*memorySampler, error) {
	metaURL := b.a.meta
	if !strings.Contains(metaURL, "://") {
		metaURL = "redis://" + metaURL // host:port, as index.Open reads it
	}
	opt, err := rueidis.ParseURL(metaURL)
	if err != nil {
		return nil, fmt.Errorf("--sample-memory: %s: %w", index.RedactURL(metaURL), err)
	}
	opt.DisableCache = true
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("--sample-memory: connect to %s: %w", index.RedactURL(metaURL), err)
	}
	b.cleanups = append(b.cleanups, client.Close)
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("--sample-memory: %w", err)
	}
	b.cleanups = append(b.cleanups, func() {
		if err := f.Close(); err != nil {
			b.warn("--sample-memory: %v", err)
		}
	})
	if _, err := io.WriteString(f, memorySampleHeader); err != nil {
		return nil, fmt.Errorf("--sample-memory: %w", err)
	}
	b.sampler = &memorySampler{w: f, used: func(ctx context.Context) (int64, error) { return usedMemory(ctx, client) }}
	return b.sampler, nil
}

// usedMemory returns used_memory (INFO memory) of the Redis behind client,
// summed over every node it knows (one but for a cluster).
func usedMemory(ctx context.Context, client rueidis.Client) (int64, error) {
	var total int64
	for addr, node := range client.Nodes() {
		info, err := node.Do(ctx, node.B().Info().Section("memory").Build()).ToString()
		if err != nil {
			return 0, fmt.Errorf("INFO memory of %s: %w", addr, err)
		}
		n, err := infoField(info, "used_memory")
		if err != nil {
			return 0, fmt.Errorf("INFO memory of %s: %w", addr, err)
		}
		total += n
	}
	return total, nil
}

// infoField returns the integer field name of an INFO reply.
func infoField(info, name string) (int64, error) {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), name+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s", name)
}

// openStorage opens the store of --storage KIND, counted (b.store,
// b.counter); cfg is the lake's config for KIND config. What the benchmark
// stores is removed by cleanup.
func (b *benchLake) openStorage(kind string, cfg *config.Config) error {
	var (
		inner  storage.Storage
		record bool
	)
	switch kind {
	case "local":
		dir, err := b.tempDir("lakebench-objects-")
		if err != nil {
			return err
		}
		if inner, err = storage.NewLocalStorage(dir); err != nil {
			return err
		}
	case "config":
		// The secrets a stored config leaves to each process, as Lake
		// resolves them.
		resolved, err := cfg.Resolve(os.Getenv)
		if err != nil {
			return err
		}
		if inner, err = storage.Open(resolved); err != nil {
			return err
		}
		record = true
	default:
		inner = storage.NewMemoryStorage()
	}
	b.store, b.counter = newBenchStorage(inner, record)
	if record {
		b.cleanups = append(b.cleanups, func() {
			if n, err := b.counter.deleteAll(); err != nil {
				b.warn("delete the benchmark's %d object(s) from the configured storage: %v", n, err)
			}
		})
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

// benchPrepareDeltas writes n deltas to catalog, over fields in turn, with
// the given number of concurrent writers, and saves no snapshot.
func benchPrepareDeltas(ctx context.Context, client *lake.Client, catalog string, fields []string, value lake.JSON, n, writers int) error {
	var next atomic.Int64
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range min(writers, n) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				if err := client.Write(ctx, lake.WriteRequest{Catalog: catalog, Field: fields[i%int64(len(fields))], Value: value}); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
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
