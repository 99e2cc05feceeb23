package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/merge"
	"github.com/hkloudou/lake/v2/storage"
)

// ReadRequest asks for the document of one catalog: the current one, or
// (AtVersion, AtTime) the one it was at a point of its past.
type ReadRequest struct {
	// Catalog names the document.
	Catalog string
	// GenerateSnap saves the folded document as a new snapshot when the read
	// folded any delta, so that the next read starts from it. A failed save
	// does not fail the read (see SnapshotInfo.SaveError).
	GenerateSnap bool
	// Strict fails the read when a delta cannot apply (a conflicting path, a
	// failing JSON patch or merge script) instead of skipping it and listing
	// it in ReadResult.Skipped.
	Strict bool
	// AtVersion, when set, reads the document as it was at that version:
	// every delta with a version <= AtVersion folded, whether its entry is
	// still in the meta store or archived in a log segment. A version older
	// than the lake keeps (config retention) or older than the catalog's
	// last deletion is ErrHistoryExpired; one past both the catalog's last
	// version and the present is ErrInvalidVersion. GenerateSnap is ignored
	// and the document cache is not used.
	AtVersion int64
	// AtTime reads the document as it was at that time: versions are the
	// meta store's clock in microseconds at commit, so this is AtVersion
	// t.UnixMicro(). Set AtVersion or AtTime, not both.
	AtTime time.Time
}

// ReadResult is a catalog's document as of Version.
type ReadResult struct {
	// Data is the document as JSON text; it prints as text.
	//
	// Data is read-only: results of the same catalog version share one copy
	// with this client's document cache, so that a read of a large unchanged
	// document costs no copy. Decode it, print it, send it; to change the
	// bytes in place, copy them first. Appending to Data is safe (its
	// capacity is clipped, so append always allocates).
	Data JSON
	// Version is the newest delta the document includes (0 for a catalog
	// with no deltas). A write whose version is <= Version is in Data.
	Version int64
	// Snapshot tells where the fold started and whether a snapshot was saved.
	Snapshot SnapshotInfo
	// Skipped lists deltas that could not apply to the document (a path
	// through an array index out of range, a failing JSON patch). Every
	// reader skips the same ones.
	Skipped []SkippedDelta
}

// Decode unmarshals Data into v, like json.Unmarshal.
func (r *ReadResult) Decode(v any) error {
	return json.Unmarshal(r.Data, v)
}

// SnapshotInfo describes the snapshot side of a read.
type SnapshotInfo struct {
	// Version of the snapshot the fold started from; 0 when it started from
	// the empty document.
	Version int64
	// Deltas is how many deltas were folded on top of it.
	Deltas int
	// Saved is true when this read saved a new snapshot at ReadResult.Version.
	Saved bool
	// SaveError says why a requested snapshot was not saved, if it was not.
	SaveError error
	// Saving is true when a snapshot at ReadResult.Version is being saved in
	// the background (Option.SnapshotAsync); failures are logged.
	Saving bool
	// Behind is how many deltas the latest snapshot was behind the document
	// when it was read (before any save by this read): what a GenerateSnap
	// read compares with Option.SnapshotMinDeltas.
	Behind int64
	// Fallback, when not empty, says why the latest snapshot could not be
	// used and the document was folded from the log instead.
	Fallback string
	// Cached is the version of this client's in-memory copy of the document
	// that the fold started from instead of a snapshot (0: none). A read of
	// an unchanged catalog is served from it after one meta-store call.
	Cached int64
}

// SkippedDelta is a delta the fold did not apply, and why.
type SkippedDelta struct {
	Version int64
	Field   string
	Merge   string
	Reason  string
	err     error
}

// JSON is JSON text. It prints as text (fmt.Println(result.Data)) and
// marshals as the JSON it holds.
type JSON []byte

// String returns the JSON text.
func (j JSON) String() string { return string(j) }

// MarshalJSON returns j itself ("null" when empty).
func (j JSON) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// UnmarshalJSON stores a copy of data in a new slice: unlike
// json.RawMessage it never reuses j's array, which a ReadResult shares with
// the client's cache.
func (j *JSON) UnmarshalJSON(data []byte) error {
	*j = append(JSON(nil), data...)
	return nil
}

