package lake

import (
	"context"
	"errors"
	"fmt"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/merge"
	"github.com/hkloudou/lake/v2/storage"
)

// CheckOptions tune Check and CheckAll.
type CheckOptions struct {
	// Repair removes every log entry whose body is missing, corrupt or
	// cannot be decrypted (see RemoveDelta), after reporting it. Snapshot
	// problems are only reported: a snapshot is a cache, and the next
	// GenerateSnap read replaces an unusable one.
	Repair bool
}

// Problem kinds reported by Check.
const (
	ProblemBodyMissing     = "body_missing"     // the entry's body object is not in the store
	ProblemBodyCorrupt     = "corrupt"          // the body is not the JSON its merge type needs
	ProblemDecrypt         = "decrypt_failed"   // the body cannot be decrypted with the lake's AESPwd
	ProblemMemoryBody      = "memory_body"      // the body lived only in another process's memory
	ProblemEntryCorrupt    = "entry_corrupt"    // the log entry names an unknown merge type, a bad field or a missing script
	ProblemLogUnreadable   = "log_unreadable"   // the log holds an entry that cannot be decoded at all (not removable here)
	ProblemSnapshotMissing = "snapshot_missing" // the snapshot pointer names a missing object
	ProblemSnapshotCorrupt = "snapshot_corrupt" // the snapshot object cannot be decoded or holds another version
	ProblemPointerAhead    = "pointer_ahead"    // the snapshot pointer is newer than the last version
)

// Problem is one thing Check found wrong.
type Problem struct {
	Catalog string `json:"catalog"`
	// Version is the log entry's version, or the snapshot's for a snapshot
	// problem.
	Version int64  `json:"version"`
	Field   string `json:"field,omitempty"`
	Merge   string `json:"merge,omitempty"`
	// Object is the object key of the body or snapshot; for a body in a
	// pack, the pack's key and the part (".packs/<id> part 3").
	Object string `json:"object,omitempty"`
	// Kind is one of the Problem* constants.
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	// Removed is true when Repair removed the entry from the log.
	Removed bool `json:"removed,omitempty"`
}

// CheckReport is what Check and CheckAll found.
type CheckReport struct {
	Catalogs int       `json:"catalogs"` // catalogs checked
	Deltas   int       `json:"deltas"`   // log entries checked
	Problems []Problem `json:"problems"` // in catalog and version order
}

// LogEntry is one delta of a catalog's log as RemoveDelta reports it.
type LogEntry struct {
	Version int64  `json:"version"`
	Field   string `json:"field"`
	Merge   string `json:"merge"`
	Object  string `json:"object,omitempty"`
}

// Check verifies one catalog: every log entry's body exists, decrypts and
// is JSON its merge type can apply; the snapshot pointer is not ahead of the
// log, and its object decodes and holds its version.
func (c *Client) Check(ctx context.Context, catalog string, opt CheckOptions) (*CheckReport, error) {
	return c.check(ctx, []string{catalog}, opt)
}

// CheckAll is Check of every catalog in the lake's listing.
func (c *Client) CheckAll(ctx context.Context, opt CheckOptions) (*CheckReport, error) {
	return c.check(ctx, nil, opt)
}

// removable reports whether Repair takes a problem's entry out of the log.
func (p Problem) removable() bool {
	switch p.Kind {
	case ProblemBodyMissing, ProblemBodyCorrupt, ProblemDecrypt, ProblemMemoryBody, ProblemEntryCorrupt:
		return true
	}
	return false
}

func (c *Client) check(ctx context.Context, catalogs []string, opt CheckOptions) (*CheckReport, error) {
	for _, name := range catalogs {
		if err := ValidateCatalog(name); err != nil {
			return nil, fmt.Errorf("lake: check: %w", err)
		}
	}
	idx, s, err := c.ready(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: check: %w", err)
	}
	if catalogs == nil {
		if catalogs, err = allCatalogs(ctx, idx); err != nil {
			return nil, fmt.Errorf("lake: check: %w", err)
		}
	}
	report := &CheckReport{Problems: []Problem{}}
	for _, catalog := range catalogs {
		if err := c.checkCatalog(ctx, idx, s, catalog, opt, report); err != nil {
			return report, fmt.Errorf("lake: check %q: %w", catalog, err)
		}
		report.Catalogs++
	}
	return report, nil
}

