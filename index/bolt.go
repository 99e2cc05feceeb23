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
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
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
//	format                   key: "sealed-1" (bolt_format.go; absent in a
//	                         namespace created before sealed values)
//	counts                   key: how many catalogs, script names, sources
//	setting                  key: the config (JSON)
//	lake_id                  key: the lake's ID (LakeID)
//	scripts/                 bucket: =<name> -> source hash
//	script_sources/          bucket: =<hash> -> a merge script's source (immutable)
//	catalogs/                bucket of catalogs:
//	  =<catalog>/            bucket per catalog:
//	    head                 key: version, snapshot pointer, epoch, removals,
//	                         entry count (boltHead; a catalog written before
//	                         sealing has the keys version, snap_version and
//	                         snap_key instead, until its next write)
//	    log/                 bucket: version -> encoded delta (member.go)
//	    ids/                 bucket: delta ID -> version
//
// Every value is sealed with a CRC-32C (bolt_format.go). Versions are 8-byte
// big-endian integers, so a cursor walks the log in version order. Catalog,
// script and hash names get a leading '=' because bbolt refuses empty keys
// and the Redis engine accepts empty names.
//
// A damaged file is ErrCorrupt, never a crash or a wrong answer: Open checks
// the file (openBolt), values check themselves, and every call into bbolt
// runs under guard, which turns a panic or a memory fault inside bbolt into
// ErrCorrupt. After one, the engine refuses every further call with that
// error: bbolt's state in memory can no longer be trusted, and writing
// through it could damage the file further.
type boltIndex struct {
	db   *bolt.DB
	file *os.File
	path string
	root []byte
	// strict: the namespace was created with sealed values (its "format"
	// key), so an unsealed value in it is corrupt.
	strict bool
	// commits groups concurrent commits into one transaction (one fsync).
	commits *batcher[boltCommit, int64]
	// broken is the ErrCorrupt of the first panic inside bbolt.
	broken atomic.Pointer[error]
}

var _ Index = (*boltIndex)(nil)

var (
	bucketScripts       = []byte("scripts")
	bucketScriptSources = []byte("script_sources")
	bucketCatalogs      = []byte("catalogs")
	bucketLog           = []byte("log")
	bucketIDs           = []byte("ids")
	keyFormat           = []byte("format")
	keyCounts           = []byte("counts")
	keySetting          = []byte("setting")
	keyLakeID           = []byte("lake_id")
	keyHead             = []byte("head")
	// The head's keys before sealed values.
	keyVersion     = []byte("version")
	keySnapVersion = []byte("snap_version")
	keySnapKey     = []byte("snap_key")
)

// lockTimeout is how long Open waits for another owner of the directory to
// let go before it fails with ErrLocked: long enough to ride over a restart
// of the owner, short enough to report a second owner at once.
const lockTimeout = time.Second

// boltCheckLimit bounds the full check at Open: bbolt's Tx.Check (every
// page reachable or free, none twice, keys in order) and checkValues (every
// value's seal and every count). Measured on a warm page cache (2 vCPUs,
// BenchmarkFileOpenCheck), a 150 MB file with 384k log entries: checkPages
// 0.63 s, Tx.Check 0.92 s, checkValues 0.65 s, so about 70 MB/s in all and
// under two seconds added to Open at this limit; a cold cache adds the disk
// reads. A larger file gets checkPages only (about 240 MB/s; it must run
// whatever the size, for bbolt to be safe to call at all), and its values
// are checked as they are read: damage then shows as ErrCorrupt from the
// call that meets it rather than from Open, and a lost element of a page
// (a damaged count) may go unnoticed until a read of the whole log.
var boltCheckLimit int64 = 128 << 20 // a variable for the tests

// corruptFile is the error for a damaged meta.db, with what to do about it.
func corruptFile(path, what string) error {
	return fmt.Errorf("%w: %s is damaged: %s. Restore meta.db from a backup; the delta and snapshot "+
		"bodies are not in this file (they are in %s unless the lake's config names another store)",
		ErrCorrupt, path, what, filepath.Join(filepath.Dir(path), "objects"))
}

