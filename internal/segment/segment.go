// Package segment names and encodes log segments. A segment is one
// immutable object that archives a contiguous range of one catalog's delta
// log, the entries with After < Version <= Last, each with its body
// embedded, so that a catalog's history can be read and its index rebuilt
// without the body packs the deltas were first written to.
//
// A segment's key is Key(catalog, after, last): the catalog's name, Dir,
// then the range as two 16-digit numbers, so that a catalog's segments list
// in version order. Its bytes are one JSON object, on one line (wrapped
// here):
//
//	{"format":1,"catalog":"users","after":0,"last":17,"entries":[
//	{"version":12,"id":"…","field":"profile.name","merge":"set","body":{"first":"Ada"}},…]}
//
// "script" and "holder" appear only when not empty, and "body" only when
// the delta has one: a delete has none, and neither has a delta whose body
// lived in one process's memory (its holder). A body is the delta's JSON
// text exactly as it was written, whitespace and all.
//
// Decode reads what Encode writes and nothing else: a segment has one
// spelling, so its bytes are a function of its content, and two copies of
// one range are equal objects or one of them is wrong.
//
// key.go names segments; segment.go has the types, their rules (Check) and
// the encoding.
package segment

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hkloudou/lake/v2/internal/jsontext"
)

// maxVersion is the largest version (index.MaxVersion): a JSON number is a
// float64 to most readers, exact only below 2^53.
const maxVersion = 1<<53 - 1

// maxCatalogLen is the longest catalog name, in bytes (lake.MaxCatalogLen).
const maxCatalogLen = 128

// format is the version of the encoding, the first member of a segment.
const format = 1

var (
	// ErrCorrupt says a segment or a key is not what this package writes.
	ErrCorrupt = errors.New("segment: corrupt")
	// ErrInvalid says a Segment breaks a rule of Check, so Encode refuses it.
	ErrInvalid = errors.New("segment: invalid")
)

// Entry is one delta of a catalog's log, as a segment archives it.
type Entry struct {
	Version int64  // above the segment's After and the previous entry's version, at most its Last
	ID      string // the delta's ID, not empty
	Field   string // the field path as written; empty is the whole document
	Merge   string // the merge type's name, not empty
	Script  string // the merge script's hash, if any
	Holder  string // the process whose memory held the body, if any; then Body is nil
	Body    []byte // the delta's value as JSON text, exactly as written; nil for a delete or a held body
}

// Segment is a catalog's log entries with After < Version <= Last. Last need
// not be an entry's version: a range may end past its last entry, and may
// hold no entry at all.
type Segment struct {
	Catalog string
	After   int64
	Last    int64
	Entries []Entry
}

// checkCatalog applies the rule of lake.ValidateCatalog, which this package
// cannot import (lake sits above it): 1 to 128 bytes of [A-Za-z0-9_.:@=-],
// the first a letter, a digit or '_'.
func checkCatalog(name string) error {
	if name == "" || len(name) > maxCatalogLen {
		return fmt.Errorf("catalog name of %d bytes, want 1 to %d", len(name), maxCatalogLen)
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case i > 0 && (c == '.' || c == ':' || c == '@' || c == '=' || c == '-'):
		default:
			return fmt.Errorf("catalog name %q has %q at byte %d", name, c, i)
		}
	}
	return nil
}

// checkRange reports whether (after, last] is a range a segment can hold.
func checkRange(after, last int64) error {
	switch {
	case after < 0:
		return fmt.Errorf("after %d is negative", after)
	case last <= after:
		return fmt.Errorf("last %d is not above after %d", last, after)
	case last > maxVersion:
		return fmt.Errorf("last %d is beyond 2^53-1", last)
	}
	return nil
}

