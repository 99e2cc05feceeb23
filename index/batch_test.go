package index

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The batcher on its own: what goes into which batch.

func TestBatcherSendsALoneCallAtOnce(t *testing.T) {
	var batches [][]int
	b := newBatcher(8, 1, func(_ context.Context, calls []*call[int, int]) {
		var reqs []int
		for _, c := range calls {
			reqs = append(reqs, c.req)
			c.res = c.req * 10
		}
		batches = append(batches, reqs)
	})
	for i := range 3 {
		if res, err := b.do(context.Background(), 0, i); err != nil || res != i*10 {
			t.Fatalf("do(%d) = %d, %v", i, res, err)
		}
	}
	if fmt.Sprint(batches) != "[[0] [1] [2]]" {
		t.Fatalf("sequential calls went as %v, want one batch each", batches)
	}
}

func TestBatcherGroupsCallsThatArriveWhileABatchIsInFlight(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	b := newBatcher(4, 1, func(_ context.Context, calls []*call[int, int]) {
		mu.Lock()
		first := len(sizes) == 0
		sizes = append(sizes, len(calls))
		mu.Unlock()
		if first {
			<-release // hold the first batch until the others queue up
		}
		for _, c := range calls {
			c.res = c.req
		}
	})
	var wg sync.WaitGroup
	wg.Go(func() { b.do(context.Background(), 0, -1) })
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sizes) == 1 })
	for i := range 10 {
		wg.Go(func() {
			if res, err := b.do(context.Background(), 0, i); err != nil || res != i {
				t.Errorf("do(%d) = %d, %v", i, res, err)
			}
		})
	}
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.groups[0].queue) == 10 })
	close(release)
	wg.Wait()
	if fmt.Sprint(sizes) != "[1 4 4 2]" {
		t.Fatalf("batch sizes %v, want [1 4 4 2] (10 queued calls in batches of at most 4)", sizes)
	}
}

func TestBatcherKeepsGroupsApart(t *testing.T) {
	var mixed atomic.Bool
	b := newBatcher(64, 1, func(_ context.Context, calls []*call[uint16, int]) {
		for _, c := range calls {
			if c.req != calls[0].req {
				mixed.Store(true)
			}
		}
	})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() { b.do(context.Background(), uint16(i%3), uint16(i%3)) })
	}
	wg.Wait()
	if mixed.Load() {
		t.Fatal("a batch held calls of two groups")
	}
}

func TestBatcherNeverSendsACallWhoseContextEndedInTheQueue(t *testing.T) {
	release := make(chan struct{})
	var sent sync.Map
	b := newBatcher(8, 1, func(_ context.Context, calls []*call[string, int]) {
		for _, c := range calls {
			sent.Store(c.req, true)
		}
		if calls[0].req == "first" {
			<-release
		}
	})
	go b.do(context.Background(), 0, "first")
	waitFor(t, func() bool { _, ok := sent.Load("first"); return ok })

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { _, err := b.do(ctx, 0, "canceled"); errc <- err }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.groups[0].queue) == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled call returned %v", err)
	}
	close(release)
	if _, err := b.do(context.Background(), 0, "after"); err != nil {
		t.Fatal(err)
	}
	if _, ok := sent.Load("canceled"); ok {
		t.Fatal("a call abandoned in the queue was sent")
	}
	if _, err := b.do(ctx, 0, "already canceled"); !errors.Is(err, context.Canceled) {
		t.Fatalf("call with a canceled context returned %v", err)
	}
	if _, ok := sent.Load("already canceled"); ok {
		t.Fatal("a call whose context had ended was sent")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Group commit on the engines: concurrent commits to many catalogs, each
// answered with the version its entry got in the log.
func TestConcurrentCommitsToManyCatalogsGetTheirLoggedVersions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		const writers, perWriter, catalogs = 32, 20, 5
		type committed struct {
			catalog, id string
			version     int64
		}
		results := make(chan committed, writers*perWriter)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					catalog := fmt.Sprint("many", (w+i)%catalogs)
					d := Delta{ID: uuid.NewString(), Field: fmt.Sprint("f", w), Merge: "set", BodyKey: "k"}
					v, err := idx.Commit(ctx, catalog, d)
					if err != nil {
						t.Error(err)
						return
					}
					results <- committed{catalog, d.ID, v}
				}
			})
		}
		wg.Wait()
		close(results)
		want := make(map[string]committed)
		for r := range results {
			want[r.id] = r
		}
		if len(want) != writers*perWriter {
			t.Fatalf("%d commits acknowledged, want %d", len(want), writers*perWriter)
		}
		for c := range catalogs {
			catalog := fmt.Sprint("many", c)
			head, deltas, err := idx.Read(ctx, catalog, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range deltas {
				w, ok := want[d.ID]
				if !ok || w.catalog != catalog || w.version != d.Version {
					t.Fatalf("%s: log entry %s at %d, acknowledged as %+v", catalog, d.ID, d.Version, w)
				}
				if i > 0 && d.Version <= deltas[i-1].Version {
					t.Fatalf("%s: versions not increasing: %d after %d", catalog, d.Version, deltas[i-1].Version)
				}
				delete(want, d.ID)
			}
			if len(deltas) > 0 && head.Version != deltas[len(deltas)-1].Version {
				t.Fatalf("%s: head %d, last entry %d", catalog, head.Version, deltas[len(deltas)-1].Version)
			}
		}
		if len(want) != 0 {
			t.Fatalf("%d acknowledged commits are not in any log", len(want))
		}
	})
}

