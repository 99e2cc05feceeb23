package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/internal/pack"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/storage"
)

// engines are the index engines the pack tests run on.
var engines = []string{"redis", "file"}

// engineClient is a client of a fresh lake on engine whose bodies live in
// store, without a document cache, and the lake's meta URL and key prefix.
func engineClient(t *testing.T, engine string, store storage.Storage) (*Client, string, string) {
	t.Helper()
	var url, prefix string
	switch engine {
	case "redis":
		url = redistest.URL(t)
		prefix = redistest.Prefix(t, url)
	case "file":
		url = "file://" + t.TempDir()
	default:
		t.Fatalf("unknown engine %q", engine)
	}
	c := NewLake(url, func(o *Option) {
		o.KeyPrefix = prefix
		o.Storage = store
		o.Logger = slog.New(slog.DiscardHandler)
		o.CacheSize = -1 // every read folds, from the bodies as they are now
	})
	t.Cleanup(func() { c.Close() })
	return c, url, prefix
}

// gatedStore holds or fails chosen pack PUTs (counted from 1), so that a
// test decides which writes share a pack.
type gatedStore struct {
	storage.Storage
	mu      sync.Mutex
	puts    int
	keys    []string // the pack keys, in PUT order
	hold    map[int]chan struct{}
	fail    map[int]bool
	entered chan int
}

func newGatedStore(inner storage.Storage) *gatedStore {
	return &gatedStore{Storage: inner, hold: map[int]chan struct{}{}, fail: map[int]bool{}, entered: make(chan int, 1000)}
}

func (g *gatedStore) Put(ctx context.Context, key string, data []byte) error {
	if !strings.HasPrefix(key, pack.Prefix) {
		return g.Storage.Put(ctx, key, data)
	}
	g.mu.Lock()
	g.puts++
	n := g.puts
	g.keys = append(g.keys, key)
	hold, fail := g.hold[n], g.fail[n]
	g.mu.Unlock()
	g.entered <- n
	if hold != nil {
		<-hold
	}
	if fail {
		return fmt.Errorf("%w: injected failure of pack PUT %d", storage.ErrUnavailable, n)
	}
	return g.Storage.Put(ctx, key, data)
}

func (g *gatedStore) Unwrap() storage.Storage { return g.Storage }

func (g *gatedStore) packKeys() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.keys...)
}

// waitQueued waits until n writes of c queue for the next pack.
func waitQueued(t *testing.T, c *Client, n int) {
	t.Helper()
	_, s, err := c.ready(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); s.packs.writes.Queued(0) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", s.packs.writes.Queued(0), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// queuedWrites holds both pack flights of c with their first PUTs (two
// lone writes to catalog "early"), then queues writes one at a time, in
// order, behind them. release lets the PUTs go; wait returns each write's
// error, in the order of reqs.
type queuedWrites struct {
	release func()
	wait    func() []error
}

func queueWrites(t *testing.T, c *Client, g *gatedStore, reqs []WriteRequest) queuedWrites {
	t.Helper()
	ctx := context.Background()
	gate := make(chan struct{})
	g.mu.Lock()
	g.hold[1], g.hold[2] = gate, gate
	g.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(reqs)+2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Write(ctx, WriteRequest{Catalog: "early", Field: fmt.Sprint("f", i), Value: i})
		}()
		<-g.entered
	}
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[2+i] = c.Write(ctx, req)
		}()
		waitQueued(t, c, i+1)
	}
	return queuedWrites{
		release: func() { close(gate) },
		wait: func() []error {
			wg.Wait()
			for i, err := range errs[:2] {
				if err != nil {
					t.Fatalf("lone write %d: %v", i, err)
				}
			}
			return errs[2:]
		},
	}
}

