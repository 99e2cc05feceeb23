package index

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hkloudou/lake/v2/internal/batch"
	"github.com/redis/rueidis"
)

// The Redis engine: opening the client, the key layout, and the config and
// merge-script stores. The log is in redis_log.go, the retries of transient
// replies in redis_retry.go.

// Redis keys, all under Options.KeyPrefix:
//
//	lake.setting               the config (JSON)
//	lake.id                    the lake's ID (LakeID)
//	lake.catalogs              sorted set, all scores 0: the catalog names (listing)
//	lake.scripts               hash: merge script name -> source hash
//	lake.script:<hash>         a merge script's source (immutable)
//	lake:{<catalog>}:head      hash: version (last allocated), snap_version, snap_key,
//	                           epoch, removals, archived, trimmed; gone (the last
//	                           deletion version, which outlives the rest)
//	lake:{<catalog>}:log       sorted set: score = version, member = encoded delta
//	lake:{<catalog>}:snaps     sorted set: score = version, member = snapshot object key
//	lake:{<catalog>}:segs      sorted set: score = last version, member = "<after>|<segment key>"
//	lake:{<catalog>}:lease     string: the owner of the catalog's maintenance lease
//
// The keys of a catalog share the hash tag {<catalog>}, so every Lua call
// touches one cluster slot.
type redisIndex struct {
	client rueidis.Client
	prefix string
	// listed holds the catalogs this process has added to lake.catalogs, so
	// each costs one extra command per process, not one per write.
	listed sync.Map
	// commits batches concurrent commits into one Lua call per cluster
	// slot (group commit).
	commits *batch.Batcher[commitRequest, int64]
	// reads batches concurrent reads the same way.
	reads   *batch.Batcher[readRequest, readResult]
	cluster bool
}

var (
	_ Index         = (*redisIndex)(nil)
	_ SafetyChecker = (*redisIndex)(nil)
	_ Wiper         = (*redisIndex)(nil)
)

const (
	// maxBatch bounds the deltas of one commit call: a Lua call holds
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
	r.commits = batch.New(maxBatch, commitFlights, r.commitBatch)
	r.reads = batch.New(maxReadBatch, readFlights, r.readBatch)
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

func (r *redisIndex) configKey() string { return r.prefix + "lake.setting" }

func (r *redisIndex) lakeIDKey() string { return r.prefix + "lake.id" }

func (r *redisIndex) catalogKeys(catalog string) []string {
	base := r.prefix + "lake:{" + catalog + "}:"
	return []string{base + "head", base + "log"}
}

// historyKey is one of a catalog's other keys: "snaps", "segs" or "lease".
func (r *redisIndex) historyKey(catalog, name string) string {
	return r.prefix + "lake:{" + catalog + "}:" + name
}

func (r *redisIndex) catalogsKey() string { return r.prefix + "lake.catalogs" }

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
