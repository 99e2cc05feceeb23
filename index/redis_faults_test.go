package index

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/internal/testenv"
	"github.com/redis/rueidis"
)

// Faults of a real Redis: restarts, dropped connections, replicas, a busy
// server. Each test starts its own redis-server (redistest.StartServer).

func openOn(t *testing.T, ctx context.Context, url string) *redisIndex {
	t.Helper()
	idx, err := Open(ctx, url, Options{KeyPrefix: "faults:"})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { idx.Close() })
	return idx.(*redisIndex)
}

func newDelta() Delta {
	return Delta{ID: uuid.NewString(), Field: "f", Merge: "set", BodyKey: "c/" + uuid.NewString()}
}

// commitAndRead commits a delta to catalog and reads it back, both within
// a second: what a client that has healed does.
func commitAndRead(t *testing.T, idx Index, catalog, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	d := newDelta()
	v, err := idx.Commit(ctx, catalog, d)
	if err != nil {
		t.Fatalf("commit %s: %v", when, err)
	}
	_, deltas, err := idx.Read(ctx, catalog, 0)
	if err != nil {
		t.Fatalf("read %s: %v", when, err)
	}
	if len(deltas) == 0 || deltas[len(deltas)-1].ID != d.ID || deltas[len(deltas)-1].Version != v {
		t.Fatalf("read %s: the commit at %d is not the last delta of %v", when, v, deltas)
	}
}

// rawDo runs one raw command and fails the test on an error.
func rawDo(t *testing.T, client rueidis.Client, args ...string) rueidis.RedisResult {
	t.Helper()
	res := client.Do(context.Background(), client.B().Arbitrary(args...).Build())
	if err := res.Error(); err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return res
}

// TestRedisClientOlderThanItsOpenContextReconnects: the index is opened
// with a context whose deadline passes long before the client is done with.
// After a Redis restart and after its connections are killed, it must
// reconnect by itself (no reopen) and serve within a second. (The client
// once dialled with the open context's deadline as an absolute
// Dialer.Deadline, and failed every dial after it.)
func TestRedisClientOlderThanItsOpenContextReconnects(t *testing.T) {
	server := redistest.StartServer(t)
	openCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	idx := openOn(t, openCtx, server.URL)
	commitAndRead(t, idx, "c", "at start")
	time.Sleep(1500 * time.Millisecond) // older than the open context

	server.Restart(t)
	commitAndRead(t, idx, "c", "after a Redis restart")

	rawDo(t, redistest.Client(t, server.URL), "CLIENT", "KILL", "TYPE", "normal")
	commitAndRead(t, idx, "c", "after CLIENT KILL TYPE normal")

	server.Restart(t)
	time.Sleep(100 * time.Millisecond) // the dead connections are noticed idle, not by a command
	commitAndRead(t, idx, "d", "after a second restart")
}

// TestOpenHonoursItsContext: the open context bounds the first connection
// (the dial timeout, now relative, is longer than this context).
func TestOpenHonoursItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	// 192.0.2.1 (TEST-NET-1) never answers; the cancelled context must.
	_, err := Open(ctx, "redis://192.0.2.1:6379", Options{})
	if err == nil {
		t.Fatal("open with a cancelled context succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("open with a cancelled context took %v", d)
	}
}

// replicaOf starts a redis-server that replicates primaryPort.
func replicaOf(t *testing.T, primaryPort int, extra ...string) *redistest.Server {
	t.Helper()
	return redistest.StartServer(t, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(primaryPort)}, extra...)...)
}

// mustBeUnavailable checks err wraps ErrUnavailable and names the reply.
func mustBeUnavailable(t *testing.T, what string, err error, reply string) {
	t.Helper()
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), reply) {
		t.Fatalf("%s: %v, want ErrUnavailable naming %s", what, err, reply)
	}
}

