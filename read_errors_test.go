package lake_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/storage"
)

// Log entries a writer could never have made (an unknown merge type, a field
// that does not parse, a script whose source is gone) make the read
// ErrCorrupt, naming the version.
func TestBrokenLogEntriesAreErrCorrupt(t *testing.T) {
	ctx := context.Background()
	for name, member := range map[string]string{
		"unknown merge type": "d1|id-1|bogus|c%2Fx.json||a",
		"bad field":          "d1|id-2|set|c%2Fx.json||a..b",
		"missing script":     "d1|id-3|script|c%2Fx.json|counter%40" + fmt.Sprintf("%064d", 0) + "|a",
	} {
		t.Run(name, func(t *testing.T) {
			l := newTestLake(t)
			store := storage.NewMemoryStorage()
			store.Put(ctx, "c/x.json", []byte("1"))
			client := l.client(withStorage(store))
			mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "ok", Value: 1})
			v := mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "ok2", Value: 2}) + 1
			// An entry after every committed one, as a broken writer would
			// leave it.
			cmd := l.redis.B().Zadd().Key(l.prefix+"lake:{c}:log").ScoreMember().ScoreMember(float64(v), member).Build()
			if err := l.redis.Do(ctx, cmd).Error(); err != nil {
				t.Fatal(err)
			}
			_, err := l.client(withStorage(store)).Read(ctx, lake.ReadRequest{Catalog: "c"})
			if !errors.Is(err, lake.ErrCorrupt) || lake.IsInputError(err) {
				t.Fatalf("read: %v, want ErrCorrupt", err)
			}
		})
	}
}

// A client whose document is more than index.MaxCatchUp deltas behind a
// newer snapshot starts from the snapshot, and reads what a cold client
// reads.
func TestAClientFarBehindANewerSnapshotReadsWhatAColdClientReads(t *testing.T) {
	l := newTestLake(t)
	store := storage.NewMemoryStorage()
	warm := l.client(withStorage(store))
	writer := l.client(withStorage(store))
	mustWrite(t, writer, lake.WriteRequest{Catalog: "c", Field: "a", Value: 0})
	before := mustRead(t, warm, lake.ReadRequest{Catalog: "c"})
	for i := range 100 {
		mustWrite(t, writer, lake.WriteRequest{Catalog: "c", Field: fmt.Sprint("f", i%7), Value: i})
	}
	if !mustRead(t, writer, lake.ReadRequest{Catalog: "c", GenerateSnap: true}).Snapshot.Saved {
		t.Fatal("no snapshot")
	}
	mustWrite(t, writer, lake.WriteRequest{Catalog: "c", Field: "last", Value: true})
	res := mustRead(t, warm, lake.ReadRequest{Catalog: "c"})
	cold := mustRead(t, l.client(withStorage(store)), lake.ReadRequest{Catalog: "c"})
	if res.Data.String() != cold.Data.String() || res.Version != cold.Version {
		t.Fatalf("warm read %s@%d, cold read %s@%d", res.Data, res.Version, cold.Data, cold.Version)
	}
	if res.Snapshot.Cached != 0 || res.Snapshot.Version == 0 || res.Snapshot.Deltas != 1 {
		t.Fatalf("the warm client (at %d) did not start from the snapshot: %+v", before.Version, res.Snapshot)
	}
}