// errConfigDropped is what fold returns when it found the meta store reset
// and dropped the loaded config: the read starts again.
var errConfigDropped = errors.New("the meta store was reset; the config is loaded again")

// Read returns the catalog's current document: the latest snapshot with the
// deltas after it folded in version order. A catalog never written to reads
// as {} at version 0.
func (c *Client) Read(ctx context.Context, req ReadRequest) (*ReadResult, error) {
	if err := ValidateCatalog(req.Catalog); err != nil {
		return nil, fmt.Errorf("lake: read: %w", err)
	}
	at, past, err := pastVersion(req)
	if err != nil {
		return nil, fmt.Errorf("lake: read %q: %w", req.Catalog, err)
	}
	idx, s, err := c.ready(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: read %q: %w", req.Catalog, err)
	}
	if past {
		res, _, err := c.readAt(ctx, idx, s, req.Catalog, at, req.Strict)
		if err != nil {
			return nil, fmt.Errorf("lake: read %q at %d: %w", req.Catalog, at, err)
		}
		return res, nil
	}
	res, head, err := c.fold(ctx, idx, s, req.Catalog, req.Strict)
	if errors.Is(err, errConfigDropped) {
		// The meta store was reset under this read: read again with the
		// config as it is now.
		if idx, s, err = c.ready(ctx); err != nil {
			return nil, fmt.Errorf("lake: read %q: %w", req.Catalog, err)
		}
		res, head, err = c.fold(ctx, idx, s, req.Catalog, req.Strict)
	}
	if errors.Is(err, ErrBodyMissing) && s.holder == "" {
		// The log entries this read got may have been archived, trimmed and
		// their pack collected since (compaction and GC run concurrently):
		// the log read again no longer names them.
		res, head, err = c.fold(ctx, idx, s, req.Catalog, req.Strict)
	}
	if errors.Is(err, ErrBodyMissing) && s.holder != "" {
		return nil, fmt.Errorf("lake: read %q: %w (this client keeps bodies in memory, so bodies written by other processes are not here: store a config with durable storage)", req.Catalog, err)
	}
	if err != nil {
		return nil, fmt.Errorf("lake: read %q: %w", req.Catalog, err)
	}
	res.Snapshot.Behind = head.Pending
	// An unusable snapshot is replaced whatever the policy says: until it
	// is, every cold read folds the whole log.
	due := head.Pending >= int64(c.opt.SnapshotMinDeltas) || res.Snapshot.Fallback != ""
	if req.GenerateSnap && res.Version > head.Snapshot.Version && due {
		c.snapshot(ctx, idx, s.store, req.Catalog, head.Lineage(), res)
	}
	return res, nil
}

// fold returns the catalog's document and its head in the meta store.
func (c *Client) fold(ctx context.Context, idx index.Index, s *state, catalog string, strict bool) (*ReadResult, index.Head, error) {
	cached := c.cache.get(catalog)
	var after int64
	if cached != nil {
		after = cached.version
	}
	head, deltas, err := idx.Read(ctx, catalog, after)
	if err != nil {
		return nil, index.Head{}, err
	}
	if cached != nil && !c.justified(ctx, idx, catalog, cached, head) {
		if c.state.Load() == nil {
			return nil, index.Head{}, errConfigDropped
		}
		// The document in memory belongs to a log that no longer exists:
		// fold from the current one.
		cached = nil
		if head, deltas, err = idx.Read(ctx, catalog, 0); err != nil {
			return nil, index.Head{}, err
		}
	}
	if cached != nil && head.From != cached.version {
		// The document in memory is too far behind a newer snapshot: the
		// deltas start after the snapshot.
		cached = nil
	}
	doc, info := cached, SnapshotInfo{}
	if cached != nil {
		info.Cached = cached.version
	}
	if cached == nil || len(deltas) > 0 {
		if doc, info, err = c.foldShared(ctx, idx, s, catalog, cached, head, deltas); err != nil {
			return nil, index.Head{}, err
		}
	}
	// The skips of the folds behind doc still count, so that a read reports
	// the same whether or not this client had the document in memory.
	res := &ReadResult{Data: doc.members.Text, Version: doc.version, Snapshot: info, Skipped: slices.Clone(doc.skipped)}
	if strict && len(res.Skipped) > 0 {
		first := res.Skipped[0]
		return nil, index.Head{}, fmt.Errorf("delta at version %d (field %q, merge %q) does not apply: %w", first.Version, first.Field, first.Merge, first.err)
	}
	return res, head, nil
}

