package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The file engine's History: each call is one bbolt transaction on the
// catalog's buckets (bolt.go), except the leases, which live in memory.

// loadGone returns the catalog's deletion version, 0 if it was never
// deleted.
func loadGone(root *bolt.Bucket, catalog string) (int64, error) {
	gone := root.Bucket(bucketGone)
	if gone == nil {
		return 0, nil
	}
	v := gone.Get(nameKey(catalog))
	if v == nil {
		return 0, nil
	}
	return goneEntry(nameKey(catalog), v)
}

// goneEntry decodes a gone/ entry.
func goneEntry(k, v []byte) (int64, error) {
	// Always sealed: no version before sealing wrote it.
	payload, _, err := unseal(scopeGone, k, v, true)
	if err != nil {
		return 0, err
	}
	d, err := parseVersionKey(payload)
	if err != nil {
		return 0, fmt.Errorf("deletion version of %q: %w", k, err)
	}
	if d == 0 {
		return 0, fmt.Errorf("%w: deletion version of %q is 0", ErrCorrupt, k)
	}
	return d, nil
}

// putHistory stores the head's history key.
func putHistory(cat *bolt.Bucket, catalog string, h boltHead) error {
	return cat.Put(keyHistory, seal(scopeCatalog(catalog), keyHistory, encodeHistory(h)))
}

// addSnapshot adds the head's (new) snapshot pointer to the catalog's
// snapshot history and counts it. A restored history may already hold a
// pointer at that version, newer than the head's was: the new one replaces
// it (this engine keeps one pointer per version).
func addSnapshot(cat *bolt.Bucket, catalog string, h boltHead) error {
	if snaps := cat.Bucket(bucketSnaps); snaps == nil || snaps.Get(versionKey(h.Snapshot.Version)) == nil {
		h.snapshots++
	}
	if err := putSnapshot(cat, catalog, h.Snapshot); err != nil {
		return err
	}
	return putHistory(cat, catalog, h)
}

func putSnapshot(cat *bolt.Bucket, catalog string, p SnapshotPointer) error {
	snaps, err := cat.CreateBucketIfNotExists(bucketSnaps)
	if err != nil {
		return err
	}
	key := versionKey(p.Version)
	return snaps.Put(key, seal(scopeSnaps(catalog), key, []byte(p.Key)))
}

func putSegment(cat *bolt.Bucket, catalog string, s Segment) error {
	segs, err := cat.CreateBucketIfNotExists(bucketSegs)
	if err != nil {
		return err
	}
	key := versionKey(s.Last)
	return segs.Put(key, seal(scopeSegs(catalog), key, encodeSegment(s)))
}

// segmentEntry decodes a segs/ entry.
func segmentEntry(catalog string, k, v []byte) (Segment, error) {
	last, err := parseVersionKey(k)
	if err != nil {
		return Segment{}, fmt.Errorf("segments of %q: %w", catalog, err)
	}
	if v == nil {
		return Segment{}, fmt.Errorf("%w: segments of %q: a bucket at %d", ErrCorrupt, catalog, last)
	}
	payload, _, err := unseal(scopeSegs(catalog), k, v, true)
	if err != nil {
		return Segment{}, err
	}
	return decodeSegment(catalog, last, payload)
}

// snapshotEntry decodes a snaps/ entry.
func snapshotEntry(catalog string, k, v []byte) (SnapshotPointer, error) {
	version, err := parseVersionKey(k)
	if err != nil {
		return SnapshotPointer{}, fmt.Errorf("snapshot history of %q: %w", catalog, err)
	}
	if v == nil {
		return SnapshotPointer{}, fmt.Errorf("%w: snapshot history of %q: a bucket at %d", ErrCorrupt, catalog, version)
	}
	payload, _, err := unseal(scopeSnaps(catalog), k, v, true)
	if err != nil {
		return SnapshotPointer{}, err
	}
	if version == 0 || len(payload) == 0 {
		return SnapshotPointer{}, fmt.Errorf("%w: snapshot history of %q: %q at %d", ErrCorrupt, catalog, payload, version)
	}
	return SnapshotPointer{Version: version, Key: string(payload)}, nil
}

