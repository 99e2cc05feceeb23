package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// access is what a route needs from the caller.
type access int

const (
	accessPublic access = iota // no token: /healthz, /metrics, unknown routes
	accessRead                 // a read-only or a read-write token
	accessWrite                // a read-write token
)

// auth checks bearer tokens. With no token configured at all, every request
// is allowed (the lake serve command then insists on a loopback address).
type auth struct {
	readWrite [][sha256.Size]byte
	readOnly  [][sha256.Size]byte
}

func newAuth(readWrite, readOnly []string) *auth {
	a := &auth{}
	for _, t := range readWrite {
		if t != "" {
			a.readWrite = append(a.readWrite, sha256.Sum256([]byte(t)))
		}
	}
	for _, t := range readOnly {
		if t != "" {
			a.readOnly = append(a.readOnly, sha256.Sum256([]byte(t)))
		}
	}
	return a
}

func (a *auth) enabled() bool { return len(a.readWrite)+len(a.readOnly) > 0 }

// check returns nil when r may use a route that needs level, else a 401 or
// 403 error.
func (a *auth) check(r *http.Request, level access) error {
	if level == accessPublic || !a.enabled() {
		return nil
	}
	token, ok := bearer(r)
	if !ok {
		return newError(http.StatusUnauthorized, CodeUnauthorized,
			"missing bearer token (send Authorization: Bearer TOKEN)")
	}
	// Tokens are compared as SHA-256 digests, so every comparison takes the
	// same time whatever the lengths, and every configured token is compared
	// so that the time does not tell which list matched.
	sum := sha256.Sum256([]byte(token))
	rw, ro := matchAny(sum, a.readWrite), matchAny(sum, a.readOnly)
	switch {
	case rw:
		return nil
	case ro && level == accessRead:
		return nil
	case ro:
		return newError(http.StatusForbidden, CodeForbidden, "this token is read-only")
	}
	return newError(http.StatusUnauthorized, CodeUnauthorized, "invalid bearer token")
}

func matchAny(sum [sha256.Size]byte, tokens [][sha256.Size]byte) bool {
	match := 0
	for i := range tokens {
		match |= subtle.ConstantTimeCompare(sum[:], tokens[i][:])
	}
	return match == 1
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
