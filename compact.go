package lake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/internal/segment"
)

// Compaction moves a catalog's older log entries out of the meta store into
// log segments (internal/segment) in object storage, then trims them from
// the meta store:
//
//  1. archive: every log entry not archived yet is written, with its body,
//     to segments, each stored before it is registered (AddSegment), which
//     only extends the archive where it ends;
//  2. trim: the entries at or below the latest snapshot, archived, and
//     older than CompactionPolicy.MinAge leave the meta store in one atomic
//     step that refuses anything else (index.History.Trim).
//
// A crash between the two leaves archived entries in the log: the next run
// trims them. Two compactions of one catalog never run at once: each takes
// the catalog's lease in the meta store first, and one that finds it taken
// does nothing (CompactResult.Busy).

// CompactionPolicy tunes compaction (Option.Compaction).
type CompactionPolicy struct {
	// Interval is how often this client compacts, in the background, the
	// catalogs it wrote to: their new entries are archived to segments (the
	// point up to which `lake recover` rebuilds the index exactly), and
	// their logs trimmed as KeepEntries allows. 0 means the default
	// (DefaultCompactionInterval); negative turns background compaction off.
	Interval time.Duration
	// KeepEntries is how far a catalog's snapshot may fall behind before
	// background compaction saves a new one and trims the log below it
	// (default DefaultKeepEntries): the log holds at most about this many
	// entries, plus those younger than MinAge.
	KeepEntries int
	// MinAge: no entry younger than this leaves the meta store (0: the
	// default, DefaultCompactionMinAge; negative: no minimum), even by an
	// explicit Compact. A commit
	// whose answer was lost is retried for up to a minute (the pack
	// timeout); its entry must still be in the log then, or the retry
	// would log it twice.
	MinAge time.Duration
}

// Defaults of CompactionPolicy.
const (
	DefaultCompactionInterval = 10 * time.Second
	DefaultKeepEntries        = 1000
	DefaultCompactionMinAge   = 2 * time.Minute
)

// Limits of one segment, so that a read of the past fetches bounded objects.
const (
	segmentMaxEntries = 4096
	segmentMaxBytes   = 8 << 20
	// compactLease bounds how long a compaction may hold a catalog's lease
	// without renewing it (it renews after each segment).
	compactLease = 2 * time.Minute
)

// CompactResult says what one compaction of a catalog did.
type CompactResult struct {
	Catalog string `json:"catalog"`
	// Busy: another client was compacting the catalog; this run did nothing.
	Busy bool `json:"busy,omitempty"`
	// Snapshot is the snapshot version the log may be trimmed up to.
	Snapshot int64 `json:"snapshot"`
	// Archived is where the catalog's archive ends after the run, and
	// Segments and Entries what the run added to it.
	Archived int64 `json:"archived"`
	Segments int   `json:"segments"`
	Entries  int   `json:"entries"`
	// Trimmed is the version up to which the log has left the meta store
	// after the run, and Removed how many entries the run removed.
	Trimmed int64 `json:"trimmed"`
	Removed int64 `json:"removed"`
}

// Compact archives every log entry of catalog to segments, saves a
// snapshot of its current document, and trims from the meta store the
// entries at or below that snapshot (older than CompactionPolicy.MinAge).
// Reads of the present never need a segment; reads of the past
// (ReadRequest.AtVersion) read through them.
func (c *Client) Compact(ctx context.Context, catalog string) (*CompactResult, error) {
	if err := ValidateCatalog(catalog); err != nil {
		return nil, fmt.Errorf("lake: compact: %w", err)
	}
	idx, s, err := c.ready(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: compact %q: %w", catalog, err)
	}
	res, err := c.compact(ctx, idx, s, catalog, 0)
	if err != nil {
		return res, fmt.Errorf("lake: compact %q: %w", catalog, err)
	}
	return res, nil
}

