package index

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/redis/rueidis"
)

// The behaviour every engine must share. Each test runs once per engine, as
// the subtests "redis", "redis-cluster" and "file".

// engine opens a fresh, empty meta store of one kind for a test.
type engine struct {
	name string
	open func(t *testing.T) Index
	// clock returns the store's clock in microseconds: the time Commit
	// derives versions from (Redis TIME, or this process's clock).
	clock func(t *testing.T, idx Index) int64
	// setLastVersion overwrites a catalog's last allocated version, as a
	// clock that stepped back (or a long-lived catalog) would leave it.
	setLastVersion func(t *testing.T, idx Index, catalog string, v int64)
}

var engines = []engine{
	{
		name: "redis",
		open: func(t *testing.T) Index {
			idx, _ := openTest(t)
			return idx
		},
		clock:          redisClock,
		setLastVersion: setRedisLastVersion,
	},
	{
		// A real cluster refuses a script or command whose keys span slots
		// (CROSSSLOT), which a single server accepts.
		name:           "redis-cluster",
		open:           func(t *testing.T) Index { return openClusterTest(t) },
		clock:          redisClock,
		setLastVersion: setRedisLastVersion,
	},
	{
		name:  "file",
		open:  func(t *testing.T) Index { return openFileTest(t, t.TempDir(), Options{}) },
		clock: func(*testing.T, Index) int64 { return time.Now().UnixMicro() },
		setLastVersion: func(t *testing.T, idx Index, catalog string, v int64) {
			t.Helper()
			if err := idx.(*boltIndex).setLastVersion(catalog, v); err != nil {
				t.Fatal(err)
			}
		},
	},
}

func redisClock(t *testing.T, idx Index) int64 { return redisTime(t, idx.(*redisIndex)) }

func setRedisLastVersion(t *testing.T, idx Index, catalog string, v int64) {
	t.Helper()
	r := idx.(*redisIndex)
	cmd := r.client.B().Hset().Key(r.catalogKeys(catalog)[0]).FieldValue().FieldValue("version", strconv.FormatInt(v, 10)).Build()
	if err := r.client.Do(context.Background(), cmd).Error(); err != nil {
		t.Fatal(err)
	}
}

// openClusterTest opens the Redis engine on a one-node cluster of its own.
// The server is thrown away with the test, so no key cleanup is needed.
func openClusterTest(t *testing.T) *redisIndex {
	t.Helper()
	server := redistest.StartCluster(t)
	idx, err := Open(context.Background(), server.URL, Options{KeyPrefix: "laketest:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	return idx.(*redisIndex)
}

// Without this, the "redis-cluster" subtests could pass on a client that
// silently fell back to standalone mode.
func TestRedisClusterClientIsInClusterMode(t *testing.T) {
	if mode := openClusterTest(t).client.Mode(); mode != rueidis.ClientModeCluster {
		t.Fatalf("client mode %q on a cluster, want %q", mode, rueidis.ClientModeCluster)
	}
}

// forEachEngine runs test as one subtest per engine.
func forEachEngine(t *testing.T, test func(t *testing.T, e engine, idx Index)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { test(t, e, e.open(t)) })
	}
}

var oddFieldNames = []string{"", "a", "profile.name", "a:b|c", "|||", "d1|x|y|z|w", "名前.ü", `a\.b`, "/a~1b", "%zz+ %7C", "tab\there", "nul\x00byte", "line\nbreak"}

