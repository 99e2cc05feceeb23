package server

import (
	"context"
	"net/http"
)

type healthBody struct {
	Status string `json:"status"`
	// Storage is the object store's kind (lake.Client.StorageKind), when
	// known.
	Storage string `json:"storage,omitempty"`
	// LakeID identifies the lake (lake.Client.LakeID), when known.
	LakeID string `json:"lake_id,omitempty"`
	// Warnings are the meta store's risky settings (lake.MetaWarning).
	Warnings []string     `json:"warnings,omitempty"`
	Error    *errorDetail `json:"error,omitempty"`
}

// health answers {"status":"ok","storage":..,"lake_id":..,"warnings":[..]}
// when the meta and object stores work, else 503 with the error (and the
// storage and lake ID, when they are known).
func (s *server) health(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	var body healthBody
	err := s.client.Ping(ctx)
	if kind, kerr := s.client.StorageKind(ctx); kerr == nil {
		body.Storage = kind
	} else if err == nil {
		err = kerr
	}
	if id, ierr := s.client.LakeID(ctx); ierr == nil {
		body.LakeID = id
	} else if err == nil {
		err = ierr
	}
	if err != nil {
		code, _ := Classify(err)
		s.log.Warn("lake: health check failed", "code", code, "error", err)
		body.Status = "unavailable"
		body.Error = &errorDetail{Code: code, Message: message(err)}
		writeJSON(w, http.StatusServiceUnavailable, body)
		return nil
	}
	warnings, err := s.client.MetaWarnings(ctx)
	if err != nil {
		// The lake works; only the check of its settings did not. Say so
		// rather than report a healthy lake as down.
		body.Warnings = append(body.Warnings, "the meta store's settings could not be checked: "+err.Error())
	}
	for _, mw := range warnings {
		body.Warnings = append(body.Warnings, mw.String())
	}
	body.Status = "ok"
	writeJSON(w, http.StatusOK, body)
	return nil
}
