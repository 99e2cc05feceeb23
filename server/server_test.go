package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/internal/testenv"
	"github.com/hkloudou/lake/v2/server"
)

// testServer is the API of a real embedded (file://) lake over a real
// listener.
type testServer struct {
	*httptest.Server
	client *lake.Client
	dir    string
	logs   *testenv.LogBuffer
}

func newTestServer(t *testing.T, opts server.Options) *testServer {
	t.Helper()
	dir := t.TempDir()
	return newTestServerOn(t, "file://"+dir, dir, opts)
}

// newTestServerOn serves the lake at meta; lakeOpts tune its client.
func newTestServerOn(t *testing.T, meta, dir string, opts server.Options, lakeOpts ...func(*lake.Option)) *testServer {
	t.Helper()
	logs := &testenv.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	client := lake.NewLake(meta, append([]func(*lake.Option){func(o *lake.Option) { o.Logger = logger }}, lakeOpts...)...)
	if opts.Logger == nil {
		opts.Logger = logger
	}
	ts := httptest.NewServer(server.New(client, opts))
	t.Cleanup(func() {
		ts.Close()
		client.Close()
	})
	return &testServer{Server: ts, client: client, dir: dir, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   string
}

// errorCode returns the code of an error response body.
func (r response) errorCode() string {
	var body struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal([]byte(r.body), &body)
	return body.Error.Code
}

func (ts *testServer) do(t *testing.T, method, path, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	// Header pairs; an empty value removes the header, and "Host" sets the
	// request's Host.
	for i := 0; i+1 < len(header); i += 2 {
		switch name, value := header[i], header[i+1]; {
		case strings.EqualFold(name, "Host"):
			req.Host = value
		case value == "":
			req.Header.Del(name)
		default:
			req.Header.Set(name, value)
		}
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// write posts one delta and returns its version.
func (ts *testServer) write(t *testing.T, catalog, body string, header ...string) int64 {
	t.Helper()
	r := ts.do(t, "POST", "/v1/catalogs/"+catalog, body, header...)
	if r.status != http.StatusOK {
		t.Fatalf("POST %s %s: %d %s", catalog, body, r.status, r.body)
	}
	var out struct{ Version int64 }
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || out.Version <= 0 {
		t.Fatalf("POST answer %q: version %d, %v", r.body, out.Version, err)
	}
	return out.Version
}

func wantStatus(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if code != "" {
		if got := r.errorCode(); got != code {
			t.Fatalf("error code %q, want %q; body %s", got, code, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("error Content-Type %q", ct)
		}
	}
}

func TestWriteThenRead(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	v1 := ts.write(t, "users", `{"field":"profile.name","value":{"first":"Ada"}}`)
	v2 := ts.write(t, "users", `{"field":"profile","value":{"age":36},"merge":"patch"}`)
	if v2 <= v1 {
		t.Fatalf("versions %d then %d", v1, v2)
	}

	r := ts.do(t, "GET", "/v1/catalogs/users", "")
	wantStatus(t, r, http.StatusOK, "")
	if want := `{"profile":{"age":36,"name":{"first":"Ada"}}}` + "\n"; r.body != want {
		t.Fatalf("document %q, want %q", r.body, want)
	}
	etag := fmt.Sprintf(`"%d"`, v2)
	if got := r.header.Get("ETag"); got != etag {
		t.Fatalf("ETag %q, want %q", got, etag)
	}
	if got := r.header.Get("Lake-Version"); got != fmt.Sprint(v2) {
		t.Fatalf("Lake-Version %q, want %d", got, v2)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Fatalf("Content-Type %q", got)
	}
	if got := r.header.Get("Lake-Skipped"); got != "" {
		t.Fatalf("Lake-Skipped %q on a read that skipped nothing", got)
	}

	// A delete needs no value.
	ts.write(t, "users", `{"field":"profile.age","merge":"delete"}`)
	r = ts.do(t, "GET", "/v1/catalogs/users?snap=1", "")
	if want := `{"profile":{"name":{"first":"Ada"}}}` + "\n"; r.body != want {
		t.Fatalf("after delete: %q, want %q", r.body, want)
	}

	// A catalog never written to is {} at version 0.
	r = ts.do(t, "GET", "/v1/catalogs/nobody", "")
	wantStatus(t, r, http.StatusOK, "")
	if r.body != "{}\n" || r.header.Get("ETag") != `"0"` {
		t.Fatalf("empty catalog: %q ETag %q", r.body, r.header.Get("ETag"))
	}
}

func TestIfNoneMatch(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	v := ts.write(t, "c", `{"field":"a","value":1}`)
	etag := fmt.Sprintf(`"%d"`, v)

	for _, header := range []string{etag, "W/" + etag, `"1", ` + etag, "*"} {
		r := ts.do(t, "GET", "/v1/catalogs/c", "", "If-None-Match", header)
		wantStatus(t, r, http.StatusNotModified, "")
		if r.body != "" {
			t.Fatalf("304 with a body: %q", r.body)
		}
		if r.header.Get("ETag") != etag {
			t.Fatalf("304 ETag %q, want %q", r.header.Get("ETag"), etag)
		}
	}

	ts.write(t, "c", `{"field":"b","value":2}`)
	r := ts.do(t, "GET", "/v1/catalogs/c", "", "If-None-Match", etag)
	wantStatus(t, r, http.StatusOK, "")
	if r.body != `{"a":1,"b":2}`+"\n" {
		t.Fatalf("document %q", r.body)
	}
}

func TestSkippedHeader(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	ts.write(t, "c", `{"field":"a","value":1}`)
	// A JSON patch whose test fails cannot apply: every reader skips it.
	ts.write(t, "c", `{"field":"","value":[{"op":"test","path":"/a","value":2}],"merge":"jsonpatch"}`)
	r := ts.do(t, "GET", "/v1/catalogs/c", "")
	wantStatus(t, r, http.StatusOK, "")
	if got := r.header.Get("Lake-Skipped"); got != "1" {
		t.Fatalf("Lake-Skipped %q, want 1", got)
	}
	if r.body != `{"a":1}`+"\n" {
		t.Fatalf("document %q", r.body)
	}
	// A strict read refuses a document without them.
	r = ts.do(t, "GET", "/v1/catalogs/c?strict=1", "")
	wantStatus(t, r, http.StatusUnprocessableEntity, "conflict")
	if !strings.Contains(r.body, "jsonpatch") {
		t.Fatalf("strict read error does not name the delta: %s", r.body)
	}
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/other?strict=true", ""), http.StatusOK, "")
}

func TestInputErrors(t *testing.T) {
	ts := newTestServer(t, server.Options{MaxBodyBytes: 4 << 20})
	big := `{"field":"a","value":"` + strings.Repeat("x", 1<<20) + `"}` // over the lake's 1 MiB value limit
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"invalid catalog", "POST", "/v1/catalogs/-x", `{"field":"a","value":1}`, 400, "invalid_catalog"},
		{"invalid catalog on read", "GET", "/v1/catalogs/a%20b", "", 400, "invalid_catalog"},
		{"invalid field", "POST", "/v1/catalogs/c", `{"field":"a..b","value":1}`, 400, "invalid_field"},
		{"missing field", "POST", "/v1/catalogs/c", `{"value":1}`, 400, "invalid_field"},
		{"invalid value", "POST", "/v1/catalogs/c", `{"field":"a","value":{"op":"add"},"merge":"jsonpatch"}`, 400, "invalid_value"},
		{"missing value", "POST", "/v1/catalogs/c", `{"field":"a"}`, 400, "invalid_value"},
		{"non-object root", "POST", "/v1/catalogs/c", `{"field":"","value":[1]}`, 400, "invalid_value"},
		{"unknown merge type", "POST", "/v1/catalogs/c", `{"field":"a","value":1,"merge":"upsert"}`, 400, "unknown_merge_type"},
		{"script merge without a script", "POST", "/v1/catalogs/c", `{"field":"a","value":1,"merge":"script"}`, 400, "invalid_script"},
		{"script without script merge", "POST", "/v1/catalogs/c", `{"field":"a","value":1,"script":"counter"}`, 400, "invalid_script"},
		{"unregistered script", "POST", "/v1/catalogs/c", `{"field":"a","value":1,"merge":"script","script":"nope"}`, 404, "script_not_found"},
		{"merge type in capitals", "POST", "/v1/catalogs/c", `{"field":"a","value":1,"merge":"SET"}`, 400, "unknown_merge_type"},
		{"value over the lake's limit", "POST", "/v1/catalogs/c", big, 413, "body_too_large"},
		{"malformed JSON", "POST", "/v1/catalogs/c", `{"field":`, 400, "bad_request"},
		{"unknown request field", "POST", "/v1/catalogs/c", `{"field":"a","value":1,"mrege":"set"}`, 400, "bad_request"},
		{"trailing data", "POST", "/v1/catalogs/c", `{"field":"a","value":1} {}`, 400, "bad_request"},
		{"empty body", "POST", "/v1/catalogs/c", ``, 400, "bad_request"},
		{"bad snap", "GET", "/v1/catalogs/c?snap=maybe", "", 400, "bad_request"},
		{"bad limit", "GET", "/v1/catalogs?limit=0", "", 400, "bad_request"},
		{"unknown route", "GET", "/v2/catalogs", "", 404, "not_found"},
		{"nested path", "GET", "/v1/catalogs/a/b", "", 404, "not_found"},
		{"method not allowed", "PUT", "/v1/catalogs/c", "{}", 405, "method_not_allowed"},
		{"method not allowed on config", "POST", "/v1/config", "{}", 405, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, tc.method, tc.path, tc.body, "Content-Type", "application/json")
			wantStatus(t, r, tc.status, tc.code)
			if tc.status == 405 && r.header.Get("Allow") == "" {
				t.Fatal("405 without an Allow header")
			}
		})
	}
	// Nothing was written by any of them.
	r := ts.do(t, "GET", "/v1/catalogs/c", "")
	if r.body != "{}\n" {
		t.Fatalf("catalog c after refused writes: %q", r.body)
	}
}