func TestFieldNamesOfAnyFormRoundTripThroughTheLog(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		var want []Delta
		for i, field := range oddFieldNames {
			d := Delta{ID: uuid.NewString() + "|:%" + strconv.Itoa(i), Field: field, Merge: "set", BodyKey: "odd/ü |" + strconv.Itoa(i), Script: "s@a|b"}
			v, err := idx.Commit(ctx, "odd:|ü", d)
			if err != nil {
				t.Fatal(err)
			}
			d.Version = v
			want = append(want, d)
		}
		_, got, err := idx.Read(ctx, "odd:|ü", 0)
		if err != nil || len(got) != len(want) {
			t.Fatalf("Read = %d deltas, %v; want %d", len(got), err, len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("delta %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
		logged, err := idx.Log(ctx, "odd:|ü", 0, want[len(want)-1].Version)
		if err != nil || len(logged) != len(want) || logged[0] != want[0] {
			t.Fatalf("Log = %+v, %v", logged, err)
		}
	})
}

func TestCommitVersionsAreStrictlyIncreasingAndNearTheStoreClock(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine, idx Index) {
		ctx := context.Background()
		before := e.clock(t, idx)
		var last int64
		for i := range 200 {
			v, err := idx.Commit(ctx, "c", Delta{ID: uuid.NewString(), Field: strconv.Itoa(i), Merge: "set", BodyKey: fmt.Sprintf("c/%d.json", i)})
			if err != nil {
				t.Fatal(err)
			}
			if v <= last {
				t.Fatalf("version %d after %d", v, last)
			}
			last = v
		}
		after := e.clock(t, idx)
		if last < before || last > after+200 {
			t.Fatalf("last version %d is not the store's clock in microseconds (between %d and %d)", last, before, after)
		}
	})
}

func TestCommitStaysIncreasingWhenStoredVersionIsAheadOfTheClock(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine, idx Index) {
		ctx := context.Background()
		// The last version is a minute ahead of the clock, as after a clock
		// step back: versions continue from it one by one, faster than the
		// clock ticks.
		ahead := e.clock(t, idx) + 60_000_000
		e.setLastVersion(t, idx, "clock", ahead)
		const writers, each = 8, 50
		var wg sync.WaitGroup
		versions := make(chan int64, writers*each)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					v, err := idx.Commit(ctx, "clock", Delta{ID: uuid.NewString(), Field: fmt.Sprint(w, i), Merge: "set", BodyKey: fmt.Sprintf("clock/%d-%d.json", w, i)})
					if err != nil {
						t.Error(err)
						return
					}
					versions <- v
				}
			}()
		}
		wg.Wait()
		close(versions)
		seen := map[int64]bool{}
		for v := range versions {
			if v <= ahead || v > ahead+writers*each || seen[v] {
				t.Fatalf("version %d: want unique, in (%d, %d]", v, ahead, ahead+writers*each)
			}
			seen[v] = true
		}
		head, deltas, err := idx.Read(ctx, "clock", 0)
		if err != nil {
			t.Fatal(err)
		}
		if head.Version != ahead+writers*each || len(deltas) != writers*each {
			t.Fatalf("head %d with %d deltas, want %d with %d", head.Version, len(deltas), ahead+writers*each, writers*each)
		}
		for i, d := range deltas {
			if d.Version != ahead+int64(i)+1 {
				t.Fatalf("delta %d has version %d, want %d", i, d.Version, ahead+int64(i)+1)
			}
		}
	})
}

func TestCommitOfTheSameDeltaTwiceIsIdempotent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		d := Delta{ID: uuid.NewString(), Field: "a", Merge: "delete"}
		v1, err := idx.Commit(ctx, "idem", d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := idx.Commit(ctx, "idem", Delta{ID: uuid.NewString(), Field: "a", Merge: "delete"}); err != nil {
			t.Fatal(err)
		}
		v2, err := idx.Commit(ctx, "idem", d)
		if err != nil || v2 != v1 {
			t.Fatalf("retried commit returned %d, %v; want the first version %d", v2, err, v1)
		}
		head, deltas, _ := idx.Read(ctx, "idem", 0)
		if len(deltas) != 2 || deltas[0].Version != v1 || deltas[0].ID != d.ID {
			t.Fatalf("log = %+v, want the first delta once at %d plus the second one", deltas, v1)
		}
		if head.Version != deltas[1].Version {
			t.Fatalf("the retry moved the head to %d, want %d", head.Version, deltas[1].Version)
		}
		// The same ID in another catalog is another delta.
		if _, err := idx.Commit(ctx, "idem2", d); err != nil {
			t.Fatal(err)
		}
		if _, deltas, _ := idx.Read(ctx, "idem2", 0); len(deltas) != 1 || deltas[0].ID != d.ID {
			t.Fatalf("same ID in another catalog: log %+v", deltas)
		}
		if _, err := idx.Commit(ctx, "idem", Delta{Field: "a", Merge: "set"}); err == nil {
			t.Fatal("a delta without an ID was committed")
		}
	})
}

