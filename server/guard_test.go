package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hkloudou/lake/v2/server"
)

// changeRoutes are the routes that change something and take a body, with a
// body each would accept.
var changeRoutes = []struct{ method, path, body string }{
	{"POST", "/v1/catalogs/c", `{"field":"a","value":1}`},
	{"PUT", "/v1/config", `{"storage":"memory"}`},
	{"PUT", "/v1/scripts/s", `{"source":"function merge(c, v) { return v; }"}`},
	{"POST", "/v1/check", `{"all":true,"repair":true}`},
}

// wantUntouched fails unless the lake still has no document c, no config and
// no script: the refused requests changed nothing.
func wantUntouched(t *testing.T, ts *testServer) {
	t.Helper()
	for path, want := range map[string]string{
		"/v1/catalogs/c": "{}\n",
		"/v1/config":     "{}\n",
		"/v1/scripts":    `{"scripts":[]}` + "\n",
	} {
		if r := ts.do(t, "GET", path, ""); r.status != http.StatusOK || r.body != want {
			t.Fatalf("GET %s after refused requests: %d %q, want %q", path, r.status, r.body, want)
		}
	}
}

func TestBodyMustBeJSON(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	for _, rt := range changeRoutes {
		for _, ct := range []string{
			"", // none at all
			"text/plain",
			"text/plain; charset=utf-8",
			"application/x-www-form-urlencoded",
			"multipart/form-data; boundary=x",
			"application/jsonp",
			"text/json",
			"application/json; charset=iso-8859-1",
			"application/json; charset", // does not parse
		} {
			// A cross-site form or fetch without a preflight sends one of
			// the first kinds, from any origin the server allows (here: its
			// own).
			r := ts.do(t, rt.method, rt.path, rt.body, "Content-Type", ct, "Origin", ts.URL)
			wantStatus(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
			if !strings.Contains(r.body, "application/json") {
				t.Fatalf("415 does not say what to send: %s", r.body)
			}
		}
	}
	wantUntouched(t, ts)

	// Parameters and case do not matter.
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"} {
		ts.write(t, "c", `{"field":"a","value":1}`, "Content-Type", ct)
	}
	// A DELETE without a body needs no Content-Type; with a body it does.
	wantStatus(t, ts.do(t, "DELETE", "/v1/scripts/nope", ""), http.StatusNotFound, "script_not_found")
	wantStatus(t, ts.do(t, "DELETE", "/v1/scripts/nope", "x", "Content-Type", "text/plain"),
		http.StatusUnsupportedMediaType, "unsupported_media_type")
	// Reads take none.
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", ""), http.StatusOK, "")
}

func TestForeignOriginRefused(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	ts.write(t, "secret", `{"field":"a","value":"the document"}`)
	u, _ := url.Parse(ts.URL)
	for _, origin := range []string{
		"http://evil.example",
		"null",                         // a sandboxed frame or a file
		"https://" + u.Host,            // another scheme
		"http://localhost:" + u.Port(), // another host name for the same server
		"http://127.0.0.1:1",           // another port
		"http://" + u.Host + ".evil.example",
		"http://" + u.Host + "/path", // not an origin
	} {
		for _, rt := range changeRoutes {
			r := ts.do(t, rt.method, rt.path, rt.body, "Origin", origin)
			wantStatus(t, r, http.StatusForbidden, "forbidden_origin")
			if r.header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("refused origin %q got CORS headers: %v", origin, r.header)
			}
		}
		for _, path := range []string{"/v1/catalogs/secret", "/v1/catalogs", "/v1/config", "/v1/scripts", "/healthz", "/metrics"} {
			r := ts.do(t, "GET", path, "", "Origin", origin)
			wantStatus(t, r, http.StatusForbidden, "forbidden_origin")
			if strings.Contains(r.body, "the document") {
				t.Fatalf("origin %q read the document: %s", origin, r.body)
			}
		}
		// Its preflight is refused too.
		r := ts.do(t, "OPTIONS", "/v1/catalogs/c", "", "Origin", origin, "Access-Control-Request-Method", "POST")
		wantStatus(t, r, http.StatusForbidden, "forbidden_origin")
	}
	if r := ts.do(t, "GET", "/v1/catalogs/c", ""); r.body != "{}\n" {
		t.Fatalf("refused writes wrote: %q", r.body)
	}
	if r := ts.do(t, "GET", "/v1/config", ""); r.body != "{}\n" {
		t.Fatalf("refused config stored: %q", r.body)
	}

	// The server's own origin (a page it served) may call it, without CORS
	// headers, with or without the default port spelled out.
	for _, origin := range []string{ts.URL, strings.ToUpper(ts.URL)} {
		r := ts.do(t, "GET", "/v1/catalogs/secret", "", "Origin", origin)
		wantStatus(t, r, http.StatusOK, "")
		if r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("same-origin answer has CORS headers: %v", r.header)
		}
		ts.write(t, "c", `{"field":"a","value":1}`, "Origin", origin)
	}
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", "", "Host", "localhost", "Origin", "http://localhost:80"), http.StatusOK, "")
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", "", "Host", "localhost:80", "Origin", "http://localhost"), http.StatusOK, "")
}