// justified reports whether the catalog's current head still justifies the
// cached document: the same log (epoch), no entry removed since (removals),
// and not behind it (version). A log that went backwards or was recreated
// means the meta store lost data; that is logged as an error, since writes
// acknowledged before may be gone.
func (c *Client) justified(ctx context.Context, idx index.Index, catalog string, cached *cachedDocument, head index.Head) bool {
	sameLog := head.Epoch == cached.epoch && head.Version >= cached.version
	if sameLog && head.Removals == cached.removals {
		return true
	}
	c.cache.drop(catalog)
	if sameLog {
		return false // an entry was removed (Check with Repair, RemoveDelta)
	}
	if head.Deleted >= cached.version {
		return false // the catalog was deleted (DeleteCatalog) since
	}
	s := c.state.Load()
	id, err := idx.LakeID(ctx)
	if err == nil && s != nil && id != s.lakeID {
		// The config went with the rest: load it again, so that this
		// client stores bodies where every other client of the lake now
		// looks for them (or refuses, as they do).
		c.cache.clear()
		c.state.CompareAndSwap(s, nil)
		c.opt.Logger.Error("lake: THE META STORE WAS RESET (its lake id changed): writes acknowledged before the reset may be lost; "+
			"every cached document was dropped and the config will be loaded again", "catalog", catalog, "old_lake_id", s.lakeID, "lake_id", id)
		return false
	}
	c.opt.Logger.Error("lake: the catalog's log in the meta store went back or was recreated since this client read it "+
		"(a meta store that lost data, or a failover): writes acknowledged before may be lost; the cached document was dropped",
		"catalog", catalog, "cached_version", cached.version, "head_version", head.Version,
		"cached_epoch", cached.epoch, "head_epoch", head.Epoch)
	return false
}

// foldShared folds deltas onto cached (or onto the head's snapshot, or the
// empty document) and caches the result. Concurrent reads that start from
// the same point and reach the same head version would fold the very same
// document, so they share one fold: each has made its own meta-store read,
// so each still sees every write acknowledged before it began.
func (c *Client) foldShared(ctx context.Context, idx index.Index, s *state, catalog string, cached *cachedDocument, head index.Head, deltas []index.Delta) (*cachedDocument, SnapshotInfo, error) {
	start := "e"
	switch {
	case cached != nil:
		start = "c" + strconv.FormatInt(cached.version, 10)
	case head.Snapshot.Version > 0:
		start = "s" + head.Snapshot.Key
	}
	key := catalog + "\x00" + start + "\x00" + strconv.FormatInt(head.Version, 10) +
		"\x00" + strconv.FormatInt(head.Epoch, 10) + "\x00" + strconv.FormatInt(head.Removals, 10)
	type folded struct {
		doc  *cachedDocument
		info SnapshotInfo
	}
	for {
		ch := c.folds.DoChan(key, func() (any, error) {
			doc, info, err := c.foldFrom(ctx, idx, s, catalog, cached, head, deltas)
			if err != nil && ctx.Err() != nil {
				err = &foldAbandoned{err}
			}
			return folded{doc, info}, err
		})
		var v any
		var err error
		select {
		case r := <-ch:
			v, err = r.Val, r.Err
		case <-ctx.Done():
			return nil, SnapshotInfo{}, ctx.Err()
		}
		var abandoned *foldAbandoned
		if errors.As(err, &abandoned) {
			if ctx.Err() == nil {
				continue // another read gave up on the fold; this one has not
			}
			err = abandoned.err
		}
		if err != nil {
			return nil, SnapshotInfo{}, err
		}
		return v.(folded).doc, v.(folded).info, nil
	}
}

