package lake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/internal/segment"
	"github.com/hkloudou/lake/v2/merge"
	"github.com/hkloudou/lake/v2/storage"
)

// Reads of the past: a catalog as it was at a version or a time
// (ReadRequest.AtVersion, AtTime), and the changes that touched a field
// (History). The newest entries of a catalog's log are in the meta store;
// compaction moves older ones into log segments (compact.go). Both read
// through pastLog, which takes each entry from wherever it is now.

// pastEntry is a log entry of a catalog's past and, when a segment held
// it, its body (nil for a delete or a body held in a process's memory).
type pastEntry struct {
	index.Delta
	body    []byte
	archive bool // from a segment: body is the whole truth
}

// pastLog returns the catalog's entries with after < version <= upTo in
// version order, from the segments that hold the trimmed ones and from the
// log, and the head as Range read it. A part of that range that no segment
// holds any more is ErrHistoryExpired when retention explains it, else
// ErrCorrupt.
func (c *Client) pastLog(ctx context.Context, idx index.Index, s *state, catalog string, after, upTo int64) (index.Head, []pastEntry, error) {
	head, segs, deltas, err := idx.Range(ctx, catalog, after, upTo)
	if err != nil {
		return index.Head{}, nil, err
	}
	var entries []pastEntry
	if stop := min(upTo, head.Trimmed); after < stop {
		// Segments above the trim floor are copies of what the log holds.
		segs = slices.DeleteFunc(segs, func(sg index.Segment) bool { return sg.After >= stop })
		if err := c.checkCoverage(s, catalog, segs, after, stop); err != nil {
			return head, nil, err
		}
		loaded := make([]segment.Segment, len(segs))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(c.opt.FetchConcurrency)
		for i, sg := range segs {
			g.Go(func() (err error) {
				loaded[i], err = c.loadSegment(gctx, s, catalog, sg)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return head, nil, err
		}
		for _, sg := range loaded {
			for _, e := range sg.Entries {
				if e.Version <= after || e.Version > stop {
					continue
				}
				entries = append(entries, pastEntry{
					Delta:   index.Delta{Version: e.Version, ID: e.ID, Field: e.Field, Merge: e.Merge, Script: e.Script, Holder: e.Holder},
					body:    e.Body,
					archive: true,
				})
			}
		}
	}
	for _, d := range deltas {
		entries = append(entries, pastEntry{Delta: d})
	}
	return head, entries, nil
}

// checkCoverage reports whether segs hold every entry in (after, stop]
// without a gap.
func (c *Client) checkCoverage(s *state, catalog string, segs []index.Segment, after, stop int64) error {
	from := after
	for _, sg := range segs {
		if sg.After > from {
			break
		}
		from = max(from, sg.Last)
	}
	if from >= stop {
		return nil
	}
	if floor := s.historyFloor(); from < floor {
		return &HistoryExpiredError{Catalog: catalog, At: from + 1, Floor: floor, Reason: "the lake's retention"}
	}
	return fmt.Errorf("%w: the archive of catalog %q holds no segment for the versions after %d (up to %d)", ErrCorrupt, catalog, from, stop)
}

// loadSegment gets and decodes a registered segment and checks that it is
// the one the registry names.
func (c *Client) loadSegment(ctx context.Context, s *state, catalog string, sg index.Segment) (segment.Segment, error) {
	raw, err := s.store.Get(ctx, sg.Key)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			if floor := s.historyFloor(); sg.Last < floor {
				return segment.Segment{}, &HistoryExpiredError{Catalog: catalog, At: sg.After + 1, Floor: floor, Reason: "the lake's retention"}
			}
			return segment.Segment{}, fmt.Errorf("%w: segment %s of catalog %q: %w", ErrCorrupt, sg.Key, catalog, err)
		}
		return segment.Segment{}, fmt.Errorf("segment %s: %w", sg.Key, storageError(err))
	}
	seg, err := segment.Decode(raw)
	if err != nil {
		return segment.Segment{}, fmt.Errorf("%w: segment %s: %w", ErrCorrupt, sg.Key, err)
	}
	if seg.Catalog != catalog || seg.After != sg.After || seg.Last != sg.Last {
		return segment.Segment{}, fmt.Errorf("%w: segment %s holds %q (%d, %d], the registry says %q (%d, %d]",
			ErrCorrupt, sg.Key, seg.Catalog, seg.After, seg.Last, catalog, sg.After, sg.Last)
	}
	return seg, nil
}

