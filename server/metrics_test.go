package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hkloudou/lake/v2/server"
)

func TestMetrics(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	ts.write(t, "c", `{"field":"a","value":1}`)
	wantStatus(t, ts.do(t, "GET", "/v1/catalogs/c?snap=1", ""), http.StatusOK, "")
	wantStatus(t, ts.do(t, "POST", "/v1/catalogs/c", `{"field":"a..b","value":1}`), http.StatusBadRequest, "invalid_field")
	wantStatus(t, ts.do(t, "GET", "/nope", ""), http.StatusNotFound, "not_found")

	r := ts.do(t, "GET", "/metrics", "")
	wantStatus(t, r, http.StatusOK, "")
	for _, line := range []string{
		`lake_writes_total 1`,
		`lake_reads_total 1`,
		`lake_snapshots_saved_total 1`,
		`lake_http_requests_total{code="200",route="POST /v1/catalogs/{catalog}"} 1`,
		`lake_http_requests_total{code="200",route="GET /v1/catalogs/{catalog}"} 1`,
		`lake_http_requests_total{code="400",route="POST /v1/catalogs/{catalog}"} 1`,
		`lake_http_requests_total{code="404",route="unmatched"} 1`,
		`lake_http_request_duration_seconds_count{route="POST /v1/catalogs/{catalog}"} 2`,
		`lake_errors_total{code="invalid_field"} 1`,
		`lake_errors_total{code="not_found"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(r.body, line) {
			t.Errorf("metrics lack %q", line)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", r.body)
	}
}

func TestRequestLog(t *testing.T) {
	ts := newTestServer(t, server.Options{})
	ts.write(t, "c", `{"field":"a","value":1}`)
	logs := ts.logs.String()
	for _, want := range []string{"msg=request", "method=POST", `route="POST /v1/catalogs/{catalog}"`, "status=200", "duration="} {
		if !strings.Contains(logs, want) {
			t.Fatalf("request log lacks %q:\n%s", want, logs)
		}
	}
}
