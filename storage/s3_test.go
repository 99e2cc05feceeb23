package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/internal/s3test"
)

func s3Options(srv *s3test.Server) S3Options {
	return S3Options{
		Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.Bucket,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	}
}

func newTestS3(t testing.TB, opts S3Options) *S3 {
	t.Helper()
	s, err := NewS3Storage(opts)
	if err != nil {
		t.Fatalf("NewS3Storage: %v", err)
	}
	return s
}

// testCtx bounds every call of a test, so a hang fails instead of stalling.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Errors name the bucket, the key and the endpoint, and a missing key is
// not mistaken for an outage.
func TestS3ErrorsNameBucketKeyAndEndpoint(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	s := newTestS3(t, s3Options(srv))
	_, err := s.Get(testCtx(t), "no/such.json")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing = %v, want ErrNotFound", err)
	}
	for _, want := range []string{srv.Bucket, "no/such.json", srv.Endpoint} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// countingListener accepts connections and counts them; with answer false
// it holds them open without a byte in reply.
func countingListener(t *testing.T) (addr string, accepted *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String(), accepted
}

func TestS3InvalidKeyDoesNoIO(t *testing.T) {
	endpoint, accepted := countingListener(t)
	s := newTestS3(t, S3Options{Endpoint: endpoint, Region: "us-east-1", Bucket: "lake-test"})
	refusesInvalidKeys(t, s)
	if n := accepted.Load(); n != 0 {
		t.Fatalf("invalid keys opened %d connections", n)
	}
}

// A Put over an existing key replaces the object whole: readers see some
// writer's whole object, never a mix, even while writers race.
func TestS3PutReplacesTheWholeObject(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	s := newTestS3(t, s3Options(srv))
	ctx := testCtx(t)
	if err := s.Put(ctx, "k", []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "k", []byte("second")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "k"); err != nil || string(got) != "second" {
		t.Fatalf("Get after overwrite = %q, %v", got, err)
	}
	inParallel(t, 32, 8, func(w, r int) error {
		data := fmt.Appendf(nil, "w%d/r%d.json", w, r)
		if err := s.Put(ctx, "shared", data); err != nil {
			return err
		}
		got, err := s.Get(ctx, "shared")
		if err != nil || !bytes.HasPrefix(got, []byte("w")) || !bytes.HasSuffix(got, []byte(".json")) {
			return fmt.Errorf("Get(shared) = %q, %v", got, err)
		}
		return nil
	})
}

func TestS3MissingBucket(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := testCtx(t)
	// With a region the request goes straight to the bucket; without one
	// minio-go first asks for the bucket's location. Both must say so.
	for _, region := range []string{srv.Region, ""} {
		opts := s3Options(srv)
		opts.Bucket, opts.Region = "no-such-bucket", region
		s := newTestS3(t, opts)
		for op, err := range map[string]error{
			"Put":    s.Put(ctx, "k", []byte("x")),
			"Get":    func() error { _, err := s.Get(ctx, "k"); return err }(),
			"Delete": s.Delete(ctx, "k"),
		} {
			if !errors.Is(err, ErrBucketNotFound) || !strings.Contains(err.Error(), "no-such-bucket") {
				t.Errorf("region %q: %s = %v, want ErrBucketNotFound naming the bucket", region, op, err)
			}
		}
	}
}

func TestS3WrongCredentials(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := testCtx(t)
	const badSecret = "definitely-not-the-secret"
	wrongSecret := s3Options(srv)
	wrongSecret.SecretKey = badSecret
	wrongKey := s3Options(srv)
	wrongKey.AccessKey = "no-such-access-key"
	noRegion := wrongSecret
	noRegion.Region = ""
	for name, opts := range map[string]S3Options{"wrong secret": wrongSecret, "wrong access key": wrongKey, "wrong secret, no region": noRegion} {
		s := newTestS3(t, opts)
		start := time.Now()
		err := s.Put(ctx, "k", []byte("x"))
		if !errors.Is(err, ErrAccessDenied) {
			t.Errorf("%s: Put = %v, want ErrAccessDenied", name, err)
			continue
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrAccessDenied) {
			t.Errorf("%s: Get = %v, want ErrAccessDenied", name, err)
		}
		if strings.Contains(err.Error(), badSecret) || strings.Contains(err.Error(), srv.SecretKey) {
			t.Errorf("%s: error leaks the secret: %v", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v; a denied request must not be retried", name, d)
		}
	}
}

func TestS3ClosedPortIsUnavailableQuickly(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close() // nothing listens there now: connections are refused
	for _, region := range []string{"us-east-1", ""} {
		s := newTestS3(t, S3Options{Endpoint: endpoint, Region: region, Bucket: "lake-test", AccessKey: "ak", SecretKey: "sk"})
		start := time.Now()
		_, err := s.Get(testCtx(t), "k")
		elapsed := time.Since(start)
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("region %q: Get from a closed port = %v, want ErrUnavailable that is not a deadline", region, err)
		}
		if !strings.Contains(err.Error(), endpoint) {
			t.Errorf("error %q does not name the endpoint", err)
		}
		// Three attempts with at most 200ms+400ms+800ms of backoff.
		if elapsed > 5*time.Second {
			t.Errorf("region %q: took %v", region, elapsed)
		}
		t.Logf("region %q: refused after %v: %v", region, elapsed, err)
	}
}

