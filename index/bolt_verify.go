package index

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// checkValues walks the namespace at Open (after Tx.Check, within
// boltCheckLimit): every value's seal, every entry's shape, and the counts a
// sealed namespace keeps, so that a value or an element that a damaged page
// changed or lost is found before any read can answer with it. It reads
// every value once: linear in the namespace's size. Each ID's version is
// not looked up in the log (a random access per entry, twice the cost of
// the rest): the counts already tie the two buckets together.
func (b *boltIndex) checkValues(tx *bolt.Tx) error {
	root := tx.Bucket(b.root)
	if root == nil {
		return nil // a new namespace
	}
	strict, err := namespaceFormat(root)
	if err != nil {
		return err
	}
	b.strict = strict
	buckets := map[string]bool{string(bucketScripts): true, string(bucketScriptSources): true, string(bucketCatalogs): true, string(bucketGone): true}
	err = root.ForEach(func(k, v []byte) error {
		key := string(k)
		switch {
		case buckets[key]:
			if v != nil {
				return fmt.Errorf("%w: %q is a value, not a bucket", ErrCorrupt, k)
			}
			return nil
		case key == string(keyFormat):
			return nil // namespaceFormat read it
		case key == string(keyCounts) && strict:
			_, err := loadCounts(root)
			return err
		case key == string(keySetting):
			_, _, err := unseal(scopeRoot, k, v, strict)
			return err
		case key == string(keyLakeID):
			_, _, err := unseal(scopeRoot, k, v, true)
			return err
		}
		return fmt.Errorf("%w: unknown key %q in namespace %q", ErrCorrupt, k, b.root)
	})
	if err != nil {
		return err
	}
	if err := b.inRoot(tx, func(*bolt.Bucket) error { return nil }); err != nil {
		return err
	}
	var counts boltCounts
	for _, s := range []struct {
		bucket []byte
		scope  string
		n      *int64
	}{{bucketScripts, scopeScripts, &counts.scripts}, {bucketScriptSources, scopeScriptSources, &counts.sources}} {
		err := root.Bucket(s.bucket).ForEach(func(k, v []byte) error {
			if k[0] != '=' || v == nil {
				return fmt.Errorf("%w: entry %q of %s is not a name", ErrCorrupt, k, s.scope)
			}
			*s.n++
			_, _, err := unseal(s.scope, k, v, strict)
			return err
		})
		if err != nil {
			return err
		}
	}
	if gone := root.Bucket(bucketGone); gone != nil {
		err := gone.ForEach(func(k, v []byte) error {
			if k[0] != '=' || v == nil {
				return fmt.Errorf("%w: entry %q of gone is not a catalog name", ErrCorrupt, k)
			}
			counts.gone++
			_, err := goneEntry(k, v)
			return err
		})
		if err != nil {
			return err
		}
	}
	catalogs := root.Bucket(bucketCatalogs)
	err = catalogs.ForEach(func(k, v []byte) error {
		cat := catalogs.Bucket(k)
		if k[0] != '=' || v != nil || cat == nil {
			return fmt.Errorf("%w: catalog entry %q is not a catalog bucket", ErrCorrupt, k)
		}
		counts.catalogs++
		return b.checkCatalog(root, string(k[1:]))
	})
	if err != nil {
		return err
	}
	if strict {
		want, err := loadCounts(root)
		if err != nil {
			return err
		}
		if counts != want {
			return fmt.Errorf("%w: the namespace holds %d catalogs, %d script names, %d sources and %d deleted catalogs; its counts say %d, %d, %d and %d",
				ErrCorrupt, counts.catalogs, counts.scripts, counts.sources, counts.gone, want.catalogs, want.scripts, want.sources, want.gone)
		}
	}
	return nil
}

