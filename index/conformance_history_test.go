package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// The History behaviour every engine shares (see forEachEngine).

// snapshotAt moves catalog's snapshot pointer to version (a key of its own).
func snapshotAt(t *testing.T, idx Index, catalog string, version int64) SnapshotPointer {
	t.Helper()
	p := SnapshotPointer{Version: version, Key: fmt.Sprintf("%s/snapshots/%d.json", catalog, version)}
	moved, err := idx.SaveSnapshot(context.Background(), catalog, p, lineageOf(t, idx, catalog))
	if err != nil || !moved {
		t.Fatalf("save snapshot at %d: %v, %v", version, moved, err)
	}
	return p
}

func segmentOf(catalog string, after, last int64) Segment {
	return Segment{After: after, Last: last, Key: fmt.Sprintf("%s/segments/%016d-%016d.json", catalog, after, last)}
}

func TestTrimRemovesOnlyWhatIsArchivedAndNotAboveTheSnapshot(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		v := commitN(t, idx, "t", 10)
		if _, err := idx.Trim(ctx, "t", v[3]); !errors.Is(err, ErrTrimRefused) {
			t.Fatalf("trim of an unarchived log: %v, want ErrTrimRefused", err)
		}
		if err := idx.AddSegment(ctx, "t", segmentOf("t", 0, v[5])); err != nil {
			t.Fatal(err)
		}
		// Archived to v[5], but no snapshot yet.
		if _, err := idx.Trim(ctx, "t", v[3]); !errors.Is(err, ErrTrimRefused) {
			t.Fatalf("trim above the snapshot: %v, want ErrTrimRefused", err)
		}
		snapshotAt(t, idx, "t", v[7])
		if _, err := idx.Trim(ctx, "t", v[6]); !errors.Is(err, ErrTrimRefused) {
			t.Fatalf("trim above the archive: %v, want ErrTrimRefused", err)
		}
		head, deltas, err := idx.Read(ctx, "t", 0)
		if err != nil || len(deltas) != 2 || head.Trimmed != 0 || head.Archived != v[5] {
			t.Fatalf("after refused trims: %+v, %d deltas, %v", head, len(deltas), err)
		}
		n, err := idx.Trim(ctx, "t", v[4])
		if err != nil || n != 5 {
			t.Fatalf("Trim = %d, %v; want 5 removed", n, err)
		}
		if n, err := idx.Trim(ctx, "t", v[2]); err != nil || n != 0 {
			t.Fatalf("trim below the floor = %d, %v; want 0", n, err)
		}
		logged, err := idx.Log(ctx, "t", 0, v[9])
		if err != nil || len(logged) != 5 || logged[0].Version != v[5] {
			t.Fatalf("log after trim: %d entries from %v, %v", len(logged), logged, err)
		}
		head, _, err = idx.Read(ctx, "t", 0)
		if err != nil || head.Trimmed != v[4] || head.Archived != v[5] || head.Version != v[9] || head.Pending != 2 {
			t.Fatalf("head after trim: %+v, %v", head, err)
		}
	})
}

func TestAddSegmentOnlyExtendsTheArchiveWhereItEnds(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		if err := idx.AddSegment(ctx, "s", segmentOf("s", 0, 5)); !errors.Is(err, ErrArchiveMoved) {
			t.Fatalf("segment of a catalog that does not exist: %v", err)
		}
		v := commitN(t, idx, "s", 6)
		for _, bad := range []Segment{
			segmentOf("s", 1, v[2]),       // a gap after 0
			segmentOf("s", 0, v[5]+1),     // past the log
			{After: 0, Last: 0, Key: "x"}, // empty range
			{After: 0, Last: v[1]},        // no key
		} {
			if err := idx.AddSegment(ctx, "s", bad); !errors.Is(err, ErrArchiveMoved) {
				t.Fatalf("AddSegment(%+v) = %v, want ErrArchiveMoved", bad, err)
			}
		}
		first := segmentOf("s", 0, v[2])
		if err := idx.AddSegment(ctx, "s", first); err != nil {
			t.Fatal(err)
		}
		if err := idx.AddSegment(ctx, "s", first); err != nil {
			t.Fatalf("registering the same segment again: %v", err)
		}
		if err := idx.AddSegment(ctx, "s", segmentOf("s", 0, v[4])); !errors.Is(err, ErrArchiveMoved) {
			t.Fatalf("an overlapping segment: %v", err)
		}
		second := segmentOf("s", v[2], v[5])
		if err := idx.AddSegment(ctx, "s", second); err != nil {
			t.Fatal(err)
		}
		head, segs, deltas, err := idx.Range(ctx, "s", 0, v[5])
		if err != nil || head.Archived != v[5] || !slices.Equal(segs, []Segment{first, second}) || len(deltas) != 6 {
			t.Fatalf("Range before a trim: %+v, %v, %d deltas, %v", head, segs, len(deltas), err)
		}
	})
}