func (b *boltIndex) Range(ctx context.Context, catalog string, after, upTo int64) (Head, []Segment, []Delta, error) {
	after, upTo = min(max(after, 0), MaxVersion), min(max(upTo, 0), MaxVersion)
	var head Head
	segments := []Segment{}
	var deltas []Delta
	err := b.view(ctx, func(root *bolt.Bucket) error {
		cat, h, err := b.catalogHead(root, catalog)
		if err != nil {
			return err
		}
		head = h.Head
		if after < upTo && cat != nil && cat.Bucket(bucketSegs) != nil {
			c := cat.Bucket(bucketSegs).Cursor()
			for k, v := c.Seek(versionKey(after + 1)); k != nil; k, v = c.Next() {
				s, err := segmentEntry(catalog, k, v)
				if err != nil {
					return err
				}
				if s.After >= upTo {
					break
				}
				segments = append(segments, s)
			}
		}
		from := max(after, h.Trimmed)
		if deltas, err = b.scanLog(cat, catalog, h, from, upTo); err != nil {
			return err
		}
		if from <= h.Trimmed && upTo >= h.Version && !h.legacy && int64(len(deltas)) != h.entries {
			return fmt.Errorf("%w: catalog %q has %d log entries, its head counts %d", ErrCorrupt, catalog, len(deltas), h.entries)
		}
		return nil
	})
	if err != nil {
		return Head{}, nil, nil, b.classify(fmt.Errorf("range of %q: %w", catalog, err))
	}
	return head, segments, deltas, nil
}

func (b *boltIndex) Snapshots(ctx context.Context, catalog string, upTo int64, limit int) ([]SnapshotPointer, error) {
	if limit <= 0 {
		return nil, nil
	}
	upTo = min(max(upTo, 0), MaxVersion)
	pointers := []SnapshotPointer{}
	err := b.view(ctx, func(root *bolt.Bucket) error {
		cat := b.catalog(root, catalog)
		if cat == nil || cat.Bucket(bucketSnaps) == nil {
			return nil
		}
		// Newest first: from the last key at or below upTo, backwards.
		c := cat.Bucket(bucketSnaps).Cursor()
		k, v := c.Seek(versionKey(upTo + 1))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && len(pointers) < limit; k, v = c.Prev() {
			p, err := snapshotEntry(catalog, k, v)
			if err != nil {
				return err
			}
			pointers = append(pointers, p)
		}
		return nil
	})
	if err != nil {
		return nil, b.classify(fmt.Errorf("snapshots of %q: %w", catalog, err))
	}
	return pointers, nil
}

func (b *boltIndex) AddSegment(ctx context.Context, catalog string, s Segment) error {
	if s.After < 0 || s.Last <= s.After || s.Last > MaxVersion || s.Key == "" {
		return fmt.Errorf("%w: segment (%d, %d] %q of %q", ErrArchiveMoved, s.After, s.Last, s.Key, catalog)
	}
	err := b.update(ctx, func(root *bolt.Bucket) error {
		cat, h, err := b.catalogHead(root, catalog)
		if err != nil {
			return err
		}
		key := versionKey(s.Last)
		if cat != nil && cat.Bucket(bucketSegs) != nil {
			if v := cat.Bucket(bucketSegs).Get(key); v != nil {
				registered, err := segmentEntry(catalog, key, v)
				if err != nil {
					return err
				}
				if registered == s {
					return nil // an earlier attempt of this call
				}
			}
		}
		if h.Version == 0 || s.After != h.Archived {
			return fmt.Errorf("%w: %q: it ends at %d, the segment starts after %d", ErrArchiveMoved, catalog, h.Archived, s.After)
		}
		if s.Last > h.Version {
			return fmt.Errorf("%w: %q: the segment ends at %d, past the log (%d)", ErrArchiveMoved, catalog, s.Last, h.Version)
		}
		if err := putSegment(cat, catalog, s); err != nil {
			return err
		}
		h.Archived = s.Last
		h.segments++
		return putHistory(cat, catalog, h)
	})
	if errors.Is(err, ErrArchiveMoved) {
		return err
	}
	if err != nil {
		return b.classify(fmt.Errorf("register segment of %q: %w", catalog, err))
	}
	return nil
}

