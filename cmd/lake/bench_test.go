package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/internal/s3test"
	"github.com/hkloudou/lake/v2/storage"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// benchKeys returns the lakebench:* keys in the Redis at url.
func benchKeys(t *testing.T, url string) map[string]bool {
	t.Helper()
	return redisKeys(t, url, "lakebench:*")
}

// redisKeys returns the keys matching pattern in the Redis at url.
func redisKeys(t *testing.T, url, pattern string) map[string]bool {
	t.Helper()
	client := redistest.Client(t, url)
	ctx := context.Background()
	keys := map[string]bool{}
	for cursor := uint64(0); ; {
		entry, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		for _, k := range entry.Elements {
			keys[k] = true
		}
		if cursor = entry.Cursor; cursor == 0 {
			return keys
		}
	}
}

// benchJSON checks that out is exactly one JSON object of a clean run of op.
func benchJSON(t *testing.T, op, out string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var got map[string]any
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, out)
	}
	if dec.More() || strings.TrimSpace(out[dec.InputOffset():]) != "" {
		t.Fatalf("stdout holds more than one JSON object:\n%s", out)
	}
	for _, k := range []string{"op", "clients", "duration_s", "ops", "ops_per_sec", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors"} {
		if _, ok := got[k]; !ok {
			t.Fatalf("no %q in %s", k, out)
		}
	}
	for _, k := range []string{"storage", "writes", "reads", "puts", "put_bytes", "gets", "ranged_gets", "get_bytes", "deletes"} {
		if _, ok := got[k]; !ok {
			t.Fatalf("no %q in %s", k, out)
		}
	}
	if got["writes"].(float64)+got["reads"].(float64) != got["ops"].(float64) {
		t.Fatalf("writes and reads do not add up to ops: %s", out)
	}
	// A ratio is there exactly when there were ops of its kind, and is the
	// ratio of the counts.
	for _, r := range []struct{ ratio, n, per string }{{"puts_per_write", "puts", "writes"}, {"gets_per_read", "gets", "reads"}} {
		v, ok := got[r.ratio]
		per := got[r.per].(float64)
		if ok != (per > 0) || ok && math.Abs(v.(float64)-got[r.n].(float64)/per) > 1e-9 {
			t.Fatalf("%s with %s %v: %s", r.ratio, r.per, per, out)
		}
	}
	if got["op"] != op || got["ops"].(float64) <= 0 || got["errors"].(float64) != 0 ||
		got["p50_ms"].(float64) > got["p99_ms"].(float64) || got["p99_ms"].(float64) > got["max_ms"].(float64) {
		t.Fatalf("bench %s: %s", op, out)
	}
	return got
}

