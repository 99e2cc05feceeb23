package lake

import (
	"errors"

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
	// ErrCorrupt: a stored entry or body cannot be decoded.
	ErrCorrupt = errors.New("corrupt stored data")
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
	// ErrDeltaNotFound: RemoveDelta found no log entry at that version.
	ErrDeltaNotFound = errors.New("no log entry at that version")
)
