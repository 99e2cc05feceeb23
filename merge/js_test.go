package merge

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// testEngine is shared by tests that use the default limits.
var testEngine = NewScriptEngine(ScriptOptions{})

func mustCompile(t testing.TB, e *ScriptEngine, name, source string) *Script {
	t.Helper()
	s, err := e.Compile(name, source)
	if err != nil {
		t.Fatalf("Compile(%s): %v", name, err)
	}
	return s
}

func loadExample(t testing.TB, file string) *Script {
	t.Helper()
	return loadExampleOn(t, testEngine, file)
}

func loadExampleOn(t testing.TB, e *ScriptEngine, file string) *Script {
	t.Helper()
	src, err := os.ReadFile("../examples/merge-scripts/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return mustCompile(t, e, strings.TrimSuffix(file, ".js"), string(src))
}

// scriptCase applies one script delta. When err is set, the document must
// come back unchanged and errText must appear in the message.
type scriptCase struct {
	name    string
	doc     string
	field   string
	value   string
	want    string
	err     error
	errText string
}

func runScriptCases(t *testing.T, s *Script, tests []scriptCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, before, out, err := applyTo(t, tt.doc, tt.field, func(p []string) Delta {
				d := Delta{Type: ScriptType, Path: p, Value: []byte(tt.value), Script: s,
					Context: ScriptContext{Catalog: "cat", Field: tt.field, Version: 7}}
				if err := Check(d); err != nil {
					t.Fatalf("Check: %v", err)
				}
				return d
			})
			checkApplied(t, doc, before, out, err, tt.err, tt.want)
			if tt.err != nil && !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %q does not mention %q", err, tt.errText)
			}
		})
	}
}

func TestExampleCounterAddsToTheField(t *testing.T) {
	runScriptCases(t, loadExample(t, "counter.js"), []scriptCase{
		{name: "absent field starts at zero", doc: `{}`, field: "hits", value: `5`, want: `{"hits":5}`},
		{name: "null value counts one", doc: `{"hits":2}`, field: "hits", value: `null`, want: `{"hits":3}`},
		{name: "adds to an existing number", doc: `{"a":{"hits":40}}`, field: "a.hits", value: `2`, want: `{"a":{"hits":42}}`},
		{name: "negative amounts subtract", doc: `{"hits":2}`, field: "hits", value: `-3`, want: `{"hits":-1}`},
		{name: "fractions add", doc: `{"hits":0.5}`, field: "hits", value: `0.25`, want: `{"hits":0.75}`},
		{name: "null current counts as zero", doc: `{"hits":null}`, field: "hits", value: `1`, want: `{"hits":1}`},
		{name: "a string field fails", doc: `{"hits":"x"}`, field: "hits", value: `1`, err: ErrScriptFailed, errText: "hits holds a string"},
		{name: "a string amount fails", doc: `{}`, field: "hits", value: `"1"`, err: ErrScriptFailed, errText: "amount must be a number"},
	})
}

func TestExampleCappedAppendKeepsTheLastItems(t *testing.T) {
	runScriptCases(t, loadExample(t, "capped_append.js"), []scriptCase{
		{name: "absent field starts a list", doc: `{}`, field: "log", value: `"a"`, want: `{"log":["a"]}`},
		{name: "appends a bare item", doc: `{"log":["a"]}`, field: "log", value: `{"x":1}`, want: `{"log":["a",{"x":1}]}`},
		{name: "drops the oldest beyond the cap", doc: `{"log":[1,2,3]}`, field: "log", value: `{"item":4,"cap":3}`, want: `{"log":[2,3,4]}`},
		{name: "a lower cap trims more", doc: `{"log":[1,2,3]}`, field: "log", value: `{"item":4,"cap":1}`, want: `{"log":[4]}`},
		{name: "item wrapper without cap uses 100", doc: `{"log":[]}`, field: "log", value: `{"item":[1]}`, want: `{"log":[[1]]}`},
		{name: "null current starts a list", doc: `{"log":null}`, field: "log", value: `1`, want: `{"log":[1]}`},
		{name: "a zero cap fails", doc: `{}`, field: "log", value: `{"item":1,"cap":0}`, err: ErrScriptFailed, errText: "cap must be a positive integer"},
		{name: "a non-array field fails", doc: `{"log":{}}`, field: "log", value: `1`, err: ErrScriptFailed, errText: "not an array"},
	})
	t.Run("default cap is 100", func(t *testing.T) {
		s := loadExample(t, "capped_append.js")
		var doc any = map[string]any{}
		for i := range 150 {
			var err error
			doc, err = Apply(doc, Delta{Type: ScriptType, Path: Path{"log"}, Value: []byte(fmt.Sprint(i)), Script: s})
			if err != nil {
				t.Fatal(err)
			}
		}
		log := doc.(map[string]any)["log"].([]any)
		if len(log) != 100 || mustEncode(t, log[0]) != "50" || mustEncode(t, log[99]) != "149" {
			t.Fatalf("log has %d items from %v to %v, want 100 from 50 to 149", len(log), log[0], log[len(log)-1])
		}
	})
}