// pageCheckError carries checkPages' finding through bolt.Open.
type pageCheckError struct{ err error }

func (e *pageCheckError) Error() string { return e.err.Error() }

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
	b := &boltIndex{path: path, root: []byte(opts.KeyPrefix + "lake")}
	// NoSync stays false: every write transaction is fsynced before it
	// returns, so an acknowledged commit survives a crash. The file is
	// locked and its pages checked before bbolt maps it (checkPages).
	boltOpts := &bolt.Options{Timeout: timeout, OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, mode)
		if err != nil {
			return nil, err
		}
		if err := lockFile(f, timeout); err != nil {
			f.Close()
			return nil, err
		}
		if err := checkPages(f); err != nil {
			f.Close()
			return nil, &pageCheckError{err}
		}
		b.file = f
		return f, nil
	}}
	var db *bolt.DB
	err := b.guard(func() (err error) {
		db, err = bolt.Open(path, 0o600, boltOpts)
		return err
	})
	var pageErr *pageCheckError
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, timeout)
	case errors.As(err, &pageErr):
		return nil, corruptFile(path, pageErr.Error())
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch):
		return nil, corruptFile(path, err.Error())
	case errors.Is(err, ErrCorrupt):
		if db != nil {
			db.Close()
		}
		if b.file != nil {
			b.file.Close()
		}
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: open %s: %w", ErrUnavailable, path, err)
	}
	b.db = db
	// bbolt writes one transaction at a time: one batch in flight.
	b.commits = newBatcher(maxBatch, 1, b.commitBatch)
	if err := b.checkFile(); err != nil {
		b.Close()
		return nil, err
	}
	err = b.guard(func() error {
		return db.Update(func(tx *bolt.Tx) error {
			root := tx.Bucket(b.root)
			if root == nil {
				// A new namespace is sealed from the start.
				var err error
				if root, err = tx.CreateBucket(b.root); err != nil {
					return err
				}
				if err := root.Put(keyFormat, seal(scopeRoot, keyFormat, []byte(sealedFormatVersion))); err != nil {
					return err
				}
				if err := root.Put(keyCounts, seal(scopeRoot, keyCounts, encodeCounts(boltCounts{}))); err != nil {
					return err
				}
			}
			for _, name := range [][]byte{bucketScripts, bucketScriptSources, bucketCatalogs} {
				if _, err := root.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			var err error
			b.strict, err = namespaceFormat(root)
			return err
		})
	})
	if err != nil {
		b.Close()
		return nil, b.classify(fmt.Errorf("initialize %s: %w", path, err))
	}
	return b, nil
}

// namespaceFormat reads the namespace's format marker: true when sealed.
func namespaceFormat(root *bolt.Bucket) (bool, error) {
	v := root.Get(keyFormat)
	if v == nil {
		if root.Get(keyCounts) != nil {
			return false, fmt.Errorf("%w: the namespace has counts but no format marker", ErrCorrupt)
		}
		return false, nil
	}
	payload, _, err := unseal(scopeRoot, keyFormat, v, true)
	if err != nil {
		return false, err
	}
	if string(payload) != sealedFormatVersion {
		return false, fmt.Errorf("%w: unknown format %q (this version knows %q)", ErrCorrupt, payload, sealedFormatVersion)
	}
	return true, nil
}

// guard runs fn, which calls into bbolt, so that a damaged file cannot take
// the process down: a memory fault (bbolt reads the file through a memory
// map, and a damaged page reference can point outside it) becomes a panic
// in this goroutine (debug.SetPanicOnFault, restored afterwards), and a
// panic becomes ErrCorrupt. The first one breaks the engine for good (see
// boltIndex). Every call into bbolt goes through guard, including the batch
// commits that run in goroutines of their own.
func (b *boltIndex) guard(fn func() error) (err error) {
	if broken := b.broken.Load(); broken != nil {
		return *broken
	}
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = corruptFile(b.path, fmt.Sprintf("reading it failed inside bbolt (%v)", r))
			b.broken.CompareAndSwap(nil, &err)
		}
	}()
	return fn()
}