// foldAbandoned is the error of a shared fold cut short because the read
// that ran it gave up (its context ended): no answer for the reads that
// shared the fold and are still waiting.
type foldAbandoned struct{ err error }

func (e *foldAbandoned) Error() string { return e.err.Error() }
func (e *foldAbandoned) Unwrap() error { return e.err }

// foldChunk is how many deltas a fold fetches before applying them, so
// that a long log is never held in memory whole.
const foldChunk = 64

// foldFrom is the fold itself (see foldShared).
func (c *Client) foldFrom(ctx context.Context, idx index.Index, s *state, catalog string, cached *cachedDocument, head index.Head, deltas []index.Delta) (*cachedDocument, SnapshotInfo, error) {
	var info SnapshotInfo
	var doc any = map[string]any{}
	var version int64
	var skipped []SkippedDelta
	if cached == nil && head.Snapshot.Version > 0 {
		snap, err := c.loadSnapshot(ctx, s.store, head.Snapshot)
		switch {
		case err == nil:
			doc = snap
			version = head.Snapshot.Version
			info.Version = head.Snapshot.Version
		case errors.Is(err, ErrCorrupt), errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrDecrypt):
			// A snapshot is a cache: fold the deltas it covered from the log.
			c.opt.Logger.Warn("lake: snapshot unusable, folding from the log", "catalog", catalog,
				"snapshot", head.Snapshot.Key, "error", err)
			info.Fallback = err.Error()
			if head.Trimmed > 0 {
				// The log before the snapshot is partly in segments: fold
				// the document at the snapshot's version from the past.
				past, obj, err := c.readAt(ctx, idx, s, catalog, head.Snapshot.Version, false)
				if err != nil {
					return nil, info, err
				}
				doc, version, skipped = obj, past.Version, past.Skipped
				break
			}
			older, err := idx.Log(ctx, catalog, 0, head.Snapshot.Version)
			if err != nil {
				return nil, info, err
			}
			deltas = append(older, deltas...)
		default:
			return nil, info, err
		}
	}
	// A delta changes only the top-level member its path starts with (a
	// delta at the root, any of them): only those are copied before the
	// fold and encoded after it.
	changed, all := map[string]bool{}, false
	paths := make([][]string, len(deltas))
	for i, d := range deltas {
		path, err := parseField(d)
		if err != nil {
			return nil, info, err
		}
		paths[i] = path
		if len(path) == 0 {
			all = true
		} else {
			changed[path[0]] = true
		}
	}
	var prev *merge.Members
	if cached != nil {
		doc = cloneMembers(cached.doc, changed, all)
		version = cached.version
		info.Cached = cached.version
		skipped = slices.Clone(cached.skipped)
		if !all {
			prev = cached.members
		}
	}
	for start := 0; start < len(deltas); start += foldChunk {
		chunk := deltas[start:min(start+foldChunk, len(deltas))]
		bodies, err := c.fetchBodies(ctx, s, catalog, chunk)
		if err != nil {
			return nil, info, err
		}
		for i, d := range chunk {
			version = d.Version
			var skip error
			if doc, skip, err = c.applyEntry(ctx, idx, s, catalog, doc, d, paths[start+i], bodies[i]); err != nil {
				return nil, info, err
			}
			bodies[i] = nil
			if skip != nil {
				skipped = append(skipped, SkippedDelta{Version: d.Version, Field: d.Field, Merge: d.Merge, Reason: skip.Error(), err: skip})
			}
		}
	}
	info.Deltas = len(deltas)
	obj, members, err := c.encodeFolded(doc, prev, changed, version)
	if err != nil {
		return nil, info, err
	}
	folded := &cachedDocument{version: version, epoch: head.Epoch, removals: head.Removals, doc: obj, members: members, skipped: slices.Clip(skipped)}
	c.cache.put(catalog, folded)
	return folded, info, nil
}

