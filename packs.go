package lake

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/internal/batch"
	"github.com/hkloudou/lake/v2/internal/pack"
	"github.com/hkloudou/lake/v2/storage"
)

// Body packs: the concurrent writes of one client store their bodies as one
// object (a pack, see internal/pack), and then one CommitAll adds their log
// entries, each pointing at the pack, its part and the part's byte range. A
// write that finds no pack in flight goes at once, alone; writes that arrive
// while packs are in flight queue up and go out together as the next pack.
// A pack may hold the bodies of many catalogs (DESIGN.md says why).
const (
	// packMaxDeltas and packMaxBytes bound one pack; a batch over the byte
	// bound is stored as several packs at once.
	packMaxDeltas = 256
	packMaxBytes  = 4 << 20
	// packFlights is how many packs of one client may be in flight (stored
	// or being committed) at once.
	packFlights = 2
	// packTimeout bounds the storing and committing of one pack. A pack
	// outlives the writers that wait for it (each waits only as long as its
	// own context allows), so it needs a bound of its own: the latest of
	// its writers' deadlines, and never more than this.
	packTimeout = time.Minute
)

// packByCatalog, when set, keeps each catalog's bodies in packs of their
// own (benchmarks compare it with mixed packs; see BenchmarkPackMixing).
var packByCatalog = false

// pendingWrite is one delta waiting for a pack.
type pendingWrite struct {
	ctx     context.Context // the writer's: a writer that gave up is not committed
	idx     index.Index
	catalog string
	delta   index.Delta // Field, Merge, Script and Holder
	body    []byte      // nil for a delete: its part is empty
}

// packer stores packs in one store and commits their entries.
type packer struct {
	store  storage.Storage
	writes *batch.Batcher[pendingWrite, int64]
	seed   maphash.Seed
}

func newPacker(store storage.Storage) *packer {
	p := &packer{store: store, seed: maphash.MakeSeed()}
	p.writes = batch.New(packMaxDeltas, packFlights, p.writeBatch)
	return p
}

// write stores d's body (nil for none) in the next pack, commits d to
// catalog's log in idx and returns its version.
func (p *packer) write(ctx context.Context, idx index.Index, catalog string, d index.Delta, body []byte) (int64, error) {
	var group uint16
	if packByCatalog {
		group = uint16(maphash.String(p.seed, catalog))
	}
	return p.writes.Do(ctx, group, pendingWrite{ctx: ctx, idx: idx, catalog: catalog, delta: d, body: body})
}

