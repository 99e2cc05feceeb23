package lake

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/storage"
)

// crashingIndex fails the History calls a test picks, as a process killed
// between two steps of a compaction would leave them undone.
type crashingIndex struct {
	index.Index
	failAddSegment, failTrim, failForget, failRestore atomic.Bool
}

var errCrash = errors.New("crash")

func (c *crashingIndex) AddSegment(ctx context.Context, catalog string, s index.Segment) error {
	if c.failAddSegment.Load() {
		return errCrash
	}
	return c.Index.AddSegment(ctx, catalog, s)
}

func (c *crashingIndex) Trim(ctx context.Context, catalog string, upTo int64) (int64, error) {
	if c.failTrim.Load() {
		return 0, errCrash
	}
	return c.Index.Trim(ctx, catalog, upTo)
}

func (c *crashingIndex) Forget(ctx context.Context, catalog string, snaps []index.SnapshotPointer, segs []index.Segment) error {
	if c.failForget.Load() {
		return errCrash
	}
	return c.Index.Forget(ctx, catalog, snaps, segs)
}

func (c *crashingIndex) Restore(ctx context.Context, catalog string, r index.Restoration) error {
	if c.failRestore.Load() {
		return errCrash
	}
	return c.Index.Restore(ctx, catalog, r)
}

// crashingLake is gcLake with its index wrapped in a crashingIndex.
func crashingLake(t *testing.T) (*Client, *crashingIndex, string) {
	t.Helper()
	crash := &crashingIndex{}
	openIndex = func(ctx context.Context, metaURL string, opts index.Options) (index.Index, error) {
		idx, err := index.Open(ctx, metaURL, opts)
		if err != nil {
			return nil, err
		}
		crash.Index = idx
		return crash, nil
	}
	t.Cleanup(func() { openIndex = index.Open })
	c, dir := gcLake(t, "1m")
	return c, crash, dir
}