func TestBenchRedis(t *testing.T) {
	url := redistest.URL(t)
	dir := t.TempDir()
	for _, op := range []string{"write", "read", "mixed"} {
		t.Run(op, func(t *testing.T) {
			before := benchKeys(t, url)
			r := runLake(t, dir, "", "--meta", url, "bench", op, "--json", "--duration", "1s", "--clients", "4", "--catalogs", "4", "--fields", "10")
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			got := benchJSON(t, op, r.stdout)
			if got["clients"].(float64) != 4 {
				t.Fatalf("clients: %s", r.stdout)
			}
			// Keys of other runs may come and go; none of this run's may stay.
			for k := range benchKeys(t, url) {
				if !before[k] {
					t.Fatalf("key %s left behind", k)
				}
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Fatalf("bench wrote into its working directory: %v %v", entries, err)
	}
}

func TestBenchFileAndTable(t *testing.T) {
	dir := t.TempDir()
	lakeDir := filepath.Join(dir, "lake")
	mustLake(t, dir, "", "--meta", "file://"+lakeDir, "write", "users", "a", "1")
	files := countFiles(t, lakeDir)
	profile := filepath.Join(dir, "cpu.prof")
	r := runLake(t, dir, "", "--meta", "file://"+lakeDir, "bench", "write", "--duration", "500ms", "--clients", "2", "--storage", "local", "--cpuprofile", profile)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// A Go CPU profile is gzipped protobuf.
	if data, err := os.ReadFile(profile); err != nil || len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		t.Fatalf("--cpuprofile wrote %d bytes (%v), want a gzipped profile", len(data), err)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "ops/s") || !strings.Contains(lines[0], "p99") || !strings.Contains(lines[0], "puts/write") ||
		!strings.HasPrefix(strings.TrimSpace(lines[1]), "write") || !strings.Contains(lines[1], "local") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "ops/s") {
		t.Fatalf("no progress on stderr: %q", r.stderr)
	}
	r = runLake(t, dir, "", "--meta", "file://"+lakeDir, "bench", "mixed", "--json", "--duration", "500ms", "--clients", "2", "--catalogs", "2", "--fields", "5",
		"--snapshot-min-deltas", "4", "--snapshot-async")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	benchJSON(t, "mixed", r.stdout)
	// The lake itself is untouched.
	if out := mustLake(t, dir, "", "--meta", "file://"+lakeDir, "catalogs", "--json"); !strings.HasPrefix(out, `{"catalogs":[{"name":"users",`) || strings.Count(out, `"name"`) != 1 {
		t.Fatalf("catalogs after bench: %q", out)
	}
	if n := countFiles(t, lakeDir); n != files {
		t.Fatalf("the lake's directory held %d files before the bench and %d after", files, n)
	}
}

func TestBenchStorageConfigWithoutConfig(t *testing.T) {
	dir := t.TempDir()
	// A lake that does not exist: refused, and not created.
	missing := filepath.Join(dir, "missing")
	r := runLake(t, dir, "", "--meta", "file://"+missing, "bench", "write", "--storage", "config", "--duration", "1s")
	if r.code != 2 || !strings.Contains(r.stderr, "no config") || r.stdout != "" {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("bench created %s: %v", missing, err)
	}
	// A lake with data but no config: refused, nothing written.
	lakeDir := filepath.Join(dir, "lake")
	mustLake(t, dir, "", "--meta", "file://"+lakeDir, "write", "users", "a", "1")
	r = runLake(t, dir, "", "--meta", "file://"+lakeDir, "bench", "read", "--storage", "config", "--duration", "1s")
	if r.code != 2 || !strings.Contains(r.stderr, "no config") || r.stdout != "" {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if out := mustLake(t, dir, "", "--meta", "file://"+lakeDir, "catalogs", "--json"); strings.Count(out, `"name"`) != 1 {
		t.Fatalf("catalogs after a refused bench: %q", out)
	}
	if out := mustLake(t, dir, "", "--meta", "file://"+lakeDir, "config", "get"); out != "{}\n" {
		t.Fatalf("config after a refused bench: %q", out)
	}
}

func TestBenchStorageConfig(t *testing.T) {
	dir := t.TempDir()
	lakeDir := filepath.Join(dir, "lake")
	objects := filepath.Join(dir, "objects")
	cfg := `{"storage":"local","path":"` + objects + `","aes_pwd":"s3cret"}`
	mustLake(t, dir, cfg, "--meta", "file://"+lakeDir, "config", "set", "-")
	mustLake(t, dir, "", "--meta", "file://"+lakeDir, "write", "users", "a", "1")
	before := countFiles(t, objects)
	r := runLake(t, dir, "", "--meta", "file://"+lakeDir, "bench", "mixed", "--storage", "config", "--json", "--duration", "500ms", "--clients", "2", "--catalogs", "2", "--fields", "5")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	benchJSON(t, "mixed", r.stdout)
	if after := countFiles(t, objects); after != before {
		t.Fatalf("the configured storage held %d files before the bench and %d after", before, after)
	}
	if out := mustLake(t, dir, "", "--meta", "file://"+lakeDir, "read", "users"); out != `{"a":1}`+"\n" {
		t.Fatalf("read after bench: %q", out)
	}
}

func countFiles(t *testing.T, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBenchBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"bench"},
		{"bench", "frob"},
		{"bench", "write", "read"},
		{"bench", "write", "--clients", "0"},
		{"bench", "write", "--duration", "0s"},
		{"bench", "write", "--value-size", "1"},
		{"bench", "write", "--storage", "s3"},
		{"bench", "write", "--nope"},
		{"bench", "mixed", "--snapshot-min-deltas", "0"},
		{"bench", "coldread", "--deltas", "0"},
		{"bench", "coldread", "--writers", "0"},
		{"bench", "put", "--clients", "0"},
		{"bench", "put", "--storage", "s3"},
		{"bench", "write", "--ops", "0"},
		{"bench", "write", "--ops", "100", "--duration", "1s"},
		{"bench", "write", "--storage", "local", "--compact-every", "often"},
		{"bench", "write", "--storage", "local", "--compact-keep", "-1"},
		{"bench", "write", "--compact-every", "1s"},
		{"bench", "write", "--compact-keep", "10"},
		{"bench", "write", "--compact-min-age", "1s"},
		{"bench", "write", "--meta", "file://" + filepath.Join(dir, "lake"), "--sample-memory", "mem.csv"},
	} {
		r := runLake(t, dir, "", args...)
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "usage: lake bench") {
			t.Errorf("lake %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("bad flags wrote %v", entries)
	}
	out := mustLake(t, dir, "", "bench", "--help")
	for _, want := range []string{"Usage:\n  lake bench", "--clients", "put", "coldread", "--deltas", "--writers", "puts_per_write", "gets_per_read",
		"--ops", "--compact-every", "--compact-keep", "--compact-min-age", "--sample-memory", "elapsed_s,ops,used_memory_bytes", "compact_every"} {
		if !strings.Contains(out, want) {
			t.Fatalf("bench --help lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchCounts: the object-store requests of the measured phase only
// (read's setup writes and snapshots), in --json.
func TestBenchCounts(t *testing.T) {
	url := redistest.URL(t)
	dir := t.TempDir()
	r := runLake(t, dir, "", "--meta", url, "bench", "read", "--json", "--duration", "300ms", "--clients", "2", "--catalogs", "2", "--fields", "5")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	got := benchJSON(t, "read", r.stdout)
	if got["storage"] != "memory" || got["puts"].(float64) != 0 || got["deletes"].(float64) != 0 || got["writes"].(float64) != 0 {
		t.Fatalf("read counted setup's requests: %s", r.stdout)
	}
	r = runLake(t, dir, "", "--meta", url, "bench", "write", "--json", "--duration", "300ms", "--clients", "2", "--storage", "local")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	got = benchJSON(t, "write", r.stdout)
	if got["storage"] != "local" || got["puts"].(float64) <= 0 || got["put_bytes"].(float64) < got["puts"].(float64) || got["reads"].(float64) != 0 {
		t.Fatalf("write: %s", r.stdout)
	}
	// put on memory: one Put per op, no meta store involved.
	r = runLake(t, dir, "", "--meta", url, "bench", "put", "--json", "--duration", "300ms", "--clients", "3", "--value-size", "10")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	got = benchJSON(t, "put", r.stdout)
	if got["storage"] != "memory" || got["puts"] != got["ops"] || got["put_bytes"] != 10*got["ops"].(float64) || got["puts_per_write"] != 1.0 {
		t.Fatalf("put: %s", r.stdout)
	}
}

// TestBenchPutAndColdRead: both run against the lake's configured storage
// (local, encrypted), report their counts, and leave the storage and the
// meta store as they found them.
func TestBenchPutAndColdRead(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	dir := t.TempDir()
	objects := filepath.Join(dir, "objects")
	meta := []string{"--meta", url, "--key-prefix", prefix}
	mustLake(t, dir, `{"storage":"local","path":"`+objects+`","aes_pwd":"s3cret"}`, append(meta, "config", "set", "-")...)
	mustLake(t, dir, "", append(meta, "write", "users", "a", "1")...)
	files, keys := countFiles(t, objects), redisKeys(t, url, prefix+"*")
	unchanged := func(what string) {
		t.Helper()
		if n := countFiles(t, objects); n != files {
			t.Fatalf("%s: the configured storage held %d files before and %d after", what, files, n)
		}
		after := redisKeys(t, url, prefix+"*")
		for k := range after {
			if !keys[k] {
				t.Fatalf("%s: key %s left behind", what, k)
			}
		}
		if len(after) != len(keys) {
			t.Fatalf("%s: %d keys before, %d after", what, len(keys), len(after))
		}
	}

	r := runLake(t, dir, "", append(meta, "bench", "put", "--storage", "config", "--json", "--duration", "300ms", "--clients", "4", "--value-size", "100")...)
	if r.code != 0 {
		t.Fatalf("put: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	got := benchJSON(t, "put", r.stdout)
	ops := got["ops"].(float64)
	if got["storage"] != "local" || got["clients"].(float64) != 4 || got["writes"].(float64) != ops || got["puts"].(float64) != ops ||
		got["put_bytes"].(float64) != 100*ops || got["puts_per_write"].(float64) != 1 || got["gets"].(float64) != 0 {
		t.Fatalf("put: %s", r.stdout)
	}
	unchanged("put")

	r = runLake(t, dir, "", append(meta, "bench", "coldread", "--storage", "config", "--json", "--duration", "300ms", "--deltas", "40", "--writers", "8", "--fields", "7")...)
	if r.code != 0 {
		t.Fatalf("coldread: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	got = benchJSON(t, "coldread", r.stdout)
	// One client unless --clients is given; every read folds the 40 deltas
	// (errors is 0) from the object store: at least one GET each, and no
	// more than one per delta.
	if got["clients"].(float64) != 1 || got["deltas"].(float64) != 40 || got["writes"].(float64) != 0 || got["puts"].(float64) != 0 ||
		got["gets_per_read"].(float64) < 1 || got["gets_per_read"].(float64) > 40 {
		t.Fatalf("coldread: %s", r.stdout)
	}
	unchanged("coldread")

	if out := mustLake(t, dir, "", append(meta, "read", "users")...); out != `{"a":1}`+"\n" {
		t.Fatalf("read after bench: %q", out)
	}
}

// TestBenchS3: put, write and coldread against the lake's configured S3
// store, which they leave empty as they found it.
func TestBenchS3(t *testing.T) {
	srv := s3test.Start(t)
	dir := t.TempDir()
	meta := []string{"--meta", "file://" + filepath.Join(dir, "lake")}
	cfg := fmt.Sprintf(`{"storage":"s3","endpoint":%q,"region":%q,"bucket":%q,"access_key":%q,"secret_key":%q}`,
		srv.Endpoint, srv.Region, srv.Bucket, srv.AccessKey, srv.SecretKey)
	mustLake(t, dir, cfg, append(meta, "config", "set", "-")...)
	for _, tc := range []struct {
		args []string
		ok   func(got map[string]any) bool
	}{
		// One PutObject per raw put.
		{[]string{"put", "--clients", "8"}, func(got map[string]any) bool {
			return got["puts"] == got["ops"] && got["puts_per_write"] == 1.0
		}},
		// Every write stores its body: some PUTs.
		{[]string{"write", "--clients", "8"}, func(got map[string]any) bool {
			return got["puts"].(float64) > 0 && got["gets"] == 0.0
		}},
		// Every cold read fetches the 30 bodies: at least one GET, at most
		// one per delta.
		{[]string{"coldread", "--deltas", "30"}, func(got map[string]any) bool {
			return got["puts"] == 0.0 && got["gets_per_read"].(float64) >= 1 && got["gets_per_read"].(float64) <= 30
		}},
	} {
		args := tc.args
		r := runLake(t, dir, "", append(append(meta, "bench"), append(args, "--storage", "config", "--json", "--duration", "300ms")...)...)
		if r.code != 0 {
			t.Fatalf("bench %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
		got := benchJSON(t, args[0], r.stdout)
		if got["storage"] != "s3" || !tc.ok(got) {
			t.Fatalf("bench %v: %s", args, r.stdout)
		}
		if n := bucketObjects(t, srv); n != 0 {
			t.Fatalf("bench %v left %d object(s) in the bucket", args, n)
		}
	}
}

// bucketObjects counts the objects in srv's bucket.
func bucketObjects(t *testing.T, srv *s3test.Server) int {
	t.Helper()
	client, err := minio.New(strings.TrimPrefix(srv.Endpoint, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Region:       srv.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for obj := range client.ListObjects(context.Background(), srv.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		n++
	}
	return n
}

// plainStore is a Storage and nothing more: no GetRange, no parts.
type plainStore struct{ storage.Storage }

// rangeStore is a Storage with GetRange, counting its calls.
type rangeStore struct {
	storage.Storage
	ranges int
}

func (r *rangeStore) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	r.ranges++
	data, err := r.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return data[min(offset, int64(len(data))):min(offset+length, int64(len(data)))], nil
}

// rangePartStore is a PartStore (Encrypted) that also has GetRange.
type rangePartStore struct {
	*storage.Encrypted
	rs *rangeStore
}

func newRangePartStore(t *testing.T) rangePartStore {
	e := newEncrypted(t, storage.NewMemoryStorage())
	return rangePartStore{e, &rangeStore{Storage: e}}
}

func (r rangePartStore) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	return r.rs.GetRange(ctx, key, offset, length)
}

func newEncrypted(t *testing.T, inner storage.Storage) *storage.Encrypted {
	t.Helper()
	e, err := storage.NewEncrypted(inner, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestBenchStorage: the decorator counts every request, forwards GetRange
// and the parts calls and is a Ranger or a PartStore exactly when the store
// below is one, lets HolderOf see a memory store, deletes what it recorded,
// and Lake's encryption goes on top of it.
func TestBenchStorage(t *testing.T) {
	ctx := context.Background()
	mem := storage.NewMemoryStorage()
	for _, tc := range []struct {
		inner         storage.Storage
		ranger, parts bool
	}{
		{plainStore{storage.NewMemoryStorage()}, false, false},
		{&rangeStore{Storage: storage.NewMemoryStorage()}, true, false},
		{mem, true, false},
		{newEncrypted(t, storage.NewMemoryStorage()), false, true},
		{newRangePartStore(t), true, true},
	} {
		s, c := newBenchStorage(tc.inner, true)
		r, isRanger := s.(storage.Ranger)
		ps, isParts := s.(storage.PartStore)
		if isRanger != tc.ranger || isParts != tc.parts {
			t.Fatalf("over %T: Ranger %v, PartStore %v; want %v, %v", tc.inner, isRanger, isParts, tc.ranger, tc.parts)
		}
		if err := s.Put(ctx, "a/1", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "a/2", []byte("abc")); err != nil {
			t.Fatal(err)
		}
		if data, err := s.Get(ctx, "a/1"); err != nil || string(data) != "hello" {
			t.Fatalf("get: %q %v", data, err)
		}
		if _, err := s.Get(ctx, "a/none"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("get of a missing key: %v", err)
		}
		want := storeCounts{Puts: 2, PutBytes: 8, Gets: 2, GetBytes: 5}
		if isRanger && !isParts {
			if data, err := r.GetRange(ctx, "a/1", 1, 3); err != nil || string(data) != "ell" {
				t.Fatalf("range: %q %v", data, err)
			}
			want.Ranges, want.RangeBytes = 1, 3
		}
		if isRanger && isParts { // the bytes below are sealed: only the call and its length
			if data, err := r.GetRange(ctx, "a/1", 0, 4); err != nil || len(data) != 4 {
				t.Fatalf("range: %q %v", data, err)
			}
			want.Ranges, want.RangeBytes = 1, 4
		}
		if rs, ok := tc.inner.(*rangeStore); ok && rs.ranges != 1 {
			t.Fatalf("GetRange not forwarded: %d calls below", rs.ranges)
		}
		if rp, ok := tc.inner.(rangePartStore); ok && rp.rs.ranges != 1 {
			t.Fatalf("GetRange not forwarded: %d calls below", rp.rs.ranges)
		}
		if isParts {
			// Each parts call is one counted request, and forwarded: the
			// parts come back through the store's own sealing.
			extents, err := ps.PutParts(ctx, "a/3", [][]byte{[]byte("one"), []byte("three")})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ps.GetParts(ctx, "a/3", extents[1:])
			if err != nil || len(got) != 1 || string(got[0].Data) != "three" {
				t.Fatalf("get parts: %v %v", got, err)
			}
			all, err := ps.ReadParts(ctx, "a/3")
			if err != nil || len(all) != 2 || string(all[0].Data) != "one" {
				t.Fatalf("read parts: %v %v", all, err)
			}
			want.Puts, want.PutBytes = want.Puts+1, want.PutBytes+8
			want.Gets, want.GetBytes = want.Gets+2, want.GetBytes+5+8
		}
		if err := s.Delete(ctx, "a/2"); err != nil {
			t.Fatal(err)
		}
		want.Deletes = 1
		if got := c.counts(); got != want {
			t.Fatalf("over %T: counts %+v, want %+v", tc.inner, got, want)
		}
		c.reset()
		if got := c.counts(); got != (storeCounts{}) {
			t.Fatalf("after reset: %+v", got)
		}
		if n, err := c.deleteAll(); n != 0 || err != nil {
			t.Fatalf("deleteAll: %d %v", n, err)
		}
		for _, k := range []string{"a/1", "a/3"} {
			if _, err := tc.inner.Get(ctx, k); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("over %T: %s after deleteAll: %v", tc.inner, k, err)
			}
		}
		if got := c.counts(); got != (storeCounts{}) {
			t.Fatalf("deleteAll was counted: %+v", got)
		}
	}

	// A pack, as Lake stores and reads one, through the counted store
	// alone and with encryption on top: one PUT, and a read of two nearby
	// parts is one ranged GET (the store below is a Ranger).
	for _, top := range []string{"plain", "encrypted"} {
		counted, c := newBenchStorage(storage.NewMemoryStorage(), false)
		s := counted
		if top == "encrypted" {
			s = newEncrypted(t, counted)
		}
		parts := [][]byte{[]byte("a"), []byte("bb"), []byte("ccc"), []byte("dddd")}
		extents, err := storage.PutParts(ctx, s, "p/1", parts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := storage.GetParts(ctx, s, "p/1", []storage.Extent{extents[1], extents[3]})
		if err != nil || string(got[0].Data) != "bb" || string(got[1].Data) != "dddd" {
			t.Fatalf("%s: get parts: %v %v", top, got, err)
		}
		if n := c.counts(); n.Puts != 1 || n.Gets != 0 || n.Ranges != 1 {
			t.Fatalf("%s: a pack put and a read of two parts counted %+v, want 1 put and 1 ranged get", top, n)
		}
	}

	s, _ := newBenchStorage(mem, false)
	if storage.HolderOf(s) != mem.Holder() || storage.Kind(s) != "memory" {
		t.Fatalf("HolderOf %q, Kind %q over memory", storage.HolderOf(s), storage.Kind(s))
	}

	// As the benchmark opens its lake: the counted store as Option.Storage,
	// the lake's config (with aes_pwd) copied in. The bodies that reach the
	// counted store are sealed.
	under := storage.NewMemoryStorage()
	counted, c := newBenchStorage(under, false)
	client := lake.NewLake("file://"+t.TempDir(), func(o *lake.Option) { o.Storage = counted })
	defer client.Close()
	if err := client.UpdateConfig(ctx, &config.Config{Storage: config.StorageLocal, Path: t.TempDir(), AESPwd: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	c.reset()
	secret := `"plaintext-marker"`
	if err := client.Write(ctx, lake.WriteRequest{Catalog: "c", Field: "f", Value: lake.JSON(secret)}); err != nil {
		t.Fatal(err)
	}
	if c.counts().Puts == 0 {
		t.Fatal("the write reached the counted store with no Put")
	}
	for _, k := range under.Keys() {
		data, err := under.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "plaintext-marker") {
			t.Fatalf("object %s holds the value in plain text: encryption is not on top of the counted store", k)
		}
	}
	if res, err := client.Read(ctx, lake.ReadRequest{Catalog: "c"}); err != nil || string(res.Data) != `{"f":"plaintext-marker"}` {
		t.Fatalf("read back: %v %v", res, err)
	}
}

// TestBenchOps: --ops N makes exactly N ops, however long they take, and
// the JSON names the compaction the client ran with: the library's
// defaults unless told, off on memory storage, none for put.
func TestBenchOps(t *testing.T) {
	dir := t.TempDir()
	meta := []string{"--meta", "file://" + filepath.Join(dir, "lake")}
	for _, tc := range []struct {
		args               []string
		every, minAge      string
		keep, ops          float64
		compactionReported bool
	}{
		{[]string{"write", "--storage", "local", "--ops", "250", "--clients", "3"}, "10s", "2m0s", 1000, 250, true},
		{[]string{"write", "--ops", "77", "--clients", "5"}, "off", "2m0s", 1000, 77, true},
		{[]string{"write", "--storage", "local", "--ops", "40", "--compact-every", "off"}, "off", "2m0s", 1000, 40, true},
		{[]string{"write", "--storage", "local", "--ops", "40", "--compact-every", "3s", "--compact-keep", "7", "--compact-min-age", "-1s"}, "3s", "0s", 7, 40, true},
		{[]string{"mixed", "--ops", "60", "--clients", "2", "--catalogs", "2", "--fields", "3"}, "off", "2m0s", 1000, 60, true},
		{[]string{"put", "--ops", "33"}, "", "", 0, 33, false},
	} {
		r := runLake(t, dir, "", append(append(meta, "bench"), append(tc.args, "--json")...)...)
		if r.code != 0 {
			t.Fatalf("bench %v: exit %d\nstdout: %s\nstderr: %s", tc.args, r.code, r.stdout, r.stderr)
		}
		got := benchJSON(t, tc.args[0], r.stdout)
		if got["ops"] != tc.ops {
			t.Fatalf("bench %v: %v ops, want %v: %s", tc.args, got["ops"], tc.ops, r.stdout)
		}
		_, reported := got["compact_every"]
		if reported != tc.compactionReported || reported && (got["compact_every"] != tc.every || got["compact_keep"] != tc.keep || got["compact_min_age"] != tc.minAge) {
			t.Fatalf("bench %v: compaction %v %v %v, want %q %v %q: %s", tc.args,
				got["compact_every"], got["compact_keep"], got["compact_min_age"], tc.every, tc.keep, tc.minAge, r.stdout)
		}
	}
}

// TestBenchCompactionFlags: --compact-every, --compact-keep and
// --compact-min-age reach the client's background compaction: its log in
// Redis is archived to segments and trimmed to at most the entries kept,
// archived but not trimmed while the entries are younger than the minimum
// age, and left alone when compaction is off.
func TestBenchCompactionFlags(t *testing.T) {
	url := redistest.URL(t)
	client := redistest.Client(t, url)
	ctx := context.Background()
	zcard := func(key string) int64 {
		n, err := client.Do(ctx, client.B().Zcard().Key(key).Build()).AsInt64()
		if err != nil {
			t.Fatalf("zcard %s: %v", key, err)
		}
		return n
	}
	for _, tc := range []struct {
		name     string
		every    compactInterval
		minAge   time.Duration
		log      int64 // at most this many entries left in the log at the end
		trimmed  bool  // fewer than the 300 written
		segments bool
	}{
		{"trims to keep", compactInterval(50 * time.Millisecond), -1, 20, true, true},
		{"min age holds", compactInterval(50 * time.Millisecond), time.Hour, 300, false, true},
		{"off", -1, -1, 300, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			a := &app{stdout: io.Discard, stderr: &stderr, meta: url, keyPrefix: redistest.Prefix(t, url)}
			b := &benchLake{a: a}
			defer b.cleanup()
			o := benchOptions{op: "write", storage: "local", clients: 4, catalogs: 1, fields: 5, valueSize: 10,
				snapshotMinDeltas: 1, deltas: 1, writers: 1, duration: time.Minute, ops: 300,
				compactEvery: tc.every, compactKeep: 20, compactMinAge: tc.minAge, json: true}
			if err := b.setup(ctx, o); err != nil {
				t.Fatal(err)
			}
			res, firstErr, err := b.run(ctx, o)
			if err != nil || firstErr != nil || res.Ops != 300 || res.Errors != 0 {
				t.Fatalf("run: %+v %v %v\n%s", res, firstErr, err, stderr.String())
			}
			keyOf := a.keyPrefix + "lakebench:*:lake:{" + b.catalogs[0] + "}:"
			logKeys := redisKeys(t, url, keyOf+"log")
			if len(logKeys) != 1 {
				t.Fatalf("log keys %v", logKeys)
			}
			var logKey string
			for k := range logKeys {
				logKey = k
			}
			segsKey := strings.TrimSuffix(logKey, "log") + "segs"
			deadline := time.Now().Add(10 * time.Second)
			for {
				n, segs := zcard(logKey), zcard(segsKey)
				if n <= tc.log && (n < 300) == tc.trimmed && (segs > 0) == tc.segments {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 10s: %d log entries and %d segments, want at most %d entries (trimmed: %v) and segments %v\n%s",
						n, segs, tc.log, tc.trimmed, tc.segments, stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !tc.segments {
				time.Sleep(200 * time.Millisecond) // still none a while later
				if n, segs := zcard(logKey), zcard(segsKey); n != tc.log || segs != 0 {
					t.Fatalf("compaction off: %d log entries and %d segments", n, segs)
				}
			}
		})
	}
}

// TestBenchSampleMemory: --sample-memory writes a header, a sample at the
// start (0 ops) and one at the end (every op), the meta Redis's used_memory
// in each, times and ops never going back.
func TestBenchSampleMemory(t *testing.T) {
	url := redistest.URL(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "mem.csv")
	r := runLake(t, dir, "", "--meta", url, "bench", "write", "--json", "--storage", "local", "--ops", "2000", "--clients", "4", "--catalogs", "2",
		"--compact-every", "100ms", "--compact-keep", "10", "--compact-min-age", "1ms", "--sample-memory", file)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	got := benchJSON(t, "write", r.stdout)
	if got["ops"] != 2000.0 || got["compact_every"] != "100ms" || got["compact_keep"] != 10.0 || got["compact_min_age"] != "1ms" {
		t.Fatalf("json: %s", r.stdout)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) < 3 || lines[0] != "elapsed_s,ops,used_memory_bytes" {
		t.Fatalf("samples:\n%s", data)
	}
	var lastElapsed float64
	var lastOps int64 = -1
	for i, line := range lines[1:] {
		var elapsed float64
		var ops, used int64
		if n, err := fmt.Sscanf(line, "%g,%d,%d", &elapsed, &ops, &used); n != 3 || err != nil {
			t.Fatalf("line %d %q: %v", i+2, line, err)
		}
		if elapsed < lastElapsed || ops < lastOps || used <= 0 {
			t.Fatalf("line %d %q after %v s and %d ops:\n%s", i+2, line, lastElapsed, lastOps, data)
		}
		if i == 0 && (ops != 0 || elapsed != 0) {
			t.Fatalf("first sample %q, want the start", line)
		}
		lastElapsed, lastOps = elapsed, ops
	}
	if lastOps != 2000 {
		t.Fatalf("last sample at %d ops, want 2000:\n%s", lastOps, data)
	}
}
