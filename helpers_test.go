package lake_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/storage"
	"github.com/redis/rueidis"
)

// testLake is one lake (one Redis key prefix) that several clients can open.
type testLake struct {
	t      testing.TB
	url    string
	prefix string
	redis  rueidis.Client
}

func newTestLake(t testing.TB) *testLake {
	t.Helper()
	url := redistest.URL(t)
	return &testLake{t: t, url: url, prefix: redistest.Prefix(t, url), redis: redistest.Client(t, url)}
}

// client opens a client of the lake; it is closed when the test ends.
func (l *testLake) client(opts ...func(*lake.Option)) *lake.Client {
	quiet := func(o *lake.Option) {
		o.KeyPrefix = l.prefix
		o.Logger = slog.New(slog.DiscardHandler)
	}
	all := append([]func(*lake.Option){quiet}, opts...)
	c := lake.NewLake(l.url, all...)
	l.t.Cleanup(func() { c.Close() })
	return c
}

func withStorage(s storage.Storage) func(*lake.Option) {
	return func(o *lake.Option) { o.Storage = s }
}

// withoutCache turns the client's document cache off: every read folds.
func withoutCache(o *lake.Option) { o.CacheSize = -1 }

// logLen counts the catalog's committed deltas straight from Redis.
func (l *testLake) logLen(catalog string) int64 {
	l.t.Helper()
	n, err := l.redis.Do(context.Background(), l.redis.B().Zcard().Key(l.prefix+"lake:{"+catalog+"}:log").Build()).AsInt64()
	if err != nil {
		l.t.Fatal(err)
	}
	return n
}

// snapshotVersion reads the catalog's snapshot pointer straight from Redis.
func (l *testLake) snapshotVersion(catalog string) int64 {
	l.t.Helper()
	v, err := l.redis.Do(context.Background(), l.redis.B().Hget().Key(l.prefix+"lake:{"+catalog+"}:head").Field("snap_version").Build()).AsInt64()
	if rueidis.IsRedisNil(err) {
		return 0
	}
	if err != nil {
		l.t.Fatal(err)
	}
	return v
}

// snapshotKey reads the catalog's snapshot object key straight from Redis.
func (l *testLake) snapshotKey(catalog string) string {
	l.t.Helper()
	key, err := l.redis.Do(context.Background(), l.redis.B().Hget().Key(l.prefix+"lake:{"+catalog+"}:head").Field("snap_key").Build()).ToString()
	if err != nil {
		l.t.Fatal(err)
	}
	return key
}

func (l *testLake) setRawConfig(raw string) {
	l.t.Helper()
	if err := l.redis.Do(context.Background(), l.redis.B().Set().Key(l.prefix+"lake.setting").Value(raw).Build()).Error(); err != nil {
		l.t.Fatal(err)
	}
}

func (l *testLake) rawConfig() string {
	l.t.Helper()
	raw, err := l.redis.Do(context.Background(), l.redis.B().Get().Key(l.prefix+"lake.setting").Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return ""
	}
	if err != nil {
		l.t.Fatal(err)
	}
	return raw
}

// countingStorage is a Storage decorator that counts calls and can fail puts.
type countingStorage struct {
	storage.Storage
	gets    atomic.Int64
	mu      sync.Mutex
	got     []string
	failPut func(key string) error
}

// Unwrap lets the client see the store underneath (storage.HolderOf).
func (c *countingStorage) Unwrap() storage.Storage { return c.Storage }

func (c *countingStorage) Get(ctx context.Context, key string) ([]byte, error) {
	c.gets.Add(1)
	c.mu.Lock()
	c.got = append(c.got, key)
	c.mu.Unlock()
	return c.Storage.Get(ctx, key)
}

func (c *countingStorage) Put(ctx context.Context, key string, data []byte) error {
	if c.failPut != nil {
		if err := c.failPut(key); err != nil {
			return err
		}
	}
	return c.Storage.Put(ctx, key, data)
}

// fetched returns the keys fetched since the last call.
func (c *countingStorage) fetched() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := c.got
	c.got = nil
	return keys
}

// packFiles lists the pack files of a local store rooted at dir.
func packFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, ".packs", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// packKeys lists the keys of the packs in a local store rooted at dir.
func packKeys(t testing.TB, dir string) []string {
	t.Helper()
	var keys []string
	for _, f := range packFiles(t, dir) {
		keys = append(keys, ".packs/"+filepath.Base(f))
	}
	return keys
}

// rewritePart stores the pack under key again with part i replaced by data
// (the other parts as they were), as damage that every frame check passes.
// data must be as long as the part was: the log holds each part's offset.
func rewritePart(t testing.TB, s storage.Storage, key string, i int, data []byte) {
	t.Helper()
	ctx := context.Background()
	parts, err := storage.ReadParts(ctx, s, key)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([][]byte, len(parts))
	for k, p := range parts {
		raw[k] = p.Data
	}
	if len(data) != len(raw[i]) {
		t.Fatalf("rewritePart: %d bytes for a part of %d", len(data), len(raw[i]))
	}
	raw[i] = data
	if _, err := storage.PutParts(ctx, s, key, raw); err != nil {
		t.Fatal(err)
	}
}

func countSnapshots(keys []string) (snapshots, deltas int) {
	for _, k := range keys {
		if strings.Contains(k, "/snapshots/") {
			snapshots++
		} else {
			deltas++
		}
	}
	return
}

func mustRead(t *testing.T, c *lake.Client, req lake.ReadRequest) *lake.ReadResult {
	t.Helper()
	res, err := c.Read(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustWrite(t *testing.T, c *lake.Client, req lake.WriteRequest) int64 {
	t.Helper()
	v, err := c.WriteVersion(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
