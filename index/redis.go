package index

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/rueidis"
)

// Redis keys, all under Options.KeyPrefix:
//
//	lake.setting               the config (JSON)
//	lake.catalogs              sorted set, all scores 0: the catalog names (listing)
//	lake.scripts               hash: merge script name -> source hash
//	lake.script:<hash>         a merge script's source (immutable)
//	lake:{<catalog>}:head      hash: version (last allocated), snap_version, snap_key
//	lake:{<catalog>}:log       sorted set: score = version, member = encoded delta
//
// Both keys of a catalog share the hash tag {<catalog>}, so every script
// touches one cluster slot.
type redisIndex struct {
	client rueidis.Client
	prefix string
	// listed holds the catalogs this process has added to lake.catalogs, so
	// each costs one extra command per process, not one per write.
	listed sync.Map
	// commits batches concurrent commits into one script call per cluster
	// slot (group commit).
	commits *batcher[commitRequest, int64]
	// reads batches concurrent reads the same way.
	reads   *batcher[readRequest, readResult]
	cluster bool
}

// commitRequest is one delta waiting in a commit batch.
type commitRequest struct{ catalog, member string }

const (
	// maxBatch bounds the deltas of one commit call: a script call holds
	// Redis for its whole run, and 256 commits take it well under a
	// millisecond.
	maxBatch = 256
	// maxReadBatch bounds the reads of one read call. It is smaller: a cold
	// read may return thousands of log entries, and the whole batch holds
	// Redis until it is done.
	maxReadBatch = 64
	// commitFlights is how many commit batches of one slot may be in flight
	// at once: with two, the next batch is on its way while Redis runs the
	// last, and order is still Redis's execution order.
	commitFlights = 2
	// readFlights is the same for read batches.
	readFlights = 2
	// batchTimeout bounds one batch call. A batch outlives the callers that
	// started it (each waits only as long as its own context allows), so it
	// needs a bound of its own.
	batchTimeout = 10 * time.Second
)

var (
	// Commits are idempotent (see Delta.ID), so rueidis may retry them.
	luaCommit       = rueidis.NewLuaScriptRetryable(scriptCommit)
	luaRead         = rueidis.NewLuaScriptReadOnly(scriptRead)
	luaSaveSnapshot = rueidis.NewLuaScript(scriptSaveSnapshot)
	luaRemove       = rueidis.NewLuaScript(scriptRemove)
)

func openRedis(ctx context.Context, metaURL string, opts Options) (*redisIndex, error) {
	option, err := rueidis.ParseURL(metaURL)
	if err != nil {
		if ambiguousURL(metaURL) {
			return nil, fmt.Errorf("%w: %s: percent-encode '/', '?', '#', '%%' and '@' in the password",
				ErrInvalidURL, RedactURL(metaURL))
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidURL, RedactURL(metaURL), err)
	}
	// Client-side caching is off until reads use it; it costs a tracking
	// table on the server.
	option.DisableCache = true
	option.RetryDelay = boundedRetry
	// Every timeout is relative, for each dial and each command: the client
	// lives far longer than ctx, and redials after every restart, failover
	// or dropped connection. (An absolute Dialer.Deadline taken from ctx
	// failed every dial once the client was older than it.) ctx bounds only
	// this first connection, below.
	option.Dialer.Deadline = time.Time{}
	if option.Dialer.Timeout <= 0 { // the URL's dial_timeout wins
		option.Dialer.Timeout = dialTimeout
	}
	if option.ConnWriteTimeout <= 0 { // the URL's write_timeout wins
		option.ConnWriteTimeout = connTimeout
	}
	client, err := newClient(ctx, option)
	if err != nil {
		return nil, classify(fmt.Errorf("connect to %s: %w", RedactURL(metaURL), err))
	}
	r := &redisIndex{client: client, prefix: opts.KeyPrefix, cluster: client.Mode() == rueidis.ClientModeCluster}
	r.commits = newBatcher(maxBatch, commitFlights, r.commitBatch)
	r.reads = newBatcher(maxReadBatch, readFlights, r.readBatch)
	return r, nil
}

const (
	// dialTimeout bounds one dial (TCP, TLS and the connection's handshake).
	dialTimeout = 3 * time.Second
	// connTimeout is how long a connection may wait for Redis to answer
	// (and how long an idle one may go without an answer to its PING)
	// before it is closed and redialled.
	connTimeout = 10 * time.Second
)

