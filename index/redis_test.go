package index

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hkloudou/lake/v2/internal/redistest"
)

// Redis-only tests: URLs, the key layout, a server that is down. The
// behaviour both engines share is in conformance_test.go.

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

// redisTime is the server's TIME in microseconds: the clock of its versions.
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

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, url := range []string{"http://127.0.0.1:6379", "mysql://x", "redis://%zz", "file://"} {
		if _, err := Open(context.Background(), url, Options{}); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURL", url, err)
		}
	}
	for _, url := range []string{"127.0.0.1:6379", "file://" + t.TempDir()} {
		if _, err := Open(context.Background(), url, Options{KeyPrefix: "a{b"}); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("%s with a brace in the prefix: %v, want ErrInvalidURL", url, err)
		}
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
	if s := idx.(interface{ String() string }).String(); s != "redis" {
		t.Fatalf("String() = %q, want redis", s)
	}
	if _, err := idx.LoadConfig(context.Background()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LoadConfig on an empty prefix = %v, want ErrNotFound", err)
	}
}

func TestRedisKeyLayout(t *testing.T) {
	idx, prefix := openTest(t)
	ctx := context.Background()
	if err := idx.StoreConfig(ctx, []byte(`{"storage":"memory"}`)); err != nil {
		t.Fatal(err)
	}
	raw, _ := idx.client.Do(ctx, idx.client.B().Get().Key(prefix+"lake.setting").Build()).ToString()
	if raw != `{"storage":"memory"}` {
		t.Fatalf("config is not at %slake.setting: %q", prefix, raw)
	}
	d := Delta{ID: uuid.NewString(), Field: "a|b", Merge: "set", BodyKey: "c/x.json"}
	v, err := idx.Commit(ctx, "c", d)
	if err != nil {
		t.Fatal(err)
	}
	score, err := idx.client.Do(ctx, idx.client.B().Zscore().Key(prefix+"lake:{c}:log").Member(mustEncodeMember(t, d)).Build()).AsFloat64()
	if err != nil || score != float64(v) {
		t.Fatalf("log entry at %slake:{c}:log: score %v, %v; want %d", prefix, score, err, v)
	}
	last, err := idx.client.Do(ctx, idx.client.B().Hget().Key(prefix+"lake:{c}:head").Field("version").Build()).ToString()
	if err != nil || last != strconv.FormatInt(v, 10) {
		t.Fatalf("head at %slake:{c}:head: version %q, %v; want %d", prefix, last, err, v)
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
