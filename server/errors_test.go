package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/internal/pack"
	"github.com/hkloudou/lake/v2/internal/packtest"
	"github.com/hkloudou/lake/v2/server"
	"github.com/hkloudou/lake/v2/storage"
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

// storedPack is one body pack of a local object store as a test reads it
// back: its key, its file, its entry table and its parts as stored (sealed,
// if the store is encrypted).
type storedPack struct {
	key, file string
	entries   []pack.Entry
	stored    [][]byte
}

// catalogPacks returns the packs under the local object store root that
// hold deltas of catalog, and fails the test if there are none. password,
// if not empty, opens the entry tables of an encrypted store.
func catalogPacks(t *testing.T, root, password, catalog string) []storedPack {
	t.Helper()
	var found []storedPack
	for _, p := range packtest.LocalPacks(t, root, password) {
		for _, e := range p.Entries {
			if e.Catalog == catalog {
				found = append(found, storedPack{key: p.Key, file: p.File, entries: p.Entries, stored: p.Stored})
				break
			}
		}
	}
	if len(found) == 0 {
		t.Fatalf("no pack under %s holds a delta of %s", root, catalog)
	}
	return found
}

// onlyPackOf returns the one pack under root holding deltas of catalog,
// which must hold one delta only: that of catalog.
func onlyPackOf(t *testing.T, root, password, catalog string) storedPack {
	t.Helper()
	packs := catalogPacks(t, root, password, catalog)
	if len(packs) != 1 || len(packs[0].entries) != 1 {
		t.Fatalf("packs of %s: %+v", catalog, packs)
	}
	return packs[0]
}

// rewriteStored stores the pack p again, under root, with part i replaced
// by data, which must be as long as that part (the log holds where each part
// lies): damage that every frame check passes.
func rewriteStored(t *testing.T, root string, p storedPack, i int, data []byte) {
	t.Helper()
	if len(data) != len(p.stored[i]) {
		t.Fatalf("rewriteStored: %d bytes for a part of %d", len(data), len(p.stored[i]))
	}
	local, err := storage.NewLocalStorage(root)
	if err != nil {
		t.Fatal(err)
	}
	parts := slices.Clone(p.stored)
	parts[i] = data
	if _, err := storage.PutParts(context.Background(), local, p.key, parts); err != nil {
		t.Fatal(err)
	}
}

func TestStoredDataErrors(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	objects := filepath.Join(ts.dir, "objects")

	// A pack deleted: its body is missing.
	ts.write(t, "gone", `{"field":"a","value":1}`)
	gone := onlyPackOf(t, objects, "", "gone")
	if err := os.Remove(gone.file); err != nil {
		t.Fatal(err)
	}
	r := ts.do(t, "GET", "/v1/catalogs/gone", "")
	wantStatus(t, r, http.StatusInternalServerError, "body_missing")
	if !strings.Contains(r.body, gone.key+" part 1") {
		t.Fatalf("the error does not name %s part 1: %s", gone.key, r.body)
	}

	// A body that is not JSON, its frame intact: the body "1" becomes "{".
	ts.write(t, "mangled", `{"field":"a","value":1}`)
	mangled := onlyPackOf(t, objects, "", "mangled")
	if string(mangled.stored[1]) != "1" {
		t.Fatalf("body of mangled: %q", mangled.stored[1])
	}
	rewriteStored(t, objects, mangled, 1, []byte("{"))
	r = ts.do(t, "GET", "/v1/catalogs/mangled", "")
	wantStatus(t, r, http.StatusInternalServerError, "corrupt")
	if !strings.Contains(r.body, mangled.key+" part 1") {
		t.Fatalf("the error does not name %s part 1: %s", mangled.key, r.body)
	}

	// A sealed body tampered with, its frame intact: it fails to decrypt.
	encrypted := filepath.Join(t.TempDir(), "enc")
	wantStatus(t, ts.do(t, "PUT", "/v1/config", fmt.Sprintf(`{"storage":"local","path":%q,"aes_pwd":"pw"}`, encrypted)), 200, "")
	ts.write(t, "sealed", `{"field":"a","value":1}`)
	sealed := onlyPackOf(t, encrypted, "pw", "sealed")
	if !bytes.HasPrefix(sealed.stored[1], []byte("LAKE")) {
		t.Fatalf("body of sealed is not sealed: %q", sealed.stored[1])
	}
	tampered := slices.Clone(sealed.stored[1])
	tampered[len(tampered)-1] ^= 0xff
	rewriteStored(t, encrypted, sealed, 1, tampered)
	r = ts.do(t, "GET", "/v1/catalogs/sealed", "")
	wantStatus(t, r, http.StatusInternalServerError, "decrypt_failed")
	if !strings.Contains(r.body, sealed.key+" part 1") {
		t.Fatalf("the error does not name %s part 1: %s", sealed.key, r.body)
	}
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
		{lake.ErrInvalidVersion, "invalid_version", 400},
		{&lake.HistoryExpiredError{Catalog: "c", At: 1, Floor: 2}, "history_expired", 410},
		{lake.ErrNotArchived, "not_archived", 500},
		// A compaction that met a missing body names what it could not do.
		{fmt.Errorf("%w: %w", lake.ErrNotArchived, lake.ErrBodyMissing), "not_archived", 500},
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
