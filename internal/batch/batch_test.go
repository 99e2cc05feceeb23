package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The batcher on its own: what goes into which batch.

func TestBatcherSendsALoneCallAtOnce(t *testing.T) {
	var batches [][]int
	b := New(8, 1, func(_ context.Context, calls []*Call[int, int]) {
		var reqs []int
		for _, c := range calls {
			reqs = append(reqs, c.Req)
			c.Res = c.Req * 10
		}
		batches = append(batches, reqs)
	})
	for i := range 3 {
		if res, err := b.Do(context.Background(), 0, i); err != nil || res != i*10 {
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
	b := New(4, 1, func(_ context.Context, calls []*Call[int, int]) {
		mu.Lock()
		first := len(sizes) == 0
		sizes = append(sizes, len(calls))
		mu.Unlock()
		if first {
			<-release // hold the first batch until the others queue up
		}
		for _, c := range calls {
			c.Res = c.Req
		}
	})
	var wg sync.WaitGroup
	wg.Go(func() { b.Do(context.Background(), 0, -1) })
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sizes) == 1 })
	for i := range 10 {
		wg.Go(func() {
			if res, err := b.Do(context.Background(), 0, i); err != nil || res != i {
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
	b := New(64, 1, func(_ context.Context, calls []*Call[uint16, int]) {
		for _, c := range calls {
			if c.Req != calls[0].Req {
				mixed.Store(true)
			}
		}
	})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() { b.Do(context.Background(), uint16(i%3), uint16(i%3)) })
	}
	wg.Wait()
	if mixed.Load() {
		t.Fatal("a batch held calls of two groups")
	}
}

func TestBatcherNeverSendsACallWhoseContextEndedInTheQueue(t *testing.T) {
	release := make(chan struct{})
	var sent sync.Map
	b := New(8, 1, func(_ context.Context, calls []*Call[string, int]) {
		for _, c := range calls {
			sent.Store(c.Req, true)
		}
		if calls[0].Req == "first" {
			<-release
		}
	})
	go b.Do(context.Background(), 0, "first")
	waitFor(t, func() bool { _, ok := sent.Load("first"); return ok })

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { _, err := b.Do(ctx, 0, "canceled"); errc <- err }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.groups[0].queue) == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled call returned %v", err)
	}
	close(release)
	if _, err := b.Do(context.Background(), 0, "after"); err != nil {
		t.Fatal(err)
	}
	if _, ok := sent.Load("canceled"); ok {
		t.Fatal("a call abandoned in the queue was sent")
	}
	if _, err := b.Do(ctx, 0, "already canceled"); !errors.Is(err, context.Canceled) {
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
