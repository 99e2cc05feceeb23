package merge

import (
	"testing"

	"github.com/dop251/goja"
)

// benchDoc is a small document with a counter at "stats.hits".
const benchDoc = `{"name":"widget","tags":["a","b"],"stats":{"hits":41,"misses":3}}`

func benchApply(b *testing.B, d Delta) {
	b.Helper()
	if _, err := Apply(mustDecodeB(b, benchDoc), d); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		doc := mustDecodeB(b, benchDoc)
		for pb.Next() {
			var err error
			if doc, err = Apply(doc, d); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func mustDecodeB(b *testing.B, s string) any {
	v, err := Decode([]byte(s))
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// BenchmarkApplyScriptCounter applies the counter example script; compare
// with BenchmarkApplyNativeSet for the cost of running a script.
func BenchmarkApplyScriptCounter(b *testing.B) {
	s := loadExample(b, "counter.js")
	benchApply(b, Delta{Type: ScriptType, Path: Path{"stats", "hits"}, Value: []byte(`1`), Script: s,
		Context: ScriptContext{Catalog: "bench", Field: "stats.hits", Version: 1}})
}

// BenchmarkApplyNativeSet sets a number at the same path without a script.
func BenchmarkApplyNativeSet(b *testing.B) {
	benchApply(b, Delta{Type: Set, Path: Path{"stats", "hits"}, Value: []byte(`42`)})
}

// convDoc is a mid-sized document for the conversion benchmarks.
const convDoc = `{"id":"0192-abc","name":"widget","price":12.5,"qty":3,"active":true,"tags":["a","b","c","d"],
"dims":{"w":10,"h":20,"d":0.25},"history":[{"v":1,"at":"2026-01-01T00:00:00Z"},{"v":2,"at":"2026-01-02T00:00:00Z"},
{"v":3,"at":"2026-01-03T00:00:00Z"}],"notes":null,"owner":{"id":7,"name":"ann","roles":["admin","dev"]}}`

// BenchmarkScriptToJS compares the ways to hand a decoded value to a
// script: building JavaScript values directly (what Run does) or encoding
// the value and calling JSON.parse.
func BenchmarkScriptToJS(b *testing.B) {
	rt, err := testEngine.newRuntime()
	if err != nil {
		b.Fatal(err)
	}
	v := mustDecodeB(b, convDoc)
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := toJS(rt.vm, v); err != nil {
				b.Fatal(err)
			}
		}
	})
	parse, _ := goja.AssertFunction(rt.vm.Get("JSON").ToObject(rt.vm).Get("parse"))
	b.Run("encode+JSON.parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			text, err := Encode(v)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := parse(goja.Undefined(), rt.vm.ToValue(string(text))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkScriptFromJS compares the ways to read a script's result: the
// direct walk Run uses (which also rejects NaN and functions) or
// JSON.stringify followed by Decode (which would silently turn NaN into null).
func BenchmarkScriptFromJS(b *testing.B) {
	rt, err := testEngine.newRuntime()
	if err != nil {
		b.Fatal(err)
	}
	v, err := toJS(rt.vm, mustDecodeB(b, convDoc))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := fromJS{vm: rt.vm, max: defaultScriptMaxResultBytes}
			if _, _, err := c.value(v, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	stringify, _ := goja.AssertFunction(rt.vm.Get("JSON").ToObject(rt.vm).Get("stringify"))
	b.Run("JSON.stringify+decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			text, err := stringify(goja.Undefined(), v)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Decode([]byte(text.String())); err != nil {
				b.Fatal(err)
			}
		}
	})
}
