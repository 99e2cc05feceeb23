package index

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// A delta's log entry (the sorted-set member) has one of three forms:
//
//	d1|<id>|<merge>|<body key>|<script>|<field>
//	d2|<id>|<merge>|<body key>|<script>|<holder>|<field>
//	d3|<pack>.<part>|<merge>|<script>|<holder>|<offset>|<length>|<field>
//
// The first two letters version the encoding. Every part but the field is
// query-escaped, so it never contains '|'; the field comes last and is taken
// verbatim up to the end, so any field name (with ':', '|', '.', unicode)
// round-trips. The ID makes every member unique: a sorted set would
// otherwise move an equal member (two deletes of one field) to the new score
// and rewrite history.
//
// d1 is a delta whose body is an object of its own; d2 the same with a body
// held in one process's memory (Delta.Holder). Both stay readable forever:
// old lakes hold them. d3 is a delta whose body is a part of a pack: its ID
// is always <pack>.<part> (Delta), so it is stored once, and there is no body
// key, which in d1 repeats the catalog and the ID; the holder may be empty.
// Offset and length are canonical decimals (no sign, no leading zero), so
// one delta has exactly one d3 member and a retried commit finds it.
const (
	memberPrefix       = "d1|"
	heldMemberPrefix   = "d2|"
	packedMemberPrefix = "d3|"
	memberFields       = 5 // after the prefix: id, merge, body key, script, field
	heldMemberFields   = 6 // the same with the holder before the field
	packedMemberFields = 7 // id, merge, script, holder, offset, length, field
)

// encodeMember returns d's log entry, or ErrInvalidDelta for a delta that no
// entry can hold as it is: one without an ID, a packed one whose fields
// disagree (see Delta) or are out of range, or an unpacked one with a part,
// offset or length (which its entry would drop).
func encodeMember(d Delta) (string, error) {
	if err := checkDelta(d); err != nil {
		return "", err
	}
	if d.Pack != "" {
		return encodePackedMember(d), nil
	}
	var b strings.Builder
	b.Grow(len(heldMemberPrefix) + len(d.ID) + len(d.Merge) + len(d.BodyKey) + len(d.Script) + len(d.Holder) + len(d.Field) + 5)
	if d.Holder != "" {
		b.WriteString(heldMemberPrefix)
	} else {
		b.WriteString(memberPrefix)
	}
	b.WriteString(url.QueryEscape(d.ID))
	b.WriteByte('|')
	b.WriteString(url.QueryEscape(d.Merge))
	b.WriteByte('|')
	b.WriteString(url.QueryEscape(d.BodyKey))
	b.WriteByte('|')
	b.WriteString(url.QueryEscape(d.Script))
	b.WriteByte('|')
	if d.Holder != "" {
		b.WriteString(url.QueryEscape(d.Holder))
		b.WriteByte('|')
	}
	b.WriteString(d.Field)
	return b.String(), nil
}

func encodePackedMember(d Delta) string {
	var num [20]byte // an int64 in decimal
	var b strings.Builder
	// The three numbers take at most 10, 19 and 19 digits.
	b.Grow(len(packedMemberPrefix) + len(d.Pack) + len(d.Merge) + len(d.Script) + len(d.Holder) + len(d.Field) + 6 + 10 + 19 + 19)
	b.WriteString(packedMemberPrefix)
	b.WriteString(url.QueryEscape(d.Pack))
	b.WriteByte('.')
	b.Write(strconv.AppendInt(num[:0], int64(d.Part), 10))
	b.WriteByte('|')
	b.WriteString(url.QueryEscape(d.Merge))
	b.WriteByte('|')
	b.WriteString(url.QueryEscape(d.Script))
	b.WriteByte('|')
	b.WriteString(url.QueryEscape(d.Holder))
	b.WriteByte('|')
	b.Write(strconv.AppendInt(num[:0], d.Offset, 10))
	b.WriteByte('|')
	b.Write(strconv.AppendInt(num[:0], d.Length, 10))
	b.WriteByte('|')
	b.WriteString(d.Field)
	return b.String()
}

// checkDelta refuses what encodeMember cannot encode faithfully.
func checkDelta(d Delta) error {
	switch {
	case d.ID == "" && d.Pack == "":
		return fmt.Errorf("%w: no ID", ErrInvalidDelta)
	case d.Pack == "":
		if d.Part != 0 || d.Offset != 0 || d.Length != 0 {
			return fmt.Errorf("%w: delta %q has part %d, offset %d, length %d but no pack", ErrInvalidDelta, d.ID, d.Part, d.Offset, d.Length)
		}
		return nil
	case d.BodyKey != "":
		return fmt.Errorf("%w: delta %q in pack %q also has body key %q", ErrInvalidDelta, d.ID, d.Pack, d.BodyKey)
	case d.Part < 0 || int64(d.Part) > math.MaxInt32 || d.Offset < 0 || d.Length < 0:
		return fmt.Errorf("%w: delta %q in pack %q: part %d, offset %d, length %d (want part in [0, 2^31), offset and length >= 0)",
			ErrInvalidDelta, d.ID, d.Pack, d.Part, d.Offset, d.Length)
	case d.ID != "" && !isPackedID(d.ID, d.Pack, d.Part):
		return fmt.Errorf("%w: delta %q is part %d of pack %q: its ID must be %s.%d", ErrInvalidDelta, d.ID, d.Part, d.Pack, d.Pack, d.Part)
	}
	return nil
}

