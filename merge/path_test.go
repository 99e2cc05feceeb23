package merge

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		name  string
		field string
		want  Path
	}{
		{"empty field is the root", "", nil},
		{"single key", "a", Path{"a"}},
		{"dotted keys", "a.b.c", Path{"a", "b", "c"}},
		{"numeric segments stay strings", "items.0", Path{"items", "0"}},
		{"escaped dot is part of the key", `a\.b`, Path{"a.b"}},
		{"escaped backslash is part of the key", `a\\b`, Path{`a\b`}},
		{"escaped backslash before a separator", `a\\.b`, Path{`a\`, "b"}},
		{"pointer segments", "/a/b", Path{"a", "b"}},
		{"pointer escapes", "/a~1b/~0c", Path{"a/b", "~c"}},
		{"pointer ~01 decodes to ~1", "/~01", Path{"~1"}},
		{"slash alone is the empty key", "/", Path{""}},
		{"pointer allows empty keys", "/a//b/", Path{"a", "", "b", ""}},
		{"pointer keeps dots and backslashes", `/a.b\c`, Path{`a.b\c`}},
		{"unicode keys", "名字.ключ", Path{"名字", "ключ"}},
		{"128 segments", strings.Repeat("a.", 127) + "a", slices.Repeat(Path{"a"}, 128)},
		{"1024 bytes", strings.Repeat("x", 1024), Path{strings.Repeat("x", 1024)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePath(tt.field)
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tt.field, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ParsePath(%q) = %q, want %q", tt.field, got, tt.want)
			}
		})
	}
}

func TestParsePathRejects(t *testing.T) {
	tests := []struct {
		name   string
		field  string
		reason string
	}{
		{"double dot", "a..b", "empty segment"},
		{"leading dot", ".a", "empty segment"},
		{"trailing dot", "a.", "empty segment"},
		{"dot alone", ".", "empty segment"},
		{"unknown backslash escape", `a\x`, "invalid escape"},
		{"trailing backslash", `a\`, "trailing backslash"},
		{"unknown tilde escape", "/a~2", `"~" must be followed`},
		{"trailing tilde", "/a~", `"~" must be followed`},
		{"invalid UTF-8", "a.\xff", "UTF-8"},
		{"invalid UTF-8 in pointer", "/\xc3", "UTF-8"},
		{"NUL byte", "a\x00b", "NUL"},
		{"1025 bytes", strings.Repeat("x", 1025), "longer than 1024 bytes"},
		{"129 segments", strings.Repeat("a.", 128) + "a", "more than 128 segments"},
		{"129 pointer segments", strings.Repeat("/a", 129), "more than 128 segments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePath(tt.field)
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("ParsePath(%q) = %q, %v; want ErrInvalidPath", tt.field, p, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not mention %q", err, tt.reason)
			}
		})
	}
}

func TestParsePathErrorQuotesField(t *testing.T) {
	_, err := ParsePath("a..b")
	want := `merge: invalid field path "a..b": empty segment at byte 2`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
}

func TestPathStringIsCanonicalPointer(t *testing.T) {
	tests := []struct {
		path Path
		want string
	}{
		{nil, ""},
		{Path{""}, "/"},
		{Path{"a", "b"}, "/a/b"},
		{Path{"a/b", "~c"}, "/a~1b/~0c"},
		{Path{"~1"}, "/~01"},
		{Path{"a.b"}, "/a.b"},
	}
	for _, tt := range tests {
		if got := tt.path.String(); got != tt.want {
			t.Errorf("%q.String() = %q, want %q", []string(tt.path), got, tt.want)
		}
	}
}

func TestPointerRoundTrip(t *testing.T) {
	for _, field := range []string{"", "/", "/a", "/a~1b/~0c", "/a//b/", "/~01/~10", "/a.b/c\\d", "/0/-"} {
		p, err := ParsePath(field)
		if err != nil {
			t.Fatalf("ParsePath(%q): %v", field, err)
		}
		if got := p.String(); got != field {
			t.Errorf("ParsePath(%q).String() = %q", field, got)
		}
	}
}

func TestDottedPathStringsAsPointer(t *testing.T) {
	p, err := ParsePath(`a\.b.c/d.e~f`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.String(), "/a.b/c~1d/e~0f"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
