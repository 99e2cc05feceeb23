package server_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/server"
)

func TestStorageChange(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	first := filepath.Join(t.TempDir(), "first")
	second := filepath.Join(t.TempDir(), "second")
	config := func(path string) string { return fmt.Sprintf(`{"storage":"local","path":%q}`, path) }

	wantStatus(t, ts.do(t, "PUT", "/v1/config", config(first)), http.StatusOK, "")
	ts.write(t, "c", `{"field":"a","value":1}`)

	// The lake has data in first: moving it is refused, and says how to
	// force it.
	r := ts.do(t, "PUT", "/v1/config", config(second))
	wantStatus(t, r, http.StatusConflict, "storage_change")
	if !strings.Contains(r.body, "force=1") {
		t.Fatalf("409 does not say how to force: %s", r.body)
	}
	if r := ts.do(t, "GET", "/v1/config", ""); !strings.Contains(r.body, first) {
		t.Fatalf("refused move changed the config: %s", r.body)
	}
	wantStatus(t, ts.do(t, "PUT", "/v1/config?force=maybe", config(second)), http.StatusBadRequest, "bad_request")
	wantStatus(t, ts.do(t, "PUT", "/v1/config?force=0", config(second)), http.StatusConflict, "storage_change")

	// Forced, it moves; the old body is not in the new store.
	wantStatus(t, ts.do(t, "PUT", "/v1/config?force=1", config(second)), http.StatusOK, "")
	if r := ts.do(t, "GET", "/v1/config", ""); !strings.Contains(r.body, second) {
		t.Fatalf("forced move: %s", r.body)
	}
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", ""), http.StatusInternalServerError, "body_missing")
}

func TestConfigWithoutStorage(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	for _, body := range []string{`{}`, `null`, " null\n", `{"name":"no storage"}`, `[]`, `"local"`, `{"storage":""}`} {
		r := ts.do(t, "PUT", "/v1/config", body)
		wantStatus(t, r, http.StatusBadRequest, "invalid_config")
	}
	if r := ts.do(t, "GET", "/v1/config", ""); r.body != "{}\n" {
		t.Fatalf("a refused config was stored: %s", r.body)
	}
}

func TestNoDurableStorage(t *testing.T) {
	dir := t.TempDir()
	// As `lake serve` runs without --storage memory: writes whose bodies
	// would live only in process memory are refused.
	ts := newTestServerOn(t, "file://"+dir, dir, server.Options{}, func(o *lake.Option) { o.RequireDurableStorage = true })
	// A config that names memory storage (storing it is allowed).
	wantStatus(t, ts.do(t, "PUT", "/v1/config", `{"storage":"memory"}`), http.StatusOK, "")
	r := ts.do(t, "POST", "/v1/catalogs/c", `{"field":"a","value":1}`)
	wantStatus(t, r, http.StatusServiceUnavailable, "no_durable_storage")
	for _, hint := range []string{"PUT /v1/config", "--storage memory"} {
		if !strings.Contains(r.body, hint) {
			t.Fatalf("503 does not mention %q: %s", hint, r.body)
		}
	}
	if r := ts.do(t, "GET", "/v1/catalogs/c", ""); r.body != "{}\n" {
		t.Fatalf("refused write wrote: %q", r.body)
	}
	// A durable config lets writes through.
	objects := filepath.Join(t.TempDir(), "objects")
	wantStatus(t, ts.do(t, "PUT", "/v1/config", fmt.Sprintf(`{"storage":"local","path":%q}`, objects)), http.StatusOK, "")
	ts.write(t, "c", `{"field":"a","value":1}`)
}

func TestDocumentTooLarge(t *testing.T) {
	dir := t.TempDir()
	ts := newTestServerOn(t, "file://"+dir, dir, server.Options{}, func(o *lake.Option) { o.MaxDocumentSize = 100 })
	ts.write(t, "c", `{"field":"a","value":"`+strings.Repeat("x", 200)+`"}`)
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", ""), http.StatusUnprocessableEntity, "document_too_large")
	ts.write(t, "small", `{"field":"a","value":1}`)
}
