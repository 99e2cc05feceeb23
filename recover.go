package lake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/internal/pack"
	"github.com/hkloudou/lake/v2/internal/segment"
	"github.com/hkloudou/lake/v2/storage"
)

// Recovery rebuilds a lost or emptied index from object storage alone.
// For each catalog it finds in the store:
//
//   - its segments, chained from the oldest, restore its log exactly, at
//     the original versions, up to the archive's end (the recovery point:
//     the last run of the archiver, CompactionPolicy.Interval);
//   - its snapshots at or below that point come back as its snapshot
//     history, the newest as its pointer;
//   - deltas its packs hold that no segment does (committed after the last
//     archive, or never committed at all: a pack cannot tell) are logged
//     again after that, in the order of their pack IDs (the writers'
//     clocks), at new versions: best effort;
//   - everything up to its last tombstone (DeleteCatalog) stays deleted.

// RecoverOptions tunes a recovery.
type RecoverOptions struct {
	// DryRun reports what would be rebuilt and writes nothing.
	DryRun bool
	// Force runs on an index that still has catalogs: only the catalogs
	// it lacks are rebuilt.
	Force bool
}

// RecoveredCatalog says what a recovery rebuilt of one catalog.
type RecoveredCatalog struct {
	Name string `json:"name"`
	// Archived is the version up to which its log is exact.
	Archived int64 `json:"archived"`
	// Snapshot is its restored snapshot pointer's version.
	Snapshot  int64 `json:"snapshot"`
	Segments  int   `json:"segments"`
	Snapshots int   `json:"snapshots"`
	// Exact deltas came back at their versions; BestEffort ones from
	// packs, at new versions after the exact ones.
	Exact      int `json:"exact"`
	BestEffort int `json:"best_effort"`
	// Skipped says why the catalog was not rebuilt.
	Skipped string `json:"skipped,omitempty"`
}

// RecoverReport says what a recovery did (would do, in a dry run).
type RecoverReport struct {
	DryRun   bool               `json:"dry_run"`
	Catalogs []RecoveredCatalog `json:"catalogs"`
	// Packs read for best-effort deltas, and objects the recovery could
	// not use (a segment that does not decode, a pack whose entry table is
	// damaged), each with why.
	Packs    int      `json:"packs"`
	Unusable []string `json:"unusable,omitempty"`
	// Scripts is how many merge script sources came back from the bucket.
	Scripts int `json:"scripts"`
}

// ErrIndexNotEmpty: Recover found catalogs in the index and was not forced;
// nothing was written.
var ErrIndexNotEmpty = errors.New("the index still has catalogs")

// packSkew bounds how long before its commit a delta's pack may have been
// made (the pack timeout) plus clock skew between writers and the meta
// store: a pack older than a catalog's archive end by more than this holds
// none of its unarchived deltas.
const packSkew = 2 * time.Minute

// found is what the store holds of one catalog.
type found struct {
	segments  []index.Segment
	snapshots []index.SnapshotPointer
	deleted   int64
}

