package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	lake "github.com/hkloudou/lake/v2"
)

// A catalog's past and its upkeep:
//
//	GET    /v1/catalogs/{catalog}?at=V|TIME   the document as it was at version V or at an RFC 3339
//	                                          time (see pastRead): the read's answer, Lake-Version
//	                                          the version served
//	GET    /v1/catalogs/{catalog}/history     {"changes":[...],"next":N}, newest first
//	                                          (?field=PATH&before=V&after=V&limit=N)
//	POST   /v1/catalogs/{catalog}/compact     archive the log to segments and trim it -> the lake.CompactResult
//	DELETE /v1/catalogs/{catalog}             {"catalog":..,"deleted":D}
//
// A version older than the lake keeps is 410 history_expired, whose error
// carries "floor", the oldest version readable now.

// pastRead points req at the past that the query parameter at names: a
// version (a positive integer) or an RFC 3339 time, fractional seconds
// allowed (lake.ParseAt). An empty at leaves req a read of the present.
func pastRead(req *lake.ReadRequest, at string) error {
	if at == "" {
		return nil
	}
	if req.GenerateSnap {
		return newError(http.StatusBadRequest, CodeBadRequest, "snap=1 saves the current document: it cannot go with at")
	}
	// A '+' of a UTC offset that was not percent-encoded arrives as a
	// space, which RFC 3339 never holds.
	v, t, err := lake.ParseAt(strings.ReplaceAll(at, " ", "+"))
	if err != nil {
		return fmt.Errorf("%w: at=%q is neither a version (1 to 2^53-1) nor an RFC 3339 time (2026-12-01T10:00:00Z, 2026-12-01T10:00:00.5%%2B02:00)",
			lake.ErrInvalidVersion, at)
	}
	req.AtVersion, req.AtTime = v, t
	return nil
}

// versionParam parses the query parameter name, a version bound: 0 when
// absent.
func versionParam(v, name string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s=%q is not a version (a whole number, 0 or more)", lake.ErrInvalidVersion, name, v)
	}
	return n, nil
}

func (s *server) history(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req := lake.HistoryRequest{Catalog: r.PathValue("catalog"), Field: q.Get("field")}
	var err error
	if req.Before, err = versionParam(q.Get("before"), "before"); err != nil {
		return err
	}
	if req.After, err = versionParam(q.Get("after"), "after"); err != nil {
		return err
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return newError(http.StatusBadRequest, CodeBadRequest,
				fmt.Sprintf("limit %q is not a positive integer (at most %d are returned)", v, lake.MaxHistoryLimit))
		}
		req.Limit = n // the library caps it at lake.MaxHistoryLimit
	}
	res, err := s.client.History(r.Context(), req)
	if err != nil {
		return storedConfigError(err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// deletedCatalog is the answer of DELETE /v1/catalogs/{catalog}: Deleted is
// the deletion version, 0 when the catalog did not exist.
type deletedCatalog struct {
	Catalog string `json:"catalog"`
	Deleted int64  `json:"deleted"`
}

func (s *server) deleteCatalog(w http.ResponseWriter, r *http.Request) error {
	catalog := r.PathValue("catalog")
	d, err := s.client.DeleteCatalog(r.Context(), catalog)
	if err != nil {
		return storedConfigError(err)
	}
	writeJSON(w, http.StatusOK, deletedCatalog{Catalog: catalog, Deleted: d})
	return nil
}

func (s *server) compact(w http.ResponseWriter, r *http.Request) error {
	if err := s.emptyBody(w, r); err != nil {
		return err
	}
	res, err := s.client.Compact(r.Context(), r.PathValue("catalog"))
	if err != nil {
		return storedConfigError(err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// emptyBody refuses a request body other than none or {}: a route that
// takes no options yet.
func (s *server) emptyBody(w http.ResponseWriter, r *http.Request) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		return s.bodyError(err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil
	}
	if data[0] != '{' {
		return newError(http.StatusBadRequest, CodeBadRequest, "request body: want none or {}")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&struct{}{}); err != nil {
		return newError(http.StatusBadRequest, CodeBadRequest, "request body: want none or {}: "+err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newError(http.StatusBadRequest, CodeBadRequest, "request body: data after the JSON object")
	}
	return nil
}
