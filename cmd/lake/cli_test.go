package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/internal/pack"
	"github.com/hkloudou/lake/v2/internal/packtest"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/internal/s3test"
)

// runInProcess runs the command through run(), as main does, and returns
// what it printed and its exit code.
func runInProcess(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr}
	code := run(context.Background(), a, args)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// redisLake returns the global flags of a lake on the test Redis under a
// key prefix of its own (deleted when the test ends).
func redisLake(t *testing.T) []string {
	t.Helper()
	url := redistest.URL(t)
	return []string{"--meta", url, "--key-prefix", redistest.Prefix(t, url)}
}

// TestWriteRefusedWithoutDurableStorage: a Redis lake without a config
// would keep the bodies in the writing process's memory; the command
// refuses (exit 1, with how to store a config), unless --storage memory
// (or LAKE_STORAGE=memory) says that is wanted.
func TestWriteRefusedWithoutDurableStorage(t *testing.T) {
	dir := t.TempDir()
	meta := redisLake(t)

	r := runLake(t, dir, "", append(meta, "write", "users", "name", `"Ada"`)...)
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("write without a config: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"no durable object store", "config set '{\"storage\":\"local\"", `"storage":"s3"`, "--storage memory"} {
		if !strings.Contains(r.stderr, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// Nothing was logged.
	if out := mustLake(t, dir, "", append(meta, "catalogs", "--json")...); out != `{"catalogs":[]}`+"\n" {
		t.Fatalf("catalogs after a refused write: %q", out)
	}

	// --storage memory: accepted, and the entry is marked as held in this
	// process's memory (another process sees it as such).
	v := strings.TrimSpace(mustLake(t, dir, "", append(meta, "--storage", "memory", "write", "users", "name", `"Ada"`)...))
	if v == "" {
		t.Fatal("no version printed")
	}
	cmd := lakeCmd(dir, append(meta, "write", "users", "age", "36")...)
	cmd.Env = append(cmd.Env, "LAKE_STORAGE=memory")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("LAKE_STORAGE=memory write: %v\n%s", err, out)
	}
	r = runLake(t, dir, "", append(meta, "check", "users")...)
	if r.code != 1 || strings.Count(r.stdout, lake.ProblemMemoryBody) != 2 {
		t.Fatalf("check of the memory writes: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// A bad --storage is a usage error; the global flag also goes after the
	// command name.
	if r := runLake(t, dir, "", append(meta, "write", "users", "a", "1", "--storage", "floppy")...); r.code != 2 || !strings.Contains(r.stderr, `--storage "floppy"`) {
		t.Fatalf("--storage floppy: exit %d, %s", r.code, r.stderr)
	}

	// Once a config names durable storage, writes go through without
	// --storage memory.
	cfg := fmt.Sprintf(`{"storage":"local","path":%q}`, filepath.Join(dir, "objects"))
	mustLake(t, dir, "", append(meta, "config", "set", cfg)...)
	mustLake(t, dir, "", append(meta, "write", "users", "name", `"Grace"`)...)
	packs := readPacks(t, filepath.Join(dir, "objects"), "")
	if len(packs) != 1 || len(packs[0].entries) != 1 || packs[0].entries[0] != (pack.Entry{Catalog: "users", Field: "name", Merge: "set"}) ||
		string(packs[0].parts[1]) != `"Grace"` {
		t.Fatalf("bodies under the configured path: %+v", packs)
	}
}

// TestFileLakeWithoutConfigIsDurable: a file:// lake without a config
// keeps its bodies in DIR/objects, so the default --storage config writes.
func TestFileLakeWithoutConfigIsDurable(t *testing.T) {
	dir := t.TempDir()
	r := runInProcess(t, "", "--meta", "file://"+dir+"/lake", "write", "c", "a", "1")
	if r.code != 0 {
		t.Fatalf("write: exit %d, %s", r.code, r.stderr)
	}
	packs := readPacks(t, filepath.Join(dir, "lake", "objects"), "")
	if len(packs) != 1 || len(packs[0].entries) != 1 || packs[0].entries[0].Catalog != "c" || string(packs[0].parts[1]) != "1" {
		t.Fatalf("bodies in DIR/objects: %+v", packs)
	}
}

// TestErrorPrefixOnce: a library error already starts with "lake: " and is
// printed as it is; other errors get "lake COMMAND: ".
func TestErrorPrefixOnce(t *testing.T) {
	dir := t.TempDir()
	down := []string{"--meta", "redis://127.0.0.1:1"}
	// An error line is every stderr line but the slog lines (time=...).
	errorLines := func(stderr string) string {
		var b strings.Builder
		for _, line := range strings.Split(stderr, "\n") {
			if !strings.HasPrefix(line, "time=") {
				b.WriteString(line + "\n")
			}
		}
		return b.String()
	}
	for _, tc := range []struct {
		name   string
		args   []string
		prefix string
	}{
		{"read, meta store down", append(down, "read", "users"), `lake: read "users": `},
		{"write, meta store down", append(down, "write", "users", "a", "1"), `lake: write "users": `},
	} {
		r := runLake(t, dir, "", tc.args...)
		lines := errorLines(r.stderr)
		if r.code != 1 || !strings.HasPrefix(lines, tc.prefix) || strings.Count(lines, "lake:") != 1 {
			t.Errorf("%s: exit %d, want one %q:\n%s", tc.name, r.code, tc.prefix, r.stderr)
		}
	}

	// A body deleted by hand: the read error names it, once.
	meta := "file://" + filepath.Join(dir, "lake")
	mustLake(t, dir, "", "--meta", meta, "write", "users", "a", "1")
	removed := removeBodies(t, filepath.Join(dir, "lake"), "users")
	r := runLake(t, dir, "", "--meta", meta, "read", "users")
	if r.code != 1 || !strings.HasPrefix(r.stderr, `lake: read "users": `) || strings.Count(errorLines(r.stderr), "lake:") != 1 ||
		len(removed) != 1 || !strings.Contains(r.stderr, removed[0]+" part 1") {
		t.Errorf("read of a missing body: exit %d:\n%s", r.code, r.stderr)
	}

	// A refused write into process memory, in-process.
	url := redistest.URL(t)
	r = runInProcess(t, "", "--meta", url, "--key-prefix", redistest.Prefix(t, url), "write", "users", "a", "1")
	if lines := errorLines(r.stderr); r.code != 1 || !strings.HasPrefix(lines, `lake: write "users": `) || strings.Count(lines, "lake:") != 1 {
		t.Errorf("refused write: exit %d:\n%s", r.code, r.stderr)
	}

	// The command's own errors get its name.
	r = runInProcess(t, "", "read")
	if r.code != 2 || !strings.HasPrefix(r.stderr, "lake read: want CATALOG") {
		t.Errorf("read without a catalog: exit %d:\n%s", r.code, r.stderr)
	}
	r = runInProcess(t, "", "--meta", meta, "write", "bad name", "a", "1")
	if r.code != 2 || !strings.HasPrefix(r.stderr, "lake write: ") || strings.Count(r.stderr, "lake") != 1 {
		t.Errorf("write to a bad catalog: exit %d:\n%s", r.code, r.stderr)
	}
}

// storedPack is one body pack of a local object store as a test reads it
// back: its key, its file, its entry table and its parts (opened, if the
// store is encrypted).
type storedPack struct {
	key, file string
	entries   []pack.Entry
	parts     [][]byte
}

// readPacks reads every pack under the local object store root; password,
// if not empty, opens the parts of an encrypted store.
func readPacks(t *testing.T, root, password string) []storedPack {
	t.Helper()
	var packs []storedPack
	for _, p := range packtest.LocalPacks(t, root, password) {
		packs = append(packs, storedPack{key: p.Key, file: p.File, entries: p.Entries, parts: p.Parts})
	}
	return packs
}

// catalogPacks returns the packs under root that hold deltas of catalog,
// and fails the test if there are none.
func catalogPacks(t *testing.T, root, password, catalog string) []storedPack {
	t.Helper()
	var found []storedPack
	for _, p := range readPacks(t, root, password) {
		for _, e := range p.entries {
			if e.Catalog == catalog {
				found = append(found, p)
				break
			}
		}
	}
	if len(found) == 0 {
		t.Fatalf("no pack under %s holds a delta of %s", root, catalog)
	}
	return found
}

// removeBodies deletes the packs holding a catalog's bodies from a file://
// lake's DIR/objects, as an operator's mistake or a lost disk would, and
// returns their keys. Those packs must hold nothing else, so that no other
// catalog loses a body.
func removeBodies(t *testing.T, lakeDir, catalog string) []string {
	t.Helper()
	var keys []string
	for _, p := range catalogPacks(t, filepath.Join(lakeDir, "objects"), "", catalog) {
		for _, e := range p.entries {
			if e.Catalog != catalog {
				t.Fatalf("pack %s holds bodies of %s and of %s", p.key, catalog, e.Catalog)
			}
		}
		if err := os.Remove(p.file); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, p.key)
	}
	return keys
}

// TestCheckRepair: a body deleted by hand is reported (body_missing), the
// repair prints the entry and removes it, a second check is clean and the
// catalog reads again.
func TestCheckRepair(t *testing.T) {
	dir := t.TempDir()
	lakeDir := filepath.Join(dir, "lake")
	meta := []string{"--meta", "file://" + lakeDir}
	mustLake(t, dir, "", append(meta, "write", "users", "name", `"Ada"`)...)
	lost := strings.TrimSpace(mustLake(t, dir, "", append(meta, "write", "broken", "lost", `"gone"`)...))
	mustLake(t, dir, "", append(meta, "write", "broken", "kept", "1")...)
	// Delete the body of "lost" only: each write stored a pack of its own,
	// so delete the one whose entry table names "lost" and whose body is
	// "gone".
	packs := catalogPacks(t, filepath.Join(lakeDir, "objects"), "", "broken")
	var object string
	for _, p := range packs {
		for i, e := range p.entries {
			if e.Field != "lost" {
				continue
			}
			if len(p.entries) != 1 || e.Catalog != "broken" || string(p.parts[i+1]) != `"gone"` {
				t.Fatalf("the pack of \"lost\" holds %+v, bodies %q", p.entries, p.parts[1:])
			}
			object = p.key + " part 1"
			if err := os.Remove(p.file); err != nil {
				t.Fatal(err)
			}
		}
	}
	if object == "" || len(packs) != 2 {
		t.Fatalf("no pack of \"lost\" among the 2 packs of broken: %+v", packs)
	}
	if r := runLake(t, dir, "", append(meta, "read", "broken")...); r.code != 1 || !strings.Contains(r.stderr, "body missing") {
		t.Fatalf("read with a body missing: exit %d, %s", r.code, r.stderr)
	}

	// check CATALOG and check --all report it, and change nothing.
	for _, args := range [][]string{{"check", "broken"}, {"check", "--all"}} {
		r := runLake(t, dir, "", append(meta, args...)...)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 1 || len(lines) != 3 || !strings.HasPrefix(lines[0], "CATALOG\tVERSION\tFIELD") {
			t.Fatalf("lake %v: exit %d\n%s\n%s", args, r.code, r.stdout, r.stderr)
		}
		want := "broken\t" + lost + "\t\"lost\"\tset\tbody_missing\t" + object + "\t"
		if !strings.HasPrefix(lines[1], want) || !strings.Contains(r.stderr, "1 problem(s) remain") || !strings.Contains(r.stderr, "--repair") {
			t.Fatalf("lake %v: line %q, want prefix %q\n%s", args, lines[1], want, r.stderr)
		}
	}
	r := runLake(t, dir, "", append(meta, "check", "users")...)
	if r.code != 0 || r.stdout != "checked 1 catalog(s), 1 delta(s): 0 problem(s)\n" {
		t.Fatalf("check of a sound catalog: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	// --json: one document.
	r = runLake(t, dir, "", append(meta, "check", "--all", "--json")...)
	var report struct {
		Catalogs, Deltas, Remaining int
		Problems                    []lake.Problem
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || r.code != 1 {
		t.Fatalf("check --json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if report.Catalogs != 2 || report.Deltas != 3 || report.Remaining != 1 || len(report.Problems) != 1 ||
		report.Problems[0].Kind != lake.ProblemBodyMissing || report.Problems[0].Object != object || report.Problems[0].Removed {
		t.Fatalf("check --json: %+v", report)
	}

	// --repair prints the entry, then removes it: exit 0.
	r = runLake(t, dir, "", append(meta, "check", "--all", "--repair")...)
	removing := fmt.Sprintf("removing broken\tversion %s\tfield \"lost\"\tobject %s\t(body_missing)\n", lost, object)
	if r.code != 0 || !strings.Contains(r.stdout, removing) || !strings.Contains(r.stdout, "removed 1 log entry; 0 problem(s) remain") {
		t.Fatalf("check --repair: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if i, j := strings.Index(r.stdout, "CATALOG\t"), strings.Index(r.stdout, "removing "); i < 0 || j < i {
		t.Fatalf("check --repair: the problems are not listed before the removal:\n%s", r.stdout)
	}
	r = runLake(t, dir, "", append(meta, "check", "--all")...)
	if r.code != 0 || r.stdout != "checked 2 catalog(s), 2 delta(s): 0 problem(s)\n" {
		t.Fatalf("check after the repair: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if out := mustLake(t, dir, "", append(meta, "read", "broken")...); out != `{"kept":1}`+"\n" {
		t.Fatalf("read after the repair: %q", out)
	}

	// --repair --json: the removal goes to stderr, the document says so.
	removeBodies(t, lakeDir, "users")
	r = runLake(t, dir, "", append(meta, "check", "users", "--repair", "--json")...)
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || r.code != 0 {
		t.Fatalf("check --repair --json: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	if report.Remaining != 0 || len(report.Problems) != 1 || !report.Problems[0].Removed || !strings.Contains(r.stderr, "removing users\t") {
		t.Fatalf("check --repair --json: %+v\n%s", report, r.stderr)
	}

	// Usage.
	for _, args := range [][]string{{"check"}, {"check", "a", "--all"}, {"check", "bad name"}} {
		if r := runLake(t, dir, "", append(meta, args...)...); r.code != 2 {
			t.Fatalf("lake %v: exit %d, %s", args, r.code, r.stderr)
		}
	}
}

func TestScriptCommand(t *testing.T) {
	dir := t.TempDir()
	meta := []string{"--meta", "file://" + filepath.Join(dir, "lake")}
	source := "function merge(old, value) { return (old || 0) + value }\n"
	hash := strings.TrimSpace(mustLake(t, dir, source, append(meta, "script", "put", "counter", "-")...))
	if len(hash) != 64 {
		t.Fatalf("script put printed %q, want a SHA-256", hash)
	}
	file := filepath.Join(dir, "twice.js")
	os.WriteFile(file, []byte("function merge(old, value) { return (old || 0) + 2 * value }"), 0o600)
	mustLake(t, dir, "", append(meta, "script", "put", "twice", file)...)

	if out := mustLake(t, dir, "", append(meta, "script", "get", "counter")...); out != source {
		t.Fatalf("script get: %q", out)
	}
	out := mustLake(t, dir, "", append(meta, "script", "list")...)
	if !strings.HasPrefix(out, "SCRIPT\tHASH\ncounter\t"+hash+"\ntwice\t") || strings.Count(out, "\n") != 3 {
		t.Fatalf("script list:\n%s", out)
	}
	out = mustLake(t, dir, "", append(meta, "script", "list", "--json")...)
	var list struct{ Scripts []struct{ Name, Hash string } }
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Scripts) != 2 || list.Scripts[0].Hash != hash {
		t.Fatalf("script list --json: %v %s", err, out)
	}

	mustLake(t, dir, "", append(meta, "write", "counters", "hits", "5", "--merge", "script", "--script", "counter")...)
	mustLake(t, dir, "", append(meta, "write", "counters", "hits", "2", "--merge", "script", "--script", "counter")...)
	if out := mustLake(t, dir, "", append(meta, "read", "counters")...); out != `{"hits":7}`+"\n" {
		t.Fatalf("read: %q", out)
	}

	mustLake(t, dir, "", append(meta, "script", "delete", "counter")...)
	if r := runLake(t, dir, "", append(meta, "script", "get", "counter")...); r.code != 2 || !strings.Contains(r.stderr, "counter") {
		t.Fatalf("script get after delete: exit %d, %s", r.code, r.stderr)
	}
	if out := mustLake(t, dir, "", append(meta, "script", "list")...); strings.Contains(out, "counter") {
		t.Fatalf("script list after delete: %q", out)
	}
	// Deltas written with it still fold.
	if out := mustLake(t, dir, "", append(meta, "read", "counters")...); out != `{"hits":7}`+"\n" {
		t.Fatalf("read after delete: %q", out)
	}
	for _, tc := range []struct {
		args  []string
		stdin string
	}{
		{[]string{"script", "put", "bad", "-"}, "function nope() {}"},
		{[]string{"script", "put", "x"}, ""},
		{[]string{"script", "frobnicate"}, ""},
		{[]string{"script", "get", "x", "--json"}, ""},
	} {
		if r := runLake(t, dir, tc.stdin, append(meta, tc.args...)...); r.code != 2 {
			t.Fatalf("lake %v: exit %d, %s", tc.args, r.code, r.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	dir := t.TempDir()
	a := mustLake(t, dir, "", "version")
	b := mustLake(t, dir, "", "--version")
	if a != b {
		t.Fatalf("lake version %q, lake --version %q", a, b)
	}
	lines := strings.Split(strings.TrimSpace(a), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "lake github.com/hkloudou/lake/v2 ") || !strings.HasPrefix(lines[2], "go1.") {
		t.Fatalf("version:\n%s", a)
	}
	// A binary built with VCS stamping names the checkout's commit.
	if _, err := exec.LookPath("git"); err == nil {
		head, err := exec.Command("git", "rev-parse", "HEAD").Output()
		if err != nil {
			t.Skipf("not a git checkout: %v", err)
		}
		// go build finds a checkout by a .git directory: in a linked
		// worktree .git is a file, and the build carries no VCS stamp.
		top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !fi.IsDir() {
			t.Skip("a linked git worktree: go build stamps no VCS information there")
		}
		bin := filepath.Join(t.TempDir(), "lake")
		if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatal(err)
		}
		// HEAD may move while the test runs (others commit): the commit is
		// HEAD's before or after the build.
		after, _ := exec.Command("git", "rev-parse", "HEAD").Output()
		m := regexp.MustCompile(`(?m)^commit ([0-9a-f]{40}) `).FindSubmatch(out)
		if m == nil {
			t.Fatalf("version of a stamped build:\n%s", out)
		}
		if got := string(m[1]); got != strings.TrimSpace(string(head)) && got != strings.TrimSpace(string(after)) {
			t.Fatalf("stamped commit %s, HEAD %s before the build and %s after", got, head, after)
		}
	}
	if r := runInProcess(t, "", "version", "extra"); r.code != 2 {
		t.Fatalf("version extra: exit %d", r.code)
	}
}

func TestReadPrettyCatalogsJSONWriteStdin(t *testing.T) {
	dir := t.TempDir()
	meta := []string{"--meta", "file://" + filepath.Join(dir, "lake")}
	v := strings.TrimSpace(mustLake(t, dir, "\n {\"first\": \"Ada\",\n \"tags\": [1, 2]}\n\n", append(meta, "write", "users", "profile", "-")...))
	if out := mustLake(t, dir, "", append(meta, "read", "users")...); out != `{"profile":{"first":"Ada","tags":[1,2]}}`+"\n" {
		t.Fatalf("read: %q", out)
	}
	want := "{\n  \"profile\": {\n    \"first\": \"Ada\",\n    \"tags\": [\n      1,\n      2\n    ]\n  }\n}\n"
	if out := mustLake(t, dir, "", append(meta, "read", "users", "--pretty")...); out != want {
		t.Fatalf("read --pretty:\n%s\nwant\n%s", out, want)
	}
	if r := runLake(t, dir, "not json", append(meta, "write", "users", "x", "-")...); r.code != 2 || !strings.Contains(r.stderr, `"not json" from stdin`) {
		t.Fatalf("write of invalid stdin: exit %d, %s", r.code, r.stderr)
	}
	if r := runLake(t, dir, "", append(meta, "write", "users", "x", "-")...); r.code != 2 {
		t.Fatalf("write of empty stdin: exit %d, %s", r.code, r.stderr)
	}

	out := mustLake(t, dir, "", append(meta, "catalogs", "--json")...)
	if out != `{"catalogs":[{"name":"users","version":`+v+`}]}`+"\n" {
		t.Fatalf("catalogs --json: %q", out)
	}
	if out := mustLake(t, dir, "", append(meta, "catalogs")...); out != "CATALOG\tVERSION\nusers\t"+v+"\n" {
		t.Fatalf("catalogs: %q", out)
	}
}

// TestHelpFlags: flags are listed as "--name ARG" with the argument names
// the usage strings give, numbers are printed unquoted, strings quoted, and
// a short alias beside its flag.
func TestHelpFlags(t *testing.T) {
	bench := runInProcess(t, "", "bench", "--help").stdout
	read := runInProcess(t, "", "read", "--help").stdout
	serve := runInProcess(t, "", "help", "serve").stdout
	for _, tc := range []struct {
		out, want string
	}{
		{bench, "  --cpuprofile FILE\n"},
		{bench, "  --clients N\n"},
		{bench, "(default 64)"},
		{bench, "(default 10s)"},
		{bench, `(default "memory")`},
		{bench, "  --duration DURATION\n"},
		{read, "  --verbose, -v\n"},
		{read, "[--verbose]"},
		{read, "  --at VERSION|TIME\n"},
		{serve, "  --compact-every DURATION\n"},
		{serve, "(0: the library's default, 10s; off or a negative duration: never)"},
		{serve, "(default 2097152)"},
		{serve, `(default "127.0.0.1:7171")`},
		{serve, "  --cors-origin ORIGIN\n"},
		{serve, "  --allow-host NAME\n"},
		{serve, "  --require-safe-redis\n"},
		{serve, "  --cache-bytes BYTES\n"},
		{serve, "  --max-document-size BYTES\n"},
		{serve, "  --storage KIND\n"},
	} {
		if !strings.Contains(tc.out, tc.want) {
			t.Errorf("help lacks %q:\n%s", tc.want, tc.out)
		}
	}
	for _, c := range commands {
		out := runInProcess(t, "", c.name, "--help").stdout
		for _, bad := range []string{"go tool pprof\n", `(default "64")`, `(default "10s")`, `(default "2097152")`, `(default "16")`, "\n  --v\n"} {
			if strings.Contains(out, bad) {
				t.Errorf("lake %s --help has %q:\n%s", c.name, bad, out)
			}
		}
		// Every flag line is "  --name", and the usage line spells flags
		// with two dashes.
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "  -") && !strings.HasPrefix(line, "  --") {
				t.Errorf("lake %s --help: flag line %q", c.name, line)
			}
		}
		if regexp.MustCompile(`\[-[a-z]`).MatchString(c.usage) {
			t.Errorf("lake %s usage spells a flag with one dash: %s", c.name, c.usage)
		}
	}
	// The short alias works.
	dir := t.TempDir()
	meta := "file://" + filepath.Join(dir, "lake")
	runInProcess(t, "", "--meta", meta, "write", "c", "a", "1")
	if r := runInProcess(t, "", "--meta", meta, "read", "c", "-v"); r.code != 0 || !strings.Contains(r.stderr, "version ") {
		t.Fatalf("read -v: exit %d, %q", r.code, r.stderr)
	}
	main := runInProcess(t, "", "--help").stdout
	for _, want := range []string{"--storage KIND", "--key-prefix PREFIX", "--version", "check", "script", "version"} {
		if !strings.Contains(main, want) {
			t.Errorf("lake --help lacks %q", want)
		}
	}
}

// TestConfigSetForceAndCreateBucket: a config that would move a lake with
// data to another store is refused unless --force; --create-bucket creates
// a bucket that does not exist on a real S3 server before storing the
// config.
func TestConfigSetForceAndCreateBucket(t *testing.T) {
	dir := t.TempDir()
	meta := []string{"--meta", "file://" + filepath.Join(dir, "lake")}
	first := fmt.Sprintf(`{"storage":"local","path":%q}`, filepath.Join(dir, "a"))
	second := fmt.Sprintf(`{"storage":"local","path":%q}`, filepath.Join(dir, "b"))
	mustLake(t, dir, "", append(meta, "config", "set", first)...)
	mustLake(t, dir, "", append(meta, "write", "c", "x", "1")...)
	r := runLake(t, dir, "", append(meta, "config", "set", second)...)
	if r.code != 2 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("config set moving the store: exit %d, %s", r.code, r.stderr)
	}
	if out := mustLake(t, dir, "", append(meta, "config", "get")...); !strings.Contains(out, filepath.Join(dir, "a")) {
		t.Fatalf("a refused config was stored: %s", out)
	}
	mustLake(t, dir, "", append(meta, "config", "set", "--force", second)...)
	if out := mustLake(t, dir, "", append(meta, "config", "get")...); !strings.Contains(out, filepath.Join(dir, "b")) {
		t.Fatalf("--force did not store the config: %s", out)
	}
	if r := runLake(t, dir, "", append(meta, "config", "set", "--create-bucket", first)...); r.code != 2 || !strings.Contains(r.stderr, "no bucket") {
		t.Fatalf("--create-bucket with local storage: exit %d, %s", r.code, r.stderr)
	}
	if r := runLake(t, dir, "", append(meta, "config", "get", "--force")...); r.code != 2 {
		t.Fatalf("config get --force: exit %d, %s", r.code, r.stderr)
	}

	srv := s3test.Start(t)
	s3cfg := func(bucket string) string {
		return fmt.Sprintf(`{"storage":"s3","endpoint":%q,"region":%q,"bucket":%q,"access_key":%q,"secret_key":%q}`,
			srv.Endpoint, srv.Region, bucket, srv.AccessKey, srv.SecretKey)
	}
	bucket := "lake-cli-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	s3meta := []string{"--meta", "file://" + filepath.Join(dir, "s3lake")}
	// Without --create-bucket: the probe fails on the missing bucket.
	if r := runLake(t, dir, "", append(s3meta, "config", "set", s3cfg(bucket))...); r.code != 1 || !strings.Contains(r.stderr, "bucket") {
		t.Fatalf("config set of a missing bucket: exit %d, %s", r.code, r.stderr)
	}
	r = runLake(t, dir, "", append(s3meta, "config", "set", "--create-bucket", s3cfg(bucket))...)
	if r.code != 0 || !strings.Contains(r.stderr, "bucket "+bucket+" is ready") {
		t.Fatalf("config set --create-bucket: exit %d, %s", r.code, r.stderr)
	}
	mustLake(t, dir, "", append(s3meta, "write", "c", "x", `"in s3"`)...)
	if out := mustLake(t, dir, "", append(s3meta, "read", "c")...); out != `{"x":"in s3"}`+"\n" {
		t.Fatalf("read from s3: %q", out)
	}
	// Again, the bucket exists: fine (same store, so no --force needed).
	mustLake(t, dir, "", append(s3meta, "config", "set", "--create-bucket", s3cfg(bucket))...)
}

// TestServeStartup: the start log names the storage and the lake ID;
// --require-safe-redis refuses a Redis that persists nothing, which is
// otherwise served with warnings; the new flags reach the server.
func TestServeStartup(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir, "--meta", "file://"+filepath.Join(dir, "lake"),
		"--cors-origin", "https://app.example", "--allow-host", "lake.internal", "--max-document-size", "200")
	line := regexp.MustCompile(`msg="lake: serving" .*storage=(\S+) lake_id=(\S+)`).FindStringSubmatch(p.log())
	if line == nil || line[1] == "unknown" || line[2] == "unknown" || line[2] == `""` {
		t.Fatalf("start log:\n%s", p.log())
	}
	do := func(method, path, body string, header ...string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, p.url(path), strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(header); i += 2 {
			if header[i] == "Host" {
				req.Host = header[i+1]
			} else {
				req.Header.Set(header[i], header[i+1])
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data), resp.Header
	}
	// --cors-origin
	if code, _, h := do("GET", "/v1/catalogs", "", "Origin", "https://app.example"); code != 200 || h.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("GET from the allowed origin: %d %v", code, h)
	}
	if code, _, _ := do("GET", "/v1/catalogs", "", "Origin", "https://evil.example"); code != 403 {
		t.Fatalf("GET from another origin: %d", code)
	}
	// --allow-host
	if code, _, _ := do("GET", "/v1/catalogs", "", "Host", "lake.internal"); code != 200 {
		t.Fatalf("GET with an allowed Host: %d", code)
	}
	if code, _, _ := do("GET", "/v1/catalogs", "", "Host", "rebind.example"); code != 421 {
		t.Fatalf("GET with another Host: %d", code)
	}
	// --max-document-size 200: a document over it is not folded.
	big := strings.Repeat("x", 300)
	if code, body, _ := do("POST", "/v1/catalogs/big", `{"field":"a","value":"`+big+`"}`); code != 200 {
		t.Fatalf("POST: %d %s", code, body)
	}
	if code, body, _ := do("GET", "/v1/catalogs/big", ""); code != 422 || !strings.Contains(body, "document_too_large") {
		t.Fatalf("GET of a document over --max-document-size: %d %s", code, body)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}
	if r := runLake(t, dir, "", "serve", "--cache-bytes", "-1"); r.code != 2 {
		t.Fatalf("--cache-bytes -1: exit %d, %s", r.code, r.stderr)
	}

	// A Redis that persists nothing (the throwaway server's default).
	unsafe := redistest.StartServer(t)
	r := runLake(t, dir, "", "--meta", unsafe.URL, "serve", "--listen", "127.0.0.1:0", "--require-safe-redis")
	if r.code != 1 || !strings.Contains(r.stderr, "unsafe: appendonly=") || !strings.Contains(r.stderr, "--require-safe-redis") {
		t.Fatalf("serve --require-safe-redis on an unsafe Redis: exit %d, %s", r.code, r.stderr)
	}
	p = startServe(t, dir, "--meta", unsafe.URL)
	if !strings.Contains(p.log(), "level=WARN") || !strings.Contains(p.log(), "setting=appendonly") {
		t.Fatalf("no warning for an unsafe Redis:\n%s", p.log())
	}
	// Without a config, writes into process memory are refused.
	if code, body, _ := do("POST", "/v1/catalogs/c", `{"field":"a","value":1}`); code != 503 || !strings.Contains(body, "durable") {
		t.Fatalf("POST without durable storage: %d %s", code, body)
	}
	if !strings.Contains(p.log(), "no durable object store configured") {
		t.Fatalf("no start warning about the missing config:\n%s", p.log())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 40*time.Second)

	// A Redis with an append-only file is safe: no warning.
	safe := redistest.StartServer(t, "--appendonly", "yes")
	p = startServe(t, dir, "--meta", safe.URL, "--require-safe-redis", "--storage", "memory")
	if strings.Contains(p.log(), "setting=") {
		t.Fatalf("warnings for a safe Redis:\n%s", p.log())
	}
	if code, body, _ := do("POST", "/v1/catalogs/c", `{"field":"a","value":1}`); code != 200 {
		t.Fatalf("POST with --storage memory: %d %s", code, body)
	}
}

func TestCatalogsPrintsNoTableWhenTheListingFails(t *testing.T) {
	r := runLake(t, t.TempDir(), "", "--meta", "redis://127.0.0.1:1", "catalogs")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "unavailable") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
