package lake_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/merge"
	"github.com/hkloudou/lake/v2/storage"
)

func exampleScript(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile("examples/merge-scripts/" + name + ".js")
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

func mustPutScript(t *testing.T, c *lake.Client, name, source string) {
	t.Helper()
	if err := c.PutScript(context.Background(), name, source); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentCounterIncrementsAllCount(t *testing.T) {
	l := newTestLake(t)
	store := storage.NewMemoryStorage()
	client := l.client(withStorage(store))
	mustPutScript(t, client, "counter", exampleScript(t, "counter"))
	ctx := context.Background()
	var acked atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := client.Write(ctx, lake.WriteRequest{Catalog: "stats", Field: "views", Value: 1, MergeType: lake.MergeScript, Script: "counter"}); err != nil {
					t.Error(err)
					return
				}
				acked.Add(1)
			}
		}()
	}
	// Readers snapshot while the counter moves.
	for range 20 {
		mustRead(t, client, lake.ReadRequest{Catalog: "stats", GenerateSnap: true})
	}
	wg.Wait()
	want := fmt.Sprintf(`{"views":%d}`, acked.Load())
	for _, reader := range []*lake.Client{client, l.client(withStorage(store))} {
		if res := mustRead(t, reader, lake.ReadRequest{Catalog: "stats", Strict: true}); res.Data.String() != want {
			t.Fatalf("counter = %s, want %s", res.Data, want)
		}
	}
}

func TestExampleScriptsThroughWriteAndRead(t *testing.T) {
	for _, tc := range []struct {
		script string
		values []any
		want   string
	}{
		{"counter", []any{5, nil, -2}, `{"f":4}`},
		{"max", []any{3, 10, 7}, `{"f":10}`},
		{"set_union", []any{[]string{"a", "b"}, "b", []string{"c", "a"}}, `{"f":["a","b","c"]}`},
		{"capped_append", []any{map[string]any{"item": 1, "cap": 2}, map[string]any{"item": 2, "cap": 2}, map[string]any{"item": 3, "cap": 2}}, `{"f":[2,3]}`},
	} {
		t.Run(tc.script, func(t *testing.T) {
			client := newTestLake(t).client()
			mustPutScript(t, client, tc.script, exampleScript(t, tc.script))
			for _, v := range tc.values {
				mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "f", Value: v, MergeType: lake.MergeScript, Script: tc.script})
			}
			res := mustRead(t, client, lake.ReadRequest{Catalog: "c", Strict: true, GenerateSnap: true})
			again := mustRead(t, client, lake.ReadRequest{Catalog: "c"})
			if res.Data.String() != tc.want || again.Data.String() != tc.want {
				t.Fatalf("got %s then %s, want %s", res.Data, again.Data, tc.want)
			}
		})
	}
}

func TestEachDeltaMergesWithTheScriptVersionItWasWrittenAgainst(t *testing.T) {
	l := newTestLake(t)
	store := storage.NewMemoryStorage()
	client := l.client(withStorage(store))
	ctx := context.Background()
	mustPutScript(t, client, "step", `function merge(c, v) { return (c || 0) + 1 }`)
	v1 := mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "n", Value: 0, MergeType: lake.MergeScript, Script: "step"})
	mustPutScript(t, client, "step", `function merge(c, v) { return (c || 0) * 10 }`)
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "n", Value: 0, MergeType: lake.MergeScript, Script: "step"})
	if info, err := client.GetScript(ctx, "step"); err != nil || !strings.Contains(info.Source, "* 10") || len(info.Hash) != 64 {
		t.Fatalf("GetScript = %+v, %v", info, err)
	}
	// A new client (a new process would do the same) folds v1 with the first
	// source and the second delta with the second: (0+1)*10.
	for _, reader := range []*lake.Client{client, l.client(withStorage(store))} {
		if res := mustRead(t, reader, lake.ReadRequest{Catalog: "c", Strict: true}); res.Data.String() != `{"n":10}` || res.Version <= v1 {
			t.Fatalf("got %s", res.Data)
		}
	}
	// Deleting the name stops new writes but not the fold of old deltas.
	if err := client.DeleteScript(ctx, "step"); err != nil {
		t.Fatal(err)
	}
	err := client.Write(ctx, lake.WriteRequest{Catalog: "c", Field: "n", Value: 0, MergeType: lake.MergeScript, Script: "step"})
	if !errors.Is(err, lake.ErrScriptNotFound) {
		t.Fatalf("write with a deleted script: %v", err)
	}
	if res := mustRead(t, l.client(withStorage(store)), lake.ReadRequest{Catalog: "c", Strict: true}); res.Data.String() != `{"n":10}` {
		t.Fatalf("after delete: %s", res.Data)
	}
}