func TestConcurrentRetriesOfOneCommitAgreeOnItsVersion(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		d := Delta{ID: uuid.NewString(), Field: "x", Merge: "set", BodyKey: "r/x.json"}
		var wg sync.WaitGroup
		versions := make([]int64, 16)
		for i := range versions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := idx.Commit(ctx, "retry", d)
				if err != nil {
					t.Error(err)
				}
				versions[i] = v
			}()
		}
		wg.Wait()
		for _, v := range versions {
			if v != versions[0] {
				t.Fatalf("retries got versions %v, want one", versions)
			}
		}
		if _, deltas, _ := idx.Read(ctx, "retry", 0); len(deltas) != 1 {
			t.Fatalf("log = %+v, want one entry", deltas)
		}
	})
}

func TestCommitRefusesVersionsBeyondTwoToThe53(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine, idx Index) {
		ctx := context.Background()
		e.setLastVersion(t, idx, "edge", MaxVersion-1)
		v, err := idx.Commit(ctx, "edge", Delta{ID: uuid.NewString(), Field: "a", Merge: "set"})
		if err != nil || v != MaxVersion {
			t.Fatalf("the last version: %d, %v; want %d", v, err, int64(MaxVersion))
		}
		if _, err := idx.Commit(ctx, "edge", Delta{ID: uuid.NewString(), Field: "b", Merge: "set"}); !errors.Is(err, ErrVersionOverflow) {
			t.Fatalf("commit beyond 2^53-1: %v, want ErrVersionOverflow", err)
		}
		head, deltas, err := idx.Read(ctx, "edge", 0)
		if err != nil || head.Version != MaxVersion || len(deltas) != 1 || deltas[0].Field != "a" {
			t.Fatalf("after a refused commit: head %+v, deltas %+v, %v", head, deltas, err)
		}
	})
}

