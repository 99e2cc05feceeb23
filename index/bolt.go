package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The file engine keeps the meta store in one bbolt file, DIR/meta.db, owned
// by one process at a time (bbolt's file lock). Every operation is one bbolt
// transaction, the unit that one Lua call is for the Redis engine: writes are
// serialized and fsynced before they return, reads see a consistent snapshot.
//
// Layout, all under the namespace's root bucket <KeyPrefix>lake:
//
//	setting                  key: the config (JSON)
//	scripts/                 bucket: =<name> -> source hash
//	script_sources/          bucket: =<hash> -> a merge script's source (immutable)
//	catalogs/                bucket of catalogs:
//	  =<catalog>/            bucket per catalog:
//	    version              key: last allocated version
//	    snap_version         key: snapshot pointer version
//	    snap_key             key: snapshot pointer object key
//	    log/                 bucket: version -> encoded delta (member.go)
//	    ids/                 bucket: delta ID -> version
//
// Versions are 8-byte big-endian integers, so a cursor walks the log in
// version order. Catalog, script and hash names get a leading '=' because
// bbolt refuses empty keys and the Redis engine accepts empty names.
type boltIndex struct {
	db   *bolt.DB
	path string
	root []byte
	// commits groups concurrent commits into one transaction (one fsync).
	commits *batcher[boltCommit, int64]
}

var (
	bucketScripts       = []byte("scripts")
	bucketScriptSources = []byte("script_sources")
	bucketCatalogs      = []byte("catalogs")
	bucketLog           = []byte("log")
	bucketIDs           = []byte("ids")
	keySetting          = []byte("setting")
	keyVersion          = []byte("version")
	keySnapVersion      = []byte("snap_version")
	keySnapKey          = []byte("snap_key")
)

// lockTimeout is how long Open waits for another owner of the directory to
// let go before it fails with ErrLocked: long enough to ride over a restart
// of the owner, short enough to report a second owner at once.
const lockTimeout = time.Second

func openBolt(ctx context.Context, dir string, opts Options) (*boltIndex, error) {
	if err := ctx.Err(); err != nil {
		return nil, classifyFile(dir, err)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: create %s: %w", ErrUnavailable, dir, err)
	}
	path := filepath.Join(dir, "meta.db")
	timeout := lockTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(deadline)), time.Millisecond)
	}
	// NoSync stays false: every write transaction is fsynced before it
	// returns, so an acknowledged commit survives a crash.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %w", ErrUnavailable, path, err)
	}
	b := &boltIndex{db: db, path: path, root: []byte(opts.KeyPrefix + "lake")}
	// bbolt writes one transaction at a time: one batch in flight.
	b.commits = newBatcher(maxBatch, 1, b.commitBatch)
	err = db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(b.root)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketScripts, bucketScriptSources, bucketCatalogs} {
			if _, err := root.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, b.classify(fmt.Errorf("initialize %s: %w", path, err))
	}
	return b, nil
}

// nameKey is the key of a catalog, script name or hash (see the layout).
func nameKey(name string) []byte { return append([]byte{'='}, name...) }

func versionKey(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

// parseVersionKey reads a version stored as 8 big-endian bytes.
func parseVersionKey(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: version of %d bytes, want 8", ErrCorrupt, len(b))
	}
	v := binary.BigEndian.Uint64(b)
	if v > MaxVersion {
		return 0, fmt.Errorf("%w: version %d is beyond 2^53-1", ErrCorrupt, v)
	}
	return int64(v), nil
}