func TestS3SilentServerTimesOut(t *testing.T) {
	t.Parallel()
	endpoint, accepted := countingListener(t)
	s := newTestS3(t, S3Options{Endpoint: endpoint, Region: "us-east-1", Bucket: "lake-test", AccessKey: "ak", SecretKey: "sk"})
	for op, call := range map[string]func(context.Context) error{
		"Put": func(ctx context.Context) error { return s.Put(ctx, "k", []byte("x")) },
		"Get": func(ctx context.Context) error { _, err := s.Get(ctx, "k"); return err },
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		cancel()
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s to a silent server = %v, want ErrUnavailable and context.DeadlineExceeded", op, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s returned %v after a 300ms deadline", op, d)
		}
	}
	if accepted.Load() == 0 {
		t.Fatal("the client never connected; the test proves nothing")
	}
}

// faultServer answers every request with status and an S3 error code, and
// counts the requests: versitygw cannot be told to fail, this can.
func faultServer(t *testing.T, status int, code string) (endpoint string, requests *atomic.Int64) {
	t.Helper()
	requests = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, code)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, requests
}

func TestS3RetriesAreBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status   int
		code     string
		want     error
		attempts int64
	}{
		{http.StatusServiceUnavailable, "SlowDown", ErrUnavailable, s3MaxAttempts},
		{http.StatusInternalServerError, "InternalError", ErrUnavailable, s3MaxAttempts},
		{http.StatusForbidden, "AccessDenied", ErrAccessDenied, 1},
		{http.StatusNotFound, "NoSuchBucket", ErrBucketNotFound, 1},
	} {
		endpoint, requests := faultServer(t, tc.status, tc.code)
		s := newTestS3(t, S3Options{Endpoint: endpoint, Region: "us-east-1", Bucket: "lake-test", AccessKey: "ak", SecretKey: "sk"})
		start := time.Now()
		err := s.Put(testCtx(t), "k", []byte("x"))
		if !errors.Is(err, tc.want) {
			t.Errorf("%d %s: Put = %v, want %v", tc.status, tc.code, err, tc.want)
		}
		if n := requests.Load(); n != tc.attempts {
			t.Errorf("%d %s: %d requests, want %d", tc.status, tc.code, n, tc.attempts)
		}
		t.Logf("%d %s: %d requests in %v", tc.status, tc.code, requests.Load(), time.Since(start))
	}
}

func TestS3ServerStopAndRestart(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	s := newTestS3(t, s3Options(srv))
	ctx := testCtx(t)
	if err := s.Put(ctx, "before", []byte("1")); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if err := s.Put(ctx, "during", []byte("2")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put with the server down = %v, want ErrUnavailable", err)
	}
	if _, err := s.Get(ctx, "before"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with the server down = %v, want ErrUnavailable", err)
	}
	srv.Restart(t)
	// The pooled connections died with the server; the same S3 must recover.
	if got, err := s.Get(ctx, "before"); err != nil || string(got) != "1" {
		t.Fatalf("Get after restart = %q, %v", got, err)
	}
	if err := s.Put(ctx, "after", []byte("3")); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
	if got, err := s.Get(ctx, "after"); err != nil || string(got) != "3" {
		t.Fatalf("Get after restart = %q, %v", got, err)
	}
}

func TestEncryptedObjectAtRestOnS3IsEncrypted(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	plain := newTestS3(t, s3Options(srv))
	enc := newTestEncrypted(t, plain, testPassword)
	ctx := testCtx(t)
	secret := []byte(`{"card":"4111-1111-1111-1111"}`)
	if err := enc.Put(ctx, "cards/1.json", secret); err != nil {
		t.Fatal(err)
	}
	raw, err := plain.Get(ctx, "cards/1.json")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("4111")) || !bytes.HasPrefix(raw, []byte(encMagic)) {
		t.Fatalf("object at rest is not encrypted: %q", raw)
	}
}

func TestOpenS3AndOSS(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := testCtx(t)
	for _, cfg := range []*config.Config{
		// No region: minio-go asks the bucket. Auto style: path, for an IP.
		{Storage: "s3", Endpoint: srv.Endpoint, Bucket: srv.Bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey},
		// OSS settings (unsigned payload) against the same server; an OSS
		// emulator on loopback needs path style spelled out.
		{Storage: "oss", Endpoint: srv.Endpoint, Bucket: srv.Bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: "path"},
	} {
		s, err := Open(cfg)
		if err != nil {
			t.Fatalf("Open(%v): %v", cfg, err)
		}
		if Kind(s) != cfg.Storage {
			t.Errorf("Kind = %q, want %q", Kind(s), cfg.Storage)
		}
		key := cfg.Storage + "/object.json"
		if err := s.Put(ctx, key, []byte(`{"a":1}`)); err != nil {
			t.Fatalf("%s Put: %v", cfg.Storage, err)
		}
		if got, err := s.Get(ctx, key); err != nil || string(got) != `{"a":1}` {
			t.Fatalf("%s Get = %q, %v", cfg.Storage, got, err)
		}
	}
	// A second bucket on the same server is independent.
	other := newTestS3(t, S3Options{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t), AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if _, err := other.Get(ctx, "s3/object.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get from another bucket = %v, want ErrNotFound", err)
	}
}

