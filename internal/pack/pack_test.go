package pack

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIDsSortByTimeAndDecodeIt(t *testing.T) {
	base := time.UnixMilli(1_790_000_000_123)
	var ids []string
	for i := range 200 {
		at := base.Add(time.Duration(i) * time.Millisecond)
		id := NewID(at)
		if !ValidID(id) {
			t.Fatalf("NewID = %q, not ValidID", id)
		}
		got, err := Time(id)
		if err != nil || !got.Equal(at) {
			t.Fatalf("Time(%q) = %v, %v; want %v", id, got, err, at)
		}
		ids = append(ids, id)
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("IDs made one millisecond apart do not sort in time order: %v", ids)
	}
	if a, b := NewID(base), NewID(base); a == b {
		t.Fatalf("two IDs in one millisecond are equal: %q", a)
	}
}

func TestValidIDRefusesOthers(t *testing.T) {
	good := NewID(time.Now())
	for _, id := range []string{"", good[:19], good + "a", strings.Repeat("/", 20), good[:19] + ".", good[:19] + "é"[:1]} {
		if ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
		if _, err := Time(id); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Time(%q) = %v, want ErrCorrupt", id, err)
		}
	}
	if got := DeltaID(good, 12); got != good+".12" {
		t.Errorf("DeltaID = %q", got)
	}
	if got := Key(good); got != ".packs/"+good {
		t.Errorf("Key = %q", got)
	}
}

func TestEntriesRoundTrip(t *testing.T) {
	id := NewID(time.Now())
	entries := []Entry{
		{Catalog: "users:1", Field: "profile.name", Merge: "set"},
		{Catalog: "orders", Field: "", Merge: "delete"},
		{Catalog: "c", Field: `a\.b|x:"y"`, Merge: "script", Script: "inc@abc"},
		{Catalog: "c", Field: "名前", Merge: "patch"},
	}
	data, err := EncodeEntries(id, entries)
	if err != nil {
		t.Fatal(err)
	}
	gotID, got, err := DecodeEntries(data)
	if err != nil || gotID != id || !reflect.DeepEqual(got, entries) {
		t.Fatalf("DecodeEntries = %q, %+v, %v", gotID, got, err)
	}
}

func TestEncodeEntriesRefusesWhatWouldNotRoundTrip(t *testing.T) {
	id := NewID(time.Now())
	for _, e := range []Entry{
		{Catalog: "", Merge: "set"},
		{Catalog: "c", Merge: ""},
		{Catalog: "c", Merge: "set", Field: "bad\xff"},
	} {
		if _, err := EncodeEntries(id, []Entry{e}); err == nil {
			t.Errorf("EncodeEntries(%+v) = nil error", e)
		}
	}
	if _, err := EncodeEntries("not-an-id", nil); err == nil {
		t.Error("EncodeEntries with a bad pack ID = nil error")
	}
}

func TestDecodeEntriesRefusesGarbage(t *testing.T) {
	id := NewID(time.Now())
	for _, data := range []string{
		"", "null", "{}", "[]", "\xff",
		`{"format":2,"pack":"` + id + `","entries":[]}`,
		`{"format":1,"pack":"short","entries":[]}`,
		`{"format":1,"pack":"` + id + `","entries":[{"catalog":"","merge":"set"}]}`,
		`{"format":1,"pack":"` + id + `","entries":[{"catalog":"c"}]}`,
		`{"format":1,"pack":"` + id + `","entries":{}}`,
	} {
		if _, _, err := DecodeEntries([]byte(data)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeEntries(%q) = %v, want ErrCorrupt", data, err)
		}
	}
}

func FuzzDecodeEntries(f *testing.F) {
	id := NewID(time.UnixMilli(1_790_000_000_000))
	good, _ := EncodeEntries(id, []Entry{{Catalog: "c", Field: "a.b", Merge: "set"}, {Catalog: "d", Merge: "script", Script: "s@1"}})
	f.Add(good)
	f.Add([]byte(`{"format":1,"pack":"` + id + `","entries":[]}`))
	f.Add([]byte(`{"format":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		gotID, entries, err := DecodeEntries(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		// What decodes re-encodes to a table that decodes the same.
		again, err := EncodeEntries(gotID, entries)
		if err != nil {
			return // strings that JSON turned into U+FFFD are refused on the way out
		}
		id2, entries2, err := DecodeEntries(again)
		if err != nil || id2 != gotID || !reflect.DeepEqual(entries, entries2) {
			t.Fatalf("re-encoded table decodes to %q, %+v, %v", id2, entries2, err)
		}
	})
}

func FuzzEncodeEntries(f *testing.F) {
	f.Add("c", "a.b", "set", "")
	f.Add("users:1", "quote\" back\\slash \x00\x1f\x7f \u2028 名前", "script", "s@1")
	f.Fuzz(func(t *testing.T, catalog, field, merge, script string) {
		id := NewID(time.UnixMilli(1_790_000_000_000))
		entries := []Entry{{Catalog: catalog, Field: field, Merge: merge, Script: script}, {Catalog: "c", Merge: "delete"}}
		data, err := EncodeEntries(id, entries)
		if err != nil {
			return // empty names and invalid UTF-8 are refused
		}
		if !json.Valid(data) {
			t.Fatalf("EncodeEntries wrote invalid JSON: %q", data)
		}
		gotID, got, err := DecodeEntries(data)
		if err != nil || gotID != id || !reflect.DeepEqual(got, entries) {
			t.Fatalf("decoded %q, %+v, %v; want %+v", gotID, got, err, entries)
		}
	})
}