// historyFloor is the oldest version the lake's retention keeps now (0:
// everything).
func (s *state) historyFloor() int64 {
	if s.cfg == nil {
		return 0
	}
	keep := s.cfg.RetentionPeriod()
	if keep <= 0 {
		return 0
	}
	return max(clock().Add(-keep).UnixMicro(), 0)
}

// pastVersion returns the version a read of the past asks for, or
// ok=false for a read of the present.
func pastVersion(req ReadRequest) (at int64, ok bool, err error) {
	switch {
	case req.AtVersion != 0 && !req.AtTime.IsZero():
		return 0, false, fmt.Errorf("%w: AtVersion and AtTime are both set: give one", ErrInvalidVersion)
	case req.AtVersion < 0 || req.AtVersion > index.MaxVersion:
		return 0, false, fmt.Errorf("%w: %d is not a version (0 to 2^53-1)", ErrInvalidVersion, req.AtVersion)
	case req.AtVersion > 0:
		return req.AtVersion, true, nil
	case !req.AtTime.IsZero():
		at := req.AtTime.UnixMicro()
		if at <= 0 || at > index.MaxVersion {
			return 0, false, fmt.Errorf("%w: time %s is outside the versions a lake can hold", ErrInvalidVersion, req.AtTime.Format(time.RFC3339Nano))
		}
		return at, true, nil
	}
	return 0, false, nil
}

// maxSnapshotTries bounds how many unusable snapshots a read of the past
// steps over before it folds from the start of the archive.
const maxSnapshotTries = 4

// readAt returns the catalog as it was at version at: the newest retained
// snapshot at or below it, and the deltas after it up to at, from segments
// and the log. An unusable snapshot is stepped over for an older one.
func (c *Client) readAt(ctx context.Context, idx index.Index, s *state, catalog string, at int64, strict bool) (*ReadResult, map[string]any, error) {
	if floor := s.historyFloor(); at < floor {
		return nil, nil, &HistoryExpiredError{Catalog: catalog, At: at, Floor: floor, Reason: "the lake's retention"}
	}
	snaps, err := idx.Snapshots(ctx, catalog, at, maxSnapshotTries)
	if err != nil {
		return nil, nil, err
	}
	below := at // only snapshots at or below this one may be used
	var fallback string
	for try := 0; ; try++ {
		var start index.SnapshotPointer
		for _, p := range snaps {
			if p.Version <= below {
				start = p
				break
			}
		}
		if try >= maxSnapshotTries {
			start = index.SnapshotPointer{}
		}
		head, entries, err := c.pastLog(ctx, idx, s, catalog, start.Version, at)
		if err != nil {
			return nil, nil, err
		}
		if at < head.Deleted {
			return nil, nil, &HistoryExpiredError{Catalog: catalog, At: at, Floor: head.Deleted + 1, Reason: "the catalog was deleted"}
		}
		if at > head.Version && at > time.Now().UnixMicro() {
			return nil, nil, fmt.Errorf("%w: version %d of catalog %q is in the future (its last version is %d)", ErrInvalidVersion, at, catalog, head.Version)
		}
		// A catalog saved before snapshot history has only its head's
		// pointer; a newer usable start is that one.
		if p := head.Snapshot; p.Version > start.Version && p.Version <= below && try < maxSnapshotTries && !slices.Contains(snaps, p) {
			start = p
			entries = slices.DeleteFunc(entries, func(e pastEntry) bool { return e.Version <= p.Version })
		}
		var doc any = map[string]any{}
		if start.Version > 0 {
			snap, err := c.loadSnapshot(ctx, s.store, start)
			if err != nil {
				if errors.Is(err, ErrCorrupt) || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrDecrypt) {
					fallback = err.Error()
					below = start.Version - 1
					continue
				}
				return nil, nil, err
			}
			doc = snap
		}
		res, obj, err := c.foldPast(ctx, idx, s, catalog, doc, start.Version, entries, strict)
		if err != nil {
			return nil, nil, err
		}
		res.Snapshot.Fallback = fallback
		return res, obj, nil
	}
}

