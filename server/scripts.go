package server

import (
	"encoding/json"
	"net/http"

	lake "github.com/hkloudou/lake/v2"
)

// The merge scripts of the lake (see lake.Client.PutScript):
//
//	GET    /v1/scripts          {"scripts":[{"name":..,"hash":..}]}, by name
//	GET    /v1/scripts/{name}   {"name":..,"hash":..,"source":..}
//	PUT    /v1/scripts/{name}   {"source":".."} -> {"name":..,"hash":..}
//	DELETE /v1/scripts/{name}   204

type scriptEntry struct {
	Name string `json:"name"`
	// Hash is the hex SHA-256 of the source: the version a delta written
	// now merges with.
	Hash   string `json:"hash"`
	Source string `json:"source,omitempty"`
}

type scriptList struct {
	Scripts []scriptEntry `json:"scripts"`
}

// scriptBody is the request body of PUT /v1/scripts/{name}. Source stays
// raw JSON text, so that text that is not valid UTF-8 is refused rather
// than decoded to U+FFFD.
type scriptBody struct {
	Source json.RawMessage `json:"source"`
}

func (s *server) scripts(w http.ResponseWriter, r *http.Request) error {
	list, err := s.client.Scripts(r.Context())
	if err != nil {
		return storedConfigError(err)
	}
	out := scriptList{Scripts: make([]scriptEntry, 0, len(list))}
	for _, sc := range list { // sorted by name
		out.Scripts = append(out.Scripts, scriptEntry{Name: sc.Name, Hash: sc.Hash})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) getScript(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.client.GetScript(r.Context(), r.PathValue("name"))
	if err != nil {
		return storedConfigError(err)
	}
	writeJSON(w, http.StatusOK, scriptEntry{Name: sc.Name, Hash: sc.Hash, Source: sc.Source})
	return nil
}

func (s *server) putScript(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var body scriptBody
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	source, err := rawString(body.Source, "source", lake.ErrInvalidScript, "(the script's JavaScript text)")
	if err != nil {
		return err
	}
	if err := s.client.PutScript(r.Context(), name, source); err != nil {
		return storedConfigError(err)
	}
	info, err := s.client.GetScript(r.Context(), name)
	if err != nil {
		return storedConfigError(err)
	}
	// Another PUT of the same name may have landed in between: answer with
	// what the name points at now, as a GET would.
	writeJSON(w, http.StatusOK, scriptEntry{Name: name, Hash: info.Hash})
	return nil
}

// deleteScript unregisters a script; a name that is not registered is 404
// script_not_found.
func (s *server) deleteScript(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := s.client.GetScript(r.Context(), name); err != nil {
		return storedConfigError(err)
	}
	if err := s.client.DeleteScript(r.Context(), name); err != nil {
		return storedConfigError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
