package lake

import (
	"context"
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
	ProblemEntryCorrupt    = "entry_corrupt"    // the log entry itself cannot be decoded
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
	// Object is the object key of the body or snapshot.
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