// Recover rebuilds the index from the lake's object store (see
// RecoverOptions). The lake's config must be in the index already (lake
// recover --config stores it first).
func (c *Client) Recover(ctx context.Context, opts RecoverOptions) (*RecoverReport, error) {
	idx, s, err := c.ready(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: recover: %w", err)
	}
	if err := s.listable(); err != nil {
		return nil, fmt.Errorf("lake: recover: %w", err)
	}
	existing, err := idx.Catalogs(ctx, "", 1)
	if err != nil {
		return nil, fmt.Errorf("lake: recover: %w", err)
	}
	if len(existing) > 0 && !opts.Force {
		return nil, fmt.Errorf("lake: recover: %w (%q and maybe more): recover onto an empty index, or force it to rebuild only the catalogs it lacks", ErrIndexNotEmpty, existing[0].Name)
	}
	catalogs, packs, err := c.survey(ctx, s.store)
	if err != nil {
		return nil, fmt.Errorf("lake: recover: %w", err)
	}
	report := &RecoverReport{DryRun: opts.DryRun, Catalogs: []RecoveredCatalog{}}
	// Merge scripts first: folding an archive may need them.
	if report.Scripts, err = c.recoverScripts(ctx, idx, s.store, opts.DryRun); err != nil {
		return report, fmt.Errorf("lake: recover: %w", err)
	}
	names := make([]string, 0, len(catalogs))
	for name := range catalogs {
		names = append(names, name)
	}
	sort.Strings(names)
	exactIDs := map[string]map[string]bool{} // catalog -> IDs its segments hold
	archived := map[string]int64{}
	versions := map[string]int64{}
	for _, name := range names {
		rc, ids, version, err := c.recoverCatalog(ctx, idx, s, name, catalogs[name], opts.DryRun, report)
		if err != nil {
			return report, fmt.Errorf("lake: recover %q: %w", name, err)
		}
		report.Catalogs = append(report.Catalogs, rc)
		if rc.Skipped == "" {
			exactIDs[name], archived[name], versions[name] = ids, rc.Archived, version
		}
	}
	tail, err := c.packTail(ctx, s, packs, catalogs, exactIDs, archived, report)
	if err != nil {
		return report, fmt.Errorf("lake: recover: %w", err)
	}
	for i := range report.Catalogs {
		rc := &report.Catalogs[i]
		entries := tail[rc.Name]
		if rc.Skipped != "" || len(entries) == 0 {
			continue
		}
		rc.BestEffort = len(entries)
		if opts.DryRun {
			continue
		}
		commits := make([]index.Entry, len(entries))
		for k, d := range entries {
			commits[k] = index.Entry{Catalog: rc.Name, Delta: d}
		}
		for chunk := range slices.Chunk(commits, 256) {
			_, errs := idx.CommitAll(ctx, chunk)
			if err := errors.Join(errs...); err != nil {
				return report, fmt.Errorf("lake: recover %q: log the deltas of its packs: %w", rc.Name, err)
			}
		}
	}
	// Catalogs only packs know of (written, never archived).
	for name, entries := range tail {
		if _, listed := catalogs[name]; listed {
			continue
		}
		if head, _, err := idx.Read(ctx, name, index.MaxVersion); err != nil {
			return report, fmt.Errorf("lake: recover %q: %w", name, err)
		} else if head.Version > 0 {
			continue // the index has it (a forced recovery)
		}
		rc := RecoveredCatalog{Name: name, BestEffort: len(entries)}
		if !opts.DryRun {
			commits := make([]index.Entry, len(entries))
			for k, d := range entries {
				commits[k] = index.Entry{Catalog: name, Delta: d}
			}
			for chunk := range slices.Chunk(commits, 256) {
				if _, errs := idx.CommitAll(ctx, chunk); errors.Join(errs...) != nil {
					return report, fmt.Errorf("lake: recover %q: log the deltas of its packs: %w", name, errors.Join(errs...))
				}
			}
		}
		report.Catalogs = append(report.Catalogs, rc)
	}
	sort.Slice(report.Catalogs, func(i, j int) bool { return report.Catalogs[i].Name < report.Catalogs[j].Name })
	c.cache.clear()
	return report, nil
}