func TestExampleSetUnionKeepsFirstSeenOrder(t *testing.T) {
	runScriptCases(t, loadExample(t, "set_union.js"), []scriptCase{
		{name: "absent field takes the items", doc: `{}`, field: "tags", value: `["b","a","b"]`, want: `{"tags":["b","a"]}`},
		{name: "a single item is added", doc: `{"tags":["a"]}`, field: "tags", value: `"c"`, want: `{"tags":["a","c"]}`},
		{name: "present items are skipped", doc: `{"tags":["a","b"]}`, field: "tags", value: `["b","c","a","d"]`, want: `{"tags":["a","b","c","d"]}`},
		{name: "objects compare by content", doc: `{"s":[{"a":1,"b":2}]}`, field: "s", value: `[{"b":2,"a":1},{"a":2}]`, want: `{"s":[{"a":1,"b":2},{"a":2}]}`},
		{name: "numbers and strings differ", doc: `{"s":[1]}`, field: "s", value: `["1",1]`, want: `{"s":[1,"1"]}`},
		{name: "a non-array field fails", doc: `{"s":"a"}`, field: "s", value: `"b"`, err: ErrScriptFailed, errText: "not an array"},
	})
}

func TestExampleMaxKeepsTheLargerNumber(t *testing.T) {
	runScriptCases(t, loadExample(t, "max.js"), []scriptCase{
		{name: "absent field takes the value", doc: `{}`, field: "m", value: `3`, want: `{"m":3}`},
		{name: "a larger value wins", doc: `{"m":3}`, field: "m", value: `10`, want: `{"m":10}`},
		{name: "a smaller value is ignored", doc: `{"m":10}`, field: "m", value: `-1`, want: `{"m":10}`},
		{name: "fractions compare", doc: `{"m":1.5}`, field: "m", value: `1.25`, want: `{"m":1.5}`},
		{name: "a non-number value fails", doc: `{"m":1}`, field: "m", value: `"9"`, err: ErrScriptFailed, errText: "must be a number"},
	})
}

