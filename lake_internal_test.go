package lake

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/merge"
	"github.com/hkloudou/lake/v2/storage"
)

// countingIndex counts the config loads that reach the real Redis index.
type countingIndex struct {
	index.Index
	loads *atomic.Int64
}

func (c countingIndex) LoadConfig(ctx context.Context) ([]byte, error) {
	c.loads.Add(1)
	return c.Index.LoadConfig(ctx)
}

func TestHundredConcurrentFirstOperationsLoadTheConfigOnce(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	var loads, opens atomic.Int64
	openIndex = func(ctx context.Context, metaURL string, opts index.Options) (index.Index, error) {
		opens.Add(1)
		idx, err := index.Open(ctx, metaURL, opts)
		if err != nil {
			return nil, err
		}
		return countingIndex{Index: idx, loads: &loads}, nil
	}
	t.Cleanup(func() { openIndex = index.Open })

	client := NewLake(url, func(o *Option) {
		o.KeyPrefix = prefix
		o.Logger = slog.New(slog.DiscardHandler)
	})
	defer client.Close()
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range 100 {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			var err error
			if i%2 == 0 {
				err = client.Write(context.Background(), WriteRequest{Catalog: "c", Field: "f", Value: i})
			} else {
				_, err = client.Read(context.Background(), ReadRequest{Catalog: "c"})
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	start.Done()
	done.Wait()
	if loads.Load() != 1 || opens.Load() != 1 {
		t.Fatalf("100 concurrent first operations made %d config GETs and %d connections, want 1 and 1", loads.Load(), opens.Load())
	}
}

func TestSnapshotObjectsRoundTripAndBadOnesAreCorrupt(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemoryStorage()
	c := NewLake("redis://unused")
	p := index.SnapshotPointer{Version: 7, Key: "c/snapshots/7.json"}
	if err := store.Put(ctx, p.Key, encodeSnapshot(7, []byte(`{"a":{"b":[1,"x"]},"n":12345678901234567890}`))); err != nil {
		t.Fatal(err)
	}
	doc, err := c.loadSnapshot(ctx, store, p)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := merge.Encode(doc); string(got) != `{"a":{"b":[1,"x"]},"n":12345678901234567890}` {
		t.Fatalf("round trip gave %s", got)
	}
	for _, raw := range []string{
		`{"version":8,"document":{}}`,
		`{"version":"7","document":{}}`,
		`{"version":7.5,"document":{}}`,
		`{"document":{}}`,
		`{"version":7,"document":[1]}`,
		`{"version":7}`,
		`[7,{}]`,
		`{"version":7,"document":{}`,
	} {
		if err := store.Put(ctx, p.Key, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.loadSnapshot(ctx, store, p); !errors.Is(err, ErrCorrupt) {
			t.Errorf("snapshot %s: %v, want ErrCorrupt", raw, err)
		}
	}
}

func TestDocumentCacheIsBoundedByBytesAndEvictsTheLeastRecentlyRead(t *testing.T) {
	doc := func(version int64, size int) *cachedDocument {
		return &cachedDocument{version: version, members: &merge.Members{Text: make([]byte, size)}}
	}
	c := newDocumentCache(100, 10_000)
	c.put("a", doc(1, 1000)) // cost 3512 each
	c.put("b", doc(1, 1000))
	c.get("a") // b is now the least recently read
	c.put("c", doc(1, 1000))
	if c.get("b") != nil || c.get("a") == nil || c.get("c") == nil {
		t.Fatalf("want b evicted, a and c kept")
	}
	if c.bytes > c.maxBytes {
		t.Fatalf("cache holds %d bytes, bound %d", c.bytes, c.maxBytes)
	}
	// A document larger than the whole bound is not kept, and drops the
	// older copy of its catalog.
	c.put("a", doc(2, 5000))
	if c.get("a") != nil {
		t.Fatal("an oversized document was cached, or its stale copy kept")
	}
	// An older version of the same lineage never replaces a newer one; a
	// document of another lineage does.
	c.put("c", doc(0, 10))
	if c.get("c").version != 1 {
		t.Fatal("an older version replaced a newer one")
	}
	reset := doc(0, 10)
	reset.epoch = 9
	c.put("c", reset)
	if got := c.get("c"); got.epoch != 9 {
		t.Fatal("a document of a new lineage was refused")
	}
	c.clear()
	if c.bytes != 0 || c.get("c") != nil {
		t.Fatal("clear kept something")
	}
	// The entry count still bounds it too.
	small := newDocumentCache(2, 1<<30)
	for _, name := range []string{"x", "y", "z"} {
		small.put(name, doc(1, 1))
	}
	if small.get("x") != nil || len(small.docs) != 2 {
		t.Fatal("the count bound was not kept")
	}
}
