package index

import (
	"context"
	"slices"
	"sync"
)

// batcher turns concurrent calls into batches (group commit). Calls share a
// group when one request may carry them together (one Redis cluster slot).
// A group has at most `flights` batches in flight; while it has that many,
// its new calls queue up and go out together as the next batch when one
// returns. A call that finds its group with a free flight is sent at once:
// there is no timer and no added latency without concurrency, and the
// batches grow with the load. More than one flight lets this process prepare
// and send the next batch while the server runs the last one.
type batcher[Req, Res any] struct {
	// run sends one batch and sets every call's res or err.
	run func(ctx context.Context, calls []*call[Req, Res])
	// max bounds a batch, so that one request never holds the server for
	// long.
	max int
	// flights bounds the batches of one group in flight at a time.
	flights int

	mu     sync.Mutex
	groups map[uint16]*batchGroup[Req, Res]
}

type batchGroup[Req, Res any] struct {
	queue    []*call[Req, Res]
	inFlight int
}

type call[Req, Res any] struct {
	req  Req
	res  Res
	err  error
	done chan struct{}
	// taken and abandoned are guarded by batcher.mu: a call is either taken
	// into a batch or abandoned by its caller while still queued, never both.
	taken, abandoned bool
}

func newBatcher[Req, Res any](max, flights int, run func(context.Context, []*call[Req, Res])) *batcher[Req, Res] {
	return &batcher[Req, Res]{run: run, max: max, flights: flights, groups: make(map[uint16]*batchGroup[Req, Res])}
}

// do sends req in the next batch of group and waits for its result. A caller
// whose ctx ends while req is still queued gets ctx's error and req is never
// sent; once req is in a flying batch, the caller stops waiting but the
// batch completes (the outcome is then unknown to that caller, as with any
// request cut off in flight).
func (b *batcher[Req, Res]) do(ctx context.Context, group uint16, req Req) (Res, error) {
	var zero Res
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	c := &call[Req, Res]{req: req, done: make(chan struct{})}
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
		// The caller that finds a free flight sends the batch itself (its
		// own call is in it); later batches go from their own goroutines.
		b.flush(context.WithoutCancel(ctx), group, g)
	}
	select {
	case <-c.done:
		return c.res, c.err
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
func (b *batcher[Req, Res]) flush(ctx context.Context, group uint16, g *batchGroup[Req, Res]) {
	b.mu.Lock()
	batch := make([]*call[Req, Res], 0, min(len(g.queue), b.max))
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
			close(c.done)
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
