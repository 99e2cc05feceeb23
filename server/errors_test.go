package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/server"
)

func TestMetaUnavailable(t *testing.T) {
	ts := newTestServerOn(t, "redis://127.0.0.1:1", "", server.Options{})
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", ""), http.StatusServiceUnavailable, "meta_unavailable")
	wantStatus(t, ts.do(t, "POST", "/v1/catalogs/c", `{"field":"a","value":1}`), http.StatusServiceUnavailable, "meta_unavailable")
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs", ""), http.StatusServiceUnavailable, "meta_unavailable")
	wantStatus(t, ts.do(t, "GET", "/healthz", ""), http.StatusServiceUnavailable, "meta_unavailable")
	if !strings.Contains(ts.logs.String(), "meta_unavailable") {
		t.Fatalf("5xx not logged:\n%s", ts.logs)
	}
}

func TestMetaLocked(t *testing.T) {
	dir := t.TempDir()
	owner := lake.NewLake("file://" + dir)
	defer owner.Close()
	if err := owner.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := newTestServerOn(t, "file://"+dir, dir, server.Options{})
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", ""), http.StatusServiceUnavailable, "meta_locked")
}

func TestInvalidMetaURL(t *testing.T) {
	ts := newTestServerOn(t, "gopher://nowhere", "", server.Options{})
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", ""), http.StatusInternalServerError, "invalid_meta_url")
}

// objectFiles returns the delta bodies of catalog under a local object store.
func objectFiles(t *testing.T, root, catalog string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, catalog, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no object of %s under %s: %v", catalog, root, err)
	}
	return files
}

func TestStoredDataErrors(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	objects := filepath.Join(ts.dir, "objects")

	ts.write(t, "gone", `{"field":"a","value":1}`)
	for _, f := range objectFiles(t, objects, "gone") {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/gone", ""), http.StatusInternalServerError, "body_missing")

	ts.write(t, "mangled", `{"field":"a","value":1}`)
	for _, f := range objectFiles(t, objects, "mangled") {
		if err := os.WriteFile(f, []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/mangled", ""), http.StatusInternalServerError, "corrupt")

	encrypted := filepath.Join(t.TempDir(), "enc")
	wantStatus(t, ts.do(t, "PUT", "/v1/config", fmt.Sprintf(`{"storage":"local","path":%q,"aes_pwd":"pw"}`, encrypted)), 200, "")
	ts.write(t, "sealed", `{"field":"a","value":1}`)
	for _, f := range objectFiles(t, encrypted, "sealed") {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)-1] ^= 0xff
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/sealed", ""), http.StatusInternalServerError, "decrypt_failed")
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   string
		status int
	}{
		{lake.ErrInvalidCatalog, "invalid_catalog", 400},
		{lake.ErrInvalidField, "invalid_field", 400},
		{lake.ErrInvalidValue, "invalid_value", 400},
		{lake.ErrUnknownMergeType, "unknown_merge_type", 400},
		{lake.ErrBodyTooLarge, "body_too_large", 413},
		{lake.ErrInvalidConfig, "invalid_config", 400},
		{lake.ErrUnsupportedStorage, "unsupported_storage", 400},
		{lake.ErrVersionOverflow, "version_overflow", 409},
		{lake.ErrInvalidScript, "invalid_script", 400},
		{lake.ErrScriptNotFound, "script_not_found", 404},
		{lake.ErrScriptFailed, "script_failed", 422},
		{lake.ErrMetaUnavailable, "meta_unavailable", 503},
		{lake.ErrMetaLocked, "meta_locked", 503},
		{lake.ErrStorageUnavailable, "storage_unavailable", 503},
		{lake.ErrClosed, "closed", 503},
		{lake.ErrInvalidMetaURL, "invalid_meta_url", 500},
		{lake.ErrBodyMissing, "body_missing", 500},
		{lake.ErrDecrypt, "decrypt_failed", 500},
		{lake.ErrCorrupt, "corrupt", 500},
		{lake.ErrNoDurableStorage, "no_durable_storage", 503},
		{lake.ErrStorageChange, "storage_change", 409},
		{lake.ErrDocumentTooLarge, "document_too_large", 422},
		{lake.ErrDeltaNotFound, "delta_not_found", 404},
		// Stored data first: a read of a corrupt body is not an input error
		// even when the decode error it wraps is one.
		{fmt.Errorf("%w: %w", lake.ErrCorrupt, lake.ErrInvalidValue), "corrupt", 500},
		{fmt.Errorf("%w: %w", lake.ErrDocumentTooLarge, lake.ErrBodyTooLarge), "document_too_large", 422},
		{context.DeadlineExceeded, "timeout", 504},
		{errors.New("something else"), "internal", 500},
	} {
		wrapped := fmt.Errorf("lake: read %q: %w", "c", tc.err)
		code, status := server.Classify(wrapped)
		if code != tc.code || status != tc.status {
			t.Errorf("Classify(%v) = %s %d, want %s %d", tc.err, code, status, tc.code, tc.status)
		}
	}
}
