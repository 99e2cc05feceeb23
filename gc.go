package lake

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/internal/pack"
	"github.com/hkloudou/lake/v2/internal/segment"
	"github.com/hkloudou/lake/v2/storage"
)

// Garbage collection deletes the objects that nothing retained refers to.
// It reads the whole index (every catalog's log, snapshot history and
// segment registry) and lists the whole store, then deletes:
//
//   - packs that no log entry names (their deltas are archived in segments,
//     or were never committed), once older than GCOptions.Grace;
//   - snapshots and segments that only reads below the retention floor
//     need: for each catalog, those older than the newest snapshot at or
//     below the floor (which stays), forgotten in the index first;
//   - snapshot objects no pointer names (a save that lost its race), and
//     segments no registry names below the archive's end (a second
//     archiver's copy), once older than the grace period;
//   - the objects of a catalog deleted before the retention floor.
//
// It never deletes a catalog's current snapshot, a tombstone, an object it
// cannot place, or anything of a catalog the index does not know without a
// tombstone (an index that lost data must be recovered first). The floor it
// deletes below lags the retention floor by gcMargin, so that a read of the
// past started before the collection still finds what it needs; a read of
// the present that meets a pack collected under it reads the log again.

// DefaultGCGrace is how old an unreferenced object must be before GC
// deletes it: far longer than any write or compaction takes.
const DefaultGCGrace = time.Hour

// gcMargin is how far below the retention floor GC deletes history; a
// variable for tests, as are clock and minGrace.
var gcMargin = time.Hour

// clock is the time GC and the retention floor go by.
var clock = time.Now

// minGrace is the shortest GCOptions.Grace allowed.
var minGrace = time.Minute

// GCOptions tunes a garbage collection.
type GCOptions struct {
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
	// Grace: an unreferenced object younger than this is kept (0: the
	// default, DefaultGCGrace; at least a minute).
	Grace time.Duration
}

// GCObject is one object a collection deleted (or would delete).
type GCObject struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	Reason string `json:"reason"`
}

// GCReport says what a collection did.
type GCReport struct {
	DryRun bool `json:"dry_run"`
	// Floor is the version history was collected below (0: the lake keeps
	// every version, so only unreferenced objects went).
	Floor int64 `json:"floor"`
	// Scanned objects in the store, and their bytes.
	Scanned      int   `json:"scanned"`
	ScannedBytes int64 `json:"scanned_bytes"`
	// Deleted lists what went (would go, in a dry run), and DeletedBytes
	// its size.
	Deleted      []GCObject `json:"deleted"`
	DeletedBytes int64      `json:"deleted_bytes"`
}

// ErrGCNotSupported: the lake's storage cannot list its keys
// (storage.Lister), so nothing can be garbage-collected; nothing was
// deleted.
var ErrGCNotSupported = errors.New("storage cannot list its keys: garbage collection needs storage.Lister")

// listable says why the lake's store cannot be listed whole, which GC and
// recovery need: bodies in this process's memory, or a store without
// storage.Lister.
func (s *state) listable() error {
	if s.holder != "" {
		return fmt.Errorf("%w: the lake keeps its bodies in this process's memory", ErrGCNotSupported)
	}
	if _, ok := s.store.(storage.Lister); !ok {
		return fmt.Errorf("%w (%s storage)", ErrGCNotSupported, storage.Kind(s.store))
	}
	return nil
}

// gcCatalog is what the index says of one catalog.
type gcCatalog struct {
	head      index.Head
	snapshots map[string]bool // every key a pointer names
	segments  map[string]bool // every registered segment key
	bodies    map[string]bool // old one-object bodies the log names
	// forget is the history the collection drops: below keep. forgotten
	// holds their keys, for the object listing to look up.
	forgetSnaps []index.SnapshotPointer
	forgetSegs  []index.Segment
	forgotten   map[string]bool
	keep        int64 // the snapshot version reads at the floor start from
}

