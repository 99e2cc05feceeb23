package merge

import (
	"errors"
	"slices"
	"testing"
)

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"", "a", "a.b", `a\.b`, `a\\b`, "a..b", `a\`, "/", "/a~1b/~0c", "/a~2", "//", "\xff", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		p, err := ParsePath(field)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error does not wrap ErrInvalidPath: %v", err)
			}
			return
		}
		if err := validatePath(p); err != nil {
			t.Fatalf("parsed path fails validation: %v", err)
		}
		ptr := p.String()
		if len(ptr) > maxFieldLen {
			return
		}
		again, err := ParsePath(ptr)
		if err != nil || !slices.Equal(again, p) {
			t.Fatalf("pointer %q of %q parses to %q, %v; want %q", ptr, field, again, err, p)
		}
	})
}

func FuzzApply(f *testing.F) {
	seeds := []struct {
		doc   string
		typ   uint8
		field string
		value string
	}{
		{`{}`, uint8(Set), "a.b", `1`},
		{`{"a":[1,2]}`, uint8(Set), "a.-", `3`},
		{`{"a":[1,2]}`, uint8(Insert), "a.0", `0`},
		{`{"a":5}`, uint8(Insert), "a.b", `0`},
		{`{"a":{"b":1}}`, uint8(Replace), "a.b", `[]`},
		{`{"a":[1,2]}`, uint8(Delete), "a.1", ``},
		{`{"a":{"b":1}}`, uint8(Patch), "a", `{"b":null,"c":{"d":null}}`},
		{`{"a":{"b":1}}`, uint8(Patch), "", `{"a":null}`},
		{`{"a":{"b":1}}`, uint8(JSONPatch), "a", `[{"op":"test","path":"/b","value":1},{"op":"copy","from":"/b","path":"/c"}]`},
		{`{"a":[1]}`, uint8(JSONPatch), "a", `[{"op":"move","from":"/0","path":"/-"}]`},
		{`{"a":1}`, uint8(JSONPatch), "", `[{"op":"replace","path":"","value":1}]`},
		{`{"a":[]}`, uint8(Set), "a.9.b", `1`},
		// Unknown types: the first past the last known one, and the largest.
		{`{}`, uint8(ScriptType) + 1, "a", `1`},
		{`{"a":1}`, 255, "a", `2`},
	}
	for _, s := range seeds {
		f.Add([]byte(s.doc), s.typ, s.field, []byte(s.value))
	}
	f.Fuzz(func(t *testing.T, docJSON []byte, typ uint8, field string, value []byte) {
		doc, err := Decode(docJSON)
		if err != nil {
			return
		}
		if _, ok := doc.(map[string]any); !ok {
			return
		}
		p, err := ParsePath(field)
		if err != nil {
			return
		}
		d := Delta{Type: Type(typ), Path: p, Value: value}
		before, err := Encode(doc)
		if err != nil {
			t.Fatal(err)
		}

		out, err := Apply(Clone(doc), d)
		if !d.Type.Valid() {
			if !errors.Is(err, ErrUnknownType) {
				t.Fatalf("Apply with unknown %s: error %v, want ErrUnknownType", d.Type, err)
			}
			if err := Check(d); !errors.Is(err, ErrUnknownType) {
				t.Fatalf("Check with unknown %s: error %v, want ErrUnknownType", d.Type, err)
			}
		}
		if err != nil {
			if got, _ := Encode(out); string(got) != string(before) {
				t.Fatalf("document changed on error %v: %s -> %s", err, before, got)
			}
			// A script delta here has no script loaded.
			noScript := d.Type == ScriptType && errors.Is(err, ErrInvalidScript)
			if Check(d) == nil && !errors.Is(err, ErrConflict) && !noScript {
				t.Fatalf("checked delta failed with %v, want only conflicts", err)
			}
			return
		}
		if _, ok := out.(map[string]any); !ok {
			t.Fatalf("result is not an object: %#v", out)
		}
		first, err := Encode(out)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Apply(Clone(doc), d)
		if err != nil {
			t.Fatalf("second apply failed: %v", err)
		}
		if second, _ := Encode(again); string(second) != string(first) {
			t.Fatalf("apply is not deterministic: %s vs %s", first, second)
		}
		if round, err := Decode(first); err != nil {
			t.Fatalf("result does not decode: %v", err)
		} else if re, _ := Encode(round); string(re) != string(first) {
			t.Fatalf("result does not round-trip: %s vs %s", first, re)
		}
	})
}
