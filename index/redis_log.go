package index

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hkloudou/lake/v2/internal/batch"
	"github.com/redis/rueidis"
)

// The Redis engine's log: commits and reads in batches (one Lua call each),
// the log range, snapshot pointers, removals and the catalog listing.

// commitRequest is one delta waiting in a commit batch.
type commitRequest struct{ catalog, member string }

func (r *redisIndex) Commit(ctx context.Context, catalog string, d Delta) (int64, error) {
	member, err := encodeMember(d)
	if err != nil {
		return 0, fmt.Errorf("commit to %q: %w", catalog, err)
	}
	if err := r.listCatalogs(ctx, catalog); err != nil {
		return 0, err
	}
	// A batch meets an unavailable server once; the caller, whose deadline
	// the batch does not know, sends the delta again while it may wait.
	var version int64
	err = retryTransient(ctx, func() (err error) {
		version, err = r.commits.Do(ctx, r.slot(catalog), commitRequest{catalog: catalog, member: member})
		return err
	})
	return version, err
}

func (r *redisIndex) CommitAll(ctx context.Context, entries []Entry) ([]int64, []error) {
	versions := make([]int64, len(entries))
	errs := make([]error, len(entries))
	calls := make([]batch.Call[commitRequest, int64], len(entries))
	bySlot := make(map[uint16][]*batch.Call[commitRequest, int64], 1)
	var catalogs []string
	for i, e := range entries {
		member, err := encodeMember(e.Delta)
		if err != nil {
			errs[i] = fmt.Errorf("commit to %q: %w", e.Catalog, err)
			continue
		}
		calls[i].Req = commitRequest{catalog: e.Catalog, member: member}
		slot := r.slot(e.Catalog)
		bySlot[slot] = append(bySlot[slot], &calls[i])
		if !slices.Contains(catalogs, e.Catalog) {
			catalogs = append(catalogs, e.Catalog)
		}
	}
	if err := r.listCatalogs(ctx, catalogs...); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return versions, errs
	}
	var wg sync.WaitGroup
	for _, group := range bySlot {
		for chunk := range slices.Chunk(group, maxBatch) {
			if len(bySlot) == 1 && len(group) <= maxBatch { // the usual case: no goroutine
				r.commitChunk(ctx, chunk)
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.commitChunk(ctx, chunk)
			}()
		}
	}
	wg.Wait()
	for i := range calls {
		if errs[i] == nil {
			versions[i], errs[i] = calls[i].Res, calls[i].Err
		}
	}
	return versions, errs
}

// listCatalogs adds to the listing the catalogs this client has not listed
// yet, in one ZADD. The listing is a separate key (another cluster slot), so
// it is written before the commit: it can name a catalog whose commit then
// failed, but never misses a committed one.
func (r *redisIndex) listCatalogs(ctx context.Context, catalogs ...string) error {
	var unlisted []string
	for _, catalog := range catalogs {
		if _, ok := r.listed.Load(catalog); !ok {
			unlisted = append(unlisted, catalog)
		}
	}
	if len(unlisted) == 0 {
		return nil
	}
	zadd := r.client.B().Zadd().Key(r.catalogsKey()).Nx().ScoreMember()
	for _, catalog := range unlisted {
		zadd = zadd.ScoreMember(0, catalog)
	}
	if err := r.do(ctx, zadd.Build()).Error(); err != nil {
		return classify(fmt.Errorf("list catalogs %q: %w", unlisted, err))
	}
	for _, catalog := range unlisted {
		r.listed.Store(catalog, true)
	}
	return nil
}

// commitChunk commits calls of one slot in one Lua call, and sends them
// again while Redis answers that it cannot take them now and ctx allows:
// commit.lua finds what an earlier attempt added, so a resend is safe.
func (r *redisIndex) commitChunk(ctx context.Context, calls []*batch.Call[commitRequest, int64]) {
	retryTransient(ctx, func() error {
		for _, c := range calls {
			c.Res, c.Err = 0, nil
		}
		r.commitBatch(ctx, calls)
		for _, c := range calls {
			if c.Err != nil && !errors.Is(c.Err, ErrVersionOverflow) {
				return c.Err // the call's error, which every call got
			}
		}
		return nil
	})
}

// slot is the batch group of a catalog: its cluster slot, since one Lua
// call may only touch keys of one slot; a standalone Redis takes every
// catalog in one call.
func (r *redisIndex) slot(catalog string) uint16 {
	if !r.cluster {
		return 0
	}
	cmd := r.client.B().Get().Key(r.catalogKeys(catalog)[0]).Build()
	return cmd.Slot()
}

