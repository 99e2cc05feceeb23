package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/server"
)

func checkReport(t *testing.T, r response) lake.CheckReport {
	t.Helper()
	wantStatus(t, r, http.StatusOK, "")
	var rep lake.CheckReport
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
		t.Fatalf("check answer %q: %v", r.body, err)
	}
	return rep
}

func TestCheckAndRepair(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	ts.write(t, "fine", `{"field":"a","value":1}`)
	lost := ts.write(t, "gone", `{"field":"lost","value":1}`)
	// Delete the pack of "lost", which holds that delta alone.
	gone := onlyPackOf(t, filepath.Join(ts.dir, "objects"), "", "gone")
	if gone.entries[0].Field != "lost" {
		t.Fatalf("pack of gone: %+v", gone.entries)
	}
	if err := os.Remove(gone.file); err != nil {
		t.Fatal(err)
	}
	kept := ts.write(t, "gone", `{"field":"kept","value":2}`)
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/gone", ""), http.StatusInternalServerError, "body_missing")

	// A clean catalog: no problems, and "problems" is a list, not null.
	r := ts.do(t, "POST", "/v1/check", `{"catalog":"fine"}`)
	if rep := checkReport(t, r); rep.Catalogs != 1 || rep.Deltas != 1 || len(rep.Problems) != 0 {
		t.Fatalf("check of a clean catalog: %s", r.body)
	}
	if !strings.Contains(r.body, `"problems":[]`) {
		t.Fatalf("problems of a clean catalog: %s", r.body)
	}

	// Checking reports and changes nothing.
	rep := checkReport(t, ts.do(t, "POST", "/v1/check", `{"all":true}`))
	if rep.Catalogs != 2 || len(rep.Problems) != 1 {
		t.Fatalf("check all: %+v", rep)
	}
	p := rep.Problems[0]
	if p.Catalog != "gone" || p.Version != lost || p.Kind != lake.ProblemBodyMissing || p.Object != gone.key+" part 1" || p.Removed {
		t.Fatalf("problem: %+v", p)
	}
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/gone", ""), http.StatusInternalServerError, "body_missing")

	// Repair removes the entry; the catalog reads again, without it.
	rep = checkReport(t, ts.do(t, "POST", "/v1/check", `{"catalog":"gone","repair":true}`))
	if len(rep.Problems) != 1 || !rep.Problems[0].Removed {
		t.Fatalf("repair: %+v", rep)
	}
	r = ts.do(t, "GET", "/v1/catalogs/gone", "")
	wantStatus(t, r, http.StatusOK, "")
	if r.body != `{"kept":2}`+"\n" || r.header.Get("Lake-Version") != fmt.Sprint(kept) {
		t.Fatalf("after repair: %q version %s", r.body, r.header.Get("Lake-Version"))
	}
	if rep := checkReport(t, ts.do(t, "POST", "/v1/check", `{"all":true}`)); len(rep.Problems) != 0 {
		t.Fatalf("problems after repair: %+v", rep)
	}
}

func TestCheckRequests(t *testing.T) {
	ts := newTestServer(t, server.Options{ReadWriteTokens: []string{"rw"}, ReadOnlyTokens: []string{"ro"}})
	rw := []string{"Authorization", "Bearer rw"}
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`{}`, 400, "bad_request"},
		{`{"repair":true}`, 400, "bad_request"},
		{`{"all":false}`, 400, "bad_request"},
		{`{"catalog":"c","all":true}`, 400, "bad_request"},
		{`{"catalog":""}`, 400, "bad_request"},
		{`{"catalog":"no spaces"}`, 400, "invalid_catalog"},
		{`{"catalog":"c","fix":true}`, 400, "bad_request"},
		{`null`, 400, "bad_request"},
		{`{"catalog":"c"}`, 200, ""},
		{`{"all":true,"repair":false}`, 200, ""},
	} {
		wantStatus(t, ts.do(t, "POST", "/v1/check", tc.body, rw...), tc.status, tc.code)
	}
	// Repairs need a read-write token.
	wantStatus(t, ts.do(t, "POST", "/v1/check", `{"all":true}`), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, ts.do(t, "POST", "/v1/check", `{"all":true}`, "Authorization", "Bearer ro"), http.StatusForbidden, "forbidden")
	wantStatus(t, ts.do(t, "DELETE", "/v1/catalogs/c/deltas/1", "", "Authorization", "Bearer ro"), http.StatusForbidden, "forbidden")
	r := ts.do(t, "GET", "/v1/check", "", rw...)
	wantStatus(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
	if r.header.Get("Allow") == "" {
		t.Fatal("405 without Allow")
	}
}

func TestRemoveDelta(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	first := ts.write(t, "c", `{"field":"a","value":1}`)
	second := ts.write(t, "c", `{"field":"b.c","value":2,"merge":"patch"}`)

	r := ts.do(t, "DELETE", fmt.Sprintf("/v1/catalogs/c/deltas/%d", first), "")
	wantStatus(t, r, http.StatusOK, "")
	var entry lake.LogEntry
	if err := json.Unmarshal([]byte(r.body), &entry); err != nil {
		t.Fatal(err)
	}
	if entry.Version != first || entry.Field != "a" || entry.Merge != "set" || entry.Object == "" {
		t.Fatalf("removed entry %s", r.body)
	}
	r = ts.do(t, "GET", "/v1/catalogs/c", "")
	if r.body != `{"b":{"c":2}}`+"\n" || r.header.Get("Lake-Version") != fmt.Sprint(second) {
		t.Fatalf("after removal: %q version %s", r.body, r.header.Get("Lake-Version"))
	}

	for _, path := range []string{
		fmt.Sprintf("/v1/catalogs/c/deltas/%d", first), // gone already
		fmt.Sprintf("/v1/catalogs/c/deltas/%d", second+1),
		fmt.Sprintf("/v1/catalogs/other/deltas/%d", second),
	} {
		wantStatus(t, ts.do(t, "DELETE", path, ""), http.StatusNotFound, "delta_not_found")
	}
	wantStatus(t, ts.do(t, "DELETE", "/v1/catalogs/c/deltas/latest", ""), http.StatusBadRequest, "bad_request")
	wantStatus(t, ts.do(t, "DELETE", "/v1/catalogs/c/deltas/0", ""), http.StatusBadRequest, "bad_request")
	wantStatus(t, ts.do(t, "DELETE", "/v1/catalogs/c/deltas/-5", ""), http.StatusBadRequest, "bad_request")
	wantStatus(t, ts.do(t, "DELETE", fmt.Sprintf("/v1/catalogs/no%%20spaces/deltas/%d", second), ""), http.StatusBadRequest, "invalid_catalog")
	r = ts.do(t, "GET", fmt.Sprintf("/v1/catalogs/c/deltas/%d", second), "")
	wantStatus(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
	if r.header.Get("Allow") != "DELETE, OPTIONS" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
	// The refusals left the second delta in place.
	if r := ts.do(t, "GET", "/v1/catalogs/c", ""); r.body != `{"b":{"c":2}}`+"\n" {
		t.Fatalf("document %q", r.body)
	}
}
