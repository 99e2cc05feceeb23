package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2/internal/redistest"
)

// TestServeReconnectsAfterItsStartupTimeout runs `lake --meta URL --storage
// memory serve` on a Redis with a password, lets it grow older than its
// start-up timeout (the library's InitTimeout, 10 s), kills its Redis
// connections, and posts a write: it must answer 200 within a second. The
// log must not show any part of the password.
func TestServeReconnectsAfterItsStartupTimeout(t *testing.T) {
	const password = "Pa@ss/w0rd:XYZ%9"
	redis := redistest.StartServer(t, "--requirepass", password)
	// The '@' and ':' as they are (URL syntax allows them in a password),
	// '/' and '%' escaped.
	meta := fmt.Sprintf("redis://:%s@127.0.0.1:%d", strings.NewReplacer("%", "%25", "/", "%2F").Replace(password), redis.Port)
	dir := t.TempDir()

	start := time.Now()
	p := startServeWith(t, dir, []string{"--meta", meta, "--storage", "memory"}, nil)
	noPassword := func() {
		t.Helper()
		for _, secret := range []string{"Pa@", "Pa%40", "w0rd", "XYZ"} {
			if strings.Contains(p.log(), secret) {
				t.Fatalf("the log shows %q of the password:\n%s", secret, p.log())
			}
		}
	}
	noPassword()
	post := func(when string, value int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		body := strings.NewReader(fmt.Sprintf(`{"field":"f","value":%d}`, value))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url("/v1/catalogs/c"), body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v\n%s", when, err, p.log())
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d\n%s", when, resp.StatusCode, p.log())
		}
	}
	post("at start", 1)

	time.Sleep(10*time.Second + 500*time.Millisecond - time.Since(start)) // older than InitTimeout
	killer := redistest.Client(t, meta)
	if err := killer.Do(context.Background(), killer.B().Arbitrary("CLIENT", "KILL", "TYPE", "normal").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	post("after CLIENT KILL", 2)
	if doc := getDocument(t, p.url("/v1/catalogs/c")); doc["f"] != float64(2) {
		t.Fatalf("document after the reconnect: %v", doc)
	}
	noPassword()
}

// startServeWith starts `lake GLOBAL... serve --listen 127.0.0.1:0 ARGS...`
// and waits until /healthz answers, like startServe with global flags.
func startServeWith(t *testing.T, dir string, global, args []string) *serveProc {
	t.Helper()
	all := append(append(append([]string{}, global...), "serve", "--listen", "127.0.0.1:0"), args...)
	cmd := lakeCmd(dir, all...)
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
