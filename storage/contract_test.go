package storage

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"math"
	mrand "math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/internal/s3test"
)

// A fixture is a fresh, empty store under test and a view of what it holds
// from outside the Storage interface.
type fixture struct {
	store Storage
	// stored lists every object the store holds, read behind its back (the
	// files under the directory above its root, the objects in its bucket),
	// so that a test sees what a refused call might have left anywhere.
	stored func() []string
	// raw is the store that holds the bytes at rest: the store itself, or
	// what a decorator wraps. Tests damage objects through it.
	raw Storage
}

// invalidKeys are keys every Storage refuses with ErrInvalidKey: empty,
// absolute, escaping the root, NUL, backslash, invalid UTF-8, too long.
var invalidKeys = []string{
	"", "/etc/passwd", "/abs", "..", "../escape.json", "a/../../escape.json", "a/../b",
	"a//b", "a/./b", "a/", "a\x00b", "nul\x00", `a\..\b`, `back\slash`, "bad\xffutf8",
	strings.Repeat("x", 256),             // a segment longer than 255 bytes
	strings.Repeat("a/", 600) + "x",      // a key longer than 1024 bytes
	strings.Repeat("x", maxKeyBytes+1),   // both
	strings.Repeat("é", maxKeyBytes/2+1), // 1026 bytes of valid UTF-8
}

