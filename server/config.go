package server

import (
	"io"
	"net/http"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
)

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

// putConfig stores a new config. ?force=1 lets it move a lake that has data
// to another object store (lake.ForceStorageChange); without it, that is
// 409 storage_change.
func (s *server) putConfig(w http.ResponseWriter, r *http.Request) error {
	force, err := boolParam(r.URL.Query().Get("force"), "force")
	if err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		return s.bodyError(err)
	}
	cfg, err := config.ParseInput(data)
	if err != nil {
		return err
	}
	var opts []lake.UpdateOption
	if force {
		opts = append(opts, lake.ForceStorageChange())
	}
	if err := s.client.UpdateConfig(r.Context(), cfg, opts...); err != nil {
		return err
	}
	if kind, err := s.client.StorageKind(r.Context()); err == nil {
		w.Header().Set("Lake-Storage", kind)
	}
	writeJSON(w, http.StatusOK, cfg.Redacted())
	return nil
}