// survey lists the store: each catalog's segments, snapshots and last
// tombstone, and the pack IDs in order.
func (c *Client) survey(ctx context.Context, store storage.Storage) (map[string]*found, []string, error) {
	catalogs := map[string]*found{}
	var packs []string
	get := func(name string) *found {
		f := catalogs[name]
		if f == nil {
			f = &found{}
			catalogs[name] = f
		}
		return f
	}
	for after := ""; ; {
		page, err := storage.List(ctx, store, "", after, 1000)
		if err != nil {
			return nil, nil, fmt.Errorf("list the store: %w", storageError(err))
		}
		for _, obj := range page {
			if id, ok := strings.CutPrefix(obj.Key, pack.Prefix); ok {
				if pack.ValidID(id) {
					packs = append(packs, id)
				}
				continue
			}
			name, rest, _ := strings.Cut(obj.Key, "/")
			if ValidateCatalog(name) != nil {
				continue
			}
			switch {
			case strings.HasPrefix(rest, "segments/"):
				if _, a, l, err := segment.ParseKey(obj.Key); err == nil {
					get(name).segments = append(get(name).segments, index.Segment{After: a, Last: l, Key: obj.Key})
				}
			case strings.HasPrefix(rest, "snapshots/"):
				if v, ok := snapshotVersion(rest); ok {
					get(name).snapshots = append(get(name).snapshots, index.SnapshotPointer{Version: v, Key: obj.Key})
				}
			case strings.HasPrefix(rest, "deleted/"):
				if d, ok := tombstoneVersion(rest); ok {
					get(name).deleted = max(get(name).deleted, d)
				}
			}
		}
		if len(page) < 1000 {
			sort.Strings(packs)
			return catalogs, packs, nil
		}
		after = page[len(page)-1].Key
	}
}

// chain picks from segs (all ending after deleted) the contiguous run from
// the oldest start: where two overlap, the longer one.
func chain(segs []index.Segment) []index.Segment {
	if len(segs) == 0 {
		return nil
	}
	sort.Slice(segs, func(i, j int) bool {
		if segs[i].After != segs[j].After {
			return segs[i].After < segs[j].After
		}
		return segs[i].Last > segs[j].Last
	})
	out := []index.Segment{segs[0]}
	for _, sg := range segs[1:] {
		if sg.After == out[len(out)-1].Last {
			out = append(out, sg)
		}
	}
	return out
}

// recoverCatalog restores one catalog from its segments and snapshots and
// returns the delta IDs the segments hold and the restored version.
func (c *Client) recoverCatalog(ctx context.Context, idx index.Index, s *state, name string, f *found, dryRun bool, report *RecoverReport) (RecoveredCatalog, map[string]bool, int64, error) {
	rc := RecoveredCatalog{Name: name}
	head, _, err := idx.Read(ctx, name, index.MaxVersion)
	if err != nil {
		return rc, nil, 0, err
	}
	if head.Version > 0 {
		rc.Skipped = "the index has it"
		return rc, nil, 0, nil
	}
	live := slices.DeleteFunc(slices.Clone(f.segments), func(sg index.Segment) bool { return sg.Last <= f.deleted })
	segs := chain(live)
	ids := map[string]bool{}
	var log []pastEntry
	var archived int64
	for _, sg := range segs {
		seg, err := c.loadSegment(ctx, s, name, sg)
		if err != nil {
			if errors.Is(err, ErrStorageUnavailable) || ctx.Err() != nil {
				return rc, nil, 0, err
			}
			report.Unusable = append(report.Unusable, sg.Key+": "+err.Error())
			break // the chain ends before it
		}
		for _, e := range seg.Entries {
			if e.Version > f.deleted && (len(log) == 0 || e.Version > log[len(log)-1].Version) {
				log = append(log, pastEntry{
					Delta: index.Delta{Version: e.Version, ID: e.ID, Field: e.Field, Merge: e.Merge, Script: e.Script, Holder: e.Holder},
					body:  e.Body, archive: true,
				})
				ids[e.ID] = true
			}
		}
		archived = sg.Last
		rc.Segments++
	}
	segs = segs[:rc.Segments]
	var history []index.SnapshotPointer
	for _, p := range f.snapshots {
		if p.Version > f.deleted && p.Version <= archived {
			history = append(history, p)
		}
	}
	sort.Slice(history, func(i, j int) bool { return history[i].Version < history[j].Version })
	// One pointer per version: a lost save's copy is as good as the winner's.
	history = slices.CompactFunc(history, func(a, b index.SnapshotPointer) bool { return a.Version == b.Version })
	rc.Archived, rc.Snapshots, rc.Exact = archived, len(history), len(log)
	if archived == 0 {
		return rc, ids, 0, nil // nothing archived: only its packs can tell
	}
	// The whole archive stays in segments (the log restarts above it), so a
	// snapshot at its end must exist: a read of the present never needs a
	// segment.
	snap := index.SnapshotPointer{}
	if n := len(history); n > 0 && history[n-1].Version == archived {
		snap = history[n-1]
	} else if !dryRun {
		if snap, err = c.archiveSnapshot(ctx, idx, s, name, history, segs[0].After, archived, log); err != nil {
			if errors.Is(err, ErrStorageUnavailable) || ctx.Err() != nil {
				return rc, nil, 0, err
			}
			rc.Skipped = "its archive does not fold: " + err.Error()
			return rc, nil, 0, nil
		}
		history = append(history, snap)
		rc.Snapshots++
	}
	rc.Snapshot = archived
	r := index.Restoration{
		Version: max(archived, f.deleted+1), Deleted: f.deleted,
		Segments: segs, Snapshots: history, Snapshot: snap, Trimmed: archived,
	}
	r.Epoch = r.Version
	if !dryRun {
		if err := idx.Restore(ctx, name, r); err != nil {
			return rc, nil, 0, err
		}
	}
	return rc, ids, r.Version, nil
}

