package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/hkloudou/lake/v2/config"
)

var (
	_ Storage      = (*S3)(nil)
	_ Ranger       = (*S3)(nil)
	_ Lister       = (*S3)(nil)
	_ BatchDeleter = (*S3)(nil)
)

// s3ListPage is the most keys one LIST request asks for: S3's own maximum.
const s3ListPage = 1000

// S3 keeps each object in a bucket of an S3-compatible object store: AWS S3,
// Aliyun OSS (through its S3 API), MinIO, versitygw and the like.
//
// It is built on minio-go rather than the AWS SDK v2 because minio-go is one
// small module, speaks both path-style and virtual-hosted requests, retries
// transient failures itself within the caller's context, and is proven
// against many S3-compatible stores.
//
// A single PUT replaces an object atomically, so readers see the old object,
// the new one, or none, never a partial one. Errors wrap ErrNotFound,
// ErrBucketNotFound, ErrAccessDenied or ErrUnavailable where one applies and
// name the bucket, the key and the endpoint, never the secret.
//
// An S3 is safe for concurrent use; its connections are pooled in one
// http.Transport per S3. Give every call a context deadline: a store that
// accepts connections but never answers is otherwise waited for up to
// s3ResponseTimeout per attempt.
type S3 struct {
	client      minio.Core // Core exposes single-request PutObject and GetObject
	kind        string     // "s3" or "oss"
	endpoint    string     // scheme://host[:port], for error messages
	bucket      string
	signPayload bool // sign the body's SHA-256 (plain-http s3)
	putOpts     minio.PutObjectOptions
}

// S3Options configures NewS3Storage. The fields mirror config.Config.
type S3Options struct {
	// Endpoint is the store's URL with scheme: "https://s3.amazonaws.com",
	// "http://127.0.0.1:9000". The scheme selects TLS.
	Endpoint string
	// Region signs requests. Empty asks the bucket for it on first use
	// (GetBucketLocation, cached); that one lookup is not retried.
	Region string
	Bucket string
	// AccessKey and SecretKey authenticate; both empty sends anonymous
	// requests.
	AccessKey, SecretKey string
	// PathStyle is "", "auto", "path" or "virtual" (config.PathStyle*).
	PathStyle string
	// Kind is "s3" (the default when empty) or "oss"; see
	// config.Config.PathStyle for how "oss" differs.
	Kind string
}

// Client tuning. minio-go counts attempts, not retries: s3MaxAttempts is the
// first try plus two retries, with jittered exponential backoff (up to 200ms,
// 400ms, ... capped at 1s) between them, all within the caller's context.
// Network errors, timeouts, throttling and 5xx responses are retried; a
// denied request or a missing bucket or key fails at once.
const (
	s3MaxAttempts     = 3
	s3DialTimeout     = 5 * time.Second
	s3ResponseTimeout = 30 * time.Second // until response headers arrive
	s3MaxIdlePerHost  = 64               // enough for Lake's parallel reads to reuse connections
)

// NewS3Storage returns a store for opts.Bucket at opts.Endpoint. It does no
// I/O: a wrong endpoint, bucket or key shows on the first call. Bad options
// yield an error wrapping config.ErrInvalid.
func NewS3Storage(opts S3Options) (*S3, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: s3 storage: "+format, append([]any{config.ErrInvalid}, args...)...)
	}
	kind := opts.Kind
	switch kind {
	case "":
		kind = config.StorageS3
	case config.StorageS3, config.StorageOSS:
	default:
		return nil, bad("kind %q is neither s3 nor oss", opts.Kind)
	}
	// config.Validate owns the endpoint, bucket and credential rules; reuse
	// them so that NewS3Storage and Open agree on what is valid.
	cfg := config.Config{
		Storage: kind, Endpoint: opts.Endpoint, Region: opts.Region, Bucket: opts.Bucket,
		AccessKey: opts.AccessKey, SecretKey: opts.SecretKey, PathStyle: opts.PathStyle,
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// A stored config may leave the secret to each process (config.Resolve);
	// the store itself needs both keys, or neither for anonymous requests.
	if (opts.AccessKey == "") != (opts.SecretKey == "") {
		return nil, bad("access_key and secret_key must be set together (a secret may come from secret_key_file or %s)", config.EnvSecretKey)
	}
	u, err := url.Parse(opts.Endpoint)
	if err != nil { // Validate has parsed it already
		return nil, bad("endpoint %q: %v", opts.Endpoint, err)
	}
	secure := u.Scheme == "https"
	lookup := minio.BucketLookupDNS
	if usePathStyle(u.Hostname(), opts.PathStyle) {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, ""),
		Secure:       secure,
		Transport:    newS3Transport(),
		Region:       opts.Region,
		BucketLookup: lookup,
		MaxRetries:   s3MaxAttempts,
	})
	if err != nil {
		return nil, bad("endpoint %q: %v", opts.Endpoint, err)
	}
	return &S3{
		client:   minio.Core{Client: client},
		kind:     kind,
		endpoint: u.Scheme + "://" + u.Host,
		bucket:   opts.Bucket,
		// Over TLS the body needs no signature of its own (minio-go's
		// default too); OSS takes only unsigned bodies with Content-MD5.
		signPayload: !secure && kind == config.StorageS3,
		putOpts: minio.PutObjectOptions{
			ContentType: "application/octet-stream",
			// Never aws-chunked streaming signatures, minio-go's default on
			// plain http: they cost a 64 KiB buffer per upload and OSS
			// rejects them. Put sends the digests itself instead.
			DisableContentSha256: true,
		},
	}, nil
}

