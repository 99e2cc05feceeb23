package lake_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/storage"
)

// historyClient opens a client of a fresh lake on one engine, with bodies
// in a local directory and no background compaction (the tests compact
// when they choose), nor a minimum age for trims.
func historyClient(t *testing.T, engine string, opts ...func(*lake.Option)) *lake.Client {
	t.Helper()
	store, err := storage.NewLocalStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	policy := func(o *lake.Option) {
		o.Storage = store
		o.Compaction = lake.CompactionPolicy{Interval: -1, MinAge: -1}
	}
	switch engine {
	case "redis":
		return newTestLake(t).client(append([]func(*lake.Option){policy}, opts...)...)
	case "file":
		c := lake.NewLake("file://"+t.TempDir(), append([]func(*lake.Option){policy, func(o *lake.Option) { o.Logger = slog.New(slog.DiscardHandler) }}, opts...)...)
		t.Cleanup(func() { c.Close() })
		return c
	}
	t.Fatalf("unknown engine %q", engine)
	return nil
}

// randomWrite makes one write of a random merge type to one of a few
// fields, some of which conflict (a replace of an absent field, a patch
// that does not apply): every reader must skip the same ones.
func randomWrite(rng *rand.Rand, catalog string) lake.WriteRequest {
	fields := []string{"a", "a.b", "a.c", "n", "list", "x.y.z", ""}
	field := fields[rng.IntN(len(fields))]
	req := lake.WriteRequest{Catalog: catalog, Field: field}
	switch rng.IntN(8) {
	case 0, 1:
		req.MergeType, req.Value = lake.MergeSet, map[string]any{"v": rng.IntN(100), "s": fmt.Sprint("ü|", rng.IntN(9))}
	case 2:
		req.MergeType, req.Value = lake.MergeInsert, rng.IntN(1000)
	case 3:
		req.MergeType, req.Value = lake.MergeReplace, []any{rng.IntN(5), "r"}
	case 4:
		req.MergeType = lake.MergeDelete
	case 5:
		req.MergeType, req.Value = lake.MergePatch, map[string]any{"p": rng.IntN(50), "v": nil}
	case 6:
		req.MergeType, req.Value = lake.MergeJSONPatch, []any{map[string]any{"op": "add", "path": "/j", "value": rng.IntN(7)}}
	default:
		req.Field = "n"
		req.MergeType, req.Value, req.Script = lake.MergeScript, rng.IntN(10), "counter"
	}
	if req.Field == "" && req.MergeType != lake.MergePatch && req.MergeType != lake.MergeJSONPatch {
		req.Field = "whole"
	}
	return req
}

