package index

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// File-engine-only tests of History: what the file keeps (ids/, counts,
// gone/) and how a lost entry of the history shows. The behaviour both
// engines share is in conformance_history_test.go.

// trimmedCatalog commits n deltas to catalog and gives it a snapshot at the
// i-th, a segment up to it and a trim to it; it returns the versions.
func trimmedCatalog(t *testing.T, idx Index, catalog string, n, i int) []int64 {
	t.Helper()
	ctx := context.Background()
	v := commitN(t, idx, catalog, n)
	snapshotAt(t, idx, catalog, v[i])
	must(t, idx.AddSegment(ctx, catalog, segmentOf(catalog, 0, v[i])))
	if removed, err := idx.Trim(ctx, catalog, v[i]); err != nil || removed != int64(i+1) {
		t.Fatalf("Trim = %d, %v; want %d", removed, err, i+1)
	}
	return v
}

// As in the Redis engine, whose log entry is an ID's only record, a trimmed
// entry's ID is forgotten: ids/ keeps only the IDs of the entries in log/.
func TestFileTrimForgetsTheIDsOfTrimmedEntries(t *testing.T) {
	dir := t.TempDir()
	idx := openFileTest(t, dir, Options{})
	ctx := context.Background()
	v := trimmedCatalog(t, idx, "c", 6, 2)
	logged, err := idx.Log(ctx, "c", 0, MaxVersion)
	must(t, err)
	must(t, idx.view(ctx, func(root *bolt.Bucket) error {
		if n := root.Bucket(bucketCatalogs).Bucket(nameKey("c")).Bucket(bucketIDs).Stats().KeyN; n != len(logged) {
			t.Errorf("%d IDs for %d log entries", n, len(logged))
		}
		return nil
	}))
	must(t, idx.Close())
	idx = openFileTest(t, dir, Options{}) // the check at Open agrees
	head, deltas, err := idx.Read(ctx, "c", 0)
	if err != nil || head.Trimmed != v[2] || len(deltas) != 3 {
		t.Fatalf("Read after reopen: %+v, %d deltas, %v", head, len(deltas), err)
	}
}

func TestFileTrimOfNothingAndBeyondTheRange(t *testing.T) {
	idx := openFileTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	for _, upTo := range []int64{0, -5} {
		if n, err := idx.Trim(ctx, "none", upTo); err != nil || n != 0 {
			t.Fatalf("Trim(%d) = %d, %v; want 0, nil", upTo, n, err)
		}
	}
	if _, err := idx.Trim(ctx, "none", 1); !errors.Is(err, ErrTrimRefused) {
		t.Fatalf("trim of a catalog that does not exist: %v, want ErrTrimRefused", err)
	}
	trimmedCatalog(t, idx, "c", 3, 1)
	if _, err := idx.Trim(ctx, "c", MaxVersion+1); !errors.Is(err, ErrTrimRefused) {
		t.Fatalf("trim beyond 2^53-1: %v, want ErrTrimRefused", err)
	}
}

// A deletion keeps the namespace's counts and its gone/ entries in step,
// which the check at Open verifies; a recreated catalog keeps Deleted.
func TestFileDeleteCatalogKeepsTheFileConsistent(t *testing.T) {
	dir := t.TempDir()
	idx := openFileTest(t, dir, Options{})
	ctx := context.Background()
	trimmedCatalog(t, idx, "a", 4, 1)
	commitN(t, idx, "b", 2)
	d1, err := idx.DeleteCatalog(ctx, "a")
	must(t, err)
	must(t, idx.Close())
	idx = openFileTest(t, dir, Options{})
	v := commitN(t, idx, "a", 1)[0]
	if v <= d1 {
		t.Fatalf("version %d after the deletion at %d", v, d1)
	}
	d2, err := idx.DeleteCatalog(ctx, "a")
	if err != nil || d2 <= max(d1, v) {
		t.Fatalf("second deletion at %d, %v; want above %d", d2, err, max(d1, v))
	}
	_, err = idx.DeleteCatalog(ctx, "b")
	must(t, err)
	v = commitN(t, idx, "a", 1)[0]
	must(t, idx.Close())
	idx = openFileTest(t, dir, Options{})
	head, _, err := idx.Read(ctx, "a", 0)
	if err != nil || head.Version != v || head.Deleted != d2 {
		t.Fatalf("recreated catalog: %+v, %v; want version %d, deleted at %d", head, err, v, d2)
	}
}

