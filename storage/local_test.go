package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