// deltaID is d's ID, made from its pack and part when a packed delta was
// given without one.
func deltaID(d Delta) string {
	if d.ID == "" && d.Pack != "" {
		return d.Pack + "." + strconv.Itoa(d.Part)
	}
	return d.ID
}

// isPackedID reports whether id is pack + "." + part, without building it.
func isPackedID(id, pack string, part int) bool {
	var num [20]byte
	digits := strconv.AppendInt(num[:0], int64(part), 10)
	return len(id) == len(pack)+1+len(digits) && strings.HasPrefix(id, pack) &&
		id[len(pack)] == '.' && id[len(pack)+1:] == string(digits)
}

func decodeMember(member string, version int64) (Delta, error) {
	n := memberFields
	var rest string
	var ok bool
	if rest, ok = strings.CutPrefix(member, memberPrefix); !ok {
		if rest, ok = strings.CutPrefix(member, heldMemberPrefix); ok {
			n = heldMemberFields
		} else if rest, ok = strings.CutPrefix(member, packedMemberPrefix); ok {
			return decodePackedMember(member, rest, version)
		} else {
			return Delta{}, fmt.Errorf("%w: log entry %q at version %d has an unknown encoding", ErrCorrupt, member, version)
		}
	}
	var parts [heldMemberFields]string
	if !splitMember(rest, parts[:n]) {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d is truncated", ErrCorrupt, member, version)
	}
	d := Delta{Version: version, Field: parts[n-1]}
	escaped := [...]*string{&d.ID, &d.Merge, &d.BodyKey, &d.Script, &d.Holder}
	if err := unescapeParts(escaped[:n-1], parts[:n-1]); err != nil {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d: %v", ErrCorrupt, member, version, err)
	}
	if d.ID == "" {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d has no ID", ErrCorrupt, member, version)
	}
	if n == heldMemberFields && d.Holder == "" {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d names no holder", ErrCorrupt, member, version)
	}
	return d, nil
}

// decodePackedMember decodes rest, a d3 member after its prefix.
func decodePackedMember(member, rest string, version int64) (Delta, error) {
	var parts [packedMemberFields]string
	if !splitMember(rest, parts[:]) {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d is truncated", ErrCorrupt, member, version)
	}
	d := Delta{Version: version, Field: parts[6]}
	if err := unescapeParts([]*string{&d.ID, &d.Merge, &d.Script, &d.Holder}, parts[:4]); err != nil {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d: %v", ErrCorrupt, member, version, err)
	}
	dot := strings.LastIndexByte(d.ID, '.')
	if dot <= 0 {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d names no pack and part", ErrCorrupt, member, version)
	}
	d.Pack = d.ID[:dot]
	part, ok := parseDecimal(d.ID[dot+1:], math.MaxInt32)
	if !ok {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d: part %q is not a decimal in [0, 2^31)", ErrCorrupt, member, version, d.ID[dot+1:])
	}
	d.Part = int(part)
	if d.Offset, ok = parseDecimal(parts[4], math.MaxInt64); !ok {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d: offset %q is not a decimal in [0, 2^63)", ErrCorrupt, member, version, parts[4])
	}
	if d.Length, ok = parseDecimal(parts[5], math.MaxInt64); !ok {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d: length %q is not a decimal in [0, 2^63)", ErrCorrupt, member, version, parts[5])
	}
	return d, nil
}

// splitMember cuts s at its first len(parts)-1 '|' into parts: the last part
// is the rest, '|' and all. It reports false when s has fewer.
func splitMember(s string, parts []string) bool {
	last := len(parts) - 1
	for i := range last {
		var ok bool
		if parts[i], s, ok = strings.Cut(s, "|"); !ok {
			return false
		}
	}
	parts[last] = s
	return true
}

// unescapeParts query-unescapes each of parts into its dst.
func unescapeParts(dst []*string, parts []string) error {
	for i, part := range parts {
		var err error
		if *dst[i], err = url.QueryUnescape(part); err != nil {
			return err
		}
	}
	return nil
}

// parseDecimal reads s as a decimal in [0, limit] written canonically:
// digits only, no sign, no leading zero but in "0" itself.
func parseDecimal(s string, limit int64) (int64, bool) {
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		digit := int64(c - '0')
		if v > (limit-digit)/10 {
			return 0, false
		}
		v = v*10 + digit
	}
	return v, true
}
