package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hkloudou/lake/v2/internal/batch"
	bolt "go.etcd.io/bbolt"
)

// The file engine's log: commits (a batch per transaction), reads, the log
// range, snapshot pointers, removals and the catalog listing, over the
// per-catalog buckets described in bolt.go. Its History is bolt_history.go.

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

// catalogHead returns a catalog's bucket (nil if it has none) and its
// head, with Deleted.
func (b *boltIndex) catalogHead(root *bolt.Bucket, catalog string) (*bolt.Bucket, boltHead, error) {
	cat := b.catalog(root, catalog)
	h, err := b.loadHead(cat, catalog)
	if err != nil {
		return nil, boltHead{}, err
	}
	h.Deleted, err = loadGone(root, catalog)
	if err != nil {
		return nil, boltHead{}, err
	}
	return cat, h, nil
}

// loadHead reads a catalog bucket's head and history key (not Deleted,
// see catalogHead); a nil bucket is an empty catalog.
func (b *boltIndex) loadHead(cat *bolt.Bucket, catalog string) (boltHead, error) {
	h, err := b.loadHeadKeys(cat, catalog)
	if err != nil || cat == nil {
		return h, err
	}
	if v := cat.Get(keyHistory); v != nil {
		// Always sealed: no version before sealing wrote it.
		payload, _, err := unseal(scopeCatalog(catalog), keyHistory, v, true)
		if err != nil {
			return boltHead{}, err
		}
		if err := decodeHistory(catalog, payload, &h); err != nil {
			return boltHead{}, err
		}
	}
	if err := checkHistory(catalog, h); err != nil {
		return boltHead{}, err
	}
	return h, nil
}

// loadHeadKeys reads the head's own key (or the unsealed keys before it).
func (b *boltIndex) loadHeadKeys(cat *bolt.Bucket, catalog string) (boltHead, error) {
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

func (b *boltIndex) Commit(ctx context.Context, catalog string, d Delta) (int64, error) {
	member, err := encodeMember(d)
	if err != nil {
		return 0, fmt.Errorf("commit to %q: %w", catalog, err)
	}
	return b.commits.Do(ctx, 0, boltCommit{catalog: catalog, id: deltaID(d), member: member})
}

func (b *boltIndex) CommitAll(ctx context.Context, entries []Entry) ([]int64, []error) {
	versions := make([]int64, len(entries))
	errs := make([]error, len(entries))
	calls := make([]batch.Call[boltCommit, int64], len(entries))
	valid := make([]*batch.Call[boltCommit, int64], 0, len(entries))
	for i, e := range entries {
		member, err := encodeMember(e.Delta)
		if err != nil {
			errs[i] = fmt.Errorf("commit to %q: %w", e.Catalog, err)
			continue
		}
		calls[i].Req = boltCommit{catalog: e.Catalog, id: deltaID(e.Delta), member: member}
		valid = append(valid, &calls[i])
	}
	if err := ctx.Err(); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return versions, errs
	}
	if len(valid) > 0 {
		b.commitBatch(ctx, valid) // one transaction, one fsync
	}
	for i := range calls {
		if errs[i] == nil {
			versions[i], errs[i] = calls[i].Res, calls[i].Err
		}
	}
	return versions, errs
}

// boltCommit is one delta waiting in a commit batch: its ID and its encoded
// log entry.
type boltCommit struct {
	catalog, id, member string
}

// commitBatch commits a batch in one write transaction: one fsync for all
// the commits that queued while the last one was being written. It runs in
// the batcher's goroutines, under guard, and always returns with every
// call's result or error set, so no caller waits forever.
func (b *boltIndex) commitBatch(_ context.Context, calls []*batch.Call[boltCommit, int64]) {
	err := b.guard(func() error {
		return b.db.Update(func(tx *bolt.Tx) error {
			return b.inRoot(tx, func(root *bolt.Bucket) error {
				for _, c := range calls {
					c.Res, c.Err = b.commitTo(root, c.Req.catalog, c.Req.id, c.Req.member)
					// An overflow commits nothing and fails only its own call.
					if c.Err != nil && !errors.Is(c.Err, ErrVersionOverflow) {
						return c.Err
					}
				}
				return nil
			})
		})
	})
	for _, c := range calls {
		if err != nil {
			c.Res, c.Err = 0, err
		}
		if c.Err != nil {
			c.Err = b.classify(fmt.Errorf("commit to %q: %w", c.Req.catalog, c.Err))
		}
	}
}

// commitTo appends a delta (its ID and encoded entry) to a catalog's log at
// its next version, or returns the version that ID already has. A catalog
// that does not exist starts above its deletion version. An overflow
// changes nothing, not even the catalog bucket.
func (b *boltIndex) commitTo(root *bolt.Bucket, catalog, id, member string) (int64, error) {
	cat, head, err := b.catalogHead(root, catalog)
	if err != nil {
		return 0, err
	}
	if cat != nil && cat.Bucket(bucketIDs) != nil {
		if done := cat.Bucket(bucketIDs).Get([]byte(id)); done != nil {
			payload, _, err := unseal(scopeIDs(catalog), []byte(id), done, b.strict)
			if err != nil {
				return 0, err
			}
			return parseVersionKey(payload)
		}
	}
	floor := head.Version
	if floor == 0 {
		floor = head.Deleted
	}
	version := max(time.Now().UnixMicro(), floor+1)
	if version > MaxVersion {
		return 0, fmt.Errorf("%w: %q", ErrVersionOverflow, catalog)
	}
	if cat == nil {
		if cat, err = root.Bucket(bucketCatalogs).CreateBucket(nameKey(catalog)); err != nil {
			return 0, err
		}
		if err := b.addCounts(root, boltCounts{catalogs: 1}); err != nil {
			return 0, err
		}
	}
	ids, err := cat.CreateBucketIfNotExists(bucketIDs)
	if err != nil {
		return 0, err
	}
	log, err := cat.CreateBucketIfNotExists(bucketLog)
	if err != nil {
		return 0, err
	}
	upgradeHead(cat, &head)
	if head.Version == 0 {
		// This commit creates the head: its version is the log's epoch.
		head.Epoch = version
	}
	head.Version = version
	head.entries++
	key := versionKey(version)
	if err := log.Put(key, seal(scopeLog(catalog), key, []byte(member))); err != nil {
		return 0, err
	}
	if err := ids.Put([]byte(id), seal(scopeIDs(catalog), []byte(id), key)); err != nil {
		return 0, err
	}
	return version, putHead(cat, catalog, head)
}

func (b *boltIndex) Read(ctx context.Context, catalog string, after int64) (Head, []Delta, error) {
	var head Head
	var deltas []Delta
	err := b.view(ctx, func(root *bolt.Bucket) error {
		cat, h, err := b.catalogHead(root, catalog)
		if err != nil {
			return err
		}
		head = h.Head
		snap := head.Snapshot.Version
		head.From = snap
		// Catching up from behind the snapshot needs every entry after
		// `after` still in the log: none trimmed.
		if after >= snap || (after > 0 && after >= head.Trimmed && countLog(cat, after, snap, MaxCatchUp+1) <= MaxCatchUp) {
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
		if err := putHead(cat, catalog, head); err != nil {
			return err
		}
		return addSnapshot(cat, catalog, head)
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
			if head.Version == 0 {
				continue // its first commit failed (in an older version of this engine)
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