// allCatalogs lists every catalog, page by page.
func allCatalogs(ctx context.Context, idx index.Index) ([]string, error) {
	var names []string
	after := ""
	for {
		page, err := idx.Catalogs(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, info := range page {
			names = append(names, info.Name)
		}
		if len(page) < 1000 {
			return names, nil
		}
		after = page[len(page)-1].Name
	}
}

// checkCatalog checks one catalog's snapshot and log, and removes the
// broken entries with opt.Repair. A store that cannot be reached is an
// error, not a problem: nothing can be concluded about the data.
func (c *Client) checkCatalog(ctx context.Context, idx index.Index, s *state, catalog string, opt CheckOptions, report *CheckReport) error {
	head, _, err := idx.Read(ctx, catalog, 0)
	if err != nil {
		return err
	}
	if p := head.Snapshot; p.Version > 0 {
		problem := Problem{Catalog: catalog, Version: p.Version, Object: p.Key}
		_, err := c.loadSnapshot(ctx, s.store, p)
		switch {
		case p.Version > head.Version:
			problem.Kind, problem.Reason = ProblemPointerAhead, fmt.Sprintf("the snapshot is at version %d, the log ends at %d", p.Version, head.Version)
		case err == nil, errors.Is(err, ErrDocumentTooLarge):
		case errors.Is(err, storage.ErrNotFound):
			problem.Kind, problem.Reason = ProblemSnapshotMissing, err.Error()
		case errors.Is(err, ErrCorrupt), errors.Is(err, storage.ErrDecrypt):
			problem.Kind, problem.Reason = ProblemSnapshotCorrupt, err.Error()
		default:
			return err
		}
		if problem.Kind != "" {
			report.Problems = append(report.Problems, problem)
		}
	}
	deltas, err := idx.Log(ctx, catalog, 0, index.MaxVersion)
	if errors.Is(err, index.ErrCorrupt) {
		report.Problems = append(report.Problems, Problem{Catalog: catalog, Kind: ProblemLogUnreadable, Reason: err.Error()})
		return nil
	}
	if err != nil {
		return err
	}
	report.Deltas += len(deltas)
	problems := make([]Problem, len(deltas))
	for start := 0; start < len(deltas); start += foldChunk {
		chunk := deltas[start:min(start+foldChunk, len(deltas))]
		bodies, err := c.fetchEach(ctx, s, chunk)
		if err != nil {
			return err
		}
		for i, d := range chunk {
			kind, reason, err := c.checkDelta(ctx, idx, s, catalog, d, bodies[i])
			if err != nil {
				return err
			}
			if kind != "" {
				problems[start+i] = Problem{Catalog: catalog, Version: d.Version, Field: d.Field, Merge: d.Merge, Object: deltaObject(d), Kind: kind, Reason: reason}
			}
		}
	}
	removed := false
	for i, p := range problems {
		if p.Kind == "" {
			continue
		}
		if opt.Repair && p.removable() {
			if p.Removed, err = idx.Remove(ctx, catalog, p.Version, deltas[i].ID); err != nil {
				return err
			}
			removed = removed || p.Removed
		}
		report.Problems = append(report.Problems, p)
	}
	if removed {
		c.cache.drop(catalog)
	}
	return nil
}

// checkDelta returns what is wrong with one log entry (kind "" for
// nothing), given its body as fetchEach got it, or an error when a store
// could not answer.
func (c *Client) checkDelta(ctx context.Context, idx index.Index, s *state, catalog string, d index.Delta, got fetched) (kind, reason string, err error) {
	if elsewhere(d, s) {
		return ProblemMemoryBody, fmt.Sprintf("the body lived only in the memory of another process (memory storage %s)", d.Holder), nil
	}
	switch {
	case errors.Is(got.err, storage.ErrNotFound):
		return ProblemBodyMissing, got.err.Error(), nil
	case errors.Is(got.err, storage.ErrDecrypt):
		return ProblemDecrypt, got.err.Error(), nil
	case errors.Is(got.err, storage.ErrCorrupt):
		return ProblemBodyCorrupt, got.err.Error(), nil
	case got.err != nil:
		return "", "", fmt.Errorf("version %d (object %s): %w", d.Version, deltaObject(d), storageError(got.err))
	}
	path, err := parseField(d)
	if err != nil {
		return ProblemEntryCorrupt, err.Error(), nil
	}
	md, err := c.mergeDelta(ctx, idx, catalog, d, path, got.body)
	switch {
	case errors.Is(err, ErrCorrupt):
		return ProblemEntryCorrupt, err.Error(), nil
	case err != nil:
		return "", "", err
	}
	if md.Type != merge.Delete && !validBody(md) {
		return ProblemBodyCorrupt, fmt.Sprintf("the body of object %s is not a valid %s value", deltaObject(d), d.Merge), nil
	}
	return "", "", nil
}

// validBody reports whether a stored body is JSON its merge type can take.
//
// It asks what a fold asks, no more: a body an older version let in with
// invalid UTF-8 still folds (as U+FFFD), so it is not reported, and a repair
// never removes a delta that reads.
func validBody(md merge.Delta) bool {
	if md.Type == merge.ScriptType {
		_, err := merge.Decode(md.Value)
		return err == nil
	}
	return merge.Check(md) == nil
}

// RemoveDelta takes the entry at version out of the catalog's log, for
// good: the repair of a delta whose body is lost or broken (Check with
// Repair removes those). Later reads fold the log without it, except where
// a snapshot saved before the removal already includes it: a snapshot is
// never rewritten. A snapshot save that was folded before the removal does
// not land.
func (c *Client) RemoveDelta(ctx context.Context, catalog string, version int64) (*LogEntry, error) {
	if err := ValidateCatalog(catalog); err != nil {
		return nil, fmt.Errorf("lake: remove delta: %w", err)
	}
	idx, _, err := c.ready(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: remove delta %q@%d: %w", catalog, version, err)
	}
	if version <= 0 || version > index.MaxVersion {
		return nil, fmt.Errorf("lake: remove delta %q@%d: %w", catalog, version, ErrDeltaNotFound)
	}
	deltas, err := idx.Log(ctx, catalog, version-1, version)
	if err != nil {
		return nil, fmt.Errorf("lake: remove delta %q@%d: %w", catalog, version, err)
	}
	if len(deltas) == 0 {
		return nil, fmt.Errorf("lake: remove delta %q@%d: %w", catalog, version, ErrDeltaNotFound)
	}
	d := deltas[0]
	removed, err := idx.Remove(ctx, catalog, d.Version, d.ID)
	if err != nil {
		return nil, fmt.Errorf("lake: remove delta %q@%d: %w", catalog, version, err)
	}
	c.cache.drop(catalog)
	if !removed {
		return nil, fmt.Errorf("lake: remove delta %q@%d: %w", catalog, version, ErrDeltaNotFound)
	}
	return &LogEntry{Version: d.Version, Field: d.Field, Merge: d.Merge, Object: deltaObject(d)}, nil
}
