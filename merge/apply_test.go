package merge

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// applyCase applies one delta to doc. When err is set, the document must come
// back unchanged and want is ignored.
type applyCase struct {
	name  string
	doc   string
	typ   Type
	field string
	value string
	want  string
	err   error
}

func runApplyCases(t *testing.T, tests []applyCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, before, out, err := applyTo(t, tt.doc, tt.field, func(p []string) Delta {
				d := Delta{Type: tt.typ, Path: p}
				if tt.value != "" {
					d.Value = []byte(tt.value)
				}
				return d
			})
			checkApplied(t, doc, before, out, err, tt.err, tt.want)
		})
	}
}

// applyTo decodes docText, applies the delta build makes for field's path,
// and returns what checkApplied takes: the input, its encoding before, the
// result and the error.
func applyTo(t *testing.T, docText, field string, build func(path []string) Delta) (doc any, before string, out any, err error) {
	t.Helper()
	doc = mustDecode(t, docText)
	before = mustEncode(t, doc)
	p, err := ParsePath(field)
	if err != nil {
		t.Fatal(err)
	}
	out, err = Apply(doc, build(p))
	return doc, before, out, err
}

// checkApplied asserts one Apply: on an expected error, the error's identity
// and that neither the input nor the returned document changed; otherwise
// the encoded result.
func checkApplied(t *testing.T, doc any, before string, out any, err, wantErr error, want string) {
	t.Helper()
	if wantErr != nil {
		if !errors.Is(err, wantErr) {
			t.Fatalf("Apply error = %v, want %v", err, wantErr)
		}
		if got := mustEncode(t, out); got != before {
			t.Errorf("returned document changed on error: %s -> %s", before, got)
		}
		if got := mustEncode(t, doc); got != before {
			t.Errorf("input document mutated on error: %s -> %s", before, got)
		}
		return
	}
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got, want := mustEncode(t, out), mustEncode(t, mustDecode(t, want)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func mustDecode(t *testing.T, s string) any {
	t.Helper()
	v, err := Decode([]byte(s))
	if err != nil {
		t.Fatalf("Decode(%s): %v", s, err)
	}
	return v
}

func mustEncode(t *testing.T, v any) string {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return string(b)
}

func TestApplySet(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "creates missing parents as objects", doc: `{}`, field: "a.b.c", value: `1`, want: `{"a":{"b":{"c":1}}}`},
		{name: "overwrites a value", doc: `{"a":1}`, field: "a", value: `2`, want: `{"a":2}`},
		{name: "overwrites an object with a scalar", doc: `{"a":{"b":1}}`, field: "a", value: `3`, want: `{"a":3}`},
		{name: "keeps siblings", doc: `{"a":{"x":1}}`, field: "a.y", value: `2`, want: `{"a":{"x":1,"y":2}}`},
		{name: "replaces a scalar parent with an object", doc: `{"a":5}`, field: "a.b", value: `1`, want: `{"a":{"b":1}}`},
		{name: "replaces a null parent with an object", doc: `{"a":null}`, field: "a.b.c", value: `1`, want: `{"a":{"b":{"c":1}}}`},
		{name: "stores null", doc: `{"a":1}`, field: "a", value: `null`, want: `{"a":null}`},
		{name: "stores nested values", doc: `{}`, field: "a", value: `{"x":[1,{"y":null}]}`, want: `{"a":{"x":[1,{"y":null}]}}`},
		{name: "pointer slash sets the empty key", doc: `{}`, field: "/", value: `1`, want: `{"":1}`},
		{name: "pointer keys may contain dots", doc: `{}`, field: "/a.b", value: `1`, want: `{"a.b":1}`},
		{name: "numeric key on an object is a key", doc: `{"m":{}}`, field: "m.0", value: `1`, want: `{"m":{"0":1}}`},
		{name: "numeric key creates an object, not an array", doc: `{}`, field: "m.0", value: `1`, want: `{"m":{"0":1}}`},

		{name: "overwrites an array element", doc: `{"items":[1,2,3]}`, field: "items.1", value: `"x"`, want: `{"items":[1,"x",3]}`},
		{name: "appends at the length", doc: `{"items":[1,2,3]}`, field: "items.3", value: `4`, want: `{"items":[1,2,3,4]}`},
		{name: "appends at dash", doc: `{"items":[1,2,3]}`, field: "/items/-", value: `4`, want: `{"items":[1,2,3,4]}`},
		{name: "appends to an empty array", doc: `{"items":[]}`, field: "items.0", value: `1`, want: `{"items":[1]}`},
		{name: "walks through an array element", doc: `{"items":[{"a":1}]}`, field: "items.0.b", value: `2`, want: `{"items":[{"a":1,"b":2}]}`},
		{name: "replaces a scalar array element on the way", doc: `{"items":[1]}`, field: "items.0.a", value: `1`, want: `{"items":[{"a":1}]}`},
		{name: "nested arrays", doc: `{"m":[[1],[2]]}`, field: "m.1.-", value: `3`, want: `{"m":[[1],[2,3]]}`},
		{name: "index past the length conflicts", doc: `{"items":[1,2,3]}`, field: "items.7", value: `1`, err: ErrConflict},
		{name: "huge index conflicts", doc: `{"items":[1]}`, field: "items.99999999999999999999999", value: `1`, err: ErrConflict},
		{name: "index equal to the length conflicts on the way", doc: `{"items":[{}]}`, field: "items.1.a", value: `1`, err: ErrConflict},
		{name: "dash conflicts on the way", doc: `{"items":[{}]}`, field: "/items/-/a", value: `1`, err: ErrConflict},
		{name: "non-numeric segment on an array conflicts", doc: `{"items":[1]}`, field: "items.x", value: `1`, err: ErrConflict},
		{name: "leading zero is not an index", doc: `{"items":[1,2]}`, field: "items.01", value: `1`, err: ErrConflict},
		{name: "negative index is not an index", doc: `{"items":[1,2]}`, field: "items.-1", value: `1`, err: ErrConflict},
		{name: "plus sign is not an index", doc: `{"items":[1,2]}`, field: "items.+1", value: `1`, err: ErrConflict},
		{name: "conflict deep inside leaves outer objects alone", doc: `{"a":{"b":[]}}`, field: "a.b.2.c", value: `1`, err: ErrConflict},

		{name: "root takes the object", doc: `{"a":1}`, field: "", value: `{"b":2}`, want: `{"b":2}`},
		{name: "root refuses a non-object", doc: `{"a":1}`, field: "", value: `[1]`, err: ErrInvalidValue},
		{name: "invalid value JSON", doc: `{"a":1}`, field: "a", value: `{`, err: ErrInvalidValue},
	})
}

