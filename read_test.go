package lake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/storage"
)

func testConcurrentWritersAndSnapshottingReadersLoseNothing(t *testing.T, store storage.Storage) {
	const writers, each = 32, 500
	l := newTestLake(t)
	// Two clients share the bodies, as two processes sharing an object store would.
	writerClient := l.client(withStorage(store))
	readerClient := l.client(withStorage(store))
	ctx := context.Background()

	versions := make([][]int64, writers)
	var wg sync.WaitGroup
	var stop atomic.Bool
	readerErrs := make(chan error, 4)
	for r := range 4 {
		go func() {
			client := []*lake.Client{writerClient, readerClient}[r%2]
			var last int64
			for !stop.Load() {
				res, err := client.Read(ctx, lake.ReadRequest{Catalog: "load", GenerateSnap: true})
				if err != nil {
					readerErrs <- err
					return
				}
				if res.Version < last {
					readerErrs <- fmt.Errorf("reader went back from version %d to %d", last, res.Version)
					return
				}
				last = res.Version
			}
			readerErrs <- nil
		}()
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				v, err := writerClient.WriteVersion(ctx, lake.WriteRequest{Catalog: "load", Field: fmt.Sprintf("w%d.f%d", w, i), Value: w*each + i})
				if err != nil {
					t.Error(err)
					return
				}
				versions[w] = append(versions[w], v)
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	for range 4 {
		if err := <-readerErrs; err != nil {
			t.Fatal(err)
		}
	}

	seen := map[int64]bool{}
	for w, vs := range versions {
		for i, v := range vs {
			if i > 0 && v <= vs[i-1] {
				t.Fatalf("writer %d: version %d after %d", w, v, vs[i-1])
			}
			if seen[v] {
				t.Fatalf("version %d allocated twice", v)
			}
			seen[v] = true
		}
	}
	res := mustRead(t, readerClient, lake.ReadRequest{Catalog: "load"})
	var doc map[string]map[string]int
	if err := res.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	count := 0
	for w := range writers {
		for i := range len(versions[w]) {
			if got, ok := doc[fmt.Sprint("w", w)][fmt.Sprint("f", i)]; !ok || got != w*each+i {
				t.Fatalf("acknowledged write w%d.f%d = %d is missing or wrong (%v)", w, i, w*each+i, got)
			}
			count++
		}
	}
	if count != writers*each || len(res.Skipped) != 0 {
		t.Fatalf("%d acknowledged writes, %d skipped", count, len(res.Skipped))
	}
	if l.snapshotVersion("load") == 0 {
		t.Fatal("no snapshot was saved by the readers")
	}
}

func testTheHighestVersionWinsForEveryReader(t *testing.T, store storage.Storage) {
	l := newTestLake(t)
	writer := l.client(withStorage(store))
	ctx := context.Background()
	type write struct {
		version int64
		value   string
	}
	var mu sync.Mutex
	var writes []write
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				value := fmt.Sprintf("g%d-%d", g, i)
				v, err := writer.WriteVersion(ctx, lake.WriteRequest{Catalog: "order", Field: "winner", Value: value})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				writes = append(writes, write{v, value})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	best := writes[0]
	for _, w := range writes {
		if w.version > best.version {
			best = w
		}
	}
	want := fmt.Sprintf(`{"winner":%q}`, best.value)
	for i, req := range []lake.ReadRequest{{Catalog: "order"}, {Catalog: "order", GenerateSnap: true}, {Catalog: "order"}} {
		for _, reader := range []*lake.Client{writer, l.client(withStorage(store))} {
			res := mustRead(t, reader, req)
			if res.Data.String() != want || res.Version != best.version {
				t.Fatalf("read %d: got %s at %d, want %s at %d", i, res.Data, res.Version, want, best.version)
			}
		}
	}
}

func testAReadAfterASnapshotFetchesOnlyTheSnapshotAndNewerDeltas(t *testing.T, store storage.Storage) {
	counting := &countingStorage{Storage: store}
	l := newTestLake(t)
	client := l.client(withStorage(counting))
	for i := range 20 {
		mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: fmt.Sprint("f", i), Value: i})
	}
	first := mustRead(t, client, lake.ReadRequest{Catalog: "c", GenerateSnap: true})
	if snaps, deltas := countSnapshots(counting.fetched()); snaps != 0 || deltas != 20 || !first.Snapshot.Saved {
		t.Fatalf("first read fetched %d snapshots and %d deltas (%+v)", snaps, deltas, first.Snapshot)
	}
	for i := range 3 {
		mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: fmt.Sprint("g", i), Value: i})
	}
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "f0", MergeType: lake.MergeDelete})
	// A client without the document in memory starts from the snapshot.
	res := mustRead(t, l.client(withStorage(counting)), lake.ReadRequest{Catalog: "c"})
	snaps, deltas := countSnapshots(counting.fetched())
	if snaps != 1 || deltas != 3 {
		t.Fatalf("read after the snapshot fetched %d snapshots and %d delta bodies, want 1 and 3 (a delete has no body)", snaps, deltas)
	}
	if res.Snapshot.Version != first.Version || res.Snapshot.Deltas != 4 || strings.Contains(res.Data.String(), `"f0"`) {
		t.Fatalf("got %s (%+v)", res.Data, res.Snapshot)
	}
	// The client that folded the document keeps it: only the new bodies.
	cached := mustRead(t, client, lake.ReadRequest{Catalog: "c"})
	if snaps, deltas := countSnapshots(counting.fetched()); snaps != 0 || deltas != 3 || cached.Data.String() != res.Data.String() {
		t.Fatalf("cached read fetched %d snapshots and %d deltas, got %s", snaps, deltas, cached.Data)
	}
	// Unchanged: nothing is fetched at all.
	again := mustRead(t, client, lake.ReadRequest{Catalog: "c"})
	if fetched := counting.fetched(); len(fetched) != 0 || again.Snapshot.Cached != res.Version || again.Data.String() != res.Data.String() {
		t.Fatalf("unchanged read fetched %v (%+v)", fetched, again.Snapshot)
	}
}

