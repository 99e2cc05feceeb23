package index

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

// Member encoding: both engines store a delta as this one string (the
// engines' own behaviour with it is in conformance_test.go and
// conformance_pack_test.go).

func mustEncodeMember(t testing.TB, d Delta) string {
	t.Helper()
	member, err := encodeMember(d)
	if err != nil {
		t.Fatalf("encodeMember(%+v): %v", d, err)
	}
	return member
}

// packID is a pack ID as the write path makes them: 20 characters of
// -0-9A-Z_a-z.
const packID = "0Vh3kQ-x_9ZzAa8bC7dE"

func TestMemberEncodingRoundTripsAnyFieldName(t *testing.T) {
	for _, field := range oddFieldNames {
		in := Delta{Version: 42, ID: "0192-abc", Field: field, Merge: "set", BodyKey: "users/0192-x.json", Script: "counter@ab|cd"}
		out, err := decodeMember(mustEncodeMember(t, in), 42)
		if err != nil || out != in {
			t.Errorf("field %q: got %+v, %v; want %+v", field, out, err, in)
		}
	}
}

func TestDecodeMemberRejectsUnknownEncoding(t *testing.T) {
	for _, member := range []string{"", "profile:uuid", "d1|id|set|key", "d2|id|set|k||f", "d1|id|%zz|k||f", "d1||set|k||f", "d4|p.1|set|||0|1|f", "D3|p.1|set|||0|1|f"} {
		if _, err := decodeMember(member, 1); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeMember(%q) = %v, want ErrCorrupt", member, err)
		}
	}
}

func TestHeldMemberEncodingRoundTripsAndOldMembersStillDecode(t *testing.T) {
	for _, field := range oddFieldNames {
		in := Delta{Version: 7, ID: "id-1", Field: field, Merge: "set", BodyKey: "c/x.json", Holder: "mem-4f|%x"}
		member := mustEncodeMember(t, in)
		if !strings.HasPrefix(member, heldMemberPrefix) {
			t.Fatalf("a held body is encoded as %q", member)
		}
		out, err := decodeMember(member, 7)
		if err != nil || out != in {
			t.Errorf("field %q: got %+v, %v; want %+v", field, out, err, in)
		}
	}
	// An entry written before holders existed reads with no holder.
	out, err := decodeMember("d1|id|set|c%2Fk.json||a.b", 3)
	if err != nil || out.Holder != "" || out.BodyKey != "c/k.json" || out.Field != "a.b" {
		t.Fatalf("d1 member: %+v, %v", out, err)
	}
	if _, err := decodeMember("d2|id|set|k|||f", 3); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a d2 member without a holder: %v", err)
	}
}

// The bytes of each form are pinned: lakes hold them, and a retried commit
// finds its entry only if it encodes to the same member.
func TestMemberFormsAreTheStoredBytes(t *testing.T) {
	for _, c := range []struct {
		delta  Delta
		member string
	}{
		{Delta{ID: "0192-abc", Merge: "set", BodyKey: "users/0192-abc.json", Field: "a|b:c"},
			"d1|0192-abc|set|users%2F0192-abc.json||a|b:c"},
		{Delta{ID: "id 1", Merge: "script", BodyKey: "c/k", Script: "inc@9f", Holder: "mem-1", Field: ""},
			"d2|id+1|script|c%2Fk|inc%409f|mem-1|"},
		{Delta{ID: packID + ".7", Merge: "set", Pack: packID, Part: 7, Offset: 12345, Length: 1036, Field: "profile.name"},
			"d3|" + packID + ".7|set|||12345|1036|profile.name"},
		{Delta{ID: packID + ".1", Merge: "delete", Holder: "mem-4f|x", Pack: packID, Part: 1, Field: "a|b"},
			"d3|" + packID + ".1|delete||mem-4f%7Cx|0|0|a|b"},
		{Delta{ID: "p q|r%.s.2", Merge: "set", Script: "s@1", Pack: "p q|r%.s", Part: 2, Offset: math.MaxInt64, Length: 3, Field: "名前"},
			"d3|p+q%7Cr%25.s.2|set|s%401||9223372036854775807|3|名前"},
	} {
		if got := mustEncodeMember(t, c.delta); got != c.member {
			t.Errorf("encodeMember(%+v) = %q, want %q", c.delta, got, c.member)
		}
		c.delta.Version = 5
		if got, err := decodeMember(c.member, 5); err != nil || got != c.delta {
			t.Errorf("decodeMember(%q) = %+v, %v; want %+v", c.member, got, err, c.delta)
		}
	}
}

