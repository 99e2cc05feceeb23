package index

import (
	"context"
	"errors"
	"time"
)

// History is the part of the meta store that keeps a catalog's past beside
// its hot tail. The log holds the newest entries; older ones move to log
// segments (immutable objects the lake stores, see internal/segment), which
// the meta store only registers. Every snapshot pointer the catalog has had
// is kept too, so that a read of the past starts from the nearest one.
//
// Three rules make trimming safe, and the engines enforce all three in the
// same atomic step that trims:
//
//   - an entry leaves the log only when a registered segment holds it
//     (Trim refuses upTo > Head.Archived);
//   - never above the latest snapshot, so a current read never needs a
//     segment (Trim refuses upTo > Head.Snapshot.Version);
//   - a segment registers only where the archive ends (AddSegment refuses a
//     segment whose After is not Head.Archived), so the archive has no gap.
type History interface {
	// Range returns, in one atomic step, the head and where the catalog's
	// entries with after < version <= upTo are: the registered segments
	// that hold those at or below Head.Trimmed (every segment with
	// Last > after and After < min(upTo, Trimmed), in order) and the log
	// entries above Trimmed, in version order.
	Range(ctx context.Context, catalog string, after, upTo int64) (Head, []Segment, []Delta, error)
	// Snapshots returns the catalog's retained snapshot pointers with
	// version <= upTo, newest first, at most limit of them. Only pointers
	// saved since snapshot history exists are listed: the head's current
	// pointer (Head.Snapshot) may be older than the list.
	Snapshots(ctx context.Context, catalog string, upTo int64, limit int) ([]SnapshotPointer, error)
	// AddSegment registers a stored segment and moves Head.Archived to
	// s.Last. s.After must be Head.Archived and s.Last at most Head.Version
	// (ErrArchiveMoved otherwise, nothing changed); registering a segment
	// that is already registered is no error.
	AddSegment(ctx context.Context, catalog string, s Segment) error
	// Trim removes the log entries with version <= upTo and records
	// Head.Trimmed = upTo, in one atomic step, and returns how many entries
	// it removed. upTo above Head.Archived or above the snapshot's version
	// is ErrTrimRefused (nothing removed); upTo at or below Trimmed removes
	// nothing.
	Trim(ctx context.Context, catalog string, upTo int64) (int64, error)
	// Lease takes the catalog's maintenance lease for owner, or renews it
	// when owner holds it already, until ttl from now, and reports whether
	// owner holds it. A lease another owner holds is false, not an error.
	// Compactions take it so that two clients never archive one catalog
	// at once.
	Lease(ctx context.Context, catalog, owner string, ttl time.Duration) (bool, error)
	// Release gives up owner's lease on the catalog; a lease owner does not
	// hold is left alone.
	Release(ctx context.Context, catalog, owner string) error
	// DeleteCatalog removes the catalog from the index in one atomic step:
	// its log, head, snapshot history and segment registry. It returns the
	// deletion version D (above every version the catalog had); a later
	// commit starts a fresh catalog whose versions are above D, and reads
	// see Head.Deleted = D until then. A catalog that does not exist returns
	// its earlier deletion version, or 0 when it never existed.
	DeleteCatalog(ctx context.Context, catalog string) (int64, error)
}

// Segment is a log segment as the meta store registers it: the object at
// Key holds the catalog's log entries with After < version <= Last.
type Segment struct {
	After int64
	Last  int64
	Key   string
}

var (
	// ErrTrimRefused means a trim would remove log entries that no
	// registered segment holds, or entries above the latest snapshot;
	// nothing was removed.
	ErrTrimRefused = errors.New("index: trim refused")
	// ErrArchiveMoved means a segment does not start where the catalog's
	// archive ends (another archiver registered one first, or the catalog
	// was deleted); nothing was registered.
	ErrArchiveMoved = errors.New("index: the archive does not end where the segment starts")
)
