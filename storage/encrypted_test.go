package storage

import (
	"bytes"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testPassword = "correct horse battery staple"

func newTestEncrypted(t testing.TB, inner Storage, password string) *Encrypted {
	t.Helper()
	e, err := NewEncrypted(inner, password)
	if err != nil {
		t.Fatalf("NewEncrypted: %v", err)
	}
	return e
}

// sealedObject puts plain under key through a fresh Encrypted over memory
// and returns the memory store, the Encrypted and the bytes at rest.
func sealedObject(t *testing.T, key string, plain []byte) (*Memory, *Encrypted, []byte) {
	t.Helper()
	ctx := context.Background()
	mem := NewMemoryStorage()
	enc := newTestEncrypted(t, mem, testPassword)
	if err := enc.Put(ctx, key, plain); err != nil {
		t.Fatalf("Put: %v", err)
	}
	raw, err := mem.Get(ctx, key)
	if err != nil {
		t.Fatalf("inner Get: %v", err)
	}
	return mem, enc, raw
}

func wantDecryptError(t *testing.T, got []byte, err error, key string) {
	t.Helper()
	if !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Get = %q, %v; want an error wrapping ErrDecrypt", got, err)
	}
	if got != nil {
		t.Fatalf("Get returned data %q alongside the error", got)
	}
	if !strings.Contains(err.Error(), key) {
		t.Fatalf("error %q does not name the object key %q", err, key)
	}
}

func TestEncryptedObjectAtRestHidesPlaintext(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	local, err := NewLocalStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	enc := newTestEncrypted(t, local, testPassword)
	secret := "the-secret-value-that-must-not-leak"
	plain := []byte(`{"token":"` + secret + `","again":"` + secret + `"}`)
	if err := enc.Put(ctx, "users/x.json", plain); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "users", "x.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(`"token"`)) {
		t.Fatalf("plaintext visible at rest: %q", raw)
	}
	if !bytes.HasPrefix(raw, []byte("LAKE\x01")) {
		t.Fatalf("object at rest starts with %q, want the LAKE v1 header", raw[:min(len(raw), 5)])
	}
	if got, want := len(raw), encHeaderSize+len(plain)+encTagSize; got != want {
		t.Fatalf("object at rest is %d bytes, want header %d + plaintext %d + tag %d = %d",
			got, encHeaderSize, len(plain), encTagSize, want)
	}

	// Two puts of the same bytes differ at rest: the nonce is random per object.
	if err := enc.Put(ctx, "users/y.json", plain); err != nil {
		t.Fatal(err)
	}
	raw2, err := os.ReadFile(filepath.Join(dir, "users", "y.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw[:5+encSaltSize], raw2[:5+encSaltSize]) {
		t.Fatalf("one instance wrote two different salts")
	}
	if bytes.Equal(raw[5+encSaltSize:encHeaderSize], raw2[5+encSaltSize:encHeaderSize]) {
		t.Fatalf("two objects share a nonce")
	}
}

func TestEncryptedWrongPasswordIsErrDecrypt(t *testing.T) {
	ctx := context.Background()
	mem, _, _ := sealedObject(t, "users/x.json", []byte(`{"a":1}`))
	wrong := newTestEncrypted(t, mem, "not the password")
	got, err := wrong.Get(ctx, "users/x.json")
	wantDecryptError(t, got, err, "users/x.json")
	if want := "storage: cannot decrypt object (wrong password or tampered object): users/x.json"; err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
}

func TestEncryptedFlippedByteIsErrDecrypt(t *testing.T) {
	plain := []byte(`{"balance":100}`)
	cases := []struct {
		name   string
		offset func(n int) int
	}{
		{"salt first byte", func(int) int { return 5 }},
		{"salt last byte", func(int) int { return 5 + encSaltSize - 1 }},
		{"nonce first byte", func(int) int { return 5 + encSaltSize }},
		{"nonce last byte", func(int) int { return encHeaderSize - 1 }},
		{"ciphertext first byte", func(int) int { return encHeaderSize }},
		{"ciphertext last byte", func(n int) int { return n - encTagSize - 1 }},
		{"tag first byte", func(n int) int { return n - encTagSize }},
		{"tag last byte", func(n int) int { return n - 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			const key = "users/x.json"
			mem, enc, raw := sealedObject(t, key, plain)
			raw[tc.offset(len(raw))] ^= 0x01
			if err := mem.Put(ctx, key, raw); err != nil {
				t.Fatal(err)
			}
			got, err := enc.Get(ctx, key)
			wantDecryptError(t, got, err, key)
		})
	}
}

