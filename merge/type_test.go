package merge

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestTypeNamesRoundTrip(t *testing.T) {
	want := map[Type]string{
		Set: "set", Insert: "insert", Replace: "replace",
		Delete: "delete", Patch: "patch", JSONPatch: "jsonpatch",
		ScriptType: "script",
	}
	for typ, name := range want {
		if got := typ.String(); got != name {
			t.Errorf("%d.String() = %q, want %q", typ, got, name)
		}
		if !typ.Valid() {
			t.Errorf("%s.Valid() = false", typ)
		}
		parsed, err := ParseType(name)
		if err != nil || parsed != typ {
			t.Errorf("ParseType(%q) = %v, %v; want %v", name, parsed, err, typ)
		}
	}
}

func TestSetIsTheZeroType(t *testing.T) {
	var d Delta
	if d.Type != Set {
		t.Fatalf("zero Type is %s, want set", d.Type)
	}
}

func TestUnknownTypeStringsWithNumber(t *testing.T) {
	typ := Type(7)
	if typ.Valid() {
		t.Fatal("Type(7).Valid() = true")
	}
	if got := typ.String(); got != "Type(7)" {
		t.Fatalf("String() = %q", got)
	}
}

func TestParseTypeRejectsOtherNames(t *testing.T) {
	for _, name := range []string{"", "Set", "SET", "merge-patch", "json-patch", "upsert", " set"} {
		_, err := ParseType(name)
		if !errors.Is(err, ErrUnknownType) {
			t.Errorf("ParseType(%q) error = %v, want ErrUnknownType", name, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `"`+name+`"`) || !strings.Contains(msg, "set, insert, replace, delete, patch, jsonpatch") {
			t.Errorf("ParseType(%q) error %q should quote the name and list valid names", name, msg)
		}
	}
}

func TestTypeNamesListsEveryTypeInConstantOrder(t *testing.T) {
	want := []string{"set", "insert", "replace", "delete", "patch", "jsonpatch", "script"}
	names := TypeNames()
	if !slices.Equal(names, want) {
		t.Fatalf("TypeNames() = %q, want %q", names, want)
	}
	for i, name := range names {
		typ, err := ParseType(name)
		if err != nil || !typ.Valid() || typ != Type(i) {
			t.Errorf("ParseType(%q) = %v, %v; want valid %v", name, typ, err, Type(i))
		}
	}
	for typ := Type(0); typ.Valid(); typ++ {
		if !slices.Contains(names, typ.String()) {
			t.Errorf("%s is valid but not in TypeNames() %q", typ, names)
		}
	}
	if Type(len(names)).Valid() {
		t.Errorf("Type(%d) is valid but TypeNames() lists only %d names", len(names), len(names))
	}
}

func TestTypeNamesReturnsAFreshSlice(t *testing.T) {
	names := TypeNames()
	names[0] = "changed"
	if got := TypeNames()[0]; got != "set" {
		t.Fatalf("TypeNames()[0] = %q after changing an earlier result, want %q", got, "set")
	}
	if Set.String() != "set" {
		t.Fatalf("Set.String() = %q after changing a TypeNames result", Set.String())
	}
}