func TestApplyInsert(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "creates an absent key", typ: Insert, doc: `{}`, field: "a", value: `1`, want: `{"a":1}`},
		{name: "creates missing parents", typ: Insert, doc: `{}`, field: "a.b", value: `1`, want: `{"a":{"b":1}}`},
		{name: "leaves a present value", typ: Insert, doc: `{"a":1}`, field: "a", value: `2`, want: `{"a":1}`},
		{name: "leaves a present null", typ: Insert, doc: `{"a":null}`, field: "a", value: `2`, want: `{"a":null}`},
		{name: "scalar parent is a no-op", typ: Insert, doc: `{"a":5}`, field: "a.b", value: `1`, want: `{"a":5}`},
		{name: "null parent is a no-op", typ: Insert, doc: `{"a":null}`, field: "a.b", value: `1`, want: `{"a":null}`},
		{name: "scalar array element parent is a no-op", typ: Insert, doc: `{"a":[1]}`, field: "a.0.b", value: `1`, want: `{"a":[1]}`},

		{name: "inserts into an array shifting later elements", typ: Insert, doc: `{"items":[1,2,3]}`, field: "items.1", value: `"x"`, want: `{"items":[1,"x",2,3]}`},
		{name: "inserts at the front", typ: Insert, doc: `{"items":[1,2]}`, field: "items.0", value: `0`, want: `{"items":[0,1,2]}`},
		{name: "appends at the length", typ: Insert, doc: `{"items":[1,2]}`, field: "items.2", value: `3`, want: `{"items":[1,2,3]}`},
		{name: "appends at dash", typ: Insert, doc: `{"items":[1,2]}`, field: "/items/-", value: `3`, want: `{"items":[1,2,3]}`},
		{name: "walks through an array element", typ: Insert, doc: `{"items":[{}]}`, field: "items.0.a", value: `1`, want: `{"items":[{"a":1}]}`},
		{name: "index past the length conflicts", typ: Insert, doc: `{"items":[1,2]}`, field: "items.3", value: `1`, err: ErrConflict},
		{name: "index past the length conflicts on the way", typ: Insert, doc: `{"items":[]}`, field: "items.0.a", value: `1`, err: ErrConflict},
		{name: "non-numeric segment on an array conflicts", typ: Insert, doc: `{"items":[]}`, field: "items.x", value: `1`, err: ErrConflict},

		{name: "root is a no-op", typ: Insert, doc: `{"a":1}`, field: "", value: `{"b":2}`, want: `{"a":1}`},
		{name: "root ignores a non-object", typ: Insert, doc: `{"a":1}`, field: "", value: `5`, want: `{"a":1}`},
		{name: "invalid value JSON", typ: Insert, doc: `{}`, field: "a", value: `nope`, err: ErrInvalidValue},
	})
}

