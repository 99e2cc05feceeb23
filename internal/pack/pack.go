// Package pack names body packs and encodes the entry table each one
// carries. A pack is one immutable object holding the delta bodies of one
// commit batch, possibly of many catalogs (storage.PutParts frames them).
// Part 0 is the entry table: what the index says of each delta apart from
// its version (catalog, field, merge type, script), so that a pack can be
// checked on its own and the index rebuilt from the bucket. Entry i is the
// delta whose body is part i+1; a delete's part is empty.
package pack

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hkloudou/lake/v2/internal/jsontext"
)

// Prefix starts every pack key. A catalog name cannot start with '.', so
// no catalog's objects ever list under it.
const Prefix = ".packs/"

// IDLen is the length of a pack ID.
const IDLen = 20

// alphabet has the 64 digits of an ID in ASCII order, so that IDs sort as
// the numbers they encode: by creation time first.
const alphabet = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

// ErrCorrupt says an entry table or an ID is not what this package writes.
var ErrCorrupt = errors.New("pack: corrupt")

// NewID returns a fresh pack ID: 120 bits, the first 48 the time in
// milliseconds, the other 72 random, written as 20 digits of alphabet. IDs
// of one process made in one millisecond are unordered, which nothing needs.
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[1:9], uint64(now.UnixMilli())<<16)
	// b[1:7] holds the 48-bit time (its top 16 bits are zero until the year
	// 10889); b[7:16] the 72 random bits.
	if _, err := rand.Read(b[7:16]); err != nil {
		panic(fmt.Sprintf("pack: crypto/rand failed: %v", err)) // never on a supported OS
	}
	var id [IDLen]byte
	// 120 bits in b[1:16] are 20 digits of 6 bits.
	for i := range 5 {
		chunk := uint32(b[1+3*i])<<16 | uint32(b[2+3*i])<<8 | uint32(b[3+3*i])
		id[4*i] = alphabet[chunk>>18&63]
		id[4*i+1] = alphabet[chunk>>12&63]
		id[4*i+2] = alphabet[chunk>>6&63]
		id[4*i+3] = alphabet[chunk&63]
	}
	return string(id[:])
}

// ValidID reports whether id is a pack ID as NewID writes it.
func ValidID(id string) bool {
	if len(id) != IDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(alphabet, id[i]) < 0 {
			return false
		}
	}
	return true
}

// Time returns when a pack ID was made, to the millisecond.
func Time(id string) (time.Time, error) {
	if !ValidID(id) {
		return time.Time{}, fmt.Errorf("%w: %q is not a pack ID", ErrCorrupt, id)
	}
	var ms int64
	for i := range 8 { // 8 digits are the 48 time bits
		ms = ms<<6 | int64(strings.IndexByte(alphabet, id[i]))
	}
	return time.UnixMilli(ms), nil
}

// Key is the object key of pack id.
func Key(id string) string { return Prefix + id }

// DeltaID is the ID of the delta whose body is part `part` of pack id.
func DeltaID(id string, part int) string { return id + "." + strconv.Itoa(part) }

// Entry is what a pack records of one delta.
type Entry struct {
	Catalog string `json:"catalog"`
	Field   string `json:"field"`
	Merge   string `json:"merge"`
	Script  string `json:"script,omitempty"`
}

// Check reports whether a pack can record e: it names a catalog and a merge
// type, and every string is valid UTF-8.
func (e Entry) Check() error {
	if e.Catalog == "" || e.Merge == "" {
		return errors.New("names no catalog or merge type")
	}
	if !utf8.ValidString(e.Catalog) || !utf8.ValidString(e.Field) || !utf8.ValidString(e.Merge) || !utf8.ValidString(e.Script) {
		return errors.New("not valid UTF-8")
	}
	return nil
}

// table is part 0 of a pack.
type table struct {
	Format  int     `json:"format"`
	Pack    string  `json:"pack"`
	Entries []Entry `json:"entries"`
}

const tableFormat = 1

// EncodeEntries returns the entry table of pack id: the JSON text of a
// table, written by hand because it is made once per pack on the write
// path, where encoding/json's reflection cost a tenth of the CPU. Every
// string must be valid UTF-8 (JSON text cannot hold anything else exactly).
func EncodeEntries(id string, entries []Entry) ([]byte, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("pack: %q is not a pack ID", id)
	}
	size := 64
	for i, e := range entries {
		if err := e.Check(); err != nil {
			return nil, fmt.Errorf("pack: entry %d: %w", i, err)
		}
		size += 48 + len(e.Catalog) + len(e.Field) + len(e.Merge) + len(e.Script)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"format":`...)
	b = strconv.AppendInt(b, tableFormat, 10)
	b = append(b, `,"pack":"`...)
	b = append(b, id...) // the ID alphabet needs no escaping
	b = append(b, `","entries":[`...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"catalog":`...)
		b = jsontext.AppendString(b, e.Catalog)
		b = append(b, `,"field":`...)
		b = jsontext.AppendString(b, e.Field)
		b = append(b, `,"merge":`...)
		b = jsontext.AppendString(b, e.Merge)
		if e.Script != "" {
			b = append(b, `,"script":`...)
			b = jsontext.AppendString(b, e.Script)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// DecodeEntries reads an entry table: the pack's ID and its entries.
func DecodeEntries(data []byte) (string, []Entry, error) {
	var t table
	if err := json.Unmarshal(data, &t); err != nil {
		return "", nil, fmt.Errorf("%w: entry table: %v", ErrCorrupt, err)
	}
	if t.Format != tableFormat {
		return "", nil, fmt.Errorf("%w: entry table format %d, this version reads %d", ErrCorrupt, t.Format, tableFormat)
	}
	if !ValidID(t.Pack) {
		return "", nil, fmt.Errorf("%w: entry table names pack %q", ErrCorrupt, t.Pack)
	}
	for i, e := range t.Entries {
		if e.Catalog == "" || e.Merge == "" {
			return "", nil, fmt.Errorf("%w: entry %d names no catalog or merge type", ErrCorrupt, i)
		}
	}
	return t.Pack, t.Entries, nil
}
