// Package jsontext checks JSON text as it arrives from outside (a request
// body, a json.RawMessage value) for what encoding/json lets through:
// invalid UTF-8 and \u escapes of half a character, which it quietly
// decodes to U+FFFD.
package jsontext

import (
	"unicode/utf8"
)

// Valid reports whether raw, JSON text as it came from outside, is valid
// UTF-8 and every \u escape in it is a whole character (no lone
// surrogate). encoding/json accepts both kinds of bad text and quietly
// decodes them to U+FFFD, so a field name or value would not be the one
// that was sent; Lake refuses them instead.
//
// raw must be syntactically valid JSON (as a json.RawMessage the decoder
// filled is): a backslash then only appears inside a string, as an escape.
func Valid(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 >= len(raw) {
			return false
		}
		if raw[i+1] != 'u' {
			i++ // a one-letter escape, such as \\ or \"
			continue
		}
		r, ok := hex4(raw, i+2)
		if !ok {
			return false
		}
		i += 5 // the last hex digit
		switch {
		case r >= 0xD800 && r <= 0xDBFF: // a high surrogate: a low one must follow
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return false
			}
			low, ok := hex4(raw, i+3)
			if !ok || low < 0xDC00 || low > 0xDFFF {
				return false
			}
			i += 6
		case r >= 0xDC00 && r <= 0xDFFF: // a low surrogate alone
			return false
		}
	}
	return true
}

// hex4 decodes the four hex digits of a \u escape at raw[at:].
func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