func TestApplyScriptStoresWithSetRules(t *testing.T) {
	echo := mustCompile(t, testEngine, "echo", `function merge(current, value) { return value }`)
	drop := mustCompile(t, testEngine, "drop", `function merge() { return undefined }`)
	seen := mustCompile(t, testEngine, "seen", `function merge(current) { return current === undefined ? "absent" : current }`)
	t.Run("echo", func(t *testing.T) {
		runScriptCases(t, echo, []scriptCase{
			{name: "creates missing parents", doc: `{}`, field: "a.b", value: `1`, want: `{"a":{"b":1}}`},
			{name: "overwrites a present value", doc: `{"a":{"b":1}}`, field: "a.b", value: `[2]`, want: `{"a":{"b":[2]}}`},
			{name: "replaces a scalar parent", doc: `{"a":5}`, field: "a.b", value: `1`, want: `{"a":{"b":1}}`},
			{name: "appends at the array length", doc: `{"a":[1]}`, field: "a.1", value: `2`, want: `{"a":[1,2]}`},
			{name: "appends at dash", doc: `{"a":[1]}`, field: "a.-", value: `2`, want: `{"a":[1,2]}`},
			{name: "replaces the root with an object", doc: `{"a":1}`, field: "", value: `{"b":2}`, want: `{"b":2}`},
			{name: "conflicts past the array end", doc: `{"a":[1]}`, field: "a.5", value: `2`, err: ErrConflict, errText: "out of range"},
			{name: "conflicts on a non-index at an array", doc: `{"a":[1]}`, field: "a.x", value: `2`, err: ErrConflict, errText: "not an array index"},
			{name: "refuses a non-object root", doc: `{"a":1}`, field: "", value: `[1]`, err: ErrScriptFailed, errText: "result at the document root must be an object"},
		})
	})
	t.Run("drop", func(t *testing.T) {
		runScriptCases(t, drop, []scriptCase{
			{name: "undefined removes the field", doc: `{"a":{"b":1,"c":2}}`, field: "a.b", value: `null`, want: `{"a":{"c":2}}`},
			{name: "undefined removes an array element", doc: `{"a":[1,2,3]}`, field: "a.0", value: `null`, want: `{"a":[2,3]}`},
			{name: "undefined on an absent field is a no-op", doc: `{"a":1}`, field: "x.y", value: `null`, want: `{"a":1}`},
			{name: "undefined at the root empties the document", doc: `{"a":1}`, field: "", value: `null`, want: `{}`},
		})
	})
	t.Run("seen", func(t *testing.T) {
		runScriptCases(t, seen, []scriptCase{
			{name: "absent key reads as undefined", doc: `{}`, field: "a", value: `0`, want: `{"a":"absent"}`},
			{name: "null reads as null", doc: `{"a":null}`, field: "a", value: `0`, want: `{"a":null}`},
			{name: "a path through a scalar reads as undefined", doc: `{"a":5}`, field: "a.b", value: `0`, want: `{"a":{"b":"absent"}}`},
			{name: "a non-index at an array reads as undefined", doc: `{"a":[1]}`, field: "a.-", value: `0`, want: `{"a":[1,"absent"]}`},
			{name: "an array element is read", doc: `{"a":[{"x":1}]}`, field: "a.0", value: `0`, want: `{"a":[{"x":1}]}`},
			{name: "the root is read", doc: `{"a":1}`, field: "", value: `0`, want: `{"a":1}`},
		})
	})
}

func TestApplyScriptWithoutScriptFails(t *testing.T) {
	doc := mustDecode(t, `{"a":1}`)
	out, err := Apply(doc, Delta{Type: ScriptType, Path: Path{"a"}, Value: []byte(`2`)})
	if !errors.Is(err, ErrInvalidScript) || !strings.Contains(err.Error(), "script not loaded") {
		t.Fatalf("error = %v, want ErrInvalidScript: script not loaded", err)
	}
	if got := mustEncode(t, out); got != `{"a":1}` {
		t.Fatalf("document changed: %s", got)
	}
}

func TestApplyScriptRejectsInvalidValue(t *testing.T) {
	s := mustCompile(t, testEngine, "echo", `function merge(c, v) { return v }`)
	_, err := Apply(map[string]any{}, Delta{Type: ScriptType, Path: Path{"a"}, Value: []byte(`{`), Script: s})
	if !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("error = %v, want ErrInvalidValue", err)
	}
}

func TestCheckAcceptsScriptDeltasWithoutScript(t *testing.T) {
	for _, d := range []Delta{
		{Type: ScriptType, Path: Path{"a"}, Value: []byte(`1`)},
		{Type: ScriptType, Value: []byte(`"not an object at the root is fine: the script decides"`)},
		{Type: ScriptType, Path: Path{"a", "b"}, Value: []byte(`null`)},
	} {
		if err := Check(d); err != nil {
			t.Errorf("Check(%s) = %v", d.Value, err)
		}
	}
	if err := Check(Delta{Type: ScriptType, Path: Path{"a"}, Value: []byte(`{"a":`)}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("invalid JSON: %v, want ErrInvalidValue", err)
	}
	if err := Check(Delta{Type: ScriptType, Path: Path{""}, Value: []byte(`1`)}); err != nil {
		t.Errorf("empty key segment: %v", err)
	}
	long := make(Path, maxSegments+1)
	if err := Check(Delta{Type: ScriptType, Path: long, Value: []byte(`1`)}); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("too many segments: %v, want ErrInvalidPath", err)
	}
}