// runContract states the promises of the Storage interface as subtests and
// checks them against the stores open returns, one fresh store per subtest.
// kind is what Kind reports for them.
func runContract(t *testing.T, kind string, open func(t *testing.T) fixture) {
	t.Run("KindNamesTheBackend", func(t *testing.T) {
		if got := Kind(open(t).store); got != kind {
			t.Fatalf("Kind = %q, want %q", got, kind)
		}
	})

	t.Run("GetReturnsTheBytesPut", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		oneMiB := make([]byte, 1<<20)
		rand.Read(oneMiB)
		for key, data := range map[string][]byte{
			"users/a.json":      []byte(`{"name":"alice"}`),
			"empty/nil":         nil,
			"empty/zero-length": {},
			"binary/all-bytes":  allBytes(),
			"binary/lake-magic": []byte("LAKE\x01 a body that begins like an encrypted header"),
			"binary/short":      []byte("LAK"),
			"big/1MiB.bin":      oneMiB,
		} {
			if err := s.Put(ctx, key, data); err != nil {
				t.Fatalf("Put(%q): %v", key, err)
			}
			got, err := s.Get(ctx, key)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get(%q) = %d bytes, %v; want the %d bytes put", key, len(got), err, len(data))
			}
		}
	})

	t.Run("UnicodeAndDeepKeysRoundTrip", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		keys := []string{
			"unicode/名前.json",
			"a b/ü+%26=?.json",
			"emoji/🙂/‮rtl.json",
			"deep/" + strings.Repeat("d/", 60) + "leaf.json",
			// exactly maxKeyBytes, every segment at most 255 bytes
			strings.Repeat("s", 255) + "/" + strings.Repeat("t", 255) + "/" + strings.Repeat("u", 255) + "/" +
				strings.Repeat("v", 254) + "/w",
		}
		for _, key := range keys {
			if err := CheckKey(key); err != nil {
				t.Fatalf("test key is invalid: %v", err)
			}
			data := []byte(`{"key":` + fmt.Sprintf("%q", key) + `}`)
			if err := s.Put(ctx, key, data); err != nil {
				t.Fatalf("Put(%.40q): %v", key, err)
			}
			if got, err := s.Get(ctx, key); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get(%.40q) = %q, %v; want %q", key, got, err, data)
			}
		}
	})

	t.Run("GetMissingIsErrNotFoundAndNothingElse", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		got, err := s.Get(ctx, "no/such.json")
		if !errors.Is(err, ErrNotFound) || got != nil {
			t.Fatalf("Get missing = %q, %v; want no data and ErrNotFound", got, err)
		}
		for _, other := range []error{ErrInvalidKey, ErrDecrypt, ErrBucketNotFound, ErrAccessDenied, ErrUnavailable} {
			if errors.Is(err, other) {
				t.Errorf("Get missing = %v, which is also %v", err, other)
			}
		}
	})

	t.Run("PutTwiceWithTheSameBytesIsFine", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		data := []byte(`{"a":1}`)
		for range 2 {
			if err := s.Put(ctx, "c/1.json", data); err != nil {
				t.Fatalf("Put: %v", err)
			}
		}
		if got, err := s.Get(ctx, "c/1.json"); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get = %q, %v; want %q", got, err, data)
		}
	})

	t.Run("DeleteMissingIsNil", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		if err := s.Delete(ctx, "no/such.json"); err != nil {
			t.Fatalf("Delete missing = %v, want nil", err)
		}
	})

	t.Run("DeleteManyRemovesEveryKeyAndSaysWhatItCouldNot", func(t *testing.T) {
		ctx := testCtx(t)
		f := open(t)
		s := f.store
		var keys []string
		for i := range 1203 { // more than one S3 DeleteObjects request
			key := fmt.Sprintf("many/%04d.json", i)
			if i%100 == 0 {
				if err := s.Put(ctx, key, []byte("{}")); err != nil {
					t.Fatal(err)
				}
			}
			keys = append(keys, key)
		}
		if err := s.Put(ctx, "keep/x.json", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		// Most keys were never stored: missing keys are no error.
		if err := DeleteMany(ctx, s, keys, 8); err != nil {
			t.Fatalf("DeleteMany = %v", err)
		}
		if stored := f.stored(); len(stored) != 1 || !strings.HasSuffix(stored[0], "keep/x.json") {
			t.Fatalf("after DeleteMany the store holds %q", stored)
		}
		err := DeleteMany(ctx, s, []string{"keep/x.json", "../escape"}, 8)
		if err == nil || !strings.Contains(err.Error(), "1 keys not deleted") {
			t.Fatalf("DeleteMany with an invalid key = %v", err)
		}
		if stored := f.stored(); len(stored) != 0 {
			t.Fatalf("the valid key of a batch with an invalid one stayed: %q", stored)
		}
	})

	t.Run("GetAfterDeleteIsErrNotFound", func(t *testing.T) {
		ctx := testCtx(t)
		f := open(t)
		s := f.store
		if err := s.Put(ctx, "users/a.json", []byte(`{"a":1}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "users/b.json", []byte(`{"b":2}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "users/a.json"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if got, err := s.Get(ctx, "users/a.json"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete = %q, %v; want ErrNotFound", got, err)
		}
		if err := s.Delete(ctx, "users/a.json"); err != nil {
			t.Fatalf("Delete again = %v, want nil", err)
		}
		if got, err := s.Get(ctx, "users/b.json"); err != nil || string(got) != `{"b":2}` {
			t.Fatalf("Get of the other key = %q, %v", got, err)
		}
		// This also proves that the fixture's listing sees what is stored,
		// which the "stores nothing" promises rely on.
		if stored := f.stored(); len(stored) != 1 || !strings.HasSuffix(stored[0], "users/b.json") {
			t.Fatalf("the store holds %q, want only users/b.json", stored)
		}
	})

	t.Run("InvalidKeysAreRefusedAndStoreNothing", func(t *testing.T) {
		f := open(t)
		refusesInvalidKeys(t, f.store)
		if stored := f.stored(); len(stored) != 0 {
			t.Fatalf("refused Puts stored %q", stored)
		}
	})

	t.Run("ConcurrentPutsAndGetsOfDifferentKeys", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		inParallel(t, 32, 8, func(w, r int) error {
			key := fmt.Sprintf("w%d/r%d.json", w, r)
			data := []byte(key)
			if err := s.Put(ctx, key, data); err != nil {
				return err
			}
			if got, err := s.Get(ctx, key); err != nil || !bytes.Equal(got, data) {
				return fmt.Errorf("Get(%s) = %q, %v", key, got, err)
			}
			return nil
		})
	})

	t.Run("CanceledContextFailsAndStoresNothing", func(t *testing.T) {
		ctx := testCtx(t)
		f := open(t)
		canceled, cancel := context.WithCancel(context.Background())
		cancel()
		if err := f.store.Put(canceled, "c/1.json", []byte("{}")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put with a canceled context = %v, want context.Canceled", err)
		}
		if got, err := f.store.Get(ctx, "c/1.json"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after the canceled Put = %q, %v; want ErrNotFound", got, err)
		}
		if stored := f.stored(); len(stored) != 0 {
			t.Fatalf("a canceled Put stored %q", stored)
		}
		if err := f.store.Put(ctx, "c/2.json", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if got, err := f.store.Get(canceled, "c/2.json"); !errors.Is(err, context.Canceled) || got != nil {
			t.Fatalf("Get with a canceled context = %q, %v; want context.Canceled", got, err)
		}
	})

	t.Run("CallerOwnsTheSlices", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		data := []byte("abc")
		if err := s.Put(ctx, "k", data); err != nil {
			t.Fatal(err)
		}
		data[0] = 'X'
		got, err := s.Get(ctx, "k")
		if err != nil || string(got) != "abc" {
			t.Fatalf("Get after changing the slice put = %q, %v; want abc", got, err)
		}
		got[1] = 'Y'
		if again, err := s.Get(ctx, "k"); err != nil || string(again) != "abc" {
			t.Fatalf("Get after changing a slice got = %q, %v; want abc", again, err)
		}
	})

	runPartsContract(t, open)
	runListContract(t, open)
}

// refusesInvalidKeys checks that Put, Get and Delete refuse every one of
// invalidKeys with ErrInvalidKey, and that Get returns no data with it.
func refusesInvalidKeys(t *testing.T, s Storage) {
	t.Helper()
	ctx := testCtx(t)
	for _, key := range invalidKeys {
		if err := s.Put(ctx, key, []byte("x")); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%.40q) = %v, want ErrInvalidKey", key, err)
		}
		if got, err := s.Get(ctx, key); !errors.Is(err, ErrInvalidKey) || got != nil {
			t.Errorf("Get(%.40q) = %q, %v; want ErrInvalidKey", key, got, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%.40q) = %v, want ErrInvalidKey", key, err)
		}
	}
}

