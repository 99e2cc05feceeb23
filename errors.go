package lake

import (
	"context"
	"errors"
	"fmt"

	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/merge"
	"github.com/hkloudou/lake/v2/storage"
)

// Errors that callers branch on with errors.Is. Every error a Client returns
// wraps at most one of the input errors (nothing was written) or one of the
// store errors; the message adds what was being done, and starts with the
// one "lake: " prefix (the sentinels carry none of their own).
var (
	// ErrInvalidCatalog: the catalog name is empty, too long or has a
	// character outside [A-Za-z0-9_.:@=-] (see ValidateCatalog).
	ErrInvalidCatalog = errors.New("invalid catalog name")
	// ErrInvalidField: the field path does not parse.
	ErrInvalidField = merge.ErrInvalidPath
	// ErrInvalidValue: the value is not valid JSON, cannot be marshaled, or
	// does not suit the merge type (a JSON patch that is not a list of
	// operations, a non-object for the whole document).
	ErrInvalidValue = merge.ErrInvalidValue
	// ErrUnknownMergeType: the merge type is not one of the Merge* constants.
	ErrUnknownMergeType = merge.ErrUnknownType
	// ErrBodyTooLarge: the encoded value is larger than Option.MaxBodySize.
	ErrBodyTooLarge = errors.New("body too large")

	// ErrMetaUnavailable: the meta store (Redis) could not be reached or did
	// not answer in time.
	ErrMetaUnavailable = index.ErrUnavailable
	// ErrInvalidMetaURL: the URL given to NewLake does not parse or names an
	// unknown engine.
	ErrInvalidMetaURL = index.ErrInvalidURL
	// ErrMetaLocked: a file:// meta store is open in another process.
	ErrMetaLocked = index.ErrLocked
	// ErrVersionOverflow: a catalog's next version would not fit below 2^53.
	ErrVersionOverflow = index.ErrVersionOverflow
	// ErrStorageUnavailable: the object store failed to store or return a
	// body for a reason other than "not found".
	ErrStorageUnavailable = errors.New("object store unavailable")
	// ErrBodyMissing: a committed delta's body is not in the object store
	// (memory storage of another process, or a deleted object). The error
	// names the catalog, version, field and object key.
	ErrBodyMissing = errors.New("body missing for a committed delta")
	// ErrCorrupt: a stored entry or body cannot be decoded. It is the index
	// package's ErrCorrupt too, so a corrupt log entry and a corrupt body
	// are the same error to callers.
	ErrCorrupt = index.ErrCorrupt
	// ErrDecrypt: an encrypted body cannot be opened (wrong AESPwd or a
	// tampered object).
	ErrDecrypt = storage.ErrDecrypt

	// ErrInvalidConfig: a config (given to UpdateConfig, or stored at
	// "lake.setting") fails validation.
	ErrInvalidConfig = config.ErrInvalid
	// ErrUnsupportedStorage: the config names a storage kind this version
	// cannot open.
	ErrUnsupportedStorage = storage.ErrUnsupported
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("client is closed")

	// ErrNoDurableStorage: a write to a lake whose bodies would live only
	// in this process's memory, refused because Option.RequireDurableStorage
	// is set. Store a config that names a durable object store (UpdateConfig,
	// `lake config set`, PUT /v1/config).
	ErrNoDurableStorage = errors.New("no durable object store configured")
	// ErrStorageChange: UpdateConfig would move a lake that already has
	// data to another object store (another kind, endpoint, bucket, path or
	// encryption password). The existing bodies stay in the old store, so
	// reads of them would fail; ForceStorageChange does it anyway.
	ErrStorageChange = errors.New("the lake already has data in another object store")
	// ErrDocumentTooLarge: a read would fold a document larger than
	// Option.MaxDocumentSize.
	ErrDocumentTooLarge = errors.New("document too large")
	// ErrInvalidScript: PutScript was given a script that does not compile or
	// does not define function merge, or a name outside [A-Za-z0-9_.-]{1,64};
	// or a write names a script without MergeScript.
	ErrInvalidScript = merge.ErrInvalidScript
	// ErrScriptNotFound: a write or GetScript names a script that is not
	// registered.
	ErrScriptNotFound = errors.New("merge script not registered")
	// ErrScriptFailed: a merge script threw, ran past its time limit or
	// returned something that is not JSON. A read skips such a delta and
	// reports it in ReadResult.Skipped; with ReadRequest.Strict it fails.
	ErrScriptFailed = merge.ErrScriptFailed
	// ErrDeltaConflict: a delta does not apply to the document (a path
	// through a scalar or a missing array index, a failing JSON patch): a
	// read skips it and lists it in ReadResult.Skipped; with
	// ReadRequest.Strict it fails with this error.
	ErrDeltaConflict = merge.ErrConflict

	// ErrDeltaNotFound: RemoveDelta found no log entry at that version.
	ErrDeltaNotFound = errors.New("no log entry at that version")

	// ErrHistoryExpired: a read of the past asked for a version older than
	// the lake keeps (config retention), or older than the catalog's last
	// deletion. The error is a *HistoryExpiredError naming the floor.
	ErrHistoryExpired = errors.New("history expired")
	// ErrInvalidVersion: a read of the past asked for a negative version,
	// or for a version or time in the future, or set both AtVersion and
	// AtTime.
	ErrInvalidVersion = errors.New("invalid version")
	// ErrNotArchived: compaction could not archive a log entry (its body is
	// missing or corrupt): the log is archived and trimmed up to it, and
	// `lake check --repair` removes the entry.
	ErrNotArchived = errors.New("log entry cannot be archived")
)