func TestApplyReplace(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "overwrites a present value", typ: Replace, doc: `{"a":{"b":1}}`, field: "a.b", value: `2`, want: `{"a":{"b":2}}`},
		{name: "overwrites a present null", typ: Replace, doc: `{"a":null}`, field: "a", value: `2`, want: `{"a":2}`},
		{name: "absent key is a no-op", typ: Replace, doc: `{"a":1}`, field: "b", value: `2`, want: `{"a":1}`},
		{name: "missing parent is a no-op", typ: Replace, doc: `{}`, field: "a.b", value: `2`, want: `{}`},
		{name: "scalar parent is a no-op", typ: Replace, doc: `{"a":5}`, field: "a.b", value: `2`, want: `{"a":5}`},
		{name: "overwrites an array element", typ: Replace, doc: `{"items":[1,2]}`, field: "items.1", value: `3`, want: `{"items":[1,3]}`},
		{name: "array index past the end is a no-op", typ: Replace, doc: `{"items":[1,2]}`, field: "items.2", value: `3`, want: `{"items":[1,2]}`},
		{name: "dash is a no-op", typ: Replace, doc: `{"items":[1,2]}`, field: "/items/-", value: `3`, want: `{"items":[1,2]}`},
		{name: "non-numeric segment on an array is a no-op", typ: Replace, doc: `{"items":[1]}`, field: "items.x", value: `3`, want: `{"items":[1]}`},
		{name: "walks through an array element", typ: Replace, doc: `{"items":[{"a":1}]}`, field: "items.0.a", value: `2`, want: `{"items":[{"a":2}]}`},

		{name: "root takes the object", typ: Replace, doc: `{"a":1}`, field: "", value: `{"b":2}`, want: `{"b":2}`},
		{name: "root refuses a non-object", typ: Replace, doc: `{"a":1}`, field: "", value: `"x"`, err: ErrInvalidValue},
	})
}

