package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hkloudou/lake/v2/server"
)

const counterSource = `function merge(current, value, ctx) { return (current || 0) + value; }`

func scriptBody(t *testing.T, source string) string {
	t.Helper()
	data, err := json.Marshal(map[string]string{"source": source})
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestScriptsOverHTTP(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	if r := ts.do(t, "GET", "/v1/scripts", ""); r.status != http.StatusOK || r.body != `{"scripts":[]}`+"\n" {
		t.Fatalf("no scripts: %d %q", r.status, r.body)
	}

	r := ts.do(t, "PUT", "/v1/scripts/counter", scriptBody(t, counterSource))
	wantStatus(t, r, http.StatusOK, "")
	want := `{"name":"counter","hash":"` + sha256Hex(counterSource) + `"}` + "\n"
	if r.body != want {
		t.Fatalf("PUT answer %q, want %q", r.body, want)
	}
	const maxSource = `function merge(current, value) { return current === undefined || value > current ? value : current; }`
	wantStatus(t, ts.do(t, "PUT", "/v1/scripts/max", scriptBody(t, maxSource)), http.StatusOK, "")
	wantStatus(t, ts.do(t, "PUT", "/v1/scripts/adder", scriptBody(t, counterSource)), http.StatusOK, "")

	r = ts.do(t, "GET", "/v1/scripts/counter", "")
	wantStatus(t, r, http.StatusOK, "")
	var got struct{ Name, Hash, Source string }
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "counter" || got.Hash != sha256Hex(counterSource) || got.Source != counterSource {
		t.Fatalf("GET script: %+v", got)
	}

	r = ts.do(t, "GET", "/v1/scripts", "")
	wantStatus(t, r, http.StatusOK, "")
	want = `{"scripts":[{"name":"adder","hash":"` + sha256Hex(counterSource) + `"},` +
		`{"name":"counter","hash":"` + sha256Hex(counterSource) + `"},` +
		`{"name":"max","hash":"` + sha256Hex(maxSource) + `"}]}` + "\n"
	if r.body != want {
		t.Fatalf("list %q, want %q", r.body, want)
	}

	// A write merges with the registered script.
	ts.write(t, "c", `{"field":"n","value":2,"merge":"script","script":"counter"}`)
	ts.write(t, "c", `{"field":"n","value":3,"merge":"script","script":"counter"}`)
	if r := ts.do(t, "GET", "/v1/catalogs/c", ""); r.body != `{"n":5}`+"\n" {
		t.Fatalf("document %q", r.body)
	}

	// A new version replaces it for later writes.
	const doubler = `function merge(current, value) { return (current || 0) + 2 * value; }`
	r = ts.do(t, "PUT", "/v1/scripts/counter", scriptBody(t, doubler))
	if !strings.Contains(r.body, sha256Hex(doubler)) {
		t.Fatalf("PUT of a new version: %s", r.body)
	}

	r = ts.do(t, "DELETE", "/v1/scripts/counter", "")
	wantStatus(t, r, http.StatusNoContent, "")
	if r.body != "" {
		t.Fatalf("204 with a body %q", r.body)
	}
	wantStatus(t, ts.do(t, "GET", "/v1/scripts/counter", ""), http.StatusNotFound, "script_not_found")
	wantStatus(t, ts.do(t, "DELETE", "/v1/scripts/counter", ""), http.StatusNotFound, "script_not_found")
	wantStatus(t, ts.do(t, "POST", "/v1/catalogs/c", `{"field":"n","value":1,"merge":"script","script":"counter"}`),
		http.StatusNotFound, "script_not_found")
	if r := ts.do(t, "GET", "/v1/scripts", ""); strings.Contains(r.body, `"counter"`) {
		t.Fatalf("deleted script still listed: %s", r.body)
	}
}

func TestScriptErrors(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"syntax error", "PUT", "/v1/scripts/s", scriptBody(t, "function merge(current, value {"), 400, "invalid_script"},
		{"no merge function", "PUT", "/v1/scripts/s", scriptBody(t, "function other() { return 1; }"), 400, "invalid_script"},
		{"empty source", "PUT", "/v1/scripts/s", scriptBody(t, ""), 400, "invalid_script"},
		{"missing source", "PUT", "/v1/scripts/s", `{}`, 400, "invalid_script"},
		{"null source", "PUT", "/v1/scripts/s", `{"source":null}`, 400, "invalid_script"},
		{"source not a string", "PUT", "/v1/scripts/s", `{"source":42}`, 400, "invalid_script"},
		{"invalid name", "PUT", "/v1/scripts/no%20spaces", scriptBody(t, counterSource), 400, "invalid_script"},
		{"unknown request field", "PUT", "/v1/scripts/s", `{"source":"x","sauce":1}`, 400, "bad_request"},
		{"unknown script", "GET", "/v1/scripts/nope", "", 404, "script_not_found"},
		{"unknown script delete", "DELETE", "/v1/scripts/nope", "", 404, "script_not_found"},
		{"POST a script", "POST", "/v1/scripts/s", scriptBody(t, counterSource), 405, "method_not_allowed"},
		{"PUT the list", "PUT", "/v1/scripts", scriptBody(t, counterSource), 405, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, tc.method, tc.path, tc.body)
			wantStatus(t, r, tc.status, tc.code)
			if tc.status == 405 && r.header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
	if r := ts.do(t, "GET", "/v1/scripts", ""); r.body != `{"scripts":[]}`+"\n" {
		t.Fatalf("refused scripts were registered: %s", r.body)
	}
}

func TestScriptsAuth(t *testing.T) {
	ts := newTestServer(t, server.Options{ReadWriteTokens: []string{"rw"}, ReadOnlyTokens: []string{"ro"}})
	rw := []string{"Authorization", "Bearer rw"}
	ro := []string{"Authorization", "Bearer ro"}
	body := scriptBody(t, counterSource)

	wantStatus(t, ts.do(t, "PUT", "/v1/scripts/s", body), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, ts.do(t, "PUT", "/v1/scripts/s", body, ro...), http.StatusForbidden, "forbidden")
	wantStatus(t, ts.do(t, "PUT", "/v1/scripts/s", body, rw...), http.StatusOK, "")

	wantStatus(t, ts.do(t, "GET", "/v1/scripts", ""), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, ts.do(t, "GET", "/v1/scripts/s", ""), http.StatusUnauthorized, "unauthorized")
	for _, tok := range [][]string{ro, rw} {
		wantStatus(t, ts.do(t, "GET", "/v1/scripts", "", tok...), http.StatusOK, "")
		wantStatus(t, ts.do(t, "GET", "/v1/scripts/s", "", tok...), http.StatusOK, "")
	}

	wantStatus(t, ts.do(t, "DELETE", "/v1/scripts/s", "", ro...), http.StatusForbidden, "forbidden")
	wantStatus(t, ts.do(t, "GET", "/v1/scripts/s", "", ro...), http.StatusOK, "")
	wantStatus(t, ts.do(t, "DELETE", "/v1/scripts/s", "", rw...), http.StatusNoContent, "")
}
