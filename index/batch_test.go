package index

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/hkloudou/lake/v2/internal/batch"
)

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
	r.commits = batch.New(maxBatch, commitFlights, func(ctx context.Context, batch []*batch.Call[commitRequest, int64]) {
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
	r.reads = batch.New(maxReadBatch, readFlights, func(ctx context.Context, batch []*batch.Call[readRequest, readResult]) {
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