func testASnapshotIsSavedOnlyWhenThereIsSomethingNew(t *testing.T, store storage.Storage) {
	l := newTestLake(t)
	client := l.client(withStorage(store))
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	if !mustRead(t, client, lake.ReadRequest{Catalog: "c", GenerateSnap: true}).Snapshot.Saved {
		t.Fatal("first snapshot not saved")
	}
	again := mustRead(t, client, lake.ReadRequest{Catalog: "c", GenerateSnap: true})
	if again.Snapshot.Saved || again.Snapshot.Deltas != 0 {
		t.Fatalf("an unchanged document saved another snapshot: %+v", again.Snapshot)
	}
}

func testConcurrentSnapshotSavesNeverMoveThePointerBackwards(t *testing.T, store storage.Storage) {
	l := newTestLake(t)
	writer := l.client(withStorage(store))
	ctx := context.Background()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if err := writer.Write(ctx, lake.WriteRequest{Catalog: "snap", Field: fmt.Sprint("f", i%50), Value: i}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Several clients (as several processes would) race to save snapshots:
	// 40 reads each, and more while fewer than two saves landed (a slow
	// store, under -race, may commit the first writes after 40 reads).
	var saved, reads atomic.Int64
	var readers sync.WaitGroup
	deadline := time.Now().Add(30 * time.Second)
	for r := range 6 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			reader := l.client(withStorage(store))
			for i := 0; i < 40 || (saved.Load() < 2 && time.Now().Before(deadline)); i++ {
				reads.Add(1)
				res, err := reader.Read(ctx, lake.ReadRequest{Catalog: "snap", GenerateSnap: true})
				if err != nil {
					t.Error(r, err)
					return
				}
				if res.Snapshot.Saved {
					saved.Add(1)
				}
			}
		}()
	}
	readersDone := make(chan struct{})
	go func() { readers.Wait(); close(readersDone) }()
	var last int64
	for watching := true; watching; {
		select {
		case <-readersDone:
			watching = false
		default:
		}
		v := l.snapshotVersion("snap")
		if v < last {
			t.Fatalf("snapshot pointer moved back from %d to %d", last, v)
		}
		last = v
	}
	stop.Store(true)
	wg.Wait()
	if saved.Load() < 2 {
		t.Fatalf("%d snapshots saved by %d racing reads: too few to race", saved.Load(), reads.Load())
	}
	t.Logf("%d snapshots saved by %d racing reads", saved.Load(), reads.Load())
	// The final snapshot plus deltas equals the fold of the whole log.
	fromSnapshot := mustRead(t, writer, lake.ReadRequest{Catalog: "snap"})
	fromLog := mustRead(t, l.client(withStorage(withoutSnapshots{store})), lake.ReadRequest{Catalog: "snap"})
	if fromSnapshot.Data.String() != fromLog.Data.String() || fromSnapshot.Version != fromLog.Version {
		t.Fatalf("snapshot fold %s@%d differs from log fold %s@%d", fromSnapshot.Data, fromSnapshot.Version, fromLog.Data, fromLog.Version)
	}
	if fromLog.Snapshot.Fallback == "" {
		t.Fatal("the log fold should report that it fell back")
	}
}

