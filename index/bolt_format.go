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
//	a catalog's head             "=<catalog>"
//	its log/ and ids/ entries    "=<catalog>/log", "=<catalog>/ids"
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
)

func scopeCatalog(catalog string) string { return "=" + catalog }
func scopeLog(catalog string) string     { return "=" + catalog + "/log" }
func scopeIDs(catalog string) string     { return "=" + catalog + "/ids" }

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
type boltHead struct {
	Head
	entries int64
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

// boltCounts is the sealed value of the namespace's key "counts": how many
// catalogs, script names and script sources it holds, so that the check at
// Open notices one that vanished. Three 8-byte big-endian integers. Only a
// namespace created sealed has it.
type boltCounts struct {
	catalogs, scripts, sources int64
}

func encodeCounts(c boltCounts) []byte {
	out := make([]byte, 0, 24)
	for _, v := range []int64{c.catalogs, c.scripts, c.sources} {
		out = binary.BigEndian.AppendUint64(out, uint64(v))
	}
	return out
}

func decodeCounts(payload []byte) (boltCounts, error) {
	var c boltCounts
	if len(payload) != 24 {
		return c, fmt.Errorf("%w: counts of %d bytes, want 24", ErrCorrupt, len(payload))
	}
	for i, dst := range []*int64{&c.catalogs, &c.scripts, &c.sources} {
		v := binary.BigEndian.Uint64(payload[8*i:])
		if v > 1<<62 {
			return boltCounts{}, fmt.Errorf("%w: count %d is %d", ErrCorrupt, i, v)
		}
		*dst = int64(v)
	}
	return c, nil
}