func TestWritesQueuedBehindPacksInFlightShareOnePack(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			mem := storage.NewMemoryStorage()
			g := newGatedStore(mem)
			c, _, _ := engineClient(t, engine, g)
			var reqs []WriteRequest
			for i := range 30 {
				req := WriteRequest{Catalog: fmt.Sprint("c", i%5), Field: fmt.Sprint("f", i), Value: map[string]int{"i": i}}
				if i == 7 {
					// A delete is recorded with an empty part. (Not of a field
					// written in this pack: concurrent writes have no order.)
					req = WriteRequest{Catalog: "c2", Field: "never.written", MergeType: MergeDelete}
				}
				reqs = append(reqs, req)
			}
			q := queueWrites(t, c, g, reqs)
			q.release()
			for i, err := range q.wait() {
				if err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			keys := g.packKeys()
			if len(keys) != 3 {
				t.Fatalf("%d pack PUTs for 32 writes, want 3 (two lone writes, then one pack of the 30 that queued): %v", len(keys), keys)
			}
			// The third pack carries the 30 entries, in queue order, and their bodies.
			parts, err := storage.ReadParts(context.Background(), mem, keys[2])
			if err != nil {
				t.Fatal(err)
			}
			id, entries, err := pack.DecodeEntries(parts[0].Data)
			if err != nil || pack.Key(id) != keys[2] || len(entries) != 30 || len(parts) != 31 {
				t.Fatalf("entry table of %s: id %q, %d entries, %d parts, %v", keys[2], id, len(entries), len(parts), err)
			}
			for i, e := range entries {
				want := pack.Entry{Catalog: reqs[i].Catalog, Field: reqs[i].Field, Merge: reqs[i].MergeType.String()}
				if e != want {
					t.Errorf("entry %d = %+v, want %+v", i, e, want)
				}
				if reqs[i].MergeType == MergeDelete {
					if len(parts[i+1].Data) != 0 {
						t.Errorf("the delete's part holds %q", parts[i+1].Data)
					}
				} else if want := fmt.Sprintf(`{"i":%d}`, i); string(parts[i+1].Data) != want {
					t.Errorf("part %d = %q, want %q", i+1, parts[i+1].Data, want)
				}
			}
			for k := range 5 {
				res, err := c.Read(context.Background(), ReadRequest{Catalog: fmt.Sprint("c", k)})
				if err != nil {
					t.Fatal(err)
				}
				var doc map[string]map[string]int
				if err := res.Decode(&doc); err != nil {
					t.Fatal(err)
				}
				for i := k; i < 30; i += 5 {
					_, ok := doc[fmt.Sprint("f", i)]
					if ok != (i != 7) {
						t.Errorf("catalog c%d: field f%d present = %v: %s", k, i, ok, res.Data)
					}
				}
			}
		})
	}
}

func TestAFailedPackPutFailsExactlyItsWritesAndCommitsNothingForThem(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			g := newGatedStore(storage.NewMemoryStorage())
			g.fail[3] = true
			c, _, _ := engineClient(t, engine, g)
			var reqs []WriteRequest
			for i := range 20 {
				reqs = append(reqs, WriteRequest{Catalog: fmt.Sprint("c", i%3), Field: fmt.Sprint("f", i), Value: i})
			}
			q := queueWrites(t, c, g, reqs)
			q.release()
			for i, err := range q.wait() {
				if !errors.Is(err, ErrStorageUnavailable) || !strings.Contains(err.Error(), "pack PUT 3") {
					t.Errorf("write %d in the failed pack = %v, want its own ErrStorageUnavailable", i, err)
				}
			}
			idx, _, err := c.ready(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for k := range 3 {
				log, err := idx.Log(context.Background(), fmt.Sprint("c", k), 0, index.MaxVersion)
				if err != nil || len(log) != 0 {
					t.Fatalf("catalog c%d has %d entries (%v) after its pack failed", k, len(log), err)
				}
			}
			if res := mustReadInternal(t, c, "early"); res.Data.String() != `{"f0":0,"f1":1}` {
				t.Fatalf("the lone writes read %s", res.Data)
			}
			// The client goes on: the next write makes a pack of its own.
			if err := c.Write(context.Background(), WriteRequest{Catalog: "c0", Field: "after", Value: true}); err != nil {
				t.Fatal(err)
			}
			if res := mustReadInternal(t, c, "c0"); res.Data.String() != `{"after":true}` {
				t.Fatalf("c0 reads %s", res.Data)
			}
		})
	}
}

func TestAWriterThatGivesUpWhileItsPackIsStoredCommitsNothing(t *testing.T) {
	g := newGatedStore(storage.NewMemoryStorage())
	gate := make(chan struct{})
	g.hold[1] = gate
	c, _, _ := engineClient(t, "redis", g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Write(ctx, WriteRequest{Catalog: "gaveup", Field: "a", Value: 1}) }()
	<-g.entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("write = %v, want context.Canceled", err)
	}
	close(gate)
	// The pack is stored after all (an orphan); the write is never committed.
	for deadline := time.Now().Add(5 * time.Second); len(g.Storage.(*storage.Memory).Keys()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the held pack was never stored")
		}
		time.Sleep(time.Millisecond)
	}
	if res := mustReadInternal(t, c, "gaveup"); res.Data.String() != "{}" || res.Version != 0 {
		t.Fatalf("an abandoned write reads as %s at %d", res.Data, res.Version)
	}
}