// archiveSnapshot folds the document at the archive's end from the newest
// usable snapshot in history (or from the empty document, when the archive
// starts at 0) and the archived entries after it, and stores it as a
// snapshot at that version.
func (c *Client) archiveSnapshot(ctx context.Context, idx index.Index, s *state, name string, history []index.SnapshotPointer, start, archived int64, log []pastEntry) (index.SnapshotPointer, error) {
	var doc any
	var from int64
	for i := len(history) - 1; i >= 0 && doc == nil; i-- {
		if history[i].Version < start {
			break // older than the archive's start: the entries after it are gone
		}
		if snap, err := c.loadSnapshot(ctx, s.store, history[i]); err == nil {
			doc, from = snap, history[i].Version
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrDecrypt) {
			return index.SnapshotPointer{}, err
		}
	}
	if doc == nil {
		if start > 0 {
			return index.SnapshotPointer{}, fmt.Errorf("%w: the archive starts after %d and no usable snapshot is there", ErrCorrupt, start)
		}
		doc = map[string]any{}
	}
	entries := slices.DeleteFunc(slices.Clone(log), func(e pastEntry) bool { return e.Version <= from })
	res, _, err := c.foldPast(ctx, idx, s, name, doc, from, entries, false)
	if err != nil {
		return index.SnapshotPointer{}, err
	}
	p := index.SnapshotPointer{Version: archived, Key: snapshotKey(name, archived)}
	if err := s.store.Put(ctx, p.Key, encodeSnapshot(archived, res.Data)); err != nil {
		return index.SnapshotPointer{}, storageError(err)
	}
	return p, nil
}