// update and view run fn in one write or read transaction after checking ctx.
func (b *boltIndex) update(ctx context.Context, fn func(root *bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.db.Update(func(tx *bolt.Tx) error { return b.inRoot(tx, fn) })
}

func (b *boltIndex) view(ctx context.Context, fn func(root *bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.db.View(func(tx *bolt.Tx) error { return b.inRoot(tx, fn) })
}

// inRoot runs fn on the namespace's root bucket, which openBolt created with
// its three buckets and which nothing deletes.
func (b *boltIndex) inRoot(tx *bolt.Tx, fn func(root *bolt.Bucket) error) error {
	root := tx.Bucket(b.root)
	if root == nil || root.Bucket(bucketScripts) == nil || root.Bucket(bucketScriptSources) == nil || root.Bucket(bucketCatalogs) == nil {
		return fmt.Errorf("%w: bucket %q or one of its buckets is missing", ErrCorrupt, b.root)
	}
	return fn(root)
}

// catalogHead reads a catalog bucket's head; a nil bucket is an empty catalog.
func catalogHead(cat *bolt.Bucket) (Head, error) {
	var head Head
	if cat == nil {
		return head, nil
	}
	var err error
	if v := cat.Get(keyVersion); v != nil {
		if head.Version, err = parseVersionKey(v); err != nil {
			return Head{}, err
		}
	}
	if v := cat.Get(keySnapVersion); v != nil {
		if head.Snapshot.Version, err = parseVersionKey(v); err != nil {
			return Head{}, err
		}
	}
	head.Snapshot.Key = string(cat.Get(keySnapKey))
	return head, nil
}

// scanLog returns the log entries with after < version <= upTo in order.
func scanLog(cat *bolt.Bucket, after, upTo int64) ([]Delta, error) {
	var deltas []Delta
	if cat == nil || after >= upTo || after >= MaxVersion {
		return deltas, nil
	}
	log := cat.Bucket(bucketLog)
	if log == nil {
		return deltas, nil
	}
	c := log.Cursor()
	for k, v := c.Seek(versionKey(max(after+1, 0))); k != nil; k, v = c.Next() {
		version, err := parseVersionKey(k)
		if err != nil {
			return nil, err
		}
		if version > upTo {
			break
		}
		d, err := decodeMember(string(v), version)
		if err != nil {
			return nil, err
		}
		deltas = append(deltas, d)
	}
	return deltas, nil
}

func (b *boltIndex) catalog(root *bolt.Bucket, catalog string) *bolt.Bucket {
	return root.Bucket(bucketCatalogs).Bucket(nameKey(catalog))
}

func (b *boltIndex) Commit(ctx context.Context, catalog string, d Delta) (int64, error) {
	if d.ID == "" {
		return 0, errors.New("index: commit of a delta without an ID")
	}
	return b.commits.do(ctx, 0, boltCommit{catalog: catalog, delta: d})
}

// boltCommit is one delta waiting in a commit batch.
type boltCommit struct {
	catalog string
	delta   Delta
}

// commitBatch commits a batch in one write transaction: one fsync for all
// the commits that queued while the last one was being written.
func (b *boltIndex) commitBatch(_ context.Context, calls []*call[boltCommit, int64]) {
	err := b.db.Update(func(tx *bolt.Tx) error {
		return b.inRoot(tx, func(root *bolt.Bucket) error {
			for _, c := range calls {
				c.res, c.err = commitTo(root, c.req.catalog, c.req.delta)
				// An overflow commits nothing and fails only its own call.
				if c.err != nil && !errors.Is(c.err, ErrVersionOverflow) {
					return c.err
				}
			}
			return nil
		})
	})
	for _, c := range calls {
		if err != nil {
			c.res, c.err = 0, err
		}
		if c.err != nil {
			c.err = b.classify(fmt.Errorf("commit to %q: %w", c.req.catalog, c.err))
		}
	}
}

// commitTo appends d to a catalog's log at its next version, or returns the
// version d already has.
func commitTo(root *bolt.Bucket, catalog string, d Delta) (int64, error) {
	cat, err := root.Bucket(bucketCatalogs).CreateBucketIfNotExists(nameKey(catalog))
	if err != nil {
		return 0, err
	}
	ids, err := cat.CreateBucketIfNotExists(bucketIDs)
	if err != nil {
		return 0, err
	}
	if done := ids.Get([]byte(d.ID)); done != nil {
		return parseVersionKey(done)
	}
	log, err := cat.CreateBucketIfNotExists(bucketLog)
	if err != nil {
		return 0, err
	}
	head, err := catalogHead(cat)
	if err != nil {
		return 0, err
	}
	version := max(time.Now().UnixMicro(), head.Version+1)
	if version > MaxVersion {
		return 0, fmt.Errorf("%w: %q", ErrVersionOverflow, catalog)
	}
	key := versionKey(version)
	if err := cat.Put(keyVersion, key); err != nil {
		return 0, err
	}
	if err := log.Put(key, []byte(encodeMember(d))); err != nil {
		return 0, err
	}
	return version, ids.Put([]byte(d.ID), key)
}

func (b *boltIndex) Read(ctx context.Context, catalog string, after int64) (Head, []Delta, error) {
	var head Head
	var deltas []Delta
	err := b.view(ctx, func(root *bolt.Bucket) error {
		cat := b.catalog(root, catalog)
		var err error
		if head, err = catalogHead(cat); err != nil {
			return err
		}
		snap := head.Snapshot.Version
		head.From = snap
		if after >= snap || (after > 0 && countLog(cat, after, snap, MaxCatchUp+1) <= MaxCatchUp) {
			head.From = after
		}
		if deltas, err = scanLog(cat, head.From, MaxVersion); err != nil {
			return err
		}
		switch {
		case head.From > snap:
			head.Pending = countLog(cat, snap, head.From, math.MaxInt64) + int64(len(deltas))
		case head.From < snap:
			head.Pending = int64(len(deltas)) - countLog(cat, head.From, snap, math.MaxInt64)
		default:
			head.Pending = int64(len(deltas))
		}
		return nil
	})
	if err != nil {
		return Head{}, nil, b.classify(fmt.Errorf("read %q: %w", catalog, err))
	}
	return head, deltas, nil
}

// countLog counts a catalog bucket's log entries with after < version <= upTo,
// stopping at limit.
func countLog(cat *bolt.Bucket, after, upTo, limit int64) int64 {
	if cat == nil || cat.Bucket(bucketLog) == nil {
		return 0
	}
	var n int64
	last := versionKey(upTo)
	c := cat.Bucket(bucketLog).Cursor()
	for k, _ := c.Seek(versionKey(after + 1)); k != nil && bytes.Compare(k, last) <= 0 && n < limit; k, _ = c.Next() {
		n++
	}
	return n
}

func (b *boltIndex) Log(ctx context.Context, catalog string, after, upTo int64) ([]Delta, error) {
	var deltas []Delta
	err := b.view(ctx, func(root *bolt.Bucket) error {
		var err error
		deltas, err = scanLog(b.catalog(root, catalog), after, upTo)
		return err
	})
	if err != nil {
		return nil, b.classify(fmt.Errorf("log of %q: %w", catalog, err))
	}
	return deltas, nil
}

func (b *boltIndex) SaveSnapshot(ctx context.Context, catalog string, p SnapshotPointer) (bool, error) {
	var moved bool
	err := b.update(ctx, func(root *bolt.Bucket) error {
		cat := b.catalog(root, catalog)
		head, err := catalogHead(cat)
		if err != nil {
			return err
		}
		if p.Version > head.Version {
			return fmt.Errorf("%w: %q at version %d", ErrInvalidSnapshot, catalog, p.Version)
		}
		// An earlier attempt of this call already moved the pointer. A
		// stored pointer always has a version > 0 (see below), so the
		// zero pointer of a catalog without a snapshot never matches.
		if p.Version == head.Snapshot.Version && p.Version > 0 && p.Key == head.Snapshot.Key {
			moved = true
			return nil
		}
		if p.Version <= head.Snapshot.Version {
			return nil
		}
		if err := cat.Put(keySnapVersion, versionKey(p.Version)); err != nil {
			return err
		}
		moved = true
		return cat.Put(keySnapKey, []byte(p.Key))
	})
	if errors.Is(err, ErrInvalidSnapshot) {
		return false, err
	}
	if err != nil {
		return false, b.classify(fmt.Errorf("save snapshot of %q: %w", catalog, err))
	}
	return moved, nil
}

func (b *boltIndex) PutScript(ctx context.Context, name, hash, source string) error {
	// One transaction: the name and its source appear together.
	err := b.update(ctx, func(root *bolt.Bucket) error {
		if err := root.Bucket(bucketScriptSources).Put(nameKey(hash), []byte(source)); err != nil {
			return err
		}
		return root.Bucket(bucketScripts).Put(nameKey(name), []byte(hash))
	})
	if err != nil {
		return b.classify(fmt.Errorf("store script %q: %w", name, err))
	}
	return nil
}

func (b *boltIndex) ScriptHash(ctx context.Context, name string) (string, error) {
	hash, found, err := b.get(ctx, bucketScripts, nameKey(name))
	if err != nil {
		return "", b.classify(fmt.Errorf("script %q: %w", name, err))
	}
	if !found {
		return "", fmt.Errorf("%w: script %q", ErrNotFound, name)
	}
	return string(hash), nil
}

func (b *boltIndex) ScriptSource(ctx context.Context, hash string) (string, error) {
	source, found, err := b.get(ctx, bucketScriptSources, nameKey(hash))
	if err != nil {
		return "", b.classify(fmt.Errorf("script source %s: %w", hash, err))
	}
	if !found {
		return "", fmt.Errorf("%w: script source %s", ErrNotFound, hash)
	}
	return string(source), nil
}

func (b *boltIndex) Catalogs(ctx context.Context, after string, limit int) ([]CatalogInfo, error) {
	var list []CatalogInfo
	if limit <= 0 {
		return nil, nil
	}
	err := b.view(ctx, func(root *bolt.Bucket) error {
		c := root.Bucket(bucketCatalogs).Cursor()
		start := nameKey(after)
		k, _ := c.Seek(start)
		if after != "" && k != nil && string(k) == string(start) {
			k, _ = c.Next()
		}
		for ; k != nil && len(list) < limit; k, _ = c.Next() {
			head, err := catalogHead(root.Bucket(bucketCatalogs).Bucket(k))
			if err != nil {
				return err
			}
			list = append(list, CatalogInfo{Name: string(k[1:]), Version: head.Version})
		}
		return nil
	})
	if err != nil {
		return nil, b.classify(fmt.Errorf("list catalogs: %w", err))
	}
	return list, nil
}

func (b *boltIndex) Scripts(ctx context.Context) (map[string]string, error) {
	scripts := map[string]string{}
	err := b.view(ctx, func(root *bolt.Bucket) error {
		return root.Bucket(bucketScripts).ForEach(func(k, v []byte) error {
			scripts[string(k[1:])] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, b.classify(fmt.Errorf("list scripts: %w", err))
	}
	return scripts, nil
}

func (b *boltIndex) DeleteScript(ctx context.Context, name string) error {
	err := b.update(ctx, func(root *bolt.Bucket) error {
		return root.Bucket(bucketScripts).Delete(nameKey(name))
	})
	if err != nil {
		return b.classify(fmt.Errorf("delete script %q: %w", name, err))
	}
	return nil
}

func (b *boltIndex) LoadConfig(ctx context.Context) ([]byte, error) {
	data, found, err := b.get(ctx, nil, keySetting)
	if err != nil {
		return nil, b.classify(fmt.Errorf("load config: %w", err))
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, b.root)
	}
	return data, nil
}

func (b *boltIndex) StoreConfig(ctx context.Context, data []byte) error {
	err := b.update(ctx, func(root *bolt.Bucket) error {
		return root.Put(keySetting, bytes.Clone(data))
	})
	if err != nil {
		return b.classify(fmt.Errorf("store config: %w", err))
	}
	return nil
}

// get copies the value of key in the root bucket (bucket nil) or in one of
// its buckets. found tells an absent key from an empty value.
func (b *boltIndex) get(ctx context.Context, bucket, key []byte) (value []byte, found bool, err error) {
	err = b.view(ctx, func(root *bolt.Bucket) error {
		if bucket != nil {
			root = root.Bucket(bucket)
		}
		k, v := root.Cursor().Seek(key)
		if k == nil || !bytes.Equal(k, key) || v == nil && root.Bucket(key) != nil {
			return nil
		}
		found = true
		value = append([]byte{}, v...)
		return nil
	})
	return value, found, err
}

func (b *boltIndex) Close() error {
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("index: close %s: %w", b.path, err)
	}
	return nil
}

func (b *boltIndex) String() string { return "file" }

// classify marks errors that mean "the store cannot be used" (closed, its
// file failed, or the caller's deadline passed before the store could act)
// with ErrUnavailable, as the Redis engine does for a broken connection or a
// timeout. The caller's cancellation and input errors keep their identity.
func (b *boltIndex) classify(err error) error { return classifyFile(b.path, err) }

func classifyFile(path string, err error) error {
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, bolterrors.ErrDatabaseNotOpen),
		errors.As(err, &pathErr), errors.As(err, &errno):
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, path, err)
	}
	return err
}

// Dir returns the directory the store lives in. A lake on file:// without
// a config keeps its bodies beside it (see lake.Client).
func (b *boltIndex) Dir() string { return filepath.Dir(b.path) }
