package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	lake "github.com/hkloudou/lake/v2"
)

// Error codes of the API. Every error response is
//
//	{"error":{"code":"invalid_field","message":"..."}}
//
// with the HTTP status of its code. The codes are stable; the messages are for
// people and may change.
const (
	CodeInvalidCatalog     = "invalid_catalog"     // 400
	CodeInvalidField       = "invalid_field"       // 400
	CodeInvalidValue       = "invalid_value"       // 400
	CodeUnknownMergeType   = "unknown_merge_type"  // 400
	CodeBodyTooLarge       = "body_too_large"      // 413
	CodeInvalidConfig      = "invalid_config"      // 400 on PUT /v1/config, 500 elsewhere
	CodeUnsupportedStorage = "unsupported_storage" // 400 on PUT /v1/config, 500 elsewhere
	CodeVersionOverflow    = "version_overflow"    // 409
	CodeInvalidScript      = "invalid_script"      // 400
	CodeScriptNotFound     = "script_not_found"    // 404
	CodeScriptFailed       = "script_failed"       // 422 (strict read)
	CodeConflict           = "conflict"            // 422 (strict read)
	CodeMetaUnavailable    = "meta_unavailable"    // 503
	CodeMetaLocked         = "meta_locked"         // 503
	CodeStorageUnavailable = "storage_unavailable" // 503
	CodeClosed             = "closed"              // 503
	CodeTimeout            = "timeout"             // 504
	CodeCanceled           = "canceled"            // 499
	CodeInvalidMetaURL     = "invalid_meta_url"    // 500
	CodeBodyMissing        = "body_missing"        // 500
	CodeDecryptFailed      = "decrypt_failed"      // 500
	CodeCorrupt            = "corrupt"             // 500
	CodeUnauthorized       = "unauthorized"        // 401
	CodeForbidden          = "forbidden"           // 403
	CodeNotFound           = "not_found"           // 404
	CodeMethodNotAllowed   = "method_not_allowed"  // 405
	CodeBadRequest         = "bad_request"         // 400
	CodeInternal           = "internal"            // 500

	CodeNoDurableStorage     = "no_durable_storage"     // 503: writes refused until a durable storage is configured
	CodeStorageChange        = "storage_change"         // 409: PUT /v1/config would move a lake with data (?force=1)
	CodeDocumentTooLarge     = "document_too_large"     // 422: the folded document is over the lake's limit
	CodeDeltaNotFound        = "delta_not_found"        // 404: DELETE of a delta version the log does not hold
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: a body that is not Content-Type: application/json
	CodeForbiddenOrigin      = "forbidden_origin"       // 403: a browser Origin that is neither this server nor allowed
	CodeMisdirectedHost      = "misdirected_host"       // 421: a token-less server asked for a non-loopback Host
	CodeInvalidVersion       = "invalid_version"        // 400: a version or time (at, before, after) that is malformed, out of range or in the future
	CodeHistoryExpired       = "history_expired"        // 410: a version older than the lake keeps; the error has "floor"
	CodeNotArchived          = "not_archived"           // 500: compaction met a log entry it cannot archive (POST /v1/check repairs)
)

// statusClientClosedRequest is the status logged (never seen by the client)
// when the client went away before the answer was ready.
const statusClientClosedRequest = 499