func TestApplyDelete(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "removes a key", typ: Delete, doc: `{"a":1,"b":2}`, field: "a", want: `{"b":2}`},
		{name: "removes a nested key", typ: Delete, doc: `{"a":{"b":1,"c":2}}`, field: "a.b", want: `{"a":{"c":2}}`},
		{name: "removes a null", typ: Delete, doc: `{"a":null}`, field: "a", want: `{}`},
		{name: "absent key is a no-op", typ: Delete, doc: `{"a":1}`, field: "b", want: `{"a":1}`},
		{name: "missing parent is a no-op", typ: Delete, doc: `{"a":1}`, field: "x.y", want: `{"a":1}`},
		{name: "scalar parent is a no-op", typ: Delete, doc: `{"a":1}`, field: "a.b", want: `{"a":1}`},
		{name: "removes an array element shifting later ones", typ: Delete, doc: `{"items":[1,2,3]}`, field: "items.0", want: `{"items":[2,3]}`},
		{name: "removes the last array element", typ: Delete, doc: `{"items":[1,2,3]}`, field: "items.2", want: `{"items":[1,2]}`},
		{name: "index past the end is a no-op", typ: Delete, doc: `{"items":[1]}`, field: "items.1", want: `{"items":[1]}`},
		{name: "dash is a no-op", typ: Delete, doc: `{"items":[1]}`, field: "/items/-", want: `{"items":[1]}`},
		{name: "removes inside an array element", typ: Delete, doc: `{"items":[{"a":1,"b":2}]}`, field: "items.0.a", want: `{"items":[{"b":2}]}`},
		{name: "removes from a nested array", typ: Delete, doc: `{"m":[[1,2],[3]]}`, field: "m.0.0", want: `{"m":[[2],[3]]}`},
		{name: "ignores the value", typ: Delete, doc: `{"a":1}`, field: "a", value: `not json`, want: `{}`},
		{name: "root empties the document", typ: Delete, doc: `{"a":1}`, field: "", want: `{}`},
	})
}