// checkFile runs bbolt's consistency check (Tx.Check: every page reachable
// or free, none twice, keys in order) and checkValues on a file up to
// boltCheckLimit bytes.
func (b *boltIndex) checkFile() error {
	info, err := b.file.Stat()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, b.path, err)
	}
	if info.Size() > boltCheckLimit {
		return nil
	}
	var problems []error
	err = b.guard(func() error {
		return b.db.View(func(tx *bolt.Tx) error {
			// Drain the channel: Check's goroutine blocks on every send.
			for err := range tx.Check() {
				if len(problems) < 3 {
					problems = append(problems, err)
				}
			}
			if len(problems) > 0 {
				return nil
			}
			return b.checkValues(tx)
		})
	})
	if len(problems) > 0 {
		return corruptFile(b.path, "bbolt's consistency check: "+errors.Join(problems...).Error())
	}
	if errors.Is(err, ErrCorrupt) && b.broken.Load() == nil {
		// checkValues' finding; a panic's error already says it all.
		return corruptFile(b.path, strings.TrimPrefix(err.Error(), ErrCorrupt.Error()+": "))
	}
	return b.classify(err)
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

// update and view run fn in one write or read transaction after checking
// ctx, under guard.
func (b *boltIndex) update(ctx context.Context, fn func(root *bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.guard(func() error {
		return b.db.Update(func(tx *bolt.Tx) error { return b.inRoot(tx, fn) })
	})
}

func (b *boltIndex) view(ctx context.Context, fn func(root *bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.guard(func() error {
		return b.db.View(func(tx *bolt.Tx) error { return b.inRoot(tx, fn) })
	})
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

// loadHead reads a catalog bucket's head; a nil bucket is an empty catalog.
func (b *boltIndex) loadHead(cat *bolt.Bucket, catalog string) (boltHead, error) {
	var h boltHead
	if cat == nil {
		return h, nil
	}
	legacyKeys := cat.Get(keyVersion) != nil || cat.Get(keySnapVersion) != nil || cat.Get(keySnapKey) != nil
	if v := cat.Get(keyHead); v != nil {
		if legacyKeys {
			return h, fmt.Errorf("%w: catalog %q has both a head and the keys of an unsealed one", ErrCorrupt, catalog)
		}
		payload, _, err := unseal(scopeCatalog(catalog), keyHead, v, true)
		if err != nil {
			return h, err
		}
		return decodeHead(catalog, payload)
	}
	if !legacyKeys {
		return h, nil // a catalog bucket whose first commit failed
	}
	if b.strict {
		return h, fmt.Errorf("%w: catalog %q has an unsealed head in a sealed namespace", ErrCorrupt, catalog)
	}
	h.legacy, h.entries = true, -1
	var err error
	if v := cat.Get(keyVersion); v != nil {
		if h.Version, err = parseVersionKey(v); err != nil {
			return boltHead{}, err
		}
	}
	if v := cat.Get(keySnapVersion); v != nil {
		if h.Snapshot.Version, err = parseVersionKey(v); err != nil {
			return boltHead{}, err
		}
	}
	h.Snapshot.Key = string(cat.Get(keySnapKey))
	return h, nil
}

// putHead stores h sealed, replacing the unsealed keys of a catalog written
// before sealing (whose entries the caller has counted).
func putHead(cat *bolt.Bucket, catalog string, h boltHead) error {
	if h.legacy {
		for _, k := range [][]byte{keyVersion, keySnapVersion, keySnapKey} {
			if err := cat.Delete(k); err != nil {
				return err
			}
		}
	}
	return cat.Put(keyHead, seal(scopeCatalog(catalog), keyHead, encodeHead(h)))
}

// upgradeHead makes a head read from unsealed keys writable: it counts the
// log's entries.
func upgradeHead(cat *bolt.Bucket, h *boltHead) {
	if h.legacy {
		h.entries = countLog(cat, math.MinInt64, MaxVersion, math.MaxInt64)
	}
}

// logEntry decodes a log entry, checking its seal.
func (b *boltIndex) logEntry(catalog string, k, v []byte) (Delta, error) {
	version, err := parseVersionKey(k)
	if err != nil {
		return Delta{}, fmt.Errorf("log of %q: %w", catalog, err)
	}
	payload, _, err := unseal(scopeLog(catalog), k, v, b.strict)
	if err != nil {
		return Delta{}, err
	}
	return decodeMember(string(payload), version)
}

// scanLog returns the log entries with after < version <= upTo in order.
// An entry beyond the head's version is corrupt.
func (b *boltIndex) scanLog(cat *bolt.Bucket, catalog string, h boltHead, after, upTo int64) ([]Delta, error) {
	var deltas []Delta
	if cat == nil || after >= upTo || after >= MaxVersion {
		return deltas, nil
	}
	log := cat.Bucket(bucketLog)
	if log == nil {
		if h.entries > 0 {
			return nil, fmt.Errorf("%w: catalog %q has %d entries but no log", ErrCorrupt, catalog, h.entries)
		}
		return deltas, nil
	}
	c := log.Cursor()
	for k, v := c.Seek(versionKey(max(after+1, 0))); k != nil; k, v = c.Next() {
		d, err := b.logEntry(catalog, k, v)
		if err != nil {
			return nil, err
		}
		if d.Version > h.Version {
			return nil, fmt.Errorf("%w: catalog %q has an entry at version %d, after its head's %d", ErrCorrupt, catalog, d.Version, h.Version)
		}
		if d.Version > upTo {
			break
		}
		deltas = append(deltas, d)
	}
	return deltas, nil
}

func (b *boltIndex) catalog(root *bolt.Bucket, catalog string) *bolt.Bucket {
	return root.Bucket(bucketCatalogs).Bucket(nameKey(catalog))
}

// addCounts changes the namespace's counts (a sealed namespace only).
func (b *boltIndex) addCounts(root *bolt.Bucket, catalogs, scripts, sources int64) error {
	if !b.strict {
		return nil
	}
	c, err := loadCounts(root)
	if err != nil {
		return err
	}
	c.catalogs += catalogs
	c.scripts += scripts
	c.sources += sources
	return root.Put(keyCounts, seal(scopeRoot, keyCounts, encodeCounts(c)))
}

func loadCounts(root *bolt.Bucket) (boltCounts, error) {
	v := root.Get(keyCounts)
	if v == nil {
		return boltCounts{}, fmt.Errorf("%w: the namespace's counts are missing", ErrCorrupt)
	}
	payload, _, err := unseal(scopeRoot, keyCounts, v, true)
	if err != nil {
		return boltCounts{}, err
	}
	return decodeCounts(payload)
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
// the commits that queued while the last one was being written. It runs in
// the batcher's goroutines, under guard, and always returns with every
// call's result or error set, so no caller waits forever.
func (b *boltIndex) commitBatch(_ context.Context, calls []*call[boltCommit, int64]) {
	err := b.guard(func() error {
		return b.db.Update(func(tx *bolt.Tx) error {
			return b.inRoot(tx, func(root *bolt.Bucket) error {
				for _, c := range calls {
					c.res, c.err = b.commitTo(root, c.req.catalog, c.req.delta)
					// An overflow commits nothing and fails only its own call.
					if c.err != nil && !errors.Is(c.err, ErrVersionOverflow) {
						return c.err
					}
				}
				return nil
			})
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
func (b *boltIndex) commitTo(root *bolt.Bucket, catalog string, d Delta) (int64, error) {
	catalogs := root.Bucket(bucketCatalogs)
	cat := catalogs.Bucket(nameKey(catalog))
	if cat == nil {
		var err error
		if cat, err = catalogs.CreateBucket(nameKey(catalog)); err != nil {
			return 0, err
		}
		if err := b.addCounts(root, 1, 0, 0); err != nil {
			return 0, err
		}
	}
	ids, err := cat.CreateBucketIfNotExists(bucketIDs)
	if err != nil {
		return 0, err
	}
	if done := ids.Get([]byte(d.ID)); done != nil {
		payload, _, err := unseal(scopeIDs(catalog), []byte(d.ID), done, b.strict)
		if err != nil {
			return 0, err
		}
		return parseVersionKey(payload)
	}
	log, err := cat.CreateBucketIfNotExists(bucketLog)
	if err != nil {
		return 0, err
	}
	head, err := b.loadHead(cat, catalog)
	if err != nil {
		return 0, err
	}
	version := max(time.Now().UnixMicro(), head.Version+1)
	if version > MaxVersion {
		return 0, fmt.Errorf("%w: %q", ErrVersionOverflow, catalog)
	}
	upgradeHead(cat, &head)
	if head.Version == 0 {
		// This commit creates the head: its version is the log's epoch.
		head.Epoch = version
	}
	head.Version = version
	head.entries++
	key := versionKey(version)
	if err := log.Put(key, seal(scopeLog(catalog), key, []byte(encodeMember(d)))); err != nil {
		return 0, err
	}
	if err := ids.Put([]byte(d.ID), seal(scopeIDs(catalog), []byte(d.ID), key)); err != nil {
		return 0, err
	}
	return version, putHead(cat, catalog, head)
}

func (b *boltIndex) Read(ctx context.Context, catalog string, after int64) (Head, []Delta, error) {
	var head Head
	var deltas []Delta
	err := b.view(ctx, func(root *bolt.Bucket) error {
		cat := b.catalog(root, catalog)
		h, err := b.loadHead(cat, catalog)
		if err != nil {
			return err
		}
		head = h.Head
		snap := head.Snapshot.Version
		head.From = snap
		if after >= snap || (after > 0 && countLog(cat, after, snap, MaxCatchUp+1) <= MaxCatchUp) {
			head.From = after
		}
		if deltas, err = b.scanLog(cat, catalog, h, head.From, MaxVersion); err != nil {
			return err
		}
		if head.From <= 0 && !h.legacy && int64(len(deltas)) != h.entries {
			return fmt.Errorf("%w: catalog %q has %d log entries, its head counts %d", ErrCorrupt, catalog, len(deltas), h.entries)
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
	if cat == nil || cat.Bucket(bucketLog) == nil || after >= upTo {
		return 0
	}
	var n int64
	last := versionKey(upTo)
	c := cat.Bucket(bucketLog).Cursor()
	for k, _ := c.Seek(versionKey(max(after+1, 0))); k != nil && bytes.Compare(k, last) <= 0 && n < limit; k, _ = c.Next() {
		n++
	}
	return n
}

func (b *boltIndex) Log(ctx context.Context, catalog string, after, upTo int64) ([]Delta, error) {
	var deltas []Delta
	err := b.view(ctx, func(root *bolt.Bucket) error {
		cat := b.catalog(root, catalog)
		h, err := b.loadHead(cat, catalog)
		if err != nil {
			return err
		}
		deltas, err = b.scanLog(cat, catalog, h, after, upTo)
		return err
	})
	if err != nil {
		return nil, b.classify(fmt.Errorf("log of %q: %w", catalog, err))
	}
	return deltas, nil
}

func (b *boltIndex) SaveSnapshot(ctx context.Context, catalog string, p SnapshotPointer, basis Lineage) (bool, error) {
	var moved bool
	err := b.update(ctx, func(root *bolt.Bucket) error {
		cat := b.catalog(root, catalog)
		head, err := b.loadHead(cat, catalog)
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
		if p.Version <= head.Snapshot.Version || head.Lineage() != basis {
			return nil
		}
		upgradeHead(cat, &head)
		head.Snapshot = p
		moved = true
		return putHead(cat, catalog, head)
	})
	if errors.Is(err, ErrInvalidSnapshot) {
		return false, err
	}
	if err != nil {
		return false, b.classify(fmt.Errorf("save snapshot of %q: %w", catalog, err))
	}
	return moved, nil
}

func (b *boltIndex) Remove(ctx context.Context, catalog string, version int64, id string) (bool, error) {
	if version <= 0 || version > MaxVersion || id == "" {
		return false, nil
	}
	var removed bool
	err := b.update(ctx, func(root *bolt.Bucket) error {
		cat := b.catalog(root, catalog)
		if cat == nil || cat.Bucket(bucketLog) == nil {
			return nil
		}
		log, key := cat.Bucket(bucketLog), versionKey(version)
		v := log.Get(key)
		if v == nil {
			return nil
		}
		d, err := b.logEntry(catalog, key, v)
		if err != nil {
			return err
		}
		if d.ID != id {
			return nil
		}
		head, err := b.loadHead(cat, catalog)
		if err != nil {
			return err
		}
		upgradeHead(cat, &head)
		if err := log.Delete(key); err != nil {
			return err
		}
		// The ID goes with its entry, as in the Redis engine, where the
		// entry is the ID's only record: a retried commit of it is new.
		if ids := cat.Bucket(bucketIDs); ids != nil {
			if err := ids.Delete([]byte(id)); err != nil {
				return err
			}
		}
		head.Removals++
		head.entries--
		removed = true
		return putHead(cat, catalog, head)
	})
	if err != nil {
		return false, b.classify(fmt.Errorf("remove version %d of %q: %w", version, catalog, err))
	}
	return removed, nil
}

func (b *boltIndex) LakeID(ctx context.Context) (string, error) {
	read := func(root *bolt.Bucket) (string, error) {
		v := root.Get(keyLakeID)
		if v == nil {
			return "", nil
		}
		// Always sealed: no version before sealing wrote it.
		payload, _, err := unseal(scopeRoot, keyLakeID, v, true)
		if err != nil {
			return "", err
		}
		if _, err := uuid.ParseBytes(payload); err != nil {
			return "", fmt.Errorf("%w: lake ID %q: %v", ErrCorrupt, payload, err)
		}
		return string(payload), nil
	}
	var id string
	err := b.view(ctx, func(root *bolt.Bucket) (err error) {
		id, err = read(root)
		return err
	})
	if err == nil && id == "" {
		// Create it if it is still absent, in one transaction.
		err = b.update(ctx, func(root *bolt.Bucket) (err error) {
			if id, err = read(root); err != nil || id != "" {
				return err
			}
			id = uuid.NewString()
			return root.Put(keyLakeID, seal(scopeRoot, keyLakeID, []byte(id)))
		})
	}
	if err != nil {
		return "", b.classify(fmt.Errorf("lake id: %w", err))
	}
	return id, nil
}

func (b *boltIndex) PutScript(ctx context.Context, name, hash, source string) error {
	// One transaction: the name and its source appear together.
	err := b.update(ctx, func(root *bolt.Bucket) error {
		sources, scripts := root.Bucket(bucketScriptSources), root.Bucket(bucketScripts)
		var newScripts, newSources int64
		if sources.Get(nameKey(hash)) == nil {
			newSources = 1
		}
		if scripts.Get(nameKey(name)) == nil {
			newScripts = 1
		}
		if err := sources.Put(nameKey(hash), seal(scopeScriptSources, nameKey(hash), []byte(source))); err != nil {
			return err
		}
		if err := scripts.Put(nameKey(name), seal(scopeScripts, nameKey(name), []byte(hash))); err != nil {
			return err
		}
		return b.addCounts(root, 0, newScripts, newSources)
	})
	if err != nil {
		return b.classify(fmt.Errorf("store script %q: %w", name, err))
	}
	return nil
}

func (b *boltIndex) ScriptHash(ctx context.Context, name string) (string, error) {
	hash, found, err := b.get(ctx, bucketScripts, scopeScripts, nameKey(name))
	if err != nil {
		return "", b.classify(fmt.Errorf("script %q: %w", name, err))
	}
	if !found {
		return "", fmt.Errorf("%w: script %q", ErrNotFound, name)
	}
	return string(hash), nil
}

func (b *boltIndex) ScriptSource(ctx context.Context, hash string) (string, error) {
	source, found, err := b.get(ctx, bucketScriptSources, scopeScriptSources, nameKey(hash))
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
		catalogs := root.Bucket(bucketCatalogs)
		c := catalogs.Cursor()
		start := nameKey(after)
		k, v := c.Seek(start)
		if after != "" && k != nil && string(k) == string(start) {
			k, v = c.Next()
		}
		for ; k != nil && len(list) < limit; k, v = c.Next() {
			cat := catalogs.Bucket(k)
			if len(k) == 0 || k[0] != '=' || v != nil || cat == nil {
				return fmt.Errorf("%w: catalog entry %q is not a catalog bucket", ErrCorrupt, k)
			}
			head, err := b.loadHead(cat, string(k[1:]))
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
			if len(k) == 0 || k[0] != '=' || v == nil {
				return fmt.Errorf("%w: script entry %q is not a script name", ErrCorrupt, k)
			}
			hash, _, err := unseal(scopeScripts, k, v, b.strict)
			if err != nil {
				return err
			}
			scripts[string(k[1:])] = string(hash)
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
		scripts := root.Bucket(bucketScripts)
		if scripts.Get(nameKey(name)) == nil {
			return nil
		}
		if err := scripts.Delete(nameKey(name)); err != nil {
			return err
		}
		return b.addCounts(root, 0, -1, 0)
	})
	if err != nil {
		return b.classify(fmt.Errorf("delete script %q: %w", name, err))
	}
	return nil
}

func (b *boltIndex) LoadConfig(ctx context.Context) ([]byte, error) {
	data, found, err := b.get(ctx, nil, scopeRoot, keySetting)
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
		return root.Put(keySetting, seal(scopeRoot, keySetting, data))
	})
	if err != nil {
		return b.classify(fmt.Errorf("store config: %w", err))
	}
	return nil
}

// get copies the checked value of key in the root bucket (bucket nil) or in
// one of its buckets. found tells an absent key from an empty value.
func (b *boltIndex) get(ctx context.Context, bucket []byte, scope string, key []byte) (value []byte, found bool, err error) {
	err = b.view(ctx, func(root *bolt.Bucket) error {
		if bucket != nil {
			root = root.Bucket(bucket)
		}
		k, v := root.Cursor().Seek(key)
		if k == nil || !bytes.Equal(k, key) || v == nil && root.Bucket(key) != nil {
			return nil
		}
		payload, _, err := unseal(scope, key, v, b.strict)
		if err != nil {
			return err
		}
		found = true
		value = append([]byte{}, payload...)
		return nil
	})
	return value, found, err
}

// Close releases the file. After a panic inside bbolt (a broken engine),
// bbolt's locks may be held by the transaction that failed: Close then
// waits a second for bbolt and otherwise unlocks and closes the file
// itself, so that the directory can be opened again.
func (b *boltIndex) Close() error {
	if b.db == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("%w: close %s: %v", ErrCorrupt, b.path, r)
			}
		}()
		done <- b.db.Close()
	}()
	var err error
	if b.broken.Load() == nil {
		err = <-done
	} else {
		select {
		case err = <-done:
		case <-time.After(time.Second):
			// bbolt's memory map keeps the open file (and so its lock)
			// alive after the file is closed: unlock it first. The map
			// and the stuck goroutine are leaked.
			unlockFile(b.file)
			b.file.Close()
			return fmt.Errorf("index: close %s: bbolt did not let go after a failure; released the file", b.path)
		}
	}
	if err != nil {
		return fmt.Errorf("index: close %s: %w", b.path, err)
	}
	return nil
}

func (b *boltIndex) String() string { return "file" }

// classify marks errors that mean "the store cannot be used" (closed, its
// file failed, or the caller's deadline passed before the store could act)
// with ErrUnavailable, as the Redis engine does for a broken connection or a
// timeout. The caller's cancellation, input errors and ErrCorrupt keep their
// identity.
func (b *boltIndex) classify(err error) error { return classifyFile(b.path, err) }

func classifyFile(path string, err error) error {
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, ErrCorrupt):
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
