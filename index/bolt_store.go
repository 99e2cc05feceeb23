package index

import (
	"bytes"
	"context"
	"fmt"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// The file engine's merge-script and config stores, the lake ID, and the
// namespace's counts.

// addCounts adds change to the namespace's counts (a sealed namespace only).
func (b *boltIndex) addCounts(root *bolt.Bucket, change boltCounts) error {
	if !b.strict {
		return nil
	}
	c, err := loadCounts(root)
	if err != nil {
		return err
	}
	c.catalogs += change.catalogs
	c.scripts += change.scripts
	c.sources += change.sources
	c.gone += change.gone
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
		return b.addCounts(root, boltCounts{scripts: newScripts, sources: newSources})
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
		return b.addCounts(root, boltCounts{scripts: -1})
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