// The Redis engine really batches: concurrent commits take fewer script
// calls than commits, and a delta repeated within one batch is logged once.
func TestRedisGroupsConcurrentCommitsIntoFewerCalls(t *testing.T) {
	r, _ := openTest(t)
	var calls, largest atomic.Int64
	r.commits = newBatcher(maxBatch, commitFlights, func(ctx context.Context, batch []*call[commitRequest, int64]) {
		calls.Add(1)
		if n := int64(len(batch)); n > largest.Load() {
			largest.Store(n)
		}
		r.commitBatch(ctx, batch)
	})
	ctx := context.Background()
	repeated := Delta{ID: uuid.NewString(), Field: "r", Merge: "set"}
	versions := make([]int64, 200)
	var wg sync.WaitGroup
	for i := range versions {
		wg.Go(func() {
			d := Delta{ID: uuid.NewString(), Field: "f", Merge: "set"}
			if i%50 == 0 {
				d = repeated
			}
			v, err := r.Commit(ctx, fmt.Sprint("g", i%4), d)
			if err != nil {
				t.Error(err)
			}
			versions[i] = v
		})
	}
	wg.Wait()
	if calls.Load() >= int64(len(versions)) || largest.Load() < 2 {
		t.Fatalf("%d commits took %d script calls (largest batch %d): no group commit", len(versions), calls.Load(), largest.Load())
	}
	t.Logf("%d commits in %d script calls, largest batch %d", len(versions), calls.Load(), largest.Load())
	// The repeated delta was committed twice to g0 (i = 0, 100) and twice to
	// g2 (i = 50, 150): one entry in each, one version per catalog.
	for _, catalog := range []string{"g0", "g2"} {
		_, deltas, err := r.Read(ctx, catalog, 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range deltas {
			if d.ID == repeated.ID {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%s holds the repeated delta %d times, want once", catalog, n)
		}
	}
	if versions[0] != versions[100] || versions[50] != versions[150] {
		t.Fatalf("repeats of one delta got versions %d, %d (g0) and %d, %d (g2)", versions[0], versions[100], versions[50], versions[150])
	}
}

// Concurrent reads share script calls too; readers of the same catalog after
// the same version share one entry of the call but not their delta slices.
func TestRedisGroupsConcurrentReadsAndEachOwnsItsDeltas(t *testing.T) {
	r, _ := openTest(t)
	ctx := context.Background()
	var versions []int64
	for i := range 3 {
		v, err := r.Commit(ctx, "hot", Delta{ID: uuid.NewString(), Field: fmt.Sprint("f", i), Merge: "set"})
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	var calls atomic.Int64
	r.reads = newBatcher(maxReadBatch, readFlights, func(ctx context.Context, batch []*call[readRequest, readResult]) {
		calls.Add(1)
		r.readBatch(ctx, batch)
	})
	results := make([][]Delta, 200)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			after := int64(0)
			if i%2 == 1 {
				after = versions[0]
			}
			head, deltas, err := r.Read(ctx, "hot", after)
			if err != nil || head.Version != versions[2] || head.Pending != 3 {
				t.Errorf("read after %d: %+v, %v", after, head, err)
			}
			results[i] = deltas
			if len(deltas) > 0 {
				deltas[0].Field = fmt.Sprint("changed by reader ", i)
			}
		})
	}
	wg.Wait()
	if calls.Load() >= int64(len(results)) {
		t.Fatalf("%d reads took %d script calls: no batching", len(results), calls.Load())
	}
	for i, deltas := range results {
		want := []int64{versions[0], versions[1], versions[2]}
		if i%2 == 1 {
			want = want[1:]
		}
		if len(deltas) != len(want) {
			t.Fatalf("read %d got %d deltas, want %d", i, len(deltas), len(want))
		}
		for j, d := range deltas {
			if d.Version != want[j] || (j > 0 && d.Field != fmt.Sprint("f", j+3-len(want))) {
				t.Fatalf("read %d: delta %d is %+v, want version %d", i, j, d, want[j])
			}
		}
		if mine := fmt.Sprint("changed by reader ", i); deltas[0].Field != mine {
			t.Fatalf("read %d shares its deltas: its first field is %q, want %q", i, deltas[0].Field, mine)
		}
	}
	t.Logf("%d reads in %d script calls", len(results), calls.Load())
}