func TestRangeSplitsBetweenSegmentsAndTheLog(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		v := commitN(t, idx, "r", 12)
		segs := []Segment{segmentOf("r", 0, v[3]), segmentOf("r", v[3], v[6]), segmentOf("r", v[6], v[8])}
		for _, s := range segs {
			if err := idx.AddSegment(ctx, "r", s); err != nil {
				t.Fatal(err)
			}
		}
		snapshotAt(t, idx, "r", v[9])
		if _, err := idx.Trim(ctx, "r", v[7]); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			after, upTo int64
			segs        []Segment
			first, n    int // log entries v[first:first+n]
		}{
			{0, v[11], segs, 8, 4},
			{0, v[2], segs[:1], 0, 0},
			{v[3], v[6], segs[1:2], 0, 0},
			{v[2], v[7], segs[:3], 0, 0}, // the third segment holds v[7]
			{v[4], v[9], segs[1:], 8, 2},
			{v[7], v[11], segs[2:], 8, 4}, // the log holds v[8], the segment too
			{v[9], v[10], nil, 10, 1},
			{v[11], v[11] + 100, nil, 0, 0},
		} {
			head, got, deltas, err := idx.Range(ctx, "r", c.after, c.upTo)
			if err != nil {
				t.Fatal(err)
			}
			if head.Trimmed != v[7] || head.Archived != v[8] || head.Snapshot.Version != v[9] || head.Version != v[11] {
				t.Fatalf("head %+v", head)
			}
			if !slices.Equal(got, c.segs) {
				t.Errorf("Range(%d, %d) segments = %+v, want %+v", c.after, c.upTo, got, c.segs)
			}
			var versions []int64
			for _, d := range deltas {
				versions = append(versions, d.Version)
			}
			if want := v[c.first : c.first+c.n]; !slices.Equal(versions, want) {
				t.Errorf("Range(%d, %d) log = %v, want %v", c.after, c.upTo, versions, want)
			}
		}
	})
}

func TestReadNeverCatchesUpThroughTrimmedEntries(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		v := commitN(t, idx, "c", 8)
		if err := idx.AddSegment(ctx, "c", segmentOf("c", 0, v[5])); err != nil {
			t.Fatal(err)
		}
		snapshotAt(t, idx, "c", v[5])
		if _, err := idx.Trim(ctx, "c", v[5]); err != nil {
			t.Fatal(err)
		}
		// A caller holding the document at v[1] is only 4 deltas behind the
		// snapshot, but those are gone from the log: it must start from the
		// snapshot.
		head, deltas, err := idx.Read(ctx, "c", v[1])
		if err != nil || head.From != v[5] || len(deltas) != 2 {
			t.Fatalf("Read after %d: from %d with %d deltas, %v; want from the snapshot %d", v[1], head.From, len(deltas), err, v[5])
		}
	})
}

