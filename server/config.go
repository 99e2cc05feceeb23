package server

import (
	"bytes"
	"fmt"
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
	cfg, err := ParseConfig(data)
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

// ParseConfig is config.Parse that also refuses
//   - text that is not valid UTF-8, or holds a \u escape of half a
//     character: decoding would quietly turn it into U+FFFD, so a path,
//     bucket or password would not be the one sent;
//   - null, and a config that names no storage ({}): there is nothing to
//     store;
//   - the redaction marker "***" as a secret: it is what GET /v1/config and
//     `lake config get` print, and storing it back would replace the real
//     secret (an aes_pwd of "***" would even be accepted and encrypt new
//     bodies with it).
func ParseConfig(data []byte) (*config.Config, error) {
	if !validJSONText(data) {
		return nil, fmt.Errorf(`%w: the config is not valid UTF-8 (or holds a \u escape of half a character)`,
			lake.ErrInvalidConfig)
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil, fmt.Errorf(`%w: the config is null: give a JSON object that names a storage`, lake.ErrInvalidConfig)
	}
	cfg, err := config.Parse(data)
	if err != nil {
		return nil, err
	}
	if cfg == nil || cfg.Storage == "" {
		return nil, fmt.Errorf(`%w: the config names no storage (want "local", "s3", "oss", or "memory")`,
			lake.ErrInvalidConfig)
	}
	for name, v := range map[string]string{"secret_key": cfg.SecretKey, "aes_pwd": cfg.AESPwd} {
		if v == "***" {
			return nil, fmt.Errorf(`%w: %s is "***", the marker of a redacted secret: give the real value`,
				lake.ErrInvalidConfig, name)
		}
	}
	return cfg, nil
}