func TestUsePathStyle(t *testing.T) {
	for _, tc := range []struct {
		host, style string
		path        bool
	}{
		{"127.0.0.1", "", true},
		{"127.0.0.1", "auto", true},
		{"::1", "auto", true},
		{"10.0.0.7", "", true},
		{"localhost", "", true},
		{"LOCALHOST.", "", true},
		{"minio.localhost", "", true},
		{"oss-cn-hangzhou.aliyuncs.com", "", false},
		{"oss-cn-hangzhou.aliyuncs.com", "auto", false},
		{"s3.us-west-2.amazonaws.com", "", false},
		{"minio.internal", "path", true},
		{"127.0.0.1", "virtual", false},
		{"s3.amazonaws.com", "path", true},
	} {
		if got := usePathStyle(tc.host, tc.style); got != tc.path {
			t.Errorf("usePathStyle(%q, %q) = %v, want %v", tc.host, tc.style, got, tc.path)
		}
	}
}

func TestNewS3StorageValidatesWithoutIO(t *testing.T) {
	for _, tc := range []struct {
		opts S3Options
		want string
	}{
		{S3Options{Bucket: "lake"}, "needs endpoint"},
		{S3Options{Endpoint: "127.0.0.1:9000", Bucket: "lake"}, "not an http:// or https:// URL"},
		{S3Options{Endpoint: "ftp://h", Bucket: "lake"}, "not an http:// or https:// URL"},
		{S3Options{Endpoint: "http://h/bucket", Bucket: "lake"}, "scheme://host[:port] only"},
		{S3Options{Endpoint: "http://h", Bucket: "Bad_Bucket"}, "not a valid bucket name"},
		{S3Options{Endpoint: "http://h", Bucket: "lake", AccessKey: "ak"}, "must be set together"},
		{S3Options{Endpoint: "http://h", Bucket: "lake", PathStyle: "dns"}, "path_style"},
		{S3Options{Endpoint: "http://h", Bucket: "lake", Kind: "gcs"}, "neither s3 nor oss"},
	} {
		_, err := NewS3Storage(tc.opts)
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewS3Storage(%+v) = %v, want config.ErrInvalid mentioning %q", tc.opts, err, tc.want)
		}
	}
	// Nothing answers on this name; construction must still succeed.
	s, err := NewS3Storage(S3Options{Endpoint: "https://nowhere.invalid", Bucket: "lake", Kind: "oss"})
	if err != nil || s.String() != "oss" {
		t.Fatalf("NewS3Storage for an unreachable endpoint = %v, %v", s, err)
	}
}

// benchS3PutGet puts and gets a 1 KiB object per iteration from about 64
// goroutines, the concurrency of a busy Lake client.
func benchS3PutGet(b *testing.B, s Storage) {
	ctx := context.Background()
	data := make([]byte, 1024)
	rand.Read(data)
	var seq atomic.Int64
	b.SetBytes(int64(len(data)))
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("bench/%d.bin", seq.Add(1))
			if err := s.Put(ctx, key, data); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Get(ctx, key); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkS3PutGet1KiB(b *testing.B) {
	srv := s3test.Start(b)
	benchS3PutGet(b, newTestS3(b, s3Options(srv)))
}

func BenchmarkEncryptedS3PutGet1KiB(b *testing.B) {
	srv := s3test.Start(b)
	benchS3PutGet(b, newTestEncrypted(b, newTestS3(b, s3Options(srv)), testPassword))
}

// A store that ignores Range answers 200 with the whole object; GetRange
// still returns only the range.
func TestS3GetRangeFromAStoreThatIgnoresRange(t *testing.T) {
	t.Parallel()
	var ranges atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "0123456789")
	}))
	t.Cleanup(srv.Close)
	s := newTestS3(t, S3Options{Endpoint: srv.URL, Region: "us-east-1", Bucket: "lake-test", AccessKey: "ak", SecretKey: "sk"})
	for _, tc := range []struct {
		offset, length int64
		want           string
	}{{0, 4, "0123"}, {3, 4, "3456"}, {8, 10, "89"}, {10, 5, ""}, {20, 5, ""}} {
		got, err := s.GetRange(testCtx(t), "k", tc.offset, tc.length)
		if err != nil || string(got) != tc.want {
			t.Errorf("GetRange(%d, %d) = %q, %v; want %q", tc.offset, tc.length, got, err, tc.want)
		}
	}
	if ranges.Load() == 0 {
		t.Fatal("GetRange sent no Range header")
	}
}