func TestRequestBodyTooLarge(t *testing.T) {
	ts := newTestServer(t, server.Options{MaxBodyBytes: 1024})
	body := `{"field":"a","value":"` + strings.Repeat("x", 2000) + `"}`
	wantStatus(t, ts.do(t, "POST", "/v1/catalogs/c", body), http.StatusRequestEntityTooLarge, "body_too_large")
	wantStatus(t, ts.do(t, "PUT", "/v1/config", `{"storage":"memory","name":"`+strings.Repeat("n", 2000)+`"}`),
		http.StatusRequestEntityTooLarge, "body_too_large")
	ts.write(t, "c", `{"field":"a","value":"small"}`)
}

func TestCatalogs(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	names := []string{"alpha", "bravo", "charlie", "delta", "echo"}
	versions := map[string]int64{}
	for _, n := range names {
		versions[n] = ts.write(t, n, `{"field":"x","value":true}`)
	}
	type page struct {
		Catalogs []struct {
			Name    string
			Version int64
		}
		Next string
	}
	get := func(query string) page {
		t.Helper()
		r := ts.do(t, "GET", "/v1/catalogs"+query, "")
		wantStatus(t, r, http.StatusOK, "")
		var p page
		if err := json.Unmarshal([]byte(r.body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}

	all := get("")
	if len(all.Catalogs) != len(names) || all.Next != "" {
		t.Fatalf("default page: %+v", all)
	}
	for i, c := range all.Catalogs {
		if c.Name != names[i] || c.Version != versions[c.Name] {
			t.Fatalf("entry %d: %+v, want %s at %d", i, c, names[i], versions[names[i]])
		}
	}

	var seen []string
	after := ""
	for range 10 {
		p := get("?limit=2&after=" + after)
		for _, c := range p.Catalogs {
			seen = append(seen, c.Name)
		}
		if p.Next == "" {
			break
		}
		if len(p.Catalogs) != 2 || p.Next != p.Catalogs[1].Name {
			t.Fatalf("page after %q: %+v", after, p)
		}
		after = p.Next
	}
	if strings.Join(seen, ",") != strings.Join(names, ",") {
		t.Fatalf("paged listing %v, want %v", seen, names)
	}
	if p := get("?limit=5000"); len(p.Catalogs) != len(names) {
		t.Fatalf("limit over the maximum: %+v", p)
	}
	// A page that ends exactly at the last catalog has no next.
	if p := get("?limit=5"); p.Next != "" {
		t.Fatalf("full last page says next=%q", p.Next)
	}
	if r := ts.do(t, "GET", "/v1/catalogs", ""); !strings.Contains(r.body, `"next":""`) {
		t.Fatalf("next missing from %s", r.body)
	}
}

func TestAuth(t *testing.T) {
	ts := newTestServer(t, server.Options{ReadWriteTokens: []string{"rw-token"}, ReadOnlyTokens: []string{"ro-token"}})
	rw := []string{"Authorization", "Bearer rw-token"}
	ro := []string{"Authorization", "Bearer ro-token"}
	writeBody := `{"field":"a","value":1}`

	r := ts.do(t, "POST", "/v1/catalogs/c", writeBody)
	wantStatus(t, r, http.StatusUnauthorized, "unauthorized")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without WWW-Authenticate: %v", r.header)
	}
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", ""), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", "", "Authorization", "Bearer wrong"), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", "", "Authorization", "Basic cnctdG9rZW4="), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", "", "Authorization", "Bearer rw-token-and-more"), http.StatusUnauthorized, "unauthorized")

	wantStatus(t, ts.do(t, "POST", "/v1/catalogs/c", writeBody, ro...), http.StatusForbidden, "forbidden")
	wantStatus(t, ts.do(t, "PUT", "/v1/config", `{"storage":"memory"}`, ro...), http.StatusForbidden, "forbidden")
	ts.write(t, "c", writeBody, rw...)

	for _, path := range []string{"/v1/catalogs/c", "/v1/catalogs", "/v1/config"} {
		wantStatus(t, ts.do(t, "GET", path, "", ro...), http.StatusOK, "")
		wantStatus(t, ts.do(t, "GET", path, "", rw...), http.StatusOK, "")
	}
	r = ts.do(t, "GET", "/v1/catalogs/c", "", "authorization", "bearer ro-token")
	wantStatus(t, r, http.StatusOK, "")
	if r.body != `{"a":1}`+"\n" {
		t.Fatalf("document %q", r.body)
	}
	// Health and metrics need no token.
	wantStatus(t, ts.do(t, "GET", "/healthz", ""), http.StatusOK, "")
	wantStatus(t, ts.do(t, "GET", "/metrics", ""), http.StatusOK, "")
}