// TestCommitToAReplicaWaitsForItsPromotion: READONLY (a write reaching a
// replica: a failover under way) is unavailability, not a final error. A
// commit fails with ErrUnavailable when its deadline passes first, and
// succeeds when the replica is promoted in time, through both command paths
// of a commit: the catalog listing (a plain command) and the commit script.
func TestCommitToAReplicaWaitsForItsPromotion(t *testing.T) {
	primary := redistest.StartServer(t)
	server := redistest.StartServer(t)
	idx := openOn(t, context.Background(), server.URL)
	commitAndRead(t, idx, "listed", "on the primary") // "listed" is in the listing: its commit is one script call
	raw := redistest.Client(t, server.URL)
	rawDo(t, raw, "REPLICAOF", "127.0.0.1", strconv.Itoa(primary.Port))

	for _, catalog := range []string{"listed", "new"} {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		start := time.Now()
		_, err := idx.Commit(ctx, catalog, newDelta())
		cancel()
		mustBeUnavailable(t, "commit to "+catalog+" on a replica", err, "READONLY")
		if d := time.Since(start); d < 400*time.Millisecond {
			t.Errorf("commit to %s gave up after %v, before its deadline", catalog, d)
		}
	}

	for _, catalog := range []string{"listed", "new"} {
		rawDo(t, raw, "REPLICAOF", "127.0.0.1", strconv.Itoa(primary.Port))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d := newDelta()
		done := make(chan error, 1)
		go func() {
			_, err := idx.Commit(ctx, catalog, d)
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("commit to %s on a replica returned before the promotion: %v", catalog, err)
		default:
		}
		rawDo(t, raw, "REPLICAOF", "NO", "ONE")
		start := time.Now()
		if err := <-done; err != nil {
			t.Fatalf("commit to %s started on a replica, promoted before the deadline: %v", catalog, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("commit to %s took %v after the promotion", catalog, took)
		}
		cancel()
		_, deltas, err := idx.Read(context.Background(), catalog, 0)
		if err != nil || len(deltas) == 0 || deltas[len(deltas)-1].ID != d.ID {
			t.Fatalf("read of %s after the promotion: %v %v", catalog, deltas, err)
		}
	}
}

// TestReadOfAReplicaWithoutItsPrimaryIsUnavailable: a replica that must not
// serve stale data answers MASTERDOWN while its primary is away; a read
// waits for it within its deadline and then is ErrUnavailable, and a read
// that is still waiting when the replica can answer again succeeds.
func TestReadOfAReplicaWithoutItsPrimaryIsUnavailable(t *testing.T) {
	nobody := testenv.FreePort(t) // the primary never comes up
	replica := replicaOf(t, nobody, "--replica-serve-stale-data", "no")
	idx := openOn(t, context.Background(), replica.URL)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, _, err := idx.Read(ctx, "c", 0)
	cancel()
	mustBeUnavailable(t, "read of a replica without its primary", err, "MASTERDOWN")
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = idx.LoadConfig(ctx)
	cancel()
	mustBeUnavailable(t, "config of a replica without its primary", err, "MASTERDOWN")
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = idx.Catalogs(ctx, "", 10)
	cancel()
	mustBeUnavailable(t, "catalogs of a replica without its primary", err, "MASTERDOWN")

	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := idx.Read(ctx, "c", 0)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	rawDo(t, redistest.Client(t, replica.URL), "REPLICAOF", "NO", "ONE")
	if err := <-done; err != nil {
		t.Fatalf("read started while MASTERDOWN, after the promotion: %v", err)
	}
}

// TestCommitWaitsOutABusyScript: while a script runs past
// busy-reply-threshold, Redis answers BUSY to everything; a commit waits and
// succeeds once the script is killed.
func TestCommitWaitsOutABusyScript(t *testing.T) {
	server := redistest.StartServer(t, "--busy-reply-threshold", "50")
	idx := openOn(t, context.Background(), server.URL)
	commitAndRead(t, idx, "c", "before the script")

	// Both connect now: a new connection's handshake is answered BUSY too.
	looping := redistest.Client(t, server.URL)
	killer := redistest.Client(t, server.URL)
	rawDo(t, killer, "PING")
	rawDo(t, looping, "PING")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Ends with an error when the script is killed.
		looping.Do(context.Background(), looping.B().Eval().Script("local i = 0 while true do i = i + 1 end").Numkeys(0).Build())
	}()
	defer wg.Wait()
	// Ends the script however the test ends (an error once it is killed).
	defer killer.Do(context.Background(), killer.B().ScriptKill().Build())
	// Wait until the server answers BUSY.
	for deadline := time.Now().Add(5 * time.Second); ; {
		err := killer.Do(context.Background(), killer.B().Ping().Build()).Error()
		if err != nil && strings.HasPrefix(err.Error(), "BUSY") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server never answered BUSY: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := idx.Commit(ctx, "c", newDelta())
	cancel()
	mustBeUnavailable(t, "commit while a script is busy", err, "BUSY")

	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	d := newDelta()
	go func() {
		_, err := idx.Commit(ctx, "c", d)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("commit returned while the script was running: %v", err)
	default:
	}
	rawDo(t, killer, "SCRIPT", "KILL")
	if err := <-done; err != nil {
		t.Fatalf("commit after SCRIPT KILL: %v", err)
	}
	commitAndRead(t, idx, "c", "after the script")
}

// TestTransientRepliesAreRetriedAndClassified uses real error replies (a
// script that answers with the error) for the transient replies that are
// hard to provoke (LOADING, TRYAGAIN), and checks that final replies are not
// mistaken for them.
func TestTransientRepliesAreRetriedAndClassified(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	idx, err := Open(context.Background(), url, Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	r := idx.(*redisIndex)
	// replyN answers with reply to the first n calls on key, then "ok".
	const replyN = `local n = redis.call('INCR', KEYS[1]) if n <= tonumber(ARGV[2]) then return redis.error_reply(ARGV[1]) end return 'ok'`
	eval := func(ctx context.Context, reply string, n int) rueidis.RedisResult {
		key := prefix + uuid.NewString()
		return r.do(ctx, r.client.B().Eval().Script(replyN).Numkeys(1).Key(key).Arg(reply, strconv.Itoa(n)).Build())
	}
	for _, reply := range []string{
		"LOADING Redis is loading the dataset in memory",
		"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
		"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
		"READONLY You can't write against a read only replica.",
		"TRYAGAIN Multiple keys request during rehashing of slot",
		"CLUSTERDOWN The cluster is down",
	} {
		word, _, _ := strings.Cut(reply, " ")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if got, err := eval(ctx, reply, 3).ToString(); err != nil || got != "ok" {
			t.Errorf("%s three times, then ok: %q, %v", word, got, err)
		}
		cancel()

		ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		err := eval(ctx, reply, 1<<30).Error()
		took := time.Since(start)
		cancel()
		if _, ok := transientReply(err); !ok {
			t.Errorf("%s is not a transient reply: %v", word, err)
		}
		err = classify(err)
		mustBeUnavailable(t, word+" until the deadline", err, word)
		if took < 150*time.Millisecond || took > time.Second {
			t.Errorf("%s until a 200ms deadline: gave up after %v", word, took)
		}
		var redisErr *rueidis.RedisError
		if !errors.As(err, &redisErr) {
			t.Errorf("%s: the reply is not in the chain of %v", word, err)
		}
	}
	for _, reply := range []string{
		"ERR something is wrong",
		"BUSYGROUP Consumer Group name already exists",
		"BUSYKEY Target key name already exists.",
		"WRONGTYPE Operation against a key holding the wrong kind of value",
		"NOPERM this user has no permissions",
	} {
		start := time.Now()
		err := eval(context.Background(), reply, 1).Error()
		if time.Since(start) > 100*time.Millisecond {
			t.Errorf("%q was retried", reply)
		}
		if err == nil || errors.Is(classify(err), ErrUnavailable) {
			t.Errorf("%q: %v is classified as unavailable", reply, classify(err))
		}
		if errors.Is(classify(errors.Join(errors.New("wrapped"), err)), ErrUnavailable) {
			t.Errorf("%q wrapped in another error is classified as unavailable", reply)
		}
	}
}

// Safety checks (redis_safety.go): the settings that can lose acknowledged
// writes, read from real servers set up each way.

// warningsOf opens the index on url and returns its Warnings.
func warningsOf(t *testing.T, url string) []Warning {
	t.Helper()
	idx := openOn(t, context.Background(), url)
	var checker SafetyChecker = idx
	warnings, err := checker.Warnings(context.Background())
	if err != nil {
		t.Fatalf("Warnings on %s: %v", url, err)
	}
	return warnings
}

func findWarning(warnings []Warning, setting string) (Warning, bool) {
	for _, w := range warnings {
		if w.Setting == setting {
			return w, true
		}
	}
	return Warning{}, false
}

// TestRedisSafetyWarnings runs Warnings on servers set up safely and
// unsafely.
func TestRedisSafetyWarnings(t *testing.T) {
	t.Run("safe", func(t *testing.T) {
		server := redistest.StartServer(t, "--appendonly", "yes", "--maxmemory-policy", "noeviction")
		if w := warningsOf(t, server.URL); len(w) != 0 {
			t.Fatalf("appendonly yes, noeviction: %v, want no warnings", w)
		}
	})
	t.Run("eviction", func(t *testing.T) {
		server := redistest.StartServer(t, "--appendonly", "yes", "--maxmemory-policy", "allkeys-lru")
		warnings := warningsOf(t, server.URL)
		w, ok := findWarning(warnings, "maxmemory-policy")
		if len(warnings) != 1 || !ok || w.Value != "allkeys-lru" || !strings.Contains(w.Risk, "noeviction") {
			t.Fatalf("allkeys-lru: %v, want one maxmemory-policy warning", warnings)
		}
	})
	t.Run("no persistence", func(t *testing.T) {
		server := redistest.StartServer(t, "--save", "", "--appendonly", "no")
		warnings := warningsOf(t, server.URL)
		w, ok := findWarning(warnings, "appendonly")
		if len(warnings) != 1 || !ok || !strings.Contains(w.Risk, "whole index") || !strings.Contains(w.Risk, "appendonly yes") {
			t.Fatalf(`save "", appendonly no: %v, want one appendonly warning`, warnings)
		}
	})
	t.Run("snapshots only", func(t *testing.T) {
		server := redistest.StartServer(t, "--save", "3600 1", "--appendonly", "no")
		warnings := warningsOf(t, server.URL)
		if w, ok := findWarning(warnings, "appendonly"); len(warnings) != 1 || !ok || !strings.Contains(w.Value, "3600 1") {
			t.Fatalf(`save "3600 1", appendonly no: %v, want one appendonly warning`, warnings)
		}
	})
	t.Run("appendfsync no", func(t *testing.T) {
		server := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "no")
		warnings := warningsOf(t, server.URL)
		if _, ok := findWarning(warnings, "appendfsync"); len(warnings) != 1 || !ok {
			t.Fatalf("appendfsync no: %v, want one appendfsync warning", warnings)
		}
	})
	t.Run("both", func(t *testing.T) {
		server := redistest.StartServer(t, "--maxmemory-policy", "volatile-lru")
		warnings := warningsOf(t, server.URL)
		_, eviction := findWarning(warnings, "maxmemory-policy")
		_, persistence := findWarning(warnings, "appendonly")
		if len(warnings) != 2 || !eviction || !persistence {
			t.Fatalf("volatile-lru without persistence: %v, want two warnings", warnings)
		}
	})
	t.Run("CONFIG renamed", func(t *testing.T) {
		// Managed Redis services often rename or disable CONFIG.
		server := redistest.StartServer(t, "--rename-command", "CONFIG", "")
		warnings := warningsOf(t, server.URL)
		if len(warnings) != 1 || !strings.Contains(warnings[0].Risk, "cannot read Redis settings") {
			t.Fatalf("CONFIG disabled: %v, want one warning that the settings cannot be read", warnings)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		server := redistest.StartServer(t)
		idx := openOn(t, context.Background(), server.URL)
		server.Stop()
		if w, err := idx.Warnings(context.Background()); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Warnings with Redis stopped: %v, %v; want ErrUnavailable", w, err)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		server := redistest.StartCluster(t)
		rawDo(t, redistest.Client(t, server.URL), "CONFIG", "SET", "maxmemory-policy", "allkeys-random")
		idx := openOn(t, context.Background(), server.URL)
		if !idx.cluster {
			t.Fatal("the index does not see a cluster")
		}
		warnings, err := idx.Warnings(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		w, ok := findWarning(warnings, "maxmemory-policy")
		if !ok || w.Value != "allkeys-random" || !strings.Contains(w.Risk, "cluster node 127.0.0.1:") {
			t.Fatalf("cluster node with allkeys-random: %v, want its maxmemory-policy warning naming the node", warnings)
		}
	})
}
