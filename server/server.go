// Package server is the HTTP API of a lake, as an http.Handler:
//
//	POST   /v1/catalogs/{catalog}   write one delta: {"field":"a.b","value":...,"merge":"set"} -> {"version":N}
//	                                ("merge":"script","script":"NAME" merges with a registered script)
//	GET    /v1/catalogs/{catalog}   the document (?snap=1 saves a snapshot, ?strict=1 fails instead of
//	                                skipping deltas, ?at=VERSION or ?at=RFC3339-TIME reads the past),
//	                                ETag "N" and Lake-Version: N, the version served
//	GET    /v1/catalogs/{catalog}/history
//	                                {"changes":[{"version":..,"time":..,"field":..,"merge":..,"value":..}],
//	                                "next":N}, newest first (?field=PATH&before=V&after=V&limit=N)
//	POST   /v1/catalogs/{catalog}/compact
//	                                archive the log to segments and trim it -> {"catalog":..,"snapshot":..,
//	                                "archived":..,"segments":..,"entries":..,"trimmed":..,"removed":..}
//	DELETE /v1/catalogs/{catalog}   delete the catalog -> {"catalog":..,"deleted":D}
//	GET    /v1/catalogs             {"catalogs":[{"name":..,"version":..}],"next":".."} (?after=NAME&limit=N)
//	DELETE /v1/catalogs/{catalog}/deltas/{version}
//	                                remove one log entry (a repair) -> the removed entry
//	POST   /v1/check                {"catalog":"NAME"} or {"all":true}, "repair":true removes unusable
//	                                entries -> the check report
//	GET    /v1/scripts              {"scripts":[{"name":..,"hash":..}]}
//	GET    /v1/scripts/{name}       {"name":..,"hash":..,"source":..}
//	PUT    /v1/scripts/{name}       {"source":".."} -> {"name":..,"hash":..}
//	DELETE /v1/scripts/{name}       unregister a merge script (204)
//	GET    /v1/config               the lake's config, secrets redacted ({} when none is stored)
//	PUT    /v1/config               store a new config (validated and probed first; ?force=1 moves a
//	                                lake that has data to another store)
//	GET    /healthz                 {"status":"ok","storage":..,"lake_id":..,"warnings":[..]}, or 503
//	GET    /metrics                 Prometheus metrics
//
// GET routes take a read-only or a read-write token, the others a
// read-write one; /healthz, /metrics and OPTIONS take none (see
// Options). Bodies must be Content-Type: application/json. A browser page
// may call the API only from the server's own origin or an
// Options.AllowedOrigins one (which gets CORS answers), and a server
// without tokens answers only loopback Host names (see guard.go).
//
// Errors are {"error":{"code":"...","message":"..."}} (history_expired adds
// "floor", the oldest version readable now); see Classify and the Code*
// constants. The files: server.go (routes, the document routes),
// guard.go (Host, Origin, CORS, Content-Type), auth.go (tokens),
// errors.go, config.go, scripts.go, check.go (repairs), history.go (the
// past, compaction, deletion), health.go,
// metrics.go. Raw JSON text is checked by internal/jsontext, which the
// library shares.
package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/internal/jsontext"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 2 << 20 // 2 MiB per request body
	DefaultListLimit    = 100     // catalogs per page
	MaxListLimit        = 1000    // largest page of catalogs
	healthTimeout       = 5 * time.Second
)

// Options configure New. The zero value serves without authentication.
type Options struct {
	// ReadWriteTokens may call every route. ReadOnlyTokens may call the GET
	// routes. When both are empty, no token is asked for. /healthz and
	// /metrics never ask for one.
	ReadWriteTokens []string
	ReadOnlyTokens  []string
	// MaxBodyBytes bounds a request body; a larger one is answered 413
	// body_too_large. Default 2 MiB.
	MaxBodyBytes int64
	// Logger gets one Info line per request (method, route, status,
	// duration) and the errors behind 5xx answers. Default slog.Default().
	Logger *slog.Logger
	// Registry receives the server's metrics. Default: a new registry with
	// the Go and process collectors, served at /metrics.
	Registry prometheus.Registerer
	// Gatherer is what /metrics serves. Default: Registry when it is also a
	// Gatherer (as *prometheus.Registry is), else prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// AllowedOrigins are the browser origins (scheme://host[:port], as in
	// an Origin header) besides the server's own that may call the API;
	// they get CORS answers. A request with any other Origin is 403
	// forbidden_origin. `lake serve --cors-origin`.
	AllowedOrigins []string
	// AllowedHosts are the Host names (host, or host:port for one port)
	// that a server without any token answers besides localhost,
	// 127.0.0.0/8 and [::1]; any other Host is 421 misdirected_host, which
	// defeats DNS rebinding. With tokens, the Host is not checked.
	// `lake serve --allow-host`.
	AllowedHosts []string
}

type server struct {
	client  *lake.Client
	maxBody int64
	log     *slog.Logger
	auth    *auth
	guard   *guard
	metrics *metrics
	mux     *http.ServeMux
}

