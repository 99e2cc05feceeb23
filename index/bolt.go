package index

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hkloudou/lake/v2/internal/batch"
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
//	counts                   key: how many catalogs, merge script names, sources,
//	                         deleted catalogs
//	setting                  key: the config (JSON)
//	lake_id                  key: the lake's ID (LakeID)
//	scripts/                 bucket: =<merge script name> -> source hash
//	script_sources/          bucket: =<hash> -> a merge script's source (immutable)
//	gone/                    bucket: =<catalog> -> its last deletion version
//	                         (DeleteCatalog), which outlives the catalog;
//	                         created by the first deletion
//	catalogs/                bucket of catalogs:
//	  =<catalog>/            bucket per catalog:
//	    head                 key: version, snapshot pointer, epoch, removals,
//	                         entry count (boltHead; a catalog written before
//	                         sealing has the keys version, snap_version and
//	                         snap_key instead, until its next write)
//	    history              key: archived, trimmed, and how many entries snaps/
//	                         and segs/ hold (History; absent, all are 0)
//	    log/                 bucket: version -> encoded delta (member.go)
//	    ids/                 bucket: delta ID -> version
//	    snaps/               bucket: version -> snapshot object key: every
//	                         pointer SaveSnapshot moved to (or Restore wrote)
//	                         that Forget has not taken out
//	    segs/                bucket: last version -> after | segment object key
//
// Maintenance leases (History.Lease) are not in the file: one process owns
// it, so they live in that process's memory (boltIndex.leases).
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
	commits *batch.Batcher[boltCommit, int64]
	// broken is the ErrCorrupt of the first panic inside bbolt.
	broken atomic.Pointer[error]
	// leases are the catalogs' maintenance leases, by catalog.
	leaseMu sync.Mutex
	leases  map[string]boltLease
}

var (
	_ Index    = (*boltIndex)(nil)
	_ Embedded = (*boltIndex)(nil)
	_ Wiper    = (*boltIndex)(nil)
)

var (
	bucketScripts       = []byte("scripts")
	bucketScriptSources = []byte("script_sources")
	bucketCatalogs      = []byte("catalogs")
	bucketLog           = []byte("log")
	bucketIDs           = []byte("ids")
	bucketSnaps         = []byte("snaps")
	bucketSegs          = []byte("segs")
	bucketGone          = []byte("gone")
	keyFormat           = []byte("format")
	keyCounts           = []byte("counts")
	keySetting          = []byte("setting")
	keyLakeID           = []byte("lake_id")
	keyHead             = []byte("head")
	keyHistory          = []byte("history")
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
	b.commits = batch.New(maxBatch, 1, b.commitBatch)
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
				if root, err = createNamespace(tx, b.root, true); err != nil {
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

// createNamespace creates an empty namespace: its root bucket with the
// three buckets under it, and for a sealed one the format marker and the
// counts.
func createNamespace(tx *bolt.Tx, name []byte, sealed bool) (*bolt.Bucket, error) {
	root, err := tx.CreateBucket(name)
	if err != nil {
		return nil, err
	}
	if sealed {
		if err := root.Put(keyFormat, seal(scopeRoot, keyFormat, []byte(sealedFormatVersion))); err != nil {
			return nil, err
		}
		if err := root.Put(keyCounts, seal(scopeRoot, keyCounts, encodeCounts(boltCounts{}))); err != nil {
			return nil, err
		}
	}
	for _, name := range [][]byte{bucketScripts, bucketScriptSources, bucketCatalogs} {
		if _, err := root.CreateBucket(name); err != nil {
			return nil, err
		}
	}
	return root, nil
}

// Wipe drops the namespace (the root bucket of the KeyPrefix) and creates
// it again, empty and in the format it had, in one transaction: the engine
// goes on working, and the other namespaces in the file are untouched.
func (b *boltIndex) Wipe(ctx context.Context) error {
	if string(b.root) == "lake" {
		return fmt.Errorf("%w: the file engine was opened without one", ErrNoKeyPrefix)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := b.guard(func() error {
		return b.db.Update(func(tx *bolt.Tx) error {
			if tx.Bucket(b.root) != nil {
				if err := tx.DeleteBucket(b.root); err != nil {
					return err
				}
			}
			_, err := createNamespace(tx, b.root, b.strict)
			return err
		})
	})
	if err != nil {
		return b.classify(fmt.Errorf("wipe namespace %q: %w", b.root, err))
	}
	// The Redis engine's leases are keys under the prefix too.
	b.leaseMu.Lock()
	clear(b.leases)
	b.leaseMu.Unlock()
	return nil
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
