package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2/internal/pack"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/storage"
)

// lakeBin is the lake command, built once by TestMain.
var lakeBin string

// TestMain builds the lake command the tests run. With LAKE_COVERDIR set
// it builds it with go build -cover and sets GOCOVERDIR to that directory,
// so that every run of the binary leaves its coverage counters there: go
// test -cover measures only this test process, which the binary is not
// (tools/cover-cli.sh adds both up).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lake-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lakeBin = filepath.Join(dir, "lake")
	args := []string{"build", "-o", lakeBin}
	if coverDir := os.Getenv("LAKE_COVERDIR"); coverDir != "" {
		if err := useCoverDir(coverDir); err != nil {
			fmt.Fprintln(os.Stderr, "LAKE_COVERDIR:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		args = append(args, "-cover")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build lake:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// useCoverDir creates dir and points GOCOVERDIR at it, for every lake
// process the tests start (they inherit this process's environment).
func useCoverDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	return os.Setenv("GOCOVERDIR", abs)
}

type result struct {
	stdout, stderr string
	code           int
}

// lakeCmd returns the lake command run in dir, without LAKE_META from the
// test's environment.
func lakeCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(lakeBin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LAKE_META=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// runLake runs the command in dir with stdin and returns what it printed and
// its exit code.
func runLake(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	cmd := lakeCmd(dir, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("lake %v: %v", args, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func mustLake(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	r := runLake(t, dir, stdin, args...)
	if r.code != 0 {
		t.Fatalf("lake %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func TestHelp(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out := mustLake(t, dir, "", args...)
		for _, want := range []string{"write", "read", "catalogs", "config", "serve", "history", "compact", "delete", "gc", "recover", "Exit codes", "--meta"} {
			if !strings.Contains(out, want) {
				t.Fatalf("lake %v lacks %q:\n%s", args, want, out)
			}
		}
	}
	for _, name := range []string{"write", "read", "catalogs", "config", "serve", "history", "compact", "delete", "gc", "recover"} {
		for _, args := range [][]string{{name, "--help"}, {"help", name}} {
			out := mustLake(t, dir, "", args...)
			if !strings.Contains(out, "Usage:\n  lake "+name) || !strings.Contains(out, "Examples:") {
				t.Fatalf("lake %v:\n%s", args, out)
			}
		}
	}
	if r := runLake(t, dir, ""); r.code != 2 || !strings.Contains(r.stderr, "Commands:") {
		t.Fatalf("lake without a command: exit %d, %s", r.code, r.stderr)
	}
	if r := runLake(t, dir, "", "frobnicate"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: exit %d, %s", r.code, r.stderr)
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	// The default lake is file://./lake-data in the working directory.
	v1 := strings.TrimSpace(mustLake(t, dir, "", "write", "users", "profile.name", `{"first":"Ada"}`))
	v2 := strings.TrimSpace(mustLake(t, dir, "", "write", "users", "profile", `{"age":36}`, "--merge", "patch"))
	mustLake(t, dir, "", "write", "--merge", "set", "users", "score", "-1.5")
	mustLake(t, dir, "", "write", "users", "--", "note", `"-- not a flag"`)
	if v1 == "" || v2 == "" || v1 == v2 {
		t.Fatalf("versions %q %q", v1, v2)
	}
	if _, err := os.Stat(filepath.Join(dir, "lake-data", "meta.db")); err != nil {
		t.Fatalf("default lake not in ./lake-data: %v", err)
	}

	r := runLake(t, dir, "", "read", "users")
	want := `{"note":"-- not a flag","profile":{"age":36,"name":{"first":"Ada"}},"score":-1.5}` + "\n"
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Fatalf("read: exit %d stdout %q (want %q) stderr %q", r.code, r.stdout, want, r.stderr)
	}
	r = runLake(t, dir, "", "read", "users", "-v", "--snap")
	if r.code != 0 || r.stdout != want || !strings.Contains(r.stderr, "version ") || !strings.Contains(r.stderr, "snapshot saved") {
		t.Fatalf("read -v --snap: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}

	// --meta and LAKE_META name another lake.
	other := t.TempDir()
	mustLake(t, dir, "", "--meta", "file://"+other, "write", "elsewhere", "a", "1")
	cmd := lakeCmd(dir, "read", "elsewhere")
	cmd.Env = append(cmd.Env, "LAKE_META=file://"+other)
	out, err := cmd.Output()
	if err != nil || string(out) != `{"a":1}`+"\n" {
		t.Fatalf("LAKE_META read: %q %v", out, err)
	}
	if got := mustLake(t, dir, "", "read", "elsewhere"); got != "{}\n" {
		t.Fatalf("the default lake has the other lake's catalog: %q", got)
	}
}

func TestReadSkippedAndStrict(t *testing.T) {
	dir := t.TempDir()
	mustLake(t, dir, "", "write", "c", "a", "1")
	mustLake(t, dir, "", "write", "c", "", `[{"op":"test","path":"/a","value":2}]`, "--merge", "jsonpatch")
	r := runLake(t, dir, "", "read", "c")
	if r.code != 0 || r.stdout != `{"a":1}`+"\n" || !strings.Contains(r.stderr, "1 delta(s) could not apply") {
		t.Fatalf("read: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = runLake(t, dir, "", "read", "c", "--strict")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "does not apply") {
		t.Fatalf("read --strict: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if out := mustLake(t, dir, "", "read", "other", "--strict"); out != "{}\n" {
		t.Fatalf("strict read of a clean catalog: %q", out)
	}
}

func TestCatalogsCommand(t *testing.T) {
	dir := t.TempDir()
	versions := map[string]string{}
	for _, name := range []string{"b", "a", "c"} {
		versions[name] = strings.TrimSpace(mustLake(t, dir, "", "write", name, "x", "true"))
	}
	out := mustLake(t, dir, "", "catalogs")
	want := fmt.Sprintf("CATALOG\tVERSION\na\t%s\nb\t%s\nc\t%s\n", versions["a"], versions["b"], versions["c"])
	if out != want {
		t.Fatalf("catalogs:\n%q\nwant\n%q", out, want)
	}
	if out := mustLake(t, dir, "", "catalogs", "--after", "a", "--limit", "1"); out != fmt.Sprintf("CATALOG\tVERSION\nb\t%s\n", versions["b"]) {
		t.Fatalf("catalogs --after a --limit 1: %q", out)
	}
	if out := mustLake(t, dir, "", "catalogs", "--after", "c"); out != "CATALOG\tVERSION\n" {
		t.Fatalf("catalogs --after c: %q", out)
	}
}

func TestConfigSetGet(t *testing.T) {
	dir := t.TempDir()
	r := runLake(t, dir, "", "config", "get")
	if r.code != 0 || r.stdout != "{}\n" || !strings.Contains(r.stderr, "no config stored") {
		t.Fatalf("config get on a fresh lake: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	objects := filepath.Join(dir, "objects-encrypted")
	cfg := fmt.Sprintf(`{"name":"cli","storage":"local","path":%q,"aes_pwd":"correct horse battery"}`, objects)
	mustLake(t, dir, cfg, "config", "set", "-")
	file := filepath.Join(dir, "cfg.json")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	mustLake(t, dir, "", "config", "set", file)

	out := mustLake(t, dir, "", "config", "get")
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("config get: %v\n%s", err, out)
	}
	if got["aes_pwd"] != "***" || got["path"] != objects || got["name"] != "cli" || strings.Contains(out, "horse") {
		t.Fatalf("config get: %s", out)
	}

	// The config is in use: bodies are encrypted under the new path.
	mustLake(t, dir, "", "write", "c", "secret", `"plain text"`)
	files, _ := filepath.Glob(filepath.Join(objects, filepath.FromSlash(pack.Prefix), "*"))
	if len(files) != 1 {
		t.Fatalf("packs under %s: %v", objects, files)
	}
	if stored, _ := os.ReadFile(files[0]); bytes.Contains(stored, []byte("plain text")) || bytes.Contains(stored, []byte(`"catalog"`)) {
		t.Fatal("body or entry table stored in clear")
	}
	// Every part is sealed, and the password opens them: the entry table
	// names the write, and part 1 is its body.
	local, err := storage.NewLocalStorage(objects)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := storage.ReadParts(context.Background(), local, pack.Key(filepath.Base(files[0])))
	if err != nil || len(sealed) != 2 {
		t.Fatalf("sealed parts: %d, %v", len(sealed), err)
	}
	for i, p := range sealed {
		if p.Err != nil || !bytes.HasPrefix(p.Data, []byte("LAKE")) {
			t.Fatalf("part %d is not sealed: %q, %v", i, p.Data, p.Err)
		}
	}
	packs := readPacks(t, objects, "correct horse battery")
	if len(packs) != 1 || len(packs[0].entries) != 1 || packs[0].entries[0] != (pack.Entry{Catalog: "c", Field: "secret", Merge: "set"}) ||
		string(packs[0].parts[1]) != `"plain text"` {
		t.Fatalf("opened pack: %+v", packs)
	}
	if out := mustLake(t, dir, "", "read", "c"); out != `{"secret":"plain text"}`+"\n" {
		t.Fatalf("read: %q", out)
	}

	// Feeding `config get` back is refused: its secrets are redaction markers.
	if r := runLake(t, dir, out, "config", "set", "-"); r.code != 2 || !strings.Contains(r.stderr, `"***"`) {
		t.Fatalf("config set of a redacted config: exit %d, %s", r.code, r.stderr)
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	mustLake(t, dir, "", "write", "c", "a", "1")
	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"value not JSON", "", []string{"write", "c", "a", "hello"}, 2, "not valid JSON"},
		{"bad catalog", "", []string{"write", "bad/name", "a", "1"}, 2, "invalid catalog"},
		{"bad catalog on read", "", []string{"read", "no spaces"}, 2, "invalid catalog"},
		{"bad field", "", []string{"write", "c", "a..b", "1"}, 2, "invalid field"},
		{"unknown merge", "", []string{"write", "c", "a", "1", "--merge", "upsert"}, 2, "unknown merge type"},
		{"unfit value", "", []string{"write", "c", "a", "{}", "--merge", "jsonpatch"}, 2, "invalid value"},
		{"too few args", "", []string{"write", "c", "a"}, 2, "usage: lake write"},
		{"unknown flag", "", []string{"read", "c", "--snapshot"}, 2, "flag provided but not defined"},
		{"invalid config", `{"storage":"floppy"}`, []string{"config", "set", "-"}, 2, "invalid config"},
		{"config file missing", "", []string{"config", "set", "/nonexistent/cfg.json"}, 2, "read config"},
		{"bad meta URL", "", []string{"--meta", "gopher://x", "read", "c"}, 2, "invalid meta URL"},
		{"unreachable redis", "", []string{"--meta", "redis://127.0.0.1:1", "read", "c"}, 1, "meta store unavailable"},
		{"unreachable redis write", "", []string{"--meta", "redis://127.0.0.1:1", "write", "c", "a", "1"}, 1, "meta store unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runLake(t, dir, tc.stdin, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("lake %v: exit %d (want %d), stderr %q (want %q)", tc.args, r.code, tc.code, r.stderr, tc.stderr)
			}
			if r.stdout != "" {
				t.Fatalf("lake %v printed %q on stdout", tc.args, r.stdout)
			}
		})
	}
	if out := mustLake(t, dir, "", "read", "c"); out != `{"a":1}`+"\n" {
		t.Fatalf("refused writes changed the document: %q", out)
	}

	// A corrupt body is a runtime error (1), although the error it wraps
	// also names the merge error that found it.
	// The body "1" becomes "{", as long as it was (the log holds where each
	// part lies), so every frame check passes and only its JSON is bad.
	objects := filepath.Join(dir, "lake-data", "objects")
	packs := catalogPacks(t, objects, "", "c")
	if len(packs) != 1 || len(packs[0].entries) != 1 || string(packs[0].parts[1]) != "1" {
		t.Fatalf("the packs of c: %+v", packs)
	}
	local, err := storage.NewLocalStorage(objects)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := storage.PutParts(context.Background(), local, packs[0].key, [][]byte{packs[0].parts[0], []byte("{")}); err != nil {
		t.Fatal(err)
	}
	if r := runLake(t, dir, "", "read", "c"); r.code != 1 || !strings.Contains(r.stderr, "corrupt") || !strings.Contains(r.stderr, packs[0].key+" part 1") {
		t.Fatalf("corrupt read: exit %d, %s", r.code, r.stderr)
	}
}

// serveProc is a running `lake serve`.
type serveProc struct {
	cmd  *exec.Cmd
	addr string // host:port it listens on
	mu   sync.Mutex
	logs strings.Builder
	done chan struct{} // closed when stderr is drained
}

var servingAddr = regexp.MustCompile(`msg="lake: serving" addr=(\S+)`)

// startServe starts `lake serve` on a free loopback port (--listen
// 127.0.0.1:0) and waits until /healthz answers.
func startServe(t *testing.T, dir string, args ...string) *serveProc {
	t.Helper()
	cmd := lakeCmd(dir, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, done: make(chan struct{})}
	addrCh := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := servingAddr.FindStringSubmatch(line); m != nil {
				addrCh <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	select {
	case p.addr = <-addrCh:
	case <-p.done:
		cmd.Wait()
		t.Fatalf("lake serve exited before serving:\n%s", p.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("lake serve did not start:\n%s", p.log())
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(p.url("/healthz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz: %v\n%s", err, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *serveProc) url(path string) string { return "http://" + p.addr + path }

func (p *serveProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// wait waits for the process to exit and returns its exit code.
func (p *serveProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	exited := make(chan error, 1)
	go func() {
		<-p.done
		exited <- p.cmd.Wait()
	}()
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(timeout):
		t.Fatalf("lake serve still running after %v:\n%s", timeout, p.log())
		return -1
	}
}

func getDocument(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	return doc
}

func TestServeRefusesRemoteWithoutToken(t *testing.T) {
	dir := t.TempDir()
	for _, listen := range []string{"0.0.0.0:0", ":0", "example.com:7171"} {
		r := runLake(t, dir, "", "serve", "--listen", listen)
		if r.code != 2 || !strings.Contains(r.stderr, "refusing to serve without a token") || !strings.Contains(r.stderr, "--allow-remote") {
			t.Fatalf("serve --listen %s: exit %d, %s", listen, r.code, r.stderr)
		}
	}
	if r := runLake(t, dir, "", "serve", "--token-file", filepath.Join(dir, "missing")); r.code != 2 {
		t.Fatalf("serve with a missing token file: exit %d, %s", r.code, r.stderr)
	}
}

func TestServeTokens(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("# writers\nrw-secret\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, dir, "--meta", "file://"+dir+"/lake", "--token-file", tokens, "--read-token", "ro-secret")
	post := func(token string) int {
		req, _ := http.NewRequest("POST", p.url("/v1/catalogs/c"), strings.NewReader(`{"field":"a","value":1}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := []int{post(""), post("ro-secret"), post("rw-secret")}; got[0] != 401 || got[1] != 403 || got[2] != 200 {
		t.Fatalf("POST without, read-only, read-write token: %v", got)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}
}

// TestServeCrashSafety kills `lake serve` with SIGKILL while writers post
// concurrently, restarts it on the same directory, and checks that every
// write it acknowledged with 200 is in the document.
func TestServeCrashSafety(t *testing.T) {
	dir := t.TempDir()
	meta := "file://" + filepath.Join(dir, "lake")
	p := startServe(t, dir, "--meta", meta)

	const writers = 8
	var (
		mu    sync.Mutex
		acked = map[string]float64{} // field -> value of every acknowledged write
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				field := fmt.Sprintf("g%d.w%d", g, i)
				body := fmt.Sprintf(`{"field":%q,"value":%d}`, field, i)
				resp, err := client.Post(p.url("/v1/catalogs/crash"), "application/json", strings.NewReader(body))
				if err != nil {
					return // the server is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked[field] = float64(i)
					mu.Unlock()
				}
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged in 30s:\n%s", n, p.log())
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// A process ended by a signal has no exit code (-1); its state names
	// the signal.
	if code := p.wait(t, 10*time.Second); code != -1 {
		t.Fatalf("killed server exited with code %d, want none (killed by SIGKILL):\n%s", code, p.log())
	}
	if got := p.cmd.ProcessState.String(); got != "signal: killed" {
		t.Fatalf("killed server: process state %q, want %q", got, "signal: killed")
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d writes acknowledged before SIGKILL", len(acked))

	p2 := startServe(t, dir, "--meta", meta)
	doc := getDocument(t, p2.url("/v1/catalogs/crash"))
	missing := 0
	for field, want := range acked {
		g, w, _ := strings.Cut(field, ".")
		group, _ := doc[g].(map[string]any)
		if got, ok := group[w]; !ok || got != want {
			missing++
			if missing <= 10 {
				t.Errorf("acknowledged write %s=%v: found %v (present %v)", field, want, got, ok)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, len(acked))
	}
	// The restarted server takes writes.
	resp, err := client.Post(p2.url("/v1/catalogs/crash"), "application/json", strings.NewReader(`{"field":"after","value":true}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("write after restart: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestServeGracefulShutdown sends SIGTERM while requests are in flight
// (their bodies half sent): they complete with 200, new connections are
// refused, and the process exits 0.
func TestServeGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	meta := "file://" + filepath.Join(dir, "lake")
	p := startServe(t, dir, "--meta", meta)

	const inFlight = 4
	type outcome struct {
		status int
		body   string
		err    error
	}
	var (
		pipes    []*io.PipeWriter
		outcomes = make(chan outcome, inFlight)
	)
	for i := range inFlight {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		req, _ := http.NewRequest("POST", p.url("/v1/catalogs/graceful"), pr)
		req.Header.Set("Content-Type", "application/json")
		go func() {
			resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
			if err != nil {
				outcomes <- outcome{err: err}
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			outcomes <- outcome{status: resp.StatusCode, body: string(body)}
		}()
		if _, err := fmt.Fprintf(pw, `{"field":"f%d",`, i); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the requests reach the server

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Shutdown has begun once the listener refuses connections.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		conn, err := net.Dial("tcp", p.addr)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("still accepting connections after SIGTERM:\n%s", p.log())
		}
	}
	select {
	case o := <-outcomes:
		t.Fatalf("a request in flight ended before its body was sent: %+v", o)
	default:
	}

	for i, pw := range pipes {
		fmt.Fprintf(pw, `"value":%d}`, i)
		pw.Close()
	}
	for range inFlight {
		o := <-outcomes
		if o.err != nil || o.status != http.StatusOK || !strings.Contains(o.body, `"version"`) {
			t.Fatalf("request in flight at SIGTERM: %+v\n%s", o, p.log())
		}
	}
	if code := p.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.log())
	}
	logs := p.log()
	for _, want := range []string{"shutting down", "lake: stopped", `msg=request method=POST route="POST /v1/catalogs/{catalog}" status=200`} {
		if !strings.Contains(logs, want) {
			t.Fatalf("logs lack %q:\n%s", want, logs)
		}
	}
	// The writes are in the lake, and the lake was closed (its lock released).
	out := mustLake(t, dir, "", "--meta", meta, "read", "graceful")
	if out != `{"f0":0,"f1":1,"f2":2,"f3":3}`+"\n" {
		t.Fatalf("document after shutdown: %q", out)
	}
}

// TestRedisMeta uses the command on a Redis meta store: a config with
// durable storage first (without one, bodies would live in each process's
// memory), then a write and a read in separate processes.
func TestRedisMeta(t *testing.T) {
	redis := redistest.StartServer(t)
	dir := t.TempDir()
	meta := []string{"--meta", redis.URL}
	cfg := fmt.Sprintf(`{"storage":"local","path":%q}`, filepath.Join(dir, "objects"))
	mustLake(t, dir, cfg, append(meta, "config", "set", "-")...)
	v := strings.TrimSpace(mustLake(t, dir, "", append(meta, "write", "users", "name", `"Ada"`)...))
	if out := mustLake(t, dir, "", append(meta, "read", "users")...); out != `{"name":"Ada"}`+"\n" {
		t.Fatalf("read: %q", out)
	}
	if out := mustLake(t, dir, "", append(meta, "catalogs")...); out != "CATALOG\tVERSION\nusers\t"+v+"\n" {
		t.Fatalf("catalogs: %q", out)
	}
	redis.Stop()
	if r := runLake(t, dir, "", append(meta, "read", "users")...); r.code != 1 {
		t.Fatalf("read with Redis stopped: exit %d, %s", r.code, r.stderr)
	}
}
