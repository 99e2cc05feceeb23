package index

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// The Redis engine's History: each call is one Lua call (or one command)
// on the catalog's keys, which share its hash tag.

func (r *redisIndex) Range(ctx context.Context, catalog string, after, upTo int64) (Head, []Segment, []Delta, error) {
	after, upTo = min(max(after, 0), MaxVersion), min(max(upTo, 0), MaxVersion)
	keys := append(r.catalogKeys(catalog), r.historyKey(catalog, "segs"))
	args := []string{strconv.FormatInt(after, 10), strconv.FormatInt(upTo, 10)}
	reply, err := retryResult(ctx, func() rueidis.RedisResult { return luaRange.Exec(ctx, r.client, keys, args) }).ToArray()
	if err != nil {
		return Head{}, nil, nil, classify(fmt.Errorf("range of %q: %w", catalog, err))
	}
	if len(reply) != 10 {
		return Head{}, nil, nil, fmt.Errorf("%w: range of %q: reply of %d parts", ErrCorrupt, catalog, len(reply))
	}
	var head Head
	if err := parseHead(&head, reply, []int{0, 1, 2, 3, 4, 5, 6, 7}); err != nil {
		return Head{}, nil, nil, fmt.Errorf("range of %q: %w", catalog, err)
	}
	registered, err := reply[8].AsZScores()
	if err != nil {
		return Head{}, nil, nil, fmt.Errorf("%w: range of %q: %v", ErrCorrupt, catalog, err)
	}
	segments, err := decodeSegments(registered)
	if err != nil {
		return Head{}, nil, nil, fmt.Errorf("range of %q: %w", catalog, err)
	}
	log, err := reply[9].AsZScores()
	if err != nil {
		return Head{}, nil, nil, fmt.Errorf("%w: range of %q: %v", ErrCorrupt, catalog, err)
	}
	deltas, err := decodeLog(log)
	if err != nil {
		return Head{}, nil, nil, fmt.Errorf("range of %q: %w", catalog, err)
	}
	return head, segments, deltas, nil
}

// decodeSegments reads segment registry entries: score = last version,
// member = "<after>|<key>".
func decodeSegments(entries []rueidis.ZScore) ([]Segment, error) {
	segments := make([]Segment, len(entries))
	for i, e := range entries {
		afterText, key, ok := strings.Cut(e.Member, "|")
		after, err := parseVersion(afterText)
		if !ok || err != nil || key == "" || e.Score != float64(int64(e.Score)) || int64(e.Score) <= after || e.Score > MaxVersion {
			return nil, fmt.Errorf("%w: segment entry %q at %v", ErrCorrupt, e.Member, e.Score)
		}
		segments[i] = Segment{After: after, Last: int64(e.Score), Key: key}
	}
	return segments, nil
}

func (r *redisIndex) Snapshots(ctx context.Context, catalog string, upTo int64, limit int) ([]SnapshotPointer, error) {
	if limit <= 0 {
		return nil, nil
	}
	upTo = min(max(upTo, 0), MaxVersion)
	cmd := r.client.B().Zrevrangebyscore().Key(r.historyKey(catalog, "snaps")).
		Max(strconv.FormatInt(upTo, 10)).Min("-inf").Withscores().Limit(0, int64(limit)).Build()
	list, err := r.do(ctx, cmd).AsZScores()
	if err != nil {
		return nil, classify(fmt.Errorf("snapshots of %q: %w", catalog, err))
	}
	pointers := make([]SnapshotPointer, len(list))
	for i, e := range list {
		if e.Score <= 0 || e.Score > MaxVersion || e.Score != float64(int64(e.Score)) || e.Member == "" {
			return nil, fmt.Errorf("%w: snapshot history of %q: %q at %v", ErrCorrupt, catalog, e.Member, e.Score)
		}
		pointers[i] = SnapshotPointer{Version: int64(e.Score), Key: e.Member}
	}
	return pointers, nil
}

func (r *redisIndex) AddSegment(ctx context.Context, catalog string, s Segment) error {
	if s.After < 0 || s.Last <= s.After || s.Last > MaxVersion || s.Key == "" {
		return fmt.Errorf("%w: segment (%d, %d] %q of %q", ErrArchiveMoved, s.After, s.Last, s.Key, catalog)
	}
	keys := []string{r.catalogKeys(catalog)[0], r.historyKey(catalog, "segs")}
	args := []string{strconv.FormatInt(s.After, 10), strconv.FormatInt(s.Last, 10), s.Key}
	err := retryResult(ctx, func() rueidis.RedisResult { return luaAddSegment.Exec(ctx, r.client, keys, args) }).Error()
	if err != nil {
		if msg, ok := luaRefusal(err, "LAKE archive moved"); ok {
			return fmt.Errorf("%w: %q: %s", ErrArchiveMoved, catalog, msg)
		}
		return classify(fmt.Errorf("register segment of %q: %w", catalog, err))
	}
	return nil
}

func (r *redisIndex) Trim(ctx context.Context, catalog string, upTo int64) (int64, error) {
	if upTo <= 0 {
		return 0, nil
	}
	if upTo > MaxVersion {
		return 0, fmt.Errorf("%w: %q: version %d is beyond 2^53-1", ErrTrimRefused, catalog, upTo)
	}
	args := []string{strconv.FormatInt(upTo, 10)}
	n, err := retryResult(ctx, func() rueidis.RedisResult { return luaTrim.Exec(ctx, r.client, r.catalogKeys(catalog), args) }).AsInt64()
	if err != nil {
		if msg, ok := luaRefusal(err, "LAKE trim refused"); ok {
			return 0, fmt.Errorf("%w: %q: %s", ErrTrimRefused, catalog, msg)
		}
		return 0, classify(fmt.Errorf("trim %q: %w", catalog, err))
	}
	return n, nil
}

