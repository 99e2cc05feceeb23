package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalPutGetDelete(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := NewLocalStorage(filepath.Join(dir, "lake"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "users/a.json", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	got, err := l.Get(ctx, "users/a.json")
	if err != nil || string(got) != `{"a":1}` {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if err := l.Delete(ctx, "users/a.json"); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx, "users/a.json"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
	if _, err := l.Get(ctx, "users/a.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
}

func TestLocalFilesArePrivateAndNoTempFilesRemain(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "lake")
	l, _ := NewLocalStorage(root)
	for _, key := range []string{"c/1.json", "c/2.json", "c/snapshots/3.json"} {
		if err := l.Put(ctx, key, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		info, _ := d.Info()
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", path, info.Mode().Perm())
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", path)
		}
		return nil
	})
}

func TestLocalRefusesKeysThatEscapeTheRoot(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	l, _ := NewLocalStorage(filepath.Join(parent, "root"))
	for _, key := range []string{
		"", "../escape.json", "a/../../escape.json", "/etc/passwd", "a//b", "a/./b", "a/", "..",
		"a\x00b", `a\..\b`, strings.Repeat("x", 256), strings.Repeat("a/", 600) + "x", "bad\xffutf8",
	} {
		if err := l.Put(ctx, key, []byte("x")); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := l.Get(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		if e.Name() != "root" {
			t.Errorf("something was written outside the root: %s", e.Name())
		}
	}
}

func TestLocalOverwriteIsAtomic(t *testing.T) {
	ctx := context.Background()
	l, _ := NewLocalStorage(t.TempDir())
	big := []byte(strings.Repeat("a", 1<<20))
	if err := l.Put(ctx, "k/v.json", big); err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "k/v.json", []byte("small")); err != nil {
		t.Fatal(err)
	}
	got, _ := l.Get(ctx, "k/v.json")
	if string(got) != "small" {
		t.Fatalf("got %d bytes", len(got))
	}
}

func TestLocalOnAFileInsteadOfADirectoryFails(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	os.WriteFile(file, []byte("x"), 0o600)
	l, _ := NewLocalStorage(file)
	err := l.Put(context.Background(), "c/1.json", []byte("{}"))
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidKey) {
		t.Fatalf("Put under a file = %v, want an I/O error", err)
	}
}

func TestMemoryKeepsPrivateCopies(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStorage()
	data := []byte("abc")
	m.Put(ctx, "k", data)
	data[0] = 'X'
	got, _ := m.Get(ctx, "k")
	got[1] = 'Y'
	again, _ := m.Get(ctx, "k")
	if string(again) != "abc" {
		t.Fatalf("stored bytes changed through a caller's slice: %q", again)
	}
	if _, err := m.Get(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if m.Len() != 1 || Kind(m) != "memory" {
		t.Fatalf("Len %d Kind %q", m.Len(), Kind(m))
	}
}
