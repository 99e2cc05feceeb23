// Package config is the lake-wide configuration: which object store keeps
// the bodies, how to reach it, and the encryption password. It is stored as
// JSON in the meta store at the key "lake.setting" (Key), so every client of
// one lake shares it.
//
// Secrets (SecretKey, AESPwd) never appear in String, GoString or slog
// output; they are only in the JSON that goes to the meta store.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Key is the meta-store key that holds the JSON config.
const Key = "lake.setting"

// Storage kinds accepted in Config.Storage.
const (
	StorageMemory = "memory" // in-process only: bodies are lost when the process exits
	StorageLocal  = "local"  // files under Path
	StorageS3     = "s3"     // any S3-compatible store: Endpoint, Region, Bucket, AccessKey, SecretKey
	StorageOSS    = "oss"    // Aliyun OSS through its S3-compatible API
)

// Bucket addressing styles accepted in Config.PathStyle.
const (
	// PathStyleAuto (or empty) uses path-style requests for IP addresses and
	// localhost, where virtual-hosted names cannot resolve, and virtual-hosted
	// requests for every other host (AWS and Aliyun OSS prefer or require it).
	PathStyleAuto = "auto"
	// PathStylePath sends http://endpoint/bucket/key (MinIO and most
	// self-hosted stores behind a plain host name need this).
	PathStylePath = "path"
	// PathStyleVirtual sends http://bucket.endpoint/key.
	PathStyleVirtual = "virtual"
)

// ErrInvalid means a config failed validation or is not valid JSON.
var ErrInvalid = errors.New("config: invalid config")

// Config is one lake's configuration.
type Config struct {
	// Name labels the lake in logs and metrics.
	Name string `json:"name,omitempty"`
	// Storage selects the object store: "memory", "local", "s3" or "oss".
	// It must be named: a config without it is invalid (memory storage has
	// to be asked for, since its bodies die with the process).
	Storage string `json:"storage"`
	// Path is the directory of "local" storage.
	Path string `json:"path,omitempty"`
	// Endpoint is the URL (with scheme) of an "s3" or "oss" store, e.g.
	// "http://127.0.0.1:9000" or "https://oss-cn-hangzhou.aliyuncs.com".
	Endpoint string `json:"endpoint,omitempty"`
	// Region of an "s3" or "oss" store. Empty means: ask the bucket for its
	// region once (GetBucketLocation) and cache it; set it to save that
	// request. OSS needs none.
	Region string `json:"region,omitempty"`
	// Bucket of an "s3" or "oss" store.
	Bucket string `json:"bucket,omitempty"`
	// AccessKey and SecretKey authenticate to an "s3" or "oss" store. Either
	// may be left out of the stored config and supplied by each process
	// instead (SecretKeyFile, or the environment: see Resolve).
	AccessKey string `json:"access_key,omitempty"`
	SecretKey string `json:"secret_key,omitempty"`
	// SecretKeyFile is the path, on each process's machine, of a file whose
	// content (trimmed) is the SecretKey.
	SecretKeyFile string `json:"secret_key_file,omitempty"`
	// PathStyle selects how an "s3" or "oss" request names the bucket:
	// "auto" (the default when empty), "path" or "virtual"; see the
	// PathStyle* constants. Ignored by the other storage kinds.
	//
	// "oss" is the same backend as "s3" with Aliyun OSS in mind: OSS host
	// names get the virtual-hosted requests OSS requires under "auto" (as
	// every host name does), no region is needed, and upload bodies go
	// unsigned with a Content-MD5, never aws-chunked, which OSS rejects.
	PathStyle string `json:"path_style,omitempty"`
	// AESPwd, when set, encrypts every body at rest (AES-256-GCM, key derived
	// from this password).
	AESPwd string `json:"aes_pwd,omitempty"`
	// AESPwdFile is the path, on each process's machine, of a file whose
	// content (trimmed) is the AESPwd; it turns encryption on.
	AESPwdFile string `json:"aes_pwd_file,omitempty"`
	// Encrypt turns encryption on with the password supplied by each
	// process (AESPwdFile, or the environment variable LAKE_AES_PWD), so
	// that the stored config holds no password. A process that has none
	// refuses to run rather than write plaintext.
	Encrypt bool `json:"encrypt,omitempty"`
	// Retention is how long history is kept: reads of the past (at a
	// version or time) older than this fail with the lake's
	// ErrHistoryExpired, and garbage collection may delete what only such
	// reads need. A duration such as "720h", "30d" or "90m"; empty keeps
	// every version forever. Every client of the lake shares it.
	Retention string `json:"retention,omitempty"`
}

// RetentionPeriod returns Retention as a duration: 0 keeps everything.
// A Retention that does not parse is 0 here; Validate refuses it.
func (c *Config) RetentionPeriod() time.Duration {
	d, _ := parseRetention(c.Retention)
	return d
}

