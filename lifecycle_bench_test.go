package lake_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/internal/pack"
	"github.com/hkloudou/lake/v2/internal/s3test"
	"github.com/hkloudou/lake/v2/storage"
)

// The lifecycle figures of BENCHMARKS.md: reads of the past through
// segments, recovery and garbage collection, each on the S3 server the
// tests start (versitygw on loopback) and the test Redis.

// s3Lake opens a client of a fresh lake on a fresh bucket, with no
// background compaction (the benchmarks compact when they choose).
func s3Lake(b *testing.B, opts ...func(*lake.Option)) (*testLake, *lake.Client) {
	b.Helper()
	server := s3test.Start(b)
	l := newTestLake(b)
	off := func(o *lake.Option) { o.Compaction = lake.CompactionPolicy{Interval: -1, MinAge: -1} }
	client := l.client(append([]func(*lake.Option){off}, opts...)...)
	if err := client.UpdateConfig(context.Background(), s3Config(server)); err != nil {
		b.Fatal(err)
	}
	return l, client
}

// writeMany writes n deltas to catalog from 16 goroutines.
func writeMany(b *testing.B, c *lake.Client, catalog string, n int) {
	b.Helper()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 16 {
				if err := c.Write(context.Background(), lake.WriteRequest{Catalog: catalog, Field: fmt.Sprint("f", i%500), Value: i}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// reportPercentiles reports the median and the 99th percentile of ds.
func reportPercentiles(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	ms := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// BenchmarkReadAt10000DeltasBack reads a catalog as it was just below its
// only snapshot, 10,000 deltas in: the fold starts from the empty document
// and takes every delta from segments (three GETs of about 4,096 entries).
func BenchmarkReadAt10000DeltasBack(b *testing.B) {
	_, c := s3Lake(b, withoutCache)
	ctx := context.Background()
	writeMany(b, c, "past", 10000)
	res, err := c.Compact(ctx, "past")
	if err != nil || res.Entries != 10000 || res.Removed != 10000 {
		b.Fatalf("Compact = %+v, %v", res, err)
	}
	at := res.Snapshot - 1
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		r, err := c.Read(ctx, lake.ReadRequest{Catalog: "past", AtVersion: at})
		if err != nil || r.Snapshot.Deltas < 9999 {
			b.Fatalf("read at %d: %v, %+v", at, err, r)
		}
		ds = append(ds, time.Since(t0))
	}
	reportPercentiles(b, ds)
}

// BenchmarkRecover100Catalogs1000Deltas rebuilds an index of 100 catalogs
// of 1,000 archived deltas each from the bucket.
func BenchmarkRecover100Catalogs1000Deltas(b *testing.B) {
	l, c := s3Lake(b)
	ctx := context.Background()
	for i := range 100 {
		name := fmt.Sprint("rec", i)
		writeMany(b, c, name, 1000)
		if _, err := c.Compact(ctx, name); err != nil {
			b.Fatal(err)
		}
	}
	cfg, err := c.GetConfig(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	for b.Loop() {
		b.StopTimer()
		l.wipeIndex()
		r := l.client(func(o *lake.Option) { o.Compaction.Interval = -1 })
		if err := r.UpdateConfig(ctx, cfg); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		report, err := r.Recover(ctx, lake.RecoverOptions{})
		if err != nil || len(report.Catalogs) != 100 {
			b.Fatalf("Recover = %d catalogs, %v", len(report.Catalogs), err)
		}
		ds = append(ds, time.Since(t0))
	}
	reportPercentiles(b, ds)
}

// BenchmarkGC100000Objects collects 100,000 packs that no log entry names
// (two hours old) from the bucket, beside one live catalog.
func BenchmarkGC100000Objects(b *testing.B) {
	_, c := s3Lake(b)
	ctx := context.Background()
	writeMany(b, c, "live", 100)
	cfg, err := c.GetConfig(ctx)
	if err != nil {
		b.Fatal(err)
	}
	store, err := storage.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	for b.Loop() {
		b.StopTimer()
		old := time.Now().Add(-2 * time.Hour)
		var wg sync.WaitGroup
		for g := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < 100000; i += 64 {
					if err := store.Put(ctx, pack.Key(pack.NewID(old)), []byte("orphan")); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StartTimer()
		t0 := time.Now()
		report, err := c.GC(ctx, lake.GCOptions{})
		if err != nil || len(report.Deleted) < 100000 {
			b.Fatalf("GC deleted %d: %v", len(report.Deleted), err)
		}
		ds = append(ds, time.Since(t0))
	}
	reportPercentiles(b, ds)
}
