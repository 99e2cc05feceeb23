package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// that hold any of them (every segment with Last > after and
	// After < upTo, in order; those at or below Head.Trimmed are the only
	// copy) and the log entries above Trimmed, in version order.
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
	// Forget takes snapshot pointers out of the catalog's snapshot history
	// and segments out of its registry, in one atomic step: garbage
	// collection does so before it deletes their objects. The head's
	// current snapshot, and a segment that holds entries above Head.Trimmed
	// (the log still holds them: the segment is the recovery copy), are
	// refused with ErrInUse, and nothing is forgotten then. Pointers and
	// segments that are not registered are ignored.
	Forget(ctx context.Context, catalog string, snapshots []SnapshotPointer, segments []Segment) error
	// DeleteCatalog removes the catalog from the index in one atomic step:
	// its log, head, snapshot history and segment registry. It returns the
	// deletion version D (above every version the catalog had); a later
	// commit starts a fresh catalog whose versions are above D, and reads
	// see Head.Deleted = D until then. A catalog that does not exist returns
	// its earlier deletion version, or 0 when it never existed.
	DeleteCatalog(ctx context.Context, catalog string) (int64, error)
	// Restore writes a catalog's state rebuilt from object storage (lake
	// recover) in one atomic step, and lists the catalog. The catalog must
	// not exist (ErrNotEmpty otherwise); r must be consistent (see
	// Restoration; ErrInvalidDelta otherwise). Nothing is written on error.
	Restore(ctx context.Context, catalog string, r Restoration) error
}

// Restoration is a catalog's index state as a recovery rebuilds it.
type Restoration struct {
	// Version is the head's last version: at least every version below.
	Version int64
	// Epoch identifies the restored log (Head.Epoch); Deleted is the
	// catalog's last deletion (Head.Deleted), 0 if none.
	Epoch   int64
	Deleted int64
	// Snapshot is the current pointer (zero: none); Snapshots the history,
	// which includes it.
	Snapshot  SnapshotPointer
	Snapshots []SnapshotPointer
	// Segments are the registry, contiguous and in order: Head.Archived is
	// the last one's Last (0 without segments).
	Segments []Segment
	// Trimmed is the trim floor: at most the archive's end and the
	// snapshot's version.
	Trimmed int64
	// Log holds the entries above Trimmed, at their versions (increasing,
	// above Deleted, at most Version), each with an ID.
	Log []Delta
}

// Check reports what makes r inconsistent, as an error wrapping
// ErrInvalidDelta.
func (r Restoration) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: restoration: "+format, append([]any{ErrInvalidDelta}, args...)...)
	}
	archived := int64(0)
	for i, s := range r.Segments {
		if s.After != archived || s.Last <= s.After || s.Key == "" || (i > 0 && s.After != r.Segments[i-1].Last) {
			return bad("segment %d (%d, %d] %q does not continue the archive at %d", i, s.After, s.Last, s.Key, archived)
		}
		archived = s.Last
	}
	switch {
	case r.Version <= 0 || r.Version > MaxVersion:
		return bad("version %d", r.Version)
	case r.Deleted < 0 || r.Deleted >= r.Version || r.Epoch < 0 || r.Epoch > r.Version:
		return bad("deleted %d, epoch %d, version %d", r.Deleted, r.Epoch, r.Version)
	case archived > r.Version || r.Snapshot.Version > r.Version:
		return bad("archive end %d or snapshot %d past version %d", archived, r.Snapshot.Version, r.Version)
	case r.Trimmed < 0 || r.Trimmed > archived || r.Trimmed > r.Snapshot.Version:
		return bad("trim floor %d above the archive end %d or the snapshot %d", r.Trimmed, archived, r.Snapshot.Version)
	case (r.Snapshot.Version == 0) != (r.Snapshot.Key == ""):
		return bad("snapshot %d at %q", r.Snapshot.Version, r.Snapshot.Key)
	case r.Snapshot.Version > 0 && !slices.Contains(r.Snapshots, r.Snapshot):
		return bad("the current snapshot is not in the history")
	}
	for _, p := range r.Snapshots {
		if p.Version <= 0 || p.Version > r.Version || p.Key == "" {
			return bad("snapshot %d at %q", p.Version, p.Key)
		}
	}
	last := max(r.Trimmed, r.Deleted)
	for _, d := range r.Log {
		if d.Version <= last || d.Version > r.Version {
			return bad("log entry at %d after %d (version %d)", d.Version, last, r.Version)
		}
		if _, err := encodeMember(d); err != nil {
			return err
		}
		last = d.Version
	}
	return nil
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
	// ErrInUse means Forget was asked to forget the catalog's current
	// snapshot or a segment that holds entries still in the log's reach
	// (above the trim floor); nothing was forgotten.
	ErrInUse = errors.New("index: still in use")
	// ErrNotEmpty means Restore was asked to restore a catalog that exists.
	ErrNotEmpty = errors.New("index: the catalog exists")
	// ErrArchiveMoved means a segment does not start where the catalog's
	// archive ends (another archiver registered one first, or the catalog
	// was deleted); nothing was registered.
	ErrArchiveMoved = errors.New("index: the archive does not end where the segment starts")
)
