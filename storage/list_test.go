package storage

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// listKeys are keys whose byte order differs from the order a walk of
// their directories by name visits them: "a.b" and "a-b" sort before
// "a/b/c" ('-' < '.' < '/'), "a/b.c" before "a/b/c" before "a/b0", and
// "a/b/e.f" before "a/b/e/f", while by name the directories "a/b" and
// "a/b/e" come before the files "a/b.c" and "a/b/e.f". No key is also a
// directory of others ("a/b" beside "a/b/c"): a file system cannot hold that.
var listKeys = []string{
	"a-b", "a.b", "a/b.c", "a/b/c", "a/b/c.d", "a/b/c0/d", "a/b/e.f", "a/b/e/f", "a/b0", "a/bc", "a0", "ab",
	".packs/0123456789abcdefghij", ".packs/klmnopqrstuvwxyz0123",
	"car/y", "cat/x", "cab", "c", "users/snapshots/1-x.json", "z", "~", "é/x",
}

// runListContract states the promises of Lister, through the package's
// List, against the stores open returns.
func runListContract(t *testing.T, open func(t *testing.T) fixture) {
	// putKeys stores keys in a random order, each holding its own name.
	putKeys := func(t *testing.T, s Storage, keys []string) {
		t.Helper()
		ctx := testCtx(t)
		for _, i := range mrand.Perm(len(keys)) {
			if err := s.Put(ctx, keys[i], []byte(keys[i])); err != nil {
				t.Fatalf("Put(%q): %v", keys[i], err)
			}
		}
	}
	// want is what List(prefix, after) should return from keys, unlimited.
	want := func(keys []string, prefix, after string) []string {
		var w []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) && k > after {
				w = append(w, k)
			}
		}
		slices.Sort(w)
		return w
	}

	t.Run("ListIsInByteOrder", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		putKeys(t, s, listKeys)
		got, err := List(ctx, s, "", "", 1000)
		if w := want(listKeys, "", ""); err != nil || !slices.Equal(keysOf(got), w) {
			t.Fatalf("List = %q, %v\nwant %q", keysOf(got), err, w)
		}
	})

	t.Run("ListKeepsToThePrefix", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		putKeys(t, s, listKeys)
		for prefix, w := range map[string][]string{
			"ca":        {"cab", "car/y", "cat/x"}, // a part of a segment
			"c":         {"c", "cab", "car/y", "cat/x"},
			"cat/":      {"cat/x"},
			"cat/x":     {"cat/x"},
			".packs/":   {".packs/0123456789abcdefghij", ".packs/klmnopqrstuvwxyz0123"},
			".pa":       {".packs/0123456789abcdefghij", ".packs/klmnopqrstuvwxyz0123"},
			"a/b":       {"a/b.c", "a/b/c", "a/b/c.d", "a/b/c0/d", "a/b/e.f", "a/b/e/f", "a/b0", "a/bc"},
			"a/b/":      {"a/b/c", "a/b/c.d", "a/b/c0/d", "a/b/e.f", "a/b/e/f"},
			"a/b/e/":    {"a/b/e/f"},
			"a/b/c/":    nil, // below a key
			"a.":        {"a.b"},
			"users/sn":  {"users/snapshots/1-x.json"},
			"é":         {"é/x"},
			"nope/":     nil,
			"cab/":      nil,
			"cat/x/y/z": nil,
		} {
			got, err := List(ctx, s, prefix, "", 1000)
			if err != nil || !slices.Equal(keysOf(got), w) {
				t.Errorf("List(%q) = %q, %v; want %q", prefix, keysOf(got), err, w)
			}
		}
	})

	t.Run("ListStartsAfterAnyString", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		putKeys(t, s, listKeys)
		afters := append([]string{
			"", "a", "a/", "a/b", "a/b/", "a/b/c/", "a/b/c/d/e", "a/b/c0", "a/b/e", "a/b/e/", "a/b/e.g", "a0/", "b", "ca", "cat/", "zz", "\U0010FFFF", "\xff",
		}, listKeys...)
		for _, prefix := range []string{"", "a/", "a/b", "c"} {
			for _, after := range afters {
				got, err := List(ctx, s, prefix, after, 1000)
				if w := want(listKeys, prefix, after); err != nil || !slices.Equal(keysOf(got), w) {
					t.Errorf("List(%q, after %q) = %q, %v; want %q", prefix, after, keysOf(got), err, w)
				}
			}
		}
	})

	t.Run("PagesWalkEveryKeyOnce", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		keys := slices.Clone(listKeys)
		for _, d := range []string{"d/", "d/e/", "d/e.f/", "d/e-f/"} {
			for _, n := range []string{"0", "1", "1.x", "2"} {
				keys = append(keys, d+n)
			}
		}
		putKeys(t, s, keys)
		for _, prefix := range []string{"", "d/", "a/b"} {
			w := want(keys, prefix, "")
			for _, limit := range []int{1, 2, 3, 7, len(w), len(w) + 1} {
				var all []string
				after := ""
				for pages := 0; ; pages++ {
					if pages > len(w)+1 {
						t.Fatalf("List(%q, limit %d) does not end: %q so far", prefix, limit, all)
					}
					page, err := List(ctx, s, prefix, after, limit)
					if err != nil {
						t.Fatalf("List(%q, after %q, limit %d): %v", prefix, after, limit, err)
					}
					if len(page) > limit {
						t.Fatalf("List(%q, limit %d) returned %d keys", prefix, limit, len(page))
					}
					all = append(all, keysOf(page)...)
					if len(page) < limit {
						break
					}
					after = page[len(page)-1].Key
				}
				if !slices.Equal(all, w) {
					t.Errorf("List(%q) in pages of %d = %q\nwant %q", prefix, limit, all, w)
				}
			}
		}
	})

	t.Run("ListOfAnEmptyStoreIsEmpty", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		for _, prefix := range []string{"", "missing/", ".packs/"} {
			if got, err := List(ctx, s, prefix, "", 10); err != nil || len(got) != 0 {
				t.Errorf("List(%q) of an empty store = %q, %v; want nothing", prefix, keysOf(got), err)
			}
		}
	})

	t.Run("ListSeesPutsAndDeletes", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		putKeys(t, s, []string{"k/1", "k/2", "k/3"})
		if err := s.Delete(ctx, "k/2"); err != nil {
			t.Fatal(err)
		}
		if got, err := List(ctx, s, "k/", "", 10); err != nil || !slices.Equal(keysOf(got), []string{"k/1", "k/3"}) {
			t.Fatalf("List after deleting k/2 = %q, %v; want k/1 and k/3", keysOf(got), err)
		}
	})

	t.Run("ListReportsTheBytesStored", func(t *testing.T) {
		ctx := testCtx(t)
		f := open(t)
		oneMiB := make([]byte, 1<<20)
		rand.Read(oneMiB)
		bodies := map[string][]byte{
			"s/empty": nil,
			"s/one":   []byte("x"),
			"s/json":  []byte(`{"name":"alice"}`),
			"s/1MiB":  oneMiB,
		}
		for key, body := range bodies {
			if err := f.store.Put(ctx, key, body); err != nil {
				t.Fatalf("Put(%q): %v", key, err)
			}
		}
		putParts(t, f.store, "s/pack", [][]byte{[]byte("part one"), nil, allBytes()})
		got, err := List(ctx, f.store, "s/", "", 10)
		if w := []string{"s/1MiB", "s/empty", "s/json", "s/one", "s/pack"}; err != nil || !slices.Equal(keysOf(got), w) {
			t.Fatalf("List = %q, %v; want %q", keysOf(got), err, w)
		}
		_, encrypted := f.store.(*Encrypted)
		for _, obj := range got {
			// What the store holds is what its raw store returns: for
			// Encrypted, the sealed object; for a pack, the framed parts.
			stored, err := f.raw.Get(ctx, obj.Key)
			if err != nil || obj.Size != int64(len(stored)) {
				t.Errorf("List gives %s %d bytes; the store holds %d (%v)", obj.Key, obj.Size, len(stored), err)
			}
			body, put := bodies[obj.Key]
			switch {
			case !put:
			case encrypted && obj.Size <= int64(len(body)):
				t.Errorf("List gives %s %d bytes, no more than its %d bytes of plaintext", obj.Key, obj.Size, len(body))
			case !encrypted && obj.Size != int64(len(body)):
				t.Errorf("List gives %s %d bytes; %d were put", obj.Key, obj.Size, len(body))
			}
		}
	})

	t.Run("ListRefusesACanceledContext", func(t *testing.T) {
		s := open(t).store
		putKeys(t, s, []string{"k/1"})
		canceled, cancel := context.WithCancel(context.Background())
		cancel()
		if got, err := List(canceled, s, "", "", 10); !errors.Is(err, context.Canceled) || got != nil {
			t.Fatalf("List with a canceled context = %q, %v; want context.Canceled", keysOf(got), err)
		}
	})

	t.Run("ListRefusesBadPrefixesAndLimits", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		putKeys(t, s, []string{"k/1"})
		for _, prefix := range []string{
			"/", "/k", "../", "../k", "k/../", "./k", "k/./", "k//", "k\x00", `k\`, "k\xff",
			strings.Repeat("x", 256), strings.Repeat("k/", 513),
		} {
			if got, err := List(ctx, s, prefix, "", 10); !errors.Is(err, ErrInvalidKey) || got != nil {
				t.Errorf("List(%.40q) = %q, %v; want ErrInvalidKey", prefix, keysOf(got), err)
			}
		}
		for _, limit := range []int{0, -1} {
			if got, err := List(ctx, s, "", "", limit); err == nil || got != nil {
				t.Errorf("List with limit %d = %q, %v; want an error", limit, keysOf(got), err)
			}
		}
	})
}

// keysOf returns the keys of objects, in their order.
func keysOf(objects []Object) []string {
	var keys []string
	for _, obj := range objects {
		keys = append(keys, obj.Key)
	}
	return keys
}

func TestCheckPrefix(t *testing.T) {
	for _, ok := range []string{"", "a", "a/", "a/b", ".", "..", "a/.", "a/..", ".packs/", "é/", strings.Repeat("x", 255)} {
		if err := CheckPrefix(ok); err != nil {
			t.Errorf("CheckPrefix(%q) = %v, want nil", ok, err)
		}
	}
	// Every valid key is a valid prefix, and so is each of its starts that
	// ends on a character boundary.
	for _, key := range []string{"users/a.json", ".packs/0123456789abcdefghij", "名前/x.json", "a b/ü+%26=?.json"} {
		for i := range key {
			if err := CheckPrefix(key[:i]); err != nil {
				t.Errorf("CheckPrefix(%q), a start of %q = %v", key[:i], key, err)
			}
		}
	}
	for _, key := range invalidKeys {
		if CheckKey(key+"x") != nil && CheckPrefix(key) == nil && !strings.HasSuffix(key, "/") {
			t.Errorf("CheckPrefix(%.40q) = nil, but no key starts with it", key)
		}
	}
}

// A store that is not a Lister, here a Memory seen only as a Storage, is
// refused by List and by an Encrypted over it.
func TestListWithoutAListerIsErrNotSupported(t *testing.T) {
	ctx := testCtx(t)
	plain := struct{ Storage }{NewMemoryStorage()}
	for _, s := range []Storage{plain, newTestEncrypted(t, plain, testPassword)} {
		if got, err := List(ctx, s, "", "", 10); !errors.Is(err, ErrNotSupported) || got != nil {
			t.Errorf("List over %s = %q, %v; want ErrNotSupported", Kind(s), keysOf(got), err)
		}
	}
}

// Local lists regular files only: not Put's temporary files, nor links
// (list_unix_test.go adds a named pipe).
func TestLocalListSkipsTemporaryFilesAndLinks(t *testing.T) {
	ctx := testCtx(t)
	l, err := NewLocalStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"d/a", "d/sub/b"} {
		if err := l.Put(ctx, key, []byte(key)); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(l.Root(), "d")
	if err := os.WriteFile(filepath.Join(dir, localTempPrefix+"123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"link": "a", "linkdir": "sub"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.List(ctx, "", "", 100)
	if want := []string{"d/a", "d/sub/b"}; err != nil || !slices.Equal(keysOf(got), want) {
		t.Fatalf("List = %q, %v; want %q", keysOf(got), err, want)
	}
}

// vanishedEntry is the directory entry of a file deleted after its
// directory was read: its Info fails as the lstat behind it would.
type vanishedEntry struct{ name string }

func (e vanishedEntry) Name() string    { return e.name }
func (vanishedEntry) IsDir() bool       { return false }
func (vanishedEntry) Type() fs.FileMode { return 0 }
func (e vanishedEntry) Info() (fs.FileInfo, error) {
	return nil, &fs.PathError{Op: "lstat", Path: e.name, Err: fs.ErrNotExist}
}

// A file that a Delete removes between Local's read of its directory and
// its stat is not a key any more: List leaves it out, without an error.
func TestLocalListLeavesOutAFileDeletedWhileListing(t *testing.T) {
	if obj, ok, err := localObject("d/gone", vanishedEntry{"gone"}); ok || err != nil {
		t.Fatalf("localObject of a deleted file = %+v, %v, %v; want it left out", obj, ok, err)
	}
}

// Lists that run while every key is deleted never fail, and each object
// they return has the size put.
func TestLocalListDuringDeletesDoesNotFail(t *testing.T) {
	ctx := testCtx(t)
	l, err := NewLocalStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 300 {
		keys = append(keys, fmt.Sprintf("d/%d/%03d", i%3, i))
	}
	for _, key := range keys {
		if err := l.Put(ctx, key, []byte(key)); err != nil {
			t.Fatal(err)
		}
	}
	deleted := make(chan error, 1)
	go func() {
		for _, i := range mrand.Perm(len(keys)) {
			if err := l.Delete(ctx, keys[i]); err != nil {
				deleted <- err
				return
			}
		}
		deleted <- nil
	}()
	for done := false; !done; {
		select {
		case err := <-deleted:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		default:
		}
		got, err := l.List(ctx, "d/", "", 1000)
		if err != nil {
			t.Fatalf("List during deletes: %v", err)
		}
		for _, obj := range got {
			if obj.Size != int64(len(obj.Key)) {
				t.Fatalf("List gives %s %d bytes; %d were put", obj.Key, obj.Size, len(obj.Key))
			}
		}
		if done && len(got) != 0 {
			t.Fatalf("List after every delete = %q; want nothing", keysOf(got))
		}
	}
}