func TestEveryRecordedVersionReadsBackIdenticalAfterCompaction(t *testing.T) {
	for _, engine := range []string{"redis", "file"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			c := historyClient(t, engine)
			mustPutScript(t, c, "counter", exampleScript(t, "counter"))
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 7))
			const catalog = "prop"
			recorded := map[int64]string{}
			var versions []int64
			write := func(n int) {
				for range n {
					versions = append(versions, mustWrite(t, c, randomWrite(rng, catalog)))
					if rng.IntN(4) == 0 {
						r := mustRead(t, c, lake.ReadRequest{Catalog: catalog, GenerateSnap: rng.IntN(3) == 0})
						recorded[r.Version] = string(r.Data)
					}
				}
			}
			compact := func() *lake.CompactResult {
				res, err := c.Compact(ctx, catalog)
				if err != nil || res.Busy {
					t.Fatalf("Compact = %+v, %v", res, err)
				}
				if res.Trimmed != res.Snapshot || res.Archived < res.Snapshot {
					t.Fatalf("an explicit compaction trims all it may: %+v", res)
				}
				return res
			}
			write(120)
			if res := compact(); res.Segments == 0 || res.Entries != 120 || res.Removed != 120 {
				t.Fatalf("first compaction: %+v, want 120 entries archived and removed", res)
			}
			write(80)
			compact()
			if res := compact(); res.Segments != 0 || res.Removed != 0 {
				t.Fatalf("a compaction with nothing new did something: %+v", res)
			}
			write(40)
			last := mustRead(t, c, lake.ReadRequest{Catalog: catalog})
			recorded[last.Version] = string(last.Data)

			// Every recorded version, from segments, log or both.
			for v, want := range recorded {
				got, err := c.Read(ctx, lake.ReadRequest{Catalog: catalog, AtVersion: v})
				if err != nil {
					t.Fatalf("read at %d: %v", v, err)
				}
				if string(got.Data) != want || got.Version != v {
					t.Fatalf("read at %d: version %d\n got %s\nwant %s", v, got.Version, got.Data, want)
				}
			}
			// Between two versions the document is the older one's, and a
			// time maps onto versions.
			sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
			for v, want := range recorded {
				i := sort.Search(len(versions), func(i int) bool { return versions[i] > v })
				if i == len(versions) || versions[i] == v+1 {
					continue
				}
				got, err := c.Read(ctx, lake.ReadRequest{Catalog: catalog, AtTime: time.UnixMicro(v + 1)})
				if err != nil || string(got.Data) != want || got.Version != v {
					t.Fatalf("read at time %d: %v, %v; want %s at %d", v+1, got, err, want, v)
				}
			}
			// The present reads the same from a client with no cache.
			fresh := mustRead(t, c, lake.ReadRequest{Catalog: catalog})
			if string(fresh.Data) != recorded[last.Version] {
				t.Fatalf("present after compaction: %s, want %s", fresh.Data, recorded[last.Version])
			}
		})
	}
}

func TestReadsOfThePastRefuseBadVersionsWithTypedErrors(t *testing.T) {
	ctx := context.Background()
	c := historyClient(t, "redis")
	v := mustWrite(t, c, lake.WriteRequest{Catalog: "bad", Field: "a", Value: 1})
	for _, req := range []lake.ReadRequest{
		{Catalog: "bad", AtVersion: -1},
		{Catalog: "bad", AtVersion: 1 << 60},
		{Catalog: "bad", AtVersion: v, AtTime: time.Now()},
		{Catalog: "bad", AtTime: time.Now().Add(time.Hour)},
		{Catalog: "bad", AtVersion: time.Now().Add(time.Hour).UnixMicro()},
		{Catalog: "bad", AtTime: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := c.Read(ctx, req); !errors.Is(err, lake.ErrInvalidVersion) || !lake.IsInputError(err) {
			t.Errorf("Read(%+v) = %v, want ErrInvalidVersion", req, err)
		}
	}
	// Before the first write the catalog was empty.
	if r, err := c.Read(ctx, lake.ReadRequest{Catalog: "bad", AtVersion: v - 1}); err != nil || string(r.Data) != "{}" || r.Version != 0 {
		t.Fatalf("read before the first version: %v, %v", r, err)
	}
}

func TestReadsBelowTheRetentionFloorAreHistoryExpired(t *testing.T) {
	ctx := context.Background()
	tl := newTestLake(t)
	c := tl.client(func(o *lake.Option) { o.Compaction.Interval = -1 })
	if err := c.UpdateConfig(ctx, &config.Config{Storage: "local", Path: t.TempDir(), Retention: "1h"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, c, lake.WriteRequest{Catalog: "old", Field: "a", Value: 1})
	at := time.Now().Add(-2 * time.Hour)
	_, err := c.Read(ctx, lake.ReadRequest{Catalog: "old", AtTime: at})
	var expired *lake.HistoryExpiredError
	if !errors.As(err, &expired) || !errors.Is(err, lake.ErrHistoryExpired) {
		t.Fatalf("read 2h back with 1h retention: %v", err)
	}
	if floor := time.UnixMicro(expired.Floor); floor.Before(time.Now().Add(-61*time.Minute)) || floor.After(time.Now().Add(-59*time.Minute)) {
		t.Fatalf("floor %v, want about an hour ago", floor)
	}
}

func TestDeleteCatalogEmptiesItAndKeepsItsHistoryOutOfReach(t *testing.T) {
	for _, engine := range []string{"redis", "file"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			c := historyClient(t, engine)
			first := mustWrite(t, c, lake.WriteRequest{Catalog: "d", Field: "a", Value: 1})
			mustRead(t, c, lake.ReadRequest{Catalog: "d"}) // cached
			d, err := c.DeleteCatalog(ctx, "d")
			if err != nil || d <= first {
				t.Fatalf("DeleteCatalog = %d, %v", d, err)
			}
			r := mustRead(t, c, lake.ReadRequest{Catalog: "d"})
			if string(r.Data) != "{}" || r.Version != 0 {
				t.Fatalf("read after delete: %s at %d", r.Data, r.Version)
			}
			list, err := c.Catalogs(ctx, "", 10)
			if err != nil || len(list) != 0 {
				t.Fatalf("Catalogs after delete: %v, %v", list, err)
			}
			if _, err := c.Read(ctx, lake.ReadRequest{Catalog: "d", AtVersion: first}); !errors.Is(err, lake.ErrHistoryExpired) {
				t.Fatalf("read of the deleted past: %v", err)
			}
			again := mustWrite(t, c, lake.WriteRequest{Catalog: "d", Field: "b", Value: 2})
			if again <= d {
				t.Fatalf("write after delete at %d, not above %d", again, d)
			}
			if r := mustRead(t, c, lake.ReadRequest{Catalog: "d"}); string(r.Data) != `{"b":2}` {
				t.Fatalf("recreated catalog reads %s", r.Data)
			}
			if d, err := c.DeleteCatalog(ctx, "never"); err != nil || d != 0 {
				t.Fatalf("delete of a catalog that never existed: %d, %v", d, err)
			}
			if _, err := c.DeleteCatalog(ctx, "bad name"); !errors.Is(err, lake.ErrInvalidCatalog) {
				t.Fatalf("delete of an invalid name: %v", err)
			}
		})
	}
}