// foldPast folds entries onto doc (the snapshot at version from, or the
// empty document) the way a read of the present folds: the same skips,
// the same encoding, so that a version reads the same then and now.
func (c *Client) foldPast(ctx context.Context, idx index.Index, s *state, catalog string, doc any, from int64, entries []pastEntry, strict bool) (*ReadResult, map[string]any, error) {
	res := &ReadResult{Version: from, Snapshot: SnapshotInfo{Version: from, Deltas: len(entries)}}
	for start := 0; start < len(entries); start += foldChunk {
		chunk := entries[start:min(start+foldChunk, len(entries))]
		var live []index.Delta
		for _, e := range chunk {
			if !e.archive {
				live = append(live, e.Delta)
			}
		}
		var bodies [][]byte
		if len(live) > 0 {
			var err error
			if bodies, err = c.fetchBodies(ctx, s, catalog, live); err != nil {
				return nil, nil, err
			}
		}
		for _, e := range chunk {
			body := e.body
			if !e.archive {
				body, bodies = bodies[0], bodies[1:]
			}
			res.Version = e.Version
			path, err := parseField(e.Delta)
			if err != nil {
				return nil, nil, err
			}
			var skip error
			if doc, skip, err = c.applyEntry(ctx, idx, s, catalog, doc, e.Delta, path, body); err != nil {
				return nil, nil, err
			}
			if skip != nil {
				res.Skipped = append(res.Skipped, SkippedDelta{Version: e.Version, Field: e.Field, Merge: e.Merge, Reason: skip.Error(), err: skip})
			}
		}
	}
	obj, members, err := c.encodeFolded(doc, nil, nil, res.Version)
	if err != nil {
		return nil, nil, err
	}
	res.Data = members.Text
	if strict && len(res.Skipped) > 0 {
		first := res.Skipped[0]
		return nil, nil, fmt.Errorf("delta at version %d (field %q, merge %q) does not apply: %w", first.Version, first.Field, first.Merge, first.err)
	}
	return res, obj, nil
}

// DefaultHistoryLimit is how many changes History returns when the request
// sets no Limit; MaxHistoryLimit is the most it returns at once.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000
)

// HistoryRequest asks for the changes of one catalog, newest first.
type HistoryRequest struct {
	Catalog string
	// Field limits the changes to those that touched this field: a delta at
	// the field, under it, or above it (which may have replaced it). ""
	// lists every change.
	Field string
	// Before and After bound the versions: After < version < Before (0:
	// no bound). To page, pass the Next of the previous result as Before.
	Before int64
	After  int64
	// Limit is the most changes to return (0: DefaultHistoryLimit; at
	// most MaxHistoryLimit).
	Limit int
}

// Change is one delta of a catalog's history.
type Change struct {
	Version int64     `json:"version"`
	Time    time.Time `json:"time"`
	Field   string    `json:"field"`
	Merge   string    `json:"merge"`
	// Value is the delta's value as written (absent for a delete, and for a
	// body kept in another process's memory).
	Value JSON `json:"value,omitempty"`
}

// HistoryResult is one page of changes.
type HistoryResult struct {
	Changes []Change `json:"changes"`
	// Next is the Before of the next page; 0 when there is none.
	Next int64 `json:"next"`
}

// History lists the changes of a catalog that touched req.Field, newest
// first, whether their entries are still in the meta store or archived in
// segments. Changes older than the lake's retention are not listed.
func (c *Client) History(ctx context.Context, req HistoryRequest) (*HistoryResult, error) {
	if err := ValidateCatalog(req.Catalog); err != nil {
		return nil, fmt.Errorf("lake: history: %w", err)
	}
	field, err := merge.ParsePath(req.Field)
	if err != nil {
		return nil, fmt.Errorf("lake: history of %q: %w", req.Catalog, err)
	}
	limit := req.Limit
	switch {
	case limit < 0:
		return nil, fmt.Errorf("lake: history of %q: %w: limit %d", req.Catalog, ErrInvalidVersion, limit)
	case limit == 0:
		limit = DefaultHistoryLimit
	}
	limit = min(limit, MaxHistoryLimit)
	if req.After < 0 || req.Before < 0 || req.After > index.MaxVersion || req.Before > index.MaxVersion+1 {
		return nil, fmt.Errorf("lake: history of %q: %w: bounds (%d, %d)", req.Catalog, ErrInvalidVersion, req.After, req.Before)
	}
	idx, s, err := c.ready(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: history of %q: %w", req.Catalog, err)
	}
	upTo := int64(index.MaxVersion)
	if req.Before > 0 {
		upTo = req.Before - 1
	}
	after := max(req.After, s.historyFloor()-1, 0)
	res := &HistoryResult{Changes: []Change{}}
	if after >= upTo {
		return res, nil
	}
	picked, err := c.newestChanges(ctx, idx, s, req.Catalog, field, after, upTo, limit+1)
	if err != nil {
		return nil, fmt.Errorf("lake: history of %q: %w", req.Catalog, err)
	}
	if len(picked) > limit {
		picked = picked[:limit]
		res.Next = picked[limit-1].Version
	}
	var live []index.Delta
	for _, e := range picked {
		if !e.archive {
			live = append(live, e.Delta)
		}
	}
	bodies, err := c.fetchBodies(ctx, s, req.Catalog, live)
	if err != nil {
		return nil, fmt.Errorf("lake: history of %q: %w", req.Catalog, err)
	}
	for _, e := range picked {
		body := e.body
		if !e.archive {
			body, bodies = bodies[0], bodies[1:]
		}
		ch := Change{Version: e.Version, Time: time.UnixMicro(e.Version).UTC(), Field: e.Field, Merge: e.Merge}
		if len(body) > 0 && !elsewhere(e.Delta, s) {
			ch.Value = body
		}
		res.Changes = append(res.Changes, ch)
	}
	return res, nil
}