func TestSnapshotHistoryKeepsEveryPointerNewestFirst(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		v := commitN(t, idx, "h", 6)
		if list, err := idx.Snapshots(ctx, "h", v[5], 10); err != nil || len(list) != 0 {
			t.Fatalf("no snapshots yet: %v, %v", list, err)
		}
		var saved []SnapshotPointer
		for _, i := range []int{1, 3, 4} {
			saved = append(saved, snapshotAt(t, idx, "h", v[i]))
		}
		// A save that does not move the pointer is not history.
		old := SnapshotPointer{Version: v[2], Key: "h/snapshots/late.json"}
		if moved, err := idx.SaveSnapshot(ctx, "h", old, lineageOf(t, idx, "h")); err != nil || moved {
			t.Fatal(moved, err)
		}
		list, err := idx.Snapshots(ctx, "h", v[5], 10)
		if err != nil || !slices.Equal(list, []SnapshotPointer{saved[2], saved[1], saved[0]}) {
			t.Fatalf("Snapshots = %+v, %v", list, err)
		}
		list, err = idx.Snapshots(ctx, "h", v[3], 1)
		if err != nil || !slices.Equal(list, []SnapshotPointer{saved[1]}) {
			t.Fatalf("Snapshots up to %d, limit 1 = %+v, %v", v[3], list, err)
		}
		if list, err := idx.Snapshots(ctx, "h", v[0], 10); err != nil || len(list) != 0 {
			t.Fatalf("before the first snapshot: %+v, %v", list, err)
		}
	})
}

func TestLeaseIsHeldByOneOwnerUntilReleasedOrExpired(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		if held, err := idx.Lease(ctx, "l", "a", time.Minute); err != nil || !held {
			t.Fatalf("first lease: %v, %v", held, err)
		}
		if held, err := idx.Lease(ctx, "l", "b", time.Minute); err != nil || held {
			t.Fatalf("lease held by another: %v, %v", held, err)
		}
		if held, err := idx.Lease(ctx, "l", "a", 50*time.Millisecond); err != nil || !held {
			t.Fatalf("renewal: %v, %v", held, err)
		}
		if err := idx.Release(ctx, "l", "b"); err != nil {
			t.Fatal(err)
		}
		if held, _ := idx.Lease(ctx, "l", "b", time.Minute); held {
			t.Fatal("a release by a non-owner gave the lease away")
		}
		time.Sleep(120 * time.Millisecond)
		if held, err := idx.Lease(ctx, "l", "b", time.Minute); err != nil || !held {
			t.Fatalf("lease after expiry: %v, %v", held, err)
		}
		if err := idx.Release(ctx, "l", "b"); err != nil {
			t.Fatal(err)
		}
		if held, err := idx.Lease(ctx, "l", "a", time.Minute); err != nil || !held {
			t.Fatalf("lease after release: %v, %v", held, err)
		}
		if _, err := idx.Lease(ctx, "l", "", time.Minute); err == nil {
			t.Fatal("a lease without an owner")
		}
	})
}

func TestConcurrentLeasesHaveOneWinner(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				held, err := idx.Lease(context.Background(), "race", fmt.Sprint("owner", i), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if held {
					mu.Lock()
					winners++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if winners != 1 {
			t.Fatalf("%d owners hold the lease", winners)
		}
	})
}

