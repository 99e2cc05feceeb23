package index

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Stored values of the file engine check themselves. bbolt keeps no checksum
// of the data it stores: a flipped byte inside a value reads back as another
// value without any error (a different field name, version or config). So
// every value the engine writes is sealed:
//
//	0xC1 | payload | CRC-32C (4 bytes, big-endian)
//
// The CRC (Castagnoli) covers, each preceded by its length as a uvarint, the
// value's scope (the bucket it lives in, see below), its key, and then the
// payload. A flip in the payload, in the CRC, or in the key (a log entry
// moved to another version) is then ErrCorrupt, and so is a value read under
// another catalog's bucket. The scopes are
//
//	namespace root values        "root"
//	scripts/, script_sources/    the bucket's name
//	gone/                        "gone"
//	a catalog's head, history    "=<catalog>"
//	its log/ and ids/ entries    "=<catalog>/log", "=<catalog>/ids"
//	its snaps/ and segs/ entries "=<catalog>/snaps", "=<catalog>/segs"
//
// 0xC1 is never the first byte of a value written before sealing (a format
// version "v1" of sorts): those were 8-byte big-endian versions below 2^53
// (first byte 0x00), members ("d1|", "d2|"), script hashes and sources, a
// snapshot object key and the JSON config, none of which starts with 0xC1
// (never valid in UTF-8). Such unsealed ("legacy") values are still read in a
// namespace created before sealing: see boltIndex.strict. A namespace
// created by this version holds the marker key "format" and nothing
// unsealed: an unsealed value there is ErrCorrupt.
const sealedFormat = 0xC1

// sealedFormatVersion is the payload of the namespace's "format" key.
const sealedFormatVersion = "sealed-1"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func sealSum(scope string, key, payload []byte) uint32 {
	var n [binary.MaxVarintLen64]byte
	sum := crc32.Update(0, castagnoli, n[:binary.PutUvarint(n[:], uint64(len(scope)))])
	sum = crc32.Update(sum, castagnoli, []byte(scope))
	sum = crc32.Update(sum, castagnoli, n[:binary.PutUvarint(n[:], uint64(len(key)))])
	sum = crc32.Update(sum, castagnoli, key)
	return crc32.Update(sum, castagnoli, payload)
}

// seal returns the stored form of payload under key in scope.
func seal(scope string, key, payload []byte) []byte {
	out := make([]byte, 0, len(payload)+5)
	out = append(out, sealedFormat)
	out = append(out, payload...)
	return binary.BigEndian.AppendUint32(out, sealSum(scope, key, payload))
}

// unseal returns the payload of a stored value, checked. An unsealed value
// is returned as it is with legacy set, unless strict; the caller checks its
// legacy shape. The payload aliases value (copy it before the transaction
// ends).
func unseal(scope string, key, value []byte, strict bool) (payload []byte, legacy bool, err error) {
	if len(value) == 0 || value[0] != sealedFormat {
		if strict {
			return nil, false, fmt.Errorf("%w: value of %q in %s is not sealed (format byte %s)", ErrCorrupt, key, scope, firstByte(value))
		}
		return value, true, nil
	}
	if len(value) < 5 {
		return nil, false, fmt.Errorf("%w: value of %q in %s is truncated (%d bytes)", ErrCorrupt, key, scope, len(value))
	}
	payload = value[1 : len(value)-4]
	if got, want := binary.BigEndian.Uint32(value[len(value)-4:]), sealSum(scope, key, payload); got != want {
		return nil, false, fmt.Errorf("%w: checksum mismatch in the value of %q in %s (stored %08x, computed %08x)", ErrCorrupt, key, scope, got, want)
	}
	return payload, false, nil
}

func firstByte(b []byte) string {
	if len(b) == 0 {
		return "none: empty value"
	}
	return fmt.Sprintf("%#02x", b[0])
}

// Scopes (see above).
const (
	scopeRoot          = "root"
	scopeScripts       = "scripts"
	scopeScriptSources = "script_sources"
	scopeGone          = "gone"
)

