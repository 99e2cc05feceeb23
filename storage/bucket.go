package storage

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/minio/minio-go/v7"

	"github.com/hkloudou/lake/v2/config"
)

// CreateBucket creates the bucket that an s3 or oss config names when it
// does not exist yet, in the config's region (us-east-1 when empty), with
// the same client NewS3Storage builds (endpoint, credentials, path style,
// connection pool, retries). A bucket that already exists and belongs to the
// caller is not an error; one that belongs to someone else is (wrapping
// ErrAccessDenied). Configs of other storage kinds have no bucket: for them
// CreateBucket does nothing.
//
// The secrets the config leaves out come from this process, as for Open
// (config.Resolve). An invalid config is an error wrapping
// config.ErrInvalid; an unreachable store wraps ErrUnavailable.
func CreateBucket(ctx context.Context, cfg *config.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	// The keys may be left to this process (secret_key_file, the
	// environment), as Open takes them.
	cfg, err := cfg.Resolve(os.Getenv)
	if err != nil {
		return err
	}
	kind := cfg.StorageKind()
	if kind != config.StorageS3 && kind != config.StorageOSS {
		return nil
	}
	s, err := NewS3Storage(S3Options{
		Endpoint: cfg.Endpoint, Region: cfg.Region, Bucket: cfg.Bucket,
		AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey,
		PathStyle: cfg.PathStyle, Kind: kind,
	})
	if err != nil {
		return err
	}
	return s.createBucket(ctx, cfg.Region)
}

// createBucket creates s.bucket unless it exists.
func (s *S3) createBucket(ctx context.Context, region string) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err == nil && exists {
		return nil
	}
	// BucketExists fails on a bucket that exists but is not ours (403), and
	// on stores that answer HEAD oddly; MakeBucket's answer is the one that
	// counts.
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	if err == nil {
		return nil
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.Code {
		case "BucketAlreadyOwnedByYou":
			return nil // created meanwhile, or a store that says so instead of 200
		case "BucketAlreadyExists":
			// Some stores (MinIO, versitygw) answer this for a bucket of
			// one's own too: it is ours if we can see it now.
			if ok, herr := s.client.BucketExists(ctx, s.bucket); herr == nil && ok {
				return nil
			}
			return fmt.Errorf("%w: create bucket %s://%s at %s: the name is taken by another account: %w",
				ErrAccessDenied, s.kind, s.bucket, s.endpoint, err)
		}
	}
	return s.wrap("create bucket", "", err)
}