func TestDeleteCatalogEmptiesItAndALaterWriteStartsAboveIt(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine, idx Index) {
		ctx := context.Background()
		if d, err := idx.DeleteCatalog(ctx, "never"); err != nil || d != 0 {
			t.Fatalf("delete of a catalog that never existed: %d, %v", d, err)
		}
		commitN(t, idx, "keep", 1)
		v := commitN(t, idx, "gone", 5)
		if err := idx.AddSegment(ctx, "gone", segmentOf("gone", 0, v[2])); err != nil {
			t.Fatal(err)
		}
		snapshotAt(t, idx, "gone", v[3])
		// The clock is far ahead of the catalog's last version: a later
		// write must still land above the deletion.
		e.setLastVersion(t, idx, "gone", e.clock(t, idx)+60_000_000)
		last := headVersion(t, idx, "gone")
		d, err := idx.DeleteCatalog(ctx, "gone")
		if err != nil || d <= last {
			t.Fatalf("DeleteCatalog = %d, %v; want above %d", d, err, last)
		}
		if again, err := idx.DeleteCatalog(ctx, "gone"); err != nil || again != d {
			t.Fatalf("second delete = %d, %v; want %d", again, err, d)
		}
		head, deltas, err := idx.Read(ctx, "gone", 0)
		if err != nil || len(deltas) != 0 || head.Version != 0 || head.Snapshot.Version != 0 || head.Deleted != d {
			t.Fatalf("read after delete: %+v, %d deltas, %v", head, len(deltas), err)
		}
		if list, err := idx.Snapshots(ctx, "gone", MaxVersion, 10); err != nil || len(list) != 0 {
			t.Fatalf("snapshot history after delete: %v, %v", list, err)
		}
		if _, segs, _, err := idx.Range(ctx, "gone", 0, MaxVersion); err != nil || len(segs) != 0 {
			t.Fatalf("segments after delete: %v, %v", segs, err)
		}
		list, err := idx.Catalogs(ctx, "", 10)
		if err != nil || len(list) != 1 || list[0].Name != "keep" {
			t.Fatalf("Catalogs after delete = %+v, %v", list, err)
		}
		again := commitN(t, idx, "gone", 2)
		if again[0] <= d {
			t.Fatalf("first version after delete %d, want above %d", again[0], d)
		}
		head, deltas, err = idx.Read(ctx, "gone", 0)
		if err != nil || len(deltas) != 2 || head.Epoch != again[0] || head.Archived != 0 || head.Trimmed != 0 {
			t.Fatalf("recreated catalog: %+v, %d deltas, %v", head, len(deltas), err)
		}
		list, err = idx.Catalogs(ctx, "", 10)
		if err != nil || len(list) != 2 || list[0].Name != "gone" {
			t.Fatalf("Catalogs after recreate = %+v, %v", list, err)
		}
		if err := idx.AddSegment(ctx, "gone", segmentOf("gone", 0, again[1])); err != nil {
			t.Fatalf("the recreated catalog archives from 0: %v", err)
		}
	})
}

func headVersion(t *testing.T, idx Index, catalog string) int64 {
	t.Helper()
	head, _, err := idx.Read(context.Background(), catalog, 0)
	if err != nil {
		t.Fatal(err)
	}
	return head.Version
}

func TestCatalogsSkipsDeletedNamesAndStillFillsThePage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		for i := range 9 {
			commitN(t, idx, fmt.Sprint("c", i), 1)
		}
		for _, i := range []int{1, 2, 3, 5} {
			if _, err := idx.DeleteCatalog(ctx, fmt.Sprint("c", i)); err != nil {
				t.Fatal(err)
			}
		}
		page, err := idx.Catalogs(ctx, "", 3)
		if err != nil || len(page) != 3 || page[0].Name != "c0" || page[1].Name != "c4" || page[2].Name != "c6" {
			t.Fatalf("first page = %+v, %v", page, err)
		}
		page, err = idx.Catalogs(ctx, "c6", 3)
		if err != nil || len(page) != 2 || page[0].Name != "c7" || page[1].Name != "c8" {
			t.Fatalf("second page = %+v, %v", page, err)
		}
	})
}

