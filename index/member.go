package index

import (
	"fmt"
	"net/url"
	"strings"
)

// A delta's log entry (the sorted-set member) is
//
//	d1|<id>|<merge>|<body key>|<script>|<field>
//
// "d1" versions the encoding. ID, merge, body key and script are
// query-escaped, so they never contain '|'; the field comes last and is taken
// verbatim up to the end, so any field name (with ':', '|', '.', unicode)
// round-trips. The ID makes every member unique: a sorted set would
// otherwise move an equal member (two deletes of one field) to the new score
// and rewrite history.
//
// A delta whose body lives in one process's memory (Delta.Holder) is
//
//	d2|<id>|<merge>|<body key>|<script>|<holder>|<field>
//
// Every other delta keeps the d1 form, which older readers understand.
const (
	memberPrefix     = "d1|"
	heldMemberPrefix = "d2|"
	memberFields     = 5 // after the prefix: id, merge, body key, script, field
	heldMemberFields = 6 // the same with the holder before the field
)

func encodeMember(d Delta) string {
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
	return b.String()
}

func decodeMember(member string, version int64) (Delta, error) {
	n := memberFields
	rest, ok := strings.CutPrefix(member, memberPrefix)
	if !ok {
		if rest, ok = strings.CutPrefix(member, heldMemberPrefix); !ok {
			return Delta{}, fmt.Errorf("%w: log entry %q at version %d has an unknown encoding", ErrCorrupt, member, version)
		}
		n = heldMemberFields
	}
	parts := strings.SplitN(rest, "|", n)
	if len(parts) != n {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d is truncated", ErrCorrupt, member, version)
	}
	d := Delta{Version: version, Field: parts[n-1]}
	escaped := [...]*string{&d.ID, &d.Merge, &d.BodyKey, &d.Script, &d.Holder}
	var err error
	for i, dst := range escaped[:n-1] {
		if *dst, err = url.QueryUnescape(parts[i]); err != nil {
			return Delta{}, fmt.Errorf("%w: log entry %q at version %d: %v", ErrCorrupt, member, version, err)
		}
	}
	if d.ID == "" {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d has no ID", ErrCorrupt, member, version)
	}
	if n == heldMemberFields && d.Holder == "" {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d names no holder", ErrCorrupt, member, version)
	}
	return d, nil
}