// errorTable maps the library's typed errors to codes: the first row whose
// error errors.Is matches wins, and an error that matches no row is
// "internal". Rows marked input are about the caller's request; they match
// only errors lake.IsInputError accepts, which is where the rule "stored
// data that cannot be used is not the caller's input" lives (a corrupt
// delta's error also wraps the merge error, ErrInvalidValue..., that found
// it).
var errorTable = []struct {
	err    error
	code   string
	status int
	input  bool
}{
	// Stored data that cannot be used. Retrying does not help, so they are
	// 500s, not 502/503: a missing body (memory storage of another process,
	// a deleted object) is data loss or a misconfiguration to fix, not an
	// upstream that is briefly down. A compaction's failure names what it
	// could not archive first: the body error it wraps says why.
	{err: lake.ErrNotArchived, code: CodeNotArchived, status: http.StatusInternalServerError},
	{err: lake.ErrBodyMissing, code: CodeBodyMissing, status: http.StatusInternalServerError},
	{err: lake.ErrDecrypt, code: CodeDecryptFailed, status: http.StatusInternalServerError},
	{err: lake.ErrCorrupt, code: CodeCorrupt, status: http.StatusInternalServerError},
	// A document too large to fold is the stored data's size, not the
	// request's: before ErrBodyTooLarge (413), which is about a request.
	{err: lake.ErrDocumentTooLarge, code: CodeDocumentTooLarge, status: http.StatusUnprocessableEntity},

	// A strict read that met a delta it cannot apply.
	{err: lake.ErrScriptFailed, code: CodeScriptFailed, status: http.StatusUnprocessableEntity},
	{err: lake.ErrDeltaConflict, code: CodeConflict, status: http.StatusUnprocessableEntity},

	// The lake refuses the request as it is set up now: nothing was
	// written. Before the input rows, since either may come with a config
	// error attached.
	{err: lake.ErrNoDurableStorage, code: CodeNoDurableStorage, status: http.StatusServiceUnavailable},
	{err: lake.ErrStorageChange, code: CodeStorageChange, status: http.StatusConflict},
	{err: lake.ErrDeltaNotFound, code: CodeDeltaNotFound, status: http.StatusNotFound},

	// Input errors: nothing was written.
	{err: lake.ErrInvalidScript, code: CodeInvalidScript, status: http.StatusBadRequest, input: true},
	{err: lake.ErrScriptNotFound, code: CodeScriptNotFound, status: http.StatusNotFound, input: true},
	{err: lake.ErrInvalidCatalog, code: CodeInvalidCatalog, status: http.StatusBadRequest, input: true},
	{err: lake.ErrInvalidField, code: CodeInvalidField, status: http.StatusBadRequest, input: true},
	{err: lake.ErrInvalidValue, code: CodeInvalidValue, status: http.StatusBadRequest, input: true},
	{err: lake.ErrUnknownMergeType, code: CodeUnknownMergeType, status: http.StatusBadRequest, input: true},
	{err: lake.ErrBodyTooLarge, code: CodeBodyTooLarge, status: http.StatusRequestEntityTooLarge, input: true},
	{err: lake.ErrInvalidConfig, code: CodeInvalidConfig, status: http.StatusBadRequest, input: true},
	{err: lake.ErrUnsupportedStorage, code: CodeUnsupportedStorage, status: http.StatusBadRequest, input: true},
	{err: lake.ErrInvalidVersion, code: CodeInvalidVersion, status: http.StatusBadRequest, input: true},
	{err: lake.ErrHistoryExpired, code: CodeHistoryExpired, status: http.StatusGone, input: true},
	{err: lake.ErrVersionOverflow, code: CodeVersionOverflow, status: http.StatusConflict},

	// Stores that are down or busy: worth a retry later.
	{err: lake.ErrMetaLocked, code: CodeMetaLocked, status: http.StatusServiceUnavailable},
	{err: lake.ErrMetaUnavailable, code: CodeMetaUnavailable, status: http.StatusServiceUnavailable},
	{err: lake.ErrStorageUnavailable, code: CodeStorageUnavailable, status: http.StatusServiceUnavailable},
	{err: lake.ErrClosed, code: CodeClosed, status: http.StatusServiceUnavailable},
	{err: context.DeadlineExceeded, code: CodeTimeout, status: http.StatusGatewayTimeout},
	{err: context.Canceled, code: CodeCanceled, status: statusClientClosedRequest},

	// The server was started with a meta URL that cannot work.
	{err: lake.ErrInvalidMetaURL, code: CodeInvalidMetaURL, status: http.StatusInternalServerError},
}

// apiError is an error the server itself raises (bad request body, auth,
// routing), already classified.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func newError(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

// Classify returns the API error code and HTTP status for err, as the
// server answers it.
func Classify(err error) (code string, status int) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code, ae.status
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return CodeBodyTooLarge, http.StatusRequestEntityTooLarge
	}
	input := lake.IsInputError(err)
	for _, row := range errorTable {
		if (!row.input || input) && errors.Is(err, row.err) {
			return row.code, row.status
		}
	}
	return CodeInternal, http.StatusInternalServerError
}

// storedConfigError turns the 400 of a config error into a 500 outside PUT
// /v1/config: there the config at fault is the one stored in the lake, not
// anything in the request.
func storedConfigError(err error) error {
	code, _ := Classify(err)
	if code == CodeInvalidConfig || code == CodeUnsupportedStorage {
		return &apiError{status: http.StatusInternalServerError, code: code,
			message: err.Error() + " (the lake's stored config is at fault: fix it with PUT /v1/config)"}
	}
	return err
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Floor is the oldest version readable now, on history_expired.
	Floor int64 `json:"floor,omitempty"`
}

// hints are appended to the message of an error with that code: what the
// caller can do about it over this API.
var hints = map[string]string{
	CodeNoDurableStorage: "over this API: PUT /v1/config with a durable storage " +
		`({"storage":"local","path":...}, or "s3" or "oss"), or start the server with --storage memory ` +
		"to accept bodies that live only in its memory",
	CodeNotArchived: `over this API: POST /v1/check with {"catalog":NAME,"repair":true} removes the entry, ` +
		"then compact again",
}

// message returns the message the server answers for err: its text, and
// for some codes a hint of what to do.
func message(err error) string {
	code, _ := Classify(err)
	if hint, ok := hints[code]; ok {
		return err.Error() + " (" + hint + ")"
	}
	return err.Error()
}

// writeError answers err as JSON and returns its code and status.
func writeError(w http.ResponseWriter, err error) (string, int) {
	code, status := Classify(err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lake"`)
	}
	detail := errorDetail{Code: code, Message: message(err)}
	var expired *lake.HistoryExpiredError
	if errors.As(err, &expired) {
		detail.Floor = expired.Floor
	}
	writeJSON(w, status, errorBody{Error: detail})
	return code, status
}

// writeJSON answers v as one line of JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(errorBody{Error: errorDetail{Code: CodeInternal, Message: err.Error()}})
	}
	writeRaw(w, status, data)
}

// writeRaw answers data, which is JSON text, with a newline after it.
func writeRaw(w http.ResponseWriter, status int, data []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(data)
	_, _ = w.Write([]byte{'\n'})
}
