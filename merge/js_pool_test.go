package merge

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

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

func TestScriptsGiveTheSameResultFromManyGoroutines(t *testing.T) {
	// This test is about results, not time: with the default 50ms, 16
	// goroutines under -race on a loaded machine time out now and then.
	slow := NewScriptEngine(ScriptOptions{Timeout: 10 * time.Second})
	scripts := []*Script{
		loadExampleOn(t, slow, "counter.js"),
		loadExampleOn(t, slow, "capped_append.js"),
		loadExampleOn(t, slow, "set_union.js"),
		loadExampleOn(t, slow, "max.js"),
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
