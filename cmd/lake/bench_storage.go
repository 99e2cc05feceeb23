package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hkloudou/lake/v2/storage"
)

// storeCounts is what a benchStorage counted: requests that reached the
// store below it, failed ones included, and the bytes they carried (bytes
// read only for requests that succeeded).
type storeCounts struct {
	Puts, PutBytes     int64
	Gets, GetBytes     int64 // whole-object GETs
	Ranges, RangeBytes int64 // ranged GETs
	Deletes            int64
}

// benchStorage is the bottom of the benchmark's storage stack: it counts
// the requests that reach the store that --storage opens (below Lake's own
// encryption, which Lake puts on top of Option.Storage as it does over the
// store its config names), and, when record is on, remembers the keys it
// stores so that the benchmark can delete its objects from the lake's
// configured storage at the end.
//
// It is a storage.Ranger, a storage.PartStore or a storage.Lister exactly
// when the store it wraps is one (see newBenchStorage), so that Lake reads
// and writes it as it would that store.
type benchStorage struct {
	inner storage.Storage

	mu   sync.Mutex
	keys map[string]struct{} // nil: not recording

	puts, putBytes     atomic.Int64
	gets, getBytes     atomic.Int64
	ranges, rangeBytes atomic.Int64
	deletes            atomic.Int64
}

// The capabilities a store may add to storage.Storage, each forwarded by a
// benchStorage over a store that has it; ranged reads and parts are counted.
type (
	benchRanges struct{ b *benchStorage }
	benchParts  struct{ b *benchStorage }
	benchLists  struct{ b *benchStorage }
)

var (
	_ storage.Storage   = (*benchStorage)(nil)
	_ storage.Ranger    = benchRanges{}
	_ storage.PartStore = benchParts{}
	_ storage.Lister    = benchLists{}
)

// newBenchStorage wraps inner; record makes it remember the keys it stores
// (for deleteAll). It returns the store to hand to Lake, which is a
// storage.Ranger, a storage.PartStore or a storage.Lister when inner is,
// and the counter behind it.
func newBenchStorage(inner storage.Storage, record bool) (storage.Storage, *benchStorage) {
	b := &benchStorage{inner: inner}
	if record {
		b.keys = map[string]struct{}{}
	}
	_, ranger := inner.(storage.Ranger)
	_, parts := inner.(storage.PartStore)
	_, lister := inner.(storage.Lister)
	r, p, l := benchRanges{b}, benchParts{b}, benchLists{b}
	switch {
	case ranger && parts && lister:
		return struct {
			*benchStorage
			benchRanges
			benchParts
			benchLists
		}{b, r, p, l}, b
	case ranger && parts:
		return struct {
			*benchStorage
			benchRanges
			benchParts
		}{b, r, p}, b
	case ranger && lister:
		return struct {
			*benchStorage
			benchRanges
			benchLists
		}{b, r, l}, b
	case parts && lister:
		return struct {
			*benchStorage
			benchParts
			benchLists
		}{b, p, l}, b
	case ranger:
		return struct {
			*benchStorage
			benchRanges
		}{b, r}, b
	case parts:
		return struct {
			*benchStorage
			benchParts
		}{b, p}, b
	case lister:
		return struct {
			*benchStorage
			benchLists
		}{b, l}, b
	}
	return b, b
}

// record remembers key for deleteAll, when recording.
func (b *benchStorage) record(key string) {
	if b.keys != nil {
		b.mu.Lock()
		b.keys[key] = struct{}{}
		b.mu.Unlock()
	}
}

func (b *benchStorage) Put(ctx context.Context, key string, data []byte) error {
	b.record(key)
	b.puts.Add(1)
	b.putBytes.Add(int64(len(data)))
	return b.inner.Put(ctx, key, data)
}

func (b *benchStorage) Get(ctx context.Context, key string) ([]byte, error) {
	b.gets.Add(1)
	data, err := b.inner.Get(ctx, key)
	b.getBytes.Add(int64(len(data)))
	return data, err
}

