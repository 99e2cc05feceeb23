package storage

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Object is one listed key and the size of what is stored under it (the
// bytes the store holds: for Encrypted, the ciphertext).
type Object struct {
	Key  string
	Size int64
}

// Lister is implemented by a store that can list its keys (Memory, Local,
// S3; Encrypted passes it through, as it does not change keys). Garbage
// collection and recovery use it to learn what a bucket holds and how many
// bytes each object takes.
type Lister interface {
	// List returns, in byte order of their keys, up to limit objects whose
	// keys start with prefix and sort after `after` ("" for the start);
	// fewer than limit means there are no more. limit must be > 0. A
	// prefix that no key could start with (see CheckPrefix) is an error
	// wrapping ErrInvalidKey; a prefix nothing is stored under lists as
	// empty, not as ErrNotFound.
	List(ctx context.Context, prefix, after string, limit int) ([]Object, error)
}

// List calls s's List when s is a Lister; any other store yields an error
// wrapping ErrNotSupported.
func List(ctx context.Context, s Storage, prefix, after string, limit int) ([]Object, error) {
	l, ok := s.(Lister)
	if !ok {
		return nil, fmt.Errorf("%w: %s storage cannot list keys", ErrNotSupported, Kind(s))
	}
	return l.List(ctx, prefix, after, limit)
}

// CheckPrefix returns an error wrapping ErrInvalidKey unless prefix is ""
// or the start of a key CheckKey accepts: no leading slash, no backslash or
// NUL, valid UTF-8, at most 1024 bytes, and every segment before the last
// slash non-empty, not "." or "..", and at most 255 bytes. The part after
// the last slash may be any start of a segment (".pa" starts ".packs").
func CheckPrefix(prefix string) error {
	bad := func(why string) error { return fmt.Errorf("%w: prefix %q: %s", ErrInvalidKey, prefix, why) }
	switch {
	case prefix == "":
		return nil
	case len(prefix) > maxKeyBytes:
		return bad("longer than 1024 bytes")
	case !utf8.ValidString(prefix):
		return bad("not valid UTF-8")
	case strings.ContainsAny(prefix, "\x00\\"):
		return bad("contains NUL or backslash")
	}
	segs := strings.Split(prefix, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == "" && !last:
			return bad("empty path segment (leading or double slash)")
		case !last && (seg == "." || seg == ".."):
			return bad(`"." or ".." segment`)
		case len(seg) > 255:
			return bad("path segment longer than 255 bytes")
		}
	}
	return nil
}

// beginList makes the checks every List makes before it reads: the prefix,
// the limit and ctx.
func beginList(ctx context.Context, prefix string, limit int) error {
	if err := CheckPrefix(prefix); err != nil {
		return err
	}
	if limit <= 0 {
		return fmt.Errorf("storage: list %q: limit %d, want more than 0", prefix, limit)
	}
	return ctx.Err()
}