// rfc7396Cases are the test cases of RFC 7396 Appendix A: target, patch,
// result.
var rfc7396Cases = [][3]string{
	{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
	{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
	{`{"a":"b"}`, `{"a":null}`, `{}`},
	{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
	{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
	{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
	{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
	{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
	{`["a","b"]`, `["c","d"]`, `["c","d"]`},
	{`{"a":"b"}`, `["c"]`, `["c"]`},
	{`{"a":"foo"}`, `null`, `null`},
	{`{"a":"foo"}`, `"bar"`, `"bar"`},
	{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
	{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
	{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
}

func TestApplyPatchRFC7396Examples(t *testing.T) {
	var tests []applyCase
	for i, c := range rfc7396Cases {
		target, patch, result := c[0], c[1], c[2]
		tests = append(tests, applyCase{
			name: "example " + string(rune('A'+i)) + " at a path", typ: Patch,
			doc: `{"x":` + target + `,"keep":true}`, field: "x", value: patch,
			want: `{"x":` + result + `,"keep":true}`,
		})
		if strings.HasPrefix(target, "{") && strings.HasPrefix(patch, "{") {
			tests = append(tests, applyCase{
				name: "example " + string(rune('A'+i)) + " at the root", typ: Patch,
				doc: target, field: "", value: patch, want: result,
			})
		}
	}
	runApplyCases(t, tests)
}

func TestApplyPatch(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "absent target counts as null", typ: Patch, doc: `{}`, field: "a.b", value: `{"c":1,"d":null}`, want: `{"a":{"b":{"c":1}}}`},
		{name: "absent target strips nested nulls", typ: Patch, doc: `{}`, field: "a", value: `{"b":{"c":null,"d":[null]}}`, want: `{"a":{"b":{"d":[null]}}}`},
		{name: "scalar target becomes an object", typ: Patch, doc: `{"a":5}`, field: "a", value: `{"b":1}`, want: `{"a":{"b":1}}`},
		{name: "scalar parent becomes an object like Set", typ: Patch, doc: `{"a":5}`, field: "a.b", value: `{"c":1}`, want: `{"a":{"b":{"c":1}}}`},
		{name: "null patch stores null", typ: Patch, doc: `{"a":{"b":1}}`, field: "a", value: `null`, want: `{"a":null}`},
		{name: "patches an array element", typ: Patch, doc: `{"items":[{"a":1}]}`, field: "items.0", value: `{"b":2}`, want: `{"items":[{"a":1,"b":2}]}`},
		{name: "appends to an array at dash", typ: Patch, doc: `{"items":[]}`, field: "/items/-", value: `{"a":1,"b":null}`, want: `{"items":[{"a":1}]}`},
		{name: "deep merge at the root", typ: Patch, doc: `{"a":1,"b":{"c":2,"d":3}}`, field: "", value: `{"a":null,"b":{"d":4,"e":5}}`, want: `{"b":{"c":2,"d":4,"e":5}}`},
		{name: "index past the length conflicts", typ: Patch, doc: `{"items":[]}`, field: "items.3", value: `{"a":1}`, err: ErrConflict},
		{name: "root refuses a non-object", typ: Patch, doc: `{"a":1}`, field: "", value: `null`, err: ErrInvalidValue},
	})
}

func TestApplyJSONPatch(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "add a member", typ: JSONPatch, doc: `{"a":{"b":1}}`, field: "a", value: `[{"op":"add","path":"/c","value":2}]`, want: `{"a":{"b":1,"c":2}}`},
		{name: "add into an array shifts", typ: JSONPatch, doc: `{"a":[1,3]}`, field: "a", value: `[{"op":"add","path":"/1","value":2}]`, want: `{"a":[1,2,3]}`},
		{name: "add at dash appends", typ: JSONPatch, doc: `{"a":[1]}`, field: "a", value: `[{"op":"add","path":"/-","value":2}]`, want: `{"a":[1,2]}`},
		{name: "remove", typ: JSONPatch, doc: `{"a":{"b":1,"c":2}}`, field: "a", value: `[{"op":"remove","path":"/b"}]`, want: `{"a":{"c":2}}`},
		{name: "replace", typ: JSONPatch, doc: `{"a":{"b":1}}`, field: "a", value: `[{"op":"replace","path":"/b","value":[true]}]`, want: `{"a":{"b":[true]}}`},
		{name: "move", typ: JSONPatch, doc: `{"a":{"b":{"c":1},"d":{}}}`, field: "a", value: `[{"op":"move","from":"/b/c","path":"/d/e"}]`, want: `{"a":{"b":{},"d":{"e":1}}}`},
		{name: "copy", typ: JSONPatch, doc: `{"a":{"b":[1,2]}}`, field: "a", value: `[{"op":"copy","from":"/b","path":"/c"}]`, want: `{"a":{"b":[1,2],"c":[1,2]}}`},
		{name: "passing test then replace", typ: JSONPatch, doc: `{"a":{"v":1}}`, field: "a", value: `[{"op":"test","path":"/v","value":1},{"op":"replace","path":"/v","value":2}]`, want: `{"a":{"v":2}}`},
		{name: "patches an array target", typ: JSONPatch, doc: `{"a":[1,2]}`, field: "a", value: `[{"op":"remove","path":"/0"}]`, want: `{"a":[2]}`},
		{name: "replace the whole target", typ: JSONPatch, doc: `{"a":{"b":1}}`, field: "a", value: `[{"op":"replace","path":"","value":{"c":2}}]`, want: `{"a":{"c":2}}`},
		{name: "empty patch changes nothing", typ: JSONPatch, doc: `{"a":{"b":1}}`, field: "a", value: `[]`, want: `{"a":{"b":1}}`},
		{name: "keeps numbers exact", typ: JSONPatch, doc: `{"a":{"n":12345678901234567890}}`, field: "a", value: `[{"op":"add","path":"/m","value":0.1}]`, want: `{"a":{"m":0.1,"n":12345678901234567890}}`},
		{name: "keeps HTML characters", typ: JSONPatch, doc: `{"a":{}}`, field: "a", value: `[{"op":"add","path":"/h","value":"<&>"}]`, want: `{"a":{"h":"<&>"}}`},
		{name: "root", typ: JSONPatch, doc: `{"a":1}`, field: "", value: `[{"op":"add","path":"/b","value":2}]`, want: `{"a":1,"b":2}`},

		{name: "failing test conflicts", typ: JSONPatch, doc: `{"a":{"v":1}}`, field: "a", value: `[{"op":"test","path":"/v","value":2},{"op":"replace","path":"/v","value":3}]`, err: ErrConflict},
		{name: "later failure undoes earlier operations", typ: JSONPatch, doc: `{"a":{"v":1}}`, field: "a", value: `[{"op":"replace","path":"/v","value":3},{"op":"remove","path":"/missing"}]`, err: ErrConflict},
		{name: "remove of a missing member conflicts", typ: JSONPatch, doc: `{"a":{}}`, field: "a", value: `[{"op":"remove","path":"/x"}]`, err: ErrConflict},
		{name: "add does not create missing parents", typ: JSONPatch, doc: `{"a":{}}`, field: "a", value: `[{"op":"add","path":"/x/y","value":1}]`, err: ErrConflict},
		{name: "negative index conflicts", typ: JSONPatch, doc: `{"a":[1,2]}`, field: "a", value: `[{"op":"remove","path":"/-1"}]`, err: ErrConflict},
		{name: "add past the end conflicts", typ: JSONPatch, doc: `{"a":[1]}`, field: "a", value: `[{"op":"add","path":"/5","value":1}]`, err: ErrConflict},
		{name: "absent target conflicts", typ: JSONPatch, doc: `{}`, field: "a", value: `[{"op":"add","path":"/b","value":1}]`, err: ErrConflict},
		{name: "scalar target conflicts", typ: JSONPatch, doc: `{"a":1}`, field: "a", value: `[{"op":"replace","path":"","value":2}]`, err: ErrConflict},
		{name: "root result must stay an object", typ: JSONPatch, doc: `{"a":1}`, field: "", value: `[{"op":"replace","path":"","value":[1]}]`, err: ErrConflict},
		{name: "invalid patch", typ: JSONPatch, doc: `{"a":{}}`, field: "a", value: `{"op":"add"}`, err: ErrInvalidValue},
	})
}

func TestApplyConflictMessageNamesLocationAndReason(t *testing.T) {
	doc := mustDecode(t, `{"items":[1,2,3]}`)
	_, err := Apply(doc, Delta{Type: Set, Path: Path{"items", "7"}, Value: []byte(`1`)})
	want := "merge: delta does not apply to the document: /items/7: index 7 out of range (length 3)"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func TestApplyJSONPatchConflictIncludesLibraryReason(t *testing.T) {
	doc := mustDecode(t, `{"a":{"v":1}}`)
	_, err := Apply(doc, Delta{Type: JSONPatch, Path: Path{"a"}, Value: []byte(`[{"op":"test","path":"/v","value":2}]`)})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "test failed") || !strings.HasPrefix(err.Error(), ErrConflict.Error()+": /a: ") {
		t.Fatalf("error = %v", err)
	}
}

func TestApplyJSONPatchLimitsCopyGrowth(t *testing.T) {
	doc := mustDecode(t, `{"a":{"b":{"s":"`+strings.Repeat("x", 1024)+`"}}}`)
	ops := make([]string, 30)
	for i := range ops {
		// Each copy nests the whole of /b inside itself under a new key,
		// doubling it.
		ops[i] = `{"op":"copy","from":"/b","path":"/b/c` + strconv.Itoa(i) + `"}`
	}
	value := []byte("[" + strings.Join(ops, ",") + "]")
	if err := Check(Delta{Type: JSONPatch, Path: Path{"a"}, Value: value}); err != nil {
		t.Fatal(err)
	}
	_, err := Apply(doc, Delta{Type: JSONPatch, Path: Path{"a"}, Value: value})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "exceeding the limit") {
		t.Fatalf("error = %v, want a copy size conflict", err)
	}
}

func TestApplyUnknownType(t *testing.T) {
	doc := mustDecode(t, `{"a":1}`)
	out, err := Apply(doc, Delta{Type: Type(42), Path: Path{"a"}, Value: []byte(`2`)})
	if !errors.Is(err, ErrUnknownType) {
		t.Fatalf("error = %v, want ErrUnknownType", err)
	}
	if got := mustEncode(t, out); got != `{"a":1}` {
		t.Fatalf("document changed: %s", got)
	}
}

func TestApplyTreatsNilDocAsEmptyObject(t *testing.T) {
	for _, d := range []Delta{
		{Type: Set, Path: Path{"a"}, Value: []byte(`1`)},
		{Type: Delete, Path: Path{"a"}},
		{Type: Patch, Path: nil, Value: []byte(`{"a":null}`)},
		{Type: Insert, Path: nil, Value: []byte(`{}`)},
	} {
		out, err := Apply(nil, d)
		if err != nil {
			t.Fatalf("%s: %v", d.Type, err)
		}
		if _, ok := out.(map[string]any); !ok {
			t.Fatalf("%s on nil returned %#v, want an object", d.Type, out)
		}
	}
	out, _ := Apply(nil, Delta{Type: Set, Path: Path{"a"}, Value: []byte(`1`)})
	if got := mustEncode(t, out); got != `{"a":1}` {
		t.Fatalf("got %s", got)
	}
}

func TestApplyRefusesNonObjectDocument(t *testing.T) {
	_, err := Apply([]any{1}, Delta{Type: Set, Path: Path{"0"}, Value: []byte(`2`)})
	if !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("error = %v, want ErrInvalidValue", err)
	}
}

func TestApplyKeepsNumbersExact(t *testing.T) {
	var doc any
	var err error
	for _, d := range []Delta{
		{Type: Set, Path: Path{"big"}, Value: []byte(`12345678901234567890`)},
		{Type: Set, Path: Path{"tenth"}, Value: []byte(`0.1`)},
		{Type: Patch, Path: Path{"m"}, Value: []byte(`{"n":12345678901234567891,"f":0.1}`)},
	} {
		if doc, err = Apply(doc, d); err != nil {
			t.Fatal(err)
		}
	}
	want := `{"big":12345678901234567890,"m":{"f":0.1,"n":12345678901234567891},"tenth":0.1}`
	if got := mustEncode(t, doc); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestApplyDoesNotAliasValueBytes(t *testing.T) {
	value := []byte(`{"s":"abc","a":[1]}`)
	doc, err := Apply(nil, Delta{Type: Set, Path: Path{"x"}, Value: value})
	if err != nil {
		t.Fatal(err)
	}
	before := mustEncode(t, doc)
	for i := range value {
		value[i] = ' '
	}
	if after := mustEncode(t, doc); after != before {
		t.Fatalf("document changed with the value bytes: %s -> %s", before, after)
	}
}

func TestFoldIsDeterministic(t *testing.T) {
	deltas := []Delta{
		{Type: Set, Path: Path{"z", "b"}, Value: []byte(`1`)},
		{Type: Set, Path: Path{"z", "a"}, Value: []byte(`[3,2,1]`)},
		{Type: Patch, Path: Path{"y"}, Value: []byte(`{"q":1,"p":{"s":2,"r":null}}`)},
		{Type: Insert, Path: Path{"z", "a", "0"}, Value: []byte(`0`)},
		{Type: JSONPatch, Path: Path{"y"}, Value: []byte(`[{"op":"copy","from":"/p","path":"/o"}]`)},
		{Type: Delete, Path: Path{"z", "b"}},
	}
	fold := func() string {
		var doc any
		var err error
		for _, d := range deltas {
			if doc, err = Apply(doc, d); err != nil {
				t.Fatal(err)
			}
		}
		return mustEncode(t, doc)
	}
	first := fold()
	if want := `{"y":{"o":{"s":2},"p":{"s":2},"q":1},"z":{"a":[0,3,2,1]}}`; first != want {
		t.Fatalf("got  %s\nwant %s", first, want)
	}
	for range 10 {
		if again := fold(); again != first {
			t.Fatalf("fold not deterministic: %s vs %s", first, again)
		}
	}
}