func TestFileDeletionAtTheLastVersionOverflowsNothingIntoTheFile(t *testing.T) {
	dir := t.TempDir()
	idx := openFileTest(t, dir, Options{})
	ctx := context.Background()
	commitN(t, idx, "full", 1)
	must(t, idx.setLastVersion("full", MaxVersion))
	if _, err := idx.DeleteCatalog(ctx, "full"); !errors.Is(err, ErrVersionOverflow) {
		t.Fatalf("deletion above 2^53-1: %v, want ErrVersionOverflow", err)
	}
	commitN(t, idx, "last", 1)
	must(t, idx.setLastVersion("last", MaxVersion-1))
	if d, err := idx.DeleteCatalog(ctx, "last"); err != nil || d != MaxVersion {
		t.Fatalf("DeleteCatalog = %d, %v; want %d", d, err, int64(MaxVersion))
	}
	if _, err := idx.Commit(ctx, "last", Delta{ID: "x", Field: "f", Merge: "set"}); !errors.Is(err, ErrVersionOverflow) {
		t.Fatalf("commit above the deletion at 2^53-1: %v, want ErrVersionOverflow", err)
	}
	list, err := idx.Catalogs(ctx, "", 10)
	if err != nil || len(list) != 1 || list[0].Name != "full" {
		t.Fatalf("Catalogs = %+v, %v; want only full", list, err)
	}
	must(t, idx.Close())
	openFileTest(t, dir, Options{}) // no empty bucket, counts right
}

// An entry that vanished from snaps/ or segs/ (a damaged element count in
// a page) is ErrCorrupt at Open: the history key counts both, since the
// gaps Forget leaves make a missing entry look like a forgotten one.
func TestFileLostHistoryEntriesAreErrCorruptAtOpen(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		lose func(cat *bolt.Bucket) error
	}{
		{"a snapshot", func(cat *bolt.Bucket) error { return deleteNth(cat.Bucket(bucketSnaps), 1) }},
		{"every snapshot", func(cat *bolt.Bucket) error { return cat.DeleteBucket(bucketSnaps) }},
		{"a segment below the trim floor", func(cat *bolt.Bucket) error { return deleteNth(cat.Bucket(bucketSegs), 0) }},
		{"the last segment", func(cat *bolt.Bucket) error { return deleteNth(cat.Bucket(bucketSegs), 1) }},
		{"the history key", func(cat *bolt.Bucket) error { return cat.Delete(keyHistory) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			idx := openFileTest(t, dir, Options{})
			v := commitN(t, idx, "c", 8)
			for _, i := range []int{2, 4, 6} {
				snapshotAt(t, idx, "c", v[i])
			}
			must(t, idx.AddSegment(ctx, "c", segmentOf("c", 0, v[2])))
			must(t, idx.AddSegment(ctx, "c", segmentOf("c", v[2], v[5])))
			_, err := idx.Trim(ctx, "c", v[4])
			must(t, err)
			must(t, idx.update(ctx, func(root *bolt.Bucket) error { return c.lose(catalogBucket(root, "c")) }))
			must(t, idx.Close())
			if _, err := Open(ctx, "file://"+dir, Options{}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
		})
	}
}

// What Forget takes out leaves gaps at or below the trim floor, which the
// check at Open accepts.
func TestFileForgottenHistoryPassesTheCheckAtOpen(t *testing.T) {
	dir := t.TempDir()
	idx := openFileTest(t, dir, Options{})
	ctx := context.Background()
	v := commitN(t, idx, "c", 8)
	segs := []Segment{segmentOf("c", 0, v[1]), segmentOf("c", v[1], v[3]), segmentOf("c", v[3], v[4]), segmentOf("c", v[4], v[6])}
	for _, s := range segs {
		must(t, idx.AddSegment(ctx, "c", s))
	}
	first, _ := snapshotAt(t, idx, "c", v[2]), snapshotAt(t, idx, "c", v[5])
	_, err := idx.Trim(ctx, "c", v[4])
	must(t, err)
	must(t, idx.Forget(ctx, "c", []SnapshotPointer{first}, []Segment{segs[1]}))
	must(t, idx.Close())
	idx = openFileTest(t, dir, Options{})
	if _, got, _, err := idx.Range(ctx, "c", 0, MaxVersion); err != nil || len(got) != 3 || got[1] != segs[2] {
		t.Fatalf("Range after Forget = %v, %v", got, err)
	}
	// Everything at or below the floor may go: the rest still reaches the
	// archive's end.
	must(t, idx.Forget(ctx, "c", nil, []Segment{segs[0], segs[2]}))
	must(t, idx.Close())
	openFileTest(t, dir, Options{})
}