// compact runs one compaction of catalog, leaving at least keep entries
// in the log (0: trim all it may).
func (c *Client) compact(ctx context.Context, idx index.Index, s *state, catalog string, keep int) (*CompactResult, error) {
	res := &CompactResult{Catalog: catalog}
	held, err := idx.Lease(ctx, catalog, c.owner, compactLease)
	if err != nil {
		return res, err
	}
	if !held {
		res.Busy = true
		return res, nil
	}
	defer func() {
		// The lease is given back even when ctx is done.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := idx.Release(rctx, catalog, c.owner); err != nil {
			c.opt.Logger.Debug("lake: compaction lease not released; it expires by itself", "catalog", catalog, "error", err)
		}
	}()
	head, err := c.archive(ctx, idx, s, catalog, res)
	if err != nil {
		return res, err
	}
	res.Archived, res.Trimmed, res.Snapshot = head.Archived, head.Trimmed, head.Snapshot.Version
	// The newest entry the log may lose: old enough, archived, and not
	// above a snapshot. An explicit run saves a new snapshot when the log
	// has news; a background one only when the snapshot is more than keep
	// entries behind, and otherwise trims up to the snapshot there is.
	upTo := min(head.Archived, time.Now().Add(-c.opt.Compaction.MinAge).UnixMicro())
	if upTo <= head.Trimmed {
		return res, nil
	}
	if head.Snapshot.Version < upTo && (keep == 0 || head.pending > int64(keep)) {
		snap, err := c.snapshotNow(ctx, idx, s, catalog)
		if err != nil {
			return res, err
		}
		res.Snapshot = snap
	}
	upTo = min(upTo, res.Snapshot)
	if upTo <= head.Trimmed {
		return res, nil
	}
	removed, err := idx.Trim(ctx, catalog, upTo)
	if err != nil {
		return res, err
	}
	res.Removed, res.Trimmed = removed, upTo
	return res, nil
}

// archivedHead is the head after archiving, and how many log entries
// followed the snapshot before it.
type archivedHead struct {
	index.Head
	pending int64
}

// snapshotNow folds the catalog's current document and saves it as its
// snapshot; it returns the snapshot version the head has afterwards.
func (c *Client) snapshotNow(ctx context.Context, idx index.Index, s *state, catalog string) (int64, error) {
	res, head, err := c.fold(ctx, idx, s, catalog, false)
	if err != nil {
		return 0, err
	}
	if res.Version <= head.Snapshot.Version {
		return head.Snapshot.Version, nil
	}
	if _, err := c.saveSnapshot(ctx, idx, s.store, catalog, res.Version, res.Data, head.Lineage()); err != nil {
		return 0, err
	}
	// Another save may have won with a newer one: the head says.
	now, _, err := idx.Read(ctx, catalog, index.MaxVersion)
	if err != nil {
		return 0, err
	}
	return now.Snapshot.Version, nil
}

// archive writes the catalog's unarchived log entries to segments and
// registers each, and returns the head as it stands after.
func (c *Client) archive(ctx context.Context, idx index.Index, s *state, catalog string, res *CompactResult) (archivedHead, error) {
	// Where the archive ends first, so that Range returns only the log
	// entries after it (not the whole tail, nor the segment registry).
	now, _, err := idx.Read(ctx, catalog, index.MaxVersion)
	if err != nil {
		return archivedHead{}, err
	}
	head, _, deltas, err := idx.Range(ctx, catalog, now.Archived, index.MaxVersion)
	if err != nil {
		return archivedHead{}, err
	}
	out := archivedHead{Head: head, pending: now.Pending}
	// The log after the archive's end, up to the head's version: no later
	// commit can land in it, since versions only grow.
	pending := deltas
	for len(pending) > 0 && pending[0].Version <= head.Archived {
		pending = pending[1:]
	}
	after := head.Archived
	for len(pending) > 0 {
		n, size := 0, 0
		for n < len(pending) && n < segmentMaxEntries && size < segmentMaxBytes {
			size += int(pending[n].Length) + len(pending[n].Field) + 64
			n++
		}
		chunk := pending[:n]
		pending = pending[n:]
		last := chunk[n-1].Version
		if len(pending) == 0 {
			last = head.Version // the range covers everything committed so far
		}
		seg, err := c.segmentOf(ctx, s, catalog, after, last, chunk)
		if err != nil {
			return out, err
		}
		if err := idx.AddSegment(ctx, catalog, seg); err != nil {
			if errors.Is(err, index.ErrArchiveMoved) {
				break // another archiver got there (its lease expired ours)
			}
			return out, err
		}
		res.Segments++
		res.Entries += len(chunk)
		out.Archived = last
		after = last
		if _, err := idx.Lease(ctx, catalog, c.owner, compactLease); err != nil {
			return out, err
		}
	}
	return out, nil
}