func TestHistoryListsTheChangesOfAFieldNewestFirstAcrossSegments(t *testing.T) {
	for _, engine := range []string{"redis", "file"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			c := historyClient(t, engine)
			var want []int64 // versions touching profile.name, oldest first
			for i := range 30 {
				field := []string{"profile.name", "profile", "other", "profile.name.first", ""}[i%5]
				req := lake.WriteRequest{Catalog: "h", Field: field, Value: map[string]any{"i": i}}
				if field == "" {
					req.MergeType = lake.MergePatch
				}
				v := mustWrite(t, c, req)
				if field != "other" {
					want = append(want, v)
				}
				if i == 14 {
					if _, err := c.Compact(ctx, "h"); err != nil {
						t.Fatal(err)
					}
				}
			}
			var got []int64
			before := int64(0)
			for {
				page, err := c.History(ctx, lake.HistoryRequest{Catalog: "h", Field: "profile.name", Before: before, Limit: 7})
				if err != nil {
					t.Fatal(err)
				}
				for _, ch := range page.Changes {
					got = append(got, ch.Version)
					if ch.Value == nil || ch.Time.UnixMicro() != ch.Version {
						t.Fatalf("change %+v", ch)
					}
				}
				if page.Next == 0 {
					break
				}
				before = page.Next
			}
			if len(got) != len(want) {
				t.Fatalf("History = %v, want %v", got, want)
			}
			for i := range got {
				if got[i] != want[len(want)-1-i] {
					t.Fatalf("History = %v, want newest first %v", got, want)
				}
			}
			if _, err := c.History(ctx, lake.HistoryRequest{Catalog: "h", Field: "a..b"}); !errors.Is(err, lake.ErrInvalidField) {
				t.Fatalf("invalid field: %v", err)
			}
		})
	}
}