func TestScriptTypeIsNamedScript(t *testing.T) {
	if ScriptType.String() != "script" || !ScriptType.Valid() {
		t.Fatalf("ScriptType = %q, valid %v", ScriptType, ScriptType.Valid())
	}
	if typ, err := ParseType("script"); err != nil || typ != ScriptType {
		t.Fatalf(`ParseType("script") = %v, %v`, typ, err)
	}
	if ScriptType != JSONPatch+1 {
		t.Fatalf("ScriptType = %d, must follow JSONPatch", ScriptType)
	}
}

func TestScriptReceivesArgumentsAndContext(t *testing.T) {
	s := mustCompile(t, testEngine, "args", `function merge(current, value, ctx) {
		return {args: arguments.length, current: current === undefined ? "undefined" : current,
			value: value, ctx: ctx, keys: Object.keys(current || {}), strict: this === undefined}
	}`)
	tests := []struct {
		name    string
		current any
		present bool
		value   any
		want    string
	}{
		{"absent current is undefined", nil, false, mustDecode(t, `[1]`),
			`{"args":3,"ctx":{"catalog":"c","field":"a.b","version":42},"current":"undefined","keys":[],"strict":true,"value":[1]}`},
		{"present null is null", nil, true, nil,
			`{"args":3,"ctx":{"catalog":"c","field":"a.b","version":42},"current":null,"keys":[],"strict":true,"value":null}`},
		{"object keys arrive sorted", mustDecode(t, `{"b":1,"c":2,"a":3}`), true, mustDecode(t, `"v"`),
			`{"args":3,"ctx":{"catalog":"c","field":"a.b","version":42},"current":{"a":3,"b":1,"c":2},"keys":["a","b","c"],"strict":true,"value":"v"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, keep, err := s.Run(tt.current, tt.present, tt.value, ScriptContext{Catalog: "c", Field: "a.b", Version: 42})
			if err != nil || !keep {
				t.Fatalf("Run = %v, %v", keep, err)
			}
			if g := mustEncode(t, got); g != tt.want {
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
}

func TestScriptErrorsNameScriptVersionAndLine(t *testing.T) {
	src := "// header\nfunction merge(c, v) {\n  var x = 1;\n  throw new RangeError(\"bad value \" + v);\n}\n"
	s := mustCompile(t, testEngine, "thrower", src)
	_, _, err := s.Run(nil, false, "q", ScriptContext{Version: 42})
	if !errors.Is(err, ErrScriptFailed) {
		t.Fatalf("error = %v", err)
	}
	want := "merge: merge script failed: thrower@" + ScriptHash(src)[:12] + " at version 42: RangeError: bad value q (line 4, column 9)"
	if err.Error() != want {
		t.Fatalf("error\n%q\nwant\n%q", err.Error(), want)
	}
	one := mustCompile(t, testEngine, "oneline", `function merge() { throw new Error("x") }`)
	if _, _, err := one.Run(nil, false, nil, ScriptContext{}); err == nil || !strings.HasSuffix(err.Error(), "Error: x (line 1, column 26)") {
		t.Fatalf("line 1 column is not the source's: %v", err)
	}
	thrown := mustCompile(t, testEngine, "thrown", "function merge() {\n throw 'plain'\n}")
	if _, _, err := thrown.Run(nil, false, nil, ScriptContext{}); err == nil || !strings.HasSuffix(err.Error(), ": plain (line 2, column 2)") {
		t.Fatalf("thrown string: %v", err)
	}
}

func TestScriptThrowingUnprintableValuesFails(t *testing.T) {
	s := mustCompile(t, testEngine, "odd", `function merge() { throw {toString: function () { throw 1 }} }`)
	if _, _, err := s.Run(nil, false, nil, ScriptContext{}); !errors.Is(err, ErrScriptFailed) || !strings.Contains(err.Error(), "converting it to a string threw") {
		t.Fatalf("error = %v", err)
	}
}

func TestCompileRejects(t *testing.T) {
	tests := []struct {
		name, script, source, want string
	}{
		{"a syntax error, with its line", "bad", "// one\n// two\nfunction merge(c, v) {\n  return c +;\n}", "bad: SyntaxError at line 4, column"},
		{"a syntax error on line 1, with its column", "bad", "function merge() { return ) }", "SyntaxError at line 1, column 27: Unexpected token )"},
		{"strict mode errors", "strict", "function merge(c, v) { with (c) { return v } }", "SyntaxError at line 1"},
		{"octal literals in strict mode", "strict", "function merge() { return 010 }", "SyntaxError"},
		{"top-level return", "ret", "return 1; function merge() {}", "SyntaxError"},
		{"a source that closes the wrapper", "esc", "function merge() {} }); (function () {", "SyntaxError"},
		{"no merge", "none", "function mergeIt(c, v) { return v }", "none: does not define function merge(current, value, ctx)"},
		{"an empty source", "empty", "", "does not define function merge(current, value, ctx)"},
		{"merge that is not a function", "num", "var merge = 42;", "num: merge is a number, not a function"},
		{"merge that is an object", "obj", "var merge = {};", "merge is an object, not a function"},
		{"a throwing top level", "throws", "throw new Error('at load'); function merge() {}", "throws: evaluating the script: Error: at load (line 1, column 7)"},
		{"an endless top level", "loops", "for (;;) {} function merge() {}", "interrupted after 50ms"},
		{"a source over 64 KiB", "big", "function merge() {}\n//" + strings.Repeat("x", 64<<10), "more than 65536"},
		{"invalid UTF-8", "utf", "function merge() { return '\xff' }", "not valid UTF-8"},
		{"an empty name", "", "function merge() {}", `name ""`},
		{"a name with a space", "a b", "function merge() {}", `name "a b"`},
		{"a name with a slash", "a/b", "function merge() {}", `name "a/b"`},
		{"a name with an at sign", "a@b", "function merge() {}", `name "a@b"`},
		{"a non-ASCII name", "zähler", "function merge() {}", `name "zähler"`},
		{"a name over 64 bytes", strings.Repeat("n", 65), "function merge() {}", "must be 1 to 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := testEngine.Compile(tt.script, tt.source)
			if !errors.Is(err, ErrInvalidScript) {
				t.Fatalf("Compile = %v, %v; want ErrInvalidScript", s, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	for name, src := range map[string]string{
		"a":                          "function merge() {}",
		"counter_v2.1-final":         "const merge = (c, v) => (c || 0) + v;",
		strings.Repeat("n", 64):      "let merge = function (c, v) { return v };",
		"use-strict":                 "'use strict';\nfunction merge(c, v) { return v }",
		"exactly-64KiB":              "function merge() {}\n//" + strings.Repeat("x", 64<<10-22),
		"classes-and-helpers":        "class Acc { constructor(n) { this.n = n } add(v) { return new Acc(this.n + v) } }\nfunction merge(c, v) { return new Acc(c || 0).add(v).n }",
		"sourcemap-comment-is-inert": "function merge() {}\n//# sourceMappingURL=/etc/passwd",
	} {
		s, err := testEngine.Compile(name, src)
		if err != nil {
			t.Errorf("Compile(%s): %v", name, err)
			continue
		}
		if s.Name != name || s.Source != src || s.Hash != ScriptHash(src) {
			t.Errorf("Compile(%s) = {%q, %q}", name, s.Name, s.Hash)
		}
	}
}

func TestScriptHashIsHexSHA256OfSource(t *testing.T) {
	const src = "function merge(c, v) { return v }"
	sum := sha256.Sum256([]byte(src))
	if got := ScriptHash(src); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("ScriptHash = %q", got)
	}
	if ScriptHash("") != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("ScriptHash(\"\") = %s, want the SHA-256 of nothing", ScriptHash(""))
	}
	s := mustCompile(t, testEngine, "h", src)
	if s.Hash != ScriptHash(src) || ScriptHash(src) == ScriptHash(src+" ") {
		t.Fatalf("Hash = %s", s.Hash)
	}
}

func TestRunOnAZeroScriptFailsWithoutPanicking(t *testing.T) {
	var s Script
	if _, _, err := s.Run(nil, false, nil, ScriptContext{}); !errors.Is(err, ErrInvalidScript) {
		t.Fatalf("error = %v, want ErrInvalidScript", err)
	}
	var nilScript *Script
	if _, _, err := nilScript.Run(nil, false, nil, ScriptContext{}); !errors.Is(err, ErrInvalidScript) {
		t.Fatalf("nil script: %v", err)
	}
}