func (r *redisIndex) Lease(ctx context.Context, catalog, owner string, ttl time.Duration) (bool, error) {
	if owner == "" || ttl < time.Millisecond {
		return false, fmt.Errorf("index: lease of %q: needs an owner and a time to live of at least 1ms", catalog)
	}
	args := []string{owner, strconv.FormatInt(ttl.Milliseconds(), 10)}
	held, err := retryResult(ctx, func() rueidis.RedisResult {
		return luaLease.Exec(ctx, r.client, []string{r.historyKey(catalog, "lease")}, args)
	}).AsInt64()
	if err != nil {
		return false, classify(fmt.Errorf("lease of %q: %w", catalog, err))
	}
	return held == 1, nil
}

func (r *redisIndex) Release(ctx context.Context, catalog, owner string) error {
	err := retryResult(ctx, func() rueidis.RedisResult {
		return luaRelease.Exec(ctx, r.client, []string{r.historyKey(catalog, "lease")}, []string{owner})
	}).Error()
	if err != nil {
		return classify(fmt.Errorf("release lease of %q: %w", catalog, err))
	}
	return nil
}

func (r *redisIndex) Forget(ctx context.Context, catalog string, snapshots []SnapshotPointer, segments []Segment) error {
	if len(snapshots) == 0 && len(segments) == 0 {
		return nil
	}
	keys := []string{r.catalogKeys(catalog)[0], r.historyKey(catalog, "snaps"), r.historyKey(catalog, "segs")}
	args := make([]string, 0, 1+2*len(snapshots)+3*len(segments))
	args = append(args, strconv.Itoa(len(snapshots)))
	for _, p := range snapshots {
		args = append(args, strconv.FormatInt(p.Version, 10), p.Key)
	}
	for _, s := range segments {
		args = append(args, strconv.FormatInt(s.After, 10), strconv.FormatInt(s.Last, 10), s.Key)
	}
	err := retryResult(ctx, func() rueidis.RedisResult { return luaForget.Exec(ctx, r.client, keys, args) }).Error()
	if err != nil {
		if msg, ok := luaRefusal(err, "LAKE in use"); ok {
			return fmt.Errorf("%w: %q: %s", ErrInUse, catalog, msg)
		}
		return classify(fmt.Errorf("forget history of %q: %w", catalog, err))
	}
	return nil
}

func (r *redisIndex) DeleteCatalog(ctx context.Context, catalog string) (int64, error) {
	keys := append(r.catalogKeys(catalog), r.historyKey(catalog, "snaps"), r.historyKey(catalog, "segs"))
	d, err := retryResult(ctx, func() rueidis.RedisResult { return luaDelete.Exec(ctx, r.client, keys, nil) }).AsInt64()
	if err != nil {
		if _, ok := luaRefusal(err, "LAKE version overflow"); ok {
			return 0, fmt.Errorf("%w: deleting %q", ErrVersionOverflow, catalog)
		}
		return 0, classify(fmt.Errorf("delete %q: %w", catalog, err))
	}
	return d, nil
}

// luaRefusal reports whether err is an error reply of our Lua that starts
// with prefix, and returns the reply's text after it.
func luaRefusal(err error, prefix string) (string, bool) {
	msg := err.Error()
	i := strings.Index(msg, prefix)
	if i < 0 {
		return "", false
	}
	return strings.TrimPrefix(strings.TrimSpace(msg[i+len(prefix):]), ": "), true
}

func (r *redisIndex) Restore(ctx context.Context, catalog string, res Restoration) error {
	if err := res.Check(); err != nil {
		return fmt.Errorf("restore %q: %w", catalog, err)
	}
	archived := int64(0)
	if n := len(res.Segments); n > 0 {
		archived = res.Segments[n-1].Last
	}
	num := func(v int64) string { return strconv.FormatInt(v, 10) }
	args := []string{num(res.Version), num(res.Epoch), num(res.Deleted), num(res.Snapshot.Version), res.Snapshot.Key, num(archived), num(res.Trimmed)}
	args = append(args, strconv.Itoa(len(res.Snapshots)))
	for _, p := range res.Snapshots {
		args = append(args, num(p.Version), p.Key)
	}
	args = append(args, strconv.Itoa(len(res.Segments)))
	for _, s := range res.Segments {
		args = append(args, num(s.Last), num(s.After)+"|"+s.Key)
	}
	for _, d := range res.Log {
		member, _ := encodeMember(d) // Check encoded each
		args = append(args, num(d.Version), member)
	}
	if err := r.listCatalogs(ctx, catalog); err != nil {
		return err
	}
	keys := append(r.catalogKeys(catalog), r.historyKey(catalog, "snaps"), r.historyKey(catalog, "segs"))
	err := retryResult(ctx, func() rueidis.RedisResult { return luaRestore.Exec(ctx, r.client, keys, args) }).Error()
	if err != nil {
		if _, ok := luaRefusal(err, "LAKE exists"); ok {
			return fmt.Errorf("%w: %q", ErrNotEmpty, catalog)
		}
		return classify(fmt.Errorf("restore %q: %w", catalog, err))
	}
	return nil
}