func TestConfig(t *testing.T) {
	ts := newTestServer(t, server.Options{})

	r := ts.do(t, "GET", "/v1/config", "")
	wantStatus(t, r, http.StatusOK, "")
	if r.body != "{}\n" || r.header.Get("Lake-Storage") != "local" {
		t.Fatalf("config of a fresh file:// lake: %q, storage %q", r.body, r.header.Get("Lake-Storage"))
	}

	objects := filepath.Join(t.TempDir(), "objects")
	cfg := fmt.Sprintf(`{"name":"t","storage":"local","path":%q,"aes_pwd":"hunter2-secret"}`, objects)
	r = ts.do(t, "PUT", "/v1/config", cfg)
	wantStatus(t, r, http.StatusOK, "")
	if strings.Contains(r.body, "hunter2") {
		t.Fatalf("PUT answer shows the secret: %s", r.body)
	}
	r = ts.do(t, "GET", "/v1/config", "")
	wantStatus(t, r, http.StatusOK, "")
	if strings.Contains(r.body, "hunter2") || !strings.Contains(r.body, `"aes_pwd":"***"`) || !strings.Contains(r.body, objects) {
		t.Fatalf("GET /v1/config: %s", r.body)
	}
	if got := r.header.Get("Lake-Storage"); got != "encrypted(local)" {
		t.Fatalf("Lake-Storage %q", got)
	}
	ts.write(t, "c", `{"field":"a","value":"x"}`)
	if r := ts.do(t, "GET", "/v1/catalogs/c", ""); r.body != `{"a":"x"}`+"\n" {
		t.Fatalf("read on the new config: %q", r.body)
	}

	for name, body := range map[string]string{
		"unknown field":   `{"storage":"local","path":"/tmp/x","colour":"red"}`,
		"unknown storage": `{"storage":"floppy"}`,
		"local sans path": `{"storage":"local"}`,
		"not JSON":        `storage=local`,
		"redacted secret": fmt.Sprintf(`{"storage":"local","path":%q,"aes_pwd":"***"}`, objects),
	} {
		t.Run(name, func(t *testing.T) {
			wantStatus(t, ts.do(t, "PUT", "/v1/config", body), http.StatusBadRequest, "invalid_config")
		})
	}

	// A storage that fails the probe: its directory would be under a file.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// (The lake has data: moving it needs force=1; see TestStorageChange.)
	r = ts.do(t, "PUT", "/v1/config?force=1", fmt.Sprintf(`{"storage":"local","path":%q}`, filepath.Join(file, "objects")))
	wantStatus(t, r, http.StatusServiceUnavailable, "storage_unavailable")

	// The refused configs left the stored one in place.
	r = ts.do(t, "GET", "/v1/config", "")
	if !strings.Contains(r.body, objects) || !strings.Contains(r.body, `"name":"t"`) {
		t.Fatalf("config after refused updates: %s", r.body)
	}
}

