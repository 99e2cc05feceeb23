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
package lake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/merge"
	"github.com/hkloudou/lake/v2/storage"
)

// Defaults of Option.
const (
	DefaultMaxBodySize      = 1 << 20 // 1 MiB per delta body
	DefaultFetchConcurrency = 16      // object fetches in flight per read
	DefaultInitTimeout      = 10 * time.Second
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
	// call (default 1024; negative turns the cache off).
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
	// CacheBytes bounds the memory the document cache holds, estimated from
	// each document's JSON size (default DefaultCacheBytes; the least
	// recently read documents go first). A document larger than the whole
	// bound is not cached.
	CacheBytes int64
	// MaxDocumentSize bounds the JSON size of a document a read folds
	// (default DefaultMaxDocumentSize): a larger snapshot or fold fails the
	// read with ErrDocumentTooLarge instead of taking the process's memory.
	MaxDocumentSize int64
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

	cache       *documentCache
	engine      *merge.ScriptEngine
	scripts     sync.Map // script hash -> *merge.Script, compiled once
	scriptLoads singleflight.Group
}

// state is what the loaded config resolves to. It is replaced whole by
// UpdateConfig, never mutated.
type state struct {
	cfg   *config.Config // nil when the lake has no stored config
	store storage.Storage
}

// NewLake returns a client of the lake whose meta store is at metaURL
// ("redis://host:port/db", "rediss://...", "unix:///path", or a bare
// "host:port"). It never fails and does no I/O: a bad URL or an unreachable
// Redis is returned by the first operation.
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
	opt.SnapshotMinDeltas = max(opt.SnapshotMinDeltas, 1)
	return &Client{metaURL: metaURL, opt: opt, cache: newDocumentCache(opt.CacheSize), engine: merge.NewScriptEngine(opt.Scripts)}
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

func (c *Client) loadState(ctx context.Context, idx index.Index) (*state, error) {
	raw, err := idx.LoadConfig(ctx)
	if errors.Is(err, index.ErrNotFound) && c.opt.Storage == nil {
		if local, ok := idx.(interface{ Dir() string }); ok {
			// An embedded lake is one directory: bodies go beside the meta store.
			return c.newState(nil, &config.Config{Storage: config.StorageLocal, Path: filepath.Join(local.Dir(), "objects")})
		}
	}
	if errors.Is(err, index.ErrNotFound) {
		s, err := c.newState(nil, nil)
		if err == nil && c.opt.Storage == nil {
			c.opt.Logger.Warn("lake: no config stored at lake.setting; using memory storage, bodies will not survive this process",
				"key", c.opt.KeyPrefix+config.Key)
		}
		return s, err
	}
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("lake: stored config at %s: %w", c.opt.KeyPrefix+config.Key, err)
	}
	return c.newState(cfg, nil)
}

// newState opens the storage that cfg and the options ask for. Without a
// config (cfg == nil) it uses fallback, or memory storage.
func (c *Client) newState(cfg, fallback *config.Config) (*state, error) {
	effective := cfg
	if effective == nil {
		effective = fallback
	}
	if effective == nil {
		effective = &config.Config{Storage: config.StorageMemory}
	}
	store := c.opt.Storage
	if store == nil {
		var err error
		if store, err = storage.Open(effective); err != nil {
			return nil, err
		}
		if effective.StorageKind() == config.StorageMemory && cfg != nil {
			c.opt.Logger.Warn("lake: config selects memory storage; bodies will not survive this process")
		}
	}
	if effective.AESPwd != "" {
		encrypted, err := storage.NewEncrypted(store, effective.AESPwd)
		if err != nil {
			return nil, err
		}
		store = encrypted
	}
	return &state{cfg: cfg, store: store}, nil
}

// Ping checks that the lake is usable now: the meta store answers and the
// object store takes, returns and deletes a probe object.
func (c *Client) Ping(ctx context.Context) error {
	idx, s, err := c.ready(ctx)
	if err != nil {
		return fmt.Errorf("lake: ping: %w", err)
	}
	if _, err := idx.LoadConfig(ctx); err != nil && !errors.Is(err, index.ErrNotFound) {
		return fmt.Errorf("lake: ping: %w", err)
	}
	if err := probe(ctx, s.store); err != nil {
		return fmt.Errorf("lake: ping: %w", err)
	}
	return nil
}

// StorageKind names the object store this client uses: "memory", "local",
// "encrypted(local)", or "custom" for an Option.Storage that does not name
// itself. It loads the config if no operation has yet.
func (c *Client) StorageKind(ctx context.Context) (string, error) {
	_, s, err := c.ready(ctx)
	if err != nil {
		return "", err
	}
	return storage.Kind(s.store), nil
}

// GetConfig returns the lake's config as loaded by this client, or nil (and
// no error) when the lake has none and runs on the memory fallback.
func (c *Client) GetConfig(ctx context.Context) (*config.Config, error) {
	_, s, err := c.ready(ctx)
	if err != nil {
		return nil, err
	}
	if s.cfg == nil {
		return nil, nil
	}
	cfg := *s.cfg
	return &cfg, nil
}

// UpdateConfig validates cfg, checks that its storage works (a put, get and
// delete of a probe object, encrypted if cfg.AESPwd is set), stores it at
// "lake.setting" and applies it to this client. A config that fails any step
// is not stored. Other clients load the config once, on their first
// operation; they pick up a change when they are restarted.
func (c *Client) UpdateConfig(ctx context.Context, cfg *config.Config) error {
	data, err := cfg.Marshal() // validates
	if err != nil {
		return err
	}
	idx, err := c.index(ctx)
	if err != nil {
		return err
	}
	stored := *cfg
	next, err := c.newState(&stored, nil)
	if err != nil {
		return err
	}
	// Keep the current store when the storage settings did not change, so
	// that memory storage keeps its bodies.
	if cur := c.state.Load(); cur != nil && sameStorage(cur.cfg, &stored) {
		next.store = cur.store
	}
	if err := probe(ctx, next.store); err != nil {
		return err
	}
	if err := idx.StoreConfig(ctx, data); err != nil {
		return err
	}
	c.state.Store(next)
	return nil
}

func sameStorage(a, b *config.Config) bool {
	if a == nil {
		a = &config.Config{}
	}
	x, y := *a, *b
	x.Name, y.Name = "", ""
	x.Storage, y.Storage = x.StorageKind(), y.StorageKind()
	return x == y
}

// probe proves a store can keep and return an object before a config that
// names it is stored.
func probe(ctx context.Context, store storage.Storage) error {
	key := "_lake/probe/" + newDeltaID() + ".json"
	want := []byte(`{"probe":true}`)
	if err := store.Put(ctx, key, want); err != nil {
		return fmt.Errorf("%w: probe put: %w", ErrStorageUnavailable, err)
	}
	got, err := store.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("%w: probe get: %w", ErrStorageUnavailable, err)
	}
	if string(got) != string(want) {
		return fmt.Errorf("%w: probe object came back altered", ErrStorageUnavailable)
	}
	if err := store.Delete(ctx, key); err != nil {
		return fmt.Errorf("%w: probe delete: %w", ErrStorageUnavailable, err)
	}
	return nil
}