// commitBatch commits a batch in one Lua call (commit.lua): the catalogs in
// order of first appearance, each with its deltas in the order they arrived.
func (r *redisIndex) commitBatch(ctx context.Context, calls []*batch.Call[commitRequest, int64]) {
	ordered := groupByCatalog(calls)
	keys := make([]string, 0, 2*len(ordered))
	args := make([]string, 0, 2*len(ordered))
	for i := 0; i < len(ordered); {
		catalog := ordered[i].Req.catalog
		n := 1
		for i+n < len(ordered) && ordered[i+n].Req.catalog == catalog {
			n++
		}
		keys = append(keys, r.catalogKeys(catalog)...)
		args = append(args, strconv.Itoa(n))
		for _, c := range ordered[i : i+n] {
			args = append(args, c.Req.member)
		}
		i += n
	}
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	versions, err := luaCommit.Exec(ctx, r.client, keys, args).AsIntSlice()
	settleCommits(ordered, versions, classify(err))
}

// groupByCatalog returns calls with each catalog's together: the catalogs in
// order of first appearance, each one's calls in the order they arrived.
// A batch holds at most maxBatch calls, so the quadratic scan costs less
// than the map and per-catalog slices it replaces (two allocations a batch).
func groupByCatalog(calls []*batch.Call[commitRequest, int64]) []*batch.Call[commitRequest, int64] {
	ordered := make([]*batch.Call[commitRequest, int64], 0, len(calls))
	taken := make([]bool, len(calls))
	for i, c := range calls {
		if taken[i] {
			continue
		}
		for k := i; k < len(calls); k++ {
			if !taken[k] && calls[k].Req.catalog == c.Req.catalog {
				ordered = append(ordered, calls[k])
				taken[k] = true
			}
		}
	}
	return ordered
}

// settleCommits hands each call of a commit batch (in the order commitBatch
// sent them) its answer from commit.lua's reply: its version, or
// ErrVersionOverflow for that call alone when the version is -1. err (the
// call failed) goes to every call, and so does ErrCorrupt when the reply
// does not hold one version per call: then no version can be trusted.
func settleCommits(ordered []*batch.Call[commitRequest, int64], versions []int64, err error) {
	if err == nil && len(versions) != len(ordered) {
		err = fmt.Errorf("%w: commit returned %d versions for %d deltas", ErrCorrupt, len(versions), len(ordered))
	}
	for i, c := range ordered {
		switch {
		case err != nil:
			c.Err = fmt.Errorf("commit to %q: %w", c.Req.catalog, err)
		case versions[i] < 0:
			c.Err = fmt.Errorf("%w: %q", ErrVersionOverflow, c.Req.catalog)
		default:
			c.Res = versions[i]
		}
	}
}

func (r *redisIndex) Read(ctx context.Context, catalog string, after int64) (Head, []Delta, error) {
	// Lua's %d would wrap a larger number to a negative one.
	after = min(max(after, 0), MaxVersion)
	var res readResult
	err := retryTransient(ctx, func() (err error) {
		res, err = r.reads.Do(ctx, r.slot(catalog), readRequest{catalog: catalog, after: after})
		return err
	})
	return res.head, res.deltas, err
}

// readRequest is one read waiting in a read batch; readResult its answer.
type (
	readRequest struct {
		catalog string
		after   int64
	}
	readResult struct {
		head   Head
		deltas []Delta
	}
)

// readBatch runs a batch of reads in one Lua call (read.lua). Reads of the same
// catalog after the same version (many readers of one hot document) share
// one entry of the call.
func (r *redisIndex) readBatch(ctx context.Context, calls []*batch.Call[readRequest, readResult]) {
	var reads []readRequest // distinct requests, in order
	entry := make([]int, len(calls))
	seen := make(map[readRequest]int, len(calls))
	for i, c := range calls {
		n, ok := seen[c.Req]
		if !ok {
			n = len(reads)
			seen[c.Req] = n
			reads = append(reads, c.Req)
		}
		entry[i] = n
	}
	keys := make([]string, 0, 2*len(reads))
	args := append(make([]string, 0, 1+len(reads)), strconv.Itoa(MaxCatchUp))
	for _, req := range reads {
		keys = append(keys, r.catalogKeys(req.catalog)...)
		args = append(args, strconv.FormatInt(req.after, 10))
	}
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	replies, err := luaRead.Exec(ctx, r.client, keys, args).ToArray()
	if err != nil {
		err = classify(err)
	} else if len(replies) != len(reads) {
		err = fmt.Errorf("%w: read returned %d results for %d reads", ErrCorrupt, len(replies), len(reads))
	}
	answered := make([]bool, len(reads))
	for i, c := range calls {
		n := entry[i]
		switch {
		case err != nil:
			c.Err = err
		case answered[n]:
			// A repeated read: the same answer in a slice of its own.
			first := calls[slices.Index(entry, n)]
			c.Res, c.Err = first.Res, first.Err
			c.Res.deltas = slices.Clone(c.Res.deltas)
		default:
			c.Res.head, c.Res.deltas, c.Err = parseRead(replies[n])
		}
		answered[n] = true
	}
	for _, c := range calls {
		if c.Err != nil {
			c.Err = fmt.Errorf("read %q: %w", c.Req.catalog, c.Err)
		}
	}
}

