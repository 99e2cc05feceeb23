package segment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// fields are field paths as writers spell them: separators, escapes,
// quotes, control characters, letters beyond ASCII, the whole document.
var fields = []string{
	"", "profile.name", `a\.b|x:"y"`, "名前.姓", "tags|0", "emoji😀:ok", `back\slash`,
	"tab\tnew\nline\x00nul\x1f", "\u2028\u2029", "\x7f", `"`, `\`,
}

// bodies are JSON texts as writers send them, whitespace and escapes kept.
var bodies = []string{
	`null`, `0`, `-0.5e+10`, `true`, `"text"`, `""`, `{}`, `[]`,
	`{"first":"Ada","last":"Lovelace"}`,
	" {\n  \"a\" : [ 1 , 2.5 , {\"b\" : null} ] ,\n\t\"c\":\"}]\\\"{[\"\n}\r\n",
	`"\u00e9\ud83d\ude00 \/ \n"`,
	`[[[[[[[[[[{"deep":[]}]]]]]]]]]]`,
	"\t\"padded\"\t",
	`{"x":",","y":"}","z":"]"}`,
}

func randomCatalog(r *rand.Rand) string {
	const first = "abcXYZ019_"
	const rest = first + ".:@=-"
	b := []byte{first[r.IntN(len(first))]}
	for range r.IntN(20) {
		b = append(b, rest[r.IntN(len(rest))])
	}
	return string(b)
}

func randomSegment(r *rand.Rand) Segment {
	s := Segment{Catalog: randomCatalog(r), After: r.Int64N(1 << 50)}
	v := s.After
	for i := range r.IntN(12) {
		v += 1 + r.Int64N(1000)
		e := Entry{
			Version: v,
			ID:      fmt.Sprintf("0Abc%d.%d", r.Int64(), i),
			Field:   fields[r.IntN(len(fields))],
			Merge:   []string{"set", "merge", "delete", "script"}[r.IntN(4)],
		}
		if r.IntN(3) == 0 {
			e.Script = "inc@" + fields[r.IntN(len(fields))]
		}
		switch r.IntN(4) {
		case 0: // a delete: no body
		case 1:
			e.Holder = "host-7:" + fields[r.IntN(len(fields))] + "x"
		default:
			e.Body = []byte(bodies[r.IntN(len(bodies))])
		}
		s.Entries = append(s.Entries, e)
	}
	s.Last = v + r.Int64N(3)
	if s.Last == s.After {
		s.Last++
	}
	return s
}

func TestRandomSegmentsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		s := randomSegment(r)
		data, err := Encode(s)
		if err != nil {
			t.Fatalf("Encode(%+v): %v", s, err)
		}
		if len(data) != cap(data) {
			t.Fatalf("Encode sized its array %d for %d bytes", cap(data), len(data))
		}
		if !json.Valid(data) {
			t.Fatalf("Encode wrote invalid JSON: %s", data)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatalf("Decode(%s): %v", data, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("Decode(Encode(s)) differs:\n got %+v\nwant %+v", got, s)
		}
		if again, _ := Encode(got); !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n got %s\nwant %s", again, data)
		}
	}
}

func TestEncodeWritesTheDocumentedFormat(t *testing.T) {
	s := Segment{Catalog: "users", After: 0, Last: 1795650085846807, Entries: []Entry{
		{Version: 1795650085846801, ID: "0Abc.1", Field: "profile.name", Merge: "set", Body: []byte(`{"first":"Ada"}`)},
		{Version: 1795650085846802, ID: "0Abc.2", Merge: "delete"},
		{Version: 1795650085846803, ID: "0Abc.3", Field: "n", Merge: "script", Script: "inc@1", Holder: "h1"},
	}}
	want := `{"format":1,"catalog":"users","after":0,"last":1795650085846807,"entries":[` +
		`{"version":1795650085846801,"id":"0Abc.1","field":"profile.name","merge":"set","body":{"first":"Ada"}},` +
		`{"version":1795650085846802,"id":"0Abc.2","field":"","merge":"delete"},` +
		`{"version":1795650085846803,"id":"0Abc.3","field":"n","merge":"script","script":"inc@1","holder":"h1"}]}`
	if got, err := Encode(s); err != nil || string(got) != want {
		t.Fatalf("Encode = %s, %v\nwant %s", got, err, want)
	}
	empty := `{"format":1,"catalog":"c","after":5,"last":9,"entries":[]}`
	if got, err := Encode(Segment{Catalog: "c", After: 5, Last: 9}); err != nil || string(got) != empty {
		t.Fatalf("Encode of an empty range = %s, %v", got, err)
	}
}

func TestANullBodyIsNotNoBody(t *testing.T) {
	s := Segment{Catalog: "c", After: 0, Last: 2, Entries: []Entry{
		{Version: 1, ID: "a", Merge: "set", Body: []byte("null")},
		{Version: 2, ID: "b", Merge: "delete"},
	}}
	data, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if b := got.Entries[0].Body; b == nil || string(b) != "null" {
		t.Errorf("a null body decodes to %#v, want []byte(\"null\")", b)
	}
	if b := got.Entries[1].Body; b != nil {
		t.Errorf("no body decodes to %#v, want nil", b)
	}
}

func TestDecodedBodiesShareNothing(t *testing.T) {
	s := Segment{Catalog: "c", After: 0, Last: 2, Entries: []Entry{
		{Version: 1, ID: "a", Merge: "set", Body: []byte(`[1]`)},
		{Version: 2, ID: "b", Merge: "set", Body: []byte(`[2]`)},
	}}
	data, _ := Encode(s)
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	clear(data)
	_ = append(got.Entries[0].Body, "xxxx"...)
	if string(got.Entries[0].Body) != `[1]` || string(got.Entries[1].Body) != `[2]` {
		t.Fatalf("bodies changed with the input or with an append: %q, %q", got.Entries[0].Body, got.Entries[1].Body)
	}
}

func TestEncodeAllocatesOnce(t *testing.T) {
	s := benchSegment(64, 100)
	if n := testing.AllocsPerRun(20, func() { Encode(s) }); n != 1 {
		t.Fatalf("Encode allocates %v times, want 1", n)
	}
}

func TestCheckRefusesEachRule(t *testing.T) {
	ok := Entry{Version: 5, ID: "a", Merge: "set", Body: []byte(`1`)}
	with := func(change func(e *Entry)) Segment {
		e := ok
		change(&e)
		return Segment{Catalog: "c", After: 0, Last: 9, Entries: []Entry{e}}
	}
	if err := with(func(*Entry) {}).Check(); err != nil {
		t.Fatalf("Check of a valid segment = %v", err)
	}
	for _, tc := range []struct {
		name string
		s    Segment
		says string
	}{
		{"no catalog", Segment{After: 0, Last: 1}, "catalog"},
		{"catalog with a slash", Segment{Catalog: "a/b", Last: 1}, "catalog"},
		{"catalog starting with a dot", Segment{Catalog: ".a", Last: 1}, "catalog"},
		{"catalog too long", Segment{Catalog: strings.Repeat("a", 129), Last: 1}, "catalog"},
		{"negative after", Segment{Catalog: "c", After: -1, Last: 1}, "after"},
		{"last equal to after", Segment{Catalog: "c", After: 3, Last: 3}, "last"},
		{"last below after", Segment{Catalog: "c", After: 3, Last: 2}, "last"},
		{"last beyond 2^53-1", Segment{Catalog: "c", After: 0, Last: maxVersion + 1}, "2^53"},
		{"version at after", with(func(e *Entry) { e.Version = 0 }), "after"},
		{"version above last", with(func(e *Entry) { e.Version = 10 }), "last"},
		{"versions not increasing", Segment{Catalog: "c", Last: 9, Entries: []Entry{ok, ok}}, "entry 0"},
		{"no ID", with(func(e *Entry) { e.ID = "" }), "ID"},
		{"no merge type", with(func(e *Entry) { e.Merge = "" }), "merge"},
		{"ID not UTF-8", with(func(e *Entry) { e.ID = "\xff" }), "UTF-8"},
		{"field not UTF-8", with(func(e *Entry) { e.Field = "a\xc3" }), "UTF-8"},
		{"merge not UTF-8", with(func(e *Entry) { e.Merge = "\xed\xa0\x80" }), "UTF-8"},
		{"script not UTF-8", with(func(e *Entry) { e.Script = "\x80" }), "UTF-8"},
		{"holder not UTF-8", with(func(e *Entry) { e.Holder, e.Body = "\xfe", nil }), "UTF-8"},
		{"empty body", with(func(e *Entry) { e.Body = []byte{} }), "body"},
		{"body not JSON", with(func(e *Entry) { e.Body = []byte(`{"a":}`) }), "body"},
		{"two values in a body", with(func(e *Entry) { e.Body = []byte(`1 2`) }), "body"},
		{"body not UTF-8", with(func(e *Entry) { e.Body = []byte("\"\xff\"") }), "body"},
		{"body with a lone surrogate", with(func(e *Entry) { e.Body = []byte(`"\ud800"`) }), "body"},
		{"held body", with(func(e *Entry) { e.Holder = "h" }), "held"},
	} {
		err := tc.s.Check()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: Check = %v, want ErrInvalid saying %q", tc.name, err, tc.says)
		}
		if _, err := Encode(tc.s); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Encode = %v, want ErrInvalid", tc.name, err)
		}
	}
}

func TestDecodeRefusesEveryProperPrefix(t *testing.T) {
	data, err := Encode(Segment{Catalog: "c", After: 0, Last: 9, Entries: []Entry{
		{Version: 1, ID: "a", Field: "f\"\x01", Merge: "set", Body: []byte(` {"x": [1, "}"]} `)},
		{Version: 2, ID: "b", Merge: "script", Script: "s", Holder: "h"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(data) {
		if _, err := Decode(data[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Decode of the first %d bytes = %v, want ErrCorrupt", n, err)
		}
	}
}

func TestDecodeRefusesWhatEncodeDoesNotWrite(t *testing.T) {
	const head = `{"format":1,"catalog":"c","after":0,"last":9,"entries":[`
	const entry = `{"version":1,"id":"a","field":"f","merge":"set"`
	for _, tc := range []struct{ name, data string }{
		{"nothing", ``},
		{"null", `null`},
		{"an array", `[]`},
		{"an empty object", `{}`},
		{"format 2", `{"format":2,"catalog":"c","after":0,"last":9,"entries":[]}`},
		{"format 0", `{"format":0,"catalog":"c","after":0,"last":9,"entries":[]}`},
		{"format as a string", `{"format":"1","catalog":"c","after":0,"last":9,"entries":[]}`},
		{"no format", `{"catalog":"c","after":0,"last":9,"entries":[]}`},
		{"no entries", `{"format":1,"catalog":"c","after":0,"last":9}`},
		{"members in another order", `{"format":1,"after":0,"catalog":"c","last":9,"entries":[]}`},
		{"a member named in capitals", `{"format":1,"Catalog":"c","after":0,"last":9,"entries":[]}`},
		{"an unknown member", `{"format":1,"catalog":"c","after":0,"last":9,"extra":1,"entries":[]}`},
		{"an unknown entry member", head + entry + `,"extra":1}]}`},
		{"a duplicate member", head + entry + `,"merge":"set"}]}`},
		{"whitespace between members", `{"format":1, "catalog":"c","after":0,"last":9,"entries":[]}`},
		{"a trailing newline", `{"format":1,"catalog":"c","after":0,"last":9,"entries":[]}` + "\n"},
		{"garbage after the object", `{"format":1,"catalog":"c","after":0,"last":9,"entries":[]}{}`},
		{"a trailing comma", head + entry + `},]}`},
		{"versions out of order", head + `{"version":2,"id":"a","field":"","merge":"set"},{"version":1,"id":"b","field":"","merge":"set"}]}`},
		{"a repeated version", head + entry + `},` + entry + `}]}`},
		{"a version past last", head + `{"version":10,"id":"a","field":"","merge":"set"}]}`},
		{"a version at after", head + `{"version":0,"id":"a","field":"","merge":"set"}]}`},
		{"a negative after", `{"format":1,"catalog":"c","after":-1,"last":9,"entries":[]}`},
		{"an empty range", `{"format":1,"catalog":"c","after":9,"last":9,"entries":[]}`},
		{"last beyond 2^53-1", `{"format":1,"catalog":"c","after":0,"last":9007199254740992,"entries":[]}`},
		{"a 17-digit number", `{"format":1,"catalog":"c","after":0,"last":10000000000000000,"entries":[]}`},
		{"a float version", head + `{"version":1.0,"id":"a","field":"","merge":"set"}]}`},
		{"an exponent", head + `{"version":1e0,"id":"a","field":"","merge":"set"}]}`},
		{"a leading zero", head + `{"version":01,"id":"a","field":"","merge":"set"}]}`},
		{"a bad catalog", `{"format":1,"catalog":".c","after":0,"last":9,"entries":[]}`},
		{"invalid UTF-8 in a field", head + `{"version":1,"id":"a","field":"` + "\xff" + `","merge":"set"}]}`},
		{"a surrogate in UTF-8 in a field", head + `{"version":1,"id":"a","field":"` + "\xed\xa0\x80" + `","merge":"set"}]}`},
		{"a raw control character", head + `{"version":1,"id":"a","field":"` + "\n" + `","merge":"set"}]}`},
		{"a short escape", head + `{"version":1,"id":"a","field":"\n","merge":"set"}]}`},
		{"an escaped slash", head + `{"version":1,"id":"a","field":"\/","merge":"set"}]}`},
		{"an escaped letter", head + `{"version":1,"id":"a","field":"\u0041","merge":"set"}]}`},
		{"an upper-case escape", head + `{"version":1,"id":"a","field":"\u001F","merge":"set"}]}`},
		{"a surrogate pair escape", head + `{"version":1,"id":"a","field":"\ud83d\ude00","merge":"set"}]}`},
		{"an unterminated string", head + `{"version":1,"id":"a","field":"abc`},
		{"no ID", head + `{"version":1,"id":"","field":"","merge":"set"}]}`},
		{"no merge type", head + `{"version":1,"id":"a","field":""}]}`},
		{"no field", head + `{"version":1,"id":"a","merge":"set"}]}`},
		{"an empty script", head + entry + `,"script":""}]}`},
		{"an empty holder", head + entry + `,"holder":""}]}`},
		{"a held body", head + entry + `,"holder":"h","body":1}]}`},
		{"an empty body", head + entry + `,"body":}]}`},
		{"a body that is not JSON", head + entry + `,"body":{"a":1]}]}`},
		{"a body of two values", head + entry + `,"body":1 2}]}`},
		{"a body of invalid UTF-8", head + entry + `,"body":"` + "\xff" + `"}]}`},
		{"a body with a lone surrogate", head + entry + `,"body":"\ud800"}]}`},
		{"a body that does not end", head + entry + `,"body":{"a":[1,2`},
		{"a body ending in an array", head + entry + `,"body":1]}`},
		{"a member after the body", head + entry + `,"body":1,"script":"s"}]}`},
	} {
		if s, err := Decode([]byte(tc.data)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Decode = %+v, %v; want ErrCorrupt", tc.name, s, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	s := Segment{Catalog: "users", After: 0, Last: 9, Entries: []Entry{
		{Version: 1, ID: "a", Field: "名前|x:\"y\"\x01", Merge: "set", Body: []byte(" {\"a\" : [1, \"}\"]}\n")},
		{Version: 2, ID: "b", Merge: "delete"},
		{Version: 3, ID: "c", Merge: "script", Script: "inc@1", Holder: "h"},
		{Version: 4, ID: "d", Merge: "set", Body: []byte("null")},
	}}
	data, err := Encode(s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"format":1,"catalog":"c","after":5,"last":9,"entries":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode error %v is not ErrCorrupt", err)
			}
			return
		}
		// One spelling per segment: what decodes re-encodes to its input,
		// which decodes to the same segment.
		again, err := Encode(s)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("Decode(%q) = %+v, which encodes to %q, %v", data, s, again, err)
		}
		if s2, err := Decode(again); err != nil || !reflect.DeepEqual(s2, s) {
			t.Fatalf("the re-encoded segment decodes to %+v, %v; want %+v", s2, err, s)
		}
	})
}

