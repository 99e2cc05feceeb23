package jsontext

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

type benchCase struct {
	name string
	data []byte
}

// benchObject is a small object: 20 members of mixed types, about 1 KiB.
const benchObject = `{"id":"7f3c2a90-1b4e-4d6a-9c1e-2f8b5a6d7e01","name":"Ada Lovelace",` +
	`"email":"ada.lovelace@example.com","age":36,"score":98.625,"ratio":-0.0042,"big":1.5e+21,` +
	`"active":true,"deleted":false,"manager":null,"tags":["mathematics","analytical engine","poetry","Bernoulli numbers"],` +
	`"address":{"street":"12 St James's Square","city":"London","postcode":"SW1Y 4JH","country":"GB"},` +
	`"note":"wrote \"Note G\",\nthe first published algorithm \u2014 for Babbage's engine","created":"1843-07-15T12:00:00Z",` +
	`"updated":"2025-01-31T23:59:59.999Z","path":"\/users\/ada\/notes","counts":[1,2,3,5,8,13,21,34,55,89,144],` +
	`"weights":{"a":0.25,"b":0.5,"c":0.125,"d":0.125},"bio":"Augusta Ada King, Countess of Lovelace, was an English mathematician and writer, chiefly known for her work on Charles Babbage's proposed mechanical general-purpose computer, the Analytical Engine.",` +
	`"city_ja":"ロンドン","emoji":"\ud83d\ude00","version":42,"ok":true}`

// benchCases are the inputs of the benchmarks: a 1 KiB string of plain
// ASCII, a 1 KiB object, a 100 KiB document of such objects (half of them
// indented), a 1 KiB string of non-ASCII text, and a 100 KiB object whose
// values are long strings of prose (a few escapes and non-ASCII letters).
func benchCases() []benchCase {
	ascii := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 30)[:1022]

	var doc bytes.Buffer
	doc.WriteString("[\n")
	for i := 0; doc.Len() < 100<<10-1400; i++ {
		if i > 0 {
			doc.WriteString(",\n")
		}
		obj := strings.Replace(benchObject, `"version":42`, fmt.Sprintf(`"version":%d`, i), 1)
		if i%2 == 0 {
			obj = strings.Replace(obj, "Ada Lovelace", "Ada Lovelace, née Byron", 1)
			var ind bytes.Buffer
			if err := json.Indent(&ind, []byte(obj), "  ", "  "); err != nil {
				panic(err)
			}
			obj = ind.String()
		}
		doc.WriteString("  " + obj)
	}
	doc.WriteString("\n]\n")

	text := strings.Repeat("Größe ελληνικά 日本語のテキスト 😀 ", 40)
	for len(text) > 1022 {
		_, size := utf8.DecodeLastRuneInString(text)
		text = text[:len(text)-size]
	}

	// Paragraphs of prose, about 1 KiB each: a line break and a quoted
	// word are escapes, a café is two bytes of UTF-8.
	para := strings.Repeat("Lake keeps each document as a series of deltas and folds them on read; ", 13) +
		`a \"snapshot\" saves the fold, so a café's menu reads fast.\n\n`
	var long bytes.Buffer
	long.WriteByte('{')
	for i := 0; long.Len() < 100<<10-len(para)*12; i++ {
		if i > 0 {
			long.WriteByte(',')
		}
		fmt.Fprintf(&long, `"section%d":"%s"`, i, strings.Repeat(para, 12))
	}
	long.WriteByte('}')

	return []benchCase{
		{"string1k", []byte(`"` + ascii + `"`)},
		{"object1k", []byte(benchObject)},
		{"doc100k", doc.Bytes()},
		{"nonascii1k", []byte(`"` + text + `"`)},
		{"text100k", long.Bytes()},
	}
}

func BenchmarkCheck(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			if !Check(c.data) {
				b.Fatalf("Check(%s) = false", c.name)
			}
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				Check(c.data)
			}
		})
	}
}

// BenchmarkTwoPass measures what Check replaces: Valid, then json.Valid.
func BenchmarkTwoPass(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			if !Valid(c.data) || !json.Valid(c.data) {
				b.Fatalf("%s is not valid", c.name)
			}
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				_ = Valid(c.data) && json.Valid(c.data)
			}
		})
	}
}

func TestBenchCases(t *testing.T) {
	for _, c := range benchCases() {
		t.Logf("%s: %d bytes", c.name, len(c.data))
		if !reference(c.data) {
			t.Errorf("%s is not valid", c.name)
		}
	}
}
