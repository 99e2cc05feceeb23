// Package packtest reads body packs back from a local object store, for tests
// that check or damage what Lake stored.
package packtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hkloudou/lake/v2/internal/pack"
	"github.com/hkloudou/lake/v2/storage"
)

// StoredPack is one body pack read back from a local object store.
type StoredPack struct {
	Key, File string
	Entries   []pack.Entry
	// Stored holds the parts as the file holds them (sealed when the store
	// is encrypted), Parts the same opened with the password.
	Stored, Parts [][]byte
}

// LocalPacks reads every pack under the local object store root, opening
// its parts with password when it is not empty, and fails the test when a
// pack does not read whole or its entry table does not match it.
func LocalPacks(t testing.TB, root, password string) []StoredPack {
	t.Helper()
	ctx := context.Background()
	local, err := storage.NewLocalStorage(root)
	if err != nil {
		t.Fatal(err)
	}
	var opened storage.Storage = local
	if password != "" {
		if opened, err = storage.NewEncrypted(local, password); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pack.Prefix), "*"))
	if err != nil {
		t.Fatal(err)
	}
	var packs []StoredPack
	for _, f := range files {
		p := StoredPack{Key: pack.Key(filepath.Base(f)), File: f}
		for _, read := range []struct {
			s   storage.Storage
			dst *[][]byte
		}{{local, &p.Stored}, {opened, &p.Parts}} {
			parts, err := storage.ReadParts(ctx, read.s, p.Key)
			if err != nil {
				t.Fatalf("read pack %s: %v", p.Key, err)
			}
			for i, part := range parts {
				if part.Err != nil {
					t.Fatalf("pack %s part %d: %v", p.Key, i, part.Err)
				}
				*read.dst = append(*read.dst, part.Data)
			}
		}
		id, entries, err := pack.DecodeEntries(p.Parts[0])
		if err != nil || id != filepath.Base(f) || len(entries)+1 != len(p.Parts) {
			t.Fatalf("pack %s: entry table names pack %q and %d entries for %d parts: %v", p.Key, id, len(entries), len(p.Parts), err)
		}
		p.Entries = entries
		packs = append(packs, p)
	}
	return packs
}
