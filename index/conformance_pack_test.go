package index

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
)

// The conformance suite for packed deltas (d3 entries): each test runs once
// per engine, as in conformance_test.go.

// packedDelta is part part of pack, at offset, length bytes long.
func packedDelta(pack string, part int, offset, length int64, field string) Delta {
	return Delta{ID: pack + "." + strconv.Itoa(part), Field: field, Merge: "set", Pack: pack, Part: part, Offset: offset, Length: length}
}

func TestPackedDeltasRoundTripEveryFieldThroughTheLog(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		var want []Delta
		for i, field := range oddFieldNames {
			for j, holder := range []string{"", "mem-4f|%x"} {
				part := 2*i + j + 1
				d := packedDelta(packID, part, int64(part-1)*1036, 1036, field)
				d.Holder = holder
				d.Script = "counter@ab|cd"
				want = append(want, d)
			}
		}
		// The edges: offset 0 and a length of 0, and the largest numbers.
		want = append(want, packedDelta("edge-pack", 1, 0, 0, ""))
		want = append(want, packedDelta("edge-pack", math.MaxInt32, math.MaxInt64, math.MaxInt64, "profile.name"))
		for i := range want {
			v, err := idx.Commit(ctx, "packed", want[i])
			if err != nil {
				t.Fatalf("commit %+v: %v", want[i], err)
			}
			want[i].Version = v
		}
		_, got, err := idx.Read(ctx, "packed", 0)
		if err != nil || len(got) != len(want) {
			t.Fatalf("Read: %d deltas, %v; want %d", len(got), err, len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("delta %d: read %+v, want %+v", i, got[i], want[i])
			}
		}
		logged, err := idx.Log(ctx, "packed", 0, want[len(want)-1].Version)
		if err != nil || len(logged) != len(want) || logged[3] != want[3] || logged[len(want)-1] != want[len(want)-1] {
			t.Fatalf("Log = %+v, %v", logged, err)
		}
	})
}

func TestRetriedCommitOfAPackedDeltaFindsItsVersion(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		d := packedDelta(packID, 3, 2072, 1036, "profile.name")
		v1, err := idx.Commit(ctx, "idem", d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := idx.Commit(ctx, "idem", packedDelta(packID, 4, 3108, 1036, "profile.name")); err != nil {
			t.Fatal(err)
		}
		v2, err := idx.Commit(ctx, "idem", d)
		if err != nil || v2 != v1 {
			t.Fatalf("retried commit returned %d, %v; want the first version %d", v2, err, v1)
		}
		head, deltas, err := idx.Read(ctx, "idem", 0)
		if err != nil || len(deltas) != 2 || deltas[0].Version != v1 || deltas[0].ID != packID+".3" || deltas[1].Part != 4 {
			t.Fatalf("log = %+v, %v; want part 3 once at %d, then part 4", deltas, err, v1)
		}
		if head.Version != deltas[1].Version {
			t.Fatalf("the retry moved the head to %d, want %d", head.Version, deltas[1].Version)
		}
	})
}

// A pack is the bodies of one commit batch: its parts are committed
// concurrently, to several catalogs, and each gets a version of its own.
func TestConcurrentCommitsOfOnePacksPartsAreEachLoggedOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		const parts, catalogs = 64, 4
		var wg sync.WaitGroup
		versions := make([]int64, parts+1)
		for part := 1; part <= parts; part++ {
			wg.Go(func() {
				d := packedDelta(packID, part, int64(part)*100, 100, fmt.Sprint("f", part))
				v, err := idx.Commit(ctx, fmt.Sprint("batch", part%catalogs), d)
				if err != nil {
					t.Error(err)
				}
				versions[part] = v
			})
		}
		wg.Wait()
		seen := 0
		for c := range catalogs {
			_, deltas, err := idx.Read(ctx, fmt.Sprint("batch", c), 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range deltas {
				if d.Part%catalogs != c || d.Version != versions[d.Part] || d.Offset != int64(d.Part)*100 || d.Field != fmt.Sprint("f", d.Part) {
					t.Fatalf("catalog batch%d holds %+v (committed at %d)", c, d, versions[d.Part])
				}
				seen++
			}
		}
		if seen != parts {
			t.Fatalf("%d entries in the logs, want %d", seen, parts)
		}
	})
}

