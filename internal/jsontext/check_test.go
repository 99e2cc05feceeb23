package jsontext

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	deep := func(n int, open, close string) string {
		return strings.Repeat(open, n) + strings.Repeat(close, n)
	}
	for _, tc := range []struct {
		raw  string
		want bool
	}{
		// Values and whitespace.
		{`"plain"`, true},
		{`""`, true},
		{` 	"x"` + "\r\n", true},
		{`0`, true},
		{`-0`, true},
		{`-0.0e-0`, true},
		{`1e5`, true},
		{`1E+5`, true},
		{`1e-5`, true},
		{`12.5`, true},
		{`123456789012345678901234567890`, true},
		{`true`, true},
		{`false`, true},
		{`null`, true},
		{`{}`, true},
		{`[]`, true},
		{`{ }`, true},
		{`[ ]`, true},
		{`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, true},
		{` { "a" : [ 1 , { } , [ ] ] } `, true},
		{`[1,2.5e3,-7,"x",{"y":null}]`, true},
		{``, false},
		{` `, false},
		{`01`, false},
		{`-`, false},
		{`-01`, false},
		{`+1`, false},
		{`.5`, false},
		{`1.`, false},
		{`1.e5`, false},
		{`1e`, false},
		{`1e+`, false},
		{`0x10`, false},
		{`NaN`, false},
		{`Infinity`, false},
		{`tru`, false},
		{`truex`, false},
		{`nul`, false},
		{`falsy`, false},
		{`True`, false},
		{`1 2`, false},
		{`"a" "b"`, false},
		{`{}{}`, false},
		{`[1,]`, false},
		{`[,1]`, false},
		{`[1 2]`, false},
		{`{"a":1,}`, false},
		{`{,"a":1}`, false},
		{`{"a" 1}`, false},
		{`{"a":}`, false},
		{`{a:1}`, false},
		{`{1:1}`, false},
		{`{"a":1]`, false},
		{`[1}`, false},
		{`[`, false},
		{`]`, false},
		{`{"a":1`, false},
		{`"unterminated`, false},
		{"\f1", false}, // form feed is not JSON whitespace
		{"1\v", false},
		{"\x001", false},
		{"[1\x00]", false},
		{"\xef\xbb\xbf1", false}, // a byte order mark
		{"\xef\xbb\xbf\"x\"", false},
		// Strings: escapes.
		{`"\"\\\/\b\f\n\r\t"`, true},
		{`"http:\/\/example.com\/"`, true},
		{`"\u0000\u001f\u00e9\uFFFD"`, true},
		{`"\a"`, false},
		{`"\x41"`, false},
		{`"\U0041"`, false},
		{`"\u12"`, false},
		{`"\u12g4"`, false},
		{`"\`, false},
		{`"\"`, false},
		// Strings: control characters.
		{"\"\x00\"", false},
		{"\"a\tb\"", false},
		{"\"a\nb\"", false},
		{"\"\x1f\"", false},
		{"\"\x7f\"", true}, // DEL is no control character to JSON
		// Strings: surrogate escapes.
		{`"\ud83d\ude00"`, true},
		{`"\uD83D\uDE00"`, true},
		{`"\uDBFF\uDFFF"`, true},
		{`"\uD800\uDC00"`, true},
		{`"\ud83d"`, false},
		{`"\ude00"`, false},
		{`"\udc00\ud800"`, false},
		{`"\ud800\u0041"`, false},
		{`"\ud800\ud800"`, false},
		{`"\ud800x"`, false},
		{`"\ud800\n"`, false},
		{`"\ud800\\udc00"`, false},
		{`"\\ud800"`, true},
		{`"\\\ud83d\ude00"`, true},
		{`"\\\ud800"`, false},
		{`{"\ud83d":1}`, false},
		{`{"k":"\ud83d\ude00\ud83d"}`, false},
		// Strings: UTF-8.
		{`"é😀日本"`, true},
		{"\"\u07ff\u0800\uffff\U00010000\U0010ffff\"", true},
		{"\"\xff\"", false},
		{"\"\x80\"", false},
		{"\"\xc3\x28\"", false},
		{"\"\xc3\"", false},
		{"\"\xc0\xaf\"", false},         // an overlong '/'
		{"\"\xc1\xbf\"", false},         // overlong
		{"\"\xe0\x80\xaf\"", false},     // overlong
		{"\"\xe0\x9f\xbf\"", false},     // overlong
		{"\"\xf0\x80\x80\xaf\"", false}, // overlong
		{"\"\xf0\x8f\xbf\xbf\"", false}, // overlong
		{"\"\xed\xa0\x80\"", false},     // U+D800 encoded directly
		{"\"\xed\xbf\xbf\"", false},     // U+DFFF encoded directly
		{"\"\xed\x9f\xbf\"", true},      // U+D7FF
		{"\"\xee\x80\x80\"", true},      // U+E000
		{"\"\xf4\x90\x80\x80\"", false}, // beyond U+10FFFF
		{"\"\xf5\x80\x80\x80\"", false},
		{"\"\xe6\x97\"", false}, // cut short
		{"\"\xf0\x9f\x98\"", false},
		{"\"\xe6\x97\xa5", false},
		{"{\"k\xff\":1}", false},
		{"{\"k\":\"v\xff\"}", false},
		{"[\"\xed\xa0\x80\"]", false},
		{"\"\xef\xbb\xbf\"", true}, // U+FEFF inside a string is a character
		{"\xc3\xa9", false},        // non-ASCII outside a string
		// Long strings cross the eight-byte fast path at every offset.
		{`"` + strings.Repeat("abcdefg", 20) + `"`, true},
		{`"` + strings.Repeat("abcdefg", 20) + `\"` + `"`, true},
		{`"` + strings.Repeat("abcdefg", 20) + "\x01" + `"`, false},
		{`"` + strings.Repeat("abcdefg", 20) + "\xe9" + `abcdefghijk"`, false},
		{`"` + strings.Repeat("abcdefg", 20) + "é" + `abcdefghijk"`, true},
		{`"` + strings.Repeat("abcdefg", 20), false},
		// Nesting.
		{deep(64, "[", "]"), true},
		{deep(65, "[", "]"), true},
		{deep(129, "[", "]"), true},
		{deep(MaxDepth, "[", "]"), true},
		{deep(MaxDepth+1, "[", "]"), false},
		{strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth), true},
		{strings.Repeat(`{"a":`, MaxDepth) + "{}" + strings.Repeat("}", MaxDepth), false},
		{strings.Repeat(`[{"a":`, 100) + "[]" + strings.Repeat("}]", 100), true},
		{strings.Repeat(`[{"a":`, 100) + "[]" + strings.Repeat("]}", 100), false},
		{strings.Repeat(`[{"a":`, 100) + "[]" + strings.Repeat("}]", 99), false},
		{strings.Repeat(`[1,{"a":`, 100) + "[]" + strings.Repeat("},2]", 100), true},
		{strings.Repeat("[", 70) + "1" + strings.Repeat("]", 69) + "}", false},
		{strings.Repeat("[", 70) + "1" + strings.Repeat("]", 71), false},
	} {
		if got := Check([]byte(tc.raw)); got != tc.want {
			t.Errorf("Check(%.80q) = %v, want %v", tc.raw, got, tc.want)
		}
		if ref := reference([]byte(tc.raw)); ref != tc.want {
			t.Errorf("json.Valid && Valid (%.80q) = %v, want %v: the table is wrong", tc.raw, ref, tc.want)
		}
	}
}

// reference is what Check replaces: encoding/json's syntax check, then
// Valid for UTF-8 and whole-character escapes (which assumes valid JSON).
func reference(raw []byte) bool {
	return json.Valid(raw) && Valid(raw)
}

func TestCheckAllocs(t *testing.T) {
	for _, c := range benchCases() {
		if n := testing.AllocsPerRun(100, func() { Check(c.data) }); n != 0 {
			t.Errorf("Check(%s) allocates %v times", c.name, n)
		}
	}
	deep := []byte(strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth))
	if n := testing.AllocsPerRun(10, func() { Check(deep) }); n != 0 {
		t.Errorf("Check(deep) allocates %v times", n)
	}
}