func TestAllowedOriginCORS(t *testing.T) {
	ts := newTestServer(t, server.Options{
		ReadWriteTokens: []string{"rw"},
		AllowedOrigins:  []string{"HTTPS://App.Example:443/", "http://localhost:3000"},
	})
	auth := "Bearer rw"
	for _, origin := range []string{"https://app.example", "http://localhost:3000"} {
		v := ts.write(t, "c", `{"field":"a","value":1}`, "Origin", origin, "Authorization", auth)
		r := ts.do(t, "GET", "/v1/catalogs/c", "", "Origin", origin, "Authorization", auth)
		wantStatus(t, r, http.StatusOK, "")
		if got := r.header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Fatalf("Access-Control-Allow-Origin %q, want %q", got, origin)
		}
		if !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
			t.Fatalf("no Vary: Origin: %v", r.header)
		}
		expose := r.header.Get("Access-Control-Expose-Headers")
		for _, h := range []string{"ETag", "Lake-Version", "Lake-Skipped"} {
			if !strings.Contains(expose, h) {
				t.Fatalf("Access-Control-Expose-Headers %q lacks %s", expose, h)
			}
		}
		if r.header.Get("Lake-Version") == "" || v <= 0 {
			t.Fatalf("read answer: %v", r.header)
		}
		// Errors are readable by the page too.
		r = ts.do(t, "GET", "/v1/catalogs/c", "", "Origin", origin)
		wantStatus(t, r, http.StatusUnauthorized, "unauthorized")
		if r.header.Get("Access-Control-Allow-Origin") != origin {
			t.Fatalf("401 to an allowed origin without CORS headers: %v", r.header)
		}

		// The preflight needs no token, and allows what the API takes.
		r = ts.do(t, "OPTIONS", "/v1/catalogs/c", "", "Origin", origin,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type")
		wantStatus(t, r, http.StatusNoContent, "")
		if r.header.Get("Access-Control-Allow-Origin") != origin {
			t.Fatalf("preflight Access-Control-Allow-Origin %q", r.header.Get("Access-Control-Allow-Origin"))
		}
		if m := r.header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") || !strings.Contains(m, "GET") {
			t.Fatalf("Access-Control-Allow-Methods %q", m)
		}
		allowed := r.header.Get("Access-Control-Allow-Headers")
		for _, h := range []string{"Authorization", "Content-Type", "If-None-Match", "If-Match"} {
			if !strings.Contains(allowed, h) {
				t.Fatalf("Access-Control-Allow-Headers %q lacks %s", allowed, h)
			}
		}
		if r.header.Get("Access-Control-Max-Age") == "" {
			t.Fatal("preflight without Access-Control-Max-Age")
		}
		r = ts.do(t, "OPTIONS", "/v1/scripts/s", "", "Origin", origin, "Access-Control-Request-Method", "DELETE")
		wantStatus(t, r, http.StatusNoContent, "")
		if m := r.header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "DELETE") || !strings.Contains(m, "PUT") {
			t.Fatalf("Access-Control-Allow-Methods of /v1/scripts/{name}: %q", m)
		}
	}
	// Another origin stays refused, preflight or not.
	wantStatus(t, ts.do(t, "OPTIONS", "/v1/catalogs/c", "", "Origin", "https://evil.example",
		"Access-Control-Request-Method", "POST"), http.StatusForbidden, "forbidden_origin")
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", "", "Origin", "http://app.example", "Authorization", auth),
		http.StatusForbidden, "forbidden_origin")
	// A plain OPTIONS says what the path allows.
	r := ts.do(t, "OPTIONS", "/v1/config", "")
	wantStatus(t, r, http.StatusNoContent, "")
	if a := r.header.Get("Allow"); !strings.Contains(a, "PUT") || r.header.Get("Access-Control-Allow-Methods") != "" {
		t.Fatalf("OPTIONS without Origin: %v", r.header)
	}
}

func TestMisdirectedHost(t *testing.T) {
	ts := newTestServer(t, server.Options{AllowedHosts: []string{"lake.internal", "Other.Internal:8080"}})
	u, _ := url.Parse(ts.URL)
	port := u.Port()
	for _, host := range []string{
		"evil.example", "evil.example:" + port, "127.0.0.1.evil.example", "localhost.evil.example:" + port,
		"192.168.1.10:" + port, "[::2]:" + port, "other.internal:" + port, "other.internal",
	} {
		// A DNS-rebound page sends its own name, and its own origin.
		for _, rt := range changeRoutes {
			r := ts.do(t, rt.method, rt.path, rt.body, "Host", host, "Origin", "http://"+host)
			wantStatus(t, r, http.StatusMisdirectedRequest, "misdirected_host")
			if !strings.Contains(r.body, "--allow-host") || !strings.Contains(r.body, "token") {
				t.Fatalf("421 does not say what to do: %s", r.body)
			}
		}
		for _, path := range []string{"/v1/catalogs/c", "/v1/config", "/healthz", "/metrics"} {
			wantStatus(t, ts.do(t, "GET", path, "", "Host", host), http.StatusMisdirectedRequest, "misdirected_host")
		}
	}
	wantUntouched(t, ts)

	for _, host := range []string{
		"localhost", "localhost:" + port, "LOCALHOST:" + port, "127.0.0.1", "127.0.0.1:" + port, "127.1.2.3:" + port,
		"[::1]", "[::1]:" + port, "lake.internal", "lake.internal:" + port, "other.internal:8080",
	} {
		wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", "", "Host", host), http.StatusOK, "")
		ts.write(t, "c", `{"field":"a","value":1}`, "Host", host, "Origin", "http://"+host)
	}
}

func TestTokensSkipHostCheck(t *testing.T) {
	ts := newTestServer(t, server.Options{ReadWriteTokens: []string{"rw"}})
	// The page of a rebound name cannot send the token: the Host does not
	// matter.
	ts.write(t, "c", `{"field":"a","value":1}`, "Host", "lake.example.com", "Authorization", "Bearer rw")
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", "", "Host", "lake.example.com", "Authorization", "Bearer rw"), http.StatusOK, "")
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c", "", "Host", "lake.example.com"), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, ts.do(t, "GET", "/healthz", "", "Host", "lake.example.com"), http.StatusOK, "")
}
