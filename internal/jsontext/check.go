package jsontext

import (
	"encoding/binary"
	"math/bits"
)

// MaxDepth is the deepest nesting of arrays and objects Check accepts: the
// limit encoding/json's decoder and json.Valid enforce, so text that one
// accepts the other does too.
const MaxDepth = 10000

// Check reports whether raw is JSON text Lake stores, without allocating
// and in one pass (two for text nested more than 64 levels deep). It
// accepts exactly what json.Valid(raw) && Valid(raw) accept:
//
//   - one JSON value (RFC 8259) with optional whitespace (space, tab, line
//     feed, carriage return) around it, in the grammar encoding/json
//     accepts, including its limit of MaxDepth nested arrays and objects
//     (an empty one counts too);
//   - every byte valid UTF-8 (no overlong form, no surrogate encoded
//     directly, nothing above U+10FFFF), so a string, key or value is the
//     text that was sent; a byte order mark is refused, as encoding/json
//     refuses it;
//   - every \u escape a whole character: \uD800-\uDBFF must be followed at
//     once by a \uDC00-\uDFFF escape, and a \uDC00-\uDFFF escape may not
//     stand alone.
//
// encoding/json itself accepts invalid UTF-8 and half-character escapes
// and quietly decodes them to U+FFFD; Check refuses them.
//
// No library fits: valyala/fastjson, tidwall/gjson and bytedance/sonic accept
// invalid UTF-8 and lone surrogate escapes; go-json-experiment's jsontext
// (IsValid, duplicate names allowed) agrees but is experimental, 1.3-4x slower.
func Check(raw []byte) bool {
	switch scan(raw, nil) {
	case ok:
		return true
	case deeper:
		// More than 64 levels: scan again with room for MaxDepth.
		var stack [(MaxDepth + 63) / 64]uint64
		return scan(raw, stack[:]) == ok
	}
	return false
}

type result uint8

const (
	bad    result = iota
	ok            // JSON text Lake stores
	deeper        // nesting went past 64 levels and scan had no stack for more
)

// wsMask has bit c set for each JSON whitespace byte c.
const wsMask uint64 = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\r'

// scan checks raw, keeping which kind of container is open at each level
// in a bit stack: the innermost 64 levels in a register, the ones outside
// them in spill, 64 to a word. With spill nil, text nested deeper than 64
// levels makes scan return deeper.
func scan(s []byte, spill []uint64) result {
	var (
		i     int    // the next byte to read
		depth int    // arrays and objects open
		open  uint64 // bit 0: the innermost open container is an object
	)
	n := len(s)

value: // a value starts at s[i], after optional whitespace
	for i < n && s[i] <= ' ' {
		if wsMask&(1<<s[i]) == 0 {
			return bad
		}
		i++
	}
	if i >= n {
		return bad
	}
	switch c := s[i]; c {
	case '"':
		if i = str(s, i+1); i < 0 {
			return bad
		}
		goto after
	case '{', '[':
		if depth >= MaxDepth {
			return bad
		}
		i++
		for i < n && s[i] <= ' ' {
			if wsMask&(1<<s[i]) == 0 {
				return bad
			}
			i++
		}
		if i < n && s[i] == c+2 { // '{'+2 is '}', '['+2 is ']'
			i++
			goto after
		}
		if depth&63 == 0 && depth > 0 {
			if spill == nil {
				return deeper
			}
			spill[depth>>6-1] = open
			open = 0
		}
		depth++
		if c == '[' {
			open <<= 1
			goto value
		}
		open = open<<1 | 1
		goto key
	case 't':
		if i+4 > n || string(s[i:i+4]) != "true" {
			return bad
		}
		i += 4
		goto after
	case 'f':
		if i+5 > n || string(s[i:i+5]) != "false" {
			return bad
		}
		i += 5
		goto after
	case 'n':
		if i+4 > n || string(s[i:i+4]) != "null" {
			return bad
		}
		i += 4
		goto after
	default:
		if i = number(s, i); i < 0 {
			return bad
		}
		goto after
	}

key: // an object member starts at s[i], after optional whitespace
	for i < n && s[i] <= ' ' {
		if wsMask&(1<<s[i]) == 0 {
			return bad
		}
		i++
	}
	if i >= n || s[i] != '"' {
		return bad
	}
	if i = str(s, i+1); i < 0 {
		return bad
	}
	for i < n && s[i] <= ' ' {
		if wsMask&(1<<s[i]) == 0 {
			return bad
		}
		i++
	}
	if i >= n || s[i] != ':' {
		return bad
	}
	i++
	goto value

after: // a value ended just before s[i]
	for i < n && s[i] <= ' ' {
		if wsMask&(1<<s[i]) == 0 {
			return bad
		}
		i++
	}
	if depth == 0 {
		if i == n {
			return ok
		}
		return bad
	}
	if i >= n {
		return bad
	}
	switch s[i] {
	case ',':
		i++
		if open&1 != 0 {
			goto key
		}
		goto value
	case ']':
		if open&1 != 0 {
			return bad
		}
	case '}':
		if open&1 == 0 {
			return bad
		}
	default:
		return bad
	}
	i++
	open >>= 1
	depth--
	if depth&63 == 0 && depth > 0 {
		open = spill[depth>>6-1]
	}
	goto after
}

