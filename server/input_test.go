package server_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/hkloudou/lake/v2/server"
)

// badUTF8 are byte sequences that are not UTF-8: a byte that never starts a
// character, and a lead byte followed by a byte that does not continue it.
var badUTF8 = []string{"\xff", "\xc3\x28"}

// TestInvalidUTF8Refused: encoding/json would decode these bytes (and \u
// escapes of half a character) to U+FFFD; the API refuses them instead, and
// stores nothing.
func TestInvalidUTF8Refused(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	objects := filepath.Join(t.TempDir(), "objects")
	bad := append(append([]string{}, badUTF8...), `\ud800`, `\udc00`, `\ud800\u0041`, `\uDBFF`)
	for _, b := range bad {
		for _, tc := range []struct {
			method, path, body string
			code               string
		}{
			{"POST", "/v1/catalogs/c", `{"field":"a` + b + `","value":1}`, "invalid_field"},
			{"POST", "/v1/catalogs/c", `{"field":"` + b + `","value":1}`, "invalid_field"},
			{"POST", "/v1/catalogs/c", `{"field":"a","value":"x` + b + `"}`, "invalid_value"},
			{"POST", "/v1/catalogs/c", `{"field":"a","value":{"k` + b + `":1}}`, "invalid_value"},
			{"POST", "/v1/catalogs/c", `{"field":"","value":{"a":["` + b + `"]},"merge":"patch"}`, "invalid_value"},
			{"PUT", "/v1/config", `{"storage":"local","path":"` + objects + b + `"}`, "invalid_config"},
			{"PUT", "/v1/config", `{"storage":"local","path":"` + objects + `","name":"` + b + `"}`, "invalid_config"},
			{"PUT", "/v1/scripts/s", `{"source":"function merge(c, v) { return '` + b + `'; }"}`, "invalid_script"},
		} {
			r := ts.do(t, tc.method, tc.path, tc.body)
			if r.status != http.StatusBadRequest || r.errorCode() != tc.code {
				t.Errorf("%s %s %q: %d %s, want 400 %s", tc.method, tc.path, tc.body, r.status, r.body, tc.code)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	wantUntouched(t, ts)

	// Whole characters pass, escaped or not: a surrogate pair, an escaped
	// backslash before "ud800" (text, not an escape), U+FFFD itself.
	ts.write(t, "c", `{"field":"emoji😀","value":"\ud83d\ude00 \\ud800 \ufffd �"}`)
	r := ts.do(t, "GET", "/v1/catalogs/c", "")
	if want := `{"emoji😀":"😀 \\ud800 � �"}` + "\n"; r.body != want {
		t.Fatalf("document %q, want %q", r.body, want)
	}
}
