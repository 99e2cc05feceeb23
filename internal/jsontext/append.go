package jsontext

// AppendString appends s, valid UTF-8, as a JSON string: only the quote,
// the backslash and the control characters get escapes, each with one
// spelling (\" \\ \u00xx), so that an encoder built on it writes one text
// per value (the pack entry table and the segment format rely on that).
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
