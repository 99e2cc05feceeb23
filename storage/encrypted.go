package storage

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/sync/singleflight"
)

var (
	_ Storage      = (*Encrypted)(nil)
	_ PartStore    = (*Encrypted)(nil)
	_ Lister       = (*Encrypted)(nil)
	_ BatchDeleter = (*Encrypted)(nil)
)

// Encrypted is a Storage decorator that encrypts every object with AES-256-GCM
// before handing it to the inner Storage, and decrypts it again on Get.
//
// # Object format, versions 1 and 2
//
// An encrypted object is a 33-byte header followed by the GCM output:
//
//	offset  size  field
//	0       4     magic "LAKE"
//	4       1     format version, 1 (a whole object) or 2 (one part of a multi-part object)
//	5       16    salt for the key derivation
//	21      12    nonce, random for every object
//	33      n+16  AES-256-GCM ciphertext of the n plaintext bytes, then the 16-byte tag
//
// The key is derived from the password and the salt with argon2id
// (golang.org/x/crypto/argon2.IDKey) using the kdf* constants below. The
// additional authenticated data is the 33-byte header followed by the object
// key, so an object copied or renamed to another key, or one whose header
// was altered, fails to decrypt.
//
// Version 2 seals one part of a multi-part object (PutParts): the same
// layout, each part with its own nonce, and the part's index as 4 bytes
// big-endian after the object key in the additional data, so a part moved to
// another place in its object, or into another object, fails to decrypt.
// The sealed parts are then framed by the inner store (PutParts on inner),
// whose checksums catch accidental damage before GCM does. Encrypted is not
// a Ranger: a whole version-1 object cannot be read in pieces, sealed parts
// can, and GetParts reads them through the inner store's ranged reads.
//
// Get opens only version 1 and GetParts only version 2; either refuses the
// other with ErrDecrypt, so a part can never pass for a whole object.
//
// Everything in this list, the KDF parameters included, belongs to versions
// 1 and 2. To change any of it, add a new version byte, write only the new
// version, and keep a reader for every older version: Get and GetParts
// dispatch on the version byte and refuse versions they do not know with an
// error that names them.
//
// # Salts and keys
//
// Each Encrypted draws one random salt in NewEncrypted and uses it for all of
// its writes, so the (deliberately slow) KDF runs once per instance for
// writing. Objects written by other instances carry other salts: Get derives
// the key for a foreign salt once, even under concurrent Gets, and caches it
// in a small bounded cache (keyCacheSize entries). With a random 96-bit nonce
// per object or part a single key is good for about 2^32 of them; every
// instance starts a fresh key.
//
// # Objects written before encryption
//
// Get returns an object that does not begin with the magic "LAKE" exactly as
// stored, and GetParts and ReadParts do the same for each part. This
// plaintext passthrough keeps a lake readable after encryption is turned on:
// objects and packs written earlier stay readable and new ones are
// encrypted. The cost is ambiguity: an object or part that begins with
// "LAKE" is always treated as encrypted. Lake's plaintext bodies are JSON,
// which never begins with "LAKE", so a Lake body is never misread. The
// passthrough also means that an encrypted object damaged inside its first
// four bytes, or cut to fewer than four bytes, comes back as raw
// non-plaintext bytes rather than as ErrDecrypt; a JSON decoder rejects
// them. (A pack begins with "LKPK", so a whole-object Get of a pack written
// by PutParts returns its framed, sealed parts as stored: read packs with
// GetParts.)
//
// Every other failure to open an object or part (a wrong password, any
// changed byte after the magic, a truncated object, an unknown or the other
// format version) is an error wrapping ErrDecrypt that names the object key,
// and for a part its index. Neither Get nor GetParts returns bytes that did
// not pass authentication, except through the passthrough.
//
// An Encrypted is safe for concurrent use.
type Encrypted struct {
	inner    Storage
	password []byte

	salt [encSaltSize]byte // this instance's salt, used for every Put
	own  cipher.AEAD       // key derived from password and salt

	mu     sync.RWMutex
	cache  map[[encSaltSize]byte]cipher.AEAD // keys for foreign salts
	flight singleflight.Group                // one derivation per salt at a time
	kdfSem chan struct{}                     // bounds concurrent derivations (each uses kdfMemoryKiB)

	derivations atomic.Int64 // KDF runs so far, for tests
}

