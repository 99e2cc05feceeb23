package jsontext

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValid(t *testing.T) {
	for raw, want := range map[string]bool{
		`"plain"`:                 true,
		`"é😀"`:                    true,
		`"\u00e9\ud83d\ude00"`:    true,
		`"\uD83D\uDE00"`:          true,
		`"\\ud800"`:               true, // an escaped backslash, then text
		`"\\\ud83d\ude00"`:        true,
		`{"k\"\\":["\n\t\/"]}`:    true,
		"\"\xff\"":                false,
		"\"\xc3\x28\"":            false,
		"\"\xed\xa0\x80\"":        false, // a surrogate encoded as UTF-8
		`"\ud800"`:                false,
		`"\udc00"`:                false,
		`"\ud800\u0041"`:          false,
		`"\ud800\ud800"`:          false,
		`"\\\ud800"`:              false,
		`{"a":1,"b":["x\uDFFF"]}`: false,
		`{"\ud83d":1}`:            false,
		`"\ud83d\ude00\ud83d"`:    false,
		`"ok\u0000"`:              true,
		`"\uFFFD is a character"`: true,
		`[1, 2.5e3, true, null]`:  true,
		`"truncated escape \u12"`: false, // not JSON; still not accepted
		`"trailing backslash \`:   false,
	} {
		if got := Valid([]byte(raw)); got != want {
			t.Errorf("Valid(%q) = %v, want %v", raw, got, want)
		}
	}
}

// FuzzValid checks Valid against encoding/json itself: for
// JSON text it accepts, decoding yields exactly the U+FFFD characters the
// text spells (so nothing was replaced); for JSON text it refuses,
// decoding yields more (something was replaced).
func FuzzValid(f *testing.F) {
	for _, seed := range []string{
		`"a"`, `"\ud83d\ude00"`, `"\ud800"`, `"\\ud800"`, "\"\xff\"", `{"\ufffd":"�"}`,
		`["\udc00x", "\uD800\uDC00"]`, "\"\xc3\x28\"", `"\\\ud800"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return // not JSON: the decoder refuses it before Valid matters
		}
		decoded := countReplacements(v)
		spelled := spelledReplacements(raw)
		valid := Valid(raw)
		if valid && decoded != spelled {
			t.Fatalf("Valid(%q) = true, but decoding made %d U+FFFD of %d spelled", raw, decoded, spelled)
		}
		if !valid && decoded <= spelled {
			t.Fatalf("Valid(%q) = false, but decoding replaced nothing", raw)
		}
	})
}

// countReplacements counts U+FFFD in the strings and keys of a decoded value.
func countReplacements(v any) int {
	switch v := v.(type) {
	case string:
		return strings.Count(v, "\uFFFD")
	case []any:
		n := 0
		for _, e := range v {
			n += countReplacements(e)
		}
		return n
	case map[string]any:
		n := 0
		for k, e := range v {
			n += strings.Count(k, "\uFFFD") + countReplacements(e)
		}
		return n
	}
	return 0
}

// spelledReplacements counts the U+FFFD characters JSON text asks for:
// written out in UTF-8, or as the escape \ufffd. Duplicate object keys are
// not counted twice by the decoder, so text with them may miscount; the
// fuzzer's inputs rarely have them, and a miscount only makes the check fail
// loudly.
func spelledReplacements(raw []byte) int {
	n := 0
	for i := 0; i < len(raw); {
		switch {
		case raw[i] == '\\' && i+1 < len(raw) && raw[i+1] == 'u':
			if i+6 <= len(raw) && strings.EqualFold(string(raw[i+2:i+6]), "fffd") {
				n++
			}
			i += 6
		case raw[i] == '\\':
			i += 2
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 3 {
				n++
			}
			i += size
		}
	}
	return n
}