func TestReadReturnsHeadAndDeltasAfterTheSnapshot(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		head, deltas, err := idx.Read(ctx, "empty", 0)
		if err != nil || head != (Head{}) || len(deltas) != 0 {
			t.Fatalf("empty catalog: %+v %v %v", head, deltas, err)
		}
		var versions []int64
		for i := range 5 {
			v, err := idx.Commit(ctx, "c", Delta{ID: uuid.NewString(), Field: fmt.Sprintf("f|%d", i), Merge: "patch", BodyKey: fmt.Sprintf("c/%d.json", i)})
			if err != nil {
				t.Fatal(err)
			}
			versions = append(versions, v)
		}
		head, deltas, err = idx.Read(ctx, "c", 0)
		if err != nil || head != (Head{Version: versions[4], Pending: 5, Epoch: versions[0]}) || len(deltas) != 5 {
			t.Fatalf("before a snapshot: %+v, %d deltas, %v", head, len(deltas), err)
		}
		moved, err := idx.SaveSnapshot(ctx, "c", SnapshotPointer{Version: versions[2], Key: "c/snapshots/x.json"}, lineageOf(t, idx, "c"))
		if err != nil || !moved {
			t.Fatalf("SaveSnapshot = %v, %v", moved, err)
		}
		head, deltas, err = idx.Read(ctx, "c", 0)
		if err != nil {
			t.Fatal(err)
		}
		if head.Version != versions[4] || head.Snapshot != (SnapshotPointer{Version: versions[2], Key: "c/snapshots/x.json"}) || head.Pending != 2 {
			t.Fatalf("head = %+v", head)
		}
		if len(deltas) != 2 || deltas[0].Version != versions[3] || deltas[1].Field != "f|4" || deltas[1].Merge != "patch" || deltas[1].BodyKey != "c/4.json" {
			t.Fatalf("deltas after the snapshot = %+v", deltas)
		}
		// Pending counts from the snapshot, whatever `after` is.
		if head, deltas, _ = idx.Read(ctx, "c", versions[3]); len(deltas) != 1 || deltas[0].Version != versions[4] || head.Pending != 2 {
			t.Fatalf("deltas after %d = %+v (pending %d)", versions[3], deltas, head.Pending)
		}
		if head, deltas, _ = idx.Read(ctx, "c", versions[4]); len(deltas) != 0 || head.Pending != 2 {
			t.Fatalf("deltas after the last version = %+v (pending %d)", deltas, head.Pending)
		}
		// Without a document (after 0) the deltas start at the snapshot.
		if head, deltas, _ = idx.Read(ctx, "c", 0); len(deltas) != 2 || head.From != versions[2] {
			t.Fatalf("deltas after 0 with a snapshot at %d = %+v (from %d)", versions[2], deltas, head.From)
		}
	})
}

func TestReadCatchesUpACallerAFewDeltasBehindTheSnapshot(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		var versions []int64
		for i := range MaxCatchUp + 2 {
			v, err := idx.Commit(ctx, "c", Delta{ID: uuid.NewString(), Field: fmt.Sprint("f", i), Merge: "set"})
			if err != nil {
				t.Fatal(err)
			}
			versions = append(versions, v)
		}
		snap := versions[len(versions)-2]
		if _, err := idx.SaveSnapshot(ctx, "c", SnapshotPointer{Version: snap, Key: "c/snap"}, lineageOf(t, idx, "c")); err != nil {
			t.Fatal(err)
		}
		// MaxCatchUp deltas between after and the snapshot: from after.
		head, deltas, err := idx.Read(ctx, "c", versions[0])
		if err != nil || head.From != versions[0] || len(deltas) != MaxCatchUp+1 || deltas[0].Version != versions[1] || head.Pending != 1 {
			t.Fatalf("read after %d: from %d, %d deltas, pending %d, %v", versions[0], head.From, len(deltas), head.Pending, err)
		}
		// One more: the snapshot is the cheaper start.
		head, deltas, err = idx.Read(ctx, "c", 1)
		if err != nil || head.From != snap || len(deltas) != 1 || head.Pending != 1 {
			t.Fatalf("read after 1: from %d, %d deltas, pending %d, %v", head.From, len(deltas), head.Pending, err)
		}
		// At or past the snapshot, after is the start.
		head, deltas, err = idx.Read(ctx, "c", snap)
		if err != nil || head.From != snap || len(deltas) != 1 {
			t.Fatalf("read after the snapshot: from %d, %d deltas, %v", head.From, len(deltas), err)
		}
	})
}

func TestReadAfterAHugeVersionReturnsNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		if _, err := idx.Commit(ctx, "c", Delta{ID: uuid.NewString(), Field: "a", Merge: "set"}); err != nil {
			t.Fatal(err)
		}
		for _, after := range []int64{MaxVersion, math.MaxInt64} {
			if _, deltas, err := idx.Read(ctx, "c", after); err != nil || len(deltas) != 0 {
				t.Fatalf("Read after %d = %d deltas, %v; want none", after, len(deltas), err)
			}
		}
	})
}

