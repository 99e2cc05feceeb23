package main

import (
	"context"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/storage"
)

// run runs the clients for the duration (or --ops), under a CPU profile
// and with the meta store's memory sampled when asked, and returns the
// result and the first error an op returned; err is a profile or a sample
// file that could not be started.
func (b *benchLake) run(ctx context.Context, o benchOptions) (res benchResult, firstErr, err error) {
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return benchResult{}, nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return benchResult{}, nil, err
		}
		defer pprof.StopCPUProfile()
	}
	var sampler *memorySampler
	if o.sampleMemory != "" {
		if sampler, err = b.openSampler(o.sampleMemory); err != nil {
			return benchResult{}, nil, err
		}
	}
	res, firstErr = benchRun(ctx, b.a, o, b.counter, b.newOp(o), sampler)
	if o.op == "coldread" {
		res.Deltas = o.deltas
	}
	if o.op != "put" {
		res.addCompaction(o.compaction(), storage.HolderOf(b.store) != "")
	}
	return res, firstErr, nil
}

// benchPutRing is how many keys each client of put overwrites in turn on
// memory storage.
const benchPutRing = 1024

// benchOp is one op of one client; write tells whether it was a write.
type benchOp func(ctx context.Context, rng *mrand.Rand) (write bool, err error)

// newOp returns, for client g, the op it repeats.
func (b *benchLake) newOp(o benchOptions) func(g int) benchOp {
	switch o.op {
	case "put":
		value := []byte(b.value)
		// A store in this process's memory would grow by every put: there
		// each client overwrites a ring of keys of its own.
		ring := math.MaxInt
		if storage.HolderOf(b.store) != "" {
			ring = benchPutRing
		}
		return func(g int) benchOp {
			n := 0
			return func(ctx context.Context, _ *mrand.Rand) (bool, error) {
				n = n%ring + 1
				return true, b.store.Put(ctx, fmt.Sprintf("%s%d-%d", b.putKeys, g, n), value)
			}
		}
	case "coldread":
		catalog := b.catalogs[0]
		return func(int) benchOp {
			return func(ctx context.Context, _ *mrand.Rand) (bool, error) {
				res, err := b.client.Read(ctx, lake.ReadRequest{Catalog: catalog})
				if err == nil && (res.Snapshot.Version != 0 || res.Snapshot.Cached != 0 || res.Snapshot.Deltas != o.deltas) {
					err = fmt.Errorf("read %s: folded %d deltas from snapshot %d (cached %d), want %d from none",
						catalog, res.Snapshot.Deltas, res.Snapshot.Version, res.Snapshot.Cached, o.deltas)
				}
				return false, err
			}
		}
	}
	return func(int) benchOp {
		lastWrite := make([]int64, len(b.catalogs)) // mixed: the last version this client committed per catalog
		return func(ctx context.Context, rng *mrand.Rand) (bool, error) {
			c := rng.IntN(len(b.catalogs))
			if o.op == "write" || (o.op == "mixed" && rng.IntN(10) == 0) {
				version, err := b.client.WriteVersion(ctx, lake.WriteRequest{
					Catalog: b.catalogs[c], Field: b.fields[rng.IntN(len(b.fields))], Value: b.value,
				})
				if err == nil && version > lastWrite[c] {
					lastWrite[c] = version
				}
				return true, err
			}
			res, err := b.client.Read(ctx, lake.ReadRequest{Catalog: b.catalogs[c], GenerateSnap: o.op == "mixed"})
			if err == nil && res.Version < lastWrite[c] {
				err = fmt.Errorf("read %s: version %d is older than this client's committed write %d", b.catalogs[c], res.Version, lastWrite[c])
			}
			return false, err
		}
	}
}