// Check reports, as an error wrapping ErrInvalid, the first rule s breaks:
// a valid catalog name; 0 <= After < Last <= 2^53-1; entry versions in
// (After, Last] and strictly increasing; an ID and a merge type in every
// entry; every string valid UTF-8; every body JSON text Lake stores
// (jsontext.Check); no body in an entry with a holder.
func (s Segment) Check() error {
	if err := s.check(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// check is Check without the sentinel, which Decode replaces with its own.
func (s Segment) check() error {
	if err := checkCatalog(s.Catalog); err != nil {
		return err
	}
	if err := checkRange(s.After, s.Last); err != nil {
		return err
	}
	for i, e := range s.Entries {
		var err error
		switch {
		case i == 0 && e.Version <= s.After:
			err = fmt.Errorf("version is not above after %d", s.After)
		case i > 0 && e.Version <= s.Entries[i-1].Version:
			err = fmt.Errorf("version is not above entry %d's, %d", i-1, s.Entries[i-1].Version)
		case e.Version > s.Last:
			err = fmt.Errorf("version is above last %d", s.Last)
		default:
			err = e.check()
		}
		if err != nil {
			return fmt.Errorf("entry %d (version %d): %v", i, e.Version, err)
		}
	}
	return nil
}

// check applies the rules of one entry that do not involve its version.
func (e Entry) check() error {
	switch {
	case e.ID == "":
		return errors.New("no ID")
	case e.Merge == "":
		return errors.New("no merge type")
	case !utf8.ValidString(e.ID) || !utf8.ValidString(e.Field) || !utf8.ValidString(e.Merge) ||
		!utf8.ValidString(e.Script) || !utf8.ValidString(e.Holder):
		// JSON text cannot hold anything else exactly.
		return errors.New("a string is not valid UTF-8")
	case e.Holder != "" && e.Body != nil:
		return fmt.Errorf("held by %q and has a body", e.Holder)
	case e.Body != nil && !jsontext.Check(e.Body):
		return errors.New("body is not JSON text Lake stores")
	}
	return nil
}

// The members of a segment, in the order Encode writes them and Decode
// reads them.
const (
	memberFormat  = `{"format":`
	memberCatalog = `,"catalog":`
	memberAfter   = `,"after":`
	memberLast    = `,"last":`
	memberEntries = `,"entries":[`
	memberVersion = `{"version":`
	memberID      = `,"id":`
	memberField   = `,"field":`
	memberMerge   = `,"merge":`
	memberScript  = `,"script":`
	memberHolder  = `,"holder":`
	memberBody    = `,"body":`
	end           = `]}`

	shortestEntry = memberVersion + `1` + memberID + `"a"` + memberField + `""` + memberMerge + `"a"}`
)

// Encode returns the bytes of s, or an error wrapping ErrInvalid if Check
// refuses it. It writes by hand, into one array of the exact size: a
// segment holds thousands of bodies, which encoding/json would re-encode
// rather than copy.
func Encode(s Segment) ([]byte, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, s.size())
	b = append(b, memberFormat...)
	b = strconv.AppendInt(b, format, 10)
	b = append(b, memberCatalog...)
	b = jsontext.AppendString(b, s.Catalog)
	b = append(b, memberAfter...)
	b = strconv.AppendInt(b, s.After, 10)
	b = append(b, memberLast...)
	b = strconv.AppendInt(b, s.Last, 10)
	b = append(b, memberEntries...)
	for i, e := range s.Entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, memberVersion...)
		b = strconv.AppendInt(b, e.Version, 10)
		b = append(b, memberID...)
		b = jsontext.AppendString(b, e.ID)
		b = append(b, memberField...)
		b = jsontext.AppendString(b, e.Field)
		b = append(b, memberMerge...)
		b = jsontext.AppendString(b, e.Merge)
		if e.Script != "" {
			b = append(b, memberScript...)
			b = jsontext.AppendString(b, e.Script)
		}
		if e.Holder != "" {
			b = append(b, memberHolder...)
			b = jsontext.AppendString(b, e.Holder)
		}
		if e.Body != nil {
			b = append(b, memberBody...)
			b = append(b, e.Body...)
		}
		b = append(b, '}')
	}
	return append(b, end...), nil
}