func TestPackedMemberRoundTripsEveryField(t *testing.T) {
	packs := []string{packID, "a", "a.b", "x|y%+ z", "ü.0"}
	for i, field := range oddFieldNames {
		for _, holder := range []string{"", "mem-4f|%x"} {
			for _, n := range []struct {
				part           int
				offset, length int64
			}{{1, 0, 0}, {256, 98765, 1036}, {math.MaxInt32, math.MaxInt64, math.MaxInt64}, {0, 1, 2}} {
				pack := packs[i%len(packs)]
				in := Delta{
					Version: 9, ID: pack + "." + strconv.Itoa(n.part), Field: field, Merge: "merge|patch", Script: "s@ab|cd",
					Holder: holder, Pack: pack, Part: n.part, Offset: n.offset, Length: n.length,
				}
				member := mustEncodeMember(t, in)
				if !strings.HasPrefix(member, packedMemberPrefix) {
					t.Fatalf("a packed delta is encoded as %q", member)
				}
				out, err := decodeMember(member, 9)
				if err != nil || out != in {
					t.Errorf("member %q: got %+v, %v; want %+v", member, out, err, in)
				}
			}
		}
	}
}

func TestEncodeMemberRefusesDeltasItCannotHold(t *testing.T) {
	ok := Delta{ID: packID + ".3", Merge: "set", Pack: packID, Part: 3, Offset: 10, Length: 20, Field: "f"}
	mustEncodeMember(t, ok)
	for name, change := range map[string]func(d *Delta){
		"an ID of another pack":            func(d *Delta) { d.ID = "other.3" },
		"an ID of another part":            func(d *Delta) { d.ID = packID + ".4" },
		"an ID with a leading zero":        func(d *Delta) { d.ID = packID + ".03" },
		"an ID with another separator":     func(d *Delta) { d.ID = packID + "-3" },
		"an ID without the part":           func(d *Delta) { d.ID = packID },
		"an ID with more after it":         func(d *Delta) { d.ID = packID + ".3.1" },
		"a body key":                       func(d *Delta) { d.BodyKey = "c/x.json" },
		"a negative part":                  func(d *Delta) { d.Part, d.ID = -1, packID+".-1" },
		"a part beyond int32":              func(d *Delta) { d.Part, d.ID = math.MaxInt32+1, packID+".2147483648" },
		"a negative offset":                func(d *Delta) { d.Offset = -1 },
		"a negative length":                func(d *Delta) { d.Length = math.MinInt64 },
		"a part without a pack":            func(d *Delta) { d.Pack, d.Offset, d.Length, d.ID = "", 0, 0, "x" },
		"an offset without a pack":         func(d *Delta) { d.Pack, d.Part, d.Length, d.ID = "", 0, 0, "x" },
		"a length without a pack":          func(d *Delta) { d.Pack, d.Part, d.Offset, d.ID = "", 0, 0, "x" },
		"a held body with a part, no pack": func(d *Delta) { d.Pack, d.Holder, d.ID = "", "mem-1", "x" },
		"no ID and a body key, no pack":    func(d *Delta) { *d = Delta{BodyKey: "k"} },
	} {
		d := ok
		change(&d)
		if member, err := encodeMember(d); !errors.Is(err, ErrInvalidDelta) {
			t.Errorf("%s: encodeMember(%+v) = %q, %v; want ErrInvalidDelta", name, d, member, err)
		}
	}
}

func TestDecodePackedMemberRejectsWhatNoEncoderWrites(t *testing.T) {
	for name, member := range map[string]string{
		"truncated":                "d3|p.1|set|||0|1",
		"a d1 entry relabelled d3": "d3|id|set|c%2Fk.json||f",
		"a bad escape":             "d3|p.1|%zz|||0|1|f",
		"an empty pack":            "d3|.1|set|||0|1|f",
		"an escaped empty pack":    "d3|%2E1|set|||0|1|f",
		"no part":                  "d3|p|set|||0|1|f",
		"an empty ID":              "d3||set|||0|1|f",
		"an empty part":            "d3|p.|set|||0|1|f",
		"a negative part":          "d3|p.-1|set|||0|1|f",
		"a signed part":            "d3|p.+1|set|||0|1|f",
		"an escaped signed part":   "d3|p.%2B1|set|||0|1|f",
		"a part with a zero":       "d3|p.01|set|||0|1|f",
		"a part of two zeros":      "d3|p.00|set|||0|1|f",
		"a part beyond int32":      "d3|p.2147483648|set|||0|1|f",
		"a part beyond int64":      "d3|p.99999999999999999999|set|||0|1|f",
		"a part in hex":            "d3|p.0x1|set|||0|1|f",
		"a part with a space":      "d3|p.1+|set|||0|1|f",
		"an empty offset":          "d3|p.1|set||||1|f",
		"a negative offset":        "d3|p.1|set|||-1|1|f",
		"a signed offset":          "d3|p.1|set|||+1|1|f",
		"an offset with a zero":    "d3|p.1|set|||01|1|f",
		"an escaped offset":        "d3|p.1|set|||%31|1|f",
		"an offset beyond int64":   "d3|p.1|set|||9223372036854775808|1|f",
		"a fractional offset":      "d3|p.1|set|||1.0|1|f",
		"an exponent offset":       "d3|p.1|set|||1e3|1|f",
		"an empty length":          "d3|p.1|set|||0||f",
		"a negative length":        "d3|p.1|set|||0|-5|f",
		"a length with a zero":     "d3|p.1|set|||0|007|f",
		"a length with a space":    "d3|p.1|set|||0| 7|f",
		"a length beyond int64":    "d3|p.1|set|||0|18446744073709551616|f",
	} {
		d, err := decodeMember(member, 11)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decodeMember(%q) = %+v, %v; want ErrCorrupt", name, member, d, err)
			continue
		}
		if !strings.Contains(err.Error(), member) || !strings.Contains(err.Error(), "version 11") {
			t.Errorf("%s: the error %q names neither the entry nor its version", name, err)
		}
	}
	// The edges that are valid: part 0, the largest part, offset and length.
	d, err := decodeMember("d3|p.q.2147483647|set|||9223372036854775807|0|", 1)
	want := Delta{Version: 1, ID: "p.q.2147483647", Merge: "set", Pack: "p.q", Part: math.MaxInt32, Offset: math.MaxInt64}
	if err != nil || d != want {
		t.Fatalf("the largest numbers: %+v, %v; want %+v", d, err, want)
	}
	if d, err := decodeMember("d3|p.0|set|||0|0|f", 1); err != nil || d.Part != 0 || d.Pack != "p" {
		t.Fatalf("part 0: %+v, %v", d, err)
	}
}