func TestLogReturnsTheRangeAfterUpTo(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		var v []int64
		for i := range 6 {
			version, err := idx.Commit(ctx, "range", Delta{ID: uuid.NewString(), Field: strconv.Itoa(i), Merge: "set"})
			if err != nil {
				t.Fatal(err)
			}
			v = append(v, version)
		}
		// A snapshot does not limit Log: it is the fallback behind snapshots.
		if _, err := idx.SaveSnapshot(ctx, "range", SnapshotPointer{Version: v[4], Key: "k"}, lineageOf(t, idx, "range")); err != nil {
			t.Fatal(err)
		}
		versionsOf := func(ds []Delta) []int64 {
			var out []int64
			for _, d := range ds {
				out = append(out, d.Version)
			}
			return out
		}
		for _, c := range []struct {
			after, upTo int64
			want        []int64
		}{
			{0, v[2], v[:3]},
			{v[0], v[2], v[1:3]},
			{v[1], v[1], nil},
			{v[3], v[1], nil},
			{-1, MaxVersion, v},
			{v[5], MaxVersion, nil},
			{v[0] - 1, v[0], v[:1]},
			{v[2], v[3] - 1, nil},
		} {
			got, err := idx.Log(ctx, "range", c.after, c.upTo)
			if err != nil || fmt.Sprint(versionsOf(got)) != fmt.Sprint(c.want) {
				t.Errorf("Log(%d, %d) = %v, %v; want %v", c.after, c.upTo, versionsOf(got), err, c.want)
			}
		}
		if got, err := idx.Log(ctx, "missing", 0, MaxVersion); err != nil || len(got) != 0 {
			t.Errorf("Log of a missing catalog = %v, %v", got, err)
		}
	})
}

func TestSaveSnapshotOnlyMovesForwardAndNeverPastTheLog(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		if _, err := idx.SaveSnapshot(ctx, "s", SnapshotPointer{Version: 1, Key: "s/0"}, lineageOf(t, idx, "s")); !errors.Is(err, ErrInvalidSnapshot) {
			t.Fatalf("save on an empty catalog: %v, want ErrInvalidSnapshot", err)
		}
		if moved, err := idx.SaveSnapshot(ctx, "s", SnapshotPointer{}, lineageOf(t, idx, "s")); moved || err != nil {
			t.Fatalf("save of the zero pointer on an empty catalog: moved=%v err=%v", moved, err)
		}
		v1, _ := idx.Commit(ctx, "s", Delta{ID: uuid.NewString(), Field: "a", Merge: "set"})
		v2, _ := idx.Commit(ctx, "s", Delta{ID: uuid.NewString(), Field: "b", Merge: "set"})
		if moved, err := idx.SaveSnapshot(ctx, "s", SnapshotPointer{Version: v2, Key: "s/2"}, lineageOf(t, idx, "s")); !moved || err != nil {
			t.Fatalf("save at v2: %v %v", moved, err)
		}
		// A retried save (its outcome was unknown) reports that it moved.
		if moved, err := idx.SaveSnapshot(ctx, "s", SnapshotPointer{Version: v2, Key: "s/2"}, lineageOf(t, idx, "s")); !moved || err != nil {
			t.Fatalf("retried save at v2: %v %v", moved, err)
		}
		if moved, err := idx.SaveSnapshot(ctx, "s", SnapshotPointer{Version: v2, Key: "s/2-other"}, lineageOf(t, idx, "s")); moved || err != nil {
			t.Fatalf("another save at v2: moved=%v err=%v", moved, err)
		}
		if moved, err := idx.SaveSnapshot(ctx, "s", SnapshotPointer{Version: v1, Key: "s/1"}, lineageOf(t, idx, "s")); moved || err != nil {
			t.Fatalf("save at older v1: moved=%v err=%v", moved, err)
		}
		if _, err := idx.SaveSnapshot(ctx, "s", SnapshotPointer{Version: v2 + 1, Key: "s/3"}, lineageOf(t, idx, "s")); !errors.Is(err, ErrInvalidSnapshot) {
			t.Fatalf("save ahead of the log: %v, want ErrInvalidSnapshot", err)
		}
		head, _, _ := idx.Read(ctx, "s", 0)
		if head != (Head{Version: v2, Snapshot: SnapshotPointer{Version: v2, Key: "s/2"}, From: v2, Epoch: v1}) {
			t.Fatalf("head = %+v", head)
		}
	})
}