// inParallel calls do(w, r) for rounds r in order in each of workers
// goroutines w at once; a worker stops at its first error, which fails t.
func inParallel(t *testing.T, workers, rounds int, do func(w, r int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				if err := do(w, r); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func memoryFixture(t *testing.T) fixture {
	m := NewMemoryStorage()
	return fixture{store: m, stored: m.Keys, raw: m}
}

// localFixture roots the store one level below a temporary directory and
// lists every file in that directory, so a write that escaped the root
// shows too.
func localFixture(t *testing.T) fixture {
	parent := t.TempDir()
	l, err := NewLocalStorage(filepath.Join(parent, "root"))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{store: l, raw: l, stored: func() []string {
		var files []string
		err := filepath.WalkDir(parent, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(parent, path)
				files = append(files, filepath.ToSlash(rel))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return files
	}}
}

// s3Fixture gives every store its own new bucket on srv and lists it with
// the store's own client.
func s3Fixture(srv *s3test.Server, kind string) func(t *testing.T) fixture {
	return func(t *testing.T) fixture {
		opts := s3Options(srv)
		opts.Bucket, opts.Kind = srv.NewBucket(t), kind
		if kind == config.StorageOSS {
			opts.PathStyle = config.PathStylePath // an OSS emulator on loopback
		}
		s := newTestS3(t, opts)
		return fixture{store: s, raw: s, stored: func() []string {
			var keys []string
			for obj := range s.client.Client.ListObjects(testCtx(t), s.bucket, minio.ListObjectsOptions{Recursive: true}) {
				if obj.Err != nil {
					t.Fatalf("list bucket %s: %v", s.bucket, obj.Err)
				}
				keys = append(keys, obj.Key)
			}
			return keys
		}}
	}
}

// contractKey is the write key that every encrypted fixture shares: a key
// derivation takes 64 MiB and up to seconds under the race detector, and the
// contract opens a store per promise. NewEncrypted and its key handling are
// tested in encrypted_test.go.
var contractKey = sync.OnceValues(func() (*Encrypted, error) {
	return NewEncrypted(NewMemoryStorage(), testPassword)
})

// encryptedFixture wraps the store inner opens, as NewEncrypted would but
// with contractKey; what it holds, and its raw store, are inner's.
func encryptedFixture(inner func(t *testing.T) fixture) func(t *testing.T) fixture {
	return func(t *testing.T) fixture {
		key, err := contractKey()
		if err != nil {
			t.Fatal(err)
		}
		f := inner(t)
		f.store = &Encrypted{
			inner: f.store, password: key.password, salt: key.salt, own: key.own,
			cache:  make(map[[encSaltSize]byte]cipher.AEAD),
			kdfSem: make(chan struct{}, maxConcurrentKDF),
		}
		return f
	}
}

func TestMemoryContract(t *testing.T) {
	t.Parallel()
	runContract(t, "memory", memoryFixture)
}

func TestLocalContract(t *testing.T) {
	t.Parallel()
	runContract(t, "local", localFixture)
}

func TestS3Contract(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	runContract(t, "s3", s3Fixture(srv, config.StorageS3))
}

// TestOSSContract runs the S3 backend in OSS mode (unsigned bodies with
// Content-MD5, path style) against versitygw, which accepts both.
func TestOSSContract(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	runContract(t, "oss", s3Fixture(srv, config.StorageOSS))
}

func TestEncryptedMemoryContract(t *testing.T) {
	t.Parallel()
	runContract(t, "encrypted(memory)", encryptedFixture(memoryFixture))
}

func TestEncryptedLocalContract(t *testing.T) {
	t.Parallel()
	runContract(t, "encrypted(local)", encryptedFixture(localFixture))
}

func TestEncryptedS3Contract(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	runContract(t, "encrypted(s3)", encryptedFixture(s3Fixture(srv, config.StorageS3)))
}

// runPartsContract states the promises of PutParts, GetParts, ReadParts and
// Ranger, run through the package functions as Lake calls them.
func runPartsContract(t *testing.T, open func(t *testing.T) fixture) {
	t.Run("PartsRoundTrip", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		parts := testParts(1<<20, 0, 5, 1<<20, 0)
		parts[2] = []byte("LAKE\x02 a part that begins like a sealed one")
		parts = append(parts, nil, allBytes(), []byte(`{"a":1}`))
		ext := putParts(t, s, "packs/p1", parts)
		for i, e := range ext {
			if e.Index != i || (i > 0 && e.Offset < ext[i-1].Offset+ext[i-1].Length) {
				t.Fatalf("extents %+v: not in order, back to back", ext)
			}
		}
		got, err := GetParts(ctx, s, "packs/p1", ext)
		wantParts(t, got, err, parts)
		got, err = ReadParts(ctx, s, "packs/p1")
		wantParts(t, got, err, parts)
	})

	t.Run("GetPartsAnySubsetInAnyOrder", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		parts := testParts(10, 0, 300, 7, 4096, 1, 0, 99, 3, 12)
		ext := putParts(t, s, "packs/p", parts)
		rng := mrand.New(mrand.NewPCG(1, 2))
		subsets := [][]int{{9, 0}, {5}, {1, 1, 2}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}}
		for range 10 {
			subsets = append(subsets, rng.Perm(len(parts))[:1+rng.IntN(len(parts))])
		}
		for _, idx := range subsets {
			want := make([][]byte, len(idx))
			wantExt := make([]Extent, len(idx))
			for k, i := range idx {
				want[k], wantExt[k] = parts[i], ext[i]
			}
			got, err := GetParts(ctx, s, "packs/p", wantExt)
			wantParts(t, got, err, want)
		}
	})

	t.Run("GetPartsFarApart", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		parts := testParts(100, rangeGap+1000, 200, 2*rangeGap, 0, 300)
		ext := putParts(t, s, "packs/far", parts)
		for _, idx := range [][]int{{4, 0, 2}, {0, 5}, {5, 3, 1}, {0, 1, 2, 3, 4, 5}} {
			want := make([][]byte, len(idx))
			wantExt := make([]Extent, len(idx))
			for k, i := range idx {
				want[k], wantExt[k] = parts[i], ext[i]
			}
			got, err := GetParts(ctx, s, "packs/far", wantExt)
			wantParts(t, got, err, want)
		}
	})

	t.Run("GetPartsOfAMissingObjectIsErrNotFound", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		ext := []Extent{{Index: 0, Offset: 5, Length: 20}}
		if got, err := GetParts(ctx, s, "packs/none", ext); !errors.Is(err, ErrNotFound) || got != nil {
			t.Fatalf("GetParts of a missing object = %v, %v; want ErrNotFound", got, err)
		}
		if got, err := ReadParts(ctx, s, "packs/none"); !errors.Is(err, ErrNotFound) || got != nil {
			t.Fatalf("ReadParts of a missing object = %v, %v; want ErrNotFound", got, err)
		}
	})

	t.Run("PartsRefuseInvalidKeysAndNoParts", func(t *testing.T) {
		ctx := testCtx(t)
		f := open(t)
		for _, key := range []string{"", "../escape", "a//b"} {
			if _, err := PutParts(ctx, f.store, key, [][]byte{[]byte("x")}); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("PutParts(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := GetParts(ctx, f.store, key, []Extent{{Offset: 5, Length: 13}}); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("GetParts(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := ReadParts(ctx, f.store, key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("ReadParts(%q) = %v, want ErrInvalidKey", key, err)
			}
		}
		if ext, err := PutParts(ctx, f.store, "packs/empty", nil); err == nil {
			t.Errorf("PutParts of no parts = %v, nil; want an error", ext)
		}
		if stored := f.stored(); len(stored) != 0 {
			t.Fatalf("refused PutParts stored %q", stored)
		}
	})

	t.Run("GetPartsOfATruncatedObject", func(t *testing.T) {
		ctx := testCtx(t)
		f := open(t)
		parts := testParts(100, 0, 100, 100, 100)
		ext := putParts(t, f.store, "packs/cut", parts)
		obj, err := f.raw.Get(ctx, "packs/cut")
		if err != nil {
			t.Fatal(err)
		}
		for name, keep := range map[string]int64{
			"inside part 2's data":   ext[2].Offset + ext[2].Length/2,
			"inside part 2's header": ext[2].Offset + 5,
			"one byte short":         ext[4].Offset + ext[4].Length - 1,
		} {
			if err := f.raw.Put(ctx, "packs/cut", obj[:keep]); err != nil {
				t.Fatal(err)
			}
			got, err := GetParts(ctx, f.store, "packs/cut", ext)
			if err != nil {
				t.Fatalf("%s: GetParts = %v", name, err)
			}
			for i, p := range got {
				if inside := ext[i].Offset+ext[i].Length <= keep; inside {
					if p.Err != nil || !bytes.Equal(p.Data, parts[i]) {
						t.Errorf("%s: part %d, kept whole, = %q, %v", name, i, p.Data, p.Err)
					}
				} else if !errors.Is(p.Err, ErrCorrupt) || p.Data != nil {
					t.Errorf("%s: part %d, cut, = %q, %v; want ErrCorrupt", name, i, p.Data, p.Err)
				}
			}
			all, err := ReadParts(ctx, f.store, "packs/cut")
			if err != nil {
				t.Fatalf("%s: ReadParts = %v", name, err)
			}
			whole := 0
			for whole < len(ext) && ext[whole].Offset+ext[whole].Length <= keep {
				whole++
			}
			if len(all) != whole+1 || !errors.Is(all[whole].Err, ErrCorrupt) {
				t.Fatalf("%s: ReadParts = %d parts, last %v; want %d whole parts and an ErrCorrupt", name, len(all), all[len(all)-1].Err, whole)
			}
			wantParts(t, all[:whole], nil, parts[:whole])
		}
	})

	t.Run("AFlippedByteDamagesOnlyItsPart", func(t *testing.T) {
		ctx := testCtx(t)
		f := open(t)
		parts := testParts(100, 100, 100, 100)
		ext := putParts(t, f.store, "packs/flip", parts)
		obj, err := f.raw.Get(ctx, "packs/flip")
		if err != nil {
			t.Fatal(err)
		}
		obj[ext[2].Offset+frameHeaderSize+(ext[2].Length-frameHeaderSize)/2] ^= 0x20
		if err := f.raw.Put(ctx, "packs/flip", obj); err != nil {
			t.Fatal(err)
		}
		got, err := GetParts(ctx, f.store, "packs/flip", ext)
		all, err2 := ReadParts(ctx, f.store, "packs/flip")
		for what, got := range map[string][]Part{"GetParts": got, "ReadParts": all} {
			if err != nil || err2 != nil || len(got) != len(parts) {
				t.Fatalf("%s = %d parts, %v, %v", what, len(got), err, err2)
			}
			for i, p := range got {
				if i == 2 {
					if !errors.Is(p.Err, ErrCorrupt) && !errors.Is(p.Err, ErrDecrypt) || p.Data != nil {
						t.Errorf("%s: damaged part = %q, %v; want ErrCorrupt or ErrDecrypt", what, p.Data, p.Err)
					}
				} else if p.Err != nil || !bytes.Equal(p.Data, parts[i]) {
					t.Errorf("%s: part %d = %q, %v; want it intact", what, i, p.Data, p.Err)
				}
			}
		}
	})

	t.Run("AWrongExtentIsErrCorrupt", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		parts := testParts(100, 100, 100)
		ext := putParts(t, s, "packs/ext", parts)
		e := ext[1]
		for name, bad := range map[string]Extent{
			"another index":         {Index: 2, Offset: e.Offset, Length: e.Length},
			"a longer length":       {Index: 1, Offset: e.Offset, Length: e.Length + 1},
			"a shorter length":      {Index: 1, Offset: e.Offset, Length: e.Length - 1},
			"a shifted offset":      {Index: 1, Offset: e.Offset + 1, Length: e.Length},
			"another part's offset": {Index: 1, Offset: ext[0].Offset, Length: e.Length},
			"past the end":          {Index: 1, Offset: 1 << 40, Length: e.Length},
			"a negative index":      {Index: -1, Offset: e.Offset, Length: e.Length},
			"a negative offset":     {Index: 1, Offset: -1, Length: e.Length},
			"offset in the magic":   {Index: 1, Offset: 0, Length: e.Length},
			"a negative length":     {Index: 1, Offset: e.Offset, Length: -1},
			"a length under 12":     {Index: 1, Offset: e.Offset, Length: 11},
			"a length over 1 GiB":   {Index: 1, Offset: e.Offset, Length: 2 << 30},
			"an overflowing end":    {Index: 1, Offset: math.MaxInt64 - 20, Length: 100},
		} {
			got, err := GetParts(ctx, s, "packs/ext", []Extent{ext[0], bad, ext[2]})
			if err != nil || len(got) != 3 {
				t.Fatalf("%s: GetParts = %v, %v", name, got, err)
			}
			if !errors.Is(got[1].Err, ErrCorrupt) || got[1].Data != nil {
				t.Errorf("%s: part = %q, %v; want ErrCorrupt", name, got[1].Data, got[1].Err)
			}
			if !strings.Contains(fmt.Sprint(got[1].Err), "packs/ext") {
				t.Errorf("%s: error %v does not name the key", name, got[1].Err)
			}
			wantParts(t, []Part{got[0], got[2]}, nil, [][]byte{parts[0], parts[2]})
		}
	})

	t.Run("GetRange", func(t *testing.T) {
		ctx := testCtx(t)
		s := open(t).store
		r, ok := s.(Ranger)
		if !ok {
			if !strings.HasPrefix(Kind(s), "encrypted(") {
				t.Fatalf("%s is not a Ranger", Kind(s))
			}
			return // an encrypted object cannot be read in pieces
		}
		if err := s.Put(ctx, "r/digits", []byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "r/empty", nil); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			key            string
			offset, length int64
			want           string
		}{
			{"r/digits", 0, 4, "0123"},
			{"r/digits", 3, 1, "3"},
			{"r/digits", 0, 10, "0123456789"},
			{"r/digits", 6, 100, "6789"},
			{"r/digits", 9, 1 << 40, "9"},
			{"r/digits", 10, 5, ""},
			{"r/digits", 1000, 5, ""},
			{"r/digits", 4, 0, ""},
			{"r/empty", 0, 10, ""},
		} {
			got, err := r.GetRange(ctx, tc.key, tc.offset, tc.length)
			if err != nil || string(got) != tc.want {
				t.Errorf("GetRange(%s, %d, %d) = %q, %v; want %q", tc.key, tc.offset, tc.length, got, err, tc.want)
			}
		}
		if got, err := r.GetRange(ctx, "r/none", 0, 10); !errors.Is(err, ErrNotFound) || got != nil {
			t.Errorf("GetRange of a missing object = %q, %v; want ErrNotFound", got, err)
		}
		if _, err := r.GetRange(ctx, "r/digits", -1, 4); err == nil {
			t.Error("GetRange with a negative offset succeeded")
		}
		for _, key := range []string{"", "../escape", "a\x00b"} {
			if _, err := r.GetRange(ctx, key, 0, 4); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("GetRange(%q) = %v, want ErrInvalidKey", key, err)
			}
		}
	})
}

