package lake

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/internal/s3test"
	"github.com/hkloudou/lake/v2/storage"
)

// countedPuts counts the PUT requests that reach a store.
type countedPuts struct {
	storage.Storage
	puts atomic.Int64
}

func (c *countedPuts) Put(ctx context.Context, key string, data []byte) error {
	c.puts.Add(1)
	return c.Storage.Put(ctx, key, data)
}

// BenchmarkPackMixing compares packs that mix catalogs (what Lake does)
// with packs of one catalog each, on S3 (versitygw on loopback): 64
// concurrent writers spread over 16 catalogs, 1 KiB values. It reports
// writes/s and PUT requests per write.
//
//	go test -run '^$' -bench PackMixing -benchtime 20000x .
func BenchmarkPackMixing(b *testing.B) {
	server := s3test.Start(b)
	s3, err := storage.NewS3Storage(storage.S3Options{
		Endpoint: server.Endpoint, Region: server.Region, Bucket: server.Bucket,
		AccessKey: server.AccessKey, SecretKey: server.SecretKey,
	})
	if err != nil {
		b.Fatal(err)
	}
	value := strings.Repeat("x", 1024-2)
	var catalogs [16]string
	for i := range catalogs {
		catalogs[i] = fmt.Sprint("mix", i)
	}
	for _, byCatalog := range []bool{false, true} {
		name := "mixed"
		if byCatalog {
			name = "per-catalog"
		}
		b.Run(name, func(b *testing.B) {
			packByCatalog = byCatalog
			defer func() { packByCatalog = false }()
			store := &countedPuts{Storage: s3}
			url := redistest.URL(b)
			c := NewLake(url, func(o *Option) {
				o.KeyPrefix = redistest.Prefix(b, url)
				o.Storage = store
				o.Logger = slog.New(slog.DiscardHandler)
			})
			defer c.Close()
			ctx := context.Background()
			if err := c.Ping(ctx); err != nil {
				b.Fatal(err)
			}
			store.puts.Store(0)
			var n atomic.Int64
			var box any = value
			b.SetParallelism(32)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if err := c.Write(ctx, WriteRequest{Catalog: catalogs[i%16], Field: "f", Value: box}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
			b.ReportMetric(float64(store.puts.Load())/float64(b.N), "puts/write")
		})
	}
}