func TestCompactorsWritersAndReadersOfThePastRunTogether(t *testing.T) {
	ctx := context.Background()
	tl := newTestLake(t)
	store, err := storage.NewLocalStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := func(o *lake.Option) {
		o.Storage = store
		o.Compaction = lake.CompactionPolicy{Interval: 20 * time.Millisecond, KeepEntries: 10, MinAge: -1}
	}
	writers, readers := tl.client(opts), tl.client(opts, withoutCache)
	compactors := []*lake.Client{tl.client(opts), tl.client(opts)}
	const catalogs, each = 3, 150
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string][]int64{}
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				catalog := fmt.Sprint("cc", (w+i)%catalogs)
				v, err := writers.WriteVersion(ctx, lake.WriteRequest{Catalog: catalog, Field: fmt.Sprintf("w%d.i%d", w, i), Value: i})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[catalog] = append(acked[catalog], v)
				mu.Unlock()
			}
		}()
	}
	var side sync.WaitGroup
	for _, cc := range compactors {
		side.Add(1)
		go func() {
			defer side.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := range catalogs {
					if _, err := cc.Compact(ctx, fmt.Sprint("cc", i)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	side.Add(1)
	go func() {
		defer side.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			catalog := fmt.Sprint("cc", rand.IntN(catalogs))
			mu.Lock()
			vs := append([]int64(nil), acked[catalog]...)
			mu.Unlock()
			if len(vs) == 0 {
				continue
			}
			v := vs[rand.IntN(len(vs))]
			r, err := readers.Read(ctx, lake.ReadRequest{Catalog: catalog, AtVersion: v})
			if err != nil {
				t.Errorf("read %s at %d: %v", catalog, v, err)
				return
			}
			if r.Version < v {
				t.Errorf("read %s at %d returned version %d", catalog, v, r.Version)
				return
			}
			if _, err := readers.Read(ctx, lake.ReadRequest{Catalog: catalog}); err != nil {
				t.Errorf("read %s: %v", catalog, err)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	side.Wait()
	if t.Failed() {
		return
	}
	// No acknowledged write is lost: each catalog holds every field
	// written to it, now and at its last version.
	for i := range catalogs {
		catalog := fmt.Sprint("cc", i)
		r := mustRead(t, readers, lake.ReadRequest{Catalog: catalog})
		var doc map[string]map[string]int
		if err := r.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, fields := range doc {
			n += len(fields)
		}
		if n != len(acked[catalog]) {
			t.Fatalf("%s holds %d fields, %d writes were acknowledged", catalog, n, len(acked[catalog]))
		}
		if tl.logLen(catalog) >= int64(len(acked[catalog])) {
			t.Fatalf("%s: the log still holds %d of %d entries: nothing was trimmed", catalog, tl.logLen(catalog), len(acked[catalog]))
		}
	}
}

func TestParseAtTakesVersionsAndRFC3339Times(t *testing.T) {
	if v, at, err := lake.ParseAt("1795650085846807"); err != nil || v != 1795650085846807 || !at.IsZero() {
		t.Fatal(v, at, err)
	}
	for text, want := range map[string]time.Time{
		"2026-12-01T10:00:00Z":        time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		"2026-12-01T10:00:00.5+02:00": time.Date(2026, 12, 1, 8, 0, 0, 5e8, time.UTC),
	} {
		if v, at, err := lake.ParseAt(text); err != nil || v != 0 || !at.Equal(want) {
			t.Fatalf("%q: %v %v %v", text, v, at, err)
		}
	}
	for _, bad := range []string{"", "0", "-5", "9007199254740992", "99999999999999999999", "1.5", "2026-12-01", "yesterday", "\xff", "12a"} {
		if _, _, err := lake.ParseAt(bad); !errors.Is(err, lake.ErrInvalidVersion) {
			t.Fatalf("%q: %v, want ErrInvalidVersion", bad, err)
		}
	}
}