func (b *boltIndex) Trim(ctx context.Context, catalog string, upTo int64) (int64, error) {
	if upTo <= 0 {
		return 0, nil
	}
	if upTo > MaxVersion {
		return 0, fmt.Errorf("%w: %q: version %d is beyond 2^53-1", ErrTrimRefused, catalog, upTo)
	}
	var removed int64
	err := b.update(ctx, func(root *bolt.Bucket) error {
		cat, h, err := b.catalogHead(root, catalog)
		if err != nil {
			return err
		}
		switch {
		case upTo > h.Archived:
			return fmt.Errorf("%w: %q: version %d is not archived (the archive ends at %d)", ErrTrimRefused, catalog, upTo, h.Archived)
		case upTo > h.Snapshot.Version:
			return fmt.Errorf("%w: %q: version %d is above the latest snapshot (%d)", ErrTrimRefused, catalog, upTo, h.Snapshot.Version)
		case upTo <= h.Trimmed:
			return nil
		}
		// Archived > 0, so the catalog exists.
		upgradeHead(cat, &h)
		if log := cat.Bucket(bucketLog); log != nil {
			// Collected first: deleting under a bbolt cursor skips entries.
			var keys [][]byte
			var ids []string
			last := versionKey(upTo)
			c := log.Cursor()
			for k, v := c.First(); k != nil && bytes.Compare(k, last) <= 0; k, v = c.Next() {
				d, err := b.logEntry(catalog, k, v)
				if err != nil {
					return err
				}
				keys, ids = append(keys, bytes.Clone(k)), append(ids, d.ID)
			}
			idb := cat.Bucket(bucketIDs)
			for i, k := range keys {
				if err := log.Delete(k); err != nil {
					return err
				}
				// The ID goes with its entry, as in Remove.
				if idb != nil {
					if err := idb.Delete([]byte(ids[i])); err != nil {
						return err
					}
				}
			}
			removed = int64(len(keys))
		}
		h.entries -= removed
		h.Trimmed = upTo
		if err := putHead(cat, catalog, h); err != nil {
			return err
		}
		return putHistory(cat, catalog, h)
	})
	if errors.Is(err, ErrTrimRefused) {
		return 0, err
	}
	if err != nil {
		return 0, b.classify(fmt.Errorf("trim %q: %w", catalog, err))
	}
	return removed, nil
}

// boltLease is one catalog's maintenance lease.
type boltLease struct {
	owner   string
	expires time.Time
}

func (b *boltIndex) Lease(ctx context.Context, catalog, owner string, ttl time.Duration) (bool, error) {
	if owner == "" || ttl < time.Millisecond {
		return false, fmt.Errorf("index: lease of %q: needs an owner and a time to live of at least 1ms", catalog)
	}
	// A closed or broken engine answers as it does for every other call.
	if err := b.view(ctx, func(*bolt.Bucket) error { return nil }); err != nil {
		return false, b.classify(fmt.Errorf("lease of %q: %w", catalog, err))
	}
	now := time.Now()
	b.leaseMu.Lock()
	defer b.leaseMu.Unlock()
	for name, l := range b.leases {
		if !now.Before(l.expires) {
			delete(b.leases, name)
		}
	}
	if l, ok := b.leases[catalog]; ok && l.owner != owner {
		return false, nil
	}
	if b.leases == nil {
		b.leases = map[string]boltLease{}
	}
	// Milliseconds, as the Redis engine's PX.
	b.leases[catalog] = boltLease{owner: owner, expires: now.Add(ttl.Truncate(time.Millisecond))}
	return true, nil
}