func TestRemoveTakesAPackedEntryOutByItsID(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		// A pack whose ID needs escaping, and one that is a prefix of another
		// entry's ID: Remove must match the whole ID.
		deltas := []Delta{
			packedDelta(packID, 1, 0, 10, "a"),
			packedDelta(packID, 12, 10, 10, "b"),
			packedDelta("p q|r%.s", 2, 20, 10, "c|d"),
			packedDelta(packID, 13, 30, 10, "e"),
		}
		for i := range deltas {
			v, err := idx.Commit(ctx, "rm", deltas[i])
			if err != nil {
				t.Fatal(err)
			}
			deltas[i].Version = v
		}
		for _, id := range []string{packID + ".1", packID, packID + ".", "p q|r%.s.12", "1"} {
			if removed, err := idx.Remove(ctx, "rm", deltas[1].Version, id); removed || err != nil {
				t.Fatalf("remove of %s.12 by the ID %q: %v, %v", packID, id, removed, err)
			}
		}
		for _, i := range []int{1, 2} {
			if removed, err := idx.Remove(ctx, "rm", deltas[i].Version, deltas[i].ID); !removed || err != nil {
				t.Fatalf("remove of %q: %v, %v", deltas[i].ID, removed, err)
			}
			if removed, err := idx.Remove(ctx, "rm", deltas[i].Version, deltas[i].ID); removed || err != nil {
				t.Fatalf("second remove of %q: %v, %v", deltas[i].ID, removed, err)
			}
		}
		head, rest, err := idx.Read(ctx, "rm", 0)
		if err != nil || len(rest) != 2 || rest[0] != deltas[0] || rest[1] != deltas[3] {
			t.Fatalf("after the removals: %+v, %v", rest, err)
		}
		if head.Removals != 2 {
			t.Fatalf("head after two removals: %+v", head)
		}
	})
}

func TestLogOfD1D2AndD3EntriesReadsBackInOrder(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		held := packedDelta(packID, 2, 1036, 1036, "b|c")
		held.Holder = "mem-7"
		want := []Delta{
			{ID: "id-1", Field: "a", Merge: "set", BodyKey: "mix/id-1.json"},
			packedDelta(packID, 1, 0, 1036, "profile.name"),
			{ID: "id-2", Field: "名前", Merge: "set", BodyKey: "mix/id-2.json", Holder: "mem-7"},
			held,
			{ID: "id-3", Field: "a", Merge: "delete"},
			packedDelta("second-pack", 1, 0, 7, ""),
			{ID: "id-4", Field: "x:y", Merge: "script", BodyKey: "mix/id-4.json", Script: "inc@9f"},
		}
		for i := range want {
			v, err := idx.Commit(ctx, "mix", want[i])
			if err != nil {
				t.Fatalf("commit %+v: %v", want[i], err)
			}
			want[i].Version = v
		}
		head, got, err := idx.Read(ctx, "mix", 0)
		if err != nil || len(got) != len(want) || head.Version != want[len(want)-1].Version {
			t.Fatalf("Read: head %+v, %d deltas, %v", head, len(got), err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("delta %d: read %+v, want %+v", i, got[i], want[i])
			}
		}
		// The log range (the fallback read) and a read after a version.
		logged, err := idx.Log(ctx, "mix", want[0].Version, want[4].Version)
		if err != nil || len(logged) != 4 || logged[0] != want[1] || logged[3] != want[4] {
			t.Fatalf("Log(after %d, up to %d) = %+v, %v", want[0].Version, want[4].Version, logged, err)
		}
		_, after, err := idx.Read(ctx, "mix", want[2].Version)
		if err != nil || len(after) != 4 || after[0] != want[3] || after[2] != want[5] {
			t.Fatalf("Read after %d = %+v, %v", want[2].Version, after, err)
		}
	})
}

