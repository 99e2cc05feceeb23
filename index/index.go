// Package index is Lake's meta store: per catalog, the ordered delta log, the
// version allocator and the latest-snapshot pointer; per lake, the config and
// the merge scripts. It holds small pointers only, never document bodies,
// and it is the authority on order: a delta exists once its entry is
// committed here.
//
// Index is four small interfaces that every engine implements together:
// Log (commits, reads, snapshot pointers), History (log segments, trims,
// snapshot history, leases, deletion), ScriptStore (merge scripts, the
// JavaScript of MergeScript deltas) and ConfigStore (the config and the lake
// ID). Engines may have capabilities beyond it, each a small interface of
// its own: SafetyChecker (a Redis that can lose data), Embedded (a lake in
// one local directory) and Wiper (erase a key prefix). The engine is chosen
// by the meta URL's scheme (Open). In this package "script" always means a
// merge script; the Redis engine's server-side code is "Lua".
//
// The files, one job each:
//
//	index.go          the interfaces, the types they speak, errors, Open
//	history.go        the History interface: what keeps a catalog's past and trims its log
//	member.go         the encoded log entry both engines store (d1, d2, and d3 for packed bodies)
//	redact.go         meta URLs with their passwords hidden
//	redis.go          the Redis engine: opening, the key layout, config and merge-script stores
//	redis_log.go      its log: commit and read batches, snapshots, removals, listing
//	redis_retry.go    its retries of transient replies, and ErrUnavailable
//	redis_safety.go   its SafetyChecker: settings that lose data
//	redis_history.go  its History: segments, trims, snapshot history, leases, deletion
//	redis_wipe.go     its Wiper: SCAN and UNLINK of a key prefix on every primary
//	lua.go, lua/      its Lua, one file per call
//	bolt.go           the embedded engine ("file://DIR"): the file layout, opening, the guard, Wipe
//	bolt_log.go       its log: commit batches in one transaction, reads, snapshots, removals
//	bolt_history.go   its History
//	bolt_store.go     its config and merge-script stores, the lake ID, the counts
//	bolt_format.go    its sealed values (CRC-32C) and encoded heads
//	bolt_pages.go     the page check before bbolt maps a file
//	bolt_verify.go    the check of every value at Open
//	bolt_lock_*.go    the file lock that makes one process the owner
//
// Group commit (concurrent calls gathered into batches) is not in this
// package: both engines use github.com/hkloudou/lake/v2/internal/batch,
// which the write path's pack batcher shares.
//
// The embedded engine is one bbolt file owned by one process, for a
// single-process lake without a server. Both engines store a delta as the
// same encoded entry (member.go) and pass the same conformance tests
// (conformance_test.go).
//
// The Redis engine uses rueidis rather than go-redis: it pipelines concurrent
// commands from many goroutines onto a few connections automatically, and it
// speaks to Redis Cluster through the same Client. On top of that, both
// engines group concurrent commits (and the Redis engine concurrent reads)
// into one Lua call or one transaction per batch (internal/batch): a Lua
// call costs Redis far more than the pipelining saves, so the calls
// themselves must be fewer.
package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// MaxVersion bounds every version: versions are sorted-set scores, and a
// float64 represents integers exactly only below 2^53.
const MaxVersion = 1<<53 - 1

// Delta is one committed entry of a catalog's log.
type Delta struct {
	// Version is the delta's place in the catalog's total order, allocated
	// by the meta store at commit. Ignored by Commit.
	Version int64
	// ID is unique per delta (the writer makes it). It makes every log
	// entry distinct, and a commit that is retried after a network error
	// idempotent: the second attempt finds the entry and returns its version.
	// A packed delta's ID is Pack + "." + Part; a commit may leave it empty
	// there, and reads fill it in.
	ID string
	// Field is the field path as the writer gave it.
	Field string
	// Merge names the merge type ("set", "patch" ...).
	Merge string
	// BodyKey is the object holding the delta's value; empty when the merge
	// needs no value (delete).
	BodyKey string
	// Script identifies the merge script version for script merges.
	Script string
	// Holder, when not empty, says the body was stored in one process's
	// memory (a volatile store) and names that store: only a reader holding
	// the same store can fetch it.
	Holder string
	// Pack, when not empty, says the body is part Part of a pack: one object
	// holding the bodies of a commit batch (its key is internal/pack.Key(Pack)).
	// The part's frame is Length bytes at Offset in it. A packed delta's ID
	// is always Pack + "." + Part, and its BodyKey is empty.
	Pack   string
	Part   int
	Offset int64
	Length int64
}