// packTail reads the entry table of every pack that may hold deltas no
// segment does, and returns those deltas per catalog, in pack order.
func (c *Client) packTail(ctx context.Context, s *state, packs []string, catalogs map[string]*found, exactIDs map[string]map[string]bool, archived map[string]int64, report *RecoverReport) (map[string][]index.Delta, error) {
	// The packs are read concurrently, their deltas taken in pack order.
	type read struct {
		deltas   []index.Entry
		unusable string
		ok       bool
	}
	reads := make([]read, len(packs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opt.FetchConcurrency)
	for k, id := range packs {
		g.Go(func() error {
			made, err := pack.Time(id)
			if err != nil {
				return nil
			}
			parts, err := storage.ReadParts(gctx, s.store, pack.Key(id))
			if err != nil {
				if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrCorrupt) || errors.Is(err, storage.ErrDecrypt) {
					reads[k].unusable = pack.Key(id) + ": " + err.Error()
					return nil
				}
				return storageError(err)
			}
			reads[k].ok = true
			if len(parts) == 0 || parts[0].Err != nil {
				reads[k].unusable = pack.Key(id) + ": no entry table"
				return nil
			}
			packID, entries, err := pack.DecodeEntries(parts[0].Data)
			if err != nil || packID != id {
				reads[k].unusable = fmt.Sprintf("%s: entry table: %v", pack.Key(id), err)
				return nil
			}
			for i, e := range entries {
				if ValidateCatalog(e.Catalog) != nil || i+1 >= len(parts) || parts[i+1].Err != nil {
					continue
				}
				d := index.Delta{ID: pack.DeltaID(id, i+1), Field: e.Field, Merge: e.Merge, Script: e.Script,
					Pack: id, Part: i + 1, Offset: parts[i+1].Extent.Offset, Length: parts[i+1].Extent.Length}
				if exactIDs[e.Catalog][d.ID] {
					continue // archived: restored exactly
				}
				if f := catalogs[e.Catalog]; f != nil && made.UnixMicro() <= f.deleted {
					continue // made before the catalog's deletion
				}
				if a := archived[e.Catalog]; a > 0 && made.Add(packSkew).UnixMicro() <= a {
					continue // too old to hold a delta after the archive's end
				}
				reads[k].deltas = append(reads[k].deltas, index.Entry{Catalog: e.Catalog, Delta: d})
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	tail := map[string][]index.Delta{}
	for _, r := range reads {
		if r.ok {
			report.Packs++
		}
		if r.unusable != "" {
			report.Unusable = append(report.Unusable, r.unusable)
		}
		for _, e := range r.deltas {
			tail[e.Catalog] = append(tail[e.Catalog], e.Delta)
		}
	}
	return tail, nil
}

// recoverScripts restores the merge scripts the bucket keeps copies of
// (PutScript stores them): every source under its hash, and every name
// pointing at its last hash. It returns how many sources it restored.
func (c *Client) recoverScripts(ctx context.Context, idx index.Index, store storage.Storage, dryRun bool) (int, error) {
	names := map[string]string{} // name -> hash
	var hashes []string
	for _, prefix := range []string{scriptNamePrefix, scriptSourcePrefix} {
		for after := ""; ; {
			page, err := storage.List(ctx, store, prefix, after, 1000)
			if err != nil {
				return 0, fmt.Errorf("list merge scripts: %w", storageError(err))
			}
			for _, obj := range page {
				if name, ok := strings.CutSuffix(strings.TrimPrefix(obj.Key, scriptNamePrefix), ".hash"); ok && prefix == scriptNamePrefix {
					hash, err := store.Get(ctx, obj.Key)
					if err != nil {
						return 0, fmt.Errorf("merge script name %s: %w", obj.Key, storageError(err))
					}
					names[name] = string(hash)
				}
				if hash, ok := strings.CutSuffix(strings.TrimPrefix(obj.Key, scriptSourcePrefix), ".js"); ok && prefix == scriptSourcePrefix {
					hashes = append(hashes, hash)
				}
			}
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].Key
		}
	}
	if dryRun {
		return len(hashes), nil
	}
	for _, hash := range hashes {
		source, err := store.Get(ctx, scriptSourceKey(hash))
		if err != nil {
			return 0, fmt.Errorf("merge script %s: %w", hash, storageError(err))
		}
		script, err := c.engine.Compile("recovered", string(source))
		if err != nil || script.Hash != hash {
			continue // not what PutScript stored under that hash
		}
		// The index stores a source only beside a name: a stand-in name,
		// taken away at once, keeps it.
		const standIn = "lake-recover.source"
		if err := idx.PutScript(ctx, standIn, hash, string(source)); err != nil {
			return 0, err
		}
		if err := idx.DeleteScript(ctx, standIn); err != nil {
			return 0, err
		}
	}
	for name, hash := range names {
		source, err := store.Get(ctx, scriptSourceKey(hash))
		if err != nil {
			continue // a name whose source is gone stays unregistered
		}
		if err := idx.PutScript(ctx, name, hash, string(source)); err != nil {
			return 0, err
		}
	}
	return len(hashes), nil
}