// newestChanges returns, newest first, up to n entries with after <
// version <= upTo that touch field: first from the log, then from the
// segments, each fetched only when the ones after it did not fill n.
func (c *Client) newestChanges(ctx context.Context, idx index.Index, s *state, catalog string, field []string, after, upTo int64, n int) ([]pastEntry, error) {
	head, segs, deltas, err := idx.Range(ctx, catalog, after, upTo)
	if err != nil {
		return nil, err
	}
	var picked []pastEntry
	pick := func(e pastEntry) error {
		path, err := parseField(e.Delta)
		if err == nil && touches(path, field) {
			picked = append(picked, e)
		}
		return err
	}
	for i := len(deltas) - 1; i >= 0 && len(picked) < n; i-- {
		if err := pick(pastEntry{Delta: deltas[i]}); err != nil {
			return nil, err
		}
	}
	stop := min(upTo, head.Trimmed)
	if len(picked) >= n || after >= stop {
		return picked, nil
	}
	segs = slices.DeleteFunc(segs, func(sg index.Segment) bool { return sg.After >= stop })
	if err := c.checkCoverage(s, catalog, segs, after, stop); err != nil {
		return nil, err
	}
	for k := len(segs) - 1; k >= 0 && len(picked) < n; k-- {
		seg, err := c.loadSegment(ctx, s, catalog, segs[k])
		if err != nil {
			return nil, err
		}
		for i := len(seg.Entries) - 1; i >= 0 && len(picked) < n; i-- {
			e := seg.Entries[i]
			if e.Version <= after || e.Version > stop {
				continue
			}
			entry := pastEntry{Delta: index.Delta{Version: e.Version, ID: e.ID, Field: e.Field, Merge: e.Merge, Script: e.Script, Holder: e.Holder}, body: e.Body, archive: true}
			if err := pick(entry); err != nil {
				return nil, err
			}
		}
	}
	return picked, nil
}

// touches reports whether a delta at path changes field: one is a prefix
// of the other.
func touches(path, field []string) bool {
	n := min(len(path), len(field))
	return slices.Equal(path[:n], field[:n])
}

// ParseAt reads a point of a catalog's past written as text, as the HTTP
// API's ?at= and the CLI's --at take it: a version (a positive integer) or
// an RFC 3339 time, fractional seconds and offsets allowed. It returns the
// ReadRequest.AtVersion or AtTime to set; anything else is
// ErrInvalidVersion.
func ParseAt(text string) (version int64, at time.Time, err error) {
	digits := text != ""
	for i := 0; i < len(text); i++ {
		digits = digits && text[i] >= '0' && text[i] <= '9'
	}
	if digits {
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil || v <= 0 || v > index.MaxVersion {
			return 0, time.Time{}, fmt.Errorf("%w: %s is not a version (1 to 2^53-1)", ErrInvalidVersion, text)
		}
		return v, time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("%w: %q is neither a version (a positive integer) nor an RFC 3339 time such as 2026-12-01T10:00:00Z", ErrInvalidVersion, text)
	}
	return 0, t, nil
}
