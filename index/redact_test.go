package index

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// TestRedactURL covers every meta URL form the README names, and passwords
// holding the characters that break naive redaction: no part of a password
// may reach the output.
func TestRedactURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		secrets  []string // texts that must not appear in the output
	}{
		{in: "redis://localhost:6379/0", want: "redis://localhost:6379/0"},
		{in: "redis://127.0.0.1:6379", want: "redis://127.0.0.1:6379"},
		{in: "redis://user:s3cretpw@host:6379/2", want: "redis://user:***@host:6379/2", secrets: []string{"s3cretpw"}},
		{in: "redis://:s3cretpw@host", want: "redis://:***@host", secrets: []string{"s3cretpw"}},
		{in: "redis://user@host:6379", want: "redis://user@host:6379"},
		{in: "rediss://user:s3cretpw@host:6380/1?skip_verify=true", want: "rediss://user:***@host:6380/1?skip_verify=true", secrets: []string{"s3cretpw"}},
		{in: "rediss://:s3cretpw@host", want: "rediss://:***@host", secrets: []string{"s3cretpw"}},
		{in: "unix:///run/redis.sock", want: "unix:///run/redis.sock"},
		{in: "unix://:s3cretpw@/run/redis.sock?db=1", want: "unix://:***@/run/redis.sock?db=1", secrets: []string{"s3cretpw"}},
		{in: "unix://user:s3cretpw@/run/redis.sock", want: "unix://user:***@/run/redis.sock", secrets: []string{"s3cretpw"}},
		{in: "127.0.0.1:6379", want: "127.0.0.1:6379"},
		{in: "localhost:6379", want: "localhost:6379"},
		{in: ":s3cretpw@host:6379", want: ":***@host:6379", secrets: []string{"s3cretpw"}},
		{in: "user:s3cretpw@host:6379", want: "user:***@host:6379", secrets: []string{"s3cretpw"}},
		{in: "file://./lake-data", want: "file://./lake-data"},
		{in: "file:///var/lib/lake", want: "file:///var/lib/lake"},
		{in: "", want: ""},

		// The startup log once showed ":***@ssw0rdXYZ@…".
		{in: "redis://:Pa@ssw0rdXYZ@host", want: "redis://:***@host", secrets: []string{"Pa@", "ssw0rdXYZ"}},
		{in: "redis://user:Pa@ss@w0rd@host:6379/0", want: "redis://user:***@host:6379/0", secrets: []string{"Pa@", "ss@", "w0rd"}},
		{in: ":Pa@ssw0rdXYZ@host:6379", want: ":***@host:6379", secrets: []string{"Pa@", "ssw0rdXYZ"}},
		{in: "user:Pa@ssw0rdXYZ@host:6379", want: "user:***@host:6379", secrets: []string{"Pa@", "ssw0rdXYZ"}},
		// ':' in the password: the userinfo splits at the first ':'.
		{in: "redis://user:pa:ss:wd@host", want: "redis://user:***@host", secrets: []string{"pa:ss", "ss:wd"}},
		{in: "redis://:pa:sswd@host:6379", want: "redis://:***@host:6379", secrets: []string{"pa:", "sswd"}},
		// '/', '?' and '#' end the authority: the URL is ambiguous, and
		// everything before the last '@' is hidden.
		{in: "redis://user:pa/sswd@host:6379/0", want: "redis://***@host:6379/0", secrets: []string{"pa/", "sswd"}},
		{in: "redis://user:123/456@host:6379", want: "redis://***@host:6379", secrets: []string{"123", "456"}},
		{in: "redis://:pa?sswd@host", want: "redis://***@host", secrets: []string{"pa?", "sswd"}},
		{in: "redis://:pa#sswd@host", want: "redis://***@host", secrets: []string{"pa#", "sswd"}},
		{in: "redis://:9#sswd@host", want: "redis://***@host", secrets: []string{"9#", "sswd"}},
		{in: "user:pa/ss#w?d@host:6379", want: "***@host:6379", secrets: []string{"pa/", "ss#", "w?d"}},
		{in: "redis://:a/b@c@host", want: "redis://***@host", secrets: []string{"a/b", "b@c"}},
		// '%': a valid escape, an invalid one, an escaped '@'.
		{in: "redis://:pa%41sswd@host", want: "redis://:***@host", secrets: []string{"pa%41", "paAsswd", "sswd"}},
		{in: "redis://:pa%zzsswd@host", want: "redis://***@host", secrets: []string{"pa%zz", "sswd"}},
		{in: "redis://:pa%40sswd@host", want: "redis://:***@host", secrets: []string{"pa%40", "pa@sswd", "sswd"}},
		{in: "redis://:100%@host", want: "redis://***@host", secrets: []string{"100%"}},
		// A password-like query parameter (rueidis reads none, but a URL
		// copied from another client may carry one).
		{in: "redis://host:6379/0?password=s3cretpw&db=1", want: "redis://host:6379/0?password=***&db=1", secrets: []string{"s3cretpw"}},
		{in: "redis://:pw1secret@host?Password=pw2secret", want: "redis://:***@host?Password=***", secrets: []string{"pw1secret", "pw2secret"}},
		// A "scheme" that is not one: it may be credentials.
		{in: "user:pa://ss@host:6379", want: "***@host:6379", secrets: []string{"pa:", "//ss"}},
	} {
		got := RedactURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, s := range tc.secrets {
			if strings.Contains(got, s) {
				t.Errorf("RedactURL(%q) = %q shows %q", tc.in, got, s)
			}
			if unescaped, err := url.PathUnescape(got); err == nil && strings.Contains(unescaped, s) {
				t.Errorf("RedactURL(%q) = %q shows %q once unescaped", tc.in, got, s)
			}
		}
	}
}

// TestOpenErrorsHideThePassword: an invalid meta URL is reported without
// its password.
func TestOpenErrorsHideThePassword(t *testing.T) {
	for _, raw := range []string{
		"redis://:pa%zzsswd@host",
		"redis://user:pa/sswd@host:6379/x",
		"nosuch://user:s3cretpw@host",
		"redis://user:s3cretpw@host/notadb",
	} {
		idx, err := Open(context.Background(), raw, Options{})
		if err == nil {
			idx.Close()
			t.Errorf("Open(%q): no error", raw)
			continue
		}
		if !errors.Is(err, ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURL", raw, err)
		}
		for _, s := range []string{"s3cretpw", "sswd", "pa%zz"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("Open(%q) error %q shows %q", raw, err, s)
			}
		}
	}
}

func TestOpenOfAnUnknownSchemeHidesAPasswordThatLooksLikeOne(t *testing.T) {
	_, err := Open(context.Background(), "user:pa://ss@host", Options{})
	if !errors.Is(err, ErrInvalidURL) || strings.Contains(err.Error(), "pa") || strings.Contains(err.Error(), "ss@") {
		t.Fatalf("Open error %v shows part of the password", err)
	}
}