// Format versions 1 and 2. Changing any of these values changes the format:
// add a version and keep reading the old ones.
const (
	encMagic       = "LAKE"
	encVersion     = 1 // a whole object
	encPartVersion = 2 // one part of a multi-part object
	encSaltSize    = 16
	encNonceSize   = 12 // the standard GCM nonce size
	encTagSize     = 16 // the standard GCM tag size
	encHeaderSize  = len(encMagic) + 1 + encSaltSize + encNonceSize

	kdfTime      = 1         // argon2id passes
	kdfMemoryKiB = 64 * 1024 // argon2id memory, 64 MiB
	kdfThreads   = 2         // argon2id parallelism
	kdfKeySize   = 32        // AES-256
)

const (
	// keyCacheSize caps how many keys for foreign salts an Encrypted keeps.
	// A lake normally holds objects from a handful of writer processes.
	keyCacheSize = 64
	// maxConcurrentKDF caps derivations running at once, so that objects
	// with many distinct salts cannot make Get allocate unbounded memory.
	maxConcurrentKDF = 2
)

// NewEncrypted returns a Storage that encrypts every object with AES-256-GCM
// before handing it to inner and decrypts on Get. It derives the write key
// from password and a fresh random salt, which takes a noticeable moment and
// 64 MiB of memory once. The password must not be empty.
func NewEncrypted(inner Storage, password string) (*Encrypted, error) {
	if inner == nil {
		return nil, errors.New("storage: encrypted storage needs an inner storage")
	}
	if password == "" {
		return nil, errors.New("storage: encrypted storage needs a non-empty password")
	}
	e := &Encrypted{
		inner:    inner,
		password: []byte(password),
		cache:    make(map[[encSaltSize]byte]cipher.AEAD),
		kdfSem:   make(chan struct{}, maxConcurrentKDF),
	}
	if _, err := rand.Read(e.salt[:]); err != nil {
		return nil, fmt.Errorf("storage: encrypted storage: generate salt: %w", err)
	}
	own, err := e.derive(e.salt)
	if err != nil {
		return nil, err
	}
	e.own = own
	return e, nil
}

// Put encrypts data under this instance's key, with a fresh random nonce and
// the object key as additional data, and stores the result in inner.
func (e *Encrypted) Put(ctx context.Context, key string, data []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	out, err := e.seal(make([]byte, 0, encHeaderSize+len(data)+encTagSize), encVersion, key, 0, data)
	if err != nil {
		return err
	}
	return e.inner.Put(ctx, key, out)
}

// Get reads the object under key from inner and decrypts it. An object
// without the "LAKE" magic is returned as stored (see the type's comment);
// an object that cannot be opened, a sealed part among them, yields an error
// wrapping ErrDecrypt. ErrNotFound from inner is passed through.
func (e *Encrypted) Get(ctx context.Context, key string) ([]byte, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	data, err := e.inner.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return e.open(data, encVersion, key, 0)
}

// PutParts seals every part on its own (format version 2, with its index in
// the additional data) and stores them as one multi-part object with the
// package's PutParts on inner, so inner's framing and decorators apply.
func (e *Encrypted) PutParts(ctx context.Context, key string, parts [][]byte) ([]Extent, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("storage: put parts %s: no parts to store", key)
	}
	size := 0
	for _, p := range parts {
		size += encHeaderSize + len(p) + encTagSize
	}
	buf := make([]byte, 0, size) // one allocation for every sealed part
	sealed := make([][]byte, len(parts))
	for i, p := range parts {
		start := len(buf)
		var err error
		if buf, err = e.seal(buf, encPartVersion, key, i, p); err != nil {
			return nil, err
		}
		sealed[i] = buf[start:len(buf):len(buf)]
	}
	return PutParts(ctx, e.inner, key, sealed)
}

