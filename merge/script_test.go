package merge

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
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
	src, err := os.ReadFile("../examples/merge-scripts/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return mustCompile(t, testEngine, strings.TrimSuffix(file, ".js"), string(src))
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
			doc := mustDecode(t, tt.doc)
			before := mustEncode(t, doc)
			p, err := ParsePath(tt.field)
			if err != nil {
				t.Fatal(err)
			}
			d := Delta{Type: ScriptType, Path: p, Value: []byte(tt.value), Script: s,
				Context: ScriptContext{Catalog: "cat", Field: tt.field, Version: 7}}
			if err := Check(d); err != nil {
				t.Fatalf("Check: %v", err)
			}
			out, err := Apply(doc, d)
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

func TestScriptCannotChangeTheDocument(t *testing.T) {
	tests := []struct {
		name   string
		source string
		field  string
		want   string // "" means the delta fails
	}{
		{"mutations before a throw leave nothing behind",
			`function merge(c, v) { c.x = 1; c.list.push(9); c.nested.deep = 0; v.y = 2; throw new Error("no") }`, "f", ""},
		{"mutating current only changes the stored result",
			`function merge(c, v) { c.list.push(9); return 1 }`, "f", `{"f":1,"g":{"list":[1]}}`},
		{"returning a mutated current stores a copy",
			`function merge(c, v) { c.list.push(v); return c }`, "f", `{"f":{"list":[1,{"k":"v"}],"nested":{"deep":true}},"g":{"list":[1]}}`},
		{"reading the root and failing leaves it unchanged",
			`function merge(c) { c.f.list.length = 0; delete c.g; return 5 }`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, testEngine, "mut", tt.source)
			const start = `{"f":{"list":[1],"nested":{"deep":true}},"g":{"list":[1]}}`
			doc := mustDecode(t, start)
			value := []byte(`{"k":"v"}`)
			p, _ := ParsePath(tt.field)
			out, err := Apply(doc, Delta{Type: ScriptType, Path: p, Value: value, Script: s})
			if string(value) != `{"k":"v"}` {
				t.Fatalf("value bytes changed: %s", value)
			}
			if tt.want == "" {
				if !errors.Is(err, ErrScriptFailed) {
					t.Fatalf("error = %v, want ErrScriptFailed", err)
				}
				if got := mustEncode(t, doc); got != start {
					t.Fatalf("document changed: %s", got)
				}
				if got := mustEncode(t, out); got != start {
					t.Fatalf("returned document changed: %s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mustEncode(t, out); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	t.Run("results are fresh trees", func(t *testing.T) {
		s := mustCompile(t, testEngine, "echo", `function merge(c, v) { return v }`)
		value := mustDecode(t, `{"a":[1]}`)
		got, _, err := s.Run(nil, false, value, ScriptContext{})
		if err != nil {
			t.Fatal(err)
		}
		got.(map[string]any)["a"].([]any)[0] = "changed"
		if mustEncode(t, value) != `{"a":[1]}` {
			t.Fatalf("result aliases the value: %s", mustEncode(t, value))
		}
	})
}

func TestScriptNumbers(t *testing.T) {
	tests := []struct {
		name, expr, want string
	}{
		{"integer-valued floats have no fraction", "3.0", "3"},
		{"sums of integers stay integers", "1e15 + 1", "1000000000000001"},
		{"large integers below 1e21 are written out", "1e20", "100000000000000000000"},
		{"1e21 and above use an exponent", "1e21", "1e+21"},
		{"fractions use the shortest round trip", "0.1 + 0.2", "0.30000000000000004"},
		{"small numbers use an exponent", "1e-7", "1e-7"},
		{"negative zero is zero", "-0", "0"},
		{"the incoming number is a float64", "v", "9007199254740992"},
		{"big integers lose precision", "v + 1", "9007199254740992"},
		{"numbers come in as numbers", "typeof v", `"number"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, testEngine, "num", "function merge(c, v) { return "+tt.expr+" }")
			got, _, err := s.Run(nil, false, mustDecode(t, "9007199254740993"), ScriptContext{})
			if err != nil {
				t.Fatal(err)
			}
			if g := mustEncode(t, got); g != tt.want {
				t.Errorf("%s = %s, want %s", tt.expr, g, tt.want)
			}
		})
	}
	t.Run("decimal inputs are parsed like JSON.parse", func(t *testing.T) {
		s := mustCompile(t, testEngine, "num", "function merge(c, v) { return [v[0] === 1.5, v[1] === 100, v[2] === Infinity, Object.is(v[3], -0)] }")
		got, _, err := s.Run(nil, false, mustDecode(t, `[1.50, 1E2, 1e400, -0]`), ScriptContext{})
		if err != nil {
			t.Fatal(err)
		}
		if g := mustEncode(t, got); g != "[true,true,true,true]" {
			t.Fatalf("got %s", g)
		}
	})
}

func TestScriptResultConversion(t *testing.T) {
	tests := []struct {
		name, expr, want, err string
	}{
		{"undefined members are left out", `({a: undefined, b: 1})`, `{"b":1}`, ""},
		{"undefined array elements are null", `[undefined, 1]`, `[null,1]`, ""},
		{"holes are null", `[ , 1]`, `[null,1]`, ""},
		{"dates use toJSON", `({d: new Date(0)})`, `{"d":"1970-01-01T00:00:00.000Z"}`, ""},
		{"custom toJSON is called with the key", `({k: {toJSON: function (key) { return "at " + key }}})`, `{"k":"at k"}`, ""},
		{"boxed primitives unwrap", `[new Number(2), new String("s"), new Boolean(false)]`, `[2,"s",false]`, ""},
		{"maps and sets become empty objects", `[new Map([[1, 2]]), new Set([1])]`, `[{},{}]`, ""},
		{"symbol keys are ignored", `({[Symbol("s")]: 1, a: 2})`, `{"a":2}`, ""},
		{"non-enumerable members are ignored", `Object.defineProperty({a: 1}, "h", {value: 2})`, `{"a":1}`, ""},
		{"getters are read", `({get g() { return 3 }})`, `{"g":3}`, ""},
		{"inherited members are ignored", `Object.create({p: 1})`, `{}`, ""},
		{"strings keep unicode", `"\u00e9\u2028\ud83d\ude00<>&"`, "\"é\\u2028😀<>&\"", ""},
		{"shared subtrees are copied", `(function () { var x = [1]; return [x, x] })()`, `[[1],[1]]`, ""},
		{"NaN fails", `({a: [NaN]})`, "", "NaN at /a/0"},
		{"Infinity fails", `Infinity`, "", "Infinity at (root)"},
		{"-Infinity fails", `({n: -1/0})`, "", "-Infinity at /n"},
		{"functions fail", `({f: function () {}})`, "", "a function at /f"},
		{"a function result fails", `function () {}`, "", "a function at (root)"},
		{"symbols fail", `[Symbol("s")]`, "", "a symbol at /0"},
		{"BigInts fail", `({b: 10n})`, "", "a BigInt at /b"},
		{"cycles fail", `(function () { var o = {a: []}; o.a.push(o); return o })()`, "", "a cycle at /a/0"},
		{"throwing getters fail", `({get g() { throw new Error("getter") }})`, "", "Error: getter"},
		{"throwing toJSON fails", `({toJSON: function () { throw new TypeError("tj") }})`, "", "TypeError: tj"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, testEngine, "conv", "function merge(c, v) { return "+tt.expr+" }")
			got, keep, err := s.Run(nil, false, nil, ScriptContext{})
			if tt.err != "" {
				if !errors.Is(err, ErrScriptFailed) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want ErrScriptFailed mentioning %q", err, tt.err)
				}
				return
			}
			if err != nil || !keep {
				t.Fatalf("Run = %v, %v", keep, err)
			}
			if g := mustEncode(t, got); g != tt.want {
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
}

func TestScriptResultSizeIsTheEncodedLength(t *testing.T) {
	results := []string{
		`1`, `-1.5e-7`, `null`, `true`, `false`, `""`, `"abc"`,
		`"quote \" backslash \\ controls \b\f\n\r\t \u0001 \u001f del \u007f"`,
		`"\u2028\u2029 é 😀 \ud800 <&>"`,
		`[]`, `{}`, `[1,[2,[]],{}]`, `{"a":{"b c":[null,true,"x"]},"é\n":0.25}`,
		`{"a":undefined,"b":[undefined,function(){}.x]}`,
	}
	for _, expr := range results {
		s := mustCompile(t, testEngine, "size", "function merge() { return "+expr+" }")
		got, _, err := s.Run(nil, false, nil, ScriptContext{})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		n := len(mustEncode(t, got))
		exact := NewScriptEngine(ScriptOptions{MaxResultBytes: n})
		if _, _, err := mustCompile(t, exact, "size", s.Source).Run(nil, false, nil, ScriptContext{}); err != nil {
			t.Errorf("%s: limit %d (its encoded length) rejects it: %v", expr, n, err)
		}
		if n == 1 {
			continue // a limit of 0 means the default
		}
		tight := NewScriptEngine(ScriptOptions{MaxResultBytes: n - 1})
		if _, _, err := mustCompile(t, tight, "size", s.Source).Run(nil, false, nil, ScriptContext{}); !errors.Is(err, ErrScriptFailed) {
			t.Errorf("%s: limit %d (one below its encoded length) accepts it: %v", expr, n-1, err)
		}
	}
}

func TestScriptsAreDeterministic(t *testing.T) {
	tests := []struct {
		name, body, want, err string
	}{
		{"Math.random throws", `return Math.random()`, "", "Math.random is not available"},
		{"Date.now throws", `return Date.now()`, "", "Date.now() is not available"},
		{"new Date() throws", `return new Date()`, "", "new Date() is not available"},
		{"Date() throws", `return Date()`, "", "Date() is not available"},
		{"console is not defined", `console.log(1)`, "", "console is not defined"},
		{"require is not defined", `return require("fs")`, "", "require is not defined"},
		{"explicit times work", `return [new Date(86400000).toISOString(), Date.UTC(2020, 1, 3)]`, `["1970-01-02T00:00:00.000Z",1580688000000]`, ""},
		{"local time is UTC", `var d = new Date(2020, 0, 2, 3, 4, 5);
			return [d.toISOString(), d.getHours(), d.getDate(), d.getDay(), d.getTimezoneOffset(), d.toString(), "" + d, d.toDateString(), d.toTimeString()]`,
			`["2020-01-02T03:04:05.000Z",3,2,4,0,"Thu Jan 02 2020 03:04:05 GMT+0000 (Coordinated Universal Time)","Thu Jan 02 2020 03:04:05 GMT+0000 (Coordinated Universal Time)","Thu Jan 02 2020","03:04:05 GMT+0000 (Coordinated Universal Time)"]`, ""},
		{"local setters are UTC", `var d = new Date(0); d.setHours(5); d.setFullYear(2001); return d.toISOString()`, `"2001-01-01T05:00:00.000Z"`, ""},
		{"ISO date-times without offset are UTC", `return [Date.parse("2020-01-01T10:00"), new Date("2020-01-01T10:00:00+02:00").toISOString(), new Date("2020-01-01").getTime()]`,
			`[1577872800000,"2020-01-01T08:00:00.000Z",1577836800000]`, ""},
		{"other date formats are invalid", `return [isNaN(Date.parse("Jan 1 2020")), String(new Date("1/1/2020"))]`, `[true,"Invalid Date"]`, ""},
		{"instanceof and copies work", `var d = new Date(5); return [d instanceof Date, new Date(d).getTime(), d.constructor === Date]`, `[true,5,true]`, ""},
	}
	run := func(t *testing.T, e *ScriptEngine) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := mustCompile(t, e, "det", "function merge(c, v) {\n"+tt.body+"\n}")
				got, _, err := s.Run(nil, false, nil, ScriptContext{})
				if tt.err != "" {
					if !errors.Is(err, ErrScriptFailed) || !strings.Contains(err.Error(), tt.err) {
						t.Fatalf("error = %v, want ErrScriptFailed mentioning %q", err, tt.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if g := mustEncode(t, got); g != tt.want {
					t.Errorf("got  %s\nwant %s", g, tt.want)
				}
			})
		}
	}
	run(t, testEngine)
	// The machine's time zone must not matter. time.Local is process-wide, so
	// this test must not run in parallel with others.
	saved := time.Local
	time.Local = time.FixedZone("UTC+5:30", 5*3600+1800)
	defer func() { time.Local = saved }()
	t.Run("in another time zone", func(t *testing.T) {
		run(t, NewScriptEngine(ScriptOptions{}))
	})
}

func TestScriptStateDoesNotLeakBetweenCalls(t *testing.T) {
	counter := mustCompile(t, testEngine, "closure", `var n = 0; var cache = {}; function merge(c, v) { n++; cache[v] = n; return [n, Object.keys(cache).length] }`)
	for i := range 20 {
		got, _, err := counter.Run(nil, false, fmt.Sprint(i), ScriptContext{})
		if err != nil {
			t.Fatal(err)
		}
		if g := mustEncode(t, got); g != "[1,1]" {
			t.Fatalf("call %d returned %s, want [1,1]", i, g)
		}
	}
	attempts := []string{
		`globalThis.leak = 1`,
		`Object.prototype.leak = 1`,
		`Array.prototype.leak = 1`,
		`Array.prototype.push = function () {}`,
		`Math.max = function () { return 0 }`,
		`JSON.stringify = function () { return "" }`,
		`String.prototype.trim = function () { return "x" }`,
		`Date.prototype.getTime = function () { return 0 }`,
		`Function.prototype.leak = 1`,
		`Object.getPrototypeOf([][Symbol.iterator]()).next = function () { return {done: true} }`,
		`Object.getPrototypeOf(function* () {}).prototype.leak = 1`,
		`Object.getPrototypeOf(Int8Array).prototype.leak = 1`,
		`Error.prototype.leak = 1`,
		`leak = 1`,
		`Object.defineProperty(globalThis, "leak", {value: 1})`,
		`delete Array.prototype.map`,
	}
	probe := mustCompile(t, testEngine, "probe", `function merge() {
		var it = [1][Symbol.iterator]().next();
		return [typeof leak, ({}).leak, [].leak, (function () {}).leak, new Error().leak, new Int8Array(1).leak,
			[1, 2].push(3), Math.max(1, 2), JSON.stringify(1), " a ".trim(), new Date(7).getTime(), it.done, typeof [].map]
	}`)
	const clean = `["undefined",null,null,null,null,null,3,2,"1","a",7,false,"function"]`
	for _, src := range attempts {
		t.Run(src, func(t *testing.T) {
			s := mustCompile(t, testEngine, "leak", "function merge() {\n"+src+"\n}")
			for range 3 { // reach more than one pooled runtime
				if _, _, err := s.Run(nil, false, nil, ScriptContext{}); !errors.Is(err, ErrScriptFailed) || !strings.Contains(err.Error(), "Error") {
					t.Fatalf("error = %v, want a failure from the frozen builtins", err)
				}
			}
			got, _, err := probe.Run(nil, false, nil, ScriptContext{})
			if err != nil {
				t.Fatal(err)
			}
			if g := mustEncode(t, got); g != clean {
				t.Fatalf("state leaked:\ngot  %s\nwant %s", g, clean)
			}
		})
	}
	t.Run("top-level code runs on every call", func(t *testing.T) {
		s := mustCompile(t, testEngine, "top", `var calls = []; calls.push(1); function merge() { return calls }`)
		for range 3 {
			got, _, err := s.Run(nil, false, nil, ScriptContext{})
			if err != nil || mustEncode(t, got) != "[1]" {
				t.Fatalf("got %v, %v", got, err)
			}
		}
	})
}

func TestScriptLimits(t *testing.T) {
	e := NewScriptEngine(ScriptOptions{Timeout: 250 * time.Millisecond, MaxCallStackSize: 64, MaxResultBytes: 1000})
	healthy := mustCompile(t, e, "ok", `function merge(c, v) { var s = 0; for (var i = 0; i < 1000; i++) s += i; return s + v }`)
	tests := []struct {
		name, body, err string
	}{
		{"an infinite loop times out", `while (true) {}`, "interrupted after 250ms"},
		{"a loop in a result getter times out", `return {get g() { for (;;) {} }}`, "interrupted after 250ms"},
		{"a loop in toJSON times out", `return {toJSON: function () { for (;;) {} }}`, "interrupted after 250ms"},
		{"a loop in a thrown value's toString times out", `throw {toString: function () { for (;;) {} }}`, "interrupted after 250ms"},
		{"deep recursion overflows the stack", `function f(n) { return f(n + 1) + 1 } return f(0)`, "stack overflow: more than 64 nested calls"},
		{"a large result fails", `return "x".repeat(2000)`, "result is larger than 1000 bytes"},
		{"a long sparse array fails", `var a = []; a.length = 1e9; return a`, "result is larger than 1000 bytes"},
		{"a shared subtree that doubles fails", `var a = [1]; for (var i = 0; i < 40; i++) a = [a, a]; return a`, "result is larger than 1000 bytes"},
		{"a caught stack overflow still fails", `function f() { return f() } try { f() } catch (e) { return "caught" }`, "stack overflow"},
		{"a caught timeout still fails", `try { for (;;) {} } catch (e) { return "caught" }`, "interrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, e, "limit", "function merge(c, v) {\n"+tt.body+"\n}")
			start := time.Now()
			_, _, err := s.Run(nil, false, nil, ScriptContext{Version: 3})
			if !errors.Is(err, ErrScriptFailed) {
				t.Fatalf("error = %v, want ErrScriptFailed", err)
			}
			if tt.err != "ErrScriptFailed" && !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %q does not mention %q", err, tt.err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
			for i := range 4 { // the engine stays usable
				got, _, err := healthy.Run(nil, false, mustDecode(t, fmt.Sprint(i)), ScriptContext{})
				if err != nil || mustEncode(t, got) != fmt.Sprint(499500+i) {
					t.Fatalf("next call = %v, %v", got, err)
				}
			}
		})
	}
	t.Run("the timeout fires close to its limit", func(t *testing.T) {
		s := mustCompile(t, e, "loop", "function merge() { for (;;) {} }")
		start := time.Now()
		_, _, err := s.Run(nil, false, nil, ScriptContext{})
		if d := time.Since(start); err == nil || d > 250*time.Millisecond+500*time.Millisecond {
			t.Fatalf("Run = %v after %v", err, d)
		}
	})
	t.Run("the default timeout is 50ms", func(t *testing.T) {
		s := mustCompile(t, testEngine, "loop", "function merge() { for (;;) {} }")
		_, _, err := s.Run(nil, false, nil, ScriptContext{})
		if err == nil || !strings.Contains(err.Error(), "interrupted after 50ms") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("the default result limit is 1 MiB", func(t *testing.T) {
		slow := NewScriptEngine(ScriptOptions{Timeout: 10 * time.Second}) // -race is slow
		s := mustCompile(t, slow, "big", `function merge(c, n) { return "x".repeat(n) }`)
		if _, _, err := s.Run(nil, false, 1<<20-2, ScriptContext{}); err != nil {
			t.Fatalf("1 MiB with quotes: %v", err)
		}
		if _, _, err := s.Run(nil, false, 2e6, ScriptContext{}); !errors.Is(err, ErrScriptFailed) || !strings.Contains(err.Error(), "result is larger than 1048576 bytes") {
			t.Fatalf("2e6 bytes: %v", err)
		}
	})
	t.Run("results nest at most 10000 deep", func(t *testing.T) {
		slow := NewScriptEngine(ScriptOptions{Timeout: 10 * time.Second}) // -race is slow
		s := mustCompile(t, slow, "deep", "function merge(c, n) { var a = []; for (var i = 1; i < n; i++) a = [a]; return a }")
		got, _, err := s.Run(nil, false, 10000, ScriptContext{})
		if err != nil {
			t.Fatalf("10000 deep: %v", err)
		}
		if _, err := Decode([]byte(mustEncode(t, got))); err != nil {
			t.Fatalf("a 10000 deep result does not decode: %v", err)
		}
		if _, _, err := s.Run(nil, false, 10001, ScriptContext{}); err == nil || !strings.Contains(err.Error(), "nesting deeper than 10000") {
			t.Fatalf("10001 deep: %v", err)
		}
	})
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

func TestRuntimesAreReusedAfterOrdinaryFailuresOnly(t *testing.T) {
	e := NewScriptEngine(ScriptOptions{Timeout: 250 * time.Millisecond, MaxCallStackSize: 32, MaxResultBytes: 100})
	tests := []struct {
		body  string
		reuse bool
	}{
		{`return 1`, true},
		{`throw new Error("x")`, true},
		{`return NaN`, true},
		{`return {get g() { throw new Error("g") }}`, true},
		{`return "x".repeat(200)`, true},
		{`for (;;) {}`, false},
		{`function f() { return f() } return f()`, false},
	}
	for _, tt := range tests {
		s := mustCompile(t, e, "reuse", "function merge() {\n"+tt.body+"\n}")
		before := <-e.idle
		e.idle <- before
		s.Run(nil, false, nil, ScriptContext{})
		var after *scriptRuntime
		select {
		case after = <-e.idle:
			e.idle <- after
		default:
		}
		if reused := after == before; reused != tt.reuse {
			t.Errorf("%s: runtime reused = %v, want %v", tt.body, reused, tt.reuse)
		}
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

func TestRunRefusesValuesThatAreNotDecodedJSON(t *testing.T) {
	s := mustCompile(t, testEngine, "echo", `function merge(c, v) { return v }`)
	if _, _, err := s.Run(nil, false, struct{}{}, ScriptContext{}); !errors.Is(err, ErrScriptFailed) || !strings.Contains(err.Error(), "struct {}") {
		t.Fatalf("error = %v", err)
	}
}

func TestScriptsGiveTheSameResultFromManyGoroutines(t *testing.T) {
	scripts := []*Script{
		loadExample(t, "counter.js"),
		loadExample(t, "capped_append.js"),
		loadExample(t, "set_union.js"),
		loadExample(t, "max.js"),
	}
	values := []string{`1`, `{"item":{"b":1,"a":[2]},"cap":5}`, `["x",{"k":1},"y"]`, `3.5`}
	fold := func() (string, error) {
		var doc any = map[string]any{}
		for i := range 40 {
			k := i % len(scripts)
			var err error
			doc, err = Apply(doc, Delta{Type: ScriptType, Path: Path{"f", fmt.Sprint(k)}, Value: []byte(values[k]),
				Script: scripts[k], Context: ScriptContext{Version: int64(i)}})
			if err != nil {
				return "", err
			}
		}
		b, err := Encode(doc)
		return string(b), err
	}
	want, err := fold()
	if err != nil {
		t.Fatal(err)
	}
	const goroutines = 16
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Go(func() {
			for range 5 {
				got, err := fold()
				if err != nil {
					errs <- err
					return
				}
				if got != want {
					errs <- fmt.Errorf("got %s, want %s", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