// FuzzCheck checks Check against what it replaces, json.Valid then Valid,
// on every input. Its seeds are in testdata/fuzz/FuzzCheck, and the small
// benchmark inputs: large ones slow the fuzzer down (each new input it
// finds is minimized), and TestCheck has the nests MaxDepth deep.
func FuzzCheck(f *testing.F) {
	for _, c := range benchCases() {
		if len(c.data) <= 4<<10 {
			f.Add(c.data)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := Check(raw)
		if !json.Valid(raw) {
			if got {
				t.Fatalf("Check(%.200q) = true, but json.Valid is false", raw)
			}
			return
		}
		if want := Valid(raw); got != want {
			t.Fatalf("Check(%.200q) = %v, but json.Valid is true and Valid is %v", raw, got, want)
		}
	})
}

// TestCheckEveryByte puts each byte value, and some sequences, at each
// offset of a string long enough for the eight-byte fast path, and
// compares Check with the reference.
func TestCheckEveryByte(t *testing.T) {
	seqs := []string{`\"`, `\\`, `\/`, `\n`, `\u00e9`, `\ud83d\ude00`, `\ud83d`, `\ude00`, `\ud83d\u0041`,
		"é", "日", "😀", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\xe6\x97", "\xef\xbb\xbf",
		// One ASCII byte between non-ASCII characters, which the UTF-8
		// loop steps over unless it is special.
		"é é", "日 本 語", "é\x01é", "é\x7fé", "é\"é", "é\\\"é", "é\\né", "é\\u00e9é", "é\\ud83dé",
		"é \xff", "é \x80", "é \xc3", "é \xe6\x97", "é é\xed\xa0\x80", "é ", "é\\"}
	for c := range 256 {
		seqs = append(seqs, string([]byte{byte(c)}))
	}
	for _, seq := range seqs {
		for pre := range 20 {
			for _, post := range []int{0, 1, 7, 8, 9, 17} {
				for _, wrap := range []string{`"%s"`, `{"%s":1}`, `["%s",true]`, `{"k":"%s"}`} {
					raw := []byte(strings.Replace(wrap, "%s", strings.Repeat("a", pre)+seq+strings.Repeat("b", post), 1))
					if got, want := Check(raw), reference(raw); got != want {
						t.Errorf("Check(%q) = %v, want %v", raw, got, want)
					}
					if got, want := Check(raw[:len(raw)-1]), reference(raw[:len(raw)-1]); got != want {
						t.Errorf("Check(%q) = %v, want %v", raw[:len(raw)-1], got, want)
					}
				}
			}
		}
	}
}