// Entry is one delta for one catalog, as CommitAll takes it.
type Entry struct {
	Catalog string
	Delta   Delta
}

// SnapshotPointer says which stored snapshot is the catalog's latest: the
// document folded from every delta with version <= Version, at object Key.
// The zero value means "no snapshot".
type SnapshotPointer struct {
	Version int64
	Key     string
}

// CatalogInfo is one entry of the catalog listing.
type CatalogInfo struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
}

// Head is a catalog's state in the meta store.
type Head struct {
	// Version is the last version allocated in the catalog (0 if none).
	Version int64
	// Snapshot is the latest snapshot pointer.
	Snapshot SnapshotPointer
	// Pending is how many log entries are newer than the snapshot (all of
	// them without one): what a fold from the snapshot would apply. Set by
	// Read, for snapshot policies.
	Pending int64
	// From is the version after which Read returned the deltas: the
	// snapshot's, or the caller's `after` (see Read). Set by Read.
	From int64
	// Epoch identifies this incarnation of the catalog's log: the version
	// of the commit that created the head. A head recreated after the meta
	// store lost its data has another epoch, so a reader can tell its
	// cached document belongs to a log that no longer exists. 0 for a
	// catalog that does not exist (or whose head predates epochs).
	Epoch int64
	// Removals counts the entries Remove took out of the log. A document
	// folded under another count may include a removed entry.
	Removals int64
	// Archived is the version up to which registered log segments hold
	// the log (History.AddSegment); 0 when nothing is archived.
	Archived int64
	// Trimmed is the version up to which entries have left the log
	// (History.Trim): they are only in segments. Never above Archived nor
	// the snapshot's version.
	Trimmed int64
	// Deleted is the version at which the catalog was last deleted
	// (History.DeleteCatalog), 0 if never: every version of the catalog
	// now is above it.
	Deleted int64
}

// Lineage is what a snapshot save was folded under: the head's Epoch and
// Removals when the fold read it. SaveSnapshot refuses to move the pointer
// when either has changed since, so a save in flight across a Remove (or a
// reset of the meta store) never persists a document the log no longer
// justifies.
type Lineage struct {
	Epoch    int64
	Removals int64
}

// Lineage returns the head's Epoch and Removals.
func (h Head) Lineage() Lineage { return Lineage{Epoch: h.Epoch, Removals: h.Removals} }

// MaxCatchUp is how many deltas older than the snapshot Read still returns
// to a caller that holds the document at `after`: folding a few deltas onto
// a document in memory is cheaper than loading a snapshot.
const MaxCatchUp = 64

// Index is the meta store: a catalog log, a merge-script store and a config
// store in one engine. Implementations are safe for concurrent use.
type Index interface {
	Log
	History
	ScriptStore
	ConfigStore
	// Close releases the engine's connections (or its file).
	io.Closer
}

// Log is the part of the meta store that orders deltas: per catalog, the
// delta log, the version allocator and the latest-snapshot pointer.
type Log interface {
	// Commit allocates the catalog's next version and appends d to its log,
	// atomically, and returns the version. d.Version is ignored. Committing
	// the same delta (same ID) again returns its first version and changes
	// nothing, so a commit may be retried when its outcome is unknown. A
	// version past MaxVersion is ErrVersionOverflow, and a delta without an
	// ID or with pack fields that disagree (see Delta) ErrInvalidDelta
	// (nothing committed either way).
	Commit(ctx context.Context, catalog string, d Delta) (int64, error)
	// CommitAll commits many deltas, of any catalogs, as Commit commits
	// each: versions[i] or errs[i] is the answer for entries[i]. It sends
	// them together (one Lua call per cluster slot, one transaction), and
	// a catalog's entries take versions in the order given. An entry that
	// is invalid or overflows fails alone; an error of the store fails
	// every entry that was sent with it.
	CommitAll(ctx context.Context, entries []Entry) (versions []int64, errs []error)
	// Read returns, in one atomic step, the catalog's head (with Pending
	// and From) and its deltas with version > head.From, in version order.
	// From is `after` when after >= the snapshot version, or when after > 0
	// and at most MaxCatchUp deltas lie between after and the snapshot;
	// otherwise it is the snapshot version.
	// A catalog that does not exist has a zero Head and no deltas (no error).
	Read(ctx context.Context, catalog string, after int64) (Head, []Delta, error)
	// Log returns the deltas with after < version <= upTo in version order;
	// a catalog that does not exist has none (no error).
	// It is the fallback when a snapshot cannot be used.
	Log(ctx context.Context, catalog string, after, upTo int64) ([]Delta, error)
	// SaveSnapshot moves the catalog's snapshot pointer to p if p.Version is
	// newer than the current one (compare-and-set, forward only) and the
	// head's lineage is still basis, and reports whether it moved. A pointer
	// beyond the last allocated version is refused with ErrInvalidSnapshot.
	SaveSnapshot(ctx context.Context, catalog string, p SnapshotPointer, basis Lineage) (bool, error)
	// Remove takes the entry with this version and ID out of the catalog's
	// log and counts the removal in the head (Head.Removals), in one atomic
	// step, and reports whether the entry was there (a missing entry is
	// false, not an error). It is the repair of an entry whose body is
	// lost; it never changes a snapshot.
	Remove(ctx context.Context, catalog string, version int64, id string) (bool, error)
	// Catalogs lists up to limit catalogs whose names sort after `after`
	// (byte order), with their last versions; none left is an empty list.
	// The listing is updated beside the commit, not inside it, yet it never
	// omits a catalog with a committed delta and never lists one without
	// (whose first commit failed, or which was deleted).
	Catalogs(ctx context.Context, after string, limit int) ([]CatalogInfo, error)
}