func scopeCatalog(catalog string) string { return "=" + catalog }
func scopeLog(catalog string) string     { return "=" + catalog + "/log" }
func scopeIDs(catalog string) string     { return "=" + catalog + "/ids" }
func scopeSnaps(catalog string) string   { return "=" + catalog + "/snaps" }
func scopeSegs(catalog string) string    { return "=" + catalog + "/segs" }

// boltHead is a catalog's head as the file engine stores it: one sealed
// value under the catalog bucket's key "head",
//
//	version | snap_version | epoch | removals | entries | snap_key
//
// five 8-byte big-endian integers and the snapshot's object key (the rest).
// entries is the number of entries in log/ (and in ids/), so that an entry
// that vanished from a page (a damaged element count) is caught by the
// check at Open. A catalog written before sealing has the unsealed keys
// "version", "snap_version" and "snap_key" instead (and no epoch, removal
// count or entry count); its first write replaces them with "head".
//
// Archived and Trimmed are not in this value but in the catalog's key
// "history" (encodeHistory): the head's variable tail, snap_key, leaves no
// room to extend it, and a catalog without history needs no key at all.
// Deleted is the namespace's gone/ entry for the catalog.
type boltHead struct {
	Head
	entries int64
	// snapshots and segments count the entries in snaps/ and segs/ (the
	// history key).
	snapshots, segments int64
	// legacy: read from the unsealed keys; entries is unknown (-1).
	legacy bool
}

const headFixed = 5 * 8

func encodeHead(h boltHead) []byte {
	out := make([]byte, 0, headFixed+len(h.Snapshot.Key))
	for _, v := range []int64{h.Version, h.Snapshot.Version, h.Epoch, h.Removals, h.entries} {
		out = binary.BigEndian.AppendUint64(out, uint64(v))
	}
	return append(out, h.Snapshot.Key...)
}

func decodeHead(catalog string, payload []byte) (boltHead, error) {
	var h boltHead
	if len(payload) < headFixed {
		return h, fmt.Errorf("%w: head of %q is %d bytes, want at least %d", ErrCorrupt, catalog, len(payload), headFixed)
	}
	for i, dst := range []*int64{&h.Version, &h.Snapshot.Version, &h.Epoch, &h.Removals, &h.entries} {
		v := binary.BigEndian.Uint64(payload[8*i:])
		if v > MaxVersion {
			return boltHead{}, fmt.Errorf("%w: head of %q: field %d is %d, beyond 2^53-1", ErrCorrupt, catalog, i, v)
		}
		*dst = int64(v)
	}
	h.Snapshot.Key = string(payload[headFixed:])
	switch {
	case h.Snapshot.Version > h.Version:
		return boltHead{}, fmt.Errorf("%w: head of %q: snapshot %d is ahead of version %d", ErrCorrupt, catalog, h.Snapshot.Version, h.Version)
	case h.Epoch > h.Version:
		return boltHead{}, fmt.Errorf("%w: head of %q: epoch %d is ahead of version %d", ErrCorrupt, catalog, h.Epoch, h.Version)
	case (h.Snapshot.Version == 0) != (h.Snapshot.Key == ""):
		return boltHead{}, fmt.Errorf("%w: head of %q: snapshot version %d with key %q", ErrCorrupt, catalog, h.Snapshot.Version, h.Snapshot.Key)
	}
	return h, nil
}

// encodeHistory is the payload of a catalog's key "history", written by
// the calls that change it (SaveSnapshot, AddSegment, Trim, Forget,
// Restore; absent, all four are 0):
//
//	archived | trimmed | snapshots | segments
//
// four 8-byte big-endian integers: Head.Archived, Head.Trimmed and the
// numbers of entries in snaps/ and segs/, so that the check at Open
// notices one that vanished (Forget leaves gaps, so the entries alone
// cannot tell).
func encodeHistory(h boltHead) []byte {
	out := make([]byte, 0, 32)
	for _, v := range []int64{h.Archived, h.Trimmed, h.snapshots, h.segments} {
		out = binary.BigEndian.AppendUint64(out, uint64(v))
	}
	return out
}