func TestForgetDropsHistoryButNeverWhatIsInUse(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		v := commitN(t, idx, "f", 8)
		segs := []Segment{segmentOf("f", 0, v[2]), segmentOf("f", v[2], v[5]), segmentOf("f", v[5], v[7])}
		for _, s := range segs {
			if err := idx.AddSegment(ctx, "f", s); err != nil {
				t.Fatal(err)
			}
		}
		s1, s2, s3 := snapshotAt(t, idx, "f", v[1]), snapshotAt(t, idx, "f", v[4]), snapshotAt(t, idx, "f", v[6])
		if _, err := idx.Trim(ctx, "f", v[5]); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []struct {
			snaps []SnapshotPointer
			segs  []Segment
		}{
			{[]SnapshotPointer{s1, s3}, nil}, // s3 is the current snapshot
			{nil, segs},                      // segs[2] ends above the trim floor
		} {
			if err := idx.Forget(ctx, "f", bad.snaps, bad.segs); !errors.Is(err, ErrInUse) {
				t.Fatalf("Forget(%v, %v) = %v, want ErrInUse", bad.snaps, bad.segs, err)
			}
		}
		if list, _ := idx.Snapshots(ctx, "f", MaxVersion, 10); len(list) != 3 {
			t.Fatalf("a refused Forget changed the history: %v", list)
		}
		unknown := segmentOf("f", 1, 2)
		if err := idx.Forget(ctx, "f", []SnapshotPointer{s1}, []Segment{segs[0], unknown}); err != nil {
			t.Fatal(err)
		}
		list, err := idx.Snapshots(ctx, "f", MaxVersion, 10)
		if err != nil || !slices.Equal(list, []SnapshotPointer{s3, s2}) {
			t.Fatalf("history after Forget = %v, %v", list, err)
		}
		_, got, _, err := idx.Range(ctx, "f", 0, MaxVersion)
		if err != nil || !slices.Equal(got, segs[1:]) {
			t.Fatalf("segments after Forget = %v, %v", got, err)
		}
		if err := idx.Forget(ctx, "f", nil, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRestoreRebuildsACatalogExactlyAndOnlyOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		at := func(v int64, field string) Delta {
			return Delta{Version: v, ID: fmt.Sprint("id-", v), Field: field, Merge: "set", BodyKey: fmt.Sprint("r/", v, ".json")}
		}
		snap := SnapshotPointer{Version: 300, Key: "r/snapshots/300.json"}
		old := SnapshotPointer{Version: 150, Key: "r/snapshots/150.json"}
		r := Restoration{
			Version: 1000, Epoch: 10, Deleted: 5,
			Snapshot: snap, Snapshots: []SnapshotPointer{old, snap},
			Segments: []Segment{segmentOf("r", 0, 200), segmentOf("r", 200, 400)},
			Trimmed:  300,
			Log:      []Delta{at(310, "a"), at(400, "b|c"), at(900, "")},
		}
		for _, bad := range []func(r *Restoration){
			func(r *Restoration) { r.Trimmed = 350 },                               // above the snapshot
			func(r *Restoration) { r.Segments = r.Segments[1:] },                   // the archive does not start at 0
			func(r *Restoration) { r.Log = []Delta{at(400, "x"), at(310, "y")} },   // out of order
			func(r *Restoration) { r.Log = []Delta{at(250, "x")} },                 // below the trim floor
			func(r *Restoration) { r.Snapshots = []SnapshotPointer{old} },          // current not in history
			func(r *Restoration) { r.Version = 800 },                               // below a log entry
			func(r *Restoration) { r.Log = []Delta{{Version: 500, Merge: "set"}} }, // no ID
		} {
			broken := r
			broken.Log = slices.Clone(r.Log)
			bad(&broken)
			if err := idx.Restore(ctx, "r", broken); !errors.Is(err, ErrInvalidDelta) {
				t.Fatalf("Restore(%+v) = %v, want ErrInvalidDelta", broken, err)
			}
		}
		if head, _, _ := idx.Read(ctx, "r", 0); head.Version != 0 {
			t.Fatalf("a refused Restore wrote %+v", head)
		}
		if err := idx.Restore(ctx, "r", r); err != nil {
			t.Fatal(err)
		}
		head, segs, deltas, err := idx.Range(ctx, "r", 0, MaxVersion)
		if err != nil {
			t.Fatal(err)
		}
		want := Head{Version: 1000, Epoch: 10, Deleted: 5, Snapshot: snap, Archived: 400, Trimmed: 300}
		if head != want || !slices.Equal(segs, r.Segments) || !slices.Equal(deltas, r.Log) {
			t.Fatalf("restored: %+v %v %v\nwant %+v %v %v", head, segs, deltas, want, r.Segments, r.Log)
		}
		if list, err := idx.Snapshots(ctx, "r", MaxVersion, 10); err != nil || !slices.Equal(list, []SnapshotPointer{snap, old}) {
			t.Fatalf("restored history %v, %v", list, err)
		}
		if list, err := idx.Catalogs(ctx, "", 10); err != nil || len(list) != 1 || list[0] != (CatalogInfo{Name: "r", Version: 1000}) {
			t.Fatalf("listing after restore: %v, %v", list, err)
		}
		if err := idx.Restore(ctx, "r", r); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("second Restore = %v, want ErrNotEmpty", err)
		}
		if v := commitN(t, idx, "r", 1)[0]; v <= 1000 {
			t.Fatalf("commit after restore at %d", v)
		}
	})
}
