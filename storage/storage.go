// Package storage keeps Lake's bytes: every delta body and every snapshot body
// is an immutable object, written once under a key and never changed.
//
// One interface, one file per backend, and decorators that are themselves a
// Storage. The files, one job each:
//
//	storage.go        the Storage interface, its errors, CheckKey, Kind, Volatile and HolderOf
//	memory.go         Memory: objects in the process's memory
//	local.go          Local: one file per object under a directory, written atomically
//	s3.go             S3: objects in a bucket of an S3-compatible store (AWS S3, Aliyun OSS,
//	                  MinIO, versitygw), and how its errors map to this package's
//	encrypted.go      Encrypted: the AES-256-GCM decorator and its object format
//	parts.go          the multi-part object format: framing and checking, no I/O
//	pack.go           PutParts, GetParts, ReadParts: multi-part objects on any Storage
//	list.go           Lister, List and CheckPrefix: listing the keys a store holds
//	open.go           Open: the backend a config.Config names
//	bucket.go         CreateBucket: the bucket an s3 or oss config names
//	contract_test.go  the interface's promises as one suite, run against every backend and decorator
//
// Keys are slash-separated relative paths such as "users/0192f0c1-....json";
// Lake builds them from validated catalog names, and backends still refuse
// keys that could escape their root (ErrInvalidKey).
//
// # Multi-part objects
//
// A multi-part object (a pack) stores several bodies, its parts, as one
// immutable object, and each part can be read back alone: PutParts writes
// one and returns an Extent per part, GetParts reads a few parts by their
// extents with ranged reads, ReadParts reads them all. Version 1 of the
// format is a 5-byte header followed by one frame per part, back to back,
// in index order:
//
//	offset  size  field
//	0       4     magic "LKPK"
//	4       1     format version, 1
//	5       ...   the frames
//
// and a frame is a 12-byte header followed by the part's bytes:
//
//	offset  size  field
//	0       4     data length n, big-endian uint32 (at most 1 GiB)
//	4       4     part index, big-endian uint32, counting from 0
//	8       4     CRC-32C (Castagnoli), big-endian, over the 4 index bytes then the data
//	12      n     the data
//
// An Extent points at a frame: Offset at its first header byte, Length = 12 + n.
// The index and the checksum make a frame check itself: bytes read through a
// wrong or stale extent, or a damaged object, fail with ErrCorrupt rather than
// coming back as another part or as garbage. The format has no part count and
// no trailer, so an object cut exactly between two frames reads through
// ReadParts as a shorter, intact object; GetParts still reports the parts past
// the cut as truncated.
//
// A decorator that changes bytes (Encrypted) implements PartStore and seals
// each part on its own before framing; any other Storage gets the framing
// above through its Put and Get, and through GetRange where it is a Ranger.
//
// # Capabilities
//
// Beyond Storage, a store may implement small optional interfaces: Ranger
// (read a byte range: Memory, Local, S3), PartStore (store the parts of a
// multi-part object itself: Encrypted) and Lister (list keys in byte order:
// Memory, Local, S3, and Encrypted over any of them). The package functions
// PutParts, GetParts, ReadParts and List use a capability where the store
// has it; List refuses a store without it with ErrNotSupported.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Storage is an object store. All methods are safe for concurrent use and
// idempotent: putting the same key twice with the same bytes, or deleting a
// missing key, is not an error.
type Storage interface {
	// Put stores data under key. When it returns nil the object is durable
	// and complete; a failed Put never leaves a partial object visible to Get.
	// Put must not change data, nor keep it after it returns (as with
	// io.Writer): a store that keeps the bytes copies them.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the bytes stored under key, or an error wrapping
	// ErrNotFound when there is no such object.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes key. A missing key is not an error.
	Delete(ctx context.Context, key string) error
}

var (
	// ErrNotFound means no object is stored under the key.
	ErrNotFound = errors.New("storage: object not found")
	// ErrInvalidKey means the key is empty, absolute, or could escape the
	// store's root (a ".." segment, a NUL byte, a backslash).
	ErrInvalidKey = errors.New("storage: invalid object key")
	// ErrDecrypt means an encrypted object could not be opened: the password
	// is wrong or the object was altered.
	ErrDecrypt = errors.New("storage: cannot decrypt object (wrong password or tampered object)")
	// ErrBucketNotFound means the object store has no such bucket.
	ErrBucketNotFound = errors.New("storage: bucket not found")
	// ErrAccessDenied means the object store refused the credentials or
	// their permissions.
	ErrAccessDenied = errors.New("storage: access denied (check the access key and secret)")
	// ErrUnavailable means the object store could not be reached or kept
	// failing (network errors, timeouts, 5xx responses) after retries. It is
	// usually transient.
	ErrUnavailable = errors.New("storage: object store unavailable")
	// ErrCorrupt means a multi-part object, or one part of it, failed its
	// checks or was cut short.
	ErrCorrupt = errors.New("storage: object damaged")
	// ErrNotSupported means the store lacks an optional capability that
	// was asked of it, such as listing keys (Lister).
	ErrNotSupported = errors.New("storage: not supported by this store")
)

// Kind names the backend behind s ("memory", "local", "encrypted(local)" ...)
// for logs and for Client.StorageKind. A Storage that is not a fmt.Stringer is
// reported as "custom".
func Kind(s Storage) string {
	if k, ok := s.(interface{ String() string }); ok {
		return k.String()
	}
	return "custom"
}

// Volatile is implemented by a store whose objects live only as long as it
// does (Memory). Holder names the store uniquely, so that the index can
// record which store holds a body and other processes can tell that they
// will never see it.
type Volatile interface {
	Holder() string
}

// HolderOf returns the Holder of s, or of the store a decorator wraps, or ""
// when s keeps its objects beyond the process.
func HolderOf(s Storage) string {
	for s != nil {
		if v, ok := s.(Volatile); ok {
			return v.Holder()
		}
		inner, ok := s.(interface{ Unwrap() Storage })
		if !ok {
			return ""
		}
		s = inner.Unwrap()
	}
	return ""
}

// maxKeyBytes bounds a key so that every backend (file systems cap a name at
// 255 bytes and a path at 4096; S3 caps keys at 1024) can hold it.
const maxKeyBytes = 1024

// CheckKey returns an error wrapping ErrInvalidKey unless key is a clean,
// relative, slash-separated path: no empty, "." or ".." segment, no leading
// slash, no backslash or NUL, valid UTF-8, at most 1024 bytes with segments
// of at most 255 bytes.
func CheckKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > maxKeyBytes:
		return bad("longer than 1024 bytes")
	case !utf8.ValidString(key):
		return bad("not valid UTF-8")
	case strings.ContainsAny(key, "\x00\\"):
		return bad("contains NUL or backslash")
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return bad("empty path segment (leading, trailing or double slash)")
		case seg == "." || seg == "..":
			return bad(`"." or ".." segment`)
		case len(seg) > 255:
			return bad("path segment longer than 255 bytes")
		}
	}
	return nil
}
