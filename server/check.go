package server

import (
	"fmt"
	"net/http"
	"strconv"

	lake "github.com/hkloudou/lake/v2"
)

// Repairs (a read-write token):
//
//	POST   /v1/check                                  {"catalog":"users"} or {"all":true}, "repair":true to
//	                                                  remove unusable entries -> the lake.CheckReport
//	DELETE /v1/catalogs/{catalog}/deltas/{version}    remove one log entry -> the removed lake.LogEntry

// checkBody is the request body of POST /v1/check: Catalog or All, not
// both.
type checkBody struct {
	Catalog string `json:"catalog"`
	All     bool   `json:"all"`
	Repair  bool   `json:"repair"`
}

func (s *server) check(w http.ResponseWriter, r *http.Request) error {
	var body checkBody
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	if body.All == (body.Catalog != "") {
		return newError(http.StatusBadRequest, CodeBadRequest,
			`give either "catalog":"NAME" or "all":true (and "repair":true to remove unusable entries)`)
	}
	opt := lake.CheckOptions{Repair: body.Repair}
	var (
		report *lake.CheckReport
		err    error
	)
	if body.All {
		report, err = s.client.CheckAll(r.Context(), opt)
	} else {
		report, err = s.client.Check(r.Context(), body.Catalog, opt)
	}
	if err != nil {
		return storedConfigError(err)
	}
	if report.Problems == nil {
		report.Problems = []lake.Problem{} // "problems":[], not null
	}
	writeJSON(w, http.StatusOK, report)
	return nil
}

func (s *server) removeDelta(w http.ResponseWriter, r *http.Request) error {
	v := r.PathValue("version")
	version, err := strconv.ParseInt(v, 10, 64)
	if err != nil || version <= 0 {
		return newError(http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("version %q is not a positive integer", v))
	}
	entry, err := s.client.RemoveDelta(r.Context(), r.PathValue("catalog"), version)
	if err != nil {
		return storedConfigError(err)
	}
	writeJSON(w, http.StatusOK, entry)
	return nil
}
