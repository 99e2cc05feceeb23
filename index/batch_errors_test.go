package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2/internal/batch"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/redis/rueidis"
)

// The error paths of group commit: a batch whose store goes away, a batch in
// which one catalog overflows, a reply that does not match its batch.

// heldBatcher is a commit batcher of one flight whose batches wait for the
// gate: commits made while the first batch waits queue up and go out
// together as the next one.
type heldBatcher[Req any] struct {
	*batch.Batcher[Req, int64]
	gate chan struct{}

	mu    sync.Mutex
	sizes []int // of every batch sent
}

func holdCommits[Req any](run func(context.Context, []*batch.Call[Req, int64])) *heldBatcher[Req] {
	h := &heldBatcher[Req]{gate: make(chan struct{})}
	h.Batcher = batch.New(maxBatch, 1, func(ctx context.Context, calls []*batch.Call[Req, int64]) {
		h.mu.Lock()
		h.sizes = append(h.sizes, len(calls))
		h.mu.Unlock()
		<-h.gate
		run(ctx, calls)
	})
	return h
}

func (h *heldBatcher[Req]) sent() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.sizes)
}

func (h *heldBatcher[Req]) queued() int {
	return h.Queued(0)
}

// commitHeld commits n deltas concurrently to catalogs (round robin): the
// first goes out alone and waits at the gate, the other n-1 queue behind it
// and go out as one batch. down runs once they all wait, before the gate
// opens. It returns each caller's error.
func commitHeld[Req any](t *testing.T, idx Index, h *heldBatcher[Req], catalogs []string, n int, down func()) []error {
	t.Helper()
	// A generous deadline only guards the test: the errors must come from
	// the store, not from the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = idx.Commit(ctx, catalogs[i%len(catalogs)], newDelta()) })
		if i == 0 {
			waitFor(t, func() bool { return len(h.sent()) == 1 })
		}
	}
	waitFor(t, func() bool { return h.queued() == n-1 })
	down()
	close(h.gate)
	wg.Wait()
	if sizes := h.sent(); !slices.Equal(sizes, []int{1, n - 1}) {
		t.Fatalf("batches of %v, want [1 %d]: the commits did not share a batch", sizes, n-1)
	}
	return errs
}

// logsOf returns every delta of each catalog.
func logsOf(t *testing.T, idx Index, catalogs []string) map[string][]Delta {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	logs := make(map[string][]Delta)
	for _, catalog := range catalogs {
		deltas, err := idx.Log(ctx, catalog, 0, MaxVersion)
		if err != nil {
			t.Fatalf("log of %s: %v", catalog, err)
		}
		logs[catalog] = deltas
	}
	return logs
}

func sameLogs(t *testing.T, got, want map[string][]Delta) {
	t.Helper()
	for catalog, deltas := range want {
		if !slices.Equal(got[catalog], deltas) {
			t.Fatalf("log of %s changed:\n got %+v\nwant %+v", catalog, got[catalog], deltas)
		}
	}
}

func TestGroupCommitToAStoppedRedisFailsEveryCallerAndLogsNothing(t *testing.T) {
	// Every acknowledged write is on disk before the reply, so a restart
	// shows exactly what was committed.
	server := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	r := openOn(t, context.Background(), server.URL)
	catalogs := []string{"c0", "c1", "c2"}
	for _, catalog := range catalogs {
		commitN(t, r, catalog, 2) // also lists the catalogs, before the server stops
	}
	before := logsOf(t, r, catalogs)

	h := holdCommits(r.commitBatch)
	r.commits = h.Batcher
	const n = 24
	errs := commitHeld(t, r, h, catalogs, n, server.Stop)
	for i, err := range errs {
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("commit %d to a stopped server: %v, want ErrUnavailable", i, err)
		}
	}

	server.Restart(t)
	sameLogs(t, logsOf(t, r, catalogs), before)
	r.commits = batch.New(maxBatch, commitFlights, r.commitBatch)
	commitAndRead(t, r, "c0", "after the restart")
}