// Encoding is on the write path and decoding on the read path, once per
// delta: one allocation (the member) to encode a packed delta, none to
// decode one with nothing escaped (its strings share the member's bytes).
func TestPackedMemberCodingAllocatesOnlyTheMember(t *testing.T) {
	d := Delta{ID: packID + ".17", Merge: "set", Pack: packID, Part: 17, Offset: 54321, Length: 1036, Field: "profile.name"}
	member := mustEncodeMember(t, d)
	if n := testing.AllocsPerRun(100, func() { _, _ = encodeMember(d) }); n > 1 {
		t.Errorf("encodeMember allocates %v times, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = decodeMember(member, 1) }); n > 0 {
		t.Errorf("decodeMember allocates %v times, want 0", n)
	}
}

// FuzzDecodeMember: any string either is ErrCorrupt or decodes to a delta
// that encodes to a member decoding to the same delta, whose fields agree
// (a packed delta's ID is its pack and part). The seeds, every form and
// some near misses, are in testdata/fuzz/FuzzDecodeMember.
func FuzzDecodeMember(f *testing.F) {
	f.Fuzz(func(t *testing.T, member string, version int64) {
		d, err := decodeMember(member, version)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeMember(%q): %v, not ErrCorrupt", member, err)
			}
			return
		}
		if d.Version != version {
			t.Fatalf("decodeMember(%q) has version %d, want %d", member, d.Version, version)
		}
		again, err := encodeMember(d)
		if err != nil {
			t.Fatalf("decodeMember(%q) = %+v, which does not encode: %v", member, d, err)
		}
		if back, err := decodeMember(again, version); err != nil || back != d {
			t.Fatalf("%q decodes to %+v, encodes to %q, which decodes to %+v, %v", member, d, again, back, err)
		}
	})
}

// FuzzEncodeMember: any delta either is ErrInvalidDelta or encodes to a
// member that decodes to exactly that delta; so does the same delta made a
// packed one whose fields agree, which is never refused. The seeds are in
// testdata/fuzz/FuzzEncodeMember.
func FuzzEncodeMember(f *testing.F) {
	f.Fuzz(func(t *testing.T, id, field, merge, bodyKey, script, holder, pack string, part int, offset, length int64) {
		d := Delta{Version: 3, ID: id, Field: field, Merge: merge, BodyKey: bodyKey, Script: script, Holder: holder,
			Pack: pack, Part: part, Offset: offset, Length: length}
		roundTrip(t, d, false)
		if pack != "" {
			d.BodyKey = ""
			d.Part, d.Offset, d.Length = part&math.MaxInt32, offset&math.MaxInt64, length&math.MaxInt64
			d.ID = pack + "." + strconv.Itoa(d.Part)
			roundTrip(t, d, true)
		}
	})
}

// roundTrip checks that d encodes to a member that decodes to d, or (unless
// valid) that it is refused with ErrInvalidDelta.
func roundTrip(t *testing.T, d Delta, valid bool) {
	t.Helper()
	member, err := encodeMember(d)
	if err != nil {
		if valid || !errors.Is(err, ErrInvalidDelta) {
			t.Fatalf("encodeMember(%+v): %v", d, err)
		}
		return
	}
	if back, err := decodeMember(member, d.Version); err != nil || back != d {
		t.Fatalf("%+v encodes to %q, which decodes to %+v, %v", d, member, back, err)
	}
}
