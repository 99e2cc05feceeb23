package lake_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/index"
)

// wipeIndex erases the lake's whole namespace in Redis: the config, the
// scripts, every catalog, as a FLUSHALL would.
func (l *testLake) wipeIndex() {
	l.t.Helper()
	idx, err := index.Open(context.Background(), l.url, index.Options{KeyPrefix: l.prefix})
	if err != nil {
		l.t.Fatal(err)
	}
	defer idx.Close()
	if err := idx.(index.Wiper).Wipe(context.Background()); err != nil {
		l.t.Fatal(err)
	}
}

func TestRecoverRebuildsEveryArchivedVersionAndTheTailFromTheBucketAlone(t *testing.T) {
	ctx := context.Background()
	tl := newTestLake(t)
	cfg := &config.Config{Storage: "local", Path: t.TempDir(), Encrypt: false}
	noBackground := func(o *lake.Option) { o.Compaction = lake.CompactionPolicy{Interval: -1, MinAge: -1} }
	c := tl.client(noBackground)
	if err := c.UpdateConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	mustPutScript(t, c, "counter", exampleScript(t, "counter"))
	rng := rand.New(rand.NewPCG(3, 4))
	const catalogs = 20
	recorded := map[string]map[int64]string{}
	current := map[string]string{}
	write := func(name string, n int) {
		for range n {
			mustWrite(t, c, randomWrite(rng, name))
			if rng.IntN(3) == 0 {
				r := mustRead(t, c, lake.ReadRequest{Catalog: name, GenerateSnap: rng.IntN(4) == 0})
				recorded[name][r.Version] = string(r.Data)
			}
		}
	}
	for i := range catalogs {
		name := fmt.Sprint("rec", i)
		recorded[name] = map[int64]string{}
		write(name, 25)
		if _, err := c.Compact(ctx, name); err != nil {
			t.Fatal(err)
		}
		write(name, 5) // the tail no segment holds
		if i%2 == 0 {
			// Archived again, not trimmed: segments hold the tail too.
			if _, err := c.Compact(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		current[name] = string(mustRead(t, c, lake.ReadRequest{Catalog: name}).Data)
	}
	gone := "rec-deleted"
	recorded[gone] = map[int64]string{}
	write(gone, 10)
	if _, err := c.Compact(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteCatalog(ctx, gone); err != nil {
		t.Fatal(err)
	}

	tl.wipeIndex()
	r := tl.client(noBackground, withoutCache)
	if err := r.UpdateConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	dry, err := r.Recover(ctx, lake.RecoverOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := r.Catalogs(ctx, "", 10); len(list) != 0 {
		t.Fatalf("a dry run restored %v", list)
	}
	report, err := r.Recover(ctx, lake.RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Catalogs) != catalogs+1 || len(dry.Catalogs) != catalogs+1 || report.Scripts != 1 {
		t.Fatalf("recovered %d catalogs (dry run %d), %d scripts: %+v", len(report.Catalogs), len(dry.Catalogs), report.Scripts, report)
	}
	for _, rc := range report.Catalogs {
		if rc.Name == gone {
			if rc.Exact != 0 || rc.BestEffort != 0 {
				t.Fatalf("the deleted catalog came back: %+v", rc)
			}
			continue
		}
		var i int
		fmt.Sscanf(rc.Name, "rec%d", &i)
		wantTail := 5
		if i%2 == 0 {
			wantTail = 0
		}
		if rc.Skipped != "" || rc.Archived == 0 || rc.BestEffort != wantTail {
			t.Fatalf("%s: %+v, want %d best-effort deltas", rc.Name, rc, wantTail)
		}
		// Every version up to the archive's end reads back exactly.
		for v, want := range recorded[rc.Name] {
			if v > rc.Archived {
				continue
			}
			got, err := r.Read(ctx, lake.ReadRequest{Catalog: rc.Name, AtVersion: v})
			if err != nil || string(got.Data) != want {
				t.Fatalf("%s at %d after recovery: %v, %v\nwant %s", rc.Name, v, got, err, want)
			}
		}
		// The present includes the tail, in the order it was written.
		if got := mustRead(t, r, lake.ReadRequest{Catalog: rc.Name}); string(got.Data) != current[rc.Name] {
			t.Fatalf("%s after recovery: %s\nwant %s", rc.Name, got.Data, current[rc.Name])
		}
	}
	if got := mustRead(t, r, lake.ReadRequest{Catalog: gone}); string(got.Data) != "{}" {
		t.Fatalf("a deleted catalog came back: %s", got.Data)
	}
	// Writes go on, above every restored version.
	mustWrite(t, r, lake.WriteRequest{Catalog: "rec0", Field: "after", Value: true})
	if _, err := r.Recover(ctx, lake.RecoverOptions{}); !errors.Is(err, lake.ErrIndexNotEmpty) {
		t.Fatalf("recovery onto a non-empty index: %v", err)
	}
	forced, err := r.Recover(ctx, lake.RecoverOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range forced.Catalogs {
		if rc.Name != gone && (rc.Skipped == "" || rc.Exact+rc.BestEffort != 0) {
			t.Fatalf("a forced recovery rebuilt %s, which the index has: %+v", rc.Name, rc)
		}
	}
}
