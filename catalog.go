package lake

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/hkloudou/lake/v2/index"
)

// MaxCatalogLen is the longest catalog name, in bytes.
const MaxCatalogLen = 128

// ValidateCatalog returns nil if name is a valid catalog name, else an error
// wrapping ErrInvalidCatalog. A name is 1 to 128 characters from
// [A-Za-z0-9_.:@=-], starting with a letter, digit or '_'. The set is narrow
// on purpose: a catalog name becomes part of Redis keys (inside a {hash tag})
// and of object keys and file paths, and must be safe in all three as it is.
func ValidateCatalog(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidCatalog)
	}
	if len(name) > MaxCatalogLen {
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidCatalog, len(name), MaxCatalogLen)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '_':
		case i > 0 && (ch == '.' || ch == ':' || ch == '@' || ch == '=' || ch == '-'):
		default:
			return fmt.Errorf("%w: %q: character %q at byte %d (allowed: letters, digits, and _ . : @ = - after the first character)",
				ErrInvalidCatalog, name, rune(ch), i)
		}
	}
	return nil
}

// CatalogInfo is one catalog of the lake and its last version.
type CatalogInfo = index.CatalogInfo

// Catalogs lists up to limit catalogs whose names sort after `after`, in
// byte order: pass the last name of one page to get the next. A catalog
// appears once its first write is committed (a catalog whose first write
// failed may appear at version 0).
func (c *Client) Catalogs(ctx context.Context, after string, limit int) ([]CatalogInfo, error) {
	idx, err := c.index(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: list catalogs: %w", err)
	}
	list, err := idx.Catalogs(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("lake: list catalogs: %w", err)
	}
	return list, nil
}

// Object keys:
//
//	.packs/<pack ID>                               the bodies of a batch of writes (internal/pack)
//	<catalog>/snapshots/<version>-<uuid>.json      a snapshot body
//	<catalog>/<uuid>.json                          a delta body, as releases before packs wrote it
//
// Pack IDs and UUIDs (version 7) both start with the time, so packs and a
// catalog's snapshots list in time order. No catalog name starts with '.',
// so no catalog's objects list under .packs/.
func snapshotKey(catalog string, version int64) string {
	return catalog + "/snapshots/" + strconv.FormatInt(version, 10) + "-" + uuid.Must(uuid.NewV7()).String() + ".json"
}
