package main

import (
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
	p := startServe(t, dir, "--meta", meta, "--storage", "memory") // global flags may follow the command
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
