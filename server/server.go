// Package server is the HTTP API of a lake, as an http.Handler:
//
//	POST /v1/catalogs/{catalog}   write one delta: {"field":"a.b","value":...,"merge":"set"} -> {"version":N}
//	                              ("merge":"script","script":"NAME" merges with a registered script)
//	GET  /v1/catalogs/{catalog}   the document (?snap=1 saves a snapshot), ETag "N" and Lake-Version: N
//	GET  /v1/catalogs             {"catalogs":[{"name":..,"version":..}],"next":".."} (?after=NAME&limit=N)
//	GET  /v1/config               the lake's config, secrets redacted ({} when none is stored)
//	PUT  /v1/config               store a new config (validated and probed first)
//	GET  /healthz                 {"status":"ok"}, or 503 when the meta or object store fails
//	GET  /metrics                 Prometheus metrics
//
// Errors are {"error":{"code":"...","message":"..."}}; see Classify and the
// Code* constants.
package server

import (
	"bytes"
	"context"
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
	"github.com/hkloudou/lake/v2/config"
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
}

type server struct {
	client  *lake.Client
	maxBody int64
	log     *slog.Logger
	auth    *auth
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

	s.handle("POST /v1/catalogs/{catalog}", accessWrite, s.write)
	s.handle("GET /v1/catalogs/{catalog}", accessRead, s.read)
	s.handle("GET /v1/catalogs", accessRead, s.catalogs)
	s.handle("GET /v1/config", accessRead, s.getConfig)
	s.handle("PUT /v1/config", accessWrite, s.putConfig)
	s.handle("GET /healthz", accessPublic, s.health)
	s.handle("GET /metrics", accessPublic, func(w http.ResponseWriter, r *http.Request) error {
		s.metrics.handler.ServeHTTP(w, r)
		return nil
	})

	// A known path with another method is 405 with an Allow header; any other
	// path is 404. Both answer in the API's error format (ServeMux's own
	// answers are plain text). A pattern with a method is more specific than
	// the same path without one, so these only catch what the routes above
	// do not.
	for path, allow := range map[string]string{
		"/v1/catalogs/{catalog}": "GET, HEAD, POST",
		"/v1/catalogs":           "GET, HEAD",
		"/v1/config":             "GET, HEAD, PUT",
		"/healthz":               "GET, HEAD",
		"/metrics":               "GET, HEAD",
	} {
		s.handle(path, accessPublic, func(w http.ResponseWriter, r *http.Request) error {
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

// handle registers h at pattern, wrapped with authentication, error
// answers, metrics and the request log. The route label of metrics and logs
// is the pattern.
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
		err := s.auth.check(r, level)
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

// writeBody is the request body of POST /v1/catalogs/{catalog}.
type writeBody struct {
	Field *string         `json:"field"`
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
	if body.Field == nil {
		return fmt.Errorf(`%w: "field" is required (use "" for the whole document)`, lake.ErrInvalidField)
	}
	mergeType := lake.MergeSet
	if body.Merge != "" {
		t, err := lake.ParseMergeType(body.Merge)
		if err != nil {
			return err
		}
		if !Supported(t) {
			return fmt.Errorf("%w %q: not supported by this API (supported: set, insert, replace, delete, patch, jsonpatch, script)",
				lake.ErrUnknownMergeType, body.Merge)
		}
		mergeType = t
	}
	req := lake.WriteRequest{Catalog: catalog, Field: *body.Field, MergeType: mergeType, Script: body.Script}
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
	res, err := s.client.Read(r.Context(), readRequest(r.PathValue("catalog"), snap, strict))
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

// Supported reports whether the API and the lake command take merge type t.
// Merge types the library adds later are refused as unknown until the API
// can carry what they need.
func Supported(t lake.MergeType) bool {
	switch t {
	case lake.MergeSet, lake.MergeInsert, lake.MergeReplace, lake.MergeDelete, lake.MergePatch, lake.MergeJSONPatch, lake.MergeScript:
		return true
	}
	return false
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

type catalogEntry struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
}

type catalogPage struct {
	Catalogs []catalogEntry `json:"catalogs"`
	Next     string         `json:"next"`
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
	page := catalogPage{Catalogs: make([]catalogEntry, 0, min(len(list), limit))}
	for i, c := range list {
		if i == limit {
			page.Next = list[limit-1].Name
			break
		}
		page.Catalogs = append(page.Catalogs, catalogEntry{Name: c.Name, Version: c.Version})
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *server) getConfig(w http.ResponseWriter, r *http.Request) error {
	cfg, err := s.client.GetConfig(r.Context())
	if err != nil {
		return storedConfigError(err)
	}
	if kind, err := s.client.StorageKind(r.Context()); err == nil {
		w.Header().Set("Lake-Storage", kind)
	}
	if cfg == nil {
		writeRaw(w, http.StatusOK, []byte("{}"))
		return nil
	}
	writeJSON(w, http.StatusOK, cfg.Redacted())
	return nil
}

func (s *server) putConfig(w http.ResponseWriter, r *http.Request) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		return s.bodyError(err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return err
	}
	if err := s.client.UpdateConfig(r.Context(), cfg); err != nil {
		return err
	}
	if kind, err := s.client.StorageKind(r.Context()); err == nil {
		w.Header().Set("Lake-Storage", kind)
	}
	writeJSON(w, http.StatusOK, cfg.Redacted())
	return nil
}

// ParseConfig is config.Parse that also refuses the redaction marker
// "***" as a secret: it is what GET /v1/config and `lake config get` print,
// and storing it back would replace the real secret (an aes_pwd of "***"
// would even be accepted and encrypt new bodies with it).
func ParseConfig(data []byte) (*config.Config, error) {
	cfg, err := config.Parse(data)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]string{"secret_key": cfg.SecretKey, "aes_pwd": cfg.AESPwd} {
		if v == "***" {
			return nil, fmt.Errorf(`%w: %s is "***", the marker of a redacted secret: give the real value`,
				lake.ErrInvalidConfig, name)
		}
	}
	return cfg, nil
}

type healthBody struct {
	Status string       `json:"status"`
	Error  *errorDetail `json:"error,omitempty"`
}

func (s *server) health(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if err := s.client.Ping(ctx); err != nil {
		code, _ := Classify(err)
		s.log.Warn("lake: health check failed", "code", code, "error", err)
		writeJSON(w, http.StatusServiceUnavailable, healthBody{
			Status: "unavailable", Error: &errorDetail{Code: code, Message: err.Error()}})
		return nil
	}
	writeJSON(w, http.StatusOK, healthBody{Status: "ok"})
	return nil
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