// newClient is rueidis.NewClient bounded by ctx: the first connection is
// made now, and the caller waits for it only as long as ctx allows. A client
// that connects after ctx ended is closed.
func newClient(ctx context.Context, option rueidis.ClientOption) (rueidis.Client, error) {
	type opened struct {
		client rueidis.Client
		err    error
	}
	done := make(chan opened, 1)
	go func() {
		client, err := rueidis.NewClient(option)
		done <- opened{client, err}
	}()
	select {
	case o := <-done:
		return o.client, o.err
	case <-ctx.Done():
		go func() {
			if o := <-done; o.client != nil {
				o.client.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// boundedRetry lets rueidis retry a retryable command (reads, and commits,
// which are idempotent) three times after a network error, 10, 40 and 160 ms
// apart, and then give up: a stopped Redis is an error in well under a second
// instead of a wait as long as the caller's context, and a connection broken
// by a Redis restart costs a retry, not a failed write.
func boundedRetry(attempts int, _ rueidis.Completed, _ error) time.Duration {
	if attempts >= 3 {
		return -1
	}
	return 10 * time.Millisecond << (2 * attempts)
}

func (r *redisIndex) configKey() string { return r.prefix + "lake.setting" }

func (r *redisIndex) lakeIDKey() string { return r.prefix + "lake.id" }

func (r *redisIndex) catalogKeys(catalog string) []string {
	base := r.prefix + "lake:{" + catalog + "}:"
	return []string{base + "head", base + "log"}
}

func (r *redisIndex) Commit(ctx context.Context, catalog string, d Delta) (int64, error) {
	if d.ID == "" {
		return 0, errors.New("index: commit of a delta without an ID")
	}
	// The listing is a separate key (another cluster slot), so it is written
	// before the commit: it can name a catalog whose commit then failed, but
	// never misses a committed one.
	if _, ok := r.listed.Load(catalog); !ok {
		cmd := r.client.B().Zadd().Key(r.catalogsKey()).Nx().ScoreMember().ScoreMember(0, catalog).Build()
		if err := r.do(ctx, cmd).Error(); err != nil {
			return 0, classify(fmt.Errorf("list catalog %q: %w", catalog, err))
		}
		r.listed.Store(catalog, true)
	}
	// A batch meets an unavailable server once; the caller, whose deadline
	// the batch does not know, sends the delta again while it may wait.
	var version int64
	err := retryTransient(ctx, func() (err error) {
		version, err = r.commits.do(ctx, r.slot(catalog), commitRequest{catalog: catalog, member: encodeMember(d)})
		return err
	})
	return version, err
}

// slot is the batch group of a catalog: its cluster slot, since one script
// call may only touch keys of one slot; a standalone Redis takes every
// catalog in one call.
func (r *redisIndex) slot(catalog string) uint16 {
	if !r.cluster {
		return 0
	}
	cmd := r.client.B().Get().Key(r.catalogKeys(catalog)[0]).Build()
	return cmd.Slot()
}

// commitBatch commits a batch in one script call: the catalogs in order of
// first appearance, each with its deltas in the order they arrived.
func (r *redisIndex) commitBatch(ctx context.Context, calls []*call[commitRequest, int64]) {
	var catalogs []string
	byCatalog := make(map[string][]*call[commitRequest, int64])
	for _, c := range calls {
		if _, ok := byCatalog[c.req.catalog]; !ok {
			catalogs = append(catalogs, c.req.catalog)
		}
		byCatalog[c.req.catalog] = append(byCatalog[c.req.catalog], c)
	}
	keys := make([]string, 0, 2*len(catalogs))
	args := make([]string, 0, len(catalogs)+len(calls))
	for _, catalog := range catalogs {
		keys = append(keys, r.catalogKeys(catalog)...)
		args = append(args, strconv.Itoa(len(byCatalog[catalog])))
		for _, c := range byCatalog[catalog] {
			args = append(args, c.req.member)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	versions, err := luaCommit.Exec(ctx, r.client, keys, args).AsIntSlice()
	if err != nil {
		err = classify(err)
	} else if len(versions) != len(calls) {
		err = fmt.Errorf("%w: commit returned %d versions for %d deltas", ErrCorrupt, len(versions), len(calls))
	}
	i := 0
	for _, catalog := range catalogs {
		for _, c := range byCatalog[catalog] {
			switch {
			case err != nil:
				c.err = fmt.Errorf("commit to %q: %w", catalog, err)
			case versions[i] < 0:
				c.err = fmt.Errorf("%w: %q", ErrVersionOverflow, catalog)
			default:
				c.res = versions[i]
			}
			i++
		}
	}
}

func (r *redisIndex) Read(ctx context.Context, catalog string, after int64) (Head, []Delta, error) {
	// Lua's %d would wrap a larger number to a negative one.
	after = min(max(after, 0), MaxVersion)
	var res readResult
	err := retryTransient(ctx, func() (err error) {
		res, err = r.reads.do(ctx, r.slot(catalog), readRequest{catalog: catalog, after: after})
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

// readBatch runs a batch of reads in one script call. Reads of the same
// catalog after the same version (many readers of one hot document) share
// one entry of the call.
func (r *redisIndex) readBatch(ctx context.Context, calls []*call[readRequest, readResult]) {
	var reads []readRequest // distinct requests, in order
	entry := make([]int, len(calls))
	seen := make(map[readRequest]int, len(calls))
	for i, c := range calls {
		n, ok := seen[c.req]
		if !ok {
			n = len(reads)
			seen[c.req] = n
			reads = append(reads, c.req)
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
			c.err = err
		case answered[n]:
			// A repeated read: the same answer in a slice of its own.
			first := calls[slices.Index(entry, n)]
			c.res, c.err = first.res, first.err
			c.res.deltas = slices.Clone(c.res.deltas)
		default:
			c.res.head, c.res.deltas, c.err = parseRead(replies[n])
		}
		answered[n] = true
	}
	for _, c := range calls {
		if c.err != nil {
			c.err = fmt.Errorf("read %q: %w", c.req.catalog, c.err)
		}
	}
}

// parseRead decodes one read's part of a scriptRead reply.
func parseRead(msg rueidis.RedisMessage) (Head, []Delta, error) {
	reply, err := msg.ToArray()
	if err != nil || len(reply) != 8 {
		return Head{}, nil, fmt.Errorf("%w: unexpected reply %v (%v)", ErrCorrupt, msg, err)
	}
	var head Head
	var fields [6]string
	for i, part := range []int{0, 1, 2, 5, 6, 7} {
		if fields[i], err = reply[part].ToString(); err != nil {
			return Head{}, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	for i, dst := range []*int64{&head.Version, &head.Snapshot.Version, nil, &head.From, &head.Epoch, &head.Removals} {
		if dst == nil {
			continue
		}
		if *dst, err = parseVersion(fields[i]); err != nil {
			return Head{}, nil, fmt.Errorf("%w: head: %v", ErrCorrupt, err)
		}
	}
	head.Snapshot.Key = fields[2]
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
	keys := r.catalogKeys(catalog)[:1]
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

func (r *redisIndex) LakeID(ctx context.Context) (string, error) {
	// SET NX then GET, not SET NX GET (Redis 7): Lake supports Redis 6.2.
	set := r.client.B().Set().Key(r.lakeIDKey()).Value(uuid.NewString()).Nx().Build()
	if err := r.do(ctx, set).Error(); err != nil && !rueidis.IsRedisNil(err) {
		return "", classify(fmt.Errorf("create lake id: %w", err))
	}
	id, err := r.do(ctx, r.client.B().Get().Key(r.lakeIDKey()).Build()).ToString()
	if err != nil {
		return "", classify(fmt.Errorf("lake id: %w", err))
	}
	return id, nil
}

func (r *redisIndex) catalogsKey() string { return r.prefix + "lake.catalogs" }

func (r *redisIndex) Catalogs(ctx context.Context, after string, limit int) ([]CatalogInfo, error) {
	if limit <= 0 {
		return nil, nil
	}
	from := "-"
	if after != "" {
		from = "(" + after
	}
	names, err := r.do(ctx, r.client.B().Zrangebylex().Key(r.catalogsKey()).Min(from).Max("+").Limit(0, int64(limit)).Build()).AsStrSlice()
	if err != nil {
		return nil, classify(fmt.Errorf("list catalogs: %w", err))
	}
	cmds := make(rueidis.Commands, len(names))
	for i, name := range names {
		cmds[i] = r.client.B().Hget().Key(r.catalogKeys(name)[0]).Field("version").Build()
	}
	list := make([]CatalogInfo, len(names))
	for i, res := range r.client.DoMulti(ctx, cmds...) {
		list[i].Name = names[i]
		v, err := res.ToString()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return nil, classify(fmt.Errorf("list catalogs: %w", err))
		}
		if list[i].Version, err = parseVersion(v); err != nil {
			return nil, fmt.Errorf("%w: head of %q: %v", ErrCorrupt, names[i], err)
		}
	}
	return list, nil
}

func (r *redisIndex) scriptsKey() string { return r.prefix + "lake.scripts" }

func (r *redisIndex) scriptKey(hash string) string { return r.prefix + "lake.script:" + hash }

func (r *redisIndex) PutScript(ctx context.Context, name, hash, source string) error {
	// The source goes first, so a name never points at a missing source.
	// The two keys may live in different cluster slots: two commands.
	if err := r.do(ctx, r.client.B().Set().Key(r.scriptKey(hash)).Value(source).Build()).Error(); err != nil {
		return classify(fmt.Errorf("store script %q: %w", name, err))
	}
	if err := r.do(ctx, r.client.B().Hset().Key(r.scriptsKey()).FieldValue().FieldValue(name, hash).Build()).Error(); err != nil {
		return classify(fmt.Errorf("register script %q: %w", name, err))
	}
	return nil
}

func (r *redisIndex) ScriptHash(ctx context.Context, name string) (string, error) {
	hash, err := r.do(ctx, r.client.B().Hget().Key(r.scriptsKey()).Field(name).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", fmt.Errorf("%w: script %q", ErrNotFound, name)
	}
	if err != nil {
		return "", classify(fmt.Errorf("script %q: %w", name, err))
	}
	return hash, nil
}

func (r *redisIndex) ScriptSource(ctx context.Context, hash string) (string, error) {
	source, err := r.do(ctx, r.client.B().Get().Key(r.scriptKey(hash)).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", fmt.Errorf("%w: script source %s", ErrNotFound, hash)
	}
	if err != nil {
		return "", classify(fmt.Errorf("script source %s: %w", hash, err))
	}
	return source, nil
}

func (r *redisIndex) Scripts(ctx context.Context) (map[string]string, error) {
	scripts, err := r.do(ctx, r.client.B().Hgetall().Key(r.scriptsKey()).Build()).AsStrMap()
	if err != nil {
		return nil, classify(fmt.Errorf("list scripts: %w", err))
	}
	return scripts, nil
}

func (r *redisIndex) DeleteScript(ctx context.Context, name string) error {
	if err := r.do(ctx, r.client.B().Hdel().Key(r.scriptsKey()).Field(name).Build()).Error(); err != nil {
		return classify(fmt.Errorf("delete script %q: %w", name, err))
	}
	return nil
}

func (r *redisIndex) LoadConfig(ctx context.Context) ([]byte, error) {
	data, err := r.do(ctx, r.client.B().Get().Key(r.configKey()).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, r.configKey())
	}
	if err != nil {
		return nil, classify(fmt.Errorf("load config: %w", err))
	}
	return data, nil
}

func (r *redisIndex) StoreConfig(ctx context.Context, data []byte) error {
	err := r.do(ctx, r.client.B().Set().Key(r.configKey()).Value(string(data)).Build()).Error()
	if err != nil {
		return classify(fmt.Errorf("store config: %w", err))
	}
	return nil
}

func (r *redisIndex) Close() error {
	r.client.Close()
	return nil
}

func (r *redisIndex) String() string { return "redis" }

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
// ErrUnavailable: network errors, timeouts, and the error replies of a
// server that cannot serve for now (transientReply: LOADING, BUSY,
// MASTERDOWN, READONLY, TRYAGAIN, CLUSTERDOWN), which then name the reply.
// Other error replies and the caller's own cancellation keep their
// identity. The reply stays in the chain (errors.As finds the
// *rueidis.RedisError).
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, context.Canceled) {
		return err
	}
	var reply *rueidis.RedisError
	if errors.As(err, &reply) && !reply.IsNil() {
		if word, ok := transientReply(err); ok {
			return fmt.Errorf("%w: Redis answered %s: %w", ErrUnavailable, word, err)
		}
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// transientReply reports whether err holds an error reply by which Redis
// says it cannot serve the command now but will soon, and returns the
// reply's first word:
//
//	LOADING      the server is loading its data set after a restart
//	BUSY         a script (or function) runs past lua-time-limit
//	MASTERDOWN   a replica lost its primary (replica-serve-stale-data no)
//	READONLY     a write reached a replica: a failover is under way, or the
//	             URL names a replica that is about to be promoted
//	TRYAGAIN     a multi-key command during a cluster resharding
//	CLUSTERDOWN  the cluster has a slot without a primary (a failover)
//
// rueidis itself retries only LOADING, and only a few times (boundedRetry);
// retryTransient waits for all of them as long as the caller's deadline
// allows. BUSYGROUP and BUSYKEY are not BUSY: they are final answers.
func transientReply(err error) (string, bool) {
	var reply *rueidis.RedisError
	if !errors.As(err, &reply) || reply.IsNil() {
		return "", false
	}
	word, _, _ := strings.Cut(reply.Error(), " ")
	switch word {
	case "LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN":
		return word, true
	}
	return "", false
}

const (
	// transientWait bounds retryTransient when ctx has no deadline.
	transientWait = batchTimeout
	// transientFirstDelay and transientMaxDelay bound the pauses between
	// attempts: they double from the first to the last, with jitter.
	transientFirstDelay = 10 * time.Millisecond
	transientMaxDelay   = 200 * time.Millisecond
)

// retryTransient runs op, and runs it again while it fails with a transient
// error reply (transientReply), pausing between attempts (10 ms doubling to
// 200 ms, jittered) for as long as ctx's deadline allows (transientWait
// without one). It returns op's last error: nil, a final error, or the last
// transient reply when time ran out (also when the attempt cut off by the
// deadline failed only because of it). classify turns that reply into an
// error wrapping ErrUnavailable that names it.
//
// op must be safe to repeat: a read, or a commit (idempotent by delta ID),
// a snapshot save (a compare-and-set) or a removal (of an entry by version
// and ID). Every command path of the Redis engine goes through it: r.do for
// single commands, retryResult for script calls, and Commit and Read around
// their batches.
func retryTransient(ctx context.Context, op func() error) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(transientWait)
	}
	var last error // the last transient reply
	delay := transientFirstDelay
	for {
		err := op()
		if _, transient := transientReply(err); !transient {
			if err != nil && last != nil && cutOff(ctx, err) {
				return last // cut off by the deadline while Redis was unavailable
			}
			return err
		}
		last = err
		pause := delay/2 + rand.N(delay/2+1)
		// One more attempt just before the deadline, none after it.
		if left := time.Until(deadline) - time.Millisecond; left < pause {
			if pause = left; pause <= 0 {
				return last
			}
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return last
		case <-timer.C:
		}
		delay = min(2*delay, transientMaxDelay)
	}
}

// retryResult runs a Redis call through retryTransient and returns its last
// result. For script calls:
//
//	res := retryResult(ctx, func() rueidis.RedisResult { return luaX.Exec(ctx, r.client, keys, args) })
func retryResult(ctx context.Context, run func() rueidis.RedisResult) rueidis.RedisResult {
	var res, last rueidis.RedisResult
	err := retryTransient(ctx, func() error {
		res = run()
		if _, transient := transientReply(res.Error()); transient {
			last = res
		}
		return res.Error()
	})
	if _, transient := transientReply(err); transient {
		return last // the same as res, unless the deadline cut off the last attempt
	}
	return res
}

// cutOff reports whether err ended an attempt because ctx ended (rueidis
// may see the deadline pass before ctx.Err says so).
func cutOff(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

// do is r.client.Do through retryTransient: a command that meets a server
// unavailable for now is sent again until it answers or ctx's deadline is
// near. It is also marked retryable, so that rueidis sends it again on a new
// connection when its connection broke (a restart, a dropped connection):
// every command sent through do must be idempotent (each one is: SET, HSET,
// HDEL, ZADD NX, reads). cmd is pinned, so that rueidis does not recycle it
// between attempts.
func (r *redisIndex) do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	cmd = cmd.ToRetryable().Pin()
	return retryResult(ctx, func() rueidis.RedisResult { return r.client.Do(ctx, cmd) })
}
