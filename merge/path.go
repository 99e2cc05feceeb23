package merge

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

const (
	maxFieldLen = 1024
	maxSegments = 128
)

// Path is a parsed field path: the object keys and array indexes from the
// document root. An empty Path is the whole document.
type Path []string

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// String returns p as a canonical RFC 6901 JSON Pointer: "" for the root,
// otherwise "/" before each segment, with "~" written "~0" and "/" "~1".
func (p Path) String() string {
	var b strings.Builder
	for _, seg := range p {
		b.WriteByte('/')
		pointerEscaper.WriteString(&b, seg)
	}
	return b.String()
}

// ParsePath parses a field, either an RFC 6901 JSON Pointer (starting with
// "/") or a dotted path, as described in the package documentation.
// Errors wrap ErrInvalidPath.
func ParsePath(field string) (Path, error) {
	if field == "" {
		return nil, nil
	}
	if len(field) > maxFieldLen {
		return nil, pathError(field, fmt.Sprintf("longer than %d bytes (%d)", maxFieldLen, len(field)))
	}
	if !utf8.ValidString(field) {
		return nil, pathError(field, "not valid UTF-8")
	}
	if strings.IndexByte(field, 0) >= 0 {
		return nil, pathError(field, "contains a NUL byte")
	}
	var (
		p      Path
		reason string
	)
	if field[0] == '/' {
		p, reason = parsePointer(field)
	} else {
		p, reason = parseDotted(field)
	}
	if reason != "" {
		return nil, pathError(field, reason)
	}
	if len(p) > maxSegments {
		return nil, pathError(field, fmt.Sprintf("more than %d segments (%d)", maxSegments, len(p)))
	}
	return p, nil
}

// parsePointer splits an RFC 6901 pointer that starts with "/". It returns a
// non-empty reason when the pointer is malformed.
func parsePointer(s string) (Path, string) {
	p := Path(strings.Split(s[1:], "/"))
	for i, tok := range p {
		if !strings.Contains(tok, "~") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(tok); j++ {
			c := tok[j]
			if c != '~' {
				b.WriteByte(c)
				continue
			}
			if j+1 == len(tok) || (tok[j+1] != '0' && tok[j+1] != '1') {
				return nil, fmt.Sprintf(`segment %d: "~" must be followed by "0" or "1"`, i+1)
			}
			j++
			if tok[j] == '0' {
				b.WriteByte('~')
			} else {
				b.WriteByte('/')
			}
		}
		p[i] = b.String()
	}
	return p, ""
}

// parseDotted splits a dotted path. It returns a non-empty reason when the
// path is malformed. Scanning bytes is safe for UTF-8 because '.' and '\\'
// never occur inside a multi-byte sequence.
func parseDotted(s string) (Path, string) {
	var (
		p   Path
		seg strings.Builder
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) {
				return nil, "trailing backslash"
			}
			if next := s[i+1]; next != '.' && next != '\\' {
				return nil, fmt.Sprintf(`invalid escape at byte %d: only "\." and "\\" are allowed`, i)
			}
			i++
			seg.WriteByte(s[i])
		case '.':
			if seg.Len() == 0 {
				return nil, fmt.Sprintf("empty segment at byte %d", i)
			}
			p = append(p, seg.String())
			seg.Reset()
		default:
			seg.WriteByte(c)
		}
	}
	if seg.Len() == 0 {
		return nil, "empty segment at the end"
	}
	return append(p, seg.String()), ""
}

// validatePath applies the limits of ParsePath to a Path that may have been
// built directly. The length limit counts key bytes, which any parsed field
// satisfies whichever syntax it used.
func validatePath(p Path) error {
	if len(p) > maxSegments {
		return pathError(p.String(), fmt.Sprintf("more than %d segments (%d)", maxSegments, len(p)))
	}
	n := 0
	for i, seg := range p {
		n += len(seg)
		switch {
		case !utf8.ValidString(seg):
			return pathError(p.String(), fmt.Sprintf("segment %d is not valid UTF-8", i+1))
		case strings.IndexByte(seg, 0) >= 0:
			return pathError(p.String(), fmt.Sprintf("segment %d contains a NUL byte", i+1))
		}
	}
	if n > maxFieldLen {
		return pathError(p.String(), fmt.Sprintf("keys longer than %d bytes in total (%d)", maxFieldLen, n))
	}
	return nil
}

func pathError(field, reason string) error {
	const maxQuoted = 64
	if len(field) > maxQuoted {
		field = field[:maxQuoted] + "..."
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidPath, field, reason)
}
