package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// The multi-part object format, version 1 (see the package comment). Pure
// functions over bytes: pack.go does the I/O. Changing any of these values
// changes the format: bump packVersion and keep reading the old one.
const (
	packMagic       = "LKPK"
	packVersion     = 1
	packHeaderSize  = len(packMagic) + 1
	frameHeaderSize = 12

	// maxPartSize bounds one part's data. It keeps the length within its
	// uint32, and an extent that claims more is taken as damaged, so a bad
	// index entry can never make a reader allocate gigabytes.
	maxPartSize = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameCRC is the checksum a frame carries: CRC-32C over its index bytes,
// then its data. Covering the index means a frame copied to another place
// in the object fails even when its data is intact.
func frameCRC(index []byte, data []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, index), castagnoli, data)
}

// encodeParts frames parts into one object, allocated once at its exact
// size, and returns it with one Extent per part, in order.
func encodeParts(parts [][]byte) ([]byte, []Extent, error) { return encodePartsInto(nil, parts) }

// encodePartsInto is encodeParts framing into dst's memory when it has the
// room (a pooled buffer), else into a new allocation.
func encodePartsInto(dst []byte, parts [][]byte) ([]byte, []Extent, error) {
	if len(parts) == 0 {
		return nil, nil, errors.New("no parts to store")
	}
	if uint64(len(parts)) > math.MaxUint32 {
		return nil, nil, fmt.Errorf("%d parts, more than an object can index", len(parts))
	}
	size := int64(packHeaderSize)
	for i, p := range parts {
		if len(p) > maxPartSize {
			return nil, nil, fmt.Errorf("part %d is %d bytes, more than the %d a part may hold", i, len(p), maxPartSize)
		}
		size += frameHeaderSize + int64(len(p))
	}
	if size > math.MaxInt { // only on 32-bit platforms
		return nil, nil, fmt.Errorf("%d bytes of parts do not fit in memory", size)
	}
	var obj []byte
	if int64(cap(dst)) >= size {
		obj = dst[:size]
	} else {
		obj = make([]byte, size)
	}
	copy(obj, packMagic)
	obj[len(packMagic)] = packVersion
	extents := make([]Extent, len(parts))
	off := packHeaderSize
	for i, p := range parts {
		h := obj[off : off+frameHeaderSize]
		binary.BigEndian.PutUint32(h[0:], uint32(len(p)))
		binary.BigEndian.PutUint32(h[4:], uint32(i))
		binary.BigEndian.PutUint32(h[8:], frameCRC(h[4:8], p))
		copy(obj[off+frameHeaderSize:], p)
		extents[i] = Extent{Index: i, Offset: int64(off), Length: int64(frameHeaderSize + len(p))}
		off += frameHeaderSize + len(p)
	}
	return obj, extents, nil
}

// corrupt is the error of one damaged part: it names the object, the part
// and where its frame starts.
func corrupt(key string, e Extent, format string, args ...any) error {
	return fmt.Errorf("%w: %s part %d at offset %d: %s", ErrCorrupt, key, e.Index, e.Offset, fmt.Sprintf(format, args...))
}

// checkExtent refuses an extent that no PutParts returns, before anything
// is read or allocated for it.
func checkExtent(key string, e Extent) error {
	switch {
	case e.Index < 0 || int64(e.Index) > math.MaxUint32:
		return corrupt(key, e, "invalid part index")
	case e.Offset < int64(packHeaderSize):
		return corrupt(key, e, "invalid offset")
	case e.Length < frameHeaderSize || e.Length > frameHeaderSize+maxPartSize:
		return corrupt(key, e, "invalid length %d", e.Length)
	case e.Offset > math.MaxInt64-e.Length:
		return corrupt(key, e, "offset and length overflow")
	}
	return nil
}

// checkFrame checks the bytes read for extent e (fewer than e.Length when
// the object ended sooner) and returns the part's data, capped so that an
// append cannot reach the bytes that follow it.
func checkFrame(key string, e Extent, frame []byte) ([]byte, error) {
	if err := checkExtent(key, e); err != nil {
		return nil, err
	}
	if int64(len(frame)) < e.Length {
		return nil, corrupt(key, e, "truncated (%d of %d bytes)", len(frame), e.Length)
	}
	frame = frame[:e.Length:e.Length]
	if n := binary.BigEndian.Uint32(frame[0:]); int64(n) != e.Length-frameHeaderSize {
		return nil, corrupt(key, e, "frame holds %d bytes, the extent %d", n, e.Length-frameHeaderSize)
	}
	if i := binary.BigEndian.Uint32(frame[4:]); int64(i) != int64(e.Index) {
		return nil, corrupt(key, e, "frame is part %d", i)
	}
	data := frame[frameHeaderSize:]
	if binary.BigEndian.Uint32(frame[8:]) != frameCRC(frame[4:8], data) {
		return nil, corrupt(key, e, "checksum mismatch")
	}
	return data, nil
}

// decodeObject walks every frame of obj. A frame whose data fails its
// checksum becomes a Part with an error and the walk goes on; a header that
// is cut short or cannot be right (a length past the object or over the
// limit, an index out of sequence) ends the walk with a final Part carrying
// the error, since nothing after it can be located. An object without the
// magic and version is an error of its own.
func decodeObject(key string, obj []byte) ([]Part, error) {
	if len(obj) < packHeaderSize || string(obj[:len(packMagic)]) != packMagic {
		return nil, fmt.Errorf("%w: %s: not a multi-part object", ErrCorrupt, key)
	}
	if v := obj[len(packMagic)]; v != packVersion {
		return nil, fmt.Errorf("%w: %s: unknown multi-part format version %d (this build reads version %d)",
			ErrCorrupt, key, v, packVersion)
	}
	var parts []Part
	stop := func(err error) ([]Part, error) { return append(parts, Part{Err: err}), nil }
	off := int64(packHeaderSize)
	for i := 0; ; i++ {
		// Every pack holds at least one part, so an empty one was cut short.
		if off == int64(len(obj)) && i > 0 {
			return parts, nil
		}
		e := Extent{Index: i, Offset: off}
		rest := obj[off:]
		if len(rest) < frameHeaderSize {
			return stop(corrupt(key, e, "truncated frame header (%d of %d bytes)", len(rest), frameHeaderSize))
		}
		n := binary.BigEndian.Uint32(rest[0:])
		if n > maxPartSize {
			return stop(corrupt(key, e, "damaged frame header: length %d", n))
		}
		if idx := binary.BigEndian.Uint32(rest[4:]); int64(idx) != int64(i) {
			return stop(corrupt(key, e, "damaged frame header: part %d where part %d belongs", idx, i))
		}
		e.Length = frameHeaderSize + int64(n)
		if int64(len(rest)) < e.Length {
			return stop(corrupt(key, e, "truncated (%d of %d bytes)", len(rest), e.Length))
		}
		data, err := checkFrame(key, e, rest)
		parts = append(parts, Part{Data: data, Err: err, Extent: e})
		off += e.Length
	}
}