func FuzzEncode(f *testing.F) {
	f.Add("profile.name", "set", "", "", []byte(`{"first":"Ada"}`), true)
	f.Add("quote\" back\\slash \x00\x1f\x7f \u2028 名前", "script", "s@1", "", []byte(" null\n"), true)
	f.Add("", "delete", "", "h", []byte(nil), false)
	f.Fuzz(func(t *testing.T, field, merge, script, holder string, body []byte, hasBody bool) {
		if !hasBody {
			body = nil
		} else if body == nil {
			body = []byte{}
		}
		s := Segment{Catalog: "c", After: 0, Last: 2, Entries: []Entry{
			{Version: 1, ID: "a", Field: field, Merge: merge, Script: script, Holder: holder, Body: body},
			{Version: 2, ID: "b", Field: field, Merge: "delete"},
		}}
		data, err := Encode(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Encode error %v is not ErrInvalid", err)
			}
			return
		}
		if len(data) != cap(data) || !json.Valid(data) {
			t.Fatalf("Encode wrote %q (capacity %d)", data, cap(data))
		}
		got, err := Decode(data)
		if err != nil || !reflect.DeepEqual(got, s) {
			t.Fatalf("Decode(%q) = %+v, %v; want %+v", data, got, err, s)
		}
	})
}

// benchSegment has n entries with bodies of size bytes, as a busy catalog's
// log does: a few fields and merge types, repeated.
func benchSegment(n, size int) Segment {
	body := []byte(`{"note":"` + strings.Repeat("x", size-len(`{"note":""}`)) + `"}`)
	s := Segment{Catalog: "users", After: 1795650085000000, Last: 1795650085000000 + int64(n)}
	for i := range n {
		s.Entries = append(s.Entries, Entry{
			Version: s.After + 1 + int64(i),
			ID:      fmt.Sprintf("0AbcDefGhiJklMnoPqrs.%d", i),
			Field:   fmt.Sprintf("profile.f%d", i%8),
			Merge:   "set",
			Body:    body,
		})
	}
	return s
}

func BenchmarkDecode(b *testing.B) {
	data, err := Encode(benchSegment(4096, 100))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	s := benchSegment(4096, 100)
	b.ReportAllocs()
	for b.Loop() {
		data, err := Encode(s)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
	}
}
