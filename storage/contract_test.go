package storage

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
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
	return fixture{store: m, stored: m.Keys}
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
	return fixture{store: l, stored: func() []string {
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
		return fixture{store: s, stored: func() []string {
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
// with contractKey; what it holds is what inner holds.
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