// withoutSnapshots hides snapshot objects, as if they had been deleted.
type withoutSnapshots struct{ storage.Storage }

// Unwrap lets the client see the memory store underneath (storage.HolderOf).
func (s withoutSnapshots) Unwrap() storage.Storage { return s.Storage }

func (w withoutSnapshots) Get(ctx context.Context, key string) ([]byte, error) {
	if strings.Contains(key, "/snapshots/") {
		return nil, fmt.Errorf("%w: %s", storage.ErrNotFound, key)
	}
	return w.Storage.Get(ctx, key)
}

func testACorruptSnapshotFallsBackToTheLog(t *testing.T, store storage.Storage) {
	l := newTestLake(t)
	client := l.client(withStorage(store), withoutCache)
	ctx := context.Background()
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	snap := mustRead(t, client, lake.ReadRequest{Catalog: "c", GenerateSnap: true})
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "b", Value: 2})
	// Overwrite the snapshot object with garbage, through the backend.
	if err := store.Put(ctx, l.snapshotKey("c"), []byte(`{"version":1,"document":`)); err != nil {
		t.Fatal(err)
	}
	res := mustRead(t, client, lake.ReadRequest{Catalog: "c"})
	if res.Data.String() != `{"a":1,"b":2}` || res.Snapshot.Fallback == "" || res.Snapshot.Version != 0 || snap.Version == 0 {
		t.Fatalf("got %s (%+v)", res.Data, res.Snapshot)
	}
}

func testAFailedSnapshotSaveDoesNotFailTheRead(t *testing.T, store storage.Storage) {
	failing := &countingStorage{Storage: store, failPut: func(key string) error {
		if strings.Contains(key, "/snapshots/") {
			return errors.New("disk full")
		}
		return nil
	}}
	l := newTestLake(t)
	client := l.client(withStorage(failing))
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	res := mustRead(t, client, lake.ReadRequest{Catalog: "c", GenerateSnap: true})
	if res.Data.String() != `{"a":1}` || res.Snapshot.Saved || !errors.Is(res.Snapshot.SaveError, lake.ErrStorageUnavailable) {
		t.Fatalf("got %s (%+v)", res.Data, res.Snapshot)
	}
	if l.snapshotVersion("c") != 0 {
		t.Fatal("the pointer moved to a snapshot that was not stored")
	}
}

