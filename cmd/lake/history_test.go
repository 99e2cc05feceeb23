package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	lake "github.com/hkloudou/lake/v2"
)

// redisLakeWithStore returns the global flags of a lake on the test Redis
// under a key prefix of its own, with a config that keeps the bodies in
// DIR/objects, shared by every process of the test.
func redisLakeWithStore(t *testing.T, dir string) []string {
	t.Helper()
	meta := redisLake(t)
	mustLake(t, dir, "", append(meta, "config", "set", fmt.Sprintf(`{"storage":"local","path":%q}`, filepath.Join(dir, "objects")))...)
	return meta
}

// writeVersion writes one delta and returns its version.
func writeVersion(t *testing.T, dir string, meta []string, args ...string) int64 {
	t.Helper()
	out := mustLake(t, dir, "", append(append(meta, "write"), args...)...)
	v, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		t.Fatalf("write %v printed %q", args, out)
	}
	return v
}

// historyLines decodes the changes lake history printed.
func historyLines(t *testing.T, stdout string) []lake.Change {
	t.Helper()
	var changes []lake.Change
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		var c lake.Change
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("history line %q: %v", line, err)
		}
		changes = append(changes, c)
	}
	return changes
}

func changeVersions(changes []lake.Change) string {
	var vs []string
	for _, c := range changes {
		vs = append(vs, strconv.FormatInt(c.Version, 10))
	}
	return strings.Join(vs, " ")
}

