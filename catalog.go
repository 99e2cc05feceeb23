package lake

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

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

// DeleteCatalog removes catalog from the lake and returns its deletion
// version. Its log is archived to segments first; then its index goes at
// once, in one atomic step: reads return {} at version 0 and Catalogs no
// longer lists it. Its objects (snapshots,
// segments, its bodies in packs) stay until a garbage collection after the
// retention period, so that a catalog deleted by mistake can be recovered
// until then. A write after the deletion starts a fresh catalog whose
// versions are above the deletion version. Deleting a catalog that does not
// exist is not an error.
func (c *Client) DeleteCatalog(ctx context.Context, catalog string) (int64, error) {
	if err := ValidateCatalog(catalog); err != nil {
		return 0, fmt.Errorf("lake: delete: %w", err)
	}
	idx, s, err := c.ready(ctx)
	if err != nil {
		return 0, fmt.Errorf("lake: delete %q: %w", catalog, err)
	}
	if s.holder == "" {
		// Its log goes to segments first, so that a recovery before the
		// retention period ends can still bring the catalog back whole,
		// and its packs are free to go.
		if _, err := c.archive(ctx, idx, s, catalog, &CompactResult{}); err != nil && !errors.Is(err, ErrNotArchived) {
			return 0, fmt.Errorf("lake: delete %q: archive its log first: %w", catalog, err)
		}
	}
	d, err := idx.DeleteCatalog(ctx, catalog)
	if err != nil {
		return 0, fmt.Errorf("lake: delete %q: %w", catalog, err)
	}
	c.cache.drop(catalog)
	if d == 0 {
		return 0, nil // it never existed
	}
	// The tombstone tells a recovery from the bucket alone that everything
	// of the catalog up to d is gone. A failed Put is reported; deleting
	// again stores it (the index answers with the same d).
	if err := s.store.Put(ctx, tombstoneKey(catalog, d), tombstone(catalog, d)); err != nil {
		return d, fmt.Errorf("lake: delete %q: the index is deleted, but its tombstone was not stored (delete it again): %w", catalog, storageError(err))
	}
	return d, nil
}

// tombstoneKey names the object that records a catalog's deletion at d.
func tombstoneKey(catalog string, d int64) string {
	return fmt.Sprintf("%s/deleted/%016d.json", catalog, d)
}

func tombstone(catalog string, d int64) []byte {
	return fmt.Appendf(nil, `{"catalog":%q,"deleted":%d,"time":%q}`, catalog, d, time.UnixMicro(d).UTC().Format(time.RFC3339Nano))
}

// Object keys:
//
//	.packs/<pack ID>                               the bodies of a batch of writes (internal/pack)
//	<catalog>/snapshots/<version>-<uuid>.json      a snapshot body
//	<catalog>/segments/<after>-<last>.json         a log segment: archived entries with bodies (internal/segment)
//	<catalog>/deleted/<version>.json               a tombstone: the catalog was deleted at that version
//	<catalog>/<uuid>.json                          a delta body, as releases before packs wrote it
//
// Pack IDs and UUIDs (version 7) both start with the time, so packs and a
// catalog's snapshots list in time order. No catalog name starts with '.',
// so no catalog's objects list under .packs/.
func snapshotKey(catalog string, version int64) string {
	return catalog + "/snapshots/" + strconv.FormatInt(version, 10) + "-" + uuid.Must(uuid.NewV7()).String() + ".json"
}