// usePathStyle decides the addressing for host (no port) under style: "path"
// and "virtual" are obeyed; "auto" and "" pick path style where a
// virtual-hosted name (bucket.host) cannot work, on IP addresses and
// localhost, and virtual-hosted everywhere else.
func usePathStyle(host, style string) bool {
	switch style {
	case config.PathStylePath:
		return true
	case config.PathStyleVirtual:
		return false
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// newS3Transport returns the connection pool of one S3.
func newS3Transport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: s3DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          4 * s3MaxIdlePerHost,
		MaxIdleConnsPerHost:   s3MaxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: s3ResponseTimeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		// Objects are stored as given: a transparently gunzipped body would
		// not match the Content-Length that Get sizes its buffer by.
		DisableCompression: true,
	}
}

// Put stores data under key with a single PUT (up to 5 GiB). The store
// checks the body against its Content-MD5, and on plain-http s3 also against
// the signed SHA-256, so a body damaged in transit is refused, not stored.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	sum := md5.Sum(data)
	md5Base64 := base64.StdEncoding.EncodeToString(sum[:])
	var sha256Hex string
	if s.signPayload {
		sum := sha256.Sum256(data)
		sha256Hex = hex.EncodeToString(sum[:])
	}
	// A bytes.Reader can seek, which lets minio-go resend the body on retry.
	_, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)), md5Base64, sha256Hex, s.putOpts)
	if err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

// Get returns the whole object under key, or an error wrapping ErrNotFound.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	// Core.GetObject sends one GET and reports a missing key at once.
	// Client.GetObject would defer the request to the first Read, and its
	// Stat adds a HEAD plus an If-Match GET that fails when the object is
	// replaced in between.
	body, info, _, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	defer body.Close()
	var data []byte
	if info.Size >= 0 { // the Content-Length: read into a buffer of that size
		data = make([]byte, info.Size)
		_, err = io.ReadFull(body, data)
	} else {
		data, err = io.ReadAll(body)
	}
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	return data, nil
}

// GetRange reads at most length bytes from offset of the object under key
// with one ranged GET (see Ranger), or returns an error wrapping
// ErrNotFound. A range that starts at or past the end of the object is
// answered 416 InvalidRange, which is no bytes, not an error.
func (s *S3) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if skip, err := beginRange(ctx, key, offset, length); err != nil || skip {
		if err != nil {
			return nil, err
		}
		return []byte{}, nil
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(offset, offset+length-1); err != nil {
		return nil, fmt.Errorf("storage: get %s: %w", key, err)
	}
	// One GET, as in Get; a missing key is reported before the range.
	body, info, header, err := s.client.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		if resp := minio.ToErrorResponse(err); resp.Code == "InvalidRange" || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return []byte{}, nil
		}
		return nil, s.wrap("get", key, err)
	}
	defer body.Close()
	size := info.Size // the Content-Length of this reply
	if header.Get("Content-Range") == "" && offset > 0 {
		// A store that ignores Range sends the whole object with 200.
		skipped, err := io.CopyN(io.Discard, body, offset)
		if errors.Is(err, io.EOF) {
			return []byte{}, nil
		}
		if err != nil {
			return nil, s.wrap("get", key, err)
		}
		size -= skipped
	}
	var data []byte
	if size >= 0 {
		data = make([]byte, min(size, length))
		_, err = io.ReadFull(body, data)
	} else {
		data, err = io.ReadAll(io.LimitReader(body, length))
	}
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	return data, nil
}

