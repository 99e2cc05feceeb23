package lake

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/storage"
)

// A lake's settings: the config stored in the meta store, the state a client
// resolves it to (which object store, with which secrets), and the checks
// around them (probe, storage moves, the meta store's own settings).

// state is what the loaded config resolves to. It is replaced whole by
// UpdateConfig, never mutated.
type state struct {
	cfg      *config.Config // as stored; nil when the lake has no stored config
	resolved *config.Config // what this process runs with: cfg with its secrets filled in
	store    storage.Storage
	// holder names the store when it keeps bodies only in this process's
	// memory (storage.HolderOf); "" for a durable store.
	holder string
	// packs stores the bodies of concurrent writes together, in store.
	packs *packer
	// lakeID is the meta store's identity when the state was loaded.
	lakeID string
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
		if local, ok := idx.(index.Embedded); ok {
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
	return &state{cfg: cfg, resolved: effective, store: store, holder: storage.HolderOf(store), packs: newPacker(store)}, nil
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
	// Without the old secrets here (no LAKE_AES_PWD, a missing file), the
	// stored fields are compared as they are: an encrypted lake then counts
	// as moved, which only force allows.
	if resolved, err := old.Resolve(os.Getenv); err == nil {
		old = resolved
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
	key := "_lake/probe/" + uuid.Must(uuid.NewV7()).String() + ".json"
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
