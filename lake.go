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
	"errors"
	"fmt"
	"log/slog"
	"os"
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
	// CacheBytes bounds the memory the document cache holds, estimated as
	// three times each document's JSON size (default DefaultCacheBytes,
	// 128 MiB; negative turns the cache off). The least recently read
	// documents go first; a document larger than the whole bound is not
	// cached.
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

	cache       *documentCache
	engine      *merge.ScriptEngine
	scripts     sync.Map // script hash -> *merge.Script, compiled once
	scriptLoads singleflight.Group
}

// state is what the loaded config resolves to. It is replaced whole by
// UpdateConfig, never mutated.
type state struct {
	cfg      *config.Config // as stored; nil when the lake has no stored config
	resolved *config.Config // what this process runs with: cfg with its secrets filled in
	store    storage.Storage
	// holder names the store when it keeps bodies only in this process's
	// memory (storage.HolderOf); "" for a durable store.
	holder string
	// lakeID is the meta store's identity when the state was loaded.
	lakeID string
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
	if opt.CacheBytes == 0 {
		opt.CacheBytes = def.CacheBytes
	}
	if opt.MaxDocumentSize <= 0 {
		opt.MaxDocumentSize = def.MaxDocumentSize
	}
	opt.SnapshotMinDeltas = max(opt.SnapshotMinDeltas, 1)
	return &Client{metaURL: metaURL, opt: opt, cache: newDocumentCache(opt.CacheSize, opt.CacheBytes), engine: merge.NewScriptEngine(opt.Scripts)}
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
	lakeID, err := idx.LakeID(ctx)
	if err != nil {
		return nil, err
	}
	s, err := c.configState(ctx, idx)
	if err != nil {
		return nil, err
	}
	s.lakeID = lakeID
	return s, nil
}