// ScriptStore keeps the lake's merge scripts (the JavaScript of
// MergeScript deltas): immutable sources by hash, and names that point at
// one of them.
type ScriptStore interface {
	// PutScript stores a merge script's source under its hash (sources are
	// immutable and never deleted, so old deltas always find theirs) and
	// then points name at that hash.
	PutScript(ctx context.Context, name, hash, source string) error
	// ScriptHash returns the hash that name points at, or ErrNotFound.
	ScriptHash(ctx context.Context, name string) (string, error)
	// ScriptSource returns the source stored under hash, or ErrNotFound.
	ScriptSource(ctx context.Context, hash string) (string, error)
	// Scripts returns every registered name with the hash it points at
	// (an empty map when there are none).
	Scripts(ctx context.Context) (map[string]string, error)
	// DeleteScript removes name (the source stays for the deltas that use
	// it). A missing name is not an error.
	DeleteScript(ctx context.Context, name string) error
}

// ConfigStore keeps the lake's config and identity.
type ConfigStore interface {
	// LoadConfig returns the stored lake config, or ErrNotFound.
	LoadConfig(ctx context.Context) ([]byte, error)
	// StoreConfig replaces the stored lake config.
	StoreConfig(ctx context.Context, data []byte) error
	// LakeID returns the lake's identity: a random ID stored beside the
	// config, created by the first call on an empty meta store (so never
	// ErrNotFound). A meta store that lost its data answers with a new one.
	LakeID(ctx context.Context) (string, error)
}

// Embedded is implemented by an engine that keeps the lake in one local
// directory (file://). Dir is that directory; a lake without a config keeps
// its bodies beside the meta store there.
type Embedded interface {
	// Dir returns that directory, absolute: the one that holds meta.db.
	Dir() string
}

// Wiper is implemented by engines that can erase a namespace: Wipe removes
// every key under the engine's Options.KeyPrefix (the config, the lake ID,
// merge scripts, every catalog), and nothing else. The engine stays open
// and works on the empty namespace afterwards. An empty KeyPrefix is
// refused with ErrNoKeyPrefix: Redis keys without a prefix share the
// server's whole keyspace. Wipe is for a namespace no other client is
// using (a benchmark's, a test's): a client writing meanwhile may leave
// keys behind.
type Wiper interface {
	// Wipe removes the namespace's keys; an empty namespace is no error,
	// an empty KeyPrefix is ErrNoKeyPrefix.
	Wipe(ctx context.Context) error
}

var (
	// ErrNotFound means the requested key (the config) is not stored.
	ErrNotFound = errors.New("index: not found")
	// ErrUnavailable means the meta store could not be reached or did not
	// answer: a network error, a refused connection, a timeout.
	ErrUnavailable = errors.New("index: meta store unavailable")
	// ErrInvalidURL means the meta URL could not be parsed or names an
	// unknown engine.
	ErrInvalidURL = errors.New("index: invalid meta URL")
	// ErrCorrupt means an entry in the meta store could not be decoded.
	// The lake package's ErrCorrupt is this same value, so that a corrupt
	// entry and a corrupt body are one error to callers.
	ErrCorrupt = errors.New("corrupt stored data")
	// ErrVersionOverflow means a catalog's next version would not fit below
	// 2^53 (MaxVersion); nothing was committed.
	ErrVersionOverflow = errors.New("index: catalog version would exceed 2^53-1")
	// ErrInvalidDelta means Commit was given a delta that no log entry can
	// hold as it is: one without an ID, or one whose pack fields disagree
	// (see Delta); nothing was committed.
	ErrInvalidDelta = errors.New("index: invalid delta")
	// ErrInvalidSnapshot means a snapshot pointer is ahead of the log.
	ErrInvalidSnapshot = errors.New("index: snapshot pointer is ahead of the log")
	// ErrLocked means a file:// meta store is open in another process (or
	// another Open in this one): one owner at a time.
	ErrLocked = errors.New("index: meta store is locked by another process")
	// ErrNoKeyPrefix means Wipe was called on an engine opened without a
	// KeyPrefix; nothing was removed.
	ErrNoKeyPrefix = errors.New("index: wipe needs a key prefix")
)