func testReadYourWritesByVersion(t *testing.T, store storage.Storage) {
	client := newTestLake(t).client(withStorage(store))
	v := mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	if res := mustRead(t, client, lake.ReadRequest{Catalog: "c"}); res.Version < v {
		t.Fatalf("read version %d is older than the acknowledged write %d", res.Version, v)
	}
}

func TestChangingAResultThroughAppendOrUnmarshalLeavesTheCacheAlone(t *testing.T) {
	client := newTestLake(t).client()
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	first := mustRead(t, client, lake.ReadRequest{Catalog: "c"})
	want := first.Data.String()

	if cap(first.Data) != len(first.Data) {
		t.Fatalf("Data has spare capacity (%d > %d): an append would write into the cache", cap(first.Data), len(first.Data))
	}
	// Same length as the cached text: reusing Data's array would overwrite it.
	if err := json.Unmarshal([]byte(`{"Data":{"b":2}}`), first); err != nil {
		t.Fatal(err)
	}
	if first.Data.String() != `{"b":2}` {
		t.Fatalf("unmarshal gave %s", first.Data)
	}
	second := mustRead(t, client, lake.ReadRequest{Catalog: "c"})
	if second.Snapshot.Cached == 0 {
		t.Fatalf("the second read did not come from the cache: %+v", second.Snapshot)
	}
	if got := second.Data.String(); got != want {
		t.Fatalf("the cached document changed through a result: got %s, want %s", got, want)
	}
}

func TestSnapshotMinDeltasSavesOnlyWhenTheSnapshotIsThatFarBehind(t *testing.T) {
	client := newTestLake(t).client(func(o *lake.Option) { o.SnapshotMinDeltas = 3 })
	snap := lake.ReadRequest{Catalog: "c", GenerateSnap: true}
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "b", Value: 2})
	if res := mustRead(t, client, snap); res.Snapshot.Saved || res.Snapshot.Behind != 2 || res.Snapshot.SaveError != nil {
		t.Fatalf("2 deltas behind with SnapshotMinDeltas 3: %+v", res.Snapshot)
	}
	third := mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "c", Value: 3})
	if res := mustRead(t, client, snap); !res.Snapshot.Saved || res.Snapshot.Behind != 3 || res.Version != third {
		t.Fatalf("3 deltas behind: %+v at %d", res.Snapshot, res.Version)
	}
	if res := mustRead(t, client, snap); res.Snapshot.Saved || res.Snapshot.Behind != 0 {
		t.Fatalf("after the save: %+v", res.Snapshot)
	}
}

func TestAsyncSnapshotsAreSavedInTheBackgroundAndCloseWaitsForThem(t *testing.T) {
	l := newTestLake(t)
	store := storage.NewMemoryStorage()
	client := l.client(withStorage(store), func(o *lake.Option) { o.SnapshotAsync = true })
	var last int64
	for i := range 50 {
		last = mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: fmt.Sprint("f", i), Value: i})
	}
	res := mustRead(t, client, lake.ReadRequest{Catalog: "c", GenerateSnap: true})
	if !res.Snapshot.Saving || res.Snapshot.Saved || res.Snapshot.SaveError != nil || res.Version != last {
		t.Fatalf("async GenerateSnap read: %+v at %d", res.Snapshot, res.Version)
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	// Close returned, so the save is done: another client starts from it.
	other := mustRead(t, l.client(withStorage(store)), lake.ReadRequest{Catalog: "c"})
	if other.Snapshot.Version != last || other.Snapshot.Deltas != 0 || other.Data.String() != res.Data.String() {
		t.Fatalf("after Close, a new client read %+v", other.Snapshot)
	}
}

