package segment

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestKeySpellsTheRangeInSixteenDigits(t *testing.T) {
	got := Key("users:1", 0, 1795650085846807)
	if want := "users:1/segments/0000000000000000-1795650085846807.json"; got != want {
		t.Fatalf("Key = %q, want %q", got, want)
	}
	if !strings.HasPrefix(got, "users:1"+Dir) {
		t.Fatalf("Key %q does not start with the catalog and Dir", got)
	}
}

func TestParseKeyInvertsKey(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		catalog := randomCatalog(r)
		after := r.Int64N(maxVersion)
		last := after + 1 + r.Int64N(maxVersion-after)
		key := Key(catalog, after, last)
		gotCatalog, gotAfter, gotLast, err := ParseKey(key)
		if err != nil || gotCatalog != catalog || gotAfter != after || gotLast != last {
			t.Fatalf("ParseKey(%q) = %q, %d, %d, %v; want %q, %d, %d", key, gotCatalog, gotAfter, gotLast, err, catalog, after, last)
		}
	}
	for _, r := range [][2]int64{{0, 1}, {0, maxVersion}, {maxVersion - 1, maxVersion}} {
		if _, after, last, err := ParseKey(Key("c", r[0], r[1])); err != nil || after != r[0] || last != r[1] {
			t.Errorf("ParseKey(Key(c, %d, %d)) = %d, %d, %v", r[0], r[1], after, last, err)
		}
	}
}

func TestKeysOfACatalogSortInVersionOrder(t *testing.T) {
	ranges := [][2]int64{{0, 9}, {9, 10}, {10, 99}, {99, 100}, {100, 1 << 40}, {1 << 40, maxVersion}}
	var keys []string
	for _, r := range ranges {
		keys = append(keys, Key("orders", r[0], r[1]))
	}
	if !slices.IsSorted(keys) {
		t.Fatalf("keys of increasing ranges are not in byte order: %q", keys)
	}
	// A catalog whose name extends another's lists apart from it.
	if other := Key("orders.eu", 0, 1); strings.HasPrefix(other, "orders"+Dir) {
		t.Fatalf("%q lists under orders%s", other, Dir)
	}
}

func TestParseKeyRefusesWhatKeyDoesNotWrite(t *testing.T) {
	const a, b = "0000000000000005", "0000000000000009"
	for _, key := range []string{
		"",
		"c",
		"c/segments/",
		"/segments/" + a + "-" + b + ".json",    // no catalog
		".c/segments/" + a + "-" + b + ".json",  // catalog starts with '.'
		"c d/segments/" + a + "-" + b + ".json", // a space in the catalog
		strings.Repeat("c", 129) + "/segments/" + a + "-" + b + ".json", // catalog too long
		"c/snapshots/" + a + "-" + b + ".json",
		"c/segment/" + a + "-" + b + ".json",
		"c/segments/" + a + "_" + b + ".json",
		"c/segments/" + a + "-" + b + ".jsn",
		"c/segments/" + a + "-" + b + ".json.tmp",
		"c/segments/" + a + "-" + b + ".json/",
		"c/segments/" + a + "-" + b,
		"c/segments/5-9.json",
		"c/segments/" + a[1:] + "-" + b + ".json",    // 15 digits
		"c/segments/" + a + "-0" + b + ".json",       // 17 digits
		"c/segments/0" + a + "-" + b[1:] + ".json",   // the dash in the wrong place
		"c/segments/" + b + "-" + a + ".json",        // after above last
		"c/segments/" + a + "-" + a + ".json",        // an empty range
		"c/segments/000000000000000a-" + b + ".json", // not a digit
		"c/segments/-000000000000001-" + b + ".json", // a minus sign
		"c/segments/+000000000000001-" + b + ".json", // a sign
		"c/segments/" + a + "-9007199254740992.json", // 2^53
		"c/segments/" + a + "-9999999999999999.json", // beyond 2^53
		"c/x/segments/" + a + "-" + b + ".json",      // a slash in the catalog
		"c/segments/" + a + "-" + b + ".json\x00",
	} {
		if _, _, _, err := ParseKey(key); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ParseKey(%q) = %v, want ErrCorrupt", key, err)
		} else if !strings.Contains(err.Error(), strconv.Quote(key)) {
			t.Errorf("ParseKey(%q) = %v, which does not name the key", key, err)
		}
	}
	if _, _, _, err := ParseKey(Key("c", -1, 9)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ParseKey of Key with a negative after = %v, want ErrCorrupt", err)
	}
	if _, _, _, err := ParseKey(Key("c", 0, 1<<62)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ParseKey of Key with a 19-digit last = %v, want ErrCorrupt", err)
	}
}

func FuzzKey(f *testing.F) {
	f.Add("users", int64(0), int64(1795650085846807), "users/segments/0000000000000000-1795650085846807.json")
	f.Add("a.b:c@d=e-f", int64(maxVersion-1), int64(maxVersion), "c/segments/0000000000000001-0000000000000000.json")
	f.Add("c", int64(-1), int64(1), "c/segments/-000000000000001-0000000000000001.json")
	f.Fuzz(func(t *testing.T, catalog string, after, last int64, key string) {
		// A key ParseKey reads is the one Key writes for what it returns.
		if c, a, l, err := ParseKey(key); err == nil {
			if again := Key(c, a, l); again != key {
				t.Fatalf("ParseKey(%q) = %q, %d, %d, but Key of those is %q", key, c, a, l, again)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ParseKey(%q) = %v, not ErrCorrupt", key, err)
		}
		// Key's output parses back exactly when Check accepts the range.
		valid := Segment{Catalog: catalog, After: after, Last: last}.Check() == nil
		c, a, l, err := ParseKey(Key(catalog, after, last))
		switch {
		case valid && (err != nil || c != catalog || a != after || l != last):
			t.Fatalf("ParseKey(Key(%q, %d, %d)) = %q, %d, %d, %v", catalog, after, last, c, a, l, err)
		case !valid && err == nil:
			t.Fatalf("ParseKey(Key(%q, %d, %d)) = %q, %d, %d, though Check refuses the range", catalog, after, last, c, a, l)
		}
	})
}
