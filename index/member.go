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
const memberPrefix = "d1|"

func encodeMember(d Delta) string {
	var b strings.Builder
	b.Grow(len(memberPrefix) + len(d.ID) + len(d.Merge) + len(d.BodyKey) + len(d.Script) + len(d.Field) + 4)
	b.WriteString(memberPrefix)
	b.WriteString(url.QueryEscape(d.ID))
	b.WriteByte('|')
	b.WriteString(url.QueryEscape(d.Merge))
	b.WriteByte('|')
	b.WriteString(url.QueryEscape(d.BodyKey))
	b.WriteByte('|')
	b.WriteString(url.QueryEscape(d.Script))
	b.WriteByte('|')
	b.WriteString(d.Field)
	return b.String()
}

func decodeMember(member string, version int64) (Delta, error) {
	rest, ok := strings.CutPrefix(member, memberPrefix)
	if !ok {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d has an unknown encoding", ErrCorrupt, member, version)
	}
	parts := strings.SplitN(rest, "|", 5)
	if len(parts) != 5 {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d is truncated", ErrCorrupt, member, version)
	}
	d := Delta{Version: version, Field: parts[4]}
	var err error
	for i, dst := range []*string{&d.ID, &d.Merge, &d.BodyKey, &d.Script} {
		if *dst, err = url.QueryUnescape(parts[i]); err != nil {
			return Delta{}, fmt.Errorf("%w: log entry %q at version %d: %v", ErrCorrupt, member, version, err)
		}
	}
	if d.ID == "" {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d has no ID", ErrCorrupt, member, version)
	}
	return d, nil
}