// New returns the HTTP API of client. The caller keeps ownership of client
// (close it after the http.Server has shut down).
func New(client *lake.Client, opts Options) http.Handler {
	s := &server{
		client:  client,
		maxBody: opts.MaxBodyBytes,
		log:     opts.Logger,
		auth:    newAuth(opts.ReadWriteTokens, opts.ReadOnlyTokens),
		metrics: newMetrics(opts.Registry, opts.Gatherer),
		mux:     http.NewServeMux(),
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	var bad []string
	s.guard, bad = newGuard(opts.AllowedHosts, opts.AllowedOrigins, !s.auth.enabled())
	for _, b := range bad {
		s.log.Warn("lake: ignored: " + b)
	}

	s.handle("POST /v1/catalogs/{catalog}", accessWrite, s.write)
	s.handle("GET /v1/catalogs/{catalog}", accessRead, s.read)
	s.handle("DELETE /v1/catalogs/{catalog}", accessWrite, s.deleteCatalog)
	s.handle("GET /v1/catalogs/{catalog}/history", accessRead, s.history)
	s.handle("POST /v1/catalogs/{catalog}/compact", accessWrite, s.compact)
	s.handle("GET /v1/catalogs", accessRead, s.catalogs)
	s.handle("GET /v1/config", accessRead, s.getConfig)
	s.handle("PUT /v1/config", accessWrite, s.putConfig)
	s.handle("GET /v1/scripts", accessRead, s.scripts)
	s.handle("GET /v1/scripts/{name}", accessRead, s.getScript)
	s.handle("PUT /v1/scripts/{name}", accessWrite, s.putScript)
	s.handle("DELETE /v1/scripts/{name}", accessWrite, s.deleteScript)
	s.handle("POST /v1/check", accessWrite, s.check)
	s.handle("DELETE /v1/catalogs/{catalog}/deltas/{version}", accessWrite, s.removeDelta)
	s.handle("GET /healthz", accessPublic, s.health)
	s.handle("GET /metrics", accessPublic, func(w http.ResponseWriter, r *http.Request) error {
		s.metrics.handler.ServeHTTP(w, r)
		return nil
	})

	// OPTIONS answers 204 with Allow (and a CORS preflight of an allowed
	// origin). A known path with another method is 405 with an Allow
	// header; any other path is 404. Both answer in the API's error format
	// (ServeMux's own answers are plain text). A pattern with a method is
	// more specific than the same path without one, so these only catch what
	// the routes above do not.
	for path, allow := range map[string]string{
		"/v1/catalogs/{catalog}":                  "GET, HEAD, POST, DELETE",
		"/v1/catalogs/{catalog}/history":          "GET, HEAD",
		"/v1/catalogs/{catalog}/compact":          "POST",
		"/v1/catalogs/{catalog}/deltas/{version}": "DELETE",
		"/v1/catalogs":                            "GET, HEAD",
		"/v1/config":                              "GET, HEAD, PUT",
		"/v1/scripts":                             "GET, HEAD",
		"/v1/scripts/{name}":                      "GET, HEAD, PUT, DELETE",
		"/v1/check":                               "POST",
		"/healthz":                                "GET, HEAD",
		"/metrics":                                "GET, HEAD",
	} {
		s.handle("OPTIONS "+path, accessPublic, preflight(allow))
		s.handle(path, accessPublic, func(w http.ResponseWriter, r *http.Request) error {
			allow := allow + ", OPTIONS"
			w.Header().Set("Allow", allow)
			return newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
				fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
		})
	}
	s.handle("/", accessPublic, func(w http.ResponseWriter, r *http.Request) error {
		return newError(http.StatusNotFound, CodeNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	return s.mux
}

// handle registers h at pattern, wrapped with the guard (Host, Origin,
// CORS), authentication, the Content-Type check of routes that change
// something, error answers, metrics and the request log. The route label of
// metrics and logs is the pattern.
func (s *server) handle(pattern string, level access, h func(http.ResponseWriter, *http.Request) error) {
	route := pattern
	if route == "/" {
		route = "unmatched"
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		var errCode string
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("lake: handler panic", "route", route, "panic", v)
				if !rec.wrote {
					errCode, _ = writeError(rec, newError(http.StatusInternalServerError, CodeInternal, "internal error"))
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			s.metrics.observe(route, status, elapsed, errCode)
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("route", route),
				slog.Int("status", status), slog.Duration("duration", elapsed))
		}()
		err := s.guard.check(rec, r)
		if err == nil {
			err = s.auth.check(r, level)
		}
		if err == nil && level == accessWrite {
			err = requireJSON(r)
		}
		if err == nil {
			err = h(rec, r)
		}
		if err != nil {
			var status int
			errCode, status = writeError(rec, err)
			if status >= 500 && status != statusClientClosedRequest {
				s.log.Error("lake: request failed", "method", r.Method, "route", route,
					"status", status, "code", errCode, "error", err)
			}
		}
	})
}

// recorder remembers the status a handler answered with.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// writeBody is the request body of POST /v1/catalogs/{catalog}. Field and
// Value stay raw JSON text, so that text that is not valid UTF-8 is refused
// rather than decoded to U+FFFD (see internal/jsontext).
type writeBody struct {
	Field json.RawMessage `json:"field"`
	Value json.RawMessage `json:"value"`
	Merge string          `json:"merge"`
	// Script names the registered merge script of a "merge":"script" write.
	Script string `json:"script"`
}

func (s *server) write(w http.ResponseWriter, r *http.Request) error {
	catalog := r.PathValue("catalog")
	var body writeBody
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	field, err := rawString(body.Field, "field", lake.ErrInvalidField, `(use "" for the whole document)`)
	if err != nil {
		return err
	}
	if body.Value != nil && !jsontext.Valid(body.Value) {
		return fmt.Errorf(`%w: "value" is not valid UTF-8 (or holds a \u escape of half a character)`, lake.ErrInvalidValue)
	}
	mergeType := lake.MergeSet
	if body.Merge != "" {
		t, err := lake.ParseMergeType(body.Merge)
		if err != nil {
			return err
		}
		mergeType = t
	}
	req := lake.WriteRequest{Catalog: catalog, Field: field, MergeType: mergeType, Script: body.Script}
	if body.Value != nil {
		req.Value = lake.JSON(body.Value)
	} else if mergeType != lake.MergeDelete {
		return fmt.Errorf(`%w: "value" is required for merge %q`, lake.ErrInvalidValue, mergeType)
	}
	version, err := s.client.WriteVersion(r.Context(), req)
	if err != nil {
		return storedConfigError(err)
	}
	s.metrics.writes.Inc()
	w.Header().Set("Lake-Version", strconv.FormatInt(version, 10))
	writeJSON(w, http.StatusOK, map[string]int64{"version": version})
	return nil
}

func (s *server) read(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	snap, err := boolParam(q.Get("snap"), "snap")
	if err != nil {
		return err
	}
	strict, err := boolParam(q.Get("strict"), "strict")
	if err != nil {
		return err
	}
	req := readRequest(r.PathValue("catalog"), snap, strict)
	if err := pastRead(&req, q.Get("at")); err != nil {
		return err
	}
	res, err := s.client.Read(r.Context(), req)
	if err != nil {
		return storedConfigError(err)
	}
	s.metrics.reads.Inc()
	if res.Snapshot.Saved {
		s.metrics.snapshots.Inc()
	}
	version := strconv.FormatInt(res.Version, 10)
	etag := `"` + version + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Lake-Version", version)
	h.Set("Cache-Control", "no-cache")
	if n := len(res.Skipped); n > 0 {
		h.Set("Lake-Skipped", strconv.Itoa(n))
	}
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	writeRaw(w, http.StatusOK, res.Data)
	return nil
}

// etagMatch reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 asks for If-None-Match) or is "*".
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, candidate := range strings.Split(header, ",") {
		candidate = strings.TrimSpace(candidate)
		if candidate == "*" || strings.TrimPrefix(candidate, "W/") == etag {
			return true
		}
	}
	return false
}

type catalogPage struct {
	Catalogs []lake.CatalogInfo `json:"catalogs"`
	Next     string             `json:"next"`
}

func (s *server) catalogs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := DefaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return newError(http.StatusBadRequest, CodeBadRequest,
				fmt.Sprintf("limit %q is not a positive integer", v))
		}
		limit = min(n, MaxListLimit)
	}
	// One more than the page tells whether there is a next page.
	list, err := s.client.Catalogs(r.Context(), q.Get("after"), limit+1)
	if err != nil {
		return storedConfigError(err)
	}
	page := catalogPage{Catalogs: make([]lake.CatalogInfo, 0, min(len(list), limit))}
	for i, c := range list {
		if i == limit {
			page.Next = list[limit-1].Name
			break
		}
		page.Catalogs = append(page.Catalogs, c)
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// rawString decodes raw, the JSON text of the request member name, as a
// string. Missing, null, not a string, or text that is not valid UTF-8 is
// an error wrapping kind; hint follows the "is required" message.
func rawString(raw json.RawMessage, name string, kind error, hint string) (string, error) {
	if raw == nil || string(raw) == "null" {
		if hint != "" {
			hint = " " + hint
		}
		return "", fmt.Errorf(`%w: %q is required%s`, kind, name, hint)
	}
	if !jsontext.Valid(raw) {
		return "", fmt.Errorf(`%w: %q is not valid UTF-8 (or holds a \u escape of half a character)`, kind, name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf(`%w: %q is not a JSON string`, kind, name)
	}
	return s, nil
}

// decodeBody reads one JSON object into v, refusing unknown fields, trailing
// data and bodies over MaxBodyBytes.
func (s *server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		return s.bodyError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return newError(http.StatusBadRequest, CodeBadRequest, "request body: "+err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newError(http.StatusBadRequest, CodeBadRequest, "request body: data after the JSON object")
	}
	return nil
}

func (s *server) bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return newError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit))
	}
	return newError(http.StatusBadRequest, CodeBadRequest, "request body: "+err.Error())
}

func boolParam(v, name string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, newError(http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("query parameter %s=%q is not a boolean (use 1 or 0)", name, v))
	}
	return b, nil
}
