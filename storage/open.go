package storage

import (
	"errors"
	"fmt"

	"github.com/hkloudou/lake/v2/config"
)

// ErrUnsupported means the config names a storage kind this build cannot
// open yet.
var ErrUnsupported = errors.New("storage: unsupported storage kind")

// Open returns the backend that cfg describes, without encryption (Lake wraps
// it with NewEncrypted when cfg.AESPwd is set, whatever the backend).
func Open(cfg *config.Config) (Storage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch kind := cfg.StorageKind(); kind {
	case config.StorageMemory:
		return NewMemoryStorage(), nil
	case config.StorageLocal:
		return NewLocalStorage(cfg.Path)
	default:
		return nil, fmt.Errorf("%w: %q is not available in this version (memory and local are)", ErrUnsupported, kind)
	}
}
