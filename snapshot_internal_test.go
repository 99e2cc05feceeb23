package lake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/storage"
)

// faultyIndex fails the calls a test asks it to, in front of a real index.
type faultyIndex struct {
	index.Index
	failSave, failLog atomic.Bool
}

func (f *faultyIndex) SaveSnapshot(ctx context.Context, catalog string, p index.SnapshotPointer, basis index.Lineage) (bool, error) {
	if f.failSave.Load() {
		return false, fmt.Errorf("%w: injected", index.ErrUnavailable)
	}
	return f.Index.SaveSnapshot(ctx, catalog, p, basis)
}

func (f *faultyIndex) Log(ctx context.Context, catalog string, after, upTo int64) ([]index.Delta, error) {
	if f.failLog.Load() {
		return nil, fmt.Errorf("%w: injected", index.ErrUnavailable)
	}
	return f.Index.Log(ctx, catalog, after, upTo)
}

// faultyClient is a client of a fresh lake on the test Redis whose index
// fails on demand, and whose bodies live in store.
func faultyClient(t *testing.T, store storage.Storage, opts ...func(*Option)) (*Client, *faultyIndex) {
	t.Helper()
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	faulty := &faultyIndex{}
	openIndex = func(ctx context.Context, metaURL string, o index.Options) (index.Index, error) {
		idx, err := index.Open(ctx, metaURL, o)
		if err != nil {
			return nil, err
		}
		faulty.Index = idx
		return faulty, nil
	}
	t.Cleanup(func() { openIndex = index.Open })
	all := append([]func(*Option){func(o *Option) {
		o.KeyPrefix = prefix
		o.Storage = store
		o.Logger = slog.New(slog.DiscardHandler)
	}}, opts...)
	c := NewLake(url, all...)
	t.Cleanup(func() { c.Close() })
	return c, faulty
}

func snapshotObjects(store *storage.Memory, catalog string) []string {
	var keys []string
	for _, k := range store.Keys() {
		if strings.HasPrefix(k, catalog+"/snapshots/") {
			keys = append(keys, k)
		}
	}
	return keys
}