func TestAClientAFewDeltasBehindANewerSnapshotFoldsFromMemory(t *testing.T) {
	l := newTestLake(t)
	store := storage.NewMemoryStorage()
	counting := &countingStorage{Storage: store}
	warm := l.client(withStorage(counting))
	other := l.client(withStorage(store))
	for i := range 10 {
		mustWrite(t, other, lake.WriteRequest{Catalog: "c", Field: fmt.Sprint("f", i), Value: i})
	}
	before := mustRead(t, warm, lake.ReadRequest{Catalog: "c"})
	counting.fetched()
	// Another client writes three deltas and saves a snapshot past the warm
	// client's version.
	for i := range 3 {
		mustWrite(t, other, lake.WriteRequest{Catalog: "c", Field: fmt.Sprint("g", i), Value: i})
	}
	if !mustRead(t, other, lake.ReadRequest{Catalog: "c", GenerateSnap: true}).Snapshot.Saved {
		t.Fatal("snapshot not saved")
	}
	res := mustRead(t, warm, lake.ReadRequest{Catalog: "c"})
	snaps, deltas := countSnapshots(counting.fetched())
	if snaps != 0 || deltas != 3 || res.Snapshot.Cached != before.Version || res.Snapshot.Deltas != 3 {
		t.Fatalf("warm read fetched %d snapshots and %d deltas (%+v), want the 3 new deltas onto its own copy", snaps, deltas, res.Snapshot)
	}
	if cold := mustRead(t, l.client(withStorage(store)), lake.ReadRequest{Catalog: "c"}); cold.Data.String() != res.Data.String() || cold.Version != res.Version {
		t.Fatalf("warm fold %s@%d, cold fold %s@%d", res.Data, res.Version, cold.Data, cold.Version)
	}
}

// slowStorage makes every Get take a while, so concurrent reads overlap.
type slowStorage struct{ storage.Storage }

func (s slowStorage) Unwrap() storage.Storage { return s.Storage }

func (s slowStorage) Get(ctx context.Context, key string) ([]byte, error) {
	time.Sleep(20 * time.Millisecond)
	return s.Storage.Get(ctx, key)
}

func TestConcurrentReadsOfOneNewVersionShareOneFold(t *testing.T) {
	l := newTestLake(t)
	store := storage.NewMemoryStorage()
	writer := l.client(withStorage(store))
	var last int64
	for i := range 10 {
		last = mustWrite(t, writer, lake.WriteRequest{Catalog: "c", Field: fmt.Sprint("f", i), Value: i})
	}
	counting := &countingStorage{Storage: slowStorage{store}}
	reader := l.client(withStorage(counting))
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			res, err := reader.Read(context.Background(), lake.ReadRequest{Catalog: "c"})
			if err != nil || res.Version != last {
				t.Errorf("read: %v at version %v, want %d", err, res, last)
			}
		})
	}
	wg.Wait()
	// One fold fetches 10 bodies; a reader whose meta-store read raced the
	// end of a fold may start one more. Unshared, 50 reads fetch up to 500.
	if n := len(counting.fetched()); n > 30 {
		t.Fatalf("50 concurrent reads of 10 deltas fetched %d bodies: the folds were not shared", n)
	}
}

