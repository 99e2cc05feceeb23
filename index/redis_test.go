package index

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hkloudou/lake/v2/internal/redistest"
)

func openTest(t *testing.T) (*redisIndex, string) {
	t.Helper()
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	idx, err := Open(context.Background(), url, Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	return idx.(*redisIndex), prefix
}

func redisTime(t *testing.T, r *redisIndex) int64 {
	t.Helper()
	reply, err := r.client.Do(context.Background(), r.client.B().Time().Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := strconv.ParseInt(reply[0], 10, 64)
	usec, _ := strconv.ParseInt(reply[1], 10, 64)
	return sec*1_000_000 + usec
}

func TestMemberEncodingRoundTripsAnyFieldName(t *testing.T) {
	for _, field := range []string{"", "a", "profile.name", "a:b|c", "|||", "d1|x|y|z|w", "名前.ü", `a\.b`, "/a~1b", "%zz+ %7C"} {
		in := Delta{Version: 42, ID: "0192-abc", Field: field, Merge: "set", BodyKey: "users/0192-x.json", Script: "counter@ab|cd"}
		out, err := decodeMember(encodeMember(in), 42)
		if err != nil || out != in {
			t.Errorf("field %q: got %+v, %v; want %+v", field, out, err, in)
		}
	}
}

func TestDecodeMemberRejectsUnknownEncoding(t *testing.T) {
	for _, member := range []string{"", "profile:uuid", "d1|id|set|key", "d2|id|set|k||f", "d1|id|%zz|k||f", "d1||set|k||f"} {
		if _, err := decodeMember(member, 1); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeMember(%q) = %v, want ErrCorrupt", member, err)
		}
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, url := range []string{"http://127.0.0.1:6379", "mysql://x", "redis://%zz"} {
		if _, err := Open(context.Background(), url, Options{}); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURL", url, err)
		}
	}
	if _, err := Open(context.Background(), "127.0.0.1:6379", Options{KeyPrefix: "a{b"}); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("prefix with a brace: %v, want ErrInvalidURL", err)
	}
}