func TestEncryptedTruncatedObject(t *testing.T) {
	ctx := context.Background()
	const key = "users/x.json"
	mem, enc, raw := sealedObject(t, key, []byte(`{"a":"some body long enough"}`))
	for _, n := range []int{4, 5, 6, encHeaderSize - 1, encHeaderSize, encHeaderSize + encTagSize - 1,
		encHeaderSize + encTagSize, len(raw) - encTagSize, len(raw) - 1} {
		t.Run(fmt.Sprintf("%d of %d bytes", n, len(raw)), func(t *testing.T) {
			if err := mem.Put(ctx, key, raw[:n]); err != nil {
				t.Fatal(err)
			}
			got, err := enc.Get(ctx, key)
			wantDecryptError(t, got, err, key)
		})
	}
}

func TestEncryptedUnknownFormatVersion(t *testing.T) {
	ctx := context.Background()
	const key = "users/x.json"
	mem, enc, raw := sealedObject(t, key, []byte(`{"a":1}`))
	for _, v := range []byte{0, 2, 255} {
		raw[4] = v
		if err := mem.Put(ctx, key, raw); err != nil {
			t.Fatal(err)
		}
		got, err := enc.Get(ctx, key)
		wantDecryptError(t, got, err, key)
		if want := fmt.Sprintf("version %d", v); !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
}

func TestEncryptedReadsPlaintextWrittenBeforeEncryption(t *testing.T) {
	ctx := context.Background()
	local, err := NewLocalStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := map[string][]byte{
		"users/old.json":   []byte(`{"written":"before encryption"}`),
		"users/empty.json": {},
		"users/short":      []byte("LAK"),
	}
	for key, plain := range old {
		if err := local.Put(ctx, key, plain); err != nil {
			t.Fatal(err)
		}
	}
	enc := newTestEncrypted(t, local, testPassword)
	for key, plain := range old {
		got, err := enc.Get(ctx, key)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Get %s = %q, %v; want the plaintext %q", key, got, err, plain)
		}
	}
	// New writes beside the old objects are encrypted.
	if err := enc.Put(ctx, "users/new.json", []byte(`{"written":"after"}`)); err != nil {
		t.Fatal(err)
	}
	raw, err := local.Get(ctx, "users/new.json")
	if err != nil || !bytes.HasPrefix(raw, []byte("LAKE\x01")) {
		t.Fatalf("new object at rest = %q, %v; want encrypted", raw, err)
	}
}

// The passthrough cannot tell an encrypted object whose magic was damaged
// from a plaintext one: it comes back as stored. Those bytes are ciphertext,
// never the plaintext and never a forged plaintext.
func TestEncryptedDamagedMagicIsReturnedAsStoredBytes(t *testing.T) {
	ctx := context.Background()
	const key = "users/x.json"
	plain := []byte(`{"a":1}`)
	mem, enc, raw := sealedObject(t, key, plain)
	raw[0] ^= 0x01
	if err := mem.Put(ctx, key, raw); err != nil {
		t.Fatal(err)
	}
	got, err := enc.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !bytes.Equal(got, raw) || bytes.Contains(got, plain) {
		t.Fatalf("Get = %q; want the stored bytes unchanged", got)
	}
}

func TestEncryptedObjectMovedToAnotherKeyFails(t *testing.T) {
	ctx := context.Background()
	mem, enc, raw := sealedObject(t, "users/alice.json", []byte(`{"role":"admin"}`))
	if err := mem.Put(ctx, "users/mallory.json", raw); err != nil {
		t.Fatal(err)
	}
	got, err := enc.Get(ctx, "users/mallory.json")
	wantDecryptError(t, got, err, "users/mallory.json")
	// The original is untouched.
	if got, err := enc.Get(ctx, "users/alice.json"); err != nil || string(got) != `{"role":"admin"}` {
		t.Fatalf("original Get = %q, %v", got, err)
	}
}

