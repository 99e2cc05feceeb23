package index

import (
	"fmt"
	"net/url"
	"strings"
)

// A delta's log entry (the sorted-set member) is
//
//	d1|<merge>|<body key>|<script>|<field>
//
// "d1" versions the encoding. Merge, body key and script are
// query-escaped, so they never contain '|'; the field comes last and is taken
// verbatim up to the end, so any field name (with ':', '|', '.', unicode)
// round-trips. The body key holds a UUID, so members are unique.
const memberPrefix = "d1|"

func encodeMember(d Delta) string {
	var b strings.Builder
	b.Grow(len(memberPrefix) + len(d.Merge) + len(d.BodyKey) + len(d.Script) + len(d.Field) + 3)
	b.WriteString(memberPrefix)
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
	parts := strings.SplitN(rest, "|", 4)
	if len(parts) != 4 {
		return Delta{}, fmt.Errorf("%w: log entry %q at version %d is truncated", ErrCorrupt, member, version)
	}
	d := Delta{Version: version, Field: parts[3]}
	var err error
	for i, dst := range []*string{&d.Merge, &d.BodyKey, &d.Script} {
		if *dst, err = url.QueryUnescape(parts[i]); err != nil {
			return Delta{}, fmt.Errorf("%w: log entry %q at version %d: %v", ErrCorrupt, member, version, err)
		}
	}
	return d, nil
}