// GetParts reads the sealed parts at extents through the package's GetParts
// on inner and opens each: a part that fails to open has an Err wrapping
// ErrDecrypt that names the key and the index, and the others are still
// returned. A part without the "LAKE" magic is returned as stored.
func (e *Encrypted) GetParts(ctx context.Context, key string, extents []Extent) ([]Part, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	parts, err := GetParts(ctx, e.inner, key, extents)
	if err != nil {
		return nil, err
	}
	for i := range parts {
		if parts[i].Err == nil {
			parts[i].Data, parts[i].Err = e.open(parts[i].Data, encPartVersion, key, extents[i].Index)
		}
	}
	return parts, nil
}

// ReadParts reads every sealed part through the package's ReadParts on inner
// and opens each, as GetParts does.
func (e *Encrypted) ReadParts(ctx context.Context, key string) ([]Part, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	parts, err := ReadParts(ctx, e.inner, key)
	if err != nil {
		return nil, err
	}
	for i := range parts { // ReadParts returns part i at position i
		if parts[i].Err == nil {
			parts[i].Data, parts[i].Err = e.open(parts[i].Data, encPartVersion, key, i)
		}
	}
	return parts, nil
}

var zeroNonce [encNonceSize]byte

// seal appends to dst a header of version with this instance's salt and a
// fresh nonce, then plain sealed under this instance's key.
func (e *Encrypted) seal(dst []byte, version byte, key string, index int, plain []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, encMagic...)
	dst = append(dst, version)
	dst = append(dst, e.salt[:]...)
	dst = append(dst, zeroNonce[:]...)
	header := dst[start:]
	nonce := header[5+encSaltSize:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("storage: put %s: generate nonce: %w", key, err)
	}
	return e.own.Seal(dst, nonce, plain, additionalData(header, key, index)), nil
}

// open authenticates and decrypts data, which must be of format version
// want: a whole object (encVersion) or part index of a multi-part object
// (encPartVersion). Data without the magic is returned as it is. A part is
// decrypted in place: its bytes belong to this call.
func (e *Encrypted) open(data []byte, want byte, key string, index int) ([]byte, error) {
	if !bytes.HasPrefix(data, []byte(encMagic)) {
		return data, nil // written before encryption was turned on
	}
	name := key
	if want == encPartVersion {
		name = fmt.Sprintf("%s part %d", key, index)
	}
	if len(data) == len(encMagic) {
		return nil, fmt.Errorf("%w: %s: truncated object (%d bytes)", ErrDecrypt, name, len(data))
	}
	switch v := data[len(encMagic)]; {
	case v == want:
	case v == encPartVersion:
		return nil, fmt.Errorf("%w: %s: format version 2 is one part of a multi-part object (read it with GetParts)", ErrDecrypt, name)
	case v == encVersion:
		return nil, fmt.Errorf("%w: %s: format version 1 is a whole object, not a part", ErrDecrypt, name)
	default:
		return nil, fmt.Errorf("%w: %s: unknown encryption format version %d (this build reads versions %d and %d)",
			ErrDecrypt, name, v, encVersion, encPartVersion)
	}
	if len(data) < encHeaderSize+encTagSize {
		return nil, fmt.Errorf("%w: %s: truncated object (%d bytes, at least %d needed)",
			ErrDecrypt, name, len(data), encHeaderSize+encTagSize)
	}
	var salt [encSaltSize]byte
	copy(salt[:], data[5:])
	aead, err := e.keyFor(salt)
	if err != nil {
		return nil, fmt.Errorf("storage: get %s: %w", name, err)
	}
	var dst []byte
	if want == encPartVersion {
		dst = data[encHeaderSize:encHeaderSize] // saves a copy per part
	}
	nonce := data[5+encSaltSize : encHeaderSize]
	plain, err := aead.Open(dst, nonce, data[encHeaderSize:], additionalData(data[:encHeaderSize], key, index))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrDecrypt, name)
	}
	return plain, nil
}

