package merge

import (
	"errors"
	"strings"
	"testing"
)

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

func TestRunRefusesValuesThatAreNotDecodedJSON(t *testing.T) {
	s := mustCompile(t, testEngine, "echo", `function merge(c, v) { return v }`)
	if _, _, err := s.Run(nil, false, struct{}{}, ScriptContext{}); !errors.Is(err, ErrScriptFailed) || !strings.Contains(err.Error(), "struct {}") {
		t.Fatalf("error = %v", err)
	}
}
