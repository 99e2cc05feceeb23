package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValidateAcceptsEachStorageKind(t *testing.T) {
	for _, c := range []Config{
		{},
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
		{Config{Storage: "oss", Endpoint: "http://h", Bucket: "b12", AccessKey: "ak"}, "must be set together"},
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
	for _, raw := range []string{`{"storage":"memory","bukcet":"x"}`, `{"storage":`, `[]`, `{"storage":"memory"} {}`, `{"storage":"local"}`} {
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
