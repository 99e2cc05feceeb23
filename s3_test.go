package lake_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/internal/s3test"
	"github.com/hkloudou/lake/v2/storage"
)

func s3Config(server *s3test.Server) *config.Config {
	return &config.Config{
		Storage: "s3", Endpoint: server.Endpoint, Region: server.Region, Bucket: server.Bucket,
		AccessKey: server.AccessKey, SecretKey: server.SecretKey,
	}
}

func TestUpdateConfigProbesS3AndStoresOnlyAWorkingConfig(t *testing.T) {
	server := s3test.Start(t)
	l := newTestLake(t)
	ctx := context.Background()
	client := l.client()
	for _, tc := range []struct {
		name   string
		change func(*config.Config)
		want   error
	}{
		{"wrong secret", func(c *config.Config) { c.SecretKey = "not-the-secret" }, storage.ErrAccessDenied},
		{"missing bucket", func(c *config.Config) { c.Bucket = "no-such-bucket" }, storage.ErrBucketNotFound},
		{"nothing listening", func(c *config.Config) { c.Endpoint = "http://127.0.0.1:1" }, storage.ErrUnavailable},
	} {
		cfg := s3Config(server)
		tc.change(cfg)
		err := client.UpdateConfig(ctx, cfg)
		if !errors.Is(err, tc.want) || !errors.Is(err, lake.ErrStorageUnavailable) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if strings.Contains(err.Error(), server.SecretKey) || l.rawConfig() != "" {
			t.Fatalf("%s: the secret leaked into %q, or the config was stored", tc.name, err)
		}
	}
	good := s3Config(server)
	good.AESPwd = "pw"
	if err := client.UpdateConfig(ctx, good); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: "secret"})
	// Another client loads the stored S3 config and reads the body from S3.
	other := l.client()
	if kind, _ := other.StorageKind(ctx); kind != "encrypted(s3)" {
		t.Fatalf("StorageKind = %q", kind)
	}
	if res := mustRead(t, other, lake.ReadRequest{Catalog: "c"}); res.Data.String() != `{"a":"secret"}` {
		t.Fatalf("got %s", res.Data)
	}
}

func TestAStoppedS3ServerFailsWritesCleanlyAndLosesNothing(t *testing.T) {
	server := s3test.Start(t)
	l := newTestLake(t)
	ctx := context.Background()
	client := l.client()
	if err := client.UpdateConfig(ctx, s3Config(server)); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "before", Value: 1})
	server.Stop()
	err := client.Write(ctx, lake.WriteRequest{Catalog: "c", Field: "during", Value: 2})
	if !errors.Is(err, lake.ErrStorageUnavailable) || !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("write with S3 down: %v", err)
	}
	if n := l.logLen("c"); n != 1 {
		t.Fatalf("the failed write left an index entry: %d entries", n)
	}
	if _, err := client.Read(ctx, lake.ReadRequest{Catalog: "c"}); !errors.Is(err, lake.ErrStorageUnavailable) {
		t.Fatalf("read with S3 down: %v", err)
	}
	server.Restart(t)
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "after", Value: 3})
	if res := mustRead(t, l.client(), lake.ReadRequest{Catalog: "c"}); res.Data.String() != `{"after":3,"before":1}` {
		t.Fatalf("after restart: %s", res.Data)
	}
}

// benchS3 runs op from 64 goroutines against a lake on a fresh versitygw,
// and reports throughput and latency percentiles.
func benchS3(b *testing.B, aesPwd string, setup func(*lake.Client), op func(*lake.Client, int64) error, opts ...func(*lake.Option)) {
	server := s3test.Start(b)
	l := newTestLake(b)
	client := l.client(opts...)
	cfg := s3Config(server)
	cfg.AESPwd = aesPwd
	if err := client.UpdateConfig(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	if setup != nil {
		setup(client)
	}
	var n atomic.Int64
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, b.N)
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 64)
		for pb.Next() {
			t0 := time.Now()
			if err := op(client, n.Add(1)); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	if len(latencies) > 0 {
		pct := func(p float64) float64 {
			return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
		}
		b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "ops/s")
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
	}
}

func s3Write(c *lake.Client, i int64) error {
	return c.Write(context.Background(), lake.WriteRequest{Catalog: fmt.Sprint("s3bench", i%16), Field: fmt.Sprint("f", i%1000), Value: value1KiB})
}

// s3ReadSetup writes 16 catalogs of 20 1-KiB fields and snapshots them, so a
// read fetches one snapshot object.
func s3ReadSetup(c *lake.Client) {
	for cat := range 16 {
		for f := range 20 {
			c.Write(context.Background(), lake.WriteRequest{Catalog: fmt.Sprint("s3read", cat), Field: fmt.Sprint("f", f), Value: value1KiB})
		}
		c.Read(context.Background(), lake.ReadRequest{Catalog: fmt.Sprint("s3read", cat), GenerateSnap: true})
	}
}

func s3Read(c *lake.Client, i int64) error {
	_, err := c.Read(context.Background(), lake.ReadRequest{Catalog: fmt.Sprint("s3read", i%16)})
	return err
}

func BenchmarkS3Write1KiB(b *testing.B)          { benchS3(b, "", nil, s3Write) }
func BenchmarkS3WriteEncrypted1KiB(b *testing.B) { benchS3(b, "bench-password", nil, s3Write) }

// The read benchmarks turn the document cache off, so that every read
// fetches its snapshot from S3 (with the cache, an unchanged catalog is
// served from memory after one Redis call and S3 is not measured at all).
func BenchmarkS3Read(b *testing.B) { benchS3(b, "", s3ReadSetup, s3Read, withoutCache) }
func BenchmarkS3ReadEncrypted(b *testing.B) {
	benchS3(b, "bench-password", s3ReadSetup, s3Read, withoutCache)
}
