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
