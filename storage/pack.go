package storage

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Extent locates one part inside a multi-part object.
type Extent struct {
	Index  int   // the part's place in the object, from 0
	Offset int64 // where the part's frame starts in the stored object
	Length int64 // the frame's length in bytes, its header included
}

// Part is one part read back: its bytes, or why this part alone could not
// be read. ReadParts also says where it lies in the object (Extent), as
// PutParts did when it stored it; GetParts leaves Extent zero (the caller
// gave it).
type Part struct {
	Data   []byte
	Err    error
	Extent Extent
}

// Ranger is implemented by a store that can read a byte range of an object
// (Memory, Local, S3). GetRange returns at most length bytes from offset;
// fewer when the object ends sooner (none when offset is at or past its end);
// an error wrapping ErrNotFound when there is no such object. A length of 0
// returns no bytes without reading, so it does not look for the object; a
// negative offset or length is an error.
type Ranger interface {
	GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error)
}

// PartStore is implemented by a decorator that changes bytes on their way
// (Encrypted): it stores and reads the parts itself, each transformed on its own.
type PartStore interface {
	PutParts(ctx context.Context, key string, parts [][]byte) ([]Extent, error)
	GetParts(ctx context.Context, key string, extents []Extent) ([]Part, error)
	ReadParts(ctx context.Context, key string) ([]Part, error)
}

const (
	// rangeGap is the largest gap between two wanted frames that one read
	// still spans: reading up to 256 KiB too much costs less than a second
	// request's round trip.
	rangeGap = 256 << 10
	// rangeReaders bounds the ranged reads one GetParts runs at once.
	rangeReaders = 4
)

// PutParts stores parts as one multi-part object under key and returns one
// Extent per part, in order. A PartStore stores them itself; any other
// Storage gets them framed (see the package comment) into one object,
// allocated once at its exact size, with a single Put. Empty parts are
// allowed; no parts at all, or a part over 1 GiB, is an error.
func PutParts(ctx context.Context, s Storage, key string, parts [][]byte) ([]Extent, error) {
	if ps, ok := s.(PartStore); ok {
		return ps.PutParts(ctx, key, parts)
	}
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	buf := objectBuffers.Get().(*[]byte)
	obj, extents, err := encodePartsInto(*buf, parts)
	if err != nil {
		objectBuffers.Put(buf)
		return nil, fmt.Errorf("storage: put parts %s: %w", key, err)
	}
	if err := s.Put(ctx, key, obj); err != nil {
		// Not reused: a request cut off by its context may still be
		// reading its body in the HTTP transport after Put returns.
		return nil, err
	}
	// Put kept nothing of obj (see Storage), so its memory frames the next
	// object: framing into warm memory costs far less than into a new
	// allocation per object.
	if cap(obj) <= maxPooledObject {
		*buf = obj[:0]
		objectBuffers.Put(buf)
	}
	return extents, nil
}

// objectBuffers holds the buffers PutParts frames objects into; objects
// larger than maxPooledObject are framed into memory of their own.
var objectBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledObject = 8 << 20

