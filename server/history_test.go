package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/server"
)

// newHistoryServer serves a file:// lake whose client compacts only when
// asked, and trims entries of any age.
func newHistoryServer(t *testing.T, opts server.Options) *testServer {
	t.Helper()
	dir := t.TempDir()
	return newTestServerOn(t, "file://"+dir, dir, opts, func(o *lake.Option) {
		o.Compaction = lake.CompactionPolicy{Interval: -1, MinAge: -1}
	})
}

// rfc3339 is the time of version v as the query parameter at takes it.
func rfc3339(v int64) string {
	return time.UnixMicro(v).UTC().Format(time.RFC3339Nano)
}

// historyError is the error body of a history_expired answer.
type historyError struct {
	Error struct {
		Code, Message string
		Floor         int64
	}
}

func TestReadAtVersionOrTimeServesThePastDocument(t *testing.T) {
	ts := newHistoryServer(t, server.Options{})
	v1 := ts.write(t, "c", `{"field":"a","value":1}`)
	v2 := ts.write(t, "c", `{"field":"a","value":2}`)
	time.Sleep(2 * time.Millisecond) // a gap between v2 and v3 for a time between them
	v3 := ts.write(t, "c", `{"field":"b","value":3}`)

	check := func(query, want string, version int64) {
		t.Helper()
		r := ts.do(t, "GET", "/v1/catalogs/c?"+query, "")
		wantStatus(t, r, http.StatusOK, "")
		if r.body != want+"\n" {
			t.Fatalf("?%s: document %q, want %q", query, r.body, want)
		}
		if got, etag := r.header.Get("Lake-Version"), r.header.Get("ETag"); got != fmt.Sprint(version) || etag != fmt.Sprintf(`"%d"`, version) {
			t.Fatalf("?%s: Lake-Version %q ETag %q, want %d", query, got, etag, version)
		}
	}
	check(fmt.Sprintf("at=%d", v1), `{"a":1}`, v1)
	check(fmt.Sprintf("at=%d", v2), `{"a":2}`, v2)
	check(fmt.Sprintf("at=%d", v2+1), `{"a":2}`, v2) // between two versions: the older one's
	check(fmt.Sprintf("at=%d", v3), `{"a":2,"b":3}`, v3)
	check("at="+url.QueryEscape(rfc3339(v1)), `{"a":1}`, v1)
	check("at="+rfc3339(v2+1), `{"a":2}`, v2)
	// A UTC offset, percent-encoded or with its '+' sent raw (a space).
	plus2 := time.UnixMicro(v1).In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano)
	check("at="+url.QueryEscape(plus2), `{"a":1}`, v1)
	check("at="+plus2, `{"a":1}`, v1)
	check(fmt.Sprintf("at=%d&strict=1", v2), `{"a":2}`, v2)

	// After a compaction the log is trimmed, and the past reads the same
	// from the segments.
	r := ts.do(t, "POST", "/v1/catalogs/c/compact", "", "Content-Type", "application/json")
	wantStatus(t, r, http.StatusOK, "")
	var res lake.CompactResult
	if err := json.Unmarshal([]byte(r.body), &res); err != nil || res.Catalog != "c" || res.Entries != 3 || res.Segments == 0 || res.Trimmed != v3 || res.Removed != 3 {
		t.Fatalf("compact: %s (%v)", r.body, err)
	}
	check(fmt.Sprintf("at=%d", v1), `{"a":1}`, v1)
	check(fmt.Sprintf("at=%d", v2), `{"a":2}`, v2)
	check("", `{"a":2,"b":3}`, v3)

	// A past read answers If-None-Match like the present one.
	r = ts.do(t, "GET", fmt.Sprintf("/v1/catalogs/c?at=%d", v1), "", "If-None-Match", fmt.Sprintf(`"%d"`, v1))
	wantStatus(t, r, http.StatusNotModified, "")
}