func (b *boltIndex) Release(ctx context.Context, catalog, owner string) error {
	if err := b.view(ctx, func(*bolt.Bucket) error { return nil }); err != nil {
		return b.classify(fmt.Errorf("release lease of %q: %w", catalog, err))
	}
	b.leaseMu.Lock()
	defer b.leaseMu.Unlock()
	// An expired lease is nobody's, even before Lease sweeps it.
	if l, ok := b.leases[catalog]; ok && l.owner == owner && time.Now().Before(l.expires) {
		delete(b.leases, catalog)
	}
	return nil
}

func (b *boltIndex) Forget(ctx context.Context, catalog string, snapshots []SnapshotPointer, segments []Segment) error {
	if len(snapshots) == 0 && len(segments) == 0 {
		return nil
	}
	err := b.update(ctx, func(root *bolt.Bucket) error {
		cat, h, err := b.catalogHead(root, catalog)
		if err != nil {
			return err
		}
		// The refusals first: a refused call forgets nothing.
		for _, p := range snapshots {
			if h.Snapshot.Key != "" && p.Key == h.Snapshot.Key {
				return fmt.Errorf("%w: %q: snapshot %s is the current one", ErrInUse, catalog, p.Key)
			}
		}
		for _, s := range segments {
			if s.Last > h.Trimmed {
				return fmt.Errorf("%w: %q: segment %s ends at %d, above the trim floor %d", ErrInUse, catalog, s.Key, s.Last, h.Trimmed)
			}
		}
		if cat == nil {
			return nil
		}
		// An entry is forgotten only when it is the one named: the same
		// version (or last version) and the same object key.
		forgotten := false
		if snaps := cat.Bucket(bucketSnaps); snaps != nil {
			for _, p := range snapshots {
				if p.Version <= 0 || p.Version > MaxVersion {
					continue
				}
				key := versionKey(p.Version)
				v := snaps.Get(key)
				if v == nil {
					continue
				}
				registered, err := snapshotEntry(catalog, key, v)
				if err != nil {
					return err
				}
				if registered == p {
					if err := snaps.Delete(key); err != nil {
						return err
					}
					h.snapshots--
					forgotten = true
				}
			}
		}
		if segs := cat.Bucket(bucketSegs); segs != nil {
			for _, s := range segments {
				if s.Last <= 0 {
					continue // (and s.Last <= Trimmed, checked above)
				}
				key := versionKey(s.Last)
				v := segs.Get(key)
				if v == nil {
					continue
				}
				registered, err := segmentEntry(catalog, key, v)
				if err != nil {
					return err
				}
				if registered == s {
					if err := segs.Delete(key); err != nil {
						return err
					}
					h.segments--
					forgotten = true
				}
			}
		}
		if !forgotten {
			return nil
		}
		return putHistory(cat, catalog, h)
	})
	if errors.Is(err, ErrInUse) {
		return err
	}
	if err != nil {
		return b.classify(fmt.Errorf("forget history of %q: %w", catalog, err))
	}
	return nil
}

func (b *boltIndex) DeleteCatalog(ctx context.Context, catalog string) (int64, error) {
	var d int64
	err := b.update(ctx, func(root *bolt.Bucket) error {
		_, h, err := b.catalogHead(root, catalog)
		if err != nil {
			return err
		}
		if h.Version == 0 {
			d = h.Deleted
			return nil
		}
		// Above every version the catalog had, and above its last deletion.
		d = max(time.Now().UnixMicro(), h.Version+1, h.Deleted+1)
		if d > MaxVersion {
			return fmt.Errorf("%w: deleting %q", ErrVersionOverflow, catalog)
		}
		if err := root.Bucket(bucketCatalogs).DeleteBucket(nameKey(catalog)); err != nil {
			return err
		}
		gone, err := root.CreateBucketIfNotExists(bucketGone)
		if err != nil {
			return err
		}
		change := boltCounts{catalogs: -1}
		if h.Deleted == 0 {
			change.gone = 1
		}
		if err := gone.Put(nameKey(catalog), seal(scopeGone, nameKey(catalog), versionKey(d))); err != nil {
			return err
		}
		return b.addCounts(root, change)
	})
	if errors.Is(err, ErrVersionOverflow) {
		return 0, err
	}
	if err != nil {
		return 0, b.classify(fmt.Errorf("delete %q: %w", catalog, err))
	}
	return d, nil
}