// Warning is a setting of the meta store's server that puts acknowledged
// writes at risk (eviction, no persistence).
type Warning struct {
	// Setting and Value are the server setting and its current value, e.g.
	// "maxmemory-policy" and "allkeys-lru".
	Setting string
	Value   string
	// Risk says what can go wrong and what to set instead.
	Risk string
}

func (w Warning) String() string { return w.Setting + "=" + w.Value + ": " + w.Risk }

// SafetyChecker is implemented by engines whose server can be set up to
// lose data (Redis).
type SafetyChecker interface {
	// Warnings returns what is unsafe now (none: an empty slice); a setting
	// it cannot read (CONFIG disabled) is itself a Warning. A server that
	// cannot be reached is ErrUnavailable.
	Warnings(ctx context.Context) ([]Warning, error)
}

// Options tune an engine.
type Options struct {
	// KeyPrefix is put before every key the engine writes, so several lakes
	// (or test runs) can share one server; the file engine keeps each prefix
	// in a namespace of its own. It may not contain '{' or '}', which would
	// break the per-catalog hash tag.
	KeyPrefix string
}

// Open connects to the meta store named by metaURL:
//
//   - "redis://", "rediss://", "unix://" or a bare "host:port" (taken as
//     redis://): the Redis engine. Opening dials the server; an unreachable
//     server is ErrUnavailable.
//   - "file://DIR": the embedded engine, in the file DIR/meta.db. Everything
//     after "file://" is the directory path, as written (not percent-decoded):
//     "file:///abs/dir" is absolute, "file://./rel/dir" and "file://rel" are
//     relative to the working directory. DIR is created (mode 0700) if
//     missing. One process owns DIR at a time: while another process (or
//     another Open in this one) has it open, Open fails within a second with
//     ErrLocked. A DIR that cannot be created or opened is ErrUnavailable.
func Open(ctx context.Context, metaURL string, opts Options) (Index, error) {
	if strings.ContainsAny(opts.KeyPrefix, "{}") {
		return nil, fmt.Errorf("%w: key prefix %q may not contain '{' or '}'", ErrInvalidURL, opts.KeyPrefix)
	}
	scheme := "redis"
	if i := strings.Index(metaURL, "://"); i >= 0 {
		scheme = metaURL[:i]
	} else if metaURL != "" {
		metaURL = "redis://" + metaURL
	}
	switch scheme {
	case "redis", "rediss", "unix":
		if _, err := url.Parse(metaURL); err != nil || metaURL == "" {
			return nil, fmt.Errorf("%w: %q", ErrInvalidURL, RedactURL(metaURL))
		}
		return openRedis(ctx, metaURL, opts)
	case "file":
		dir, _ := EmbeddedDir(metaURL)
		if dir == "" {
			return nil, fmt.Errorf("%w: %q names no directory (want file:///abs/dir or file://rel/dir)", ErrInvalidURL, metaURL)
		}
		return openBolt(ctx, dir, opts)
	default:
		// The scheme is not quoted on its own: in "user:pa://ss@host" what
		// looks like a scheme holds part of a password.
		return nil, fmt.Errorf("%w: unknown scheme in %q (want redis://, rediss://, unix://, host:port or file://)",
			ErrInvalidURL, RedactURL(metaURL))
	}
}

// EmbeddedDir reports whether metaURL names the embedded engine (file://)
// and returns the directory it names, as Open reads it: everything after
// "file://", not percent-decoded ("" for a bare "file://", which Open
// refuses). It only parses: it neither opens nor creates anything, so a
// caller can tell an embedded lake (and find DIR/meta.db) without opening
// it. An opened index says the same through Embedded.
func EmbeddedDir(metaURL string) (dir string, ok bool) {
	if dir, ok = strings.CutPrefix(metaURL, "file://"); !ok {
		return "", false
	}
	return dir, true
}