func TestEncryptedSecondInstanceSamePasswordReadsFirstInstanceObjects(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	local, err := NewLocalStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := newTestEncrypted(t, local, testPassword)
	second := newTestEncrypted(t, local, testPassword)
	if first.salt == second.salt {
		t.Fatal("two instances drew the same salt")
	}
	if err := first.Put(ctx, "a.json", []byte(`"from first"`)); err != nil {
		t.Fatal(err)
	}
	if err := second.Put(ctx, "b.json", []byte(`"from second"`)); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Encrypted{first, second} {
		for key, want := range map[string]string{"a.json": `"from first"`, "b.json": `"from second"`} {
			got, err := e.Get(ctx, key)
			if err != nil || string(got) != want {
				t.Fatalf("Get %s = %q, %v; want %q", key, got, err, want)
			}
		}
	}
	// Each instance derived its own key once and the other's once, then
	// read from the cache.
	for _, e := range []*Encrypted{first, second} {
		if _, err := e.Get(ctx, "a.json"); err != nil {
			t.Fatal(err)
		}
		if n := e.derivations.Load(); n != 2 {
			t.Fatalf("instance ran the KDF %d times, want 2", n)
		}
	}
}

func TestEncryptedConcurrentUse(t *testing.T) {
	ctx := context.Background()
	mem := NewMemoryStorage()
	writer := newTestEncrypted(t, mem, testPassword)
	reader := newTestEncrypted(t, mem, testPassword)
	const shared = "shared/x.json"
	if err := writer.Put(ctx, shared, []byte(`"shared"`)); err != nil {
		t.Fatal(err)
	}

	inParallel(t, 16, 50, func(g, i int) error {
		key := fmt.Sprintf("g%d/%d.json", g, i)
		want := fmt.Appendf(nil, `{"g":%d,"i":%d}`, g, i)
		if err := writer.Put(ctx, key, want); err != nil {
			return err
		}
		// The reader sees the writer's salt for the first time in all
		// goroutines at once.
		for _, e := range []*Encrypted{writer, reader} {
			got, err := e.Get(ctx, key)
			if err != nil || !bytes.Equal(got, want) {
				return fmt.Errorf("Get %s = %q, %v", key, got, err)
			}
		}
		if got, err := reader.Get(ctx, shared); err != nil || string(got) != `"shared"` {
			return fmt.Errorf("Get %s = %q, %v", shared, got, err)
		}
		if i%10 == 0 {
			return writer.Delete(ctx, key)
		}
		return nil
	})
	if n := reader.derivations.Load(); n != 2 {
		t.Fatalf("reader ran the KDF %d times, want 2 (its own salt, then the writer's once)", n)
	}
}

func TestEncryptedKeyCacheIsBounded(t *testing.T) {
	e := newTestEncrypted(t, NewMemoryStorage(), testPassword)
	for i := range 3 * keyCacheSize {
		var salt [encSaltSize]byte
		salt[0], salt[1] = byte(i), byte(i>>8)
		e.remember(salt, e.own)
		if n := len(e.cache); n > keyCacheSize {
			t.Fatalf("cache holds %d keys, cap is %d", n, keyCacheSize)
		}
	}
	var last [encSaltSize]byte
	last[0], last[1] = byte(3*keyCacheSize-1), byte((3*keyCacheSize-1)>>8)
	if a, ok := e.cached(last); !ok || a != cipher.AEAD(e.own) {
		t.Fatal("the most recent key is not cached")
	}
}

func TestNewEncryptedRejectsEmptyPassword(t *testing.T) {
	if e, err := NewEncrypted(NewMemoryStorage(), ""); err == nil || e != nil {
		t.Fatalf("NewEncrypted with empty password = %v, %v; want an error", e, err)
	}
	if e, err := NewEncrypted(nil, testPassword); err == nil || e != nil {
		t.Fatalf("NewEncrypted with nil inner = %v, %v; want an error", e, err)
	}
}

// countingStorage records whether it was called at all.
type countingStorage struct {
	Memory
	calls int
}

func (c *countingStorage) Put(ctx context.Context, key string, data []byte) error {
	c.calls++
	return c.Memory.Put(ctx, key, data)
}

func (c *countingStorage) Get(ctx context.Context, key string) ([]byte, error) {
	c.calls++
	return c.Memory.Get(ctx, key)
}

func (c *countingStorage) Delete(ctx context.Context, key string) error {
	c.calls++
	return c.Memory.Delete(ctx, key)
}

