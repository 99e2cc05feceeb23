package merge

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestDecodeKeepsNumbersExact(t *testing.T) {
	v, err := Decode([]byte(`[12345678901234567890, 0.1, -0, 1e400, 1.50]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []json.Number{"12345678901234567890", "0.1", "-0", "1e400", "1.50"}
	got := v.([]any)
	for i, w := range want {
		if got[i] != w {
			t.Errorf("element %d = %#v, want json.Number(%q)", i, got[i], w)
		}
	}
	out, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `[12345678901234567890,0.1,-0,1e400,1.50]` {
		t.Errorf("Encode = %s", out)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{``, `   `, `{`, `{"a":1}x`, `{"a":1} {}`, `1 2`, `[1,]`, `{'a':1}`, `NaN`, `01`, `"\x"`} {
		if v, err := Decode([]byte(in)); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("Decode(%q) = %v, %v; want ErrInvalidValue", in, v, err)
		}
	}
}

func TestDecodeAllowsSurroundingWhitespace(t *testing.T) {
	v, err := Decode([]byte(" \n\t{\"a\":true}\r\n "))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := v.(map[string]any); !ok || m["a"] != true {
		t.Fatalf("Decode = %#v", v)
	}
}

func TestEncodeSortsKeysAndDoesNotEscapeHTML(t *testing.T) {
	v, err := Decode([]byte(`{"b":{"z":1,"y":2},"a":"<&>","c":[{"k":1,"j":2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":"<&>","b":{"y":2,"z":1},"c":[{"j":2,"k":1}]}`; string(out) != want {
		t.Fatalf("Encode = %s, want %s", out, want)
	}
}

func TestEncodeIsDeterministic(t *testing.T) {
	m := map[string]any{}
	for _, k := range []string{"q", "w", "e", "r", "t", "y", "u", "i", "o", "p"} {
		m[k] = map[string]any{"x": k, "a": k}
	}
	first, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := Encode(Clone(m))
		if string(again) != string(first) {
			t.Fatalf("Encode not deterministic:\n%s\n%s", first, again)
		}
	}
}

func TestCloneDeepCopies(t *testing.T) {
	orig, err := Decode([]byte(`{"a":{"b":[1,{"c":"d"}]},"e":null,"f":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := Encode(orig)
	c := Clone(orig).(map[string]any)
	c["a"].(map[string]any)["b"].([]any)[1].(map[string]any)["c"] = "changed"
	c["a"].(map[string]any)["b"].([]any)[0] = "changed"
	c["new"] = true
	after, _ := Encode(orig)
	if string(after) != string(before) {
		t.Fatalf("mutating the clone changed the original: %s -> %s", before, after)
	}
}

func TestClonePreservesNilContainers(t *testing.T) {
	v := map[string]any{"m": map[string]any(nil), "s": []any(nil), "e": []any{}}
	a, _ := Encode(v)
	b, _ := Encode(Clone(v))
	if string(a) != string(b) {
		t.Fatalf("Clone changed the encoding: %s -> %s", a, b)
	}
}

// EncodeMembers must give exactly Encode's bytes, version after version,
// re-encoding only the members it is told changed.
func TestEncodeMembersMatchesEncodeAcrossVersions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "b", "<html>", `quo"te`, "ünï", "line\u2028sep", "", "z", "10", "9"}
	values := []string{`1`, `"x"`, `null`, `{"k":[1,2,{"<":">"}]}`, `[]`, `{}`, `12345678901234567890`, `"a\u2028b&c"`, `true`}
	randomValue := func() any {
		v, err := Decode([]byte(values[rng.IntN(len(values))]))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	doc := map[string]any{}
	var prev *Members
	for version := range 300 {
		changed := map[string]bool{}
		for range 1 + rng.IntN(3) {
			name := names[rng.IntN(len(names))]
			changed[name] = true
			if rng.IntN(4) == 0 {
				delete(doc, name)
			} else {
				doc[name] = randomValue()
			}
		}
		enc, err := EncodeMembers(doc, prev, changed)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Encode(doc)
		if err != nil {
			t.Fatal(err)
		}
		if string(enc.Text) != string(want) {
			t.Fatalf("version %d: EncodeMembers gave %s, Encode %s", version, enc.Text, want)
		}
		prev = enc
	}
	// An unchanged member really is copied, not encoded again: a stale value
	// shows through when a change is not declared.
	stale, err := EncodeMembers(map[string]any{"a": "new"}, &Members{Text: []byte(`{"a":"old"}`), members: map[string][]byte{"a": []byte(`"a":"old"`)}}, nil)
	if err != nil || string(stale.Text) != `{"a":"old"}` {
		t.Fatalf("undeclared change: %s, %v", stale.Text, err)
	}
}
