package lake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/storage"
)

// gcLake opens a client of a fresh Redis lake whose config keeps bodies in
// a local directory, with retention, no background compaction and no
// minimum age for trims. It returns the client and the directory.
func gcLake(t *testing.T, retention string) (*Client, string) {
	t.Helper()
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	c := NewLake(url, func(o *Option) {
		o.KeyPrefix = prefix
		o.Logger = slog.New(slog.DiscardHandler)
		o.Compaction = CompactionPolicy{Interval: -1, MinAge: -1}
	})
	t.Cleanup(func() { c.Close() })
	dir := t.TempDir()
	if err := c.UpdateConfig(context.Background(), &config.Config{Storage: "local", Path: dir, Retention: retention}); err != nil {
		t.Fatal(err)
	}
	return c, dir
}

// shiftClock makes GC and the retention floor see now as at, until the
// test ends.
func shiftClock(t *testing.T, at time.Time) {
	t.Helper()
	old, oldMargin, oldGrace := clock, gcMargin, minGrace
	clock, gcMargin, minGrace = func() time.Time { return at }, 0, time.Millisecond
	t.Cleanup(func() { clock, gcMargin, minGrace = old, oldMargin, oldGrace })
}

func listKeys(t *testing.T, dir string) []string {
	t.Helper()
	store, err := storage.NewLocalStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := storage.List(context.Background(), store, "", "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return keys
}

func TestGCDeletesOnlyWhatNoRetainedReadNeeds(t *testing.T) {
	ctx := context.Background()
	c, dir := gcLake(t, "1m")
	const catalog = "g"
	docs := map[int64]string{}
	var versions []int64
	for i := range 100 {
		v, err := c.WriteVersion(ctx, WriteRequest{Catalog: catalog, Field: fmt.Sprint("f", i%7), Value: i})
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
		snap := i == 19 || i == 39 || i == 54 || i == 79
		r, err := c.Read(ctx, ReadRequest{Catalog: catalog, GenerateSnap: snap})
		if err != nil {
			t.Fatal(err)
		}
		docs[r.Version] = string(r.Data)
		if i == 59 || i == 89 {
			if _, err := c.Compact(ctx, catalog); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A pack no log entry names, and a snapshot no pointer names.
	other, err := c.WriteVersion(ctx, WriteRequest{Catalog: "other", Field: "x", Value: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The floor falls at the 61st write: history below it may go.
	floor := versions[60]
	shiftClock(t, time.UnixMicro(floor).Add(time.Minute))
	before := listKeys(t, dir)

	dry, err := c.GC(ctx, GCOptions{DryRun: true, Grace: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(listKeys(t, dir), before) {
		t.Fatal("a dry run deleted objects")
	}
	if dry.Floor != floor || len(dry.Deleted) == 0 || dry.DeletedBytes <= 0 || dry.Scanned != len(before) {
		t.Fatalf("dry run: floor %d (want %d), %d to delete (%d bytes) of %d scanned (%d listed)", dry.Floor, floor, len(dry.Deleted), dry.DeletedBytes, dry.Scanned, len(before))
	}
	reasons := map[string]int{}
	for _, obj := range dry.Deleted {
		reasons[obj.Reason]++
		if strings.HasPrefix(obj.Key, ".scripts/") || strings.Contains(obj.Key, "/deleted/") {
			t.Fatalf("GC would delete %s", obj.Key)
		}
	}
	// Snapshots at writes 20 and 40 are superseded before the floor (the
	// one at 55 stays: reads at the floor start there).
	if reasons["snapshot superseded before the retention floor"] < 2 || reasons["pack no log entry names"] == 0 || reasons["segment below the retention floor"] == 0 {
		t.Fatalf("reasons %v", reasons)
	}
	report, err := c.GC(ctx, GCOptions{Grace: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Deleted) != len(dry.Deleted) {
		t.Fatalf("GC deleted %d objects, the dry run said %d", len(report.Deleted), len(dry.Deleted))
	}
	if after := listKeys(t, dir); len(after) != len(before)-len(report.Deleted) {
		t.Fatalf("%d objects left of %d, %d deleted", len(after), len(before), len(report.Deleted))
	}

	// Every version at or above the floor reads as it did; the present too.
	for v, want := range docs {
		r, err := c.Read(ctx, ReadRequest{Catalog: catalog, AtVersion: v})
		if v < floor {
			if !errors.Is(err, ErrHistoryExpired) {
				t.Fatalf("read at %d below the floor %d: %v", v, floor, err)
			}
			continue
		}
		if err != nil || string(r.Data) != want {
			t.Fatalf("read at %d after GC: %v, %v\nwant %s", v, r, err, want)
		}
	}
	fresh := NewLake(c.metaURL, func(o *Option) { o.KeyPrefix = c.opt.KeyPrefix; o.CacheSize = -1; o.Compaction.Interval = -1 })
	defer fresh.Close()
	if r, err := fresh.Read(ctx, ReadRequest{Catalog: "other"}); err != nil || r.Version != other {
		t.Fatalf("the catalog whose pack is in its log: %v, %v", r, err)
	}
	if r, err := fresh.Read(ctx, ReadRequest{Catalog: catalog}); err != nil || string(r.Data) != docs[versions[99]] {
		t.Fatalf("present after GC: %v, %v", r, err)
	}
	// A second collection finds nothing more.
	if again, err := c.GC(ctx, GCOptions{Grace: time.Millisecond}); err != nil || len(again.Deleted) != 0 {
		t.Fatalf("second GC: %v, %v", again, err)
	}
}

func TestGCKeepsEverythingYoungerThanTheGracePeriodAndAllHistoryWithoutRetention(t *testing.T) {
	ctx := context.Background()
	c, dir := gcLake(t, "")
	for i := range 30 {
		if err := c.Write(ctx, WriteRequest{Catalog: "k", Field: "f", Value: i}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			mustReadInternal(t, c, "k")
			if _, err := c.Read(ctx, ReadRequest{Catalog: "k", GenerateSnap: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := c.Compact(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	before := listKeys(t, dir)
	// Now: every pack is younger than the default grace period of an hour.
	report, err := c.GC(ctx, GCOptions{})
	if err != nil || len(report.Deleted) != 0 || report.Floor != 0 {
		t.Fatalf("GC of young objects: %+v, %v", report, err)
	}
	if !slices.Equal(listKeys(t, dir), before) {
		t.Fatal("objects went")
	}
	if _, err := c.GC(ctx, GCOptions{Grace: time.Second}); err == nil {
		t.Fatal("a grace period shorter than a minute was accepted")
	}
	// Hours later, with no retention: only the packs every entry of which
	// is archived go; every snapshot and segment stays.
	shiftClock(t, time.Now().Add(3*time.Hour))
	report, err = c.GC(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range report.Deleted {
		if !strings.HasPrefix(obj.Key, ".packs/") {
			t.Fatalf("GC without retention deleted %s (%s)", obj.Key, obj.Reason)
		}
	}
	if len(report.Deleted) == 0 {
		t.Fatal("no archived pack was collected")
	}
	r, err := c.Read(ctx, ReadRequest{Catalog: "k", AtVersion: 1})
	if err != nil || string(r.Data) != "{}" {
		t.Fatalf("the beginning of history: %v, %v", r, err)
	}
}

// noList is a custom storage that cannot list its keys.
type noList struct{ inner storage.Storage }

func (n noList) Put(ctx context.Context, key string, data []byte) error {
	return n.inner.Put(ctx, key, data)
}
func (n noList) Get(ctx context.Context, key string) ([]byte, error) { return n.inner.Get(ctx, key) }
func (n noList) Delete(ctx context.Context, key string) error        { return n.inner.Delete(ctx, key) }

func TestGCOfAStorageWithoutListingRefusesAndDeletesNothing(t *testing.T) {
	local, err := storage.NewLocalStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := engineClient(t, "redis", noList{local})
	if err := c.Write(context.Background(), WriteRequest{Catalog: "n", Field: "a", Value: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GC(context.Background(), GCOptions{})
	if !errors.Is(err, ErrGCNotSupported) {
		t.Fatalf("GC = %v, want ErrGCNotSupported", err)
	}
	if _, err := c.Recover(context.Background(), RecoverOptions{}); !errors.Is(err, ErrGCNotSupported) {
		t.Fatalf("Recover = %v, want ErrGCNotSupported", err)
	}
}

func TestReadsNeverFailUnderConcurrentCompactionAndGC(t *testing.T) {
	ctx := context.Background()
	c, _ := gcLake(t, "")
	reader := NewLake(c.metaURL, func(o *Option) {
		o.KeyPrefix = c.opt.KeyPrefix
		o.CacheSize = -1
		o.Logger = slog.New(slog.DiscardHandler)
		o.Compaction.Interval = -1
	})
	defer reader.Close()
	// The packs written before the test starts are past the grace period
	// (a pack the log stops naming goes at the next collection, while reads
	// are on their way to it); those written while it runs are not, as a
	// pack on its way to its commit never is.
	for i := range 200 {
		if err := c.Write(ctx, WriteRequest{Catalog: fmt.Sprint("rg", i%2), Field: fmt.Sprintf("old.f%d", i), Value: i}); err != nil {
			t.Fatal(err)
		}
	}
	var acked atomic.Int64
	acked.Store(200)
	// Pack IDs hold milliseconds: the line between old and new packs is
	// drawn a few of them away from both.
	time.Sleep(5 * time.Millisecond)
	start := time.Now().Add(-2 * time.Millisecond)
	shiftClock(t, start.Add(3*time.Hour))
	const grace = 3 * time.Hour
	stop := make(chan struct{})
	errs := make(chan error, 16)
	var wg, side sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				if err := c.Write(ctx, WriteRequest{Catalog: fmt.Sprint("rg", i%2), Field: fmt.Sprintf("w%d.f%d", w, i), Value: i}); err != nil {
					errs <- err
					return
				}
				acked.Add(1)
			}
		}()
	}
	loop := func(f func() error) {
		side.Add(1)
		go func() {
			defer side.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := f(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 2 {
		loop(func() error { _, err := reader.Read(ctx, ReadRequest{Catalog: fmt.Sprint("rg", i)}); return err })
		loop(func() error { _, err := c.Compact(ctx, fmt.Sprint("rg", i)); return err })
	}
	var collected atomic.Int64
	loop(func() error {
		r, err := c.GC(ctx, GCOptions{Grace: grace})
		if r != nil {
			collected.Add(int64(len(r.Deleted)))
		}
		return err
	})
	wg.Wait()
	close(stop)
	side.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := 0
	for i := range 2 {
		var doc map[string]map[string]int
		r, err := reader.Read(ctx, ReadRequest{Catalog: fmt.Sprint("rg", i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		for _, fields := range doc {
			n += len(fields)
		}
	}
	if int64(n) != acked.Load() {
		t.Fatalf("%d fields, %d acknowledged writes", n, acked.Load())
	}
	if collected.Load() == 0 {
		t.Fatal("no pack was collected while the reads ran")
	}
}

func TestEveryVersionAboveTheFloorReadsTheSameAfterGCOfEveryMergeType(t *testing.T) {
	ctx := context.Background()
	c, _ := gcLake(t, "1m")
	if err := c.PutScript(ctx, "add", `function merge(cur, v) { return (cur || 0) + v }`); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	docs := map[int64]string{}
	var versions []int64
	for i := range 300 {
		field := []string{"a", "a.b", "n", "list", "x.y"}[rng.IntN(5)]
		req := WriteRequest{Catalog: "m", Field: field, Value: map[string]any{"i": i}}
		switch rng.IntN(7) {
		case 0:
			req.MergeType = MergeInsert
		case 1:
			req.MergeType, req.Value = MergeReplace, i
		case 2:
			req.MergeType, req.Value = MergeDelete, nil
		case 3:
			req.MergeType, req.Value = MergePatch, map[string]any{"p": i, "i": nil}
		case 4:
			req.MergeType, req.Value = MergeJSONPatch, []any{map[string]any{"op": "add", "path": "/j", "value": i}}
		case 5:
			req.Field, req.MergeType, req.Value, req.Script = "n", MergeScript, i, "add"
		}
		v, err := c.WriteVersion(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
		if rng.IntN(3) == 0 {
			r, err := c.Read(ctx, ReadRequest{Catalog: "m", GenerateSnap: rng.IntN(5) == 0})
			if err != nil {
				t.Fatal(err)
			}
			docs[r.Version] = string(r.Data)
		}
		if i%70 == 69 {
			if _, err := c.Compact(ctx, "m"); err != nil {
				t.Fatal(err)
			}
		}
	}
	floor := versions[150]
	shiftClock(t, time.UnixMicro(floor).Add(time.Minute))
	report, err := c.GC(ctx, GCOptions{Grace: time.Millisecond})
	if err != nil || len(report.Deleted) == 0 {
		t.Fatalf("GC: %v, %v", report, err)
	}
	for i := range 50 {
		if err := c.Write(ctx, WriteRequest{Catalog: "m", Field: fmt.Sprint("after", i), Value: i}); err != nil {
			t.Fatal(err)
		}
	}
	for v, want := range docs {
		if v < floor {
			continue
		}
		r, err := c.Read(ctx, ReadRequest{Catalog: "m", AtVersion: v})
		if err != nil || string(r.Data) != want {
			t.Fatalf("read at %d after GC: %v, %v\nwant %s", v, r, err, want)
		}
	}
}