func TestEncryptedRejectsInvalidKeyBeforeTouchingInner(t *testing.T) {
	inner := &countingStorage{Memory: Memory{objects: map[string][]byte{}}}
	enc := newTestEncrypted(t, inner, testPassword)
	refusesInvalidKeys(t, enc)
	if inner.calls != 0 {
		t.Fatalf("inner storage was called %d times for invalid keys", inner.calls)
	}
}

func benchmarkPutGet(b *testing.B, s Storage) {
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 1024)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Put(ctx, "bench/object.json", body); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get(ctx, "bench/object.json"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryPutGet1KiB(b *testing.B) {
	benchmarkPutGet(b, NewMemoryStorage())
}

func BenchmarkEncryptedPutGet1KiB(b *testing.B) {
	benchmarkPutGet(b, newTestEncrypted(b, NewMemoryStorage(), testPassword))
}

// sealedPack puts parts as one pack under key through a fresh Encrypted over
// memory and returns the memory store, the Encrypted, the extents and the
// sealed parts as they are framed at rest.
func sealedPack(t *testing.T, key string, parts [][]byte) (*Memory, *Encrypted, []Extent, [][]byte) {
	t.Helper()
	mem := NewMemoryStorage()
	enc := newTestEncrypted(t, mem, testPassword)
	ext := putParts(t, enc, key, parts)
	raw, err := ReadParts(context.Background(), mem, key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := make([][]byte, len(raw))
	for i, p := range raw {
		if p.Err != nil {
			t.Fatal(p.Err)
		}
		sealed[i] = p.Data
	}
	return mem, enc, ext, sealed
}

// wantPartDecryptError fails t unless p failed to open, with an error that
// names the key and the part.
func wantPartDecryptError(t *testing.T, p Part, key string, index int) {
	t.Helper()
	if !errors.Is(p.Err, ErrDecrypt) || p.Data != nil {
		t.Fatalf("part %d = %q, %v; want ErrDecrypt", index, p.Data, p.Err)
	}
	if want := fmt.Sprintf("%s part %d", key, index); !strings.Contains(p.Err.Error(), want) {
		t.Fatalf("error %q does not name %q", p.Err, want)
	}
}

func TestEncryptedPartsAtRest(t *testing.T) {
	secret := []byte(`{"token":"the-secret-value-that-must-not-leak"}`)
	parts := [][]byte{secret, nil, secret}
	mem, enc, ext, sealed := sealedPack(t, "packs/p", parts)
	if _, ok := any(enc).(Ranger); ok {
		t.Fatal("Encrypted is a Ranger; its whole objects cannot be read in pieces")
	}
	raw, err := mem.Get(context.Background(), "packs/p")
	if err != nil || !bytes.HasPrefix(raw, []byte("LKPK\x01")) || bytes.Contains(raw, []byte("secret")) {
		t.Fatalf("pack at rest = %q, %v; want a pack of sealed parts", raw, err)
	}
	for i, s := range sealed {
		if !bytes.HasPrefix(s, append([]byte("LAKE\x02"), enc.salt[:]...)) || len(s) != encHeaderSize+len(parts[i])+encTagSize {
			t.Fatalf("sealed part %d = %q; want the version-2 header and %d bytes", i, s, encHeaderSize+len(parts[i])+encTagSize)
		}
	}
	if bytes.Equal(sealed[0], sealed[2]) {
		t.Fatal("two parts with the same bytes are sealed alike: a nonce is shared")
	}
	got, err := GetParts(context.Background(), enc, "packs/p", ext)
	wantParts(t, got, err, parts)

	// Another instance with the same password reads them with its key for this salt.
	other := newTestEncrypted(t, mem, testPassword)
	all, err := ReadParts(context.Background(), other, "packs/p")
	wantParts(t, all, err, parts)
	if n := other.derivations.Load(); n != 2 {
		t.Fatalf("reader ran the KDF %d times, want 2", n)
	}
}

// A tamperer can fix the frame checksums; GCM still catches every change,
// and only in the part changed.
func TestEncryptedTamperedPartFailsAlone(t *testing.T) {
	ctx := context.Background()
	const key = "packs/p"
	parts := testParts(50, 60, 70)
	mem, enc, _, sealed := sealedPack(t, key, parts)
	for name, change := range map[string]func(s []byte) []byte{
		"ciphertext":      func(s []byte) []byte { s[encHeaderSize+3] ^= 1; return s },
		"tag":             func(s []byte) []byte { s[len(s)-1] ^= 1; return s },
		"salt":            func(s []byte) []byte { s[6] ^= 1; return s },
		"nonce":           func(s []byte) []byte { s[encHeaderSize-1] ^= 1; return s },
		"version 1":       func(s []byte) []byte { s[4] = encVersion; return s },
		"unknown version": func(s []byte) []byte { s[4] = 3; return s },
		"cut to magic":    func(s []byte) []byte { return s[:4] },
		"cut in header":   func(s []byte) []byte { return s[:20] },
		"cut by one":      func(s []byte) []byte { return s[:len(s)-1] },
	} {
		damaged := make([][]byte, len(sealed))
		for i, s := range sealed {
			damaged[i] = bytes.Clone(s)
		}
		damaged[1] = change(damaged[1])
		ext := putParts(t, mem, key, damaged) // framed anew: every checksum holds
		got, err := GetParts(ctx, enc, key, ext)
		all, err2 := ReadParts(ctx, enc, key)
		for what, got := range map[string][]Part{"GetParts": got, "ReadParts": all} {
			if err != nil || err2 != nil || len(got) != 3 {
				t.Fatalf("%s: %s = %v, %v, %v", name, what, got, err, err2)
			}
			wantPartDecryptError(t, got[1], key, 1)
			wantParts(t, []Part{got[0], got[2]}, nil, [][]byte{parts[0], parts[2]})
		}
	}
}

func TestEncryptedPartMovedToAnotherIndexOrKeyFails(t *testing.T) {
	ctx := context.Background()
	parts := testParts(50, 50, 50)
	mem, enc, ext, sealed := sealedPack(t, "packs/alice", parts)

	putParts(t, mem, "packs/alice", [][]byte{sealed[1], sealed[0], sealed[2]})
	got, err := GetParts(ctx, enc, "packs/alice", ext)
	if err != nil {
		t.Fatal(err)
	}
	wantPartDecryptError(t, got[0], "packs/alice", 0)
	wantPartDecryptError(t, got[1], "packs/alice", 1)
	wantParts(t, got[2:], nil, parts[2:])

	putParts(t, mem, "packs/mallory", sealed)
	got, err = GetParts(ctx, enc, "packs/mallory", ext)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		wantPartDecryptError(t, p, "packs/mallory", i)
	}
}

// A pack written before encryption was turned on stays readable, part by part.
func TestEncryptedReadsAPlaintextPack(t *testing.T) {
	ctx := context.Background()
	mem := NewMemoryStorage()
	parts := [][]byte{[]byte(`{"written":"before encryption"}`), nil, []byte(`"x"`)}
	ext := putParts(t, mem, "packs/old", parts)
	enc := newTestEncrypted(t, mem, testPassword)
	got, err := GetParts(ctx, enc, "packs/old", []Extent{ext[2], ext[0]})
	wantParts(t, got, err, [][]byte{parts[2], parts[0]})
	all, err := ReadParts(ctx, enc, "packs/old")
	wantParts(t, all, err, parts)
}

// A sealed part is never read as a whole object, nor a whole object as a part.
func TestEncryptedWholeObjectsAndPartsDoNotMix(t *testing.T) {
	ctx := context.Background()
	mem, enc, _, sealed := sealedPack(t, "packs/p", [][]byte{[]byte(`{"a":1}`)})
	if err := mem.Put(ctx, "packs/p", sealed[0]); err != nil {
		t.Fatal(err)
	}
	got, err := enc.Get(ctx, "packs/p")
	wantDecryptError(t, got, err, "packs/p")
	if !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("error %q does not say version 2", err)
	}

	if err := enc.Put(ctx, "whole", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	whole, err := mem.Get(ctx, "whole")
	if err != nil {
		t.Fatal(err)
	}
	ext := putParts(t, mem, "whole", [][]byte{whole})
	parts, err := GetParts(ctx, enc, "whole", ext)
	if err != nil {
		t.Fatal(err)
	}
	wantPartDecryptError(t, parts[0], "whole", 0)
	if !strings.Contains(parts[0].Err.Error(), "version 1") {
		t.Fatalf("error %q does not say version 1", parts[0].Err)
	}
}
