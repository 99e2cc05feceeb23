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
	buckets := map[string]bool{string(bucketScripts): true, string(bucketScriptSources): true, string(bucketCatalogs): true}
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
	catalogs := root.Bucket(bucketCatalogs)
	err = catalogs.ForEach(func(k, v []byte) error {
		cat := catalogs.Bucket(k)
		if k[0] != '=' || v != nil || cat == nil {
			return fmt.Errorf("%w: catalog entry %q is not a catalog bucket", ErrCorrupt, k)
		}
		counts.catalogs++
		return b.checkCatalog(cat, string(k[1:]))
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
			return fmt.Errorf("%w: the namespace holds %d catalogs, %d script names and %d sources; its counts say %d, %d and %d",
				ErrCorrupt, counts.catalogs, counts.scripts, counts.sources, want.catalogs, want.scripts, want.sources)
		}
	}
	return nil
}

func (b *boltIndex) checkCatalog(cat *bolt.Bucket, catalog string) error {
	h, err := b.loadHead(cat, catalog)
	if err != nil {
		return err
	}
	err = cat.ForEach(func(k, v []byte) error {
		switch string(k) {
		case string(keyHead), string(keyVersion), string(keySnapVersion), string(keySnapKey):
			if v == nil {
				return fmt.Errorf("%w: catalog %q: %q is a bucket", ErrCorrupt, catalog, k)
			}
			return nil // loadHead read them
		case string(bucketLog), string(bucketIDs):
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
	return nil
}