// parseRead decodes one read's part of a read.lua reply: {version,
// snap_version, snap_key, entries, pending, from, epoch, removals, archived,
// trimmed, gone}.
func parseRead(msg rueidis.RedisMessage) (Head, []Delta, error) {
	reply, err := msg.ToArray()
	if err != nil || len(reply) != 11 {
		return Head{}, nil, fmt.Errorf("%w: unexpected reply %v (%v)", ErrCorrupt, msg, err)
	}
	var head Head
	if err := parseHead(&head, reply, []int{0, 1, 2, 6, 7, 8, 9, 10}); err != nil {
		return Head{}, nil, err
	}
	if head.From, err = parseVersionReply(reply[5]); err != nil {
		return Head{}, nil, fmt.Errorf("%w: head: %v", ErrCorrupt, err)
	}
	if head.Pending, err = reply[4].AsInt64(); err != nil {
		return Head{}, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	log, err := reply[3].AsZScores()
	if err != nil {
		return Head{}, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	deltas, err := decodeLog(log)
	if err != nil {
		return Head{}, nil, err
	}
	return head, deltas, nil
}

// parseHead fills head from a reply's head fields, found at the positions
// given, in this order: version, snap_version, snap_key, epoch, removals,
// archived, trimmed, gone.
func parseHead(head *Head, reply []rueidis.RedisMessage, at []int) error {
	for i, dst := range []*int64{&head.Version, &head.Snapshot.Version, nil, &head.Epoch, &head.Removals, &head.Archived, &head.Trimmed, &head.Deleted} {
		if dst == nil {
			key, err := reply[at[i]].ToString()
			if err != nil {
				return fmt.Errorf("%w: head: %v", ErrCorrupt, err)
			}
			head.Snapshot.Key = key
			continue
		}
		v, err := parseVersionReply(reply[at[i]])
		if err != nil {
			return fmt.Errorf("%w: head: %v", ErrCorrupt, err)
		}
		*dst = v
	}
	return nil
}

// parseVersionReply reads a version sent as a decimal string.
func parseVersionReply(msg rueidis.RedisMessage) (int64, error) {
	s, err := msg.ToString()
	if err != nil {
		return 0, err
	}
	return parseVersion(s)
}

func (r *redisIndex) Log(ctx context.Context, catalog string, after, upTo int64) ([]Delta, error) {
	after, upTo = min(max(after, 0), MaxVersion), min(max(upTo, 0), MaxVersion)
	cmd := r.client.B().Zrangebyscore().Key(r.catalogKeys(catalog)[1]).
		Min("(" + strconv.FormatInt(after, 10)).Max(strconv.FormatInt(upTo, 10)).Withscores().Build()
	log, err := r.do(ctx, cmd).AsZScores()
	if err != nil {
		return nil, classify(fmt.Errorf("log of %q: %w", catalog, err))
	}
	deltas, err := decodeLog(log)
	if err != nil {
		return nil, fmt.Errorf("log of %q: %w", catalog, err)
	}
	return deltas, nil
}

func (r *redisIndex) SaveSnapshot(ctx context.Context, catalog string, p SnapshotPointer, basis Lineage) (bool, error) {
	keys := []string{r.catalogKeys(catalog)[0], r.historyKey(catalog, "snaps")}
	args := []string{strconv.FormatInt(p.Version, 10), p.Key, strconv.FormatInt(basis.Epoch, 10), strconv.FormatInt(basis.Removals, 10)}
	moved, err := retryResult(ctx, func() rueidis.RedisResult { return luaSaveSnapshot.Exec(ctx, r.client, keys, args) }).AsInt64()
	if err != nil {
		if strings.Contains(err.Error(), "ahead of the log") {
			return false, fmt.Errorf("%w: %q at version %d", ErrInvalidSnapshot, catalog, p.Version)
		}
		return false, classify(fmt.Errorf("save snapshot of %q: %w", catalog, err))
	}
	return moved == 1, nil
}

func (r *redisIndex) Remove(ctx context.Context, catalog string, version int64, id string) (bool, error) {
	if version <= 0 || version > MaxVersion || id == "" {
		return false, nil
	}
	args := []string{strconv.FormatInt(version, 10), url.QueryEscape(id)}
	removed, err := retryResult(ctx, func() rueidis.RedisResult { return luaRemove.Exec(ctx, r.client, r.catalogKeys(catalog), args) }).AsInt64()
	if err != nil {
		return false, classify(fmt.Errorf("remove version %d of %q: %w", version, catalog, err))
	}
	return removed == 1, nil
}

func (r *redisIndex) Catalogs(ctx context.Context, after string, limit int) ([]CatalogInfo, error) {
	if limit <= 0 {
		return nil, nil
	}
	// Names stay in the listing after their catalog is deleted (a process
	// that listed a name does not list it again on its next commit): a name
	// whose head has no version is skipped, and the page is filled from the
	// names after it.
	list := make([]CatalogInfo, 0, min(limit, 1024))
	for len(list) < limit {
		names, page, err := r.listPage(ctx, after, limit-len(list))
		if err != nil {
			return nil, err
		}
		list = append(list, page...)
		if len(names) < limit-len(list)+len(page) {
			break // the listing has no more names
		}
		after = names[len(names)-1]
	}
	return list, nil
}

// listPage reads up to n names after `after` from the listing and the
// versions of their heads; it returns the names it read and the catalogs
// among them that exist.
func (r *redisIndex) listPage(ctx context.Context, after string, n int) ([]string, []CatalogInfo, error) {
	from := "-"
	if after != "" {
		from = "(" + after
	}
	names, err := r.do(ctx, r.client.B().Zrangebylex().Key(r.catalogsKey()).Min(from).Max("+").Limit(0, int64(n)).Build()).AsStrSlice()
	if err != nil {
		return nil, nil, classify(fmt.Errorf("list catalogs: %w", err))
	}
	if len(names) == 0 {
		return names, nil, nil
	}
	cmds := make(rueidis.Commands, len(names))
	for i, name := range names {
		cmds[i] = r.client.B().Hget().Key(r.catalogKeys(name)[0]).Field("version").Build().Pin() // may be sent twice
	}
	// The versions are reads: the whole pipeline is sent again while any of
	// them meets a server that cannot answer for now.
	var results []rueidis.RedisResult
	_ = retryTransient(ctx, func() error {
		results = r.client.DoMulti(ctx, cmds...)
		for _, res := range results {
			if _, transient := transientReply(res.Error()); transient {
				return res.Error()
			}
		}
		return nil
	})
	list := make([]CatalogInfo, 0, len(names))
	for i, res := range results {
		v, err := res.ToString()
		if rueidis.IsRedisNil(err) {
			continue // deleted, or its first commit failed
		}
		if err != nil {
			return nil, nil, classify(fmt.Errorf("list catalogs: %w", err))
		}
		version, err := parseVersion(v)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: head of %q: %v", ErrCorrupt, names[i], err)
		}
		list = append(list, CatalogInfo{Name: names[i], Version: version})
	}
	return names, list, nil
}

// decodeLog turns [(member, score) ...] into deltas.
func decodeLog(log []rueidis.ZScore) ([]Delta, error) {
	deltas := make([]Delta, len(log))
	for i, entry := range log {
		if entry.Score < 0 || entry.Score > MaxVersion || entry.Score != float64(int64(entry.Score)) {
			return nil, fmt.Errorf("%w: score %v of %q is not a version", ErrCorrupt, entry.Score, entry.Member)
		}
		d, err := decodeMember(entry.Member, int64(entry.Score))
		if err != nil {
			return nil, err
		}
		deltas[i] = d
	}
	return deltas, nil
}

// parseVersion reads a version stored as a decimal integer.
func parseVersion(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > MaxVersion {
		return 0, fmt.Errorf("version %q is not an integer in [0, 2^53)", s)
	}
	return v, nil
}

// classify marks errors that mean "could not talk to Redis" with