// A client that folds each new delta onto its document in memory (copying
// and re-encoding only the members a delta touches) must read exactly what
// a client folding everything from scratch reads.
func TestIncrementalFoldsMatchAFullFold(t *testing.T) {
	l := newTestLake(t)
	store := storage.NewMemoryStorage()
	warm := l.client(withStorage(store))
	cold := l.client(withStorage(store), withoutCache)
	writes := []lake.WriteRequest{
		{Field: "a", Value: 1},
		{Field: "b.c", Value: []int{1, 2}},
		{Field: "b.d", Value: "<&>"},
		{Field: "a", MergeType: lake.MergeDelete},
		{Field: "", Value: json.RawMessage(`{"e":{"f":1},"b":null}`), MergeType: lake.MergePatch},
		{Field: "e", Value: json.RawMessage(`[{"op":"add","path":"/g","value":[true]}]`), MergeType: lake.MergeJSONPatch},
		{Field: "b.c", Value: 3, MergeType: lake.MergeInsert},
		{Field: "e.g.5", Value: 1}, // conflicts: skipped by both
		{Field: "/h~1i", Value: "slash"},
		{Field: "", Value: json.RawMessage(`{"only":"this"}`)},
		{Field: "x", Value: map[string]any{"y": []any{1, "z"}}},
		{Field: "", MergeType: lake.MergeDelete},
		{Field: "after", Value: "reset"},
	}
	for i, w := range writes {
		w.Catalog = "c"
		mustWrite(t, warm, w)
		// Every other step two deltas land between reads.
		if i%2 == 1 {
			continue
		}
		got := mustRead(t, warm, lake.ReadRequest{Catalog: "c"})
		want := mustRead(t, cold, lake.ReadRequest{Catalog: "c"})
		if got.Data.String() != want.Data.String() || got.Version != want.Version || len(got.Skipped) != len(want.Skipped) {
			t.Fatalf("after write %d: incremental %s@%d (%d skipped), full %s@%d (%d skipped)",
				i, got.Data, got.Version, len(got.Skipped), want.Data, want.Version, len(want.Skipped))
		}
		if i > 0 && got.Snapshot.Cached == 0 {
			t.Fatalf("after write %d the warm client did not fold from memory: %+v", i, got.Snapshot)
		}
	}
}

func TestAReadThatGivesUpDoesNotFailTheReadsSharingItsFold(t *testing.T) {
	l := newTestLake(t)
	store := storage.NewMemoryStorage()
	writer := l.client(withStorage(store))
	for i := range 5 {
		mustWrite(t, writer, lake.WriteRequest{Catalog: "c", Field: fmt.Sprint("f", i), Value: i})
	}
	reader := l.client(withStorage(slowStorage{store}))
	mustRead(t, reader, lake.ReadRequest{Catalog: "other"}) // connected: the next read folds at once
	impatient, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := reader.Read(impatient, lake.ReadRequest{Catalog: "c"})
		errc <- err
	}()
	time.Sleep(2 * time.Millisecond) // join the impatient read's fold
	res, err := reader.Read(context.Background(), lake.ReadRequest{Catalog: "c"})
	if err != nil || res.Snapshot.Deltas != 5 {
		t.Fatalf("patient read: %v (%+v)", err, res)
	}
	if err := <-errc; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient read: %v, want its own deadline", err)
	}
}

func TestAnUnusableSnapshotIsReplacedWhateverThePolicy(t *testing.T) {
	l := newTestLake(t)
	store := storage.NewMemoryStorage()
	client := l.client(withStorage(store), withoutCache, func(o *lake.Option) { o.SnapshotMinDeltas = 100 })
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	// A client with the default policy saves the first snapshot.
	if !mustRead(t, l.client(withStorage(store)), lake.ReadRequest{Catalog: "c", GenerateSnap: true}).Snapshot.Saved {
		t.Fatal("snapshot not saved")
	}
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "b", Value: 2})
	if err := store.Put(context.Background(), l.snapshotKey("c"), []byte(`not json`)); err != nil {
		t.Fatal(err)
	}
	res := mustRead(t, client, lake.ReadRequest{Catalog: "c", GenerateSnap: true})
	if res.Snapshot.Fallback == "" || !res.Snapshot.Saved || res.Snapshot.Behind != 1 {
		t.Fatalf("read over a corrupt snapshot, 1 delta behind, SnapshotMinDeltas 100: %+v", res.Snapshot)
	}
	if again := mustRead(t, client, lake.ReadRequest{Catalog: "c"}); again.Snapshot.Fallback != "" || again.Data.String() != `{"a":1,"b":2}` {
		t.Fatalf("after the repair: %s (%+v)", again.Data, again.Snapshot)
	}
}