// encodeFolded encodes a folded document (prev and changed as
// merge.EncodeMembers takes them) and holds it to Option.MaxDocumentSize.
func (c *Client) encodeFolded(doc any, prev *merge.Members, changed map[string]bool, version int64) (map[string]any, *merge.Members, error) {
	obj, isObject := doc.(map[string]any)
	if !isObject {
		return nil, nil, fmt.Errorf("%w: the folded document is %T, not an object", ErrCorrupt, doc)
	}
	members, err := merge.EncodeMembers(obj, prev, changed)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: encode document: %w", ErrCorrupt, err)
	}
	if int64(len(members.Text)) > c.opt.MaxDocumentSize {
		return nil, nil, fmt.Errorf("%w: the document at version %d is %d bytes of JSON, the limit is %d (Option.MaxDocumentSize)",
			ErrDocumentTooLarge, version, len(members.Text), c.opt.MaxDocumentSize)
	}
	return obj, members, nil
}

// applyEntry applies one log entry (its parsed path and its body) to doc.
// An entry that cannot apply (a conflicting path, a failing patch or merge
// script, a body only another process held) is skipped: skip says why, and
// doc is unchanged. err is a corrupt entry or a failure to load its script.
func (c *Client) applyEntry(ctx context.Context, idx index.Index, s *state, catalog string, doc any, d index.Delta, path []string, body []byte) (_ any, skip, err error) {
	if elsewhere(d, s) {
		return doc, fmt.Errorf("%w: its body lived only in the memory of another process (memory storage %s)", ErrBodyMissing, d.Holder), nil
	}
	md, err := c.mergeDelta(ctx, idx, catalog, d, path, body)
	if err != nil {
		return doc, nil, err
	}
	next, err := merge.Apply(doc, md)
	switch {
	case errors.Is(err, merge.ErrConflict), errors.Is(err, merge.ErrScriptFailed):
		return next, err, nil
	case err != nil:
		return doc, nil, fmt.Errorf("%w: delta at version %d (field %q, merge %q, object %s): %w",
			ErrCorrupt, d.Version, d.Field, d.Merge, deltaObject(d), err)
	}
	return next, nil, nil
}

// elsewhere reports whether d's body was kept in the memory of a process
// other than this one, where no reader here can ever fetch it.
func elsewhere(d index.Delta, s *state) bool {
	return d.Holder != "" && d.Holder != s.holder
}

// cloneMembers copies doc for a fold that changes only the top-level members
// in changed (or any, with all): those are deep-copied, the others shared,
// since the fold does not touch them.
func cloneMembers(doc map[string]any, changed map[string]bool, all bool) map[string]any {
	if all {
		return merge.Clone(doc).(map[string]any)
	}
	copied := maps.Clone(doc)
	for name := range changed {
		if v, ok := doc[name]; ok {
			copied[name] = merge.Clone(v)
		}
	}
	return copied
}

// parseField parses a log entry's field path, which a writer checked: a
// path that does not parse is a corrupt entry.
func parseField(d index.Delta) ([]string, error) {
	path, err := merge.ParsePath(d.Field)
	if err != nil {
		return nil, fmt.Errorf("%w: delta at version %d: %w", ErrCorrupt, d.Version, err)
	}
	return path, nil
}

// mergeDelta turns a log entry and its body into what merge.Apply takes.
// path is d.Field parsed (parseField).
func (c *Client) mergeDelta(ctx context.Context, idx index.Index, catalog string, d index.Delta, path []string, body []byte) (merge.Delta, error) {
	t, err := merge.ParseType(d.Merge)
	if err != nil {
		return merge.Delta{}, fmt.Errorf("%w: delta at version %d: %w", ErrCorrupt, d.Version, err)
	}
	md := merge.Delta{Type: t, Path: path, Value: body}
	if t == merge.ScriptType {
		if md.Script, err = c.loadScript(ctx, idx, d.Script); err != nil {
			return merge.Delta{}, fmt.Errorf("delta at version %d: %w", d.Version, err)
		}
		md.Context = merge.ScriptContext{Catalog: catalog, Field: d.Field, Version: d.Version}
	}
	return md, nil
}
