package merge

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCheckAccepts(t *testing.T) {
	tests := []struct {
		name string
		d    Delta
	}{
		{"set a scalar", Delta{Type: Set, Path: Path{"a"}, Value: []byte(`1`)}},
		{"set an object at the root", Delta{Type: Set, Value: []byte(`{}`)}},
		{"insert a non-object at the root, a no-op", Delta{Type: Insert, Value: []byte(`5`)}},
		{"replace null", Delta{Type: Replace, Path: Path{"a"}, Value: []byte(`null`)}},
		{"delete without a value", Delta{Type: Delete, Path: Path{"a"}}},
		{"delete the root", Delta{Type: Delete}},
		{"patch a non-object below the root", Delta{Type: Patch, Path: Path{"a"}, Value: []byte(`[1]`)}},
		{"empty json patch", Delta{Type: JSONPatch, Path: Path{"a"}, Value: []byte(`[]`)}},
		{"every json patch op", Delta{Type: JSONPatch, Value: []byte(`[
			{"op":"add","path":"/a","value":1},
			{"op":"remove","path":"/a"},
			{"op":"replace","path":"","value":{}},
			{"op":"move","from":"/b","path":"/c"},
			{"op":"copy","from":"/c","path":"/d~1e"},
			{"op":"test","path":"/d~1e","value":null}
		]`)}},
		{"128 segments", Delta{Type: Set, Path: slices.Repeat(Path{"a"}, 128), Value: []byte(`1`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Check(tt.d); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := CheckValid(tt.d); err != nil {
				t.Fatalf("CheckValid: %v", err)
			}
		})
	}
}

func TestCheckRejects(t *testing.T) {
	jp := func(ops string) Delta { return Delta{Type: JSONPatch, Path: Path{"a"}, Value: []byte(ops)} }
	tests := []struct {
		name    string
		d       Delta
		err     error
		message string
	}{
		{"unknown type", Delta{Type: Type(9), Value: []byte(`{}`)}, ErrUnknownType, "Type(9)"},
		{"invalid JSON", Delta{Type: Set, Path: Path{"a"}, Value: []byte(`{"a":`)}, ErrInvalidValue, ""},
		{"missing value", Delta{Type: Set, Path: Path{"a"}}, ErrInvalidValue, "empty input"},
		{"trailing data", Delta{Type: Set, Path: Path{"a"}, Value: []byte(`1 2`)}, ErrInvalidValue, ""},
		{"set a non-object at the root", Delta{Type: Set, Value: []byte(`[1]`)}, ErrInvalidValue, "set at the document root needs an object, got an array"},
		{"replace a non-object at the root", Delta{Type: Replace, Value: []byte(`1`)}, ErrInvalidValue, "needs an object"},
		{"patch null at the root", Delta{Type: Patch, Value: []byte(`null`)}, ErrInvalidValue, "needs an object"},
		{"json patch not an array", jp(`{"op":"add","path":"/a","value":1}`), ErrInvalidValue, "must be an array of operations"},
		{"json patch op not an object", jp(`[1]`), ErrInvalidValue, "operation 0: must be an object"},
		{"json patch missing op", jp(`[{"path":"/a"}]`), ErrInvalidValue, `"op" must be a string`},
		{"json patch unknown op", jp(`[{"op":"merge","path":"/a"}]`), ErrInvalidValue, `unknown "op" "merge"`},
		{"json patch add without value", jp(`[{"op":"add","path":"/a"}]`), ErrInvalidValue, `add: missing "value"`},
		{"json patch test without value", jp(`[{"op":"test","path":"/a"}]`), ErrInvalidValue, `test: missing "value"`},
		{"json patch move without from", jp(`[{"op":"move","path":"/a"}]`), ErrInvalidValue, `"from" must be a string`},
		{"json patch without path", jp(`[{"op":"remove"}]`), ErrInvalidValue, `"path" must be a string`},
		{"json patch path not a string", jp(`[{"op":"remove","path":1}]`), ErrInvalidValue, `"path" must be a string`},
		{"json patch path not a pointer", jp(`[{"op":"remove","path":"a/b"}]`), ErrInvalidValue, "not a JSON pointer"},
		{"json patch bad escape", jp(`[{"op":"remove","path":"/a~2"}]`), ErrInvalidValue, `"~" must be followed`},
		{"json patch empty token", jp(`[{"op":"remove","path":"/a//b"}]`), ErrInvalidValue, "empty reference tokens"},
		{"json patch later op invalid", jp(`[{"op":"remove","path":"/a"},{"op":"copy","path":"/b"}]`), ErrInvalidValue, "operation 1: copy"},
		{"path with NUL", Delta{Type: Set, Path: Path{"a\x00"}, Value: []byte(`1`)}, ErrInvalidPath, "NUL"},
		{"path with invalid UTF-8", Delta{Type: Delete, Path: Path{"\xff"}}, ErrInvalidPath, "UTF-8"},
		{"path with 129 segments", Delta{Type: Delete, Path: slices.Repeat(Path{"a"}, 129)}, ErrInvalidPath, "more than 128 segments"},
		{"path keys over 1024 bytes", Delta{Type: Delete, Path: Path{strings.Repeat("k", 600), strings.Repeat("k", 425)}}, ErrInvalidPath, "longer than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.d)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Check error = %v, want %v", err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not mention %q", err, tt.message)
			}
			// CheckValid trusts the value to be JSON text; on any other
			// fault it must agree with Check.
			if tt.d.Type == Delete || json.Valid(tt.d.Value) {
				if other := CheckValid(tt.d); other == nil || other.Error() != err.Error() {
					t.Errorf("CheckValid error = %v, Check error = %v", other, err)
				}
			}
		})
	}
}

func TestCheckAcceptsEveryParsedPath(t *testing.T) {
	for _, field := range []string{strings.Repeat("x", 1024), strings.Repeat("a.", 127) + "a", "/" + strings.Repeat("~1", 511)} {
		p, err := ParsePath(field)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(Delta{Type: Delete, Path: p}); err != nil {
			t.Errorf("Check rejects the path parsed from a valid field: %v", err)
		}
	}
}
