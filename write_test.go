package lake_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/storage"
)

// step is one write of a scenario.
type step struct {
	field string
	merge lake.MergeType
	value any
}

func testMergeTypesAndPathFormsThroughWriteAndRead(t *testing.T, store storage.Storage) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	for _, tc := range []struct {
		name  string
		steps []step
		want  string
	}{
		{"set creates parents", []step{{"profile.name.first", lake.MergeSet, "John"}}, `{"profile":{"name":{"first":"John"}}}`},
		{"set overwrites", []step{{"a", lake.MergeSet, 1}, {"a", lake.MergeSet, 2}}, `{"a":2}`},
		{"set through a number replaces it with an object", []step{{"a", lake.MergeSet, 5}, {"a.b", lake.MergeSet, 1}}, `{"a":{"b":1}}`},
		{"set whole document", []step{{"x", lake.MergeSet, 1}, {"", lake.MergeSet, map[string]any{"y": 2}}}, `{"y":2}`},
		{"insert when absent", []step{{"a", lake.MergeInsert, 1}}, `{"a":1}`},
		{"insert when present is a no-op", []step{{"a", lake.MergeSet, 1}, {"a", lake.MergeInsert, 2}}, `{"a":1}`},
		{"insert through a number is a no-op", []step{{"a", lake.MergeSet, 5}, {"a.b", lake.MergeInsert, 1}}, `{"a":5}`},
		{"replace when present", []step{{"a", lake.MergeSet, 1}, {"a", lake.MergeReplace, 2}}, `{"a":2}`},
		{"replace when absent is a no-op", []step{{"a", lake.MergeReplace, 2}}, `{}`},
		{"delete", []step{{"a.b", lake.MergeSet, 1}, {"a.c", lake.MergeSet, 2}, {"a.b", lake.MergeDelete, nil}}, `{"a":{"c":2}}`},
		{"delete absent is a no-op", []step{{"a", lake.MergeDelete, nil}}, `{}`},
		{"delete whole document", []step{{"a", lake.MergeSet, 1}, {"", lake.MergeDelete, nil}}, `{}`},
		{"merge patch", []step{
			{"p", lake.MergeSet, map[string]any{"a": 1, "b": map[string]any{"c": 2, "d": 3}}},
			{"p", lake.MergePatch, raw(`{"a":null,"b":{"c":9},"e":true}`)},
		}, `{"p":{"b":{"c":9,"d":3},"e":true}}`},
		{"merge patch on absent field", []step{{"p", lake.MergePatch, raw(`{"a":1,"b":null}`)}}, `{"p":{"a":1}}`},
		{"json patch", []step{
			{"list", lake.MergeSet, []int{1, 2, 3}},
			{"list", lake.MergeJSONPatch, raw(`[{"op":"add","path":"/-","value":4},{"op":"remove","path":"/0"}]`)},
		}, `{"list":[2,3,4]}`},
		{"array index", []step{{"l", lake.MergeSet, []int{1, 2}}, {"l.1", lake.MergeSet, 20}, {"l.2", lake.MergeSet, 30}}, `{"l":[1,20,30]}`},
		{"escaped dot is part of the key", []step{{`a\.b.c`, lake.MergeSet, 1}}, `{"a.b":{"c":1}}`},
		{"json pointer", []step{{"/a~1b/c~0d", lake.MergeSet, 1}}, `{"a/b":{"c~d":1}}`},
		{"pointer and dotted forms agree", []step{{"/x/y", lake.MergeSet, 1}, {"x.y", lake.MergeSet, 2}}, `{"x":{"y":2}}`},
		{"unicode and odd characters in keys", []step{{"名前.a:b|c", lake.MergeSet, "ü"}}, `{"名前":{"a:b|c":"ü"}}`},
		{"exact big numbers", []step{{"n", lake.MergeSet, raw(`12345678901234567890`)}, {"f", lake.MergeSet, 0.1}}, `{"f":0.1,"n":12345678901234567890}`},
		{"raw JSON value", []step{{"r", lake.MergeSet, lake.JSON(`{"k":[true,null]}`)}}, `{"r":{"k":[true,null]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := newTestLake(t).client(withStorage(store))
			for _, s := range tc.steps {
				mustWrite(t, client, lake.WriteRequest{Catalog: "doc", Field: s.field, Value: s.value, MergeType: s.merge})
			}
			res := mustRead(t, client, lake.ReadRequest{Catalog: "doc"})
			if res.Data.String() != tc.want {
				t.Fatalf("got %s, want %s", res.Data, tc.want)
			}
			// A snapshot of the same deltas reads the same.
			snap := mustRead(t, client, lake.ReadRequest{Catalog: "doc", GenerateSnap: true})
			again := mustRead(t, client, lake.ReadRequest{Catalog: "doc"})
			if snap.Data.String() != tc.want || again.Data.String() != tc.want || again.Snapshot.Deltas != 0 {
				t.Fatalf("after snapshot: %s / %s (%+v)", snap.Data, again.Data, again.Snapshot)
			}
		})
	}
}

func testDeltasThatCannotApplyAreSkippedAndReported(t *testing.T, store storage.Storage) {
	client := newTestLake(t).client(withStorage(store))
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "l", Value: []int{1}})
	bad := mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "l.5", Value: 9})
	failing := mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "l", MergeType: lake.MergeJSONPatch,
		Value: json.RawMessage(`[{"op":"test","path":"/0","value":2},{"op":"add","path":"/-","value":3}]`)})
	last := mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "ok", Value: true})
	res := mustRead(t, client, lake.ReadRequest{Catalog: "c"})
	if res.Data.String() != `{"l":[1],"ok":true}` || res.Version != last {
		t.Fatalf("got %s at %d", res.Data, res.Version)
	}
	if len(res.Skipped) != 2 || res.Skipped[0].Version != bad || res.Skipped[1].Version != failing ||
		res.Skipped[0].Field != "l.5" || res.Skipped[1].Merge != "jsonpatch" || res.Skipped[0].Reason == "" {
		t.Fatalf("Skipped = %+v", res.Skipped)
	}
}

func TestBadInputGetsATypedErrorAndWritesNothing(t *testing.T) {
	huge := strings.Repeat("x", lake.DefaultMaxBodySize)
	for _, tc := range []struct {
		name string
		req  lake.WriteRequest
		want error
		says string
	}{
		{"empty catalog", lake.WriteRequest{Catalog: "", Field: "a", Value: 1}, lake.ErrInvalidCatalog, "empty"},
		{"catalog with a slash", lake.WriteRequest{Catalog: "a/b", Field: "a", Value: 1}, lake.ErrInvalidCatalog, `'/'`},
		{"catalog with a brace", lake.WriteRequest{Catalog: "a{b}", Field: "a", Value: 1}, lake.ErrInvalidCatalog, `'{'`},
		{"catalog of dots", lake.WriteRequest{Catalog: "..", Field: "a", Value: 1}, lake.ErrInvalidCatalog, "'.'"},
		{"catalog too long", lake.WriteRequest{Catalog: strings.Repeat("c", 129), Field: "a", Value: 1}, lake.ErrInvalidCatalog, "longer than 128"},
		{"empty path segment", lake.WriteRequest{Catalog: "c", Field: "a..b", Value: 1}, lake.ErrInvalidField, "a..b"},
		{"bad escape", lake.WriteRequest{Catalog: "c", Field: `a\x`, Value: 1}, lake.ErrInvalidField, `a\\x`},
		{"bad pointer escape", lake.WriteRequest{Catalog: "c", Field: "/a~2", Value: 1}, lake.ErrInvalidField, "~2"},
		{"invalid raw JSON", lake.WriteRequest{Catalog: "c", Field: "a", Value: json.RawMessage(`{"a":`)}, lake.ErrInvalidValue, "JSON"},
		{"unmarshalable value", lake.WriteRequest{Catalog: "c", Field: "a", Value: make(chan int)}, lake.ErrInvalidValue, "chan"},
		{"NaN", lake.WriteRequest{Catalog: "c", Field: "a", Value: math.NaN()}, lake.ErrInvalidValue, "NaN"},
		{"non-object whole document", lake.WriteRequest{Catalog: "c", Field: "", Value: 5}, lake.ErrInvalidValue, "object"},
		{"json patch that is not a list", lake.WriteRequest{Catalog: "c", Field: "a", Value: map[string]any{"op": "add"}, MergeType: lake.MergeJSONPatch}, lake.ErrInvalidValue, "array"},
		{"json patch with an unknown op", lake.WriteRequest{Catalog: "c", Field: "a", Value: json.RawMessage(`[{"op":"frob","path":"/x"}]`), MergeType: lake.MergeJSONPatch}, lake.ErrInvalidValue, "frob"},
		{"unknown merge type", lake.WriteRequest{Catalog: "c", Field: "a", Value: 1, MergeType: lake.MergeType(99)}, lake.ErrUnknownMergeType, "99"},
		{"body too large", lake.WriteRequest{Catalog: "c", Field: "a", Value: huge}, lake.ErrBodyTooLarge, "1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLake(t)
			mem := storage.NewMemoryStorage()
			client := l.client(withStorage(mem))
			err := client.Write(context.Background(), tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("message %q does not say %q", err, tc.says)
			}
			if mem.Len() != 0 {
				t.Fatalf("%d bodies stored", mem.Len())
			}
			if err := lake.ValidateCatalog(tc.req.Catalog); err == nil && l.logLen(tc.req.Catalog) != 0 {
				t.Fatal("a delta was committed")
			}
		})
	}
}

func TestMaxBodySizeIsConfigurable(t *testing.T) {
	client := newTestLake(t).client(func(o *lake.Option) { o.MaxBodySize = 10 })
	if err := client.Write(context.Background(), lake.WriteRequest{Catalog: "c", Field: "a", Value: "0123456789"}); !errors.Is(err, lake.ErrBodyTooLarge) {
		t.Fatalf("12-byte body with a 10-byte limit: %v", err)
	}
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: "01234567"})
}

func TestParseMergeTypeNamesEveryType(t *testing.T) {
	for _, mt := range []lake.MergeType{lake.MergeSet, lake.MergeInsert, lake.MergeReplace, lake.MergeDelete, lake.MergePatch, lake.MergeJSONPatch} {
		got, err := lake.ParseMergeType(mt.String())
		if err != nil || got != mt {
			t.Errorf("ParseMergeType(%q) = %v, %v", mt.String(), got, err)
		}
	}
	if _, err := lake.ParseMergeType("upsert"); !errors.Is(err, lake.ErrUnknownMergeType) {
		t.Errorf("upsert: %v", err)
	}
}

func TestAnUnwritableObjectStoreIsStorageUnavailableAndCommitsNothing(t *testing.T) {
	l := newTestLake(t)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o600)
	local, _ := storage.NewLocalStorage(file)
	client := l.client(withStorage(local))
	err := client.Write(context.Background(), lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	if !errors.Is(err, lake.ErrStorageUnavailable) {
		t.Fatalf("got %v, want ErrStorageUnavailable", err)
	}
	if n := l.logLen("c"); n != 0 {
		t.Fatalf("%d deltas committed after a failed body put", n)
	}
}

func TestABodyMissingFromStorageIsNamedByTheRead(t *testing.T) {
	l := newTestLake(t)
	dir := t.TempDir()
	local, err := storage.NewLocalStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	writer := l.client(withStorage(local))
	v := mustWrite(t, writer, lake.WriteRequest{Catalog: "c", Field: "profile.name", Value: "x"})
	// The object is lost from a durable store (deleted by hand, a bucket
	// rule): the catalog fails, with a message that says what is missing.
	objects := packFiles(t, dir)
	if len(objects) != 1 {
		t.Fatalf("objects %v", objects)
	}
	os.Remove(objects[0])
	_, err = l.client(withStorage(local)).Read(context.Background(), lake.ReadRequest{Catalog: "c"})
	if !errors.Is(err, lake.ErrBodyMissing) {
		t.Fatalf("got %v, want ErrBodyMissing", err)
	}
	for _, want := range []string{`"c"`, `"profile.name"`, ".packs/", " part 1", strconv.FormatInt(v, 10)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not name %q", err, want)
		}
	}
}

func TestABodyInAnotherProcesssMemoryIsSkippedNotFatal(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	writer := l.client(withStorage(storage.NewMemoryStorage()))
	v := mustWrite(t, writer, lake.WriteRequest{Catalog: "c", Field: "profile.name", Value: "x"})
	// Another process, with a durable store, writes after it.
	dir := t.TempDir()
	local, _ := storage.NewLocalStorage(dir)
	other := l.client(withStorage(local))
	mustWrite(t, other, lake.WriteRequest{Catalog: "c", Field: "b", Value: 2})

	res, err := other.Read(ctx, lake.ReadRequest{Catalog: "c"})
	if err != nil {
		t.Fatalf("a body in another process's memory broke the catalog: %v", err)
	}
	if res.Data.String() != `{"b":2}` || len(res.Skipped) != 1 || res.Skipped[0].Version != v {
		t.Fatalf("read %s, skipped %+v", res.Data, res.Skipped)
	}
	if !strings.Contains(res.Skipped[0].Reason, "memory of another process") {
		t.Fatalf("skip reason %q", res.Skipped[0].Reason)
	}
	// A strict read fails, naming what is missing.
	_, err = other.Read(ctx, lake.ReadRequest{Catalog: "c", Strict: true})
	if !errors.Is(err, lake.ErrBodyMissing) || !strings.Contains(err.Error(), "memory of another process") {
		t.Fatalf("strict read: %v", err)
	}
}

func testIdenticalDeltasAreEachKeptInTheLog(t *testing.T, store storage.Storage) {
	l := newTestLake(t)
	client := l.client(withStorage(store))
	mustWrite(t, client, lake.WriteRequest{Catalog: "h", Field: "a", Value: 1})
	mustWrite(t, client, lake.WriteRequest{Catalog: "h", Field: "a", MergeType: lake.MergeDelete})
	mustWrite(t, client, lake.WriteRequest{Catalog: "h", Field: "a", Value: 5, MergeType: lake.MergeInsert})
	if res := mustRead(t, client, lake.ReadRequest{Catalog: "h"}); res.Data.String() != `{"a":5}` {
		t.Fatalf("got %s", res.Data)
	}
	// A second, identical delete must not replace the first one in the log
	// (which would change what the insert above saw).
	mustWrite(t, client, lake.WriteRequest{Catalog: "h", Field: "a", MergeType: lake.MergeDelete})
	if n := l.logLen("h"); n != 4 {
		t.Fatalf("log holds %d entries, want 4", n)
	}
	if res := mustRead(t, client, lake.ReadRequest{Catalog: "h"}); res.Data.String() != `{}` {
		t.Fatalf("got %s", res.Data)
	}
}