func TestHealthz(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	r := ts.do(t, "GET", "/healthz", "")
	wantStatus(t, r, http.StatusOK, "")
	var health struct {
		Status, Storage string
		LakeID          string `json:"lake_id"`
		Warnings        []string
	}
	if err := json.Unmarshal([]byte(r.body), &health); err != nil {
		t.Fatal(err)
	}
	id, err := ts.client.LakeID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if health.Status != "ok" || health.Storage != "local" || health.LakeID != id || id == "" {
		t.Fatalf("healthz %q, want status ok, storage local, lake_id %q", r.body, id)
	}
	// A file:// lake has no meta-store settings to warn about: no
	// "warnings" member at all.
	if strings.Contains(r.body, "warnings") {
		t.Fatalf("healthz of a file:// lake has warnings: %s", r.body)
	}
	ts.client.Close()
	r = ts.do(t, "GET", "/healthz", "")
	wantStatus(t, r, http.StatusServiceUnavailable, "closed")
	if !strings.Contains(r.body, `"status":"unavailable"`) {
		t.Fatalf("healthz %q", r.body)
	}

	// A broken object store: the answer still names the storage.
	dir := t.TempDir()
	broken := newTestServerOn(t, "file://"+dir, dir, server.Options{})
	wantStatus(t, broken.do(t, "PUT", "/v1/config", fmt.Sprintf(`{"storage":"local","path":%q}`, filepath.Join(dir, "objects2"))), http.StatusOK, "")
	if err := os.RemoveAll(filepath.Join(dir, "objects2")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "objects2"), []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = broken.do(t, "GET", "/healthz", "")
	wantStatus(t, r, http.StatusServiceUnavailable, "storage_unavailable")
	if !strings.Contains(r.body, `"storage":"local"`) || !strings.Contains(r.body, `"status":"unavailable"`) {
		t.Fatalf("unhealthy healthz does not name the storage: %s", r.body)
	}
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", ""), http.StatusServiceUnavailable, "closed")
}