// number returns the index just past the JSON number that starts at s[i],
// or -1 if none does. What follows it is for the caller to judge.
func number(s []byte, i int) int {
	n := len(s)
	if s[i] == '-' {
		if i++; i >= n {
			return -1
		}
	}
	switch c := s[i]; {
	case c == '0':
		i++
	case c-'1' < 9:
		i = digits(s, i+1)
	default:
		return -1
	}
	if i < n && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < n && s[i]|0x20 == 'e' {
		if i++; i < n && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// digits returns the index of the first byte at or after s[i] that is not
// an ASCII digit, or len(s).
func digits(s []byte, i int) int {
	if i < len(s) && s[i]-'0' >= 10 {
		return i
	}
	if t := s[i:]; len(t) >= 8 {
		// The high bit of x-'0' is set for each byte below '0', that of
		// x+0x46 for each above '9' (and of x for each not ASCII); a
		// borrow or carry can set it in a later byte, never an earlier one.
		x := binary.LittleEndian.Uint64(t)
		if m := ((x - '0'*ones) | (x + 0x46*ones) | x) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(s) && s[i]-'0' < 10 {
		i++
	}
	return i
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special has the high bit of each byte of x set that is below 0x20, a
// quote, a backslash or not ASCII: the bytes a string cannot skip. x^0x02
// maps the bytes below 0x20 and the quote (0x22), and only them, below
// 0x21; x^'\\' maps the backslash, and only it, to 0. Subtracting sets the
// high bit of those bytes; a borrow can set it in a later byte too, never
// in an earlier one, so the lowest bit set marks the first special byte.
func special(x uint64) uint64 {
	return (((x ^ 0x02*ones) - 0x21*ones) | ((x ^ '\\'*ones) - ones) | x) & highs
}

// str returns the index just past the closing quote of the JSON string
// whose first byte after the opening quote is s[i], or -1 if the string is
// not JSON, not UTF-8, or has a \u escape of half a character.
func str(s []byte, i int) int {
	n := len(s)
	for {
		// Printable ASCII other than '"' and '\\': most strings are short,
		// so 8 bytes, then 16 at a time, then 8.
		if i+8 <= n {
			if m := special(binary.LittleEndian.Uint64(s[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto special
			}
			i += 8
			for ; i+16 <= n; i += 16 {
				t := s[i : i+16]
				mx, my := special(binary.LittleEndian.Uint64(t)), special(binary.LittleEndian.Uint64(t[8:]))
				if mx|my != 0 {
					if mx != 0 {
						i += bits.TrailingZeros64(mx) >> 3
					} else {
						i += 8 + bits.TrailingZeros64(my)>>3
					}
					goto special
				}
			}
			if i+8 <= n {
				if m := special(binary.LittleEndian.Uint64(s[i:])); m != 0 {
					i += bits.TrailingZeros64(m) >> 3
					goto special
				}
				i += 8
			}
		}
		for ; i < n; i++ {
			if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
				goto special
			}
		}
		return -1

	special:
		switch c := s[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= n {
				return -1
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r := hex4at(s, i+2)
				i += 6
				switch {
				case r < 0:
					return -1
				case r >= 0xD800 && r <= 0xDBFF: // a high surrogate: a low one must follow
					if i+6 > n || s[i] != '\\' || s[i+1] != 'u' {
						return -1
					}
					if lo := hex4at(s, i+2); lo < 0xDC00 || lo > 0xDFFF {
						return -1
					}
					i += 6
				case r >= 0xDC00 && r <= 0xDFFF: // a low surrogate alone
					return -1
				}
			default:
				return -1
			}
		case c < 0x80: // a control character
			return -1
		default:
			// Non-ASCII: as many whole UTF-8 characters as follow.
			for {
				switch {
				case c < 0xC2: // a continuation byte, or an overlong C0/C1 lead
					return -1
				case c < 0xE0:
					if i+1 >= n || s[i+1]&0xC0 != 0x80 {
						return -1
					}
					i += 2
				case c < 0xF0:
					if i+2 >= n {
						return -1
					}
					lo, hi := byte(0x80), byte(0xBF)
					if c == 0xE0 {
						lo = 0xA0 // shorter forms are overlong
					} else if c == 0xED {
						hi = 0x9F // ED A0-BF are surrogates
					}
					if c1 := s[i+1]; c1 < lo || c1 > hi || s[i+2]&0xC0 != 0x80 {
						return -1
					}
					i += 3
				case c < 0xF5:
					if i+3 >= n {
						return -1
					}
					lo, hi := byte(0x80), byte(0xBF)
					if c == 0xF0 {
						lo = 0x90 // shorter forms are overlong
					} else if c == 0xF4 {
						hi = 0x8F // beyond U+10FFFF
					}
					if c1 := s[i+1]; c1 < lo || c1 > hi || s[i+2]&0xC0 != 0x80 || s[i+3]&0xC0 != 0x80 {
						return -1
					}
					i += 4
				default:
					return -1
				}
				if i >= n {
					return -1
				}
				if c = s[i]; c < 0x80 {
					// One printable ASCII byte between characters that
					// are not, as a space between words: step over it.
					if c < 0x20 || c == '"' || c == '\\' || i+1 >= n || s[i+1] < 0x80 {
						break
					}
					i++
					c = s[i]
				}
			}
		}
	}
}

// hex4at decodes the four hex digits at s[i:i+4], or returns -1 if there
// are not four there.
func hex4at(s []byte, i int) int32 {
	if i+4 > len(s) {
		return -1
	}
	return hexVal[s[i]]<<12 | hexVal[s[i+1]]<<8 | hexVal[s[i+2]]<<4 | hexVal[s[i+3]]
}

// hexVal holds the value of each hex digit, and -1 for every other byte;
// an OR of shifted values is negative if any of them was.
var hexVal = func() (t [256]int32) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = int32(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = int32(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			t[c] = int32(c - 'A' + 10)
		default:
			t[c] = -1
		}
	}
	return t
}()
