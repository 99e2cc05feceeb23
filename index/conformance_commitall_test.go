package index

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// The conformance suite for CommitAll, the commit of a whole pack's entries.

func TestCommitAllCommitsEachEntryAsCommitWouldAndRetriesFindThem(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine, idx Index) {
		ctx := context.Background()
		pack := "-P7qscNWtZk6SYVaX7DQ"
		var entries []Entry
		for i := range 15 {
			entries = append(entries, Entry{Catalog: fmt.Sprint("all", i%5), Delta: packedDelta(pack, i+1, int64(i)*40, 40, fmt.Sprint("f", i))})
		}
		// One invalid entry (its ID disagrees with its pack) fails alone.
		bad := packedDelta(pack, 99, 0, 40, "bad")
		bad.ID = "other.99"
		entries = append(entries, Entry{Catalog: "all0", Delta: bad})
		// A catalog at the last version overflows alone.
		e.setLastVersion(t, idx, "full", MaxVersion)
		entries = append(entries, Entry{Catalog: "full", Delta: packedDelta(pack, 100, 0, 40, "x")})

		versions, errs := idx.CommitAll(ctx, entries)
		if len(versions) != len(entries) || len(errs) != len(entries) {
			t.Fatalf("%d versions and %d errors for %d entries", len(versions), len(errs), len(entries))
		}
		if !errors.Is(errs[15], ErrInvalidDelta) || !errors.Is(errs[16], ErrVersionOverflow) {
			t.Fatalf("invalid entry: %v; overflowing entry: %v", errs[15], errs[16])
		}
		for i, err := range errs[:15] {
			if err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
		}
		for k := range 5 {
			catalog := fmt.Sprint("all", k)
			_, deltas, err := idx.Read(ctx, catalog, 0)
			if err != nil || len(deltas) != 3 {
				t.Fatalf("%s: %d deltas, %v", catalog, len(deltas), err)
			}
			// A catalog's entries take versions in the order given.
			for j, d := range deltas {
				i := k + 5*j
				if d.Version != versions[i] || d.ID != entries[i].Delta.ID || d.Field != entries[i].Delta.Field || d.Offset != entries[i].Delta.Offset {
					t.Fatalf("%s delta %d = %+v, want entry %d at %d", catalog, j, d, i, versions[i])
				}
			}
		}
		// Sending the same entries again (an outcome that was unknown)
		// finds every one at its version and adds nothing.
		again, errs := idx.CommitAll(ctx, entries[:15])
		for i := range again {
			if errs[i] != nil || again[i] != versions[i] {
				t.Fatalf("retried entry %d: %d, %v; want %d", i, again[i], errs[i], versions[i])
			}
		}
		if _, deltas, _ := idx.Read(ctx, "all0", 0); len(deltas) != 3 {
			t.Fatalf("the retry added entries: %d", len(deltas))
		}
		listed, err := idx.Catalogs(ctx, "all", 10)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, c := range listed {
			names[c.Name] = true
		}
		for k := range 5 {
			if !names[fmt.Sprint("all", k)] {
				t.Fatalf("catalog all%d is not listed: %+v", k, listed)
			}
		}
	})
}

func TestCommitAllWithACanceledContextCommitsNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ engine, idx Index) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, errs := idx.CommitAll(ctx, []Entry{{Catalog: "canceled", Delta: packedDelta("-P7qscNWtZk6SYVaX7DQ", 1, 0, 40, "a")}})
		if errs[0] == nil {
			t.Fatal("a commit with a canceled context succeeded")
		}
		if _, deltas, err := idx.Read(context.Background(), "canceled", 0); err != nil || len(deltas) != 0 {
			t.Fatalf("log after a canceled CommitAll: %+v, %v", deltas, err)
		}
	})
}