// Delete removes key; S3 reports success for a missing key too.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s.wrap("delete", key, err)
	}
	return nil
}

// DeleteMany removes keys with DeleteObjects requests of up to 1,000 keys
// each (see BatchDeleter). A key CheckKey refuses is not sent and counts
// as not deleted.
func (s *S3) DeleteMany(ctx context.Context, keys []string) error {
	var refused []error // by the sender, read after sent is closed
	sent := make(chan struct{})
	objects := make(chan minio.ObjectInfo)
	go func() {
		defer close(sent)
		defer close(objects)
		for _, key := range keys {
			if err := CheckKey(key); err != nil {
				refused = append(refused, err)
				continue
			}
			select {
			case objects <- minio.ObjectInfo{Key: key}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var failed []error
	for e := range s.client.RemoveObjects(ctx, s.bucket, objects, minio.RemoveObjectsOptions{}) {
		failed = append(failed, s.wrap("delete", e.ObjectName, e.Err))
	}
	<-sent
	failed = append(failed, refused...)
	if err := ctx.Err(); err != nil && len(failed) == 0 {
		return err
	}
	return deleteFailures(len(failed), failed)
}

// List returns up to limit objects whose keys start with prefix and sort
// after after, in byte order (see Lister), with their sizes as the bucket
// reports them, in as few LIST requests (ListObjectsV2, up to 1000 keys
// each) as limit needs.
func (s *S3) List(ctx context.Context, prefix, after string, limit int) ([]Object, error) {
	if err := beginList(ctx, prefix, limit); err != nil {
		return nil, err
	}
	objects := s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{
		Prefix:     prefix,
		StartAfter: after,
		Recursive:  true,
		MaxKeys:    min(limit, s3ListPage),
		FetchOwner: new(false),
	})
	listed := make([]Object, 0, min(limit, s3ListPage))
	for obj := range objects {
		if obj.Err != nil {
			return nil, s.wrap("list", prefix, obj.Err)
		}
		listed = append(listed, Object{Key: obj.Key, Size: obj.Size})
		if len(listed) == limit {
			break
		}
	}
	// The listing ends early, without an error, when ctx ends between two
	// requests; short of limit, the objects would read as the end of the
	// list.
	if err := ctx.Err(); err != nil && len(listed) < limit {
		return nil, s.wrap("list", prefix, err)
	}
	return listed, nil
}

// String reports "s3" or "oss".
func (s *S3) String() string { return s.kind }

// wrap describes a failed operation on key and classifies err, so callers
// can test it with errors.Is against the package's errors. The cause stays
// wrapped too, so context.DeadlineExceeded remains visible.
func (s *S3) wrap(op, key string, err error) error {
	where := fmt.Sprintf("%s %s://%s/%s at %s", op, s.kind, s.bucket, key, s.endpoint)
	if kind := classifyS3Error(err); kind != nil {
		return fmt.Errorf("%w: %s: %w", kind, where, err)
	}
	return fmt.Errorf("storage: %s: %w", where, err)
}

// classifyS3Error maps a minio-go error to ErrNotFound, ErrBucketNotFound,
// ErrAccessDenied or ErrUnavailable, or nil when none fits.
func classifyS3Error(err error) error {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.Code {
		case "NoSuchKey":
			return ErrNotFound
		case "NoSuchBucket":
			return ErrBucketNotFound
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
			"XAdminUserNotFound": // versitygw's answer (a 404) to an unknown access key
			return ErrAccessDenied
		}
		switch code := resp.StatusCode; {
		case code == http.StatusForbidden:
			return ErrAccessDenied
		case code >= 500, code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
			return ErrUnavailable // minio-go has retried these already
		}
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled):
		return nil // the caller gave up; the store may be fine
	case errors.Is(err, context.DeadlineExceeded):
		return ErrUnavailable // no answer within the caller's deadline
	case isTLSConfigError(err):
		return nil // a certificate or scheme mismatch is configuration, not an outage
	}
	var netErr net.Error // *url.Error is one: refused, reset, DNS, timeouts
	if errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return ErrUnavailable
	}
	return nil
}

// isTLSConfigError reports a certificate that does not verify, or an https
// endpoint that answers in plain http.
func isTLSConfigError(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
	)
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &record)
}