// configState opens the storage the stored config names.
func (c *Client) configState(ctx context.Context, idx index.Index) (*state, error) {
	raw, err := idx.LoadConfig(ctx)
	if errors.Is(err, index.ErrNotFound) && c.opt.Storage == nil {
		if local, ok := idx.(interface{ Dir() string }); ok {
			// An embedded lake is one directory: bodies go beside the meta store.
			return c.newState(nil, &config.Config{Storage: config.StorageLocal, Path: filepath.Join(local.Dir(), "objects")})
		}
	}
	if errors.Is(err, index.ErrNotFound) {
		s, err := c.newState(nil, nil)
		switch {
		case err != nil, c.opt.Storage != nil:
		case c.opt.RequireDurableStorage:
			c.opt.Logger.Warn("lake: no config stored: writes are refused until one names durable storage "+
				"(UpdateConfig, `lake config set`, PUT /v1/config)", "key", c.opt.KeyPrefix+config.Key)
		default:
			c.opt.Logger.Warn("lake: NO CONFIG STORED: bodies are kept in this process's memory and die with it; "+
				"other processes skip them. Store a config naming durable storage (UpdateConfig, `lake config set`, PUT /v1/config)",
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
	effective, err := effective.Resolve(os.Getenv)
	if err != nil {
		return nil, err
	}
	store := c.opt.Storage
	if store == nil {
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
	return &state{cfg: cfg, resolved: effective, store: store, holder: storage.HolderOf(store)}, nil
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
		return "", fmt.Errorf("lake: storage kind: %w", err)
	}
	return storage.Kind(s.store), nil
}

// GetConfig returns the lake's config as loaded by this client, or nil (and
// no error) when the lake has none and runs on the memory fallback.
func (c *Client) GetConfig(ctx context.Context) (*config.Config, error) {
	_, s, err := c.ready(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: get config: %w", err)
	}
	if s.cfg == nil {
		return nil, nil
	}
	cfg := *s.cfg
	return &cfg, nil
}

// UpdateOption changes what UpdateConfig accepts.
type UpdateOption func(*updateOptions)

type updateOptions struct{ force bool }

// ForceStorageChange lets UpdateConfig move a lake that already has data to
// another object store (ErrStorageChange). The bodies written so far stay in
// the old store: reads of the deltas and snapshots they hold fail with
// ErrBodyMissing (or ErrDecrypt after a password change) until the objects
// are copied to the new store, or the entries are removed (Check with
// Repair).
func ForceStorageChange() UpdateOption { return func(o *updateOptions) { o.force = true } }

// UpdateConfig validates cfg, checks that its storage works (a put, get and
// delete of a probe object, encrypted if cfg.AESPwd is set), stores it at
// "lake.setting" and applies it to this client. A config that fails any step
// is not stored. Other clients load the config once, on their first
// operation; they pick up a change when they are restarted.
//
// Moving a lake that already has data to another object store (another
// kind, endpoint, bucket, path or encryption password) is refused with
// ErrStorageChange unless ForceStorageChange is given: the existing bodies
// live in the old store. Leaving memory storage, or turning encryption on
// (earlier plaintext bodies still read), is not a move.
func (c *Client) UpdateConfig(ctx context.Context, cfg *config.Config, opts ...UpdateOption) error {
	var o updateOptions
	for _, apply := range opts {
		if apply != nil {
			apply(&o)
		}
	}
	data, err := cfg.Marshal() // validates
	if err != nil {
		return fmt.Errorf("lake: update config: %w", err)
	}
	idx, err := c.index(ctx)
	if err != nil {
		return fmt.Errorf("lake: update config: %w", err)
	}
	stored := *cfg
	next, err := c.newState(&stored, nil)
	if err != nil {
		return fmt.Errorf("lake: update config: %w", err)
	}
	if !o.force {
		if err := c.checkStorageChange(ctx, idx, next.resolved); err != nil {
			return fmt.Errorf("lake: update config: %w", err)
		}
	}
	// Keep the current store when the storage settings did not change, so
	// that memory storage keeps its bodies.
	if cur := c.state.Load(); cur != nil && sameStorage(cur.resolved, next.resolved) {
		next.store, next.holder = cur.store, cur.holder
	}
	if err := probe(ctx, next.store); err != nil {
		return fmt.Errorf("lake: update config: %w", err)
	}
	if err := idx.StoreConfig(ctx, data); err != nil {
		return fmt.Errorf("lake: update config: %w", err)
	}
	if cur := c.state.Load(); cur != nil {
		next.lakeID = cur.lakeID
	} else if next.lakeID, err = idx.LakeID(ctx); err != nil {
		return fmt.Errorf("lake: update config: stored, but: %w", err)
	}
	c.state.Store(next)
	return nil
}

// checkStorageChange refuses a new storage for a lake whose bodies are in
// another durable store.
func (c *Client) checkStorageChange(ctx context.Context, idx index.Index, next *config.Config) error {
	raw, err := idx.LoadConfig(ctx)
	if errors.Is(err, index.ErrNotFound) {
		return nil // memory fallback or DIR/objects: nothing durable to lose, or the file lake's own default
	}
	if err != nil {
		return err
	}
	old, err := config.Parse(raw)
	if err != nil {
		return nil // the stored config is broken: this update is its repair
	}
	if old.StorageKind() == config.StorageMemory {
		return nil
	}
	if old, err = old.Resolve(os.Getenv); err != nil {
		old.AESPwd = "" // unknown here: compare the rest
	}
	why := storageMove(old, next)
	if why == "" {
		return nil
	}
	catalogs, err := idx.Catalogs(ctx, "", 1)
	if err != nil {
		return err
	}
	if len(catalogs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the new config changes the %s, but the bodies written so far live in the old store "+
		"and reads of them would fail; force it (ForceStorageChange, `lake config set --force`, PUT /v1/config?force=1) "+
		"only after copying the objects, or to give them up", ErrStorageChange, why)
}

// storageMove names what makes next another store than old ("" for none).
func storageMove(old, next *config.Config) string {
	switch {
	case old.StorageKind() != next.StorageKind():
		return "storage kind"
	case old.Path != next.Path:
		return "path"
	case old.Endpoint != next.Endpoint:
		return "endpoint"
	case old.Bucket != next.Bucket:
		return "bucket"
	case old.Encrypted() && old.AESPwd != next.AESPwd:
		return "encryption password"
	}
	return ""
}

func sameStorage(a, b *config.Config) bool {
	if a == nil || b == nil {
		return false
	}
	x, y := *a, *b
	x.Name, y.Name = "", ""
	return x == y
}

// MetaWarning is a setting of the meta store's server that puts
// acknowledged writes at risk, such as an eviction policy that may drop log
// keys or a Redis that keeps nothing on disk.
type MetaWarning = index.Warning

// MetaWarnings checks the meta store's server settings (Redis: the eviction
// policy and persistence) and returns what puts acknowledged writes at risk;
// none for a safe setup and for a file:// lake.
func (c *Client) MetaWarnings(ctx context.Context) ([]MetaWarning, error) {
	idx, err := c.index(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: meta warnings: %w", err)
	}
	checker, ok := idx.(index.SafetyChecker)
	if !ok {
		return nil, nil
	}
	warnings, err := checker.Warnings(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: meta warnings: %w", err)
	}
	return warnings, nil
}

// LakeID returns the identity of the lake's meta store: a random ID created
// with the first use of an empty meta store. A meta store that lost its
// data (a Redis restarted without persistence) answers with a new one.
func (c *Client) LakeID(ctx context.Context) (string, error) {
	idx, err := c.index(ctx)
	if err != nil {
		return "", fmt.Errorf("lake: lake id: %w", err)
	}
	id, err := idx.LakeID(ctx)
	if err != nil {
		return "", fmt.Errorf("lake: lake id: %w", err)
	}
	return id, nil
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

// storageOrigin says why s keeps bodies in memory, for errors.
func (c *Client) storageOrigin(s *state) string {
	switch {
	case c.opt.Storage != nil:
		return "Option.Storage is a memory store"
	case s.cfg == nil:
		return "no config is stored at " + c.opt.KeyPrefix + config.Key
	default:
		return "the stored config names memory storage"
	}
}