// writeBatch writes a batch as one pack, or as several at once when its
// bodies pass packMaxBytes. A pack that fails fails exactly its own writes.
func (p *packer) writeBatch(ctx context.Context, calls []*batch.Call[pendingWrite, int64]) {
	// Past the last writer's deadline nobody waits for the pack: a store
	// that stopped answering holds a flight no longer than that.
	deadline := time.Now().Add(packTimeout)
	latest, bounded := time.Time{}, true
	for _, c := range calls {
		d, ok := c.Req.ctx.Deadline()
		if !ok {
			bounded = false
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	if bounded && latest.Before(deadline) {
		deadline = latest
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var wg sync.WaitGroup
	for start := 0; start < len(calls); {
		end, size := start+1, len(calls[start].Req.body)
		for end < len(calls) && size+len(calls[end].Req.body) <= packMaxBytes {
			size += len(calls[end].Req.body)
			end++
		}
		if start == 0 && end == len(calls) { // the usual case: no goroutine
			p.writePack(ctx, calls)
			break
		}
		wg.Add(1)
		go func(calls []*batch.Call[pendingWrite, int64]) {
			defer wg.Done()
			p.writePack(ctx, calls)
		}(calls[start:end])
		start = end
	}
	wg.Wait()
}

// writePack stores calls' bodies as one pack, then commits the entries of
// the writers still waiting. The body goes first and the entry second, so
// that a committed entry always points at a complete body; a pack that
// fails leaves nothing committed, and a pack whose writers all gave up is
// an orphan for GC.
func (p *packer) writePack(ctx context.Context, calls []*batch.Call[pendingWrite, int64]) {
	id := pack.NewID(time.Now())
	entries := make([]pack.Entry, 0, len(calls))
	parts := make([][]byte, 1, len(calls)+1)
	// A delta the pack cannot record fails alone (Write checked its input,
	// so this is a defence, not a path).
	refused := false
	for _, c := range calls {
		d := c.Req.delta
		e := pack.Entry{Catalog: c.Req.catalog, Field: d.Field, Merge: d.Merge, Script: d.Script}
		if err := e.Check(); err != nil {
			c.Err = fmt.Errorf("%w: %v", ErrInvalidValue, err)
			refused = true
			continue
		}
		entries = append(entries, e)
		parts = append(parts, c.Req.body)
	}
	if refused {
		// A new slice: the batcher still reads the one it passed.
		kept := make([]*batch.Call[pendingWrite, int64], 0, len(entries))
		for _, c := range calls {
			if c.Err == nil {
				kept = append(kept, c)
			}
		}
		if calls = kept; len(calls) == 0 {
			return
		}
	}
	table, err := pack.EncodeEntries(id, entries)
	var extents []storage.Extent
	if err == nil {
		parts[0] = table
		extents, err = storage.PutParts(ctx, p.store, pack.Key(id), parts)
	}
	if err == nil && len(extents) != len(parts) {
		err = fmt.Errorf("storage returned %d extents for %d parts", len(extents), len(parts))
	}
	if err != nil {
		err = storageError(err)
		for _, c := range calls {
			c.Err = err
		}
		return
	}
	commits := make([]index.Entry, 0, len(calls))
	committed := make([]*batch.Call[pendingWrite, int64], 0, len(calls))
	for i, c := range calls {
		if err := c.Req.ctx.Err(); err != nil {
			c.Err = err
			continue
		}
		// The ID is left for the index to derive (pack.part): one string
		// less per write.
		d := c.Req.delta
		d.Pack, d.Part = id, i+1
		d.Offset, d.Length = extents[i+1].Offset, extents[i+1].Length
		commits = append(commits, index.Entry{Catalog: c.Req.catalog, Delta: d})
		committed = append(committed, c)
	}
	// The writers of one client share an index; the loop keeps each
	// entry with its own in case one was reopened meanwhile.
	for len(committed) > 0 {
		idx := committed[0].Req.idx
		n := 1
		for n < len(committed) && committed[n].Req.idx == idx {
			n++
		}
		versions, errs := idx.CommitAll(ctx, commits[:n])
		for i, c := range committed[:n] {
			c.Res, c.Err = versions[i], errs[i]
		}
		commits, committed = commits[n:], committed[n:]
	}
}

// hasBody reports whether a delta has a stored body to fetch.
func hasBody(d index.Delta) bool {
	if d.Pack != "" {
		return d.Merge != MergeDelete.String()
	}
	return d.BodyKey != ""
}

// deltaObject names where a delta's body is, for messages.
func deltaObject(d index.Delta) string {
	if d.Pack != "" {
		return pack.Key(d.Pack) + " part " + strconv.Itoa(d.Part)
	}
	return d.BodyKey
}

// fetched is one delta's body, or why that delta alone has none: an error
// wrapping storage.ErrNotFound, ErrDecrypt or ErrCorrupt.
type fetched struct {
	body []byte
	err  error
}

// fetchEach gets the bodies of deltas: a body of its own with one Get, the
// bodies in one pack with one storage.GetParts (one ranged read of the span
// they cover, split where they lie far apart), at most
// Option.FetchConcurrency requests at a time. The error is for a store that
// could not answer; what is wrong with one delta's body is in its fetched.
func (c *Client) fetchEach(ctx context.Context, s *state, deltas []index.Delta) ([]fetched, error) {
	out := make([]fetched, len(deltas))
	var byPack map[string][]int // pack -> indexes into deltas, in order
	var packs []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opt.FetchConcurrency)
	for i, d := range deltas {
		if !hasBody(d) || elsewhere(d, s) {
			continue
		}
		if d.Pack != "" {
			if byPack == nil {
				byPack = make(map[string][]int)
			}
			if _, ok := byPack[d.Pack]; !ok {
				packs = append(packs, d.Pack)
			}
			byPack[d.Pack] = append(byPack[d.Pack], i)
			continue
		}
		g.Go(func() error {
			body, err := s.store.Get(gctx, d.BodyKey)
			if err != nil && !bodyProblem(err) {
				return fmt.Errorf("delta at version %d (object %s): %w", d.Version, d.BodyKey, storageError(err))
			}
			out[i] = fetched{body: body, err: err}
			return nil
		})
	}
	for _, id := range packs {
		members := byPack[id]
		g.Go(func() error {
			extents := make([]storage.Extent, len(members))
			for k, i := range members {
				d := deltas[i]
				extents[k] = storage.Extent{Index: d.Part, Offset: d.Offset, Length: d.Length}
			}
			parts, err := storage.GetParts(gctx, s.store, pack.Key(id), extents)
			if err != nil && !bodyProblem(err) {
				first := deltas[members[0]]
				return fmt.Errorf("delta at version %d (object %s): %w", first.Version, deltaObject(first), storageError(err))
			}
			for k, i := range members {
				if err != nil {
					out[i].err = err
				} else {
					out[i] = fetched{body: parts[k].Data, err: parts[k].Err}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// bodyProblem reports whether a storage error is about the object itself
// (gone, undecryptable, damaged) rather than about reaching the store.
func bodyProblem(err error) bool {
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrDecrypt) || errors.Is(err, storage.ErrCorrupt)
}

// fetchBodies gets the deltas' bodies for a fold; bodies[i] belongs to
// deltas[i]. The first delta whose body cannot be read fails the fold,
// named: ErrBodyMissing when its object is gone.
func (c *Client) fetchBodies(ctx context.Context, s *state, catalog string, deltas []index.Delta) ([][]byte, error) {
	got, err := c.fetchEach(ctx, s, deltas)
	if err != nil {
		return nil, err
	}
	bodies := make([][]byte, len(deltas))
	for i, f := range got {
		d := deltas[i]
		switch {
		case f.err == nil:
			bodies[i] = f.body
		case errors.Is(f.err, storage.ErrNotFound):
			return nil, fmt.Errorf("%w: catalog %q version %d field %q object %s: %w",
				ErrBodyMissing, catalog, d.Version, d.Field, deltaObject(d), f.err)
		default:
			return nil, fmt.Errorf("delta at version %d (field %q, object %s): %w", d.Version, d.Field, deltaObject(d), storageError(f.err))
		}
	}
	return bodies, nil
}