func TestFileGroupCommitAfterCloseFailsEveryCallerAndLogsNothing(t *testing.T) {
	dir := t.TempDir()
	b := openFileTest(t, dir, Options{})
	catalogs := []string{"c0", "c1", "c2"}
	for _, catalog := range catalogs {
		commitN(t, b, catalog, 2)
	}
	before := logsOf(t, b, catalogs)

	h := holdCommits(b.commitBatch)
	b.commits = h.Batcher
	const n = 24
	errs := commitHeld(t, b, h, catalogs, n, func() { must(t, b.Close()) })
	for i, err := range errs {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("commit %d to a closed store: %v, want ErrUnavailable", i, err)
		}
	}

	reopened := openFileTest(t, dir, Options{})
	sameLogs(t, logsOf(t, reopened, catalogs), before)
	commitAndRead(t, reopened, "c0", "after reopening")
}

// batchCommit is one commit of a batch built by hand; batchResult its answer.
type (
	batchCommit struct {
		catalog string
		delta   Delta
	}
	batchResult struct {
		version int64
		err     error
	}
)

// commitInOneBatch hands commits to the engine's commitBatch as one batch,
// the way the batcher sends concurrent commits.
func commitInOneBatch(t *testing.T, idx Index, commits []batchCommit) []batchResult {
	t.Helper()
	ctx := context.Background()
	results := make([]batchResult, len(commits))
	switch e := idx.(type) {
	case *redisIndex:
		calls := make([]*batch.Call[commitRequest, int64], len(commits))
		for i, c := range commits {
			calls[i] = &batch.Call[commitRequest, int64]{Req: commitRequest{catalog: c.catalog, member: mustEncodeMember(t, c.delta)}}
		}
		e.commitBatch(ctx, calls)
		for i, c := range calls {
			results[i] = batchResult{c.Res, c.Err}
		}
	case *boltIndex:
		calls := make([]*batch.Call[boltCommit, int64], len(commits))
		for i, c := range commits {
			calls[i] = &batch.Call[boltCommit, int64]{Req: boltCommit{catalog: c.catalog, id: c.delta.ID, member: mustEncodeMember(t, c.delta)}}
		}
		e.commitBatch(ctx, calls)
		for i, c := range calls {
			results[i] = batchResult{c.Res, c.Err}
		}
	default:
		t.Fatalf("no batch for %T", idx)
	}
	return results
}

// sameBatchAs returns n catalog names that one batch may carry with
// catalog: on a cluster, names in its slot.
func sameBatchAs(idx Index, catalog string, n int) []string {
	var names []string
	r, _ := idx.(*redisIndex)
	for i := 0; len(names) < n; i++ {
		name := fmt.Sprint("ok", i)
		if r == nil || r.slot(name) == r.slot(catalog) {
			names = append(names, name)
		}
	}
	return names
}

func TestABatchWhereOneCatalogOverflowsFailsOnlyThatCatalogsDeltas(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine, idx Index) {
		ctx := context.Background()
		// full has no version left; edge has one.
		names := sameBatchAs(idx, "full", 3)
		ok1, ok2, edge := names[0], names[1], names[2]
		e.setLastVersion(t, idx, "full", MaxVersion)
		e.setLastVersion(t, idx, edge, MaxVersion-1)
		commits := []batchCommit{
			{ok1, newDelta()}, {"full", newDelta()}, {ok2, newDelta()}, {edge, newDelta()},
			{"full", newDelta()}, {edge, newDelta()}, {ok1, newDelta()},
		}
		results := commitInOneBatch(t, idx, commits)

		for i, res := range results {
			c := commits[i]
			overflows := c.catalog == "full" || i == 5 // edge's second delta
			switch {
			case overflows && !errors.Is(res.err, ErrVersionOverflow):
				t.Fatalf("commit %d to %s: %d, %v; want ErrVersionOverflow", i, c.catalog, res.version, res.err)
			case !overflows && res.err != nil:
				t.Fatalf("commit %d to %s failed beside an overflow: %v", i, c.catalog, res.err)
			}
		}
		if results[3].version != MaxVersion {
			t.Fatalf("the last version left in %s: %d, want %d", edge, results[3].version, int64(MaxVersion))
		}
		want := map[string][]int{ok1: {0, 6}, ok2: {2}, edge: {3}, "full": nil}
		for catalog, indexes := range want {
			head, deltas, err := idx.Read(ctx, catalog, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(deltas) != len(indexes) {
				t.Fatalf("%s holds %d deltas, want %d: %+v", catalog, len(deltas), len(indexes), deltas)
			}
			for j, i := range indexes {
				if deltas[j].ID != commits[i].delta.ID || deltas[j].Version != results[i].version {
					t.Fatalf("%s entry %d: %s at %d, want commit %d (%s at %d)", catalog, j, deltas[j].ID, deltas[j].Version, i, commits[i].delta.ID, results[i].version)
				}
			}
			if catalog == "full" && head.Version != MaxVersion {
				t.Fatalf("full's head moved to %d", head.Version)
			}
		}
	})
}

