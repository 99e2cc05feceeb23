package jsontext

import (
	"encoding/json"
	"testing"
)

func TestAppendStringRoundTripsThroughEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "tab\tnl\nnul\x00", "ü名前|:.", "\x1f\x7f"} {
		out := AppendString([]byte("x"), s)
		var back string
		if err := json.Unmarshal(out[1:], &back); err != nil || back != s || out[0] != 'x' {
			t.Fatalf("%q -> %s -> %q, %v", s, out, back, err)
		}
		if !Valid(out[1:]) {
			t.Fatalf("%s is not valid JSON text", out[1:])
		}
	}
	if got := string(AppendString(nil, "a\"\x01")); got != `"a\"\u0001"` {
		t.Fatalf("spelling %s", got)
	}
}
