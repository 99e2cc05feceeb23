package lake_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hkloudou/lake/v2"
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

func BenchmarkWrite1KiB(b *testing.B) {
	client := benchClient(b)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(32)
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			req := lake.WriteRequest{Catalog: fmt.Sprint("bench", i%16), Field: fmt.Sprint("f", i%1000), Value: value1KiB}
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
