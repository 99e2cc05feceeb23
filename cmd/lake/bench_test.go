package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hkloudou/lake/v2/internal/redistest"
)

// benchKeys returns the lakebench:* keys in the Redis at url.
func benchKeys(t *testing.T, url string) map[string]bool {
	t.Helper()
	client := redistest.Client(t, url)
	ctx := context.Background()
	keys := map[string]bool{}
	for cursor := uint64(0); ; {
		entry, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match("lakebench:*").Count(1000).Build()).AsScanEntry()
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
	if len(lines) != 2 || !strings.Contains(lines[0], "ops/s") || !strings.Contains(lines[0], "p99") || !strings.HasPrefix(strings.TrimSpace(lines[1]), "write") {
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
	} {
		r := runLake(t, dir, "", args...)
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "usage: lake bench") {
			t.Errorf("lake %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("bad flags wrote %v", entries)
	}
	if out := mustLake(t, dir, "", "bench", "--help"); !strings.Contains(out, "Usage:\n  lake bench") || !strings.Contains(out, "--clients") {
		t.Fatalf("bench --help:\n%s", out)
	}
}
