//go:build unix

package storage

import (
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// A named pipe beside a key is not a key, and Local never opens it.
func TestLocalListSkipsNamedPipes(t *testing.T) {
	ctx := testCtx(t)
	l, err := NewLocalStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "d/a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(l.Root(), "d", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := l.List(ctx, "d/", "", 10)
	if want := []string{"d/a"}; err != nil || !slices.Equal(keysOf(got), want) {
		t.Fatalf("List = %q, %v; want %q", keysOf(got), err, want)
	}
}
