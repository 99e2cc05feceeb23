package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func TestValidateAcceptsEachStorageKind(t *testing.T) {
	for _, c := range []Config{
		{Storage: "memory", Name: "dev"},
		{Storage: "local", Path: "/var/lib/lake"},
		{Storage: "s3", Endpoint: "http://127.0.0.1:9000", Bucket: "lake-test", AccessKey: "ak", SecretKey: "sk"},
		{Storage: "oss", Endpoint: "https://oss-cn-hangzhou.aliyuncs.com", Region: "cn-hangzhou", Bucket: "my.bucket-1", AccessKey: "ak", SecretKey: "sk", AESPwd: "pw"},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%v: %v", c, err)
		}
	}
}

func TestValidateRejectsBadConfigs(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Storage: "ftp"}, `unknown storage "ftp"`},
		{Config{Storage: "local"}, "needs path"},
		{Config{Storage: "s3", Bucket: "b12"}, "needs endpoint"},
		{Config{Storage: "s3", Endpoint: "127.0.0.1:9000", Bucket: "b12"}, "not an http:// or https:// URL"},
		{Config{Storage: "s3", Endpoint: "http://h/path", Bucket: "b12"}, "scheme://host[:port] only"},
		{Config{Storage: "s3", Endpoint: "http://h", Bucket: "B"}, "not a valid bucket name"},
		{Config{Storage: "s3", Endpoint: "http://h", Bucket: "-bucket"}, "not a valid bucket name"},
		{Config{Storage: "oss", Endpoint: "http://h", Bucket: "b12", SecretKey: "sk"}, "secret_key without access_key"},
		{Config{}, "storage is not named"},
		{Config{Name: "lake", Path: "/data"}, "storage is not named"},
		{Config{Storage: "local", Path: "/d", AESPwd: "a", AESPwdFile: "/f"}, "both set"},
		{Config{Storage: "s3", Endpoint: "http://h", Bucket: "b12", AccessKey: "ak", SecretKey: "s", SecretKeyFile: "/f"}, "both set"},
		{Config{Storage: "local", Path: "/d\xff"}, "not valid UTF-8"},
		{Config{Storage: "memory", Name: "a\nb"}, "name contains a NUL or newline"},
	} {
		err := tc.cfg.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want ErrInvalid mentioning %q", tc.cfg, err, tc.want)
		}
	}
	var nilConfig *Config
	if err := nilConfig.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil config: %v", err)
	}
}

func TestParseRejectsUnknownFieldsAndBadJSON(t *testing.T) {
	for _, raw := range []string{`{}`, `null`, `{"storage":""}`, `{"storage":"memory","bukcet":"x"}`, `{"storage":`, `[]`, `{"storage":"memory"} {}`, `{"storage":"local"}`} {
		if _, err := Parse([]byte(raw)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%s) = %v, want ErrInvalid", raw, err)
		}
	}
}

func TestMarshalParseRoundTrip(t *testing.T) {
	in := Config{Name: "n", Storage: "s3", Endpoint: "http://127.0.0.1:9000", Region: "us-east-1", Bucket: "lake", AccessKey: "ak", SecretKey: "sk", AESPwd: "pw"}
	data, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Parse(data)
	if err != nil || *out != in {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	if !strings.Contains(string(data), `"secret_key":"sk"`) {
		t.Fatalf("the stored JSON must keep secrets: %s", data)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	c := &Config{Storage: "s3", Endpoint: "http://h", Bucket: "bkt", AccessKey: "AKID", SecretKey: "very-secret-key", AESPwd: "hunter2-password"}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", c)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", *c)
	for _, out := range []string{
		fmt.Sprint(c), fmt.Sprintf("%v", *c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%s", c), logged.String(),
	} {
		if strings.Contains(out, "very-secret-key") || strings.Contains(out, "hunter2-password") {
			t.Errorf("secret leaked: %s", out)
		}
		if !strings.Contains(out, "AKID") {
			t.Errorf("non-secret fields should still show: %s", out)
		}
	}
	if c.SecretKey != "very-secret-key" {
		t.Fatal("redaction must not change the config")
	}
}

func TestEmptyStorageMeansMemory(t *testing.T) {
	if kind := (&Config{}).StorageKind(); kind != StorageMemory {
		t.Fatalf("StorageKind() = %q", kind)
	}
}

func TestPathStyle(t *testing.T) {
	for _, style := range []string{"", "auto", "path", "virtual"} {
		for _, kind := range []string{"s3", "oss"} {
			c := Config{Storage: kind, Endpoint: "http://127.0.0.1:9000", Bucket: "lake", PathStyle: style}
			if err := c.Validate(); err != nil {
				t.Errorf("%s with path_style %q: %v", kind, style, err)
			}
		}
	}
	for _, style := range []string{"Path", "dns", "virtual-hosted", " path"} {
		c := Config{Storage: "s3", Endpoint: "http://127.0.0.1:9000", Bucket: "lake", PathStyle: style}
		if err := c.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "path_style") {
			t.Errorf("path_style %q: got %v, want ErrInvalid naming path_style", style, err)
		}
	}
	// Other kinds ignore it, like the other s3 fields.
	if err := (&Config{Storage: "local", Path: "/tmp/lake", PathStyle: "dns"}).Validate(); err != nil {
		t.Errorf("local with a path_style: %v", err)
	}
	// An oss config needs no region.
	if err := (&Config{Storage: "oss", Endpoint: "https://oss-cn-hangzhou.aliyuncs.com", Bucket: "lake"}).Validate(); err != nil {
		t.Errorf("oss without region: %v", err)
	}
}

func TestPathStyleRoundTripsAndPrints(t *testing.T) {
	in := Config{Storage: "s3", Endpoint: "http://127.0.0.1:9000", Bucket: "lake", PathStyle: PathStylePath}
	data, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"path_style":"path"`) {
		t.Fatalf("JSON lacks path_style: %s", data)
	}
	out, err := Parse(data)
	if err != nil || *out != in {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	if data, _ := (&Config{Storage: "s3", Endpoint: "http://h", Bucket: "lake"}).Marshal(); strings.Contains(string(data), "path_style") {
		t.Fatalf("an empty path_style should be omitted: %s", data)
	}
	if s := in.String(); !strings.Contains(s, `PathStyle:"path"`) {
		t.Fatalf("String() = %s", s)
	}
	if _, err := Parse([]byte(`{"storage":"s3","endpoint":"http://h","bucket":"lake","path_style":"sideways"}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Parse accepted path_style sideways: %v", err)
	}
}

func TestResolveFillsSecretsFromFilesAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	secretFile, pwdFile := dir+"/secret", dir+"/pwd"
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwdFile, []byte("  pwd-file  "), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvAccessKey: "env-ak", EnvSecretKey: "env-sk", EnvAESPwd: "env-pwd"}
	getenv := func(k string) string { return env[k] }
	s3 := Config{Storage: "s3", Endpoint: "http://h", Bucket: "b12"}

	r, err := s3.Resolve(getenv)
	if err != nil || r.AccessKey != "env-ak" || r.SecretKey != "env-sk" || r.AESPwd != "" {
		t.Fatalf("keys from the environment: %+v, %v", r, err)
	}
	withFile := s3
	withFile.AccessKey, withFile.SecretKeyFile, withFile.AESPwdFile = "ak", secretFile, pwdFile
	if r, err = withFile.Resolve(getenv); err != nil || r.AccessKey != "ak" || r.SecretKey != "from-file" || r.AESPwd != "pwd-file" {
		t.Fatalf("secrets from files: %+v, %v", r, err)
	}
	stored := Config{Storage: "local", Path: "/d", AESPwd: "stored"}
	if r, err = stored.Resolve(getenv); err != nil || r.AESPwd != "stored" {
		t.Fatalf("a stored password wins: %+v, %v", r, err)
	}
	encrypt := Config{Storage: "local", Path: "/d", Encrypt: true}
	if r, err = encrypt.Resolve(getenv); err != nil || r.AESPwd != "env-pwd" || !r.Encrypted() {
		t.Fatalf("password from the environment: %+v, %v", r, err)
	}
	none := func(string) string { return "" }
	if _, err = encrypt.Resolve(none); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), EnvAESPwd) {
		t.Fatalf("encryption without a password must not fall back to plaintext: %v", err)
	}
	if _, err = s3.Resolve(func(k string) string { return map[string]string{EnvAccessKey: "ak"}[k] }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an access key without a secret: %v", err)
	}
	missing := withFile
	missing.SecretKeyFile = dir + "/nope"
	if _, err = missing.Resolve(getenv); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a missing secret file: %v", err)
	}
}

func TestParseInputRefusesWhatDecodingWouldSilentlyChange(t *testing.T) {
	for _, raw := range []string{
		`{}`, `null`, " null\n", `{"storage":""}`, `[]`,
		"{\"storage\":\"local\",\"path\":\"/d\xff\"}",
		`{"storage":"local","path":"/d\ud800"}`,
		`{"storage":"local","path":"/d","aes_pwd":"***"}`,
		`{"storage":"s3","endpoint":"http://h","bucket":"b12","access_key":"a","secret_key":"***"}`,
	} {
		if cfg, err := ParseInput([]byte(raw)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseInput(%q) = %+v, %v; want ErrInvalid", raw, cfg, err)
		}
	}
	cfg, err := ParseInput([]byte(`{"storage":"local","path":"/d\u00e9","aes_pwd":"p"}`))
	if err != nil || cfg.Path != "/dé" {
		t.Fatalf("a good config: %+v, %v", cfg, err)
	}
}

func TestRetentionParsesDurationsAndDays(t *testing.T) {
	for text, want := range map[string]time.Duration{"": 0, "720h": 720 * time.Hour, "30d": 30 * 24 * time.Hour, "90m": 90 * time.Minute, "1d": 24 * time.Hour} {
		c := Config{Storage: "memory", Retention: text}
		if err := c.Validate(); err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if got := c.RetentionPeriod(); got != want {
			t.Fatalf("%q = %v, want %v", text, got, want)
		}
	}
	for _, text := range []string{"0", "-5h", "30s", "d", "1.5d", "0d", "36501d", "forever", "7 days", "\xff"} {
		c := Config{Storage: "memory", Retention: text}
		if err := c.Validate(); !errors.Is(err, ErrInvalid) {
			t.Fatalf("retention %q: %v, want ErrInvalid", text, err)
		}
	}
}