func TestHistoryListsChangesNewestFirstInPages(t *testing.T) {
	ts := newHistoryServer(t, server.Options{})
	v1 := ts.write(t, "c", `{"field":"profile.name","value":"Ada"}`)
	v2 := ts.write(t, "c", `{"field":"score","value":1}`)
	v3 := ts.write(t, "c", `{"field":"profile","value":{"age":36},"merge":"patch"}`)
	v4 := ts.write(t, "c", `{"field":"profile.name","merge":"delete"}`)

	type page struct {
		Changes []struct {
			Version int64
			Time    time.Time
			Field   string
			Merge   string
			Value   json.RawMessage
		}
		Next int64
	}
	get := func(query string) page {
		t.Helper()
		r := ts.do(t, "GET", "/v1/catalogs/c/history"+query, "")
		wantStatus(t, r, http.StatusOK, "")
		if !strings.HasPrefix(r.body, `{"changes":[`) || !strings.Contains(r.body, `"next":`) {
			t.Fatalf("history%s: %s", query, r.body)
		}
		var p page
		if err := json.Unmarshal([]byte(r.body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	versions := func(p page) []int64 {
		var out []int64
		for _, c := range p.Changes {
			out = append(out, c.Version)
		}
		return out
	}

	all := get("")
	if fmt.Sprint(versions(all)) != fmt.Sprint([]int64{v4, v3, v2, v1}) || all.Next != 0 {
		t.Fatalf("history: %+v", all)
	}
	first := all.Changes[3]
	if first.Field != "profile.name" || first.Merge != "set" || string(first.Value) != `"Ada"` || !first.Time.Equal(time.UnixMicro(v1)) {
		t.Fatalf("oldest change: %+v", first)
	}
	if del := all.Changes[0]; del.Merge != "delete" || del.Value != nil {
		t.Fatalf("a delete's change: %+v", del)
	}

	// Changes at, under or above the field.
	if p := get("?field=profile.name"); fmt.Sprint(versions(p)) != fmt.Sprint([]int64{v4, v3, v1}) {
		t.Fatalf("history of profile.name: %v", versions(p))
	}
	if p := get("?field=" + url.QueryEscape("/score")); fmt.Sprint(versions(p)) != fmt.Sprint([]int64{v2}) {
		t.Fatalf("history of /score: %v", versions(p))
	}

	// Pages: next is the before of the next page.
	var seen []int64
	query := "?limit=3"
	for range 5 {
		p := get(query)
		seen = append(seen, versions(p)...)
		if p.Next == 0 {
			break
		}
		query = fmt.Sprintf("?limit=3&before=%d", p.Next)
	}
	if fmt.Sprint(seen) != fmt.Sprint([]int64{v4, v3, v2, v1}) {
		t.Fatalf("paged history: %v", seen)
	}
	if p := get(fmt.Sprintf("?after=%d&before=%d", v1, v4)); fmt.Sprint(versions(p)) != fmt.Sprint([]int64{v3, v2}) {
		t.Fatalf("history between v1 and v4: %v", versions(p))
	}
	if p := get("?limit=1000000"); len(p.Changes) != 4 {
		t.Fatalf("a limit over the maximum: %+v", p)
	}
	if r := ts.do(t, "GET", "/v1/catalogs/nobody/history", ""); r.status != 200 || r.body != `{"changes":[],"next":0}`+"\n" {
		t.Fatalf("history of a catalog never written: %d %s", r.status, r.body)
	}
}

func TestDeleteCatalogThenItsPastIsGone(t *testing.T) {
	ts := newHistoryServer(t, server.Options{ReadWriteTokens: []string{"rw"}, ReadOnlyTokens: []string{"ro"}})
	rw := []string{"Authorization", "Bearer rw"}
	ro := []string{"Authorization", "Bearer ro"}
	v := ts.write(t, "c", `{"field":"a","value":1}`, rw...)
	ts.write(t, "kept", `{"field":"a","value":1}`, rw...)

	wantStatus(t, ts.do(t, "DELETE", "/v1/catalogs/c", "", ro...), http.StatusForbidden, "forbidden")
	wantStatus(t, ts.do(t, "DELETE", "/v1/catalogs/c", ""), http.StatusUnauthorized, "unauthorized")
	r := ts.do(t, "DELETE", "/v1/catalogs/c", "", rw...)
	wantStatus(t, r, http.StatusOK, "")
	var deleted struct {
		Catalog string
		Deleted int64
	}
	if err := json.Unmarshal([]byte(r.body), &deleted); err != nil || deleted.Catalog != "c" || deleted.Deleted <= v {
		t.Fatalf("DELETE answer %s (%v), want a deletion version above %d", r.body, err, v)
	}

	r = ts.do(t, "GET", "/v1/catalogs/c", "", ro...)
	if r.status != 200 || r.body != "{}\n" || r.header.Get("Lake-Version") != "0" {
		t.Fatalf("read after the deletion: %d %q version %s", r.status, r.body, r.header.Get("Lake-Version"))
	}
	if r := ts.do(t, "GET", "/v1/catalogs", "", ro...); strings.Contains(r.body, `"name":"c"`) || !strings.Contains(r.body, `"name":"kept"`) {
		t.Fatalf("catalogs after the deletion: %s", r.body)
	}

	// The past before the deletion is gone: 410 with the floor.
	r = ts.do(t, "GET", fmt.Sprintf("/v1/catalogs/c?at=%d", v), "", ro...)
	wantStatus(t, r, http.StatusGone, "history_expired")
	var gone historyError
	if err := json.Unmarshal([]byte(r.body), &gone); err != nil || gone.Error.Floor != deleted.Deleted+1 || !strings.Contains(gone.Error.Message, "deleted") {
		t.Fatalf("410 body %s (%v), want floor %d", r.body, err, deleted.Deleted+1)
	}

	// Deleting it again, or a catalog that never existed, is no error.
	r = ts.do(t, "DELETE", "/v1/catalogs/never", "", rw...)
	if r.status != 200 || r.body != `{"catalog":"never","deleted":0}`+"\n" {
		t.Fatalf("DELETE of a catalog never written: %d %s", r.status, r.body)
	}
	wantStatus(t, ts.do(t, "DELETE", "/v1/catalogs/c", "", rw...), http.StatusOK, "")
	if r := ts.do(t, "GET", "/v1/catalogs/kept", "", ro...); r.body != `{"a":1}`+"\n" {
		t.Fatalf("another catalog after the deletion: %q", r.body)
	}
}

func TestReadBelowRetentionIsGoneWithTheFloor(t *testing.T) {
	ts := newHistoryServer(t, server.Options{})
	objects := filepath.Join(t.TempDir(), "objects")
	wantStatus(t, ts.do(t, "PUT", "/v1/config", fmt.Sprintf(`{"storage":"local","path":%q,"retention":"1h"}`, objects)), http.StatusOK, "")
	v := ts.write(t, "c", `{"field":"a","value":1}`)
	wantStatus(t, ts.do(t, "GET", fmt.Sprintf("/v1/catalogs/c?at=%d", v), ""), http.StatusOK, "")

	before := time.Now().Add(-time.Hour)
	r := ts.do(t, "GET", "/v1/catalogs/c?at=2020-01-01T00:00:00Z", "")
	wantStatus(t, r, http.StatusGone, "history_expired")
	var gone historyError
	if err := json.Unmarshal([]byte(r.body), &gone); err != nil {
		t.Fatal(err)
	}
	if floor := time.UnixMicro(gone.Error.Floor); floor.Before(before) || floor.After(time.Now().Add(-time.Hour)) {
		t.Fatalf("floor %v, want an hour ago: %s", floor, r.body)
	}
}

func TestCompactRoute(t *testing.T) {
	ts := newHistoryServer(t, server.Options{ReadWriteTokens: []string{"rw"}, ReadOnlyTokens: []string{"ro"}})
	rw := []string{"Authorization", "Bearer rw", "Content-Type", "application/json"}
	for i := range 5 {
		ts.write(t, "c", fmt.Sprintf(`{"field":"n","value":%d}`, i), rw...)
	}
	for _, tc := range []struct {
		body   string
		header []string
		status int
		code   string
	}{
		{"", []string{"Authorization", "Bearer ro", "Content-Type", "application/json"}, 403, "forbidden"},
		{"", []string{"Authorization", "Bearer rw"}, 415, "unsupported_media_type"},
		{`{"catalog":"c"}`, rw, 400, "bad_request"},
		{`null`, rw, 400, "bad_request"},
		{`{} {}`, rw, 400, "bad_request"},
		{`{}`, rw, 200, ""},
	} {
		r := ts.do(t, "POST", "/v1/catalogs/c/compact", tc.body, tc.header...)
		if r.status != tc.status || r.errorCode() != tc.code {
			t.Fatalf("POST compact %q with %v: %d %s, want %d %s", tc.body, tc.header[:2], r.status, r.body, tc.status, tc.code)
		}
	}
	// The {} one compacted everything; again, there is nothing to do.
	r := ts.do(t, "POST", "/v1/catalogs/c/compact", "", rw...)
	wantStatus(t, r, http.StatusOK, "")
	var res lake.CompactResult
	if err := json.Unmarshal([]byte(r.body), &res); err != nil || res.Catalog != "c" || res.Segments != 0 || res.Removed != 0 || res.Trimmed == 0 || res.Archived != res.Trimmed {
		t.Fatalf("second compaction: %s (%v)", r.body, err)
	}
	if r := ts.do(t, "GET", "/v1/catalogs/c", "", rw...); r.body != `{"n":4}`+"\n" {
		t.Fatalf("document after compaction: %q", r.body)
	}
}

// TestHistoryRoutesRefuseBadInput: every malformed, out-of-range or
// future parameter is a 4xx with the API's error format, never a 5xx or a
// panic, and nothing is written.
func TestHistoryRoutesRefuseBadInput(t *testing.T) {
	ts := newHistoryServer(t, server.Options{})
	v := ts.write(t, "c", `{"field":"a","value":1}`)
	future := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/catalogs/c?at=garbage", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=-5", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=0", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=00", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=1.5", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=0x10", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=99999999999999999999999", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=9007199254740992", 400, "invalid_version"}, // 2^53
		{"GET", fmt.Sprintf("/v1/catalogs/c?at=%d", future.UnixMicro()), 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=" + url.QueryEscape(future.UTC().Format(time.RFC3339)), 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=9999-12-31T23:59:59Z", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=1969-07-20T20:17:00Z", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=1970-01-01T00:00:00Z", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=2026-13-01T00:00:00Z", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=2026-12-01", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=2026-12-01T10:00:00", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=%FF", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=%00", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c?at=2026-12-01T10:00:00Z%FF", 400, "invalid_version"},
		{"GET", fmt.Sprintf("/v1/catalogs/c?at=%d&snap=1", v), 400, "bad_request"},
		{"GET", "/v1/catalogs/c%FF?at=1", 400, "invalid_catalog"},

		{"GET", "/v1/catalogs/c/history?field=%FF", 400, "invalid_field"},
		{"GET", "/v1/catalogs/c/history?field=a%C3%28", 400, "invalid_field"},
		{"GET", "/v1/catalogs/c/history?field=a%00b", 400, "invalid_field"},
		{"GET", "/v1/catalogs/c/history?field=a..b", 400, "invalid_field"},
		{"GET", "/v1/catalogs/c/history?field=" + strings.Repeat("a.", 5000), 400, "invalid_field"},
		{"GET", "/v1/catalogs/c/history?before=-1", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c/history?after=-1", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c/history?before=abc", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c/history?after=1e5", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c/history?before=%FF", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c/history?before=99999999999999999999999", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c/history?before=9007199254740993", 400, "invalid_version"}, // 2^53+1
		{"GET", "/v1/catalogs/c/history?after=9007199254740992", 400, "invalid_version"},
		{"GET", "/v1/catalogs/c/history?limit=0", 400, "bad_request"},
		{"GET", "/v1/catalogs/c/history?limit=-1", 400, "bad_request"},
		{"GET", "/v1/catalogs/c/history?limit=ten", 400, "bad_request"},
		{"GET", "/v1/catalogs/c/history?limit=99999999999999999999999", 400, "bad_request"},
		{"GET", "/v1/catalogs/c/history?limit=%FF", 400, "bad_request"},
		{"GET", "/v1/catalogs/-c/history", 400, "invalid_catalog"},
		{"GET", "/v1/catalogs/c%FF/history", 400, "invalid_catalog"},

		{"DELETE", "/v1/catalogs/c%FF", 400, "invalid_catalog"},
		{"DELETE", "/v1/catalogs/" + strings.Repeat("x", 200), 400, "invalid_catalog"},
		{"POST", "/v1/catalogs/c%FF/compact", 400, "invalid_catalog"},
		{"POST", "/v1/catalogs/a%20b/compact", 400, "invalid_catalog"},

		{"PUT", "/v1/catalogs/c", 405, "method_not_allowed"},
		{"POST", "/v1/catalogs/c/history", 405, "method_not_allowed"},
		{"DELETE", "/v1/catalogs/c/history", 405, "method_not_allowed"},
		{"GET", "/v1/catalogs/c/compact", 405, "method_not_allowed"},
		{"GET", "/v1/catalogs/c/snapshot", 404, "not_found"},
	} {
		body := ""
		if tc.method == "POST" || tc.method == "PUT" {
			body = "{}"
		}
		r := ts.do(t, tc.method, tc.path, body, "Content-Type", "application/json")
		if r.status != tc.status || r.errorCode() != tc.code {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, r.status, r.body, tc.status, tc.code)
		}
	}
	if strings.Contains(ts.logs.String(), "panic") || strings.Contains(ts.logs.String(), "level=ERROR") {
		t.Errorf("bad input logged an error:\n%s", ts.logs)
	}
	if r := ts.do(t, "GET", "/v1/catalogs/c", ""); r.body != `{"a":1}`+"\n" || r.header.Get("Lake-Version") != fmt.Sprint(v) {
		t.Fatalf("document after the refused requests: %q", r.body)
	}
}

func TestAllowHeadersOfTheHistoryRoutes(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	for path, allow := range map[string]string{
		"/v1/catalogs/c":         "GET, HEAD, POST, DELETE, OPTIONS",
		"/v1/catalogs/c/history": "GET, HEAD, OPTIONS",
		"/v1/catalogs/c/compact": "POST, OPTIONS",
	} {
		r := ts.do(t, "PATCH", path, "{}")
		wantStatus(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
		if got := r.header.Get("Allow"); got != allow {
			t.Errorf("PATCH %s: Allow %q, want %q", path, got, allow)
		}
		r = ts.do(t, "OPTIONS", path, "")
		if r.status != http.StatusNoContent || r.header.Get("Allow") != allow {
			t.Errorf("OPTIONS %s: %d Allow %q, want %q", path, r.status, r.header.Get("Allow"), allow)
		}
	}
}