func TestConcurrentSnapshotSavesNeverMoveThePointerBackwards(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		var versions []int64
		for i := range 100 {
			v, err := idx.Commit(ctx, "race", Delta{ID: uuid.NewString(), Field: strconv.Itoa(i), Merge: "set"})
			if err != nil {
				t.Fatal(err)
			}
			versions = append(versions, v)
		}
		var stop atomic.Bool
		watcher := make(chan error, 1)
		go func() {
			var seen int64
			for !stop.Load() {
				head, _, err := idx.Read(ctx, "race", versions[len(versions)-1])
				if err != nil {
					watcher <- err
					return
				}
				if head.Snapshot.Version < seen {
					watcher <- fmt.Errorf("pointer moved back from %d to %d", seen, head.Snapshot.Version)
					return
				}
				seen = head.Snapshot.Version
			}
			watcher <- nil
		}()
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for range 50 {
					v := versions[rng.IntN(len(versions))]
					if _, err := idx.SaveSnapshot(ctx, "race", SnapshotPointer{Version: v, Key: fmt.Sprintf("race/snapshots/%d", v)}, lineageOf(t, idx, "race")); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		stop.Store(true)
		if err := <-watcher; err != nil {
			t.Fatal(err)
		}
		head, _, _ := idx.Read(ctx, "race", 0)
		if head.Snapshot.Key != fmt.Sprintf("race/snapshots/%d", head.Snapshot.Version) {
			t.Fatalf("pointer version and key disagree: %+v", head.Snapshot)
		}
	})
}

func TestConfigStoreLoadAndNotFound(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		if _, err := idx.LoadConfig(ctx); !errors.Is(err, ErrNotFound) {
			t.Fatalf("LoadConfig on an empty store = %v, want ErrNotFound", err)
		}
		for _, config := range []string{`{"storage":"memory"}`, `{"storage":"file:///x"}`, ""} {
			if err := idx.StoreConfig(ctx, []byte(config)); err != nil {
				t.Fatal(err)
			}
			got, err := idx.LoadConfig(ctx)
			if err != nil || string(got) != config {
				t.Fatalf("LoadConfig = %q, %v; want %q", got, err, config)
			}
		}
	})
}

func TestScriptsAreStoredByHashAndNamedSeparately(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		if all, err := idx.Scripts(ctx); err != nil || len(all) != 0 {
			t.Fatalf("Scripts on an empty store = %v, %v", all, err)
		}
		if _, err := idx.ScriptHash(ctx, "counter"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown script: %v", err)
		}
		if err := idx.PutScript(ctx, "counter", "h1", "function merge(c, v) { return 1 }"); err != nil {
			t.Fatal(err)
		}
		if err := idx.PutScript(ctx, "counter", "h2", "function merge(c, v) { return 2 }"); err != nil {
			t.Fatal(err)
		}
		if hash, err := idx.ScriptHash(ctx, "counter"); err != nil || hash != "h2" {
			t.Fatalf("ScriptHash = %q, %v; want the latest, h2", hash, err)
		}
		if err := idx.DeleteScript(ctx, "counter"); err != nil {
			t.Fatal(err)
		}
		if err := idx.DeleteScript(ctx, "counter"); err != nil {
			t.Fatalf("deleting a missing name: %v", err)
		}
		if _, err := idx.ScriptHash(ctx, "counter"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted script still named: %v", err)
		}
		// Sources outlive their names: old deltas still find them.
		for hash, want := range map[string]string{"h1": "return 1", "h2": "return 2"} {
			if src, err := idx.ScriptSource(ctx, hash); err != nil || !strings.Contains(src, want) {
				t.Fatalf("ScriptSource(%s) = %q, %v", hash, src, err)
			}
		}
		if _, err := idx.ScriptSource(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown hash: %v", err)
		}
		if err := idx.PutScript(ctx, "max", "h3", "function merge() {}"); err != nil {
			t.Fatal(err)
		}
		if err := idx.PutScript(ctx, "名前|:", "h3", ""); err != nil {
			t.Fatal(err)
		}
		if all, err := idx.Scripts(ctx); err != nil || len(all) != 2 || all["max"] != "h3" || all["名前|:"] != "h3" {
			t.Fatalf("Scripts = %v, %v", all, err)
		}
		if src, err := idx.ScriptSource(ctx, "h3"); err != nil || src != "" {
			t.Fatalf("an empty source: %q, %v", src, err)
		}
	})
}

func TestCanceledContextChangesNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := idx.Commit(ctx, "cancel", Delta{ID: uuid.NewString(), Field: "a", Merge: "set"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("commit with a canceled context: %v", err)
		}
		if err := idx.StoreConfig(ctx, []byte("{}")); !errors.Is(err, context.Canceled) {
			t.Fatalf("StoreConfig with a canceled context: %v", err)
		}
		head, deltas, err := idx.Read(context.Background(), "cancel", 0)
		if err != nil || head != (Head{}) || len(deltas) != 0 {
			t.Fatalf("after a canceled commit: %+v, %v, %v", head, deltas, err)
		}
		if _, err := idx.LoadConfig(context.Background()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after a canceled StoreConfig: %v", err)
		}
	})
}

func TestCatalogsListsEveryCommittedCatalogInPages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		want := map[string]int64{}
		for _, name := range []string{"b", "a", "c:1", "a", "d"} {
			v, err := idx.Commit(ctx, name, Delta{ID: uuid.NewString(), Field: "f", Merge: "set"})
			if err != nil {
				t.Fatal(err)
			}
			want[name] = v
		}
		var got []CatalogInfo
		for after := ""; ; {
			page, err := idx.Catalogs(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].Name
		}
		if len(got) != 4 || got[0].Name != "a" || got[1].Name != "b" || got[2].Name != "c:1" || got[3].Name != "d" {
			t.Fatalf("Catalogs = %+v", got)
		}
		for _, c := range got {
			if c.Version != want[c.Name] {
				t.Fatalf("%s at %d, want %d", c.Name, c.Version, want[c.Name])
			}
		}
		if page, err := idx.Catalogs(ctx, "", 0); err != nil || len(page) != 0 {
			t.Fatalf("limit 0: %v, %v", page, err)
		}
	})
}

// commitN commits n deltas to catalog and returns their versions.
func commitN(t *testing.T, idx Index, catalog string, n int) []int64 {
	t.Helper()
	versions := make([]int64, n)
	for i := range versions {
		v, err := idx.Commit(context.Background(), catalog, Delta{ID: uuid.NewString(), Field: fmt.Sprintf("f%d", i), Merge: "set", BodyKey: catalog + "/" + uuid.NewString()})
		if err != nil {
			t.Fatal(err)
		}
		versions[i] = v
	}
	return versions
}

// lineageOf is the catalog's lineage as a reader sees it now.
func lineageOf(t *testing.T, idx Index, catalog string) Lineage {
	t.Helper()
	head, _, err := idx.Read(context.Background(), catalog, 0)
	if err != nil {
		t.Fatal(err)
	}
	return head.Lineage()
}

func TestHeadEpochIsTheFirstVersionAndSurvivesLaterCommits(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		if head, _, err := idx.Read(ctx, "e", 0); err != nil || head.Epoch != 0 {
			t.Fatalf("a catalog that does not exist: %+v, %v", head, err)
		}
		first := commitN(t, idx, "e", 1)[0]
		commitN(t, idx, "e", 3)
		head, _, err := idx.Read(ctx, "e", 0)
		if err != nil || head.Epoch != first || head.Removals != 0 {
			t.Fatalf("head %+v, %v; want epoch %d", head, err, first)
		}
	})
}