// testParts returns parts of the given sizes, each filled with bytes of
// its own so that a part read from the wrong place shows.
func testParts(sizes ...int) [][]byte {
	parts := make([][]byte, len(sizes))
	for i, n := range sizes {
		parts[i] = make([]byte, n)
		for j := range parts[i] {
			parts[i][j] = byte(i*31 + j)
		}
	}
	return parts
}

func putParts(t testing.TB, s Storage, key string, parts [][]byte) []Extent {
	t.Helper()
	ext, err := PutParts(testCtx(t), s, key, parts)
	if err != nil || len(ext) != len(parts) {
		t.Fatalf("PutParts(%s) = %v, %v", key, ext, err)
	}
	return ext
}

// wantParts fails t unless got holds exactly want, every part intact.
func wantParts(t testing.TB, got []Part, err error, want [][]byte) {
	t.Helper()
	if err != nil || len(got) != len(want) {
		t.Fatalf("got %d parts, %v; want %d parts", len(got), err, len(want))
	}
	for i, p := range got {
		if p.Err != nil || !bytes.Equal(p.Data, want[i]) {
			t.Fatalf("part %d = %d bytes %.20q, %v; want %d bytes %.20q", i, len(p.Data), p.Data, p.Err, len(want[i]), want[i])
		}
	}
}