// TestCheckNesting builds nests of arrays and objects, mixed at random,
// that cross the 64-level words of Check's stack, and breaks each closing
// bracket in turn: a wrong kind, one missing, one extra. Check must agree
// with the reference on every text.
func TestCheckNesting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, depth := range []int{63, 64, 65, 127, 128, 129, 200, MaxDepth - 1, MaxDepth} {
		objects := make([]bool, depth)
		var open, close strings.Builder
		for d := range depth {
			objects[d] = rng.IntN(2) == 0
			if objects[d] {
				open.WriteString(`{"k":`)
			} else {
				open.WriteString(`[0,`)
			}
		}
		for d := depth - 1; d >= 0; d-- {
			if objects[d] {
				close.WriteByte('}')
			} else {
				close.WriteByte(']')
			}
		}
		for _, inner := range []string{`1`, `[]`, `{}`, `[[]]`, `"s"`} {
			raw := open.String() + inner + close.String()
			if got, want := Check([]byte(raw)), reference([]byte(raw)); got != want {
				t.Errorf("depth %d, inner %s: Check = %v, want %v", depth, inner, got, want)
			}
		}
		// Break the closing brackets: those of the 300 innermost and
		// outermost levels that are near a 64-level boundary or an end,
		// and a sample of the rest.
		closers := []byte(close.String())
		for j := range closers {
			level := depth - j // of the container closers[j] closes, from 1
			near := level%64 <= 1 || level%64 == 63 || level <= 3 || j <= 3
			if !(near && (j < 300 || level <= 300)) && rng.IntN(300) != 0 {
				continue
			}
			wrong := append([]byte(nil), closers...)
			wrong[j] ^= ']' ^ '}'
			missing := append(append([]byte(nil), closers[:j]...), closers[j+1:]...)
			extra := append(append(append([]byte(nil), closers[:j]...), closers[j]), closers[j:]...)
			for name, c := range map[string][]byte{"wrong": wrong, "missing": missing, "extra": extra} {
				raw := []byte(open.String() + "1" + string(c))
				if got, want := Check(raw), reference(raw); got != want {
					t.Errorf("depth %d, closer %d %s: Check = %v, want %v", depth, j, name, got, want)
				}
			}
		}
	}
}

// TestCheckNumbers puts each byte after runs of digits of every length up
// to 20 in each part of a number (the eight-byte digit scan), and
// compares Check with the reference.
func TestCheckNumbers(t *testing.T) {
	for k := range 21 {
		d := strings.Repeat("7", k)
		for _, num := range []string{"1" + d, "-9" + d, "0." + d, "1.5" + d, "2e" + d, "3E-" + d, "4.25e+1" + d} {
			for c := range 256 {
				for _, wrap := range []string{"%s", "[%s]", `{"k":%s}`, "[%s,0]"} {
					raw := []byte(strings.Replace(wrap, "%s", num+string([]byte{byte(c)}), 1))
					if got, want := Check(raw), reference(raw); got != want {
						t.Errorf("Check(%q) = %v, want %v", raw, got, want)
					}
				}
			}
		}
	}
}