// size is the length of Encode's output for s, which Check accepts.
func (s Segment) size() int {
	n := len(memberFormat+memberCatalog+memberAfter+memberLast+memberEntries+end) +
		decimalLen(format) + quotedLen(s.Catalog) + decimalLen(s.After) + decimalLen(s.Last)
	for i, e := range s.Entries {
		if i > 0 {
			n++ // the comma between entries
		}
		n += len(memberVersion+memberID+memberField+memberMerge+"}") +
			decimalLen(e.Version) + quotedLen(e.ID) + quotedLen(e.Field) + quotedLen(e.Merge)
		if e.Script != "" {
			n += len(memberScript) + quotedLen(e.Script)
		}
		if e.Holder != "" {
			n += len(memberHolder) + quotedLen(e.Holder)
		}
		if e.Body != nil {
			n += len(memberBody) + len(e.Body)
		}
	}
	return n
}

// decimalLen is the number of digits of v, which is not negative.
func decimalLen(v int64) int {
	n := 1
	for ; v >= 10; v /= 10 {
		n++
	}
	return n
}

// quotedLen is the length of appendString's output for s.
func quotedLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			n++
		case c < 0x20:
			n += len(`\u00xx`) - 1
		}
	}
	return n
}

// Decode reads a segment Encode wrote. Anything else, including the same
// segment spelled another way (whitespace between members, members in
// another order, another escape) or a segment Check refuses, is an error
// wrapping ErrCorrupt. Bodies are byte-identical to the ones Encode was
// given, and do not share data.
func Decode(data []byte) (Segment, error) {
	d := decoder{data: data}
	s := d.segment()
	if d.err == nil && d.pos != len(data) {
		d.fail("%d bytes after the segment", len(data)-d.pos)
	}
	err := d.err
	if err == nil {
		err = s.check()
	}
	if err != nil {
		return Segment{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	copyBodies(s.Entries)
	return s, nil
}

// copyBodies moves the bodies, which point into Decode's input, to one new
// array: a decoded segment neither pins nor shares its caller's buffer, at
// the cost of one allocation rather than one a body.
func copyBodies(entries []Entry) {
	n := 0
	for _, e := range entries {
		n += len(e.Body)
	}
	bodies := make([]byte, 0, n)
	for i := range entries {
		if body := entries[i].Body; body != nil {
			start := len(bodies)
			bodies = append(bodies, body...)
			// The capacity ends with the body, so that an append to one
			// body cannot write over the next.
			entries[i].Body = bodies[start:len(bodies):len(bodies)]
		}
	}
}

// decoder reads a segment from data, from pos on. The first thing it finds
// wrong is err; after that every method does nothing and returns zeros.
type decoder struct {
	data []byte
	pos  int
	err  error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("at byte %d: %s", d.pos, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) segment() Segment {
	var s Segment
	d.expect(memberFormat)
	if f := d.integer(); d.err == nil && f != format {
		d.fail("format %d, this version reads %d", f, format)
	}
	d.expect(memberCatalog)
	s.Catalog = d.str("")
	d.expect(memberAfter)
	s.After = d.integer()
	d.expect(memberLast)
	s.Last = d.integer()
	d.expect(memberEntries)
	// Every entry starts with memberVersion and is at least shortestEntry
	// bytes long, so either count bounds theirs (a body may hold the text
	// too): sizing the slice once saves growing it a dozen times.
	n := min(bytes.Count(d.data[d.pos:], []byte(memberVersion)), (len(d.data)-d.pos)/len(shortestEntry))
	if d.err == nil && n > 0 {
		s.Entries = make([]Entry, 0, n)
	}
	var prev Entry
	for d.err == nil && !d.literal(end) {
		if len(s.Entries) > 0 {
			d.expect(",")
		}
		prev = d.entry(prev)
		s.Entries = append(s.Entries, prev)
	}
	return s
}

// entry reads one entry. Where a string equals the one in prev, the
// previous entry, it takes prev's: merge types, scripts and fields repeat
// from entry to entry, and reusing them saves an allocation for each.
func (d *decoder) entry(prev Entry) Entry {
	var e Entry
	d.expect(memberVersion)
	e.Version = d.integer()
	d.expect(memberID)
	e.ID = d.str("")
	d.expect(memberField)
	e.Field = d.str(prev.Field)
	d.expect(memberMerge)
	e.Merge = d.str(prev.Merge)
	if d.literal(memberScript) {
		if e.Script = d.str(prev.Script); e.Script == "" {
			d.fail(`"script" is empty; Encode leaves it out`)
		}
	}
	if d.literal(memberHolder) {
		if e.Holder = d.str(prev.Holder); e.Holder == "" {
			d.fail(`"holder" is empty; Encode leaves it out`)
		}
	}
	if d.literal(memberBody) {
		e.Body = d.body()
	}
	d.expect("}")
	return e
}

// literal reads lit if data has it at pos.
func (d *decoder) literal(lit string) bool {
	if d.err != nil || !bytes.HasPrefix(d.data[d.pos:], []byte(lit)) {
		return false
	}
	d.pos += len(lit)
	return true
}

func (d *decoder) expect(lit string) {
	if !d.literal(lit) {
		d.fail("want %s", lit)
	}
}

// integer reads a number as strconv.AppendInt writes one that is not
// negative: no sign, fraction, exponent or leading zero. It stops at 17
// digits, for no version has more than 16.
func (d *decoder) integer() int64 {
	if d.err != nil {
		return 0
	}
	start := d.pos
	for d.pos < len(d.data) && d.pos-start <= keyDigits && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
		d.pos++
	}
	digits := d.data[start:d.pos]
	switch {
	case len(digits) == 0:
		d.fail("want a number of decimal digits")
	case len(digits) > keyDigits:
		d.fail("a number of more than %d digits", keyDigits)
	case len(digits) > 1 && digits[0] == '0':
		d.fail("a number with a leading zero")
	case d.pos < len(d.data) && (d.data[d.pos] == '.' || d.data[d.pos] == 'e' || d.data[d.pos] == 'E'):
		d.fail("a number that is not an integer")
	}
	v, _ := parseDigits(digits)
	return v
}

// str reads a string as appendString writes it, returning prev if equal.
func (d *decoder) str(prev string) string {
	if !d.literal(`"`) {
		d.fail("want a string")
		return ""
	}
	start, escaped := d.pos, false
	for d.err == nil && d.pos < len(d.data) {
		switch c := d.data[d.pos]; {
		case c == '"':
			raw := d.data[start:d.pos]
			d.pos++
			switch {
			case escaped:
				return unescape(raw)
			case string(raw) == prev: // no allocation for the comparison
				return prev
			}
			return string(raw)
		case c == '\\':
			escaped = true
			d.escape()
		case c < 0x20:
			d.fail("control character %#x in a string", c)
		default:
			d.pos++
		}
	}
	d.fail("a string does not end")
	return ""
}

// escape reads one of appendString's escapes: \" \\ or \u00xx for a
// control character, in lower case.
func (d *decoder) escape() {
	rest := d.data[d.pos:]
	switch {
	case len(rest) >= 2 && (rest[1] == '"' || rest[1] == '\\'):
		d.pos += 2
	case len(rest) >= 6 && rest[1] == 'u' && rest[2] == '0' && rest[3] == '0' &&
		(rest[4] == '0' || rest[4] == '1') && strings.IndexByte("0123456789abcdef", rest[5]) >= 0:
		d.pos += 6
	default:
		d.fail("an escape appendString does not write")
	}
}

// unescape returns the string whose JSON spelling is raw, which escape has
// read.
func unescape(raw []byte) string {
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		switch {
		case raw[i] != '\\':
			b = append(b, raw[i])
		case raw[i+1] == 'u':
			b = append(b, (raw[i+4]-'0')<<4|unhex(raw[i+5]))
			i += 5
		default:
			b = append(b, raw[i+1])
			i++
		}
	}
	return string(b)
}

func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

// body returns the body that starts at pos, which ends where its entry
// does: at the first '}' outside strings and the body's own brackets.
// That is where a valid body ends (whitespace after it included, which
// Encode copied too); Check refuses what is not valid JSON text.
func (d *decoder) body() []byte {
	if d.err != nil {
		return nil
	}
	depth := 0
	for i := d.pos; i < len(d.data); i++ {
		switch d.data[i] {
		case '"':
			for i++; i < len(d.data) && d.data[i] != '"'; i++ {
				if d.data[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']', ',':
			if depth == 0 {
				body := d.data[d.pos:i:i]
				d.pos = i
				return body
			}
			if d.data[i] != ',' {
				depth--
			}
		}
	}
	d.fail("a body does not end")
	return nil
}
