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
// object (a pack, see internal/pack) and then commit one log entry each,
// pointing at the pack, the part and its byte range. A write that finds no
// pack in flight is stored at once, alone; writes that arrive while packs
// are in flight queue up and go out together as the next pack. A pack may
// hold the bodies of many catalogs (DESIGN.md says why).
const (
	// packMaxDeltas and packMaxBytes bound one pack; a batch over the byte
	// bound is stored as several packs at once.
	packMaxDeltas = 256
	packMaxBytes  = 4 << 20
	// packFlights is how many packs of one client may be stored at once.
	packFlights = 2
	// packTimeout bounds the storing of one pack. The pack outlives the
	// writers that wait for it (each waits only as long as its own context
	// allows), so it needs a bound of its own.
	packTimeout = time.Minute
)

// packByCatalog, when set, keeps each catalog's bodies in packs of their
// own (benchmarks compare it with mixed packs; see BenchmarkPackMixing).
var packByCatalog = false

// packRequest is one delta waiting for a pack.
type packRequest struct {
	catalog string
	delta   index.Delta // Field, Merge and Script
	body    []byte      // nil for a delete: its part is empty
}

// packed says where a delta's body landed.
type packed struct {
	pack   string
	part   int
	extent storage.Extent
}

// packer stores packs in one store.
type packer struct {
	store storage.Storage
	packs *batch.Batcher[packRequest, packed]
	seed  maphash.Seed
}

func newPacker(store storage.Storage) *packer {
	p := &packer{store: store, seed: maphash.MakeSeed()}
	p.packs = batch.New(packMaxDeltas, packFlights, p.storeBatch)
	return p
}

// put stores d's body (nil for none) in the next pack and fills in d's ID
// and pack reference.
func (p *packer) put(ctx context.Context, catalog string, d *index.Delta, body []byte) error {
	var group uint16
	if packByCatalog {
		group = uint16(maphash.String(p.seed, catalog))
	}
	at, err := p.packs.Do(ctx, group, packRequest{catalog: catalog, delta: *d, body: body})
	if err != nil {
		return err
	}
	d.ID = pack.DeltaID(at.pack, at.part)
	d.Pack, d.Part = at.pack, at.part
	d.Offset, d.Length = at.extent.Offset, at.extent.Length
	return nil
}

// storeBatch stores a batch as one pack, or as several at once when its
// bodies pass packMaxBytes. A pack that fails fails exactly its own writes.
func (p *packer) storeBatch(ctx context.Context, calls []*batch.Call[packRequest, packed]) {
	ctx, cancel := context.WithTimeout(ctx, packTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for start := 0; start < len(calls); {
		end, size := start+1, len(calls[start].Req.body)
		for end < len(calls) && size+len(calls[end].Req.body) <= packMaxBytes {
			size += len(calls[end].Req.body)
			end++
		}
		if start == 0 && end == len(calls) { // the usual case: no goroutine
			p.storePack(ctx, calls)
			break
		}
		wg.Add(1)
		go func(calls []*batch.Call[packRequest, packed]) {
			defer wg.Done()
			p.storePack(ctx, calls)
		}(calls[start:end])
		start = end
	}
	wg.Wait()
}

func (p *packer) storePack(ctx context.Context, calls []*batch.Call[packRequest, packed]) {
	id := pack.NewID(time.Now())
	entries := make([]pack.Entry, len(calls))
	parts := make([][]byte, len(calls)+1)
	for i, c := range calls {
		d := c.Req.delta
		entries[i] = pack.Entry{Catalog: c.Req.catalog, Field: d.Field, Merge: d.Merge, Script: d.Script}
		parts[i+1] = c.Req.body
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
	for i, c := range calls {
		if err != nil {
			c.Err = storageError(err)
			continue
		}
		c.Res = packed{pack: id, part: i + 1, extent: extents[i+1]}
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