func (b *boltIndex) Restore(ctx context.Context, catalog string, r Restoration) error {
	if err := checkRestoration(r); err != nil {
		return fmt.Errorf("restore %q: %w", catalog, err)
	}
	err := b.update(ctx, func(root *bolt.Bucket) error {
		cat, h, err := b.catalogHead(root, catalog)
		if err != nil {
			return err
		}
		if h.Version > 0 {
			return fmt.Errorf("%w: %q", ErrNotEmpty, catalog)
		}
		catalogs := root.Bucket(bucketCatalogs)
		if cat != nil {
			// A bucket whose first commit failed: start it over.
			if err := catalogs.DeleteBucket(nameKey(catalog)); err != nil {
				return err
			}
		} else if err := b.addCounts(root, boltCounts{catalogs: 1}); err != nil {
			return err
		}
		if cat, err = catalogs.CreateBucket(nameKey(catalog)); err != nil {
			return err
		}
		if r.Deleted > 0 {
			// As in the Redis engine, a restoration without a deletion
			// keeps the one recorded.
			gone, err := root.CreateBucketIfNotExists(bucketGone)
			if err != nil {
				return err
			}
			if err := gone.Put(nameKey(catalog), seal(scopeGone, nameKey(catalog), versionKey(r.Deleted))); err != nil {
				return err
			}
			if h.Deleted == 0 {
				if err := b.addCounts(root, boltCounts{gone: 1}); err != nil {
					return err
				}
			}
		}
		log, err := cat.CreateBucket(bucketLog)
		if err != nil {
			return err
		}
		ids, err := cat.CreateBucket(bucketIDs)
		if err != nil {
			return err
		}
		for _, d := range r.Log {
			member, _ := encodeMember(d) // Check encoded each
			key := versionKey(d.Version)
			if err := log.Put(key, seal(scopeLog(catalog), key, []byte(member))); err != nil {
				return err
			}
			id := []byte(deltaID(d))
			if err := ids.Put(id, seal(scopeIDs(catalog), id, key)); err != nil {
				return err
			}
		}
		for _, p := range r.Snapshots {
			if err := putSnapshot(cat, catalog, p); err != nil {
				return err
			}
		}
		for _, s := range r.Segments {
			if err := putSegment(cat, catalog, s); err != nil {
				return err
			}
		}
		restored := boltHead{
			Head:    Head{Version: r.Version, Snapshot: r.Snapshot, Epoch: r.Epoch, Trimmed: r.Trimmed},
			entries: int64(len(r.Log)), snapshots: int64(len(r.Snapshots)), segments: int64(len(r.Segments)),
		}
		if n := len(r.Segments); n > 0 {
			restored.Archived = r.Segments[n-1].Last
		}
		if err := putHead(cat, catalog, restored); err != nil {
			return err
		}
		return putHistory(cat, catalog, restored)
	})
	if errors.Is(err, ErrNotEmpty) {
		return err
	}
	if err != nil {
		return b.classify(fmt.Errorf("restore %q: %w", catalog, err))
	}
	return nil
}

// checkRestoration is Restoration.Check and what this engine's keys add:
// a delta ID and a snapshot version each name one entry, so neither may
// appear twice.
func checkRestoration(r Restoration) error {
	if err := r.Check(); err != nil {
		return err
	}
	ids := make(map[string]bool, len(r.Log))
	for _, d := range r.Log {
		id := deltaID(d)
		if ids[id] {
			return fmt.Errorf("%w: restoration: delta ID %q twice", ErrInvalidDelta, id)
		}
		ids[id] = true
	}
	versions := make(map[int64]bool, len(r.Snapshots))
	for _, p := range r.Snapshots {
		if versions[p.Version] {
			return fmt.Errorf("%w: restoration: two snapshots at version %d", ErrInvalidDelta, p.Version)
		}
		versions[p.Version] = true
	}
	return nil
}