func TestOpenUnreachableRedisIsUnavailable(t *testing.T) {
	_, err := Open(context.Background(), "redis://127.0.0.1:1", Options{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func TestOpenAcceptsBareHostPort(t *testing.T) {
	url := redistest.URL(t)
	hostPort := url[len("redis://"):]
	idx, err := Open(context.Background(), hostPort, Options{KeyPrefix: redistest.Prefix(t, url)})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if _, err := idx.LoadConfig(context.Background()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LoadConfig on an empty prefix = %v, want ErrNotFound", err)
	}
}

func TestConfigStoreAndLoad(t *testing.T) {
	idx, prefix := openTest(t)
	ctx := context.Background()
	if err := idx.StoreConfig(ctx, []byte(`{"storage":"memory"}`)); err != nil {
		t.Fatal(err)
	}
	got, err := idx.LoadConfig(ctx)
	if err != nil || string(got) != `{"storage":"memory"}` {
		t.Fatalf("LoadConfig = %q, %v", got, err)
	}
	raw, _ := idx.client.Do(ctx, idx.client.B().Get().Key(prefix+"lake.setting").Build()).ToString()
	if raw != `{"storage":"memory"}` {
		t.Fatalf("config is not at %slake.setting: %q", prefix, raw)
	}
}

func TestCommitVersionsAreStrictlyIncreasingAndNearRedisTime(t *testing.T) {
	idx, _ := openTest(t)
	ctx := context.Background()
	before := redisTime(t, idx)
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
	after := redisTime(t, idx)
	if last < before || last > after+200 {
		t.Fatalf("last version %d is not Redis TIME in microseconds (between %d and %d)", last, before, after)
	}
}

func TestCommitStaysIncreasingWhenStoredVersionIsAheadOfTheClock(t *testing.T) {
	idx, _ := openTest(t)
	ctx := context.Background()
	keys := idx.catalogKeys("clock")
	// The last version is a minute ahead of Redis TIME, as after a clock step
	// back: versions continue from it one by one, faster than the clock ticks.
	ahead := redisTime(t, idx) + 60_000_000
	if err := idx.client.Do(ctx, idx.client.B().Hset().Key(keys[0]).FieldValue().FieldValue("version", strconv.FormatInt(ahead, 10)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
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
}

func TestCommitOfTheSameDeltaTwiceIsIdempotent(t *testing.T) {
	idx, _ := openTest(t)
	ctx := context.Background()
	d := Delta{ID: uuid.NewString(), Field: "a", Merge: "delete"}
	v1, err := idx.Commit(ctx, "idem", d)
	if err != nil {
		t.Fatal(err)
	}
	idx.Commit(ctx, "idem", Delta{ID: uuid.NewString(), Field: "a", Merge: "delete"})
	v2, err := idx.Commit(ctx, "idem", d)
	if err != nil || v2 != v1 {
		t.Fatalf("retried commit returned %d, %v; want the first version %d", v2, err, v1)
	}
	_, deltas, _ := idx.Read(ctx, "idem", 0)
	if len(deltas) != 2 || deltas[0].Version != v1 || deltas[0].ID != d.ID {
		t.Fatalf("log = %+v, want the first delta once at %d plus the second one", deltas, v1)
	}
	if _, err := idx.Commit(ctx, "idem", Delta{Field: "a", Merge: "set"}); err == nil {
		t.Fatal("a delta without an ID was committed")
	}
}

func TestCommitRefusesVersionsBeyondTwoToThe53(t *testing.T) {
	idx, _ := openTest(t)
	ctx := context.Background()
	keys := idx.catalogKeys("edge")
	idx.client.Do(ctx, idx.client.B().Hset().Key(keys[0]).FieldValue().FieldValue("version", strconv.FormatInt(MaxVersion, 10)).Build())
	if _, err := idx.Commit(ctx, "edge", Delta{ID: uuid.NewString(), Field: "a", Merge: "set"}); err == nil {
		t.Fatal("commit beyond 2^53-1 succeeded")
	}
	n, _ := idx.client.Do(ctx, idx.client.B().Zcard().Key(keys[1]).Build()).AsInt64()
	if n != 0 {
		t.Fatalf("a refused commit left %d log entries", n)
	}
}

func TestReadReturnsHeadAndDeltasAfterTheSnapshot(t *testing.T) {
	idx, _ := openTest(t)
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
	moved, err := idx.SaveSnapshot(ctx, "c", SnapshotPointer{Version: versions[2], Key: "c/snapshots/x.json"})
	if err != nil || !moved {
		t.Fatalf("SaveSnapshot = %v, %v", moved, err)
	}
	head, deltas, err = idx.Read(ctx, "c", 0)
	if err != nil {
		t.Fatal(err)
	}
	if head.Version != versions[4] || head.Snapshot != (SnapshotPointer{Version: versions[2], Key: "c/snapshots/x.json"}) {
		t.Fatalf("head = %+v", head)
	}
	if len(deltas) != 2 || deltas[0].Version != versions[3] || deltas[1].Field != "f|4" || deltas[1].Merge != "patch" || deltas[1].BodyKey != "c/4.json" {
		t.Fatalf("deltas after the snapshot = %+v", deltas)
	}
	if _, deltas, _ = idx.Read(ctx, "c", versions[3]); len(deltas) != 1 || deltas[0].Version != versions[4] {
		t.Fatalf("deltas after %d = %+v", versions[3], deltas)
	}
	older, err := idx.Log(ctx, "c", 0, versions[2])
	if err != nil || len(older) != 3 || older[2].Version != versions[2] {
		t.Fatalf("Log(0, %d) = %+v, %v", versions[2], older, err)
	}
}

func TestSaveSnapshotOnlyMovesForwardAndNeverPastTheLog(t *testing.T) {
	idx, _ := openTest(t)
	ctx := context.Background()
	v1, _ := idx.Commit(ctx, "s", Delta{ID: uuid.NewString(), Field: "a", Merge: "set"})
	v2, _ := idx.Commit(ctx, "s", Delta{ID: uuid.NewString(), Field: "b", Merge: "set"})
	if moved, err := idx.SaveSnapshot(ctx, "s", SnapshotPointer{Version: v2, Key: "s/2"}); !moved || err != nil {
		t.Fatalf("save at v2: %v %v", moved, err)
	}
	if moved, err := idx.SaveSnapshot(ctx, "s", SnapshotPointer{Version: v1, Key: "s/1"}); moved || err != nil {
		t.Fatalf("save at older v1: moved=%v err=%v", moved, err)
	}
	if _, err := idx.SaveSnapshot(ctx, "s", SnapshotPointer{Version: v2 + 1, Key: "s/3"}); !errors.Is(err, ErrInvalidSnapshot) {
		t.Fatalf("save ahead of the log: %v, want ErrInvalidSnapshot", err)
	}
	head, _, _ := idx.Read(ctx, "s", 0)
	if head.Snapshot != (SnapshotPointer{Version: v2, Key: "s/2"}) {
		t.Fatalf("pointer = %+v", head.Snapshot)
	}
}

func TestConcurrentSnapshotSavesNeverMoveThePointerBackwards(t *testing.T) {
	idx, _ := openTest(t)
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
				if _, err := idx.SaveSnapshot(ctx, "race", SnapshotPointer{Version: v, Key: fmt.Sprintf("race/snapshots/%d", v)}); err != nil {
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
}

func TestOperationsOnAStoppedServerAreUnavailable(t *testing.T) {
	server := redistest.StartServer(t)
	idx, err := Open(context.Background(), server.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	server.Stop()
	// A generous deadline only guards the test: the errors must come from
	// the bounded retries, not from the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := idx.Commit(ctx, "c", Delta{ID: uuid.NewString(), Field: "a", Merge: "set"}); !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("commit on a stopped server: %v, want ErrUnavailable", err)
	}
	if _, _, err := idx.Read(ctx, "c", 0); !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read on a stopped server: %v, want ErrUnavailable", err)
	}
}

func TestScriptsAreStoredByHashAndNamedSeparately(t *testing.T) {
	idx, _ := openTest(t)
	ctx := context.Background()
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
	idx.PutScript(ctx, "max", "h3", "function merge() {}")
	if all, err := idx.Scripts(ctx); err != nil || len(all) != 1 || all["max"] != "h3" {
		t.Fatalf("Scripts = %v, %v", all, err)
	}
}