// TestRedisLake runs the API on a Redis meta store (a throwaway
// redis-server), through an outage of it.
func TestRedisLake(t *testing.T) {
	redis := redistest.StartServer(t)
	ts := newTestServerOn(t, redis.URL, "", server.Options{})
	objects := filepath.Join(t.TempDir(), "objects")
	wantStatus(t, ts.do(t, "PUT", "/v1/config", fmt.Sprintf(`{"storage":"local","path":%q}`, objects)), http.StatusOK, "")

	// The throwaway Redis keeps nothing on disk: healthz warns about it.
	r := ts.do(t, "GET", "/healthz", "")
	wantStatus(t, r, http.StatusOK, "")
	var health struct {
		Storage, LakeID string
		Warnings        []string
	}
	if err := json.Unmarshal([]byte(r.body), &health); err != nil || health.Storage != "local" || len(health.Warnings) == 0 {
		t.Fatalf("healthz on a Redis without persistence: %s (%v)", r.body, err)
	}

	v := ts.write(t, "users", `{"field":"profile.name","value":"Ada"}`)
	r = ts.do(t, "GET", "/v1/catalogs/users", "")
	wantStatus(t, r, http.StatusOK, "")
	if r.body != `{"profile":{"name":"Ada"}}`+"\n" || r.header.Get("ETag") != fmt.Sprintf(`"%d"`, v) {
		t.Fatalf("read: %q ETag %q", r.body, r.header.Get("ETag"))
	}
	r = ts.do(t, "GET", "/v1/catalogs", "")
	if want := fmt.Sprintf(`{"catalogs":[{"name":"users","version":%d}],"next":""}`+"\n", v); r.body != want {
		t.Fatalf("catalogs %q, want %q", r.body, want)
	}

	redis.Stop()
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/users", ""), http.StatusServiceUnavailable, "meta_unavailable")
	wantStatus(t, ts.do(t, "POST", "/v1/catalogs/users", `{"field":"a","value":1}`), http.StatusServiceUnavailable, "meta_unavailable")
	wantStatus(t, ts.do(t, "GET", "/healthz", ""), http.StatusServiceUnavailable, "meta_unavailable")

	redis.Restart(t)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r := ts.do(t, "GET", "/healthz", ""); r.status == http.StatusOK {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("healthz after the restart: %d %s", r.status, r.body)
		}
	}
	ts.write(t, "users", `{"field":"a","value":1}`)
}

func TestMergeScripts(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	ctx := context.Background()
	counter := `function merge(current, value, ctx) {
		if (current !== undefined && typeof current !== "number") { throw new TypeError("not a number"); }
		return (current || 0) + value;
	}`
	if err := ts.client.PutScript(ctx, "counter", counter); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ts.write(t, "c", `{"field":"hits","value":2,"merge":"script","script":"counter"}`)
	}
	ts.write(t, "c", `{"field":"name","value":"x"}`)
	ts.write(t, "c", `{"field":"name","value":1,"merge":"script","script":"counter"}`) // throws: skipped
	r := ts.do(t, "GET", "/v1/catalogs/c", "")
	wantStatus(t, r, http.StatusOK, "")
	if r.body != `{"hits":6,"name":"x"}`+"\n" || r.header.Get("Lake-Skipped") != "1" {
		t.Fatalf("document %q, Lake-Skipped %q", r.body, r.header.Get("Lake-Skipped"))
	}
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c?strict=1", ""), http.StatusUnprocessableEntity, "script_failed")
}