// parseRetention reads a retention: a Go duration ("720h") or a whole
// number of days ("30d"); positive, at most 100 years.
func parseRetention(text string) (time.Duration, error) {
	if text == "" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(text, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 36500 {
			return 0, fmt.Errorf("retention %q: want a whole number of days from 1 to 36500, or a duration such as 720h", text)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(text); err != nil {
			return 0, fmt.Errorf("retention %q: want a duration such as 720h or 30d", text)
		}
	}
	if d < time.Minute || d > 36500*24*time.Hour {
		return 0, fmt.Errorf("retention %q: want at least a minute and at most 100 years", text)
	}
	return d, nil
}

// Parse decodes and validates a stored config. Unknown fields are rejected
// so that a typo in a hand-edited config is an error, not a silent default.
func Parse(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Marshal validates c and encodes it for the meta store.
func (c *Config) Marshal() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(c)
}

// StorageKind returns Storage, with an empty one (only an unvalidated
// config has it) read as "memory".
func (c *Config) StorageKind() string {
	if c.Storage == "" {
		return StorageMemory
	}
	return c.Storage
}

// Validate reports the first problem with c as an error wrapping ErrInvalid.
func (c *Config) Validate() error {
	if c == nil {
		return fmt.Errorf("%w: nil config", ErrInvalid)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	fields := []struct{ name, value string }{
		{"name", c.Name}, {"path", c.Path}, {"endpoint", c.Endpoint}, {"region", c.Region},
		{"bucket", c.Bucket}, {"access_key", c.AccessKey}, {"secret_key", c.SecretKey}, {"aes_pwd", c.AESPwd},
		{"secret_key_file", c.SecretKeyFile}, {"aes_pwd_file", c.AESPwdFile},
	}
	for _, f := range fields {
		if strings.ContainsAny(f.value, "\x00\r\n") {
			return bad("%s contains a NUL or newline", f.name)
		}
		if !utf8.ValidString(f.value) {
			return bad("%s is not valid UTF-8", f.name)
		}
	}
	if c.SecretKey != "" && c.SecretKeyFile != "" {
		return bad("secret_key and secret_key_file are both set: keep one")
	}
	if c.AESPwd != "" && c.AESPwdFile != "" {
		return bad("aes_pwd and aes_pwd_file are both set: keep one")
	}
	if _, err := parseRetention(c.Retention); err != nil {
		return bad("%v", err)
	}
	if c.Storage == "" {
		return bad(`storage is not named (want "local", "s3", "oss", or "memory" for bodies that die with the process)`)
	}
	switch c.StorageKind() {
	case StorageMemory:
	case StorageLocal:
		if c.Path == "" {
			return bad(`storage "local" needs path (a directory)`)
		}
	case StorageS3, StorageOSS:
		if c.Endpoint == "" {
			return bad("storage %q needs endpoint (a URL such as https://s3.amazonaws.com)", c.Storage)
		}
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("endpoint %q is not an http:// or https:// URL", c.Endpoint)
		}
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
			return bad("endpoint %q must be scheme://host[:port] only", c.Endpoint)
		}
		if !validBucket(c.Bucket) {
			return bad("bucket %q is not a valid bucket name (3-63 characters: a-z, 0-9, '.', '-')", c.Bucket)
		}
		if c.AccessKey == "" && (c.SecretKey != "" || c.SecretKeyFile != "") {
			return bad("secret_key without access_key")
		}
		switch c.PathStyle {
		case "", PathStyleAuto, PathStylePath, PathStyleVirtual:
		default:
			return bad("path_style %q is not one of auto, path or virtual", c.PathStyle)
		}
	default:
		return bad("unknown storage %q (want memory, local, s3 or oss)", c.Storage)
	}
	return nil
}

func validBucket(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '.' || r == '-') && i > 0 && i < len(name)-1:
		default:
			return false
		}
	}
	return true
}

// Redacted returns a copy of c with the secrets replaced by "***", for
// display and logs.
func (c Config) Redacted() Config {
	if c.SecretKey != "" {
		c.SecretKey = RedactedMarker
	}
	if c.AESPwd != "" {
		c.AESPwd = RedactedMarker
	}
	return c
}

// String describes c without its secrets; %v and %+v use it.
func (c Config) String() string {
	r := c.Redacted()
	return fmt.Sprintf("{Name:%q Storage:%q Path:%q Endpoint:%q Region:%q Bucket:%q AccessKey:%q SecretKey:%q SecretKeyFile:%q PathStyle:%q AESPwd:%q AESPwdFile:%q Encrypt:%t}",
		r.Name, r.Storage, r.Path, r.Endpoint, r.Region, r.Bucket, r.AccessKey, r.SecretKey, r.SecretKeyFile, r.PathStyle, r.AESPwd, r.AESPwdFile, r.Encrypt)
}

// GoString keeps secrets out of %#v as well.
func (c Config) GoString() string { return "config.Config" + c.String() }

// LogValue keeps secrets out of log/slog output.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	return slog.GroupValue(
		slog.String("name", r.Name), slog.String("storage", r.Storage),
		slog.String("path", r.Path), slog.String("endpoint", r.Endpoint),
		slog.String("region", r.Region), slog.String("bucket", r.Bucket),
		slog.String("access_key", r.AccessKey), slog.String("secret_key", r.SecretKey),
		slog.String("secret_key_file", r.SecretKeyFile), slog.String("path_style", r.PathStyle),
		slog.String("aes_pwd", r.AESPwd), slog.String("aes_pwd_file", r.AESPwdFile), slog.Bool("encrypt", r.Encrypt),
	)
}