func TestALosingSnapshotSaveDeletesItsObject(t *testing.T) {
	store := storage.NewMemoryStorage()
	c, _ := faultyClient(t, store)
	ctx := context.Background()
	v1, err := c.WriteVersion(ctx, WriteRequest{Catalog: "s", Field: "a", Value: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteVersion(ctx, WriteRequest{Catalog: "s", Field: "b", Value: 2}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Read(ctx, ReadRequest{Catalog: "s", GenerateSnap: true})
	if err != nil || !res.Snapshot.Saved {
		t.Fatalf("first save: %+v, %v", res, err)
	}
	winner := snapshotObjects(store, "s")
	idx, s, _ := c.ready(ctx)
	head, _, _ := idx.Read(ctx, "s", 0)
	// A save of an older fold loses the compare-and-set: its object goes.
	moved, err := c.saveSnapshot(ctx, idx, s.store, "s", v1, JSON(`{"a":1}`), head.Lineage())
	if moved || err != nil {
		t.Fatalf("older save: moved=%v err=%v", moved, err)
	}
	if got := snapshotObjects(store, "s"); len(got) != 1 || got[0] != winner[0] {
		t.Fatalf("snapshot objects after a lost save: %v, want only %v", got, winner)
	}
}

func TestOneSnapshotSavePerCatalogAtATime(t *testing.T) {
	store := storage.NewMemoryStorage()
	c, _ := faultyClient(t, store)
	ctx := context.Background()
	if err := c.Write(ctx, WriteRequest{Catalog: "g", Field: "a", Value: 1}); err != nil {
		t.Fatal(err)
	}
	c.snapshotting.Store("g", struct{}{}) // a save of g is running
	res, err := c.Read(ctx, ReadRequest{Catalog: "g", GenerateSnap: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Snapshot.Saved || !errors.Is(res.Snapshot.SaveError, errSnapshotInProgress) || len(snapshotObjects(store, "g")) != 0 {
		t.Fatalf("a second save ran: %+v", res.Snapshot)
	}
	c.snapshotting.Delete("g")
	if res, err = c.Read(ctx, ReadRequest{Catalog: "g", GenerateSnap: true}); err != nil || !res.Snapshot.Saved {
		t.Fatalf("after the first save ended: %+v, %v", res, err)
	}
}

func TestASnapshotPointerThatCannotMoveFailsTheSaveNotTheRead(t *testing.T) {
	store := storage.NewMemoryStorage()
	c, faulty := faultyClient(t, store)
	ctx := context.Background()
	if err := c.Write(ctx, WriteRequest{Catalog: "p", Field: "a", Value: 1}); err != nil {
		t.Fatal(err)
	}
	faulty.failSave.Store(true)
	res, err := c.Read(ctx, ReadRequest{Catalog: "p", GenerateSnap: true})
	if err != nil || res.Data.String() != `{"a":1}` {
		t.Fatalf("read: %+v, %v", res, err)
	}
	if res.Snapshot.Saved || !errors.Is(res.Snapshot.SaveError, ErrMetaUnavailable) {
		t.Fatalf("save outcome %+v, want a typed SaveError", res.Snapshot)
	}
	head, _, _ := faulty.Index.Read(ctx, "p", 0)
	if head.Snapshot.Version != 0 {
		t.Fatalf("the pointer moved to %+v", head.Snapshot)
	}
	// Whether the failed call moved the pointer is unknown, so its object
	// stays (an orphan at worst); the next save works.
	faulty.failSave.Store(false)
	if err := c.Write(ctx, WriteRequest{Catalog: "p", Field: "b", Value: 2}); err != nil {
		t.Fatal(err)
	}
	if res, err = c.Read(ctx, ReadRequest{Catalog: "p", GenerateSnap: true}); err != nil || !res.Snapshot.Saved {
		t.Fatalf("next save: %+v, %v", res, err)
	}
}

// failingPuts fails every Put of a snapshot object.
type failingPuts struct{ *storage.Memory }

func (f failingPuts) Put(ctx context.Context, key string, data []byte) error {
	if strings.Contains(key, "/snapshots/") {
		return fmt.Errorf("%w: injected", storage.ErrUnavailable)
	}
	return f.Memory.Put(ctx, key, data)
}

func (f failingPuts) Unwrap() storage.Storage { return f.Memory }

func TestAFailedAsyncSaveIsLoggedAndCloseWaitsForIt(t *testing.T) {
	store := storage.NewMemoryStorage()
	c, _ := faultyClient(t, failingPuts{store}, func(o *Option) { o.SnapshotAsync = true })
	ctx := context.Background()
	for i := range 3 {
		if err := c.Write(ctx, WriteRequest{Catalog: "a", Field: fmt.Sprint("f", i), Value: i}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Read(ctx, ReadRequest{Catalog: "a", GenerateSnap: true})
	if err != nil || !res.Snapshot.Saving {
		t.Fatalf("read: %+v, %v", res, err)
	}
	// Reads racing Close: each either starts a save Close waits for, or is
	// told the client is closed; none panics or leaks a save.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			if _, err := c.Read(ctx, ReadRequest{Catalog: "a", GenerateSnap: true}); err != nil && !errors.Is(err, ErrClosed) {
				t.Error(err)
				return
			}
		}
	}()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	if _, running := c.snapshotting.Load("a"); running {
		t.Fatal("a save was still running after Close returned")
	}
	idx, err := index.Open(ctx, redistest.URL(t), index.Options{KeyPrefix: c.opt.KeyPrefix})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	head, _, _ := idx.Read(ctx, "a", 0)
	if head.Snapshot.Version != 0 || len(snapshotObjects(store, "a")) != 0 {
		t.Fatalf("a failed save moved the pointer (%+v) or left objects", head.Snapshot)
	}
}

func TestASnapshotThatCannotBeFetchedIsStorageUnavailableWithoutFallback(t *testing.T) {
	store := storage.NewMemoryStorage()
	c, _ := faultyClient(t, store)
	ctx := context.Background()
	if err := c.Write(ctx, WriteRequest{Catalog: "u", Field: "a", Value: 1}); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Read(ctx, ReadRequest{Catalog: "u", GenerateSnap: true}); err != nil || !res.Snapshot.Saved {
		t.Fatalf("%+v, %v", res, err)
	}
	cold, _ := faultyClient(t, unavailableGets{store})
	cold.opt.KeyPrefix = c.opt.KeyPrefix
	_, err := cold.Read(ctx, ReadRequest{Catalog: "u"})
	if !errors.Is(err, ErrStorageUnavailable) {
		t.Fatalf("read with an unreachable store: %v, want ErrStorageUnavailable", err)
	}
}

// unavailableGets fails every read as a store that cannot be reached.
type unavailableGets struct{ *storage.Memory }

func (u unavailableGets) Get(context.Context, string) ([]byte, error) {
	return nil, fmt.Errorf("%w: injected", storage.ErrUnavailable)
}

// GetRange fails too: the embedded Memory's would read packs around Get.
func (u unavailableGets) GetRange(context.Context, string, int64, int64) ([]byte, error) {
	return nil, fmt.Errorf("%w: injected", storage.ErrUnavailable)
}

func (u unavailableGets) Unwrap() storage.Storage { return u.Memory }

func TestALogThatFailsDuringASnapshotFallbackFailsTheRead(t *testing.T) {
	store := storage.NewMemoryStorage()
	c, faulty := faultyClient(t, store, func(o *Option) { o.CacheSize = -1 })
	ctx := context.Background()
	if err := c.Write(ctx, WriteRequest{Catalog: "f", Field: "a", Value: 1}); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Read(ctx, ReadRequest{Catalog: "f", GenerateSnap: true}); err != nil || !res.Snapshot.Saved {
		t.Fatalf("%+v, %v", res, err)
	}
	for _, k := range snapshotObjects(store, "f") {
		store.Delete(ctx, k)
	}
	faulty.failLog.Store(true)
	if _, err := c.Read(ctx, ReadRequest{Catalog: "f"}); !errors.Is(err, ErrMetaUnavailable) {
		t.Fatalf("read: %v, want ErrMetaUnavailable from the fallback's log fetch", err)
	}
	faulty.failLog.Store(false)
	res, err := c.Read(ctx, ReadRequest{Catalog: "f"})
	if err != nil || res.Snapshot.Fallback == "" || res.Data.String() != `{"a":1}` {
		t.Fatalf("fallback read: %+v, %v", res, err)
	}
}