// decodeHistory fills h's history fields from the key's payload.
func decodeHistory(catalog string, payload []byte, h *boltHead) error {
	if len(payload) != 32 {
		return fmt.Errorf("%w: history of %q is %d bytes, want 32", ErrCorrupt, catalog, len(payload))
	}
	for i, dst := range []*int64{&h.Archived, &h.Trimmed, &h.snapshots, &h.segments} {
		v := binary.BigEndian.Uint64(payload[8*i:])
		if v > MaxVersion {
			return fmt.Errorf("%w: history of %q: field %d is %d, beyond 2^53-1", ErrCorrupt, catalog, i, v)
		}
		*dst = int64(v)
	}
	return nil
}

// checkHistory checks the History rules on a whole head: nothing is trimmed
// that is not archived or is above the snapshot, and nothing is archived
// beyond the log.
func checkHistory(catalog string, h boltHead) error {
	switch {
	case h.Trimmed > h.Archived:
		return fmt.Errorf("%w: head of %q: trimmed to %d, beyond the archive's %d", ErrCorrupt, catalog, h.Trimmed, h.Archived)
	case h.Trimmed > h.Snapshot.Version:
		return fmt.Errorf("%w: head of %q: trimmed to %d, beyond the snapshot's %d", ErrCorrupt, catalog, h.Trimmed, h.Snapshot.Version)
	case h.Archived > h.Version:
		return fmt.Errorf("%w: head of %q: archived to %d, beyond version %d", ErrCorrupt, catalog, h.Archived, h.Version)
	}
	return nil
}

// encodeSegment is the payload of a segs/ entry, whose key is the
// segment's last version:
//
//	after | key
//
// an 8-byte big-endian integer and the segment's object key (the rest).
func encodeSegment(s Segment) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(s.Key)), uint64(s.After)), s.Key...)
}

func decodeSegment(catalog string, last int64, payload []byte) (Segment, error) {
	if len(payload) <= 8 {
		return Segment{}, fmt.Errorf("%w: segment of %q ending at %d is %d bytes, want more than 8", ErrCorrupt, catalog, last, len(payload))
	}
	after := binary.BigEndian.Uint64(payload)
	if after >= uint64(last) {
		return Segment{}, fmt.Errorf("%w: segment of %q ending at %d starts after %d", ErrCorrupt, catalog, last, after)
	}
	return Segment{After: int64(after), Last: last, Key: string(payload[8:])}, nil
}

// boltCounts is the sealed value of the namespace's key "counts": how many
// catalogs, script names, script sources and deleted catalogs (gone/
// entries) it holds, so that the check at Open notices one that vanished.
// Four 8-byte big-endian integers, or three while no catalog was ever
// deleted: the form every namespace had before DeleteCatalog. Only a
// namespace created sealed has it.
type boltCounts struct {
	catalogs, scripts, sources, gone int64
}

func encodeCounts(c boltCounts) []byte {
	fields := []int64{c.catalogs, c.scripts, c.sources, c.gone}
	if c.gone == 0 {
		fields = fields[:3]
	}
	out := make([]byte, 0, 8*len(fields))
	for _, v := range fields {
		out = binary.BigEndian.AppendUint64(out, uint64(v))
	}
	return out
}

func decodeCounts(payload []byte) (boltCounts, error) {
	var c boltCounts
	fields := []*int64{&c.catalogs, &c.scripts, &c.sources, &c.gone}
	switch len(payload) {
	case 24:
		fields = fields[:3]
	case 32:
	default:
		return c, fmt.Errorf("%w: counts of %d bytes, want 24 or 32", ErrCorrupt, len(payload))
	}
	for i, dst := range fields {
		v := binary.BigEndian.Uint64(payload[8*i:])
		if v > 1<<62 {
			return boltCounts{}, fmt.Errorf("%w: count %d is %d", ErrCorrupt, i, v)
		}
		*dst = int64(v)
	}
	if len(payload) == 32 && c.gone == 0 {
		return boltCounts{}, fmt.Errorf("%w: counts of 32 bytes with no deleted catalog", ErrCorrupt)
	}
	return c, nil
}