func TestReadAtHistoryAndDeleteOnRedis(t *testing.T) {
	dir := t.TempDir()
	meta := redisLakeWithStore(t, dir)
	v1 := writeVersion(t, dir, meta, "c", "a", "1")
	v2 := writeVersion(t, dir, meta, "c", "a", "2")
	v3 := writeVersion(t, dir, meta, "c", "b", `{"x":3}`)

	// read --at a version, a time between two versions, a time with an
	// offset.
	for _, tc := range []struct{ at, want string }{
		{fmt.Sprint(v1), `{"a":1}`},
		{fmt.Sprint(v2), `{"a":2}`},
		{time.UnixMicro(v2).UTC().Format(time.RFC3339Nano), `{"a":2}`},
		{time.UnixMicro(v1).In(time.FixedZone("", -5*3600)).Format(time.RFC3339Nano), `{"a":1}`},
		{fmt.Sprint(v3), `{"a":2,"b":{"x":3}}`},
	} {
		if out := mustLake(t, dir, "", append(meta, "read", "c", "--at", tc.at)...); out != tc.want+"\n" {
			t.Fatalf("read --at %s: %q, want %s", tc.at, out, tc.want)
		}
	}
	r := runLake(t, dir, "", append(meta, "read", "c", "--at", fmt.Sprint(v2+1), "-v")...)
	if r.code != 0 || r.stdout != `{"a":2}`+"\n" || !strings.Contains(r.stderr, fmt.Sprintf("version %d ", v2)) {
		t.Fatalf("read --at between versions -v: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	// history: one JSON line per change, newest first.
	r = runLake(t, dir, "", append(meta, "history", "c")...)
	changes := historyLines(t, r.stdout)
	if r.code != 0 || r.stderr != "" || changeVersions(changes) != fmt.Sprint(v3, " ", v2, " ", v1) {
		t.Fatalf("history: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if c := changes[0]; c.Field != "b" || c.Merge != "set" || string(c.Value) != `{"x":3}` || !c.Time.Equal(time.UnixMicro(v3)) {
		t.Fatalf("newest change: %+v", c)
	}
	if out := mustLake(t, dir, "", append(meta, "history", "c", "a")...); changeVersions(historyLines(t, out)) != fmt.Sprint(v2, " ", v1) {
		t.Fatalf("history of a: %s", out)
	}
	// A page that leaves changes says how to go on, on stderr.
	r = runLake(t, dir, "", append(meta, "history", "c", "--limit", "2")...)
	if r.code != 0 || changeVersions(historyLines(t, r.stdout)) != fmt.Sprint(v3, " ", v2) || !strings.Contains(r.stderr, fmt.Sprintf("--before %d", v2)) {
		t.Fatalf("history --limit 2: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runLake(t, dir, "", append(meta, "history", "c", "--limit", "2", "--before", fmt.Sprint(v2))...)
	if r.code != 0 || changeVersions(historyLines(t, r.stdout)) != fmt.Sprint(v1) || r.stderr != "" {
		t.Fatalf("history --before: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if out := mustLake(t, dir, "", append(meta, "history", "c", "--after", fmt.Sprint(v1), "--before", fmt.Sprint(v3))...); changeVersions(historyLines(t, out)) != fmt.Sprint(v2) {
		t.Fatalf("history --after --before: %s", out)
	}

	// delete: the catalog reads {} and its past is gone (exit 2, with the
	// floor).
	out := mustLake(t, dir, "", append(meta, "delete", "c")...)
	var deleted struct {
		Catalog string
		Deleted int64
	}
	if err := json.Unmarshal([]byte(out), &deleted); err != nil || deleted.Catalog != "c" || deleted.Deleted <= v3 {
		t.Fatalf("delete printed %q (%v)", out, err)
	}
	if out := mustLake(t, dir, "", append(meta, "read", "c")...); out != "{}\n" {
		t.Fatalf("read after delete: %q", out)
	}
	if out := mustLake(t, dir, "", append(meta, "catalogs")...); out != "CATALOG\tVERSION\n" {
		t.Fatalf("catalogs after delete: %q", out)
	}
	r = runLake(t, dir, "", append(meta, "read", "c", "--at", fmt.Sprint(v1))...)
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "history expired") ||
		!strings.Contains(r.stderr, fmt.Sprintf("the oldest version kept is %d", deleted.Deleted+1)) || !strings.Contains(r.stderr, "hint: lake history") {
		t.Fatalf("read --at before the deletion: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if out := mustLake(t, dir, "", append(meta, "delete", "never")...); out != `{"catalog":"never","deleted":0}`+"\n" {
		t.Fatalf("delete of a catalog never written: %q", out)
	}
}

func TestCompactNamedAndAllTriesEveryCatalog(t *testing.T) {
	dir := t.TempDir()
	meta := redisLakeWithStore(t, dir)
	for _, name := range []string{"b", "a", "c"} {
		writeVersion(t, dir, meta, name, "x", "1")
		writeVersion(t, dir, meta, name, "y", "2")
	}
	compacted := func(stdout string) []lake.CompactResult {
		t.Helper()
		var out []lake.CompactResult
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			var res lake.CompactResult
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				t.Fatalf("compact line %q: %v", line, err)
			}
			out = append(out, res)
		}
		return out
	}

	res := compacted(mustLake(t, dir, "", append(meta, "compact", "b", "a")...))
	if len(res) != 2 || res[0].Catalog != "b" || res[1].Catalog != "a" || res[0].Entries != 2 || res[0].Segments != 1 || res[0].Archived == 0 {
		t.Fatalf("compact b a: %+v", res)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "objects", "b", "segments", "*")); len(segs) != 1 {
		t.Fatalf("segments of b: %v", segs)
	}
	res = compacted(mustLake(t, dir, "", append(meta, "compact", "--all")...))
	if len(res) != 3 || res[0].Catalog != "a" || res[1].Catalog != "b" || res[2].Catalog != "c" ||
		res[0].Entries != 0 || res[2].Entries != 2 {
		t.Fatalf("compact --all: %+v", res)
	}

	// A catalog whose body is lost cannot be archived: it is reported, the
	// others are still compacted, and the exit code says so.
	writeVersion(t, dir, meta, "broken", "x", "1")
	for _, p := range catalogPacks(t, filepath.Join(dir, "objects"), "", "broken") {
		if err := os.Remove(p.file); err != nil {
			t.Fatal(err)
		}
	}
	writeVersion(t, dir, meta, "c", "z", "3")
	for _, args := range [][]string{{"compact", "broken", "c"}, {"compact", "--all"}} {
		r := runLake(t, dir, "", append(meta, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, `lake: compact "broken": `) || !strings.Contains(r.stderr, "body missing") ||
			!strings.Contains(r.stderr, "lake compact: 1 of ") {
			t.Fatalf("lake %v: exit %d\n%s\n%s", args, r.code, r.stdout, r.stderr)
		}
		if res := compacted(r.stdout); res[len(res)-1].Catalog != "c" {
			t.Fatalf("lake %v did not go on after broken: %+v", args, res)
		}
	}

	for _, args := range [][]string{{"compact"}, {"compact", "a", "--all"}, {"compact", "a", "bad/name"}} {
		if r := runLake(t, dir, "", append(meta, args...)...); r.code != 2 || r.stdout != "" {
			t.Fatalf("lake %v: exit %d %q %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestHistoryCommandsRefuseBadInput(t *testing.T) {
	dir := t.TempDir()
	meta := []string{"--meta", "file://" + filepath.Join(dir, "lake")}
	v := writeVersion(t, dir, meta, "c", "a", "1")
	future := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"read", "c", "--at", "garbage"}, "want a version"},
		{[]string{"read", "c", "--at", "0"}, "positive integer"},
		{[]string{"read", "c", "--at=-5"}, "positive integer"},
		{[]string{"read", "c", "--at", "-5"}, "flag needs an argument"},
		{[]string{"read", "c", "--at", "99999999999999999999"}, "want a version"},
		{[]string{"read", "c", "--at", "2026-12-01"}, "RFC 3339"},
		{[]string{"read", "c", "--at", "\xff"}, "want a version"},
		{[]string{"read", "c", "--at", fmt.Sprint(v), "--snap"}, "--snap"},
		{[]string{"read", "c", "--at", fmt.Sprint(future.UnixMicro())}, "in the future"},
		{[]string{"read", "c", "--at", future.Format(time.RFC3339)}, "in the future"},
		{[]string{"read", "c", "--at", "9007199254740992"}, "invalid version"},
		{[]string{"read", "c", "--at", "1960-01-01T00:00:00Z"}, "invalid version"},
		{[]string{"history"}, "want CATALOG [FIELD]"},
		{[]string{"history", "c", "a", "b"}, "want CATALOG [FIELD]"},
		{[]string{"history", "bad/name"}, "invalid catalog"},
		{[]string{"history", "c", "a..b"}, "invalid field"},
		{[]string{"history", "c", "a\xff"}, "invalid field"},
		{[]string{"history", "c", "--limit=-1"}, "--limit -1"},
		{[]string{"history", "c", "--before=-1"}, "want versions >= 0"},
		{[]string{"history", "c", "--after", "x"}, "invalid value"},
		{[]string{"history", "c", "--before", "9007199254740993"}, "invalid version"},
		{[]string{"delete"}, "want CATALOG"},
		{[]string{"delete", "c", "d"}, "want CATALOG"},
		{[]string{"delete", "bad/name"}, "invalid catalog"},
	} {
		r := runLake(t, dir, "", append(meta, tc.args...)...)
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("lake %q: exit %d, stdout %q, stderr %q (want %q)", tc.args, r.code, r.stdout, r.stderr, tc.stderr)
		}
	}
	if out := mustLake(t, dir, "", append(meta, "read", "c")...); out != `{"a":1}`+"\n" {
		t.Fatalf("read after the refused commands: %q", out)
	}
}

// TestServeCompactEvery: --compact-every reaches the client (segments
// appear in the object store after a write), off turns background
// compaction off, and the history routes are served.
func TestServeCompactEvery(t *testing.T) {
	dir := t.TempDir()
	lakeDir := filepath.Join(dir, "lake")
	post := func(p *serveProc, catalog string) {
		t.Helper()
		resp, err := http.Post(p.url("/v1/catalogs/"+catalog), "application/json", strings.NewReader(`{"field":"a","value":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d", catalog, resp.StatusCode)
		}
	}
	segments := func(catalog string) []string {
		found, _ := filepath.Glob(filepath.Join(lakeDir, "objects", catalog, "segments", "*"))
		return found
	}

	p := startServe(t, dir, "--meta", "file://"+lakeDir, "--compact-every", "100ms")
	if !strings.Contains(p.log(), "compaction=100ms") {
		t.Fatalf("start log does not name the interval:\n%s", p.log())
	}
	post(p, "fast")
	for deadline := time.Now().Add(10 * time.Second); len(segments("fast")) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no segment of fast 10s after a write with --compact-every 100ms:\n%s", p.log())
		}
	}
	resp, err := http.Get(p.url("/v1/catalogs/fast/history"))
	if err != nil {
		t.Fatal(err)
	}
	var page lake.HistoryResult
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(page.Changes) != 1 || string(page.Changes[0].Value) != "1" {
		t.Fatalf("history through serve: %d %+v %v", resp.StatusCode, page, err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}

	p = startServe(t, dir, "--meta", "file://"+lakeDir, "--compact-every", "off")
	if !strings.Contains(p.log(), "compaction=off") {
		t.Fatalf("start log with --compact-every off:\n%s", p.log())
	}
	post(p, "idle")
	time.Sleep(500 * time.Millisecond)
	if found := segments("idle"); len(found) != 0 {
		t.Fatalf("segments with --compact-every off: %v", found)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 40*time.Second)

	p = startServe(t, dir, "--meta", "file://"+lakeDir)
	if !strings.Contains(p.log(), "compaction="+lake.DefaultCompactionInterval.String()) {
		t.Fatalf("start log without --compact-every:\n%s", p.log())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 40*time.Second)

	if r := runLake(t, dir, "", "serve", "--compact-every", "often"); r.code != 2 || !strings.Contains(r.stderr, "or off") {
		t.Fatalf("--compact-every often: exit %d, %s", r.code, r.stderr)
	}
}
