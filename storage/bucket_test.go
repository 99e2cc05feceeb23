package storage

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/internal/s3test"
)

func bucketConfig(srv *s3test.Server, bucket string) *config.Config {
	return &config.Config{
		Storage: config.StorageS3, Endpoint: srv.Endpoint, Region: srv.Region, Bucket: bucket,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	}
}

// TestCreateBucket creates a bucket that does not exist on a real S3 server,
// uses it, and creates it again (a bucket of one's own is not an error).
func TestCreateBucket(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := testCtx(t)
	name := "lake-create-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	cfg := bucketConfig(srv, name)

	s := newTestS3(t, s3Options(srv))
	s.bucket = name
	if err := s.Put(ctx, "k", []byte("v")); !errors.Is(err, ErrBucketNotFound) {
		t.Fatalf("Put before CreateBucket: %v, want ErrBucketNotFound", err)
	}
	if err := CreateBucket(ctx, cfg); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	if err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put after CreateBucket: %v", err)
	}
	// Again: the bucket exists and is ours, and its objects stay.
	if err := CreateBucket(ctx, cfg); err != nil {
		t.Fatalf("CreateBucket of an existing bucket: %v", err)
	}
	if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("Get after the second CreateBucket: %q %v", got, err)
	}
	// The bucket the server started with exists already as well.
	if err := CreateBucket(ctx, bucketConfig(srv, srv.Bucket)); err != nil {
		t.Fatalf("CreateBucket of the server's bucket: %v", err)
	}
}

func TestCreateBucketErrors(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := testCtx(t)
	name := "lake-create-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]

	// Wrong credentials: denied, nothing created.
	bad := bucketConfig(srv, name)
	bad.SecretKey = "wrong-secret"
	if err := CreateBucket(ctx, bad); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("CreateBucket with a wrong secret: %v, want ErrAccessDenied", err)
	}
	s := newTestS3(t, s3Options(srv))
	s.bucket = name
	if err := s.Put(ctx, "k", []byte("v")); !errors.Is(err, ErrBucketNotFound) {
		t.Fatalf("a denied CreateBucket created the bucket: Put: %v", err)
	}

	// An invalid config is refused before any request.
	invalid := bucketConfig(srv, "")
	if err := CreateBucket(ctx, invalid); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("CreateBucket without a bucket name: %v, want config.ErrInvalid", err)
	}

	// A store that does not answer.
	srv.Stop()
	if err := CreateBucket(ctx, bucketConfig(srv, name)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("CreateBucket with the server stopped: %v, want ErrUnavailable", err)
	}

	// Storage kinds without a bucket: nothing to do.
	if err := CreateBucket(ctx, &config.Config{Storage: config.StorageLocal, Path: t.TempDir()}); err != nil {
		t.Fatalf("CreateBucket of a local config: %v", err)
	}
}

// The README's recipe keeps the keys out of the stored config: CreateBucket
// takes them from the environment, as Open does.
func TestCreateBucketTakesTheKeysFromTheEnvironment(t *testing.T) {
	srv := s3test.Start(t)
	ctx := testCtx(t)
	t.Setenv(config.EnvAccessKey, srv.AccessKey)
	t.Setenv(config.EnvSecretKey, srv.SecretKey)
	name := "lake-env-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	cfg := bucketConfig(srv, name)
	cfg.AccessKey, cfg.SecretKey = "", ""
	if err := CreateBucket(ctx, cfg); err != nil {
		t.Fatalf("CreateBucket with the keys in the environment: %v", err)
	}
	s := newTestS3(t, s3Options(srv))
	s.bucket = name
	if err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put into the created bucket: %v", err)
	}
}