func TestRemoveTakesOneEntryOutAndCountsIt(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		versions := commitN(t, idx, "r", 3)
		_, deltas, err := idx.Read(ctx, "r", 0)
		if err != nil || len(deltas) != 3 {
			t.Fatal(deltas, err)
		}
		if removed, err := idx.Remove(ctx, "r", versions[1], "not-its-id"); removed || err != nil {
			t.Fatalf("remove with another ID: %v, %v", removed, err)
		}
		if removed, err := idx.Remove(ctx, "r", versions[1]+1, deltas[1].ID); removed || err != nil {
			t.Fatalf("remove at another version: %v, %v", removed, err)
		}
		if removed, err := idx.Remove(ctx, "r", versions[1], deltas[1].ID); !removed || err != nil {
			t.Fatalf("remove: %v, %v", removed, err)
		}
		if removed, err := idx.Remove(ctx, "r", versions[1], deltas[1].ID); removed || err != nil {
			t.Fatalf("second remove: %v, %v", removed, err)
		}
		head, rest, err := idx.Read(ctx, "r", 0)
		if err != nil || len(rest) != 2 || rest[0].Version != versions[0] || rest[1].Version != versions[2] {
			t.Fatalf("after remove: %+v %v", rest, err)
		}
		if head.Removals != 1 || head.Version != versions[2] || head.Epoch != versions[0] {
			t.Fatalf("head after remove: %+v", head)
		}
		if removed, err := idx.Remove(ctx, "absent", versions[0], deltas[0].ID); removed || err != nil {
			t.Fatalf("remove from a missing catalog: %v, %v", removed, err)
		}
	})
}

func TestSaveSnapshotRefusesAFoldFromAnotherLineage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		versions := commitN(t, idx, "l", 3)
		before := lineageOf(t, idx, "l")
		_, deltas, err := idx.Read(ctx, "l", 0)
		if err != nil {
			t.Fatal(err)
		}
		// A fold read before the removal is saved after it: refused.
		if removed, err := idx.Remove(ctx, "l", versions[0], deltas[0].ID); !removed || err != nil {
			t.Fatal(removed, err)
		}
		if moved, err := idx.SaveSnapshot(ctx, "l", SnapshotPointer{Version: versions[2], Key: "l/old"}, before); moved || err != nil {
			t.Fatalf("a save folded before a removal moved the pointer: %v, %v", moved, err)
		}
		wrongEpoch := lineageOf(t, idx, "l")
		wrongEpoch.Epoch++
		if moved, err := idx.SaveSnapshot(ctx, "l", SnapshotPointer{Version: versions[2], Key: "l/epoch"}, wrongEpoch); moved || err != nil {
			t.Fatalf("a save from another epoch moved the pointer: %v, %v", moved, err)
		}
		if moved, err := idx.SaveSnapshot(ctx, "l", SnapshotPointer{Version: versions[2], Key: "l/new"}, lineageOf(t, idx, "l")); !moved || err != nil {
			t.Fatalf("a save under the current lineage: %v, %v", moved, err)
		}
		head, _, _ := idx.Read(ctx, "l", 0)
		if head.Snapshot.Key != "l/new" {
			t.Fatalf("pointer %+v", head.Snapshot)
		}
	})
}

func TestLakeIDIsCreatedOnceAndKept(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx := context.Background()
		id, err := idx.LakeID(ctx)
		if err != nil || len(id) < 16 {
			t.Fatalf("lake id %q, %v", id, err)
		}
		again, err := idx.LakeID(ctx)
		if err != nil || again != id {
			t.Fatalf("second call: %q, %v; want %q", again, err, id)
		}
	})
}
