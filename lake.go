// Package lake is a JSON document store for Go services. A catalog is one
// JSON document. Writers never rewrite it: each Write appends a delta (a
// value for one field and how to merge it) whose body is an immutable object
// in object storage and whose place in the catalog's order is committed in
// Redis. Readers fold the latest snapshot plus the deltas after it, and may
// save the result as a new snapshot so the next read starts from there.
//
//	client := lake.NewLake("redis://localhost:6379")
//	err := client.Write(ctx, lake.WriteRequest{Catalog: "users", Field: "profile.name", Value: "John"})
//	result, err := client.Read(ctx, lake.ReadRequest{Catalog: "users"})
//	fmt.Println(result.Data) // {"profile":{"name":"John"}}
//
// The lake-wide configuration (which object store, encryption) lives in Redis
// at "lake.setting" and is loaded on the first operation.
//
// This package, config and storage are the stable API. The index, merge and
// server packages are public so that tools can reach the machinery, but
// their Go API may change between minor versions.
package lake

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/merge"
	"github.com/hkloudou/lake/v2/storage"
)

// Defaults of Option.
const (
	DefaultMaxBodySize      = 1 << 20 // 1 MiB per delta body
	DefaultFetchConcurrency = 16      // object fetches in flight per read
	DefaultInitTimeout      = 10 * time.Second
	DefaultMaxDocumentSize  = 64 << 20 // 64 MiB of JSON per folded document
)

// Option tunes a Client. NewLake passes the defaults (NewOption) to each
// option function in turn.
type Option struct {
	// Storage, when set, keeps the bodies instead of the storage named in
	// the lake's config. The config's AESPwd still applies: bodies are
	// encrypted before they reach this Storage.
	Storage storage.Storage
	// KeyPrefix is put before every Redis key, so that several lakes (or
	// test runs) can share one Redis. Empty by default: the config is at
	// "lake.setting" as the README says.
	KeyPrefix string
	// MaxBodySize bounds one encoded delta value, in bytes.
	MaxBodySize int
	// FetchConcurrency bounds the object fetches of one read.
	FetchConcurrency int
	// InitTimeout bounds connecting to Redis and loading the config on the
	// first operation.
	InitTimeout time.Duration
	// Logger receives warnings (memory storage fallback, snapshot failures).
	Logger *slog.Logger
	// CacheSize is how many catalogs' folded documents the client keeps in
	// memory, so that rereading an unchanged catalog costs one meta-store
	// call (0: the default, 1024; negative turns the cache off).
	CacheSize int
	// Scripts limits merge scripts: time per call (default 50 ms), call
	// stack depth and result size.
	Scripts merge.ScriptOptions
	// SnapshotMinDeltas is the snapshot policy of GenerateSnap reads: a read
	// saves a snapshot only when the latest one is at least this many deltas
	// behind the document (default 1: whenever there is anything new).
	// Raising it trades a longer fold for fewer snapshot writes, which
	// matters for large documents that change often.
	SnapshotMinDeltas int
	// SnapshotAsync saves GenerateSnap snapshots in the background, off the
	// reader's path: the read returns at once with SnapshotInfo.Saving set,
	// and Close waits for the saves still running.
	SnapshotAsync bool
	// CacheBytes bounds the memory the document cache holds, estimated as
	// three times each document's JSON size (0: the default,
	// DefaultCacheBytes, 128 MiB; negative turns the cache off). The least recently read
	// documents go first; a document larger than the whole bound is not
	// cached.
	CacheBytes int64
	// MaxDocumentSize bounds the JSON size of a document a read folds
	// (default DefaultMaxDocumentSize): a larger snapshot or fold fails the
	// read with ErrDocumentTooLarge instead of taking the process's memory.
	MaxDocumentSize int64
	// Compaction tunes compaction: how often the catalogs this client
	// writes are archived to log segments and their logs trimmed in the
	// meta store, which keeps the meta store's memory bounded.
	Compaction CompactionPolicy
	// RequireDurableStorage refuses writes (ErrNoDurableStorage) while the
	// bodies would live only in this process's memory: no config stored, or
	// a config naming memory storage, with no Option.Storage. The lake
	// command and `lake serve` set it unless --storage memory is given.
	RequireDurableStorage bool
}

// openIndex is index.Open; tests wrap it to count meta-store calls.
var openIndex = index.Open

// NewOption returns the defaults.
func NewOption() Option {
	return Option{
		MaxBodySize:      DefaultMaxBodySize,
		CacheSize:        DefaultCacheSize,
		CacheBytes:       DefaultCacheBytes,
		MaxDocumentSize:  DefaultMaxDocumentSize,
		FetchConcurrency: DefaultFetchConcurrency,
		InitTimeout:      DefaultInitTimeout,
		Logger:           slog.Default(),
	}
}