func TestBrokenScriptsAreRejectedAtPutScript(t *testing.T) {
	client := newTestLake(t).client()
	ctx := context.Background()
	for _, tc := range []struct {
		name, source, says string
	}{
		{"syntax", "function merge(c, v) {\n  return c +\n}", "line"},
		{"nomerge", "function combine(c, v) { return v }", "merge"},
		{"notfunc", "var merge = 5", "merge"},
		{"bad name!", "function merge(c, v) { return v }", "name"},
	} {
		err := client.PutScript(ctx, tc.name, tc.source)
		if !errors.Is(err, lake.ErrInvalidScript) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("PutScript(%q) = %v, want ErrInvalidScript mentioning %q", tc.name, err, tc.says)
		}
	}
	if list, err := client.Scripts(ctx); err != nil || len(list) != 0 {
		t.Fatalf("broken scripts were registered: %v, %v", list, err)
	}
}

func TestScriptWritesWithBadInputWriteNothing(t *testing.T) {
	l := newTestLake(t)
	mem := storage.NewMemoryStorage()
	client := l.client(withStorage(mem))
	ctx := context.Background()
	for _, tc := range []struct {
		req  lake.WriteRequest
		want error
	}{
		{lake.WriteRequest{Catalog: "c", Field: "f", Value: 1, MergeType: lake.MergeScript, Script: "nope"}, lake.ErrScriptNotFound},
		{lake.WriteRequest{Catalog: "c", Field: "f", Value: 1, MergeType: lake.MergeScript}, lake.ErrInvalidScript},
		{lake.WriteRequest{Catalog: "c", Field: "f", Value: 1, Script: "counter"}, lake.ErrInvalidScript},
	} {
		if err := client.Write(ctx, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.req, err, tc.want)
		}
	}
	if mem.Len() != 0 || l.logLen("c") != 0 {
		t.Fatalf("%d bodies and %d deltas written", mem.Len(), l.logLen("c"))
	}
}

func TestAFailingScriptIsSkippedByEveryReaderOrFailsAStrictRead(t *testing.T) {
	l := newTestLake(t)
	store := storage.NewMemoryStorage()
	fast := func(o *lake.Option) {
		o.Scripts = merge.ScriptOptions{Timeout: 200 * time.Millisecond, MaxResultBytes: 1024}
	}
	client := l.client(withStorage(store), fast)
	ctx := context.Background()
	mustPutScript(t, client, "picky", `function merge(c, v) { if (v < 0) throw new Error("negative: " + v); return v }`)
	mustPutScript(t, client, "spin", `function merge(c, v) { while (true) {} }`)
	mustPutScript(t, client, "deep", `function merge(c, v) { function f(n) { return f(n + 1) + 1 } return f(0) }`)
	mustPutScript(t, client, "huge", `function merge(c, v) { return "x".repeat(2048) }`)
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1, MergeType: lake.MergeScript, Script: "picky"})
	var bad []int64
	for _, s := range []struct {
		script string
		value  any
	}{{"picky", -5}, {"spin", 0}, {"deep", 0}, {"huge", 0}} {
		bad = append(bad, mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: s.value, MergeType: lake.MergeScript, Script: s.script}))
	}
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "b", Value: 2})
	for _, reader := range []*lake.Client{client, l.client(withStorage(store), fast)} {
		res := mustRead(t, reader, lake.ReadRequest{Catalog: "c"})
		if res.Data.String() != `{"a":1,"b":2}` || len(res.Skipped) != len(bad) {
			t.Fatalf("got %s, skipped %+v", res.Data, res.Skipped)
		}
		for i, s := range res.Skipped {
			if s.Version != bad[i] || s.Merge != "script" {
				t.Fatalf("skipped[%d] = %+v, want version %d", i, s, bad[i])
			}
		}
		for i, says := range []string{"negative: -5", "200ms", "stack", "large"} {
			if !strings.Contains(res.Skipped[i].Reason, says) {
				t.Errorf("skip reason %q does not say %q", res.Skipped[i].Reason, says)
			}
		}
		if _, err := reader.Read(ctx, lake.ReadRequest{Catalog: "c", Strict: true}); !errors.Is(err, lake.ErrScriptFailed) {
			t.Fatalf("strict read: %v, want ErrScriptFailed", err)
		}
	}
	// The process is healthy: scripts still run.
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 7, MergeType: lake.MergeScript, Script: "picky"})
	if res := mustRead(t, client, lake.ReadRequest{Catalog: "c"}); res.Data.String() != `{"a":7,"b":2}` {
		t.Fatalf("got %s", res.Data)
	}
}