// GetParts reads the parts at extents of the object under key and returns
// them in the order of extents. A part that fails its checks (cut short, a
// header that does not match its extent, a checksum mismatch, an extent no
// PutParts returns) has an Err wrapping ErrCorrupt that names the key, the
// index and the offset, and the other parts are still returned. The error
// is for the object as a whole: ErrNotFound, ErrUnavailable, ErrInvalidKey,
// the context's.
//
// A PartStore reads the parts itself. Otherwise the wanted frames are sorted
// by offset and grouped into runs whose gaps are under 256 KiB, and a Ranger
// reads each run with one GetRange of the span from its first frame's start
// to its last frame's end, up to 4 runs at once. A ranged read of the
// covering span rather than a Get of the whole object: it is one request
// either way, and it never moves more bytes than the object holds, while a
// pack of many bodies can be far larger than the few a read wants. A run is
// split only where the bytes between two frames would cost more than a
// second request. A store that is not a Ranger is read with one Get of the
// whole object.
//
// The parts may share one backing array; each Data's capacity ends with it,
// so an append never reaches another part's bytes.
func GetParts(ctx context.Context, s Storage, key string, extents []Extent) ([]Part, error) {
	if ps, ok := s.(PartStore); ok {
		return ps.GetParts(ctx, key, extents)
	}
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	parts := make([]Part, len(extents))
	order := make([]int, 0, len(extents)) // the valid extents, by offset
	for i, e := range extents {
		if err := checkExtent(key, e); err != nil {
			parts[i].Err = err
			continue
		}
		order = append(order, i)
	}
	if len(order) == 0 {
		return parts, nil
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(extents[a].Offset, extents[b].Offset) })
	// cut checks every frame of order[lo:hi] in buf, which holds the object's
	// bytes from base on.
	cut := func(lo, hi int, buf []byte, base int64) {
		for _, i := range order[lo:hi] {
			e := extents[i]
			var frame []byte
			if start := e.Offset - base; start < int64(len(buf)) {
				frame = buf[start:min(start+e.Length, int64(len(buf)))]
			}
			parts[i].Data, parts[i].Err = checkFrame(key, e, frame)
		}
	}

	r, ok := s.(Ranger)
	if !ok {
		obj, err := s.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		cut(0, len(order), obj, 0)
		return parts, nil
	}
	type run struct {
		lo, hi     int // order[lo:hi]
		start, end int64
	}
	var runs []run
	for k, i := range order {
		e := extents[i]
		if n := len(runs); n > 0 && e.Offset-runs[n-1].end < rangeGap {
			runs[n-1].hi = k + 1
			runs[n-1].end = max(runs[n-1].end, e.Offset+e.Length) // extents may overlap
			continue
		}
		runs = append(runs, run{lo: k, hi: k + 1, start: e.Offset, end: e.Offset + e.Length})
	}
	read := func(ctx context.Context, rn run) error {
		buf, err := r.GetRange(ctx, key, rn.start, rn.end-rn.start)
		if err != nil {
			return err
		}
		cut(rn.lo, rn.hi, buf, rn.start)
		return nil
	}
	if len(runs) == 1 { // the usual case: no goroutine
		if err := read(ctx, runs[0]); err != nil {
			return nil, err
		}
		return parts, nil
	}
	// Each run writes only its own parts, so they need no lock.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rangeReaders)
	for _, rn := range runs {
		g.Go(func() error { return read(gctx, rn) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return parts, nil
}

// ReadParts reads every part of the object under key, in index order, to
// check or recover it. A PartStore reads them itself; otherwise the object
// is read with one Get and its frames are walked. A part whose checksum
// fails has an Err and the walk goes on; a frame header that is cut short or
// damaged ends the walk, with the parts read so far and a final Part whose
// Err wraps ErrCorrupt. An object that is not a multi-part object at all
// (no magic, an unknown version) is an error wrapping ErrCorrupt.
func ReadParts(ctx context.Context, s Storage, key string) ([]Part, error) {
	if ps, ok := s.(PartStore); ok {
		return ps.ReadParts(ctx, key)
	}
	obj, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return decodeObject(key, obj)
}

// checkRange refuses a range no GetRange can serve.
func checkRange(key string, offset, length int64) error {
	if offset < 0 || length < 0 || offset > math.MaxInt64-length {
		return fmt.Errorf("storage: get %s: invalid range (offset %d, length %d)", key, offset, length)
	}
	return nil
}

// beginRange makes the checks every GetRange makes before it reads: the
// key, the range and ctx. skip is true when there is nothing to read.
func beginRange(ctx context.Context, key string, offset, length int64) (skip bool, err error) {
	if err := CheckKey(key); err != nil {
		return false, err
	}
	if err := checkRange(key, offset, length); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return length == 0, nil
}
