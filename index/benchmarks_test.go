package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/hkloudou/lake/v2/internal/redistest"
)

// The deltas of each member form as the write path makes them: d1 a body of
// its own (a UUIDv7 ID, the key <catalog>/<id>.json), d2 the same held in
// memory, d3 a part of a pack (a 20-character pack ID, up to 256 parts of
// 1036 bytes each, a new pack every 256 deltas).
var benchForms = []struct {
	name  string
	delta func(catalog string, i int64) Delta
}{
	{"d1", func(catalog string, _ int64) Delta {
		id := uuid.Must(uuid.NewV7()).String()
		return Delta{ID: id, Field: "profile.name", Merge: "set", BodyKey: catalog + "/" + id + ".json"}
	}},
	{"d2", func(catalog string, _ int64) Delta {
		id := uuid.Must(uuid.NewV7()).String()
		return Delta{ID: id, Field: "profile.name", Merge: "set", BodyKey: catalog + "/" + id + ".json", Holder: benchHolder}
	}},
	{"d3", func(_ string, i int64) Delta {
		pack, part := benchPackID(i/256), int(i%256)+1
		return Delta{ID: pack + "." + strconv.Itoa(part), Field: "profile.name", Merge: "set",
			Pack: pack, Part: part, Offset: 16 + int64(part-1)*1060, Length: 1036}
	}},
}

var benchHolder = "mem-" + uuid.NewString()

// benchPackID is a pack ID of the write path's shape: 20 characters of its
// alphabet, the same for one n.
func benchPackID(n int64) string {
	const alphabet = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
	r := rand.New(rand.NewPCG(uint64(n), 0x1ace))
	var id [20]byte
	for i := range id {
		id[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(id[:])
}

// BenchmarkRedisBytesPerDelta reports how much Redis memory one log entry
// of each form costs (redis-bytes/delta): used_memory of a redis-server of
// its own before and after b.N commits over 100 catalogs, from 64
// concurrent writers, as the root package's benchmark of the same name
// measures whole writes. member-bytes/delta is the entry's length. Use a
// large -benchtime (200000x): Redis stores a catalog's log compactly until
// it holds 128 entries.
func BenchmarkRedisBytesPerDelta(b *testing.B) {
	for _, form := range benchForms {
		b.Run(form.name, func(b *testing.B) {
			server := redistest.StartServer(b)
			ctx := context.Background()
			idx, err := Open(ctx, server.URL, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer idx.Close()
			// Loads the Lua before the first measure.
			if _, err := idx.Commit(ctx, "warm", form.delta("warm", 1<<40)); err != nil {
				b.Fatal(err)
			}
			admin := redistest.Client(b, server.URL)
			usedMemory := func() int64 { return redistest.UsedMemory(b, admin) }
			before := usedMemory()
			var n, memberBytes atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1) - 1
					catalog := fmt.Sprintf("cat%03d", i%100)
					d := form.delta(catalog, i)
					member, err := encodeMember(d)
					if err != nil {
						b.Error(err)
						return
					}
					memberBytes.Add(int64(len(member)))
					if _, err := idx.Commit(ctx, catalog, d); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(usedMemory()-before)/float64(b.N), "redis-bytes/delta")
			b.ReportMetric(float64(memberBytes.Load())/float64(b.N), "member-bytes/delta")
		})
	}
}

// BenchmarkMemberCoding measures a log entry's encoding (once per write)
// and decoding (once per delta read) in each form.
func BenchmarkMemberCoding(b *testing.B) {
	for _, form := range benchForms {
		d := form.delta("users", 17)
		member, err := encodeMember(d)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("encode-"+form.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := encodeMember(d); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode-"+form.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeMember(member, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