func TestCommitOfAPackedDeltaThatDisagreesChangesNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		good := packedDelta(packID, 5, 4144, 1036, "f")
		bad := map[string]Delta{}
		d := good
		d.ID = packID + ".6"
		bad["another part's ID"] = d
		d = good
		d.BodyKey = "bad/x.json"
		bad["a body key"] = d
		d = good
		d.Part, d.ID = -1, packID+".-1"
		bad["a negative part"] = d
		d = good
		d.Offset = -1
		bad["a negative offset"] = d
		d = good
		d.Length = -1036
		bad["a negative length"] = d
		for name, d := range bad {
			if v, err := idx.Commit(ctx, "bad", d); !errors.Is(err, ErrInvalidDelta) {
				t.Errorf("%s: Commit = %d, %v; want ErrInvalidDelta", name, v, err)
			}
		}
		head, deltas, err := idx.Read(ctx, "bad", 0)
		if err != nil || head.Version != 0 || len(deltas) != 0 {
			t.Fatalf("after refused commits: head %+v, %+v, %v", head, deltas, err)
		}
		list, err := idx.Catalogs(ctx, "", 100)
		if err != nil || len(list) != 0 {
			t.Fatalf("refused commits listed catalogs: %+v, %v", list, err)
		}
		if _, err := idx.Commit(ctx, "bad", good); err != nil {
			t.Fatalf("the same delta with its fields agreeing: %v", err)
		}
	})
}

// The file engine checks every value at Open: packed entries pass it, and
// read back the same after a reopen.
func TestFilePackedEntriesPassTheCheckAtOpen(t *testing.T) {
	dir := t.TempDir()
	idx := openFileTest(t, dir, Options{})
	ctx := context.Background()
	held := packedDelta(packID, 2, 1036, 1036, "b|c")
	held.Holder = "mem-7"
	want := []Delta{packedDelta(packID, 1, 0, 1036, "a"), held, {ID: "id-1", Field: "x", Merge: "set", BodyKey: "c/id-1.json"}}
	for i := range want {
		v, err := idx.Commit(ctx, "c", want[i])
		if err != nil {
			t.Fatal(err)
		}
		want[i].Version = v
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := openFileTest(t, dir, Options{})
	_, got, err := reopened.Read(ctx, "c", 0)
	if err != nil || len(got) != len(want) {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("delta %d: read %+v, want %+v", i, got[i], want[i])
		}
	}
	if v, err := reopened.Commit(ctx, "c", want[1]); err != nil || v != want[1].Version {
		t.Fatalf("a retried commit after reopening: %d, %v; want %d", v, err, want[1].Version)
	}
}

func TestAPackedDeltaCommittedWithoutAnIDReadsBackWithIt(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		d := packedDelta("-P7qscNWtZk6SYVaX7DQ", 7, 120, 40, "a")
		d.ID = ""
		v, err := idx.Commit(ctx, "noid", d)
		if err != nil {
			t.Fatal(err)
		}
		_, deltas, err := idx.Read(ctx, "noid", 0)
		if err != nil || len(deltas) != 1 || deltas[0].ID != "-P7qscNWtZk6SYVaX7DQ.7" || deltas[0].Version != v {
			t.Fatalf("log %+v, %v", deltas, err)
		}
		// A retry with the ID spelled out is the same delta.
		d.ID = "-P7qscNWtZk6SYVaX7DQ.7"
		if again, err := idx.Commit(ctx, "noid", d); err != nil || again != v {
			t.Fatalf("retry with the ID: %d, %v; want %d", again, err, v)
		}
		if ok, err := idx.Remove(ctx, "noid", v, d.ID); err != nil || !ok {
			t.Fatalf("Remove: %v, %v", ok, err)
		}
	})
}