// Delete removes key from inner.
func (e *Encrypted) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	return e.inner.Delete(ctx, key)
}

// List lists the objects of inner, whose keys are the keys as given and
// whose sizes are those of the ciphertext inner holds, through the
// package's List (see Lister): an inner store that is not a Lister yields
// an error wrapping ErrNotSupported.
func (e *Encrypted) List(ctx context.Context, prefix, after string, limit int) ([]Object, error) {
	return List(ctx, e.inner, prefix, after, limit)
}

// DeleteMany deletes keys from inner, in batches when inner deletes in
// batches (see BatchDeleter).
func (e *Encrypted) DeleteMany(ctx context.Context, keys []string) error {
	return DeleteMany(ctx, e.inner, keys, 16)
}

// Unwrap returns the store that holds the encrypted objects.
func (e *Encrypted) Unwrap() Storage { return e.inner }

// String reports "encrypted(" + Kind(inner) + ")", e.g. "encrypted(local)".
func (e *Encrypted) String() string { return "encrypted(" + Kind(e.inner) + ")" }

// additionalData is the GCM additional data: the header, then the object
// key, then for a sealed part (the header's version is 2) the part's index
// as 4 bytes big-endian.
func additionalData(header []byte, key string, index int) []byte {
	ad := make([]byte, 0, len(header)+len(key)+4)
	ad = append(ad, header...)
	ad = append(ad, key...)
	if header[len(encMagic)] == encPartVersion {
		ad = binary.BigEndian.AppendUint32(ad, uint32(index))
	}
	return ad
}

// keyFor returns the AEAD for salt: this instance's own key, a cached one,
// or a freshly derived one. Concurrent calls for the same new salt share one
// derivation.
func (e *Encrypted) keyFor(salt [encSaltSize]byte) (cipher.AEAD, error) {
	if salt == e.salt {
		return e.own, nil
	}
	if aead, ok := e.cached(salt); ok {
		return aead, nil
	}
	v, err, _ := e.flight.Do(string(salt[:]), func() (any, error) {
		// A flight that finished between the lookup above and this call
		// has already filled the cache.
		if aead, ok := e.cached(salt); ok {
			return aead, nil
		}
		aead, err := e.derive(salt)
		if err != nil {
			return nil, err
		}
		e.remember(salt, aead)
		return aead, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(cipher.AEAD), nil
}

func (e *Encrypted) cached(salt [encSaltSize]byte) (cipher.AEAD, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	aead, ok := e.cache[salt]
	return aead, ok
}

// remember caches aead for salt, dropping an arbitrary entry when the cache
// is full; a dropped key is derived again when next needed.
func (e *Encrypted) remember(salt [encSaltSize]byte, aead cipher.AEAD) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.cache[salt]; !ok && len(e.cache) >= keyCacheSize {
		for k := range e.cache {
			delete(e.cache, k)
			break
		}
	}
	e.cache[salt] = aead
}

// derive runs argon2id over the password and salt and returns an
// AES-256-GCM AEAD for the resulting key.
func (e *Encrypted) derive(salt [encSaltSize]byte) (cipher.AEAD, error) {
	e.kdfSem <- struct{}{}
	key := argon2.IDKey(e.password, salt[:], kdfTime, kdfMemoryKiB, kdfThreads, kdfKeySize)
	<-e.kdfSem
	e.derivations.Add(1)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("storage: encrypted storage: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("storage: encrypted storage: %w", err)
	}
	return aead, nil
}