// GC deletes the objects no retained state refers to (see GCOptions).
func (c *Client) GC(ctx context.Context, opts GCOptions) (*GCReport, error) {
	grace := opts.Grace
	if grace == 0 {
		grace = DefaultGCGrace
	}
	if grace < minGrace {
		return nil, fmt.Errorf("lake: gc: grace %v is shorter than a minute: a write in flight could lose its pack", grace)
	}
	idx, s, err := c.ready(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: gc: %w", err)
	}
	if err := s.listable(); err != nil {
		return nil, fmt.Errorf("lake: gc: %w; nothing was deleted", err)
	}
	report := &GCReport{DryRun: opts.DryRun, Deleted: []GCObject{}}
	if f := s.historyFloor(); f > 0 {
		report.Floor = max(f-gcMargin.Microseconds(), 0)
	}
	// The index first: anything committed after this is younger than the
	// grace period, and so kept.
	catalogs, packs, err := c.gcIndex(ctx, idx, report.Floor)
	if err != nil {
		return nil, fmt.Errorf("lake: gc: %w", err)
	}
	cutoff := clock().Add(-grace)
	tombstones := map[string]int64{} // catalog -> its latest deletion version
	var strangers []storage.Object   // objects of catalogs the index does not know
	for after := ""; ; {
		page, err := storage.List(ctx, s.store, "", after, 1000)
		if err != nil {
			return nil, fmt.Errorf("lake: gc: list the store: %w", storageError(err))
		}
		for _, obj := range page {
			report.Scanned++
			report.ScannedBytes += obj.Size
			name, rest, _ := strings.Cut(obj.Key, "/")
			if d, ok := tombstoneVersion(rest); ok && ValidateCatalog(name) == nil {
				tombstones[name] = max(tombstones[name], d)
				continue
			}
			if catalogs[name] == nil && ValidateCatalog(name) == nil {
				strangers = append(strangers, obj)
				continue
			}
			if reason := gcReason(obj.Key, catalogs, packs, report.Floor, cutoff); reason != "" {
				report.Deleted = append(report.Deleted, GCObject{Key: obj.Key, Size: obj.Size, Reason: reason})
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Key
	}
	// A deleted catalog's objects go once its deletion is below the floor;
	// without a tombstone, an object of an unknown catalog stays.
	for _, obj := range strangers {
		name, rest, _ := strings.Cut(obj.Key, "/")
		d := tombstones[name]
		if v, ok := objectVersion(name, rest); ok && d > 0 && v <= d && d <= report.Floor {
			report.Deleted = append(report.Deleted, GCObject{Key: obj.Key, Size: obj.Size, Reason: "catalog deleted before the retention floor"})
		}
	}
	for _, obj := range report.Deleted {
		report.DeletedBytes += obj.Size
	}
	if opts.DryRun {
		return report, nil
	}
	// History leaves the index before its objects leave the store.
	for name, cat := range catalogs {
		if err := idx.Forget(ctx, name, cat.forgetSnaps, cat.forgetSegs); err != nil {
			return report, fmt.Errorf("lake: gc: forget the history of %q: %w", name, err)
		}
	}
	if err := c.gcDelete(ctx, s.store, report.Deleted); err != nil {
		return report, fmt.Errorf("lake: gc: %w", err)
	}
	return report, nil
}

// gcIndex reads every catalog's state and the packs its log names, and
// decides which history each may drop below floor.
func (c *Client) gcIndex(ctx context.Context, idx index.Index, floor int64) (map[string]*gcCatalog, map[string]bool, error) {
	catalogs := map[string]*gcCatalog{}
	packs := map[string]bool{}
	for after := ""; ; {
		list, err := idx.Catalogs(ctx, after, 1000)
		if err != nil {
			return nil, nil, err
		}
		for _, info := range list {
			cat, err := gcCatalogState(ctx, idx, info.Name, floor, packs)
			if err != nil {
				return nil, nil, err
			}
			catalogs[info.Name] = cat
		}
		if len(list) < 1000 {
			return catalogs, packs, nil
		}
		after = list[len(list)-1].Name
	}
}

// gcSnapshotPage bounds one read of a snapshot history.
const gcSnapshotPage = 10000

func gcCatalogState(ctx context.Context, idx index.Index, name string, floor int64, packs map[string]bool) (*gcCatalog, error) {
	head, segs, deltas, err := idx.Range(ctx, name, 0, index.MaxVersion)
	if err != nil {
		return nil, err
	}
	cat := &gcCatalog{head: head, snapshots: map[string]bool{}, segments: map[string]bool{}, bodies: map[string]bool{}}
	for _, d := range deltas {
		if d.Pack != "" {
			packs[d.Pack] = true
		} else if d.BodyKey != "" {
			cat.bodies[d.BodyKey] = true
		}
	}
	for _, sg := range segs {
		cat.segments[sg.Key] = true
	}
	snaps, err := idx.Snapshots(ctx, name, index.MaxVersion, gcSnapshotPage)
	if err != nil {
		return nil, err
	}
	if head.Snapshot.Key != "" {
		cat.snapshots[head.Snapshot.Key] = true
	}
	for _, p := range snaps {
		cat.snapshots[p.Key] = true
	}
	if floor <= 0 || len(snaps) == gcSnapshotPage {
		return cat, nil // keep everything, or too long a history to judge in one page
	}
	// Reads at the floor or later start at or after keep.
	for _, p := range snaps { // newest first
		if p.Version <= floor {
			cat.keep = p.Version
			break
		}
	}
	if head.Snapshot.Version <= floor {
		cat.keep = max(cat.keep, head.Snapshot.Version)
	}
	if cat.keep == 0 {
		return cat, nil // no snapshot below the floor: reads there start from the archive's beginning
	}
	for _, p := range snaps {
		if p.Version < cat.keep && p.Key != head.Snapshot.Key {
			cat.forgetSnaps = append(cat.forgetSnaps, p)
		}
	}
	for _, sg := range segs {
		if sg.Last <= cat.keep && sg.Last <= head.Trimmed {
			cat.forgetSegs = append(cat.forgetSegs, sg)
		}
	}
	cat.forgotten = make(map[string]bool, len(cat.forgetSnaps)+len(cat.forgetSegs))
	for _, p := range cat.forgetSnaps {
		cat.forgotten[p.Key] = true
	}
	for _, sg := range cat.forgetSegs {
		cat.forgotten[sg.Key] = true
	}
	return cat, nil
}

// gcReason says why key may be deleted, or "" to keep it; key is a pack
// or an object of a catalog the index knows.
func gcReason(key string, catalogs map[string]*gcCatalog, packs map[string]bool, floor int64, cutoff time.Time) string {
	if id, ok := strings.CutPrefix(key, pack.Prefix); ok {
		made, err := pack.Time(id)
		if err != nil || packs[id] || !made.Before(cutoff) {
			return ""
		}
		return "pack no log entry names"
	}
	name, rest, ok := strings.Cut(key, "/")
	if !ok || ValidateCatalog(name) != nil {
		return "" // not an object of a catalog
	}
	cat := catalogs[name]
	if cat == nil {
		return ""
	}
	if v, ok := objectVersion(name, rest); ok && v <= cat.head.Deleted {
		// Left by the catalog's life before its last deletion.
		if cat.head.Deleted <= floor {
			return "catalog deleted before the retention floor"
		}
		return ""
	}
	switch {
	case strings.HasPrefix(rest, "snapshots/"):
		version, ok := snapshotVersion(rest)
		switch {
		case !ok:
			return ""
		case cat.forgotten[key]:
			return "snapshot superseded before the retention floor"
		case cat.snapshots[key] || version > cat.head.Version:
			return ""
		case madeBefore(rest[strings.IndexByte(rest, '-')+1:], cutoff):
			// Its UUID says when it was stored: a save still on its way to
			// the pointer is younger than the grace period.
			return "snapshot no pointer names"
		}
	case strings.HasPrefix(rest, "segments/"):
		_, after, _, err := segment.ParseKey(key)
		switch {
		case err != nil:
			return ""
		case cat.forgotten[key]:
			return "segment below the retention floor"
		case !cat.segments[key] && after < cat.head.Archived && after < cat.head.Trimmed:
			return "segment no registry names"
		}
	case !strings.Contains(rest, "/") && strings.HasSuffix(rest, ".json"):
		// An old one-object delta body: its segment copy serves once the
		// log no longer names it.
		if cat.bodies[key] || !madeBefore(rest, cutoff) {
			return ""
		}
		return "delta body no log entry names"
	}
	return ""
}

// objectVersion is the newest version an object of a catalog holds: a
// snapshot's, a segment's last, an old delta body's time.
func objectVersion(name, rest string) (int64, bool) {
	switch {
	case strings.HasPrefix(rest, "snapshots/"):
		return snapshotVersion(rest)
	case strings.HasPrefix(rest, "segments/"):
		_, _, last, err := segment.ParseKey(name + "/" + rest)
		return last, err == nil
	case !strings.Contains(rest, "/") && strings.HasSuffix(rest, ".json"):
		id, err := uuid.Parse(strings.TrimSuffix(rest, ".json"))
		if err != nil || id.Version() != 7 {
			return 0, false
		}
		sec, nsec := id.Time().UnixTime()
		return time.Unix(sec, nsec).UnixMicro(), true
	}
	return 0, false
}

// madeBefore reports whether name ("<UUIDv7>.json") was made before
// cutoff; a name without that time is not.
func madeBefore(name string, cutoff time.Time) bool {
	id, err := uuid.Parse(strings.TrimSuffix(name, ".json"))
	if err != nil || id.Version() != 7 {
		return false
	}
	sec, nsec := id.Time().UnixTime()
	return time.Unix(sec, nsec).Before(cutoff)
}

// tombstoneVersion reads the version from "deleted/<version>.json".
func tombstoneVersion(rest string) (int64, bool) {
	digits, ok := strings.CutPrefix(rest, "deleted/")
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, ".json")
	v, err := strconv.ParseInt(digits, 10, 64)
	return v, ok && err == nil && v > 0 && v <= index.MaxVersion
}

// snapshotVersion reads the version from "snapshots/<version>-<uuid>.json".
func snapshotVersion(rest string) (int64, bool) {
	digits, _, ok := strings.Cut(strings.TrimPrefix(rest, "snapshots/"), "-")
	v, err := strconv.ParseInt(digits, 10, 64)
	return v, ok && err == nil && v > 0 && v <= index.MaxVersion
}

// gcDelete deletes objects: in batches where the store deletes in batches
// (S3: 1,000 keys a request), else a few at a time. What could not go is
// left to the next collection.
func (c *Client) gcDelete(ctx context.Context, store storage.Storage, objects []GCObject) error {
	keys := make([]string, len(objects))
	for i, obj := range objects {
		keys[i] = obj.Key
	}
	if err := storage.DeleteMany(ctx, store, keys, c.opt.FetchConcurrency); err != nil {
		return fmt.Errorf("%w (the next collection tries again)", storageError(err))
	}
	return nil
}
