package storage

import (
	"context"
	"slices"
	"testing"
)

func TestMemoryLenKeysAndHolder(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStorage()
	for _, key := range []string{"b/2.json", "a/1.json", "b/2.json"} {
		if err := m.Put(ctx, key, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if n, keys := m.Len(), m.Keys(); n != 2 || !slices.Equal(keys, []string{"a/1.json", "b/2.json"}) {
		t.Fatalf("Len %d Keys %q; want 2 [a/1.json b/2.json]", n, keys)
	}
	if other := NewMemoryStorage(); m.Holder() == "" || m.Holder() == other.Holder() {
		t.Fatalf("Holder %q, another store's %q: want unique names", m.Holder(), other.Holder())
	}
}

func TestHolderOfSeesThroughDecorators(t *testing.T) {
	m := NewMemoryStorage()
	local, err := NewLocalStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s    Storage
		want string
	}{
		{m, m.Holder()},
		{newTestEncrypted(t, m, testPassword), m.Holder()},
		{local, ""},
		{newTestEncrypted(t, local, testPassword), ""},
	} {
		if got := HolderOf(tc.s); got != tc.want {
			t.Errorf("HolderOf(%s) = %q, want %q", Kind(tc.s), got, tc.want)
		}
	}
}
