package storage

import (
	"errors"
	"fmt"

	"github.com/hkloudou/lake/v2/config"
)

// ErrUnsupported means the config names a storage kind this build cannot
// open.
var ErrUnsupported = errors.New("storage: unsupported storage kind")

// Open returns the backend that cfg describes, without encryption (Lake wraps
// it with NewEncrypted when cfg.AESPwd is set, whatever the backend). It does
// no network I/O: an unreachable object store shows on first use.
func Open(cfg *config.Config) (Storage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch kind := cfg.StorageKind(); kind {
	case config.StorageMemory:
		return NewMemoryStorage(), nil
	case config.StorageLocal:
		return NewLocalStorage(cfg.Path)
	case config.StorageS3, config.StorageOSS:
		return NewS3Storage(S3Options{
			Endpoint: cfg.Endpoint, Region: cfg.Region, Bucket: cfg.Bucket,
			AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey,
			PathStyle: cfg.PathStyle, Kind: kind,
		})
	default:
		// Unreachable while Validate knows the same kinds; kept so that a
		// kind added to config first fails loudly here.
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, kind)
	}
}
