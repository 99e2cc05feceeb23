package merge

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

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

// Scripts can read the prelude's positions and source, so js_prelude.js is
// part of the fold's rules: any edit to it, comments included, fails here.
func TestScriptsSeeThePreludeAsWritten(t *testing.T) {
	s := mustCompile(t, testEngine, "stack", `function merge() {
		var stacks = [];
		try { Date.now() } catch (e) { stacks.push(e.stack) }
		try { Math.random() } catch (e) { stacks.push(e.stack) }
		return {stacks: stacks, date: Date.toString()}
	}`)
	got, _, err := s.Run(nil, false, nil, ScriptContext{})
	if err != nil {
		t.Fatal(err)
	}
	out := got.(map[string]any)
	stacks := out["stacks"].([]any)
	for i, frames := range [][]string{
		{"at clock (prelude:6:8", "at now (prelude:39:34"},
		{"at random (prelude:67:8"},
	} {
		for _, want := range frames {
			if stack := stacks[i].(string); !strings.Contains(stack, want) {
				t.Errorf("stack %q does not contain %q", stack, want)
			}
		}
	}
	const dateStart = "function Date(year, month, date, hours, minutes, seconds, ms) {\n\tif (new.target === undefined) clock(\"Date()\");\n"
	if date := out["date"].(string); !strings.HasPrefix(date, dateStart) {
		t.Errorf("Date.toString() = %q, want it to start %q", date, dateStart)
	}
}