// benchRun runs one op per client in a loop for the duration, or until
// o.ops ops have started when it is set, and returns the result, with the
// counts of counter from when the clock started, and the first error an op
// returned. sampler, when not nil, samples the meta store's memory while
// the clock runs.
func benchRun(ctx context.Context, a *app, o benchOptions, counter *benchStorage, newOp func(g int) benchOp, sampler *memorySampler) (benchResult, error) {
	var (
		ops, errCount atomic.Int64
		writes, reads atomic.Int64
		started       atomic.Int64 // ops begun, for --ops
		firstErr      error
		errOnce       sync.Once
		wg            sync.WaitGroup
		latencies     = make([][]time.Duration, o.clients)
		clientOps     = make([]benchOp, o.clients)
		stopProgress  = func() {}
	)
	fail := func(err error) {
		errCount.Add(1)
		errOnce.Do(func() { firstErr = err })
	}
	for g := range clientOps {
		clientOps[g] = newOp(g)
	}
	counter.reset()
	start := time.Now()
	deadline := start.Add(o.duration)
	var (
		runCtx context.Context
		cancel context.CancelFunc
	)
	if o.ops > 0 {
		// No deadline: the run ends when the ops are made.
		runCtx, cancel = context.WithCancel(ctx)
	} else {
		runCtx, cancel = context.WithDeadline(ctx, deadline.Add(30*time.Second))
	}
	defer cancel()
	// over says whether a client is to stop before its next op.
	over := func(now time.Time) bool {
		if o.ops > 0 {
			return started.Add(1) > o.ops
		}
		return !now.Before(deadline)
	}

	if !o.json {
		stopProgress = showProgress(a.stderr, start, &ops)
	}
	stopSampling := func() {}
	if sampler != nil {
		stopSampling = sampler.start(start, &ops)
	}

	for g, op := range clientOps {
		// Room for a few seconds of ops per client; append grows it beyond.
		lat := make([]time.Duration, 0, 1<<14)
		wg.Go(func() {
			defer func() { latencies[g] = lat }()
			rng := mrand.New(mrand.NewPCG(uint64(g), uint64(start.UnixNano())))
			for ctx.Err() == nil {
				t0 := time.Now()
				if over(t0) {
					return
				}
				write, err := op(runCtx, rng)
				lat = append(lat, time.Since(t0))
				if err != nil && ctx.Err() != nil {
					lat = lat[:len(lat)-1] // cut short by an interrupt: not a result
					return
				}
				ops.Add(1)
				if write {
					writes.Add(1)
				} else {
					reads.Add(1)
				}
				if err != nil {
					fail(err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	counts := counter.counts()
	stopSampling()
	stopProgress()
	res := summarize(o, elapsed, ops.Load(), errCount.Load(), latencies)
	res.Writes, res.Reads = writes.Load(), reads.Load()
	res.addCounts(storage.Kind(counter), counts)
	return res, firstErr
}

// showProgress prints the ops so far and their rate on w once a second
// until stop is called, which prints the final count and returns once the
// line is done.
func showProgress(w io.Writer, start time.Time, ops *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		show := func(now time.Time) {
			elapsed := now.Sub(start).Seconds()
			n := ops.Load()
			fmt.Fprintf(w, "\r%6.1fs %12d ops %12.0f ops/s", elapsed, n, float64(n)/elapsed)
		}
		for {
			select {
			case <-done:
				show(time.Now()) // the final count
				fmt.Fprintln(w)
				return
			case now := <-tick.C:
				show(now)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// memorySampler is --sample-memory: it writes the meta store's used_memory
// to a CSV file once a second while the clock runs.
type memorySampler struct {
	w    io.Writer
	used func(context.Context) (int64, error) // used_memory in bytes
	err  error                                // the first sample that failed
}

// memorySampleHeader is the first line of a --sample-memory file.
const memorySampleHeader = "elapsed_s,ops,used_memory_bytes\n"

// start writes a sample now, then once a second, until stop is called,
// which writes the last one and returns once it is written.
func (s *memorySampler) start(start time.Time, ops *atomic.Int64) (stop func()) {
	sample := func(now time.Time) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n := ops.Load() // before INFO: the memory measured covers at least these ops
		used, err := s.used(ctx)
		if err == nil {
			_, err = fmt.Fprintf(s.w, "%.3f,%d,%d\n", now.Sub(start).Seconds(), n, used)
		}
		if err != nil && s.err == nil {
			s.err = err
		}
	}
	sample(start)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				sample(time.Now())
				return
			case now := <-tick.C:
				sample(now)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// summarize computes the result from each client's latencies.
func summarize(o benchOptions, elapsed time.Duration, ops, errs int64, latencies [][]time.Duration) benchResult {
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res := benchResult{
		Op: o.op, Clients: o.clients, DurationS: elapsed.Seconds(), Ops: ops, Errors: errs,
		P50Ms: ms(percentile(all, 50)), P90Ms: ms(percentile(all, 90)), P99Ms: ms(percentile(all, 99)),
	}
	if len(all) > 0 {
		res.MaxMs = ms(all[len(all)-1])
	}
	if elapsed > 0 {
		res.OpsPerSec = float64(ops) / elapsed.Seconds()
	}
	return res
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(float64(n)*p/100 + 0.999999999) // ceil
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}