// Client is a handle on one lake. It is safe for concurrent use. Create it
// with NewLake; it connects and loads the config on its first operation.
type Client struct {
	metaURL string
	opt     Option

	init   singleflight.Group
	mu     sync.Mutex // guards idx while it is being opened and closed
	idx    index.Index
	state  atomic.Pointer[state]
	closed atomic.Bool

	// snapshotting holds the catalogs whose snapshot this client is saving,
	// so that at most one save per catalog runs at a time.
	snapshotting sync.Map
	// saves tracks background snapshot saves (Option.SnapshotAsync); they
	// start under savesMu after checking closed.
	saves   sync.WaitGroup
	savesMu sync.Mutex
	// folds lets concurrent reads share a fold of the same document.
	folds singleflight.Group

	// owner names this client in the meta store's leases; compactor runs
	// background compaction.
	owner     string
	compactor compactor

	cache       *documentCache
	engine      *merge.ScriptEngine
	scripts     sync.Map // script hash -> *merge.Script, compiled once
	scriptLoads singleflight.Group
}

// NewLake returns a client of the lake whose meta store is at metaURL:
//
//   - "redis://[user:password@]host:port/db": a Redis (6.2 or later,
//     standalone or Cluster) that many processes share;
//   - "rediss://...": the same over TLS;
//   - "unix:///path/to/redis.sock": a Redis on a Unix socket;
//   - "host:port": taken as redis://host:port;
//   - "file://DIR": an embedded lake in one directory, for one process
//     (DIR/meta.db, and the bodies in DIR/objects unless a config says
//     otherwise): "file:///abs/dir" or "file://./rel/dir".
//
// It never fails and does no I/O: a bad URL or an unreachable meta store is
// returned by the first operation.
//
// A lake with no stored config keeps bodies in this process's memory (the
// library's fallback, logged as a warning): other processes skip such
// deltas. Set Option.RequireDurableStorage to refuse those writes instead.
func NewLake(metaURL string, opts ...func(*Option)) *Client {
	opt := NewOption()
	for _, apply := range opts {
		if apply != nil {
			apply(&opt)
		}
	}
	def := NewOption()
	if opt.MaxBodySize <= 0 {
		opt.MaxBodySize = def.MaxBodySize
	}
	if opt.FetchConcurrency <= 0 {
		opt.FetchConcurrency = def.FetchConcurrency
	}
	if opt.InitTimeout <= 0 {
		opt.InitTimeout = def.InitTimeout
	}
	if opt.Logger == nil {
		opt.Logger = def.Logger
	}
	if opt.CacheSize == 0 {
		opt.CacheSize = def.CacheSize
	}
	if opt.CacheBytes == 0 {
		opt.CacheBytes = def.CacheBytes
	}
	if opt.MaxDocumentSize <= 0 {
		opt.MaxDocumentSize = def.MaxDocumentSize
	}
	opt.SnapshotMinDeltas = max(opt.SnapshotMinDeltas, 1)
	if opt.Compaction.Interval == 0 {
		opt.Compaction.Interval = DefaultCompactionInterval
	}
	if opt.Compaction.KeepEntries <= 0 {
		opt.Compaction.KeepEntries = DefaultKeepEntries
	}
	if opt.Compaction.MinAge < 0 {
		opt.Compaction.MinAge = 0
	} else if opt.Compaction.MinAge == 0 {
		opt.Compaction.MinAge = DefaultCompactionMinAge
	}
	return &Client{metaURL: metaURL, opt: opt, owner: newOwner(), cache: newDocumentCache(opt.CacheSize, opt.CacheBytes), engine: merge.NewScriptEngine(opt.Scripts)}
}

// Close waits for the background snapshot saves still running
// (Option.SnapshotAsync) and releases the client's connections. Operations
// after Close return ErrClosed.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	// Saves start under savesMu after checking closed: once this lock is
	// taken, none can start any more.
	c.savesMu.Lock()
	c.savesMu.Unlock()
	c.saves.Wait()
	c.stopCompactor()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idx != nil {
		return c.idx.Close()
	}
	return nil
}

// index returns the meta store, connecting on first use. A failed connection
// is retried by the next call.
func (c *Client) index(ctx context.Context) (index.Index, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, ErrClosed // Close ran while this call waited for the lock
	}
	if c.idx != nil {
		return c.idx, nil
	}
	idx, err := openIndex(ctx, c.metaURL, index.Options{KeyPrefix: c.opt.KeyPrefix})
	if err != nil {
		return nil, err
	}
	c.idx = idx
	return idx, nil
}

// ready returns the meta store and the loaded config, loading it once. All
// concurrent first operations share one load; each waits only as long as its
// own context allows. A failed load (Redis down, invalid config) is not
// remembered, so every operation reports it until it is fixed.
func (c *Client) ready(ctx context.Context) (index.Index, *state, error) {
	if c.closed.Load() {
		return nil, nil, ErrClosed
	}
	if s := c.state.Load(); s != nil {
		return c.idx, s, nil
	}
	ch := c.init.DoChan("config", func() (any, error) {
		if s := c.state.Load(); s != nil {
			return s, nil
		}
		loadCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opt.InitTimeout)
		defer cancel()
		idx, err := c.index(loadCtx)
		if err != nil {
			return nil, err
		}
		s, err := c.loadState(loadCtx, idx)
		if err != nil {
			return nil, err
		}
		c.state.CompareAndSwap(nil, s)
		return c.state.Load(), nil
	})
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, nil, res.Err
		}
		return c.idx, res.Val.(*state), nil
	}
}