// segmentOf stores the segment holding chunk (the log entries in
// (after, last]) and returns it as the registry names it.
func (c *Client) segmentOf(ctx context.Context, s *state, catalog string, after, last int64, chunk []index.Delta) (index.Segment, error) {
	bodies, err := c.fetchBodies(ctx, s, catalog, chunk)
	if err != nil {
		return index.Segment{}, fmt.Errorf("%w: %w (lake check --repair removes an entry whose body is lost)", ErrNotArchived, err)
	}
	seg := segment.Segment{Catalog: catalog, After: after, Last: last, Entries: make([]segment.Entry, len(chunk))}
	for i, d := range chunk {
		e := segment.Entry{Version: d.Version, ID: d.ID, Field: d.Field, Merge: d.Merge, Script: d.Script, Holder: d.Holder}
		if d.Holder == "" && hasBody(d) {
			e.Body = bodies[i]
		}
		seg.Entries[i] = e
	}
	raw, err := segment.Encode(seg)
	if err != nil {
		return index.Segment{}, fmt.Errorf("%w: %w", ErrNotArchived, err)
	}
	key := segment.Key(catalog, after, last)
	if err := s.store.Put(ctx, key, raw); err != nil {
		return index.Segment{}, storageError(err)
	}
	return index.Segment{After: after, Last: last, Key: key}, nil
}

// newOwner names this client in leases.
func newOwner() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// compactor runs background compaction (CompactionPolicy.Interval) of the
// catalogs this client wrote to.
type compactor struct {
	mu      sync.RWMutex
	touched map[string]struct{} // written since their last run
	started bool
	stop    chan struct{}
	done    chan struct{}
}

// touch notes that catalog has new entries, and starts the background
// loop on the first write. A catalog already noted costs a read lock and a
// map lookup, no allocation.
func (c *Client) touch(catalog string) {
	if c.opt.Compaction.Interval < 0 {
		return
	}
	bg := &c.compactor
	bg.mu.RLock()
	_, noted := bg.touched[catalog]
	bg.mu.RUnlock()
	if noted {
		return
	}
	bg.mu.Lock()
	defer bg.mu.Unlock()
	if bg.touched == nil {
		bg.touched = map[string]struct{}{}
	}
	bg.touched[catalog] = struct{}{}
	if !bg.started && !c.closed.Load() {
		bg.started = true
		bg.stop, bg.done = make(chan struct{}), make(chan struct{})
		go c.compactLoop(bg.stop, bg.done)
	}
}

// compactLoop compacts the touched catalogs every Interval until stop.
func (c *Client) compactLoop(stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(c.opt.Compaction.Interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		bg := &c.compactor
		bg.mu.Lock()
		catalogs := make([]string, 0, len(bg.touched))
		for catalog := range bg.touched {
			catalogs = append(catalogs, catalog)
		}
		clear(bg.touched)
		bg.mu.Unlock()
		for _, catalog := range catalogs {
			select {
			case <-stop:
				return
			default:
			}
			c.compactInBackground(catalog, stop)
		}
	}
}

// compactInBackground runs one bounded background compaction; a failure
// is logged, and the catalog is tried again after its next write; a run
// that archived something, or found the lease held, is followed by one more.
func (c *Client) compactInBackground(catalog string, stop chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), compactLease)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	idx, s, err := c.ready(ctx)
	if err != nil || s.holder != "" {
		return // no meta store now, or bodies in memory: nothing to archive to
	}
	res, err := c.compact(ctx, idx, s, catalog, c.opt.Compaction.KeepEntries)
	if err != nil && ctx.Err() == nil {
		c.opt.Logger.Warn("lake: background compaction failed", "catalog", catalog, "error", err)
	}
	if err == nil && (res.Busy || res.Segments > 0) {
		// Another client's run may have begun before this client's last
		// writes, or writes landed while this one ran: one more run next
		// time, which finds nothing new once the catalog is quiet.
		c.touch(catalog)
	}
}

// stopCompactor ends the background loop and waits for it.
func (c *Client) stopCompactor() {
	bg := &c.compactor
	bg.mu.Lock()
	started := bg.started
	bg.started = true // none starts after Close
	bg.mu.Unlock()
	if started && bg.stop != nil {
		close(bg.stop)
		<-bg.done
	}
}