// settleCommits is the check of commit.lua's reply: one version per delta,
// in the order commitBatch sent them, or nothing can be trusted.
func TestSettleCommitsRejectsAReplyWithTheWrongNumberOfVersions(t *testing.T) {
	batch := func() []*batch.Call[commitRequest, int64] {
		return groupByCatalog([]*batch.Call[commitRequest, int64]{
			{Req: commitRequest{catalog: "a", member: "1"}},
			{Req: commitRequest{catalog: "b", member: "2"}},
			{Req: commitRequest{catalog: "a", member: "3"}},
		})
	}
	for _, versions := range [][]int64{nil, {10, 11}, {10, 11, 12, 13}} {
		calls := batch()
		settleCommits(calls, versions, nil)
		for _, c := range calls {
			if !errors.Is(c.Err, ErrCorrupt) || c.Res != 0 {
				t.Fatalf("%d versions for 3 deltas: %s got %d, %v; want ErrCorrupt", len(versions), c.Req.member, c.Res, c.Err)
			}
		}
	}
	calls := batch()
	settleCommits(calls, []int64{10, -1, 12}, nil)
	// groupByCatalog put a's deltas first: 1, 3, then 2.
	if got := []string{calls[0].Req.member, calls[1].Req.member, calls[2].Req.member}; !slices.Equal(got, []string{"1", "3", "2"}) {
		t.Fatalf("batch order %v, want [1 3 2]", got)
	}
	if calls[0].Res != 10 || calls[0].Err != nil || calls[2].Res != 12 || calls[2].Err != nil {
		t.Fatalf("the committed deltas: %d, %v and %d, %v", calls[0].Res, calls[0].Err, calls[2].Res, calls[2].Err)
	}
	if !errors.Is(calls[1].Err, ErrVersionOverflow) {
		t.Fatalf("version -1: %v, want ErrVersionOverflow", calls[1].Err)
	}
}

// swapLua replaces one of the engine's Lua calls for the rest of the test.
func swapLua(t *testing.T, lua **rueidis.Lua, with *rueidis.Lua) {
	old := *lua
	*lua = with
	t.Cleanup(func() { *lua = old })
}

// The checks on the real path: a Redis that answers a commit or a read
// batch with the wrong number of results is ErrCorrupt for every caller.
func TestRedisReplyThatDoesNotMatchItsBatchIsErrCorrupt(t *testing.T) {
	r, _ := openTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	swapLua(t, &luaCommit, rueidis.NewLuaScriptRetryable("return {1, 2}"))
	if v, err := r.Commit(ctx, "c", newDelta()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("commit answered with two versions: %d, %v; want ErrCorrupt", v, err)
	}
	results := commitInOneBatch(t, r, []batchCommit{{"c", newDelta()}, {"d", newDelta()}, {"c", newDelta()}})
	for i, res := range results {
		if !errors.Is(res.err, ErrCorrupt) {
			t.Fatalf("commit %d of 3 answered with two versions: %d, %v; want ErrCorrupt", i, res.version, res.err)
		}
	}
	swapLua(t, &luaRead, rueidis.NewLuaScriptReadOnly("return {}"))
	if _, _, err := r.Read(ctx, "c", 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read answered with no result: %v, want ErrCorrupt", err)
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