func writeN(t *testing.T, c *Client, catalog string, from, n int) int64 {
	t.Helper()
	var v int64
	for i := from; i < from+n; i++ {
		var err error
		if v, err = c.WriteVersion(context.Background(), WriteRequest{Catalog: catalog, Field: fmt.Sprint("f", i), Value: i}); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func TestACrashAfterTheSegmentIsStoredLeavesALakeTheNextCompactionRepairs(t *testing.T) {
	ctx := context.Background()
	c, crash, _ := crashingLake(t)
	first := writeN(t, c, "k", 0, 20)
	want := string(mustReadInternal(t, c, "k").Data)

	// The segment is stored, its registration never happens.
	crash.failAddSegment.Store(true)
	if _, err := c.Compact(ctx, "k"); !errors.Is(err, errCrash) {
		t.Fatalf("Compact = %v, want the crash", err)
	}
	crash.failAddSegment.Store(false)
	// Registered, not trimmed.
	crash.failTrim.Store(true)
	if _, err := c.Compact(ctx, "k"); !errors.Is(err, errCrash) {
		t.Fatalf("Compact = %v, want the crash", err)
	}
	crash.failTrim.Store(false)
	head, _, err := c.idx.Read(ctx, "k", 0)
	if err != nil || head.Trimmed != 0 || head.Archived == 0 {
		t.Fatalf("after the crashes: %+v, %v", head, err)
	}
	if got := string(mustReadInternal(t, c, "k").Data); got != want {
		t.Fatalf("read after the crashes: %s, want %s", got, want)
	}
	res, err := c.Compact(ctx, "k")
	if err != nil || res.Trimmed != head.Archived || res.Removed != 20 {
		t.Fatalf("the next compaction: %+v, %v", res, err)
	}
	if got := string(mustReadInternal(t, c, "k").Data); got != want {
		t.Fatalf("read after repair: %s, want %s", got, want)
	}
	past, err := c.Read(ctx, ReadRequest{Catalog: "k", AtVersion: first})
	if err != nil || string(past.Data) != want {
		t.Fatalf("past after repair: %v, %v", past, err)
	}
	// The stored segment that was never registered is an orphan for GC.
	shiftClock(t, time.Now().Add(2*time.Hour))
	report, err := c.GC(ctx, GCOptions{DryRun: true, Grace: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var orphans int
	for _, obj := range report.Deleted {
		if obj.Reason == "segment no registry names" {
			orphans++
		}
	}
	if orphans != 0 {
		// The crashed run stored the same range the next run registered:
		// one key, so no orphan is left.
		t.Fatalf("%d orphan segments", orphans)
	}
}

// failingDeletes fails every Delete after the first n.
type failingDeletes struct {
	storage.Storage
	left atomic.Int64
}

func (f *failingDeletes) Delete(ctx context.Context, key string) error {
	if f.left.Add(-1) < 0 {
		return fmt.Errorf("%w: injected", storage.ErrUnavailable)
	}
	return f.Storage.Delete(ctx, key)
}

func (f *failingDeletes) List(ctx context.Context, prefix, after string, limit int) ([]storage.Object, error) {
	return storage.List(ctx, f.Storage, prefix, after, limit)
}

func (f *failingDeletes) Unwrap() storage.Storage { return f.Storage }

func TestACrashDuringGCLeavesALakeThatReadsAndTheNextGCFinishes(t *testing.T) {
	ctx := context.Background()
	c, crash, dir := crashingLake(t)
	docs := map[int64]string{}
	for round := range 4 {
		writeN(t, c, "g", round*10, 10)
		r := mustReadInternal(t, c, "g")
		docs[r.Version] = string(r.Data)
		if _, err := c.Compact(ctx, "g"); err != nil {
			t.Fatal(err)
		}
	}
	shiftClock(t, time.Now().Add(2*time.Hour)) // every pack is old; retention 1m keeps only the present
	crash.failForget.Store(true)
	if _, err := c.GC(ctx, GCOptions{Grace: time.Millisecond}); !errors.Is(err, errCrash) {
		t.Fatalf("GC = %v, want the crash", err)
	}
	crash.failForget.Store(false)
	// Deletes that stop half way.
	local, err := storage.NewLocalStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	flaky := &failingDeletes{Storage: local}
	flaky.left.Store(3)
	c.state.Load().store = flaky
	if _, err := c.GC(ctx, GCOptions{Grace: time.Millisecond}); !errors.Is(err, ErrStorageUnavailable) {
		t.Fatalf("GC with failing deletes = %v", err)
	}
	last := mustReadInternal(t, c, "g")
	if want := docs[last.Version]; string(last.Data) != want {
		t.Fatalf("read after a crashed GC: %s, want %s", last.Data, want)
	}
	c.state.Load().store = local
	if _, err := c.GC(ctx, GCOptions{Grace: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if again, err := c.GC(ctx, GCOptions{Grace: time.Millisecond}); err != nil || len(again.Deleted) != 0 {
		t.Fatalf("GC after the repair run: %+v, %v", again, err)
	}
	if r := mustReadInternal(t, c, "g"); string(r.Data) != string(last.Data) {
		t.Fatalf("read after GC: %s", r.Data)
	}
}

func TestACrashDuringRecoveryLeavesAnIndexTheNextForcedRunCompletes(t *testing.T) {
	ctx := context.Background()
	c, crash, _ := crashingLake(t)
	want := map[string]string{}
	for i := range 3 {
		name := fmt.Sprint("r", i)
		writeN(t, c, name, 0, 10)
		if _, err := c.Compact(ctx, name); err != nil {
			t.Fatal(err)
		}
		want[name] = string(mustReadInternal(t, c, name).Data)
	}
	cfg := *c.state.Load().cfg
	if err := c.idx.(*crashingIndex).Index.(index.Wiper).Wipe(ctx); err != nil {
		t.Fatal(err)
	}
	c.cache.clear()
	c.state.Store(nil)
	if err := c.UpdateConfig(ctx, &cfg); err != nil {
		t.Fatal(err)
	}
	crash.failRestore.Store(true)
	if _, err := c.Recover(ctx, RecoverOptions{}); !errors.Is(err, errCrash) {
		t.Fatalf("Recover = %v, want the crash", err)
	}
	crash.failRestore.Store(false)
	report, err := c.Recover(ctx, RecoverOptions{})
	if err != nil {
		t.Fatalf("the next recovery: %v", err)
	}
	if len(report.Catalogs) != 3 {
		t.Fatalf("report %+v", report)
	}
	for name, doc := range want {
		if got := string(mustReadInternal(t, c, name).Data); got != doc {
			t.Fatalf("%s after recovery: %s, want %s", name, got, doc)
		}
	}
}
