package lake_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/storage"
)

// The benchmarks run against the test Redis with memory storage, so they
// measure Lake and Redis, not an object store. RunParallel with parallelism
// 32 runs 64 goroutines on a 2-core machine: 64 concurrent clients.

func benchClient(b *testing.B) *lake.Client {
	b.Helper()
	return newTestLake(b).client(withStorage(storage.NewMemoryStorage()))
}

var value1KiB = strings.Repeat("x", 1024-2) // 1 KiB once JSON-quoted

func BenchmarkWrite1KiB(b *testing.B) { benchWrite1KiB(b, benchClient(b)) }

// BenchmarkWrite1KiBCompacted is the same with the bodies in a store that
// does not say it is volatile, so that background compaction runs (every
// second here, keeping 1,000 entries per catalog, trimming entries older
// than a second): what it costs the writes.
func BenchmarkWrite1KiBCompacted(b *testing.B) {
	benchWrite1KiB(b, newTestLake(b).client(withStorage(struct{ storage.Storage }{storage.NewMemoryStorage()}), func(o *lake.Option) {
		o.Compaction = lake.CompactionPolicy{Interval: time.Second, KeepEntries: 1000, MinAge: time.Second}
	}))
}

func benchWrite1KiB(b *testing.B, client *lake.Client) {
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(32)
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	// The names and the boxed value are made before the clock starts, so
	// that allocs/op counts Lake's allocations only.
	var catalogs [16]string
	var fields [1000]string
	for i := range catalogs {
		catalogs[i] = fmt.Sprint("bench", i)
	}
	for i := range fields {
		fields[i] = fmt.Sprint("f", i)
	}
	var value any = value1KiB
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			req := lake.WriteRequest{Catalog: catalogs[i%16], Field: fields[i%1000], Value: value}
			if err := client.Write(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReadUnchanged reads a 100-field document that has not changed
// since the client last read it: one Redis round trip, served from the
// client's document cache.
func BenchmarkReadUnchanged(b *testing.B) {
	client := benchClient(b)
	ctx := context.Background()
	for i := range 100 {
		if err := client.Write(ctx, lake.WriteRequest{Catalog: "hot", Field: fmt.Sprint("f", i), Value: i}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := client.Read(ctx, lake.ReadRequest{Catalog: "hot", GenerateSnap: true}); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.Read(ctx, lake.ReadRequest{Catalog: "hot"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReadCold1000Deltas folds 1,000 deltas with no snapshot, one read
// at a time: the cost of a catalog nobody has snapshotted.
func BenchmarkReadCold1000Deltas(b *testing.B) {
	// Without the document cache, every read folds all 1,000 deltas again.
	client := newTestLake(b).client(withStorage(storage.NewMemoryStorage()), withoutCache)
	ctx := context.Background()
	for i := range 1000 {
		if err := client.Write(ctx, lake.WriteRequest{Catalog: "cold", Field: fmt.Sprint("f", i%100), Value: i}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res, err := client.Read(ctx, lake.ReadRequest{Catalog: "cold"})
		if err != nil || res.Snapshot.Deltas != 1000 {
			b.Fatal(err, res.Snapshot.Deltas)
		}
	}
}

// BenchmarkRedisBytesPerDelta reports how much Redis memory one delta costs
// (redis-bytes/delta): used_memory of a redis-server of its own before and
// after b.N small writes over 100 catalogs. Nothing trims the log yet, so
// this is the growth per write. "durable" stores bodies as a durable store
// would (the log entry names no holder); "memory-held" marks each entry
// with the memory store that holds its body.
func BenchmarkRedisBytesPerDelta(b *testing.B) {
	b.Run("durable", func(b *testing.B) {
		// Memory hidden behind a wrapper that does not say it is volatile.
		benchRedisBytesPerDelta(b, struct{ storage.Storage }{storage.NewMemoryStorage()})
	})
	b.Run("memory-held", func(b *testing.B) { benchRedisBytesPerDelta(b, storage.NewMemoryStorage()) })
}

func benchRedisBytesPerDelta(b *testing.B, store storage.Storage) {
	server := redistest.StartServer(b)
	client := lake.NewLake(server.URL, withStorage(store), func(o *lake.Option) {
		o.Logger = slog.New(slog.DiscardHandler)
		o.Compaction.Interval = -1 // the tail's own cost: nothing archived or trimmed
	})
	defer client.Close()
	ctx := context.Background()
	if err := client.Write(ctx, lake.WriteRequest{Catalog: "warm", Field: "a", Value: 0}); err != nil {
		b.Fatal(err) // connects and loads the config before the first measure
	}
	admin := redistest.Client(b, server.URL)
	usedMemory := func() int64 { return redistest.UsedMemory(b, admin) }
	before := usedMemory()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			req := lake.WriteRequest{Catalog: fmt.Sprintf("cat%03d", i%100), Field: fmt.Sprint("f", i%50), Value: i}
			if err := client.Write(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(usedMemory()-before)/float64(b.N), "redis-bytes/delta")
}
