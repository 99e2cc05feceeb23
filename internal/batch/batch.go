// Package batch turns concurrent calls into batches (group commit): the
// index sends many commits or reads in one request, and Lake stores many
// delta bodies in one object (a pack).
package batch

import (
	"context"
	"slices"
	"sync"
)

// Batcher turns concurrent calls into batches (group commit). Calls share a
// group when one request may carry them together (one Redis cluster slot).
// A group has at most `flights` batches in flight; while it has that many,
// its new calls queue up and go out together as the next batch when one
// returns. A call that finds its group with a free flight is sent at once:
// there is no timer and no added latency without concurrency, and the
// batches grow with the load. More than one flight lets this process prepare
// and send the next batch while the server runs the last one.
type Batcher[Req, Res any] struct {
	// run sends one batch and sets every call's Res or Err.
	run func(ctx context.Context, calls []*Call[Req, Res])
	// max bounds a batch, so that one request never holds the server for
	// long.
	max int
	// flights bounds the batches of one group in flight at a time.
	flights int

	mu     sync.Mutex
	groups map[uint16]*batchGroup[Req, Res]
	// calls keeps finished calls for reuse: a call per request would be
	// two allocations on every write and read.
	calls sync.Pool
}

type batchGroup[Req, Res any] struct {
	queue    []*Call[Req, Res]
	inFlight int
}

// Call is one call in a batch: run reads Req and sets Res or Err.
type Call[Req, Res any] struct {
	Req Req
	Res Res
	Err error
	// done receives one value when the call's batch has run (buffered, so
	// that the batch never waits for a caller that left).
	done chan struct{}
	// taken and abandoned are guarded by Batcher.mu: a call is either taken
	// into a batch or abandoned by its caller while still queued, never both.
	taken, abandoned bool
}

// New returns a Batcher whose batches hold at most max calls, with at most
// flights batches of one group in flight; run sends one batch.
func New[Req, Res any](max, flights int, run func(context.Context, []*Call[Req, Res])) *Batcher[Req, Res] {
	return &Batcher[Req, Res]{run: run, max: max, flights: flights, groups: make(map[uint16]*batchGroup[Req, Res])}
}

// Do sends req in the next batch of group and waits for its result. A caller
// whose ctx ends while req is still queued gets ctx's error and req is never
// sent; once req is in a flying batch, the caller stops waiting but the
// batch completes (the outcome is then unknown to that caller, as with any
// request cut off in flight).
func (b *Batcher[Req, Res]) Do(ctx context.Context, group uint16, req Req) (Res, error) {
	var zero Res
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	c, _ := b.calls.Get().(*Call[Req, Res])
	if c == nil {
		c = &Call[Req, Res]{done: make(chan struct{}, 1)}
	}
	c.Req = req
	b.mu.Lock()
	g := b.groups[group]
	if g == nil {
		g = &batchGroup[Req, Res]{}
		b.groups[group] = g
	}
	g.queue = append(g.queue, c)
	lead := g.inFlight < b.flights
	if lead {
		g.inFlight++
	}
	b.mu.Unlock()
	if lead {
		// The batch goes from a goroutine of its own, even when the caller
		// that found a free flight is alone in it, so that this caller can
		// stop waiting when its ctx ends, as every other caller can.
		go b.flush(context.WithoutCancel(ctx), group, g)
	}
	select {
	case <-c.done:
		res, err := c.Res, c.Err
		// Only a call whose batch has run goes back: a call that its
		// caller left may still be signalled, and is left to the GC.
		*c = Call[Req, Res]{done: c.done}
		b.calls.Put(c)
		return res, err
	case <-ctx.Done():
		b.mu.Lock()
		if !c.taken {
			c.abandoned = true
		}
		b.mu.Unlock()
		return zero, ctx.Err()
	}
}

// flush sends one batch of g and hands its flight on: to a new goroutine if
// calls queued meanwhile, or back to the group.
func (b *Batcher[Req, Res]) flush(ctx context.Context, group uint16, g *batchGroup[Req, Res]) {
	b.mu.Lock()
	batch := make([]*Call[Req, Res], 0, min(len(g.queue), b.max))
	n := 0
	for _, c := range g.queue {
		if len(batch) == b.max {
			break
		}
		n++
		if c.abandoned {
			continue
		}
		c.taken = true
		batch = append(batch, c)
	}
	g.queue = slices.Delete(g.queue, 0, n)
	b.mu.Unlock()

	if len(batch) > 0 {
		b.run(ctx, batch)
		for _, c := range batch {
			c.done <- struct{}{}
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(g.queue) == 0 {
		if g.inFlight--; g.inFlight == 0 {
			delete(b.groups, group)
		}
		return
	}
	go b.flush(context.WithoutCancel(ctx), group, g)
}

// Queued reports how many calls of group wait for the next batch (for tests
// and metrics).
func (b *Batcher[Req, Res]) Queued(group uint16) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if g := b.groups[group]; g != nil {
		return len(g.queue)
	}
	return 0
}