func (r benchRanges) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	r.b.ranges.Add(1)
	data, err := r.b.inner.(storage.Ranger).GetRange(ctx, key, offset, length)
	r.b.rangeBytes.Add(int64(len(data)))
	return data, err
}

// A PartStore's calls are counted as one request each (PutParts a PUT of
// the parts' bytes, GetParts and ReadParts a GET), whatever it does below:
// no store the benchmark opens is one, as Lake's encryption goes on top.

func (p benchParts) PutParts(ctx context.Context, key string, parts [][]byte) ([]storage.Extent, error) {
	p.b.record(key)
	p.b.puts.Add(1)
	for _, part := range parts {
		p.b.putBytes.Add(int64(len(part)))
	}
	return p.b.inner.(storage.PartStore).PutParts(ctx, key, parts)
}

func (p benchParts) GetParts(ctx context.Context, key string, extents []storage.Extent) ([]storage.Part, error) {
	p.b.gets.Add(1)
	got, err := p.b.inner.(storage.PartStore).GetParts(ctx, key, extents)
	p.b.countParts(got)
	return got, err
}

func (p benchParts) ReadParts(ctx context.Context, key string) ([]storage.Part, error) {
	p.b.gets.Add(1)
	got, err := p.b.inner.(storage.PartStore).ReadParts(ctx, key)
	p.b.countParts(got)
	return got, err
}

// List is forwarded uncounted: the benchmark never lists, and its report
// has no place for listings.
func (l benchLists) List(ctx context.Context, prefix, after string, limit int) ([]storage.Object, error) {
	return l.b.inner.(storage.Lister).List(ctx, prefix, after, limit)
}

// countParts adds the bytes of parts read to the bytes got.
func (b *benchStorage) countParts(parts []storage.Part) {
	for _, part := range parts {
		b.getBytes.Add(int64(len(part.Data)))
	}
}

func (b *benchStorage) Delete(ctx context.Context, key string) error {
	b.deletes.Add(1)
	err := b.inner.Delete(ctx, key)
	if err == nil && b.keys != nil {
		b.mu.Lock()
		delete(b.keys, key)
		b.mu.Unlock()
	}
	return err
}

func (b *benchStorage) String() string { return storage.Kind(b.inner) }

// Unwrap returns the wrapped store, so that storage.HolderOf still sees a
// memory store below (Lake marks bodies that only this process holds).
func (b *benchStorage) Unwrap() storage.Storage { return b.inner }

// reset zeroes the counters: the benchmark calls it when its clock starts,
// so that setup (preparing catalogs, the connection probe) is not counted.
func (b *benchStorage) reset() {
	for _, c := range []*atomic.Int64{&b.puts, &b.putBytes, &b.gets, &b.getBytes, &b.ranges, &b.rangeBytes, &b.deletes} {
		c.Store(0)
	}
}

// counts returns the counters now.
func (b *benchStorage) counts() storeCounts {
	return storeCounts{
		Puts: b.puts.Load(), PutBytes: b.putBytes.Load(),
		Gets: b.gets.Load(), GetBytes: b.getBytes.Load(),
		Ranges: b.ranges.Load(), RangeBytes: b.rangeBytes.Load(),
		Deletes: b.deletes.Load(),
	}
}

// deleteAll deletes every key stored and not yet deleted, 64 at a time,
// straight from the inner store (uncounted); it returns how many it could
// not delete and the first error.
func (b *benchStorage) deleteAll() (int, error) {
	b.mu.Lock()
	keys := make([]string, 0, len(b.keys))
	for k := range b.keys {
		keys = append(keys, k)
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var (
		failed   atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, 64)
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := b.inner.Delete(ctx, k); err != nil {
				failed.Add(1)
				once.Do(func() { firstErr = err })
				return
			}
			b.mu.Lock()
			delete(b.keys, k)
			b.mu.Unlock()
		})
	}
	wg.Wait()
	return int(failed.Load()), firstErr
}