// HistoryExpiredError is the error of a read below the oldest version the
// lake keeps. It matches ErrHistoryExpired.
type HistoryExpiredError struct {
	Catalog string
	// At is the version asked for; Floor the oldest version readable now.
	At, Floor int64
	// Reason says where the floor comes from: the retention period or the
	// catalog's deletion.
	Reason string
}

func (e *HistoryExpiredError) Error() string {
	return fmt.Sprintf("%v: catalog %q at version %d: the oldest version kept is %d (%s)", ErrHistoryExpired, e.Catalog, e.At, e.Floor, e.Reason)
}

func (e *HistoryExpiredError) Unwrap() error { return ErrHistoryExpired }

// storedDataErrors are about data the lake holds. They come first when an
// error is classified: a corrupt delta's error also wraps the input error
// (ErrInvalidValue ...) its merge found, and it is not the caller's input.
var storedDataErrors = []error{ErrBodyMissing, ErrDecrypt, ErrCorrupt, ErrScriptFailed, ErrDeltaConflict, ErrDocumentTooLarge}

// inputErrors are about what the caller asked for: nothing was written.
var inputErrors = []error{
	ErrInvalidCatalog, ErrInvalidField, ErrInvalidValue, ErrUnknownMergeType, ErrBodyTooLarge,
	ErrInvalidConfig, ErrUnsupportedStorage, ErrInvalidMetaURL, ErrInvalidScript, ErrScriptNotFound,
	ErrInvalidVersion, ErrHistoryExpired,
}

// IsInputError reports whether err is about the caller's input (an invalid
// catalog, field, value, merge type, config, script or meta URL; a value
// too large): nothing was written, and the same request fails the same way.
// An error about stored data is not, even when it wraps an input error.
func IsInputError(err error) bool {
	if err == nil {
		return false
	}
	for _, target := range storedDataErrors {
		if errors.Is(err, target) {
			return false
		}
	}
	for _, target := range inputErrors {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// storageError marks object-store failures other than "not found" and
// decryption failures as ErrStorageUnavailable.
func storageError(err error) error {
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrDecrypt),
		errors.Is(err, context.Canceled), errors.Is(err, ErrStorageUnavailable):
		return err
	}
	if errors.Is(err, storage.ErrCorrupt) {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return fmt.Errorf("%w: %w", ErrStorageUnavailable, err)
}