func mustReadInternal(t *testing.T, c *Client, catalog string) *ReadResult {
	t.Helper()
	res, err := c.Read(context.Background(), ReadRequest{Catalog: catalog})
	if err != nil {
		t.Fatalf("read %q: %v", catalog, err)
	}
	return res
}

// sharedPack writes one delta to "victim" and one to "bystander" (its value
// first in the pack) so that they share a pack, and returns that pack's key.
func sharedPack(t *testing.T, c *Client, g *gatedStore) string {
	t.Helper()
	q := queueWrites(t, c, g, []WriteRequest{
		{Catalog: "bystander", Field: "b", Value: "bystander-value"},
		{Catalog: "victim", Field: "v", Value: "victim-value"},
		{Catalog: "victim", Field: "w", Value: "victim-second"},
	})
	q.release()
	for i, err := range q.wait() {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	return g.packKeys()[2]
}

func TestADamagedPackFailsOnlyTheDeltasItBreaks(t *testing.T) {
	for _, damage := range []string{"flipped", "truncated"} {
		t.Run(damage, func(t *testing.T) {
			mem := storage.NewMemoryStorage()
			g := newGatedStore(mem)
			c, _, _ := engineClient(t, "redis", g)
			key := sharedPack(t, c, g)
			ctx := context.Background()
			obj, err := mem.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			at := bytes.Index(obj, []byte("victim-value"))
			if at < 0 {
				t.Fatal("victim's value is not in the pack")
			}
			switch damage {
			case "flipped":
				obj[at+3] ^= 0x20
			case "truncated":
				obj = obj[:at+3]
			}
			if err := mem.Put(ctx, key, obj); err != nil {
				t.Fatal(err)
			}
			if res := mustReadInternal(t, c, "bystander"); res.Data.String() != `{"b":"bystander-value"}` {
				t.Fatalf("bystander reads %s", res.Data)
			}
			// The victim's two writes went concurrently: either may be first
			// in its log, and with the cut both are broken.
			_, err = c.Read(ctx, ReadRequest{Catalog: "victim"})
			wantPart := key + " part 2"
			if damage == "truncated" {
				wantPart = key + " part "
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), wantPart) {
				t.Fatalf("read of the damaged delta = %v, want ErrCorrupt naming %s", err, wantPart)
			}
			report, err := c.Check(ctx, "victim", CheckOptions{Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			wantBroken := 1
			if damage == "truncated" {
				wantBroken = 2 // the cut also takes the part after it
			}
			if len(report.Problems) != wantBroken {
				t.Fatalf("check found %+v, want %d problems", report.Problems, wantBroken)
			}
			for _, p := range report.Problems {
				if p.Kind != ProblemBodyCorrupt || !strings.HasPrefix(p.Object, key+" part ") || !p.Removed {
					t.Errorf("problem %+v: want a removed %s in %s", p, ProblemBodyCorrupt, key)
				}
			}
			want := `{"w":"victim-second"}`
			if damage == "truncated" {
				want = "{}"
			}
			if res := mustReadInternal(t, c, "victim"); res.Data.String() != want {
				t.Fatalf("victim reads %s after the repair, want %s", res.Data, want)
			}
		})
	}
}

func TestATamperedPartOfAnEncryptedPackFailsOnlyItsDelta(t *testing.T) {
	mem := storage.NewMemoryStorage()
	g := newGatedStore(mem)
	encrypted, err := storage.NewEncrypted(g, "pack-test-password")
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := engineClient(t, "redis", encrypted)
	key := sharedPack(t, c, g)
	ctx := context.Background()
	if obj, _ := mem.Get(ctx, key); bytes.Contains(obj, []byte("victim-value")) {
		t.Fatal("an encrypted pack holds a body in plaintext")
	}
	// Re-store the sealed parts as they are, with one byte of the victim's
	// sealed part changed: every frame checks, one part does not decrypt.
	parts, err := storage.ReadParts(ctx, mem, key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := make([][]byte, len(parts))
	for i, p := range parts {
		if p.Err != nil {
			t.Fatal(p.Err)
		}
		sealed[i] = bytes.Clone(p.Data)
	}
	sealed[2][len(sealed[2])-5] ^= 1
	if _, err := storage.PutParts(ctx, mem, key, sealed); err != nil {
		t.Fatal(err)
	}
	if res := mustReadInternal(t, c, "bystander"); res.Data.String() != `{"b":"bystander-value"}` {
		t.Fatalf("bystander reads %s", res.Data)
	}
	if _, err := c.Read(ctx, ReadRequest{Catalog: "victim"}); !errors.Is(err, storage.ErrDecrypt) || !strings.Contains(err.Error(), key+" part 2") {
		t.Fatalf("read of the tampered delta = %v, want ErrDecrypt naming %s part 2", err, key)
	}
	report, err := c.Check(ctx, "victim", CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Problems) != 1 || report.Problems[0].Kind != ProblemDecrypt || report.Problems[0].Field != "v" {
		t.Fatalf("check found %+v, want one %s for field v", report.Problems, ProblemDecrypt)
	}
}

// wholeGets hides a store's ranged reads: GetParts falls back to one Get.
type wholeGets struct{ storage.Storage }

func (w wholeGets) Unwrap() storage.Storage { return w.Storage }

func TestRangedAndWholePackReadsFoldTheSameDocument(t *testing.T) {
	mem := storage.NewMemoryStorage()
	g := newGatedStore(mem)
	c, url, prefix := engineClient(t, "redis", g)
	var reqs []WriteRequest
	for i := range 40 {
		reqs = append(reqs, WriteRequest{Catalog: fmt.Sprint("r", i%2), Field: fmt.Sprint("f", i%7), Value: i, MergeType: []MergeType{MergeSet, MergeInsert, MergePatch}[i%3]})
	}
	q := queueWrites(t, c, g, reqs)
	q.release()
	for i, err := range q.wait() {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	whole := NewLake(url, func(o *Option) {
		o.KeyPrefix = prefix
		o.Storage = wholeGets{mem}
		o.Logger = slog.New(slog.DiscardHandler)
	})
	defer whole.Close()
	for _, catalog := range []string{"r0", "r1"} {
		ranged := mustReadInternal(t, c, catalog)
		read := mustReadInternal(t, whole, catalog)
		if ranged.Data.String() != read.Data.String() || ranged.Version != read.Version {
			t.Fatalf("%s: ranged %s@%d, whole %s@%d", catalog, ranged.Data, ranged.Version, read.Data, read.Version)
		}
	}
}

func TestALakeOfOneObjectPerDeltaStillReads(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			mem := storage.NewMemoryStorage()
			c, _, _ := engineClient(t, engine, mem)
			ctx := context.Background()
			idx, _, err := c.ready(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Deltas as releases before packs wrote them: a body object per
			// delta, named by the catalog and a UUID, and a d1 log entry.
			old := func(field, merge, value string) string {
				id := uuid.Must(uuid.NewV7()).String()
				d := index.Delta{ID: id, Field: field, Merge: merge}
				if value != "" {
					d.BodyKey = "legacy/" + id + ".json"
					if err := mem.Put(ctx, d.BodyKey, []byte(value)); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := idx.Commit(ctx, "legacy", d); err != nil {
					t.Fatal(err)
				}
				return d.BodyKey
			}
			old("a", "set", `{"x":1,"y":2}`)
			old("a.y", "delete", "")
			if err := c.Write(ctx, WriteRequest{Catalog: "legacy", Field: "a.z", Value: 3}); err != nil {
				t.Fatal(err)
			}
			last := old("b", "set", `"old form after a pack"`)
			want := `{"a":{"x":1,"z":3},"b":"old form after a pack"}`
			if res := mustReadInternal(t, c, "legacy"); res.Data.String() != want {
				t.Fatalf("mixed log reads %s, want %s", res.Data, want)
			}
			report, err := c.Check(ctx, "legacy", CheckOptions{})
			if err != nil || len(report.Problems) != 0 || report.Deltas != 4 {
				t.Fatalf("check: %+v, %v", report, err)
			}
			if err := mem.Delete(ctx, last); err != nil {
				t.Fatal(err)
			}
			_, err = c.Read(ctx, ReadRequest{Catalog: "legacy"})
			if !errors.Is(err, ErrBodyMissing) || !strings.Contains(err.Error(), last) || !strings.Contains(err.Error(), `field "b"`) {
				t.Fatalf("read with an old body gone = %v, want ErrBodyMissing naming %s", err, last)
			}
		})
	}
}

func TestAMissingPackIsErrBodyMissingNamingCatalogVersionFieldAndObject(t *testing.T) {
	mem := storage.NewMemoryStorage()
	c, _, _ := engineClient(t, "redis", mem)
	ctx := context.Background()
	v, err := c.WriteVersion(ctx, WriteRequest{Catalog: "gone", Field: "a.b", Value: 1})
	if err != nil {
		t.Fatal(err)
	}
	var key string
	for _, k := range mem.Keys() {
		if strings.HasPrefix(k, pack.Prefix) {
			key = k
		}
	}
	if err := mem.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	_, err = c.Read(ctx, ReadRequest{Catalog: "gone"})
	for _, want := range []string{`catalog "gone"`, fmt.Sprint("version ", v), `field "a.b"`, key + " part 1"} {
		if !errors.Is(err, ErrBodyMissing) || !strings.Contains(err.Error(), want) {
			t.Fatalf("read = %v, want ErrBodyMissing naming %s", err, want)
		}
	}
}

func TestADeltaAPackCannotRecordFailsAloneNotItsPack(t *testing.T) {
	g := newGatedStore(storage.NewMemoryStorage())
	c, _, _ := engineClient(t, "redis", g)
	ctx := context.Background()
	idx, s, err := c.ready(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Write refuses such a field; a delta that reached the pack anyway
	// must not take its neighbours down with it.
	bad := make(chan error, 1)
	q := queueWrites(t, c, g, []WriteRequest{{Catalog: "good", Field: "a", Value: 1}})
	go func() {
		_, err := s.packs.write(ctx, idx, "bad", index.Delta{Field: "bad\xff", Merge: "set"}, []byte("1"))
		bad <- err
	}()
	waitQueued(t, c, 2)
	q.release()
	if errs := q.wait(); errs[0] != nil {
		t.Fatalf("the good write failed with its pack: %v", errs[0])
	}
	if err := <-bad; !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("the delta no pack can record = %v, want ErrInvalidValue", err)
	}
	if res := mustReadInternal(t, c, "good"); res.Data.String() != `{"a":1}` {
		t.Fatalf("good reads %s", res.Data)
	}
	if res := mustReadInternal(t, c, "bad"); res.Version != 0 {
		t.Fatalf("the refused delta was committed: %s at %d", res.Data, res.Version)
	}
}

// blackHole is a store whose PUTs, while on, never answer: they end only
// with their context, as a request to a server that stopped answering.
type blackHole struct {
	storage.Storage
	on atomic.Bool
}

func (b *blackHole) Put(ctx context.Context, key string, data []byte) error {
	if b.on.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return b.Storage.Put(ctx, key, data)
}

func (b *blackHole) Unwrap() storage.Storage { return b.Storage }

func TestAPackToAStoreThatStoppedAnsweringHoldsItsFlightNoLongerThanItsWriters(t *testing.T) {
	hole := &blackHole{Storage: storage.NewMemoryStorage()}
	c, _, _ := engineClient(t, "redis", hole)
	if err := c.Write(context.Background(), WriteRequest{Catalog: "warm", Field: "a", Value: 1}); err != nil {
		t.Fatal(err)
	}
	hole.on.Store(true)
	// Two writers with short deadlines fill both flights.
	var wg sync.WaitGroup
	for i := range packFlights {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if err := c.Write(ctx, WriteRequest{Catalog: "hole", Field: fmt.Sprint("f", i), Value: i}); err == nil {
				t.Error("a write into a store that does not answer succeeded")
			}
		}()
	}
	wg.Wait()
	hole.on.Store(false)
	// The store answers again: the next write must not wait for packTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.Write(ctx, WriteRequest{Catalog: "hole", Field: "after", Value: true}); err != nil {
		t.Fatalf("the first write after the store came back: %v (after %v)", err, time.Since(start))
	}
	if res := mustReadInternal(t, c, "hole"); res.Data.String() != `{"after":true}` {
		t.Fatalf("hole reads %s", res.Data)
	}
}