func (b *boltIndex) checkCatalog(root *bolt.Bucket, catalog string) error {
	cat, h, err := b.catalogHead(root, catalog)
	if err != nil {
		return err
	}
	err = cat.ForEach(func(k, v []byte) error {
		switch string(k) {
		case string(keyHead), string(keyVersion), string(keySnapVersion), string(keySnapKey), string(keyHistory):
			if v == nil {
				return fmt.Errorf("%w: catalog %q: %q is a bucket", ErrCorrupt, catalog, k)
			}
			return nil // loadHead read them
		case string(bucketLog), string(bucketIDs), string(bucketSnaps), string(bucketSegs):
			if v != nil {
				return fmt.Errorf("%w: catalog %q: %q is not a bucket", ErrCorrupt, catalog, k)
			}
			return nil
		}
		return fmt.Errorf("%w: unknown key %q in catalog %q", ErrCorrupt, k, catalog)
	})
	if err != nil {
		return err
	}
	var entries, ids int64
	log := cat.Bucket(bucketLog)
	if log != nil {
		// A sealed entry whose checksum holds is one this engine wrote and
		// decoded fine; only an unsealed one needs decoding to be checked.
		scope := scopeLog(catalog)
		err := log.ForEach(func(k, v []byte) error {
			version, err := parseVersionKey(k)
			if err != nil {
				return fmt.Errorf("log of %q: %w", catalog, err)
			}
			payload, legacy, err := unseal(scope, k, v, b.strict)
			if err != nil {
				return err
			}
			if legacy {
				if _, err := decodeMember(string(payload), version); err != nil {
					return err
				}
			}
			if version > h.Version {
				return fmt.Errorf("%w: catalog %q has an entry at version %d, after its head's %d", ErrCorrupt, catalog, version, h.Version)
			}
			if version <= h.Trimmed {
				return fmt.Errorf("%w: catalog %q has an entry at version %d, trimmed to %d", ErrCorrupt, catalog, version, h.Trimmed)
			}
			entries++
			return nil
		})
		if err != nil {
			return err
		}
	}
	if idb := cat.Bucket(bucketIDs); idb != nil {
		scope := scopeIDs(catalog)
		err := idb.ForEach(func(k, v []byte) error {
			payload, _, err := unseal(scope, k, v, b.strict)
			if err != nil {
				return err
			}
			if _, err := parseVersionKey(payload); err != nil {
				return fmt.Errorf("catalog %q, ID %q: %w", catalog, k, err)
			}
			ids++
			return nil
		})
		if err != nil {
			return err
		}
	}
	if !h.legacy && (entries != h.entries || ids != h.entries) {
		return fmt.Errorf("%w: catalog %q holds %d log entries and %d IDs; its head counts %d", ErrCorrupt, catalog, entries, ids, h.entries)
	}
	if err := checkSnapshotHistory(cat, catalog, h); err != nil {
		return err
	}
	return checkSegments(cat, catalog, h)
}

// checkSnapshotHistory checks snaps/: its entries, as many as the history
// key counts, none beyond the log.
func checkSnapshotHistory(cat *bolt.Bucket, catalog string, h boltHead) error {
	var n int64
	if snaps := cat.Bucket(bucketSnaps); snaps != nil {
		err := snaps.ForEach(func(k, v []byte) error {
			p, err := snapshotEntry(catalog, k, v)
			if err != nil {
				return err
			}
			if p.Version > h.Version {
				return fmt.Errorf("%w: catalog %q has a snapshot at %d in its history, after its head's version %d", ErrCorrupt, catalog, p.Version, h.Version)
			}
			n++
			return nil
		})
		if err != nil {
			return err
		}
	}
	if n != h.snapshots {
		return fmt.Errorf("%w: catalog %q holds %d snapshots in its history; its head counts %d", ErrCorrupt, catalog, n, h.snapshots)
	}
	return nil
}

// checkSegments checks segs/: its entries, as many as the history key
// counts, in order without overlapping, and without a gap above the trim
// floor up to where the archive ends. (Below the floor Forget may have
// taken segments out.)
func checkSegments(cat *bolt.Bucket, catalog string, h boltHead) error {
	var n, end int64
	if segs := cat.Bucket(bucketSegs); segs != nil {
		err := segs.ForEach(func(k, v []byte) error {
			s, err := segmentEntry(catalog, k, v)
			if err != nil {
				return err
			}
			switch {
			case s.After < end:
				return fmt.Errorf("%w: catalog %q: a segment starts after %d, inside the one before (ending at %d)", ErrCorrupt, catalog, s.After, end)
			case s.Last > h.Trimmed && s.After != end && s.After > h.Trimmed:
				return fmt.Errorf("%w: catalog %q: no segment holds the versions after %d, above the trim floor %d", ErrCorrupt, catalog, end, h.Trimmed)
			case s.Last > h.Archived:
				return fmt.Errorf("%w: catalog %q: a segment ends at %d, after the archive's end %d", ErrCorrupt, catalog, s.Last, h.Archived)
			}
			end = s.Last
			n++
			return nil
		})
		if err != nil {
			return err
		}
	}
	if n != h.segments {
		return fmt.Errorf("%w: catalog %q holds %d segments; its head counts %d", ErrCorrupt, catalog, n, h.segments)
	}
	if h.Archived > h.Trimmed && end != h.Archived {
		return fmt.Errorf("%w: catalog %q: its segments end at %d, its archive at %d", ErrCorrupt, catalog, end, h.Archived)
	}
	return nil
}