// A restored catalog is a file the check at Open accepts, and one whose
// IDs are its log's: a retried commit of a restored delta finds it.
func TestFileRestoredCatalogPassesTheCheckAtOpen(t *testing.T) {
	dir := t.TempDir()
	idx := openFileTest(t, dir, Options{})
	ctx := context.Background()
	log := []Delta{
		{Version: 310, ID: "a", Field: "x", Merge: "set", BodyKey: "r/a"},
		{Version: 320, Field: "y", Merge: "set", Pack: "p1", Part: 2, Offset: 10, Length: 5},
	}
	snap := SnapshotPointer{Version: 300, Key: "r/s300"}
	r := Restoration{Version: 400, Epoch: 100, Deleted: 50, Snapshot: snap, Snapshots: []SnapshotPointer{snap},
		Segments: []Segment{segmentOf("r", 0, 300)}, Trimmed: 300, Log: log}
	twice := r
	twice.Log = []Delta{log[0], {Version: 330, ID: "a", Field: "z", Merge: "set"}}
	if err := idx.Restore(ctx, "r", twice); !errors.Is(err, ErrInvalidDelta) {
		t.Fatalf("a restoration with an ID twice: %v, want ErrInvalidDelta", err)
	}
	must(t, idx.Restore(ctx, "r", r))
	must(t, idx.Close())
	idx = openFileTest(t, dir, Options{})
	if v, err := idx.Commit(ctx, "r", Delta{Field: "y", Merge: "set", Pack: "p1", Part: 2, Offset: 10, Length: 5}); err != nil || v != 320 {
		t.Fatalf("retried commit of a restored delta = %d, %v; want 320", v, err)
	}
	head, _, err := idx.Read(ctx, "r", 0)
	if err != nil || head.Deleted != 50 || head.Epoch != 100 {
		t.Fatalf("Read = %+v, %v", head, err)
	}
	// A restored history may hold a pointer newer than the head's; a save
	// at its version replaces it, and the history still counts right.
	must(t, idx.Close())
	newer := r
	newer.Snapshots = []SnapshotPointer{snap, {Version: 320, Key: "r/s320-found"}}
	idx = openFileTest(t, t.TempDir(), Options{})
	must(t, idx.Restore(ctx, "r", newer))
	if moved, err := idx.SaveSnapshot(ctx, "r", SnapshotPointer{Version: 320, Key: "r/s320"}, lineageOf(t, idx, "r")); err != nil || !moved {
		t.Fatalf("SaveSnapshot = %v, %v", moved, err)
	}
	list, err := idx.Snapshots(ctx, "r", MaxVersion, 10)
	if err != nil || len(list) != 2 || list[0].Key != "r/s320" {
		t.Fatalf("Snapshots = %v, %v", list, err)
	}
	must(t, idx.checkFile())
}

// catalogBucket is a catalog's bucket.
func catalogBucket(root *bolt.Bucket, catalog string) *bolt.Bucket {
	return root.Bucket(bucketCatalogs).Bucket(nameKey(catalog))
}

// deleteNth deletes the i-th key of a bucket.
func deleteNth(bucket *bolt.Bucket, i int) error {
	c := bucket.Cursor()
	k, _ := c.First()
	for range i {
		k, _ = c.Next()
	}
	return bucket.Delete(bytes.Clone(k))
}

func TestFileLeasesAreGoneAfterWipeAndUnavailableAfterClose(t *testing.T) {
	idx := openFileTest(t, t.TempDir(), Options{KeyPrefix: "wipe:"})
	ctx := context.Background()
	if held, err := idx.Lease(ctx, "c", "a", time.Minute); err != nil || !held {
		t.Fatalf("Lease = %v, %v", held, err)
	}
	must(t, idx.Wipe(ctx))
	if held, err := idx.Lease(ctx, "c", "b", time.Minute); err != nil || !held {
		t.Fatalf("Lease after Wipe = %v, %v; want the lease free", held, err)
	}
	must(t, idx.Close())
	if _, err := idx.Lease(ctx, "c", "b", time.Minute); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Lease after Close: %v, want ErrUnavailable", err)
	}
}

// Counts keep their three-field form until a catalog is deleted.
func TestFileCountsDecodeInBothForms(t *testing.T) {
	for _, c := range []boltCounts{{1, 2, 3, 0}, {1, 2, 3, 4}} {
		encoded := encodeCounts(c)
		if got, err := decodeCounts(encoded); err != nil || got != c || (c.gone == 0) != (len(encoded) == 24) {
			t.Fatalf("counts %+v: %d bytes, decoded %+v, %v", c, len(encoded), got, err)
		}
	}
	if _, err := decodeCounts(append(encodeCounts(boltCounts{1, 2, 3, 0}), make([]byte, 8)...)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("four counts with no deleted catalog: %v, want ErrCorrupt", err)
	}
}
