package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// A damaged meta.db must never crash the process nor answer wrongly: each
// damaged copy of a real file either answers exactly what the original
// answers, or fails with ErrCorrupt (or ErrUnavailable).

// fixtureCatalogs are the catalogs buildFixture writes, with how many
// commits each gets.
var fixtureCatalogs = []struct {
	name    string
	commits int
}{
	{"users", 700}, // several leaf pages and a branch page
	{"orders", 60},
	{"one", 1},
	{"", 3},
	{"unicode/ü:|x", 12},
	{"held", 5},
	{"removed", 20},
	{"dropped", 4},
}

// buildFixture writes a real meta.db through the engine: catalogs (one with
// deltas held in memory, one with a removed entry, one with segments (one
// forgotten), a trimmed log and two snapshots in its history, one deleted),
// snapshots,
// scripts (one deleted), a config and the lake ID. scale divides the
// commit counts.
// The last transaction changes nothing (a reopen): a damaged newest meta
// page makes bbolt fall back to the one before, which must then hold the
// same answers. A deterministic fixture is the same file byte for byte in
// every process (the fuzzer's workers each build it): its versions count
// up from a fixed start instead of the clock, and its lake ID is fixed.
func buildFixture(t testing.TB, dir string, scale int, deterministic bool) {
	t.Helper()
	ctx := context.Background()
	idx, err := Open(ctx, "file://"+dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, c := range fixtureCatalogs {
		n := max(c.commits/scale, 1)
		if c.name == "removed" {
			n = max(n, 4)
		}
		if deterministic {
			if err := idx.(*boltIndex).setLastVersion(c.name, 1<<52); err != nil {
				t.Fatal(err)
			}
		}
		var versions []int64
		for i := range n {
			d := Delta{
				ID:      fmt.Sprintf("%s-%d-%08x", c.name, i, rng.Uint32()),
				Field:   fmt.Sprintf("profile.f%d.%s", rng.IntN(40), strings.Repeat("x", rng.IntN(30))),
				Merge:   []string{"set", "patch", "delete", "insert"}[rng.IntN(4)],
				BodyKey: fmt.Sprintf("%s/%d.json", c.name, i),
			}
			if c.name == "held" {
				d.Holder = "proc-" + strconv.Itoa(i)
			}
			if i%7 == 3 {
				d.Script = "counter@h1"
			}
			v, err := idx.Commit(ctx, c.name, d)
			if err != nil {
				t.Fatal(err)
			}
			versions = append(versions, v)
		}
		head, _, err := idx.Read(ctx, c.name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if c.name == "removed" {
			if ok, err := idx.Remove(ctx, c.name, versions[2], "not-its-id"); err != nil || ok {
				t.Fatalf("Remove with the wrong ID: %v, %v", ok, err)
			}
			all, err := idx.Log(ctx, c.name, 0, MaxVersion)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := idx.Remove(ctx, c.name, all[2].Version, all[2].ID); err != nil || !ok {
				t.Fatalf("Remove: %v, %v", ok, err)
			}
			if head, _, err = idx.Read(ctx, c.name, 0); err != nil {
				t.Fatal(err)
			}
		}
		if c.name == "orders" {
			p := SnapshotPointer{Version: versions[len(versions)/4], Key: c.name + "/early-snap.json"}
			if ok, err := idx.SaveSnapshot(ctx, c.name, p, head.Lineage()); err != nil || !ok {
				t.Fatalf("SaveSnapshot(%q): %v, %v", c.name, ok, err)
			}
		}
		if len(versions) > 2 && c.name != "users" {
			p := SnapshotPointer{Version: versions[len(versions)/2], Key: c.name + "/snap.json"}
			if ok, err := idx.SaveSnapshot(ctx, c.name, p, head.Lineage()); err != nil || !ok {
				t.Fatalf("SaveSnapshot(%q): %v, %v", c.name, ok, err)
			}
		}
		switch c.name {
		case "orders":
			quarter, half := versions[len(versions)/4], versions[len(versions)/2]
			for _, s := range []Segment{{0, quarter, "orders/seg-1"}, {quarter, half, "orders/seg-2"}} {
				if err := idx.AddSegment(ctx, c.name, s); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := idx.Trim(ctx, c.name, quarter); err != nil {
				t.Fatal(err)
			}
			// A gap below the trim floor, as garbage collection leaves it.
			if err := idx.Forget(ctx, c.name, nil, []Segment{{0, quarter, "orders/seg-1"}}); err != nil {
				t.Fatal(err)
			}
		case "dropped":
			if _, err := idx.DeleteCatalog(ctx, c.name); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, name := range []string{"counter", "merge", "gone", ""} {
		if err := idx.PutScript(ctx, name, "h"+strconv.Itoa(i), fmt.Sprintf("function %s(a, b) { return a + b + %d }", name, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := idx.DeleteScript(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := idx.StoreConfig(ctx, []byte(`{"storage":"local","path":"objects","snapshot_min_deltas":8}`)); err != nil {
		t.Fatal(err)
	}
	if deterministic {
		b := idx.(*boltIndex)
		if err := b.update(ctx, func(root *bolt.Bucket) error {
			return root.Put(keyLakeID, seal(scopeRoot, keyLakeID, []byte("6f2d5a1e-0000-4000-8000-00000000f022")))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := idx.LakeID(ctx); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	// The no-op last transaction (see above): Open's own.
	idx, err = Open(ctx, "file://"+dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
}

// lakeAnswers is everything a reader can ask a meta store.
type lakeAnswers struct {
	catalogs []CatalogInfo
	heads    map[string]Head
	reads    map[string][]Delta
	logs     map[string][]Delta
	ranges   map[string]rangeAnswer
	history  map[string][]SnapshotPointer
	scripts  map[string]string
	sources  map[string]string
	hashes   map[string]string
	config   []byte
	lakeID   string
}

// rangeAnswer is what Range answers.
type rangeAnswer struct {
	head     Head
	segments []Segment
	deltas   []Delta
}

// askAll asks idx everything. Each answer goes to the result, or, if the
// call failed, its error to errs: a copy is judged answer by answer.
func askAll(idx Index) (a lakeAnswers, errs map[string]error) {
	ctx := context.Background()
	errs = map[string]error{}
	a = lakeAnswers{heads: map[string]Head{}, reads: map[string][]Delta{}, logs: map[string][]Delta{},
		ranges: map[string]rangeAnswer{}, history: map[string][]SnapshotPointer{},
		scripts: map[string]string{}, sources: map[string]string{}, hashes: map[string]string{}}
	var err error
	if a.catalogs, err = idx.Catalogs(ctx, "", 1000); err != nil {
		errs["catalogs"] = err
	}
	for _, c := range fixtureCatalogs {
		head, deltas, err := idx.Read(ctx, c.name, 0)
		if err != nil {
			errs["read "+c.name] = err
		} else {
			a.heads[c.name], a.reads[c.name] = head, deltas
		}
		if a.logs[c.name], err = idx.Log(ctx, c.name, 0, MaxVersion); err != nil {
			errs["log "+c.name] = err
		}
		var r rangeAnswer
		if r.head, r.segments, r.deltas, err = idx.Range(ctx, c.name, 0, MaxVersion); err != nil {
			errs["range "+c.name] = err
		} else {
			a.ranges[c.name] = r
		}
		if a.history[c.name], err = idx.Snapshots(ctx, c.name, MaxVersion, 100); err != nil {
			errs["snapshots "+c.name] = err
		}
	}
	if a.scripts, err = idx.Scripts(ctx); err != nil {
		errs["scripts"] = err
	}
	for i, name := range []string{"counter", "merge", "gone", ""} {
		hash := "h" + strconv.Itoa(i)
		if a.sources[hash], err = idx.ScriptSource(ctx, hash); err != nil {
			errs["source "+hash] = err
		}
		if a.hashes[name], err = idx.ScriptHash(ctx, name); err != nil && !(name == "gone" && errors.Is(err, ErrNotFound)) {
			errs["hash "+name] = err
		}
	}
	if a.config, err = idx.LoadConfig(ctx); err != nil {
		errs["config"] = err
	}
	if a.lakeID, err = idx.LakeID(ctx); err != nil {
		errs["lake id"] = err
	}
	return a, errs
}

// compareAnswers returns the answers of got that differ from want, skipping
// the calls that failed.
func compareAnswers(got, want lakeAnswers, errs map[string]error) []string {
	var diff []string
	check := func(what string, g, w any) {
		if _, failed := errs[what]; !failed && !reflect.DeepEqual(g, w) {
			diff = append(diff, fmt.Sprintf("%s: got %v, want %v", what, g, w))
		}
	}
	check("catalogs", got.catalogs, want.catalogs)
	for _, c := range fixtureCatalogs {
		check("read "+c.name, got.heads[c.name], want.heads[c.name])
		check("read "+c.name, got.reads[c.name], want.reads[c.name])
		check("log "+c.name, got.logs[c.name], want.logs[c.name])
		check("range "+c.name, got.ranges[c.name], want.ranges[c.name])
		check("snapshots "+c.name, got.history[c.name], want.history[c.name])
	}
	check("scripts", got.scripts, want.scripts)
	for i, name := range []string{"counter", "merge", "gone", ""} {
		hash := "h" + strconv.Itoa(i)
		check("source "+hash, got.sources[hash], want.sources[hash])
		check("hash "+name, got.hashes[name], want.hashes[name])
	}
	check("config", got.config, want.config)
	check("lake id", got.lakeID, want.lakeID)
	return diff
}

// copyOutcome is what one damaged copy did.
type copyOutcome int

const (
	copyIdentical   copyOutcome = iota // opened, every answer the original's
	copyOpenRefused                    // Open returned ErrCorrupt
	copyReadErrors                     // opened; some calls ErrCorrupt, the rest the original's
)

// judgeCopy opens the meta.db in dir and asks it everything, failing t on a
// wrong answer or an error other than ErrCorrupt or ErrUnavailable.
func judgeCopy(t testing.TB, dir string, want lakeAnswers, label string) copyOutcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	idx, err := Open(ctx, "file://"+dir, Options{})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: Open = %v, want ErrCorrupt or ErrUnavailable", label, err)
		}
		if errors.Is(err, ErrCorrupt) && !strings.Contains(err.Error(), filepath.Join(dir, "meta.db")) {
			t.Errorf("%s: Open = %v, does not name the file", label, err)
		}
		return copyOpenRefused
	}
	defer idx.Close()
	got, errs := askAll(idx)
	for what, err := range errs {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %s = %v, want ErrCorrupt or ErrUnavailable", label, what, err)
		}
	}
	if diff := compareAnswers(got, want, errs); len(diff) > 0 {
		t.Errorf("%s: wrong answers without an error:\n%s", label, strings.Join(diff, "\n"))
	}
	if len(errs) > 0 {
		return copyReadErrors
	}
	return copyIdentical
}

// damage is one way to damage a file, applied with rng.
type damage struct {
	name  string
	apply func(rng *rand.Rand, data []byte, pageSize int) []byte
}

var damages = []damage{
	{"flip 1-3 bytes in a random page", func(rng *rand.Rand, data []byte, ps int) []byte {
		page := rng.IntN(len(data) / ps)
		for range 1 + rng.IntN(3) {
			data[page*ps+rng.IntN(ps)] ^= byte(1 + rng.IntN(255))
		}
		return data
	}},
	{"flip a byte among a random page's headers and elements", func(rng *rand.Rand, data []byte, ps int) []byte {
		page := 2 + rng.IntN(len(data)/ps-2)
		data[page*ps+rng.IntN(256)] ^= byte(1 + rng.IntN(255))
		return data
	}},
	{"zero a random page", func(rng *rand.Rand, data []byte, ps int) []byte {
		page := rng.IntN(len(data) / ps)
		clear(data[page*ps : (page+1)*ps])
		return data
	}},
	{"truncate", func(rng *rand.Rand, data []byte, ps int) []byte {
		return data[:1+rng.IntN(len(data)-1)]
	}},
	{"flip a byte in a meta page", func(rng *rand.Rand, data []byte, ps int) []byte {
		data[rng.IntN(2)*ps+rng.IntN(16+64)] ^= byte(1 + rng.IntN(255))
		return data
	}},
	{"flip a random bit anywhere", func(rng *rand.Rand, data []byte, ps int) []byte {
		data[rng.IntN(len(data))] ^= 1 << rng.IntN(8)
		return data
	}},
}

func TestFileCorruptCopiesNeverPanicNorAnswerWrongly(t *testing.T) {
	t.Run("full check at Open", func(t *testing.T) { testCorruptCopies(t) })
	// A file beyond boltCheckLimit gets only the page check at Open: the
	// values' seals and the guard around bbolt must hold on their own.
	t.Run("page check only", func(t *testing.T) {
		defer func(limit int64) { boltCheckLimit = limit }(boltCheckLimit)
		boltCheckLimit = 0
		testCorruptCopies(t)
	})
}

func testCorruptCopies(t *testing.T) {
	const perDamage = 25 // 150 copies
	src := t.TempDir()
	buildFixture(t, src, 1, false)
	original := openFileTest(t, src, Options{})
	want, errs := askAll(original)
	if len(errs) > 0 {
		t.Fatalf("the original fails: %v", errs)
	}
	must(t, original.Close())
	data, err := os.ReadFile(filepath.Join(src, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	t.Logf("meta.db: %d bytes, %d pages", len(data), len(data)/ps)

	rng := rand.New(rand.NewPCG(2024, 10))
	var total [3]int
	for _, d := range damages {
		var counts [3]int
		for i := range perDamage {
			dir := t.TempDir()
			damaged := d.apply(rng, bytes.Clone(data), ps)
			if err := os.WriteFile(filepath.Join(dir, "meta.db"), damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			label := fmt.Sprintf("%s #%d", d.name, i)
			done := make(chan copyOutcome, 1)
			go func() { done <- judgeCopy(t, dir, want, label) }()
			select {
			case outcome := <-done:
				counts[outcome]++
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: still running after 30s", label)
			}
		}
		t.Logf("%-55s %2d identical, %2d refused at Open, %2d opened with some calls ErrCorrupt",
			d.name+":", counts[copyIdentical], counts[copyOpenRefused], counts[copyReadErrors])
		for i := range total {
			total[i] += counts[i]
		}
	}
	t.Logf("%d copies: %d answered exactly as the original, %d errored (%d at Open, %d on some calls); none panicked or answered wrongly",
		len(damages)*perDamage, total[copyIdentical], total[copyOpenRefused]+total[copyReadErrors], total[copyOpenRefused], total[copyReadErrors])
}

// The fuzz target: any bytes in place of a real meta.db. Its seed corpus
// (run by a plain go test) is a small real file and a few damaged forms of
// it; `go test -fuzz FuzzBoltCorruptFile ./index/` explores further. A
// damaged copy of this process's seed (nearSeed) must answer as the seed or
// fail with ErrCorrupt; any other input must not panic and fail only with
// ErrCorrupt or ErrUnavailable. (Each fuzzing worker builds its own seed,
// and bbolt does not always lay out the same transactions byte for byte
// alike, so an input from another worker's seed may be far from this one.)
func FuzzBoltCorruptFile(f *testing.F) {
	src := f.TempDir()
	buildFixture(f, src, 20, true)
	seed, err := os.ReadFile(filepath.Join(src, "meta.db"))
	if err != nil {
		f.Fatal(err)
	}
	idx, err := Open(context.Background(), "file://"+src, Options{})
	if err != nil {
		f.Fatal(err)
	}
	want, errs := askAll(idx)
	idx.Close()
	if len(errs) > 0 {
		f.Fatalf("the seed fails: %v", errs)
	}
	f.Add(seed)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, d := range damages {
		f.Add(d.apply(rng, bytes.Clone(seed), os.Getpagesize()))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "meta.db"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if nearSeed(data, seed) {
			judgeCopy(t, dir, want, "fuzzed file")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		idx, err := Open(ctx, "file://"+dir, Options{})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Open = %v", err)
			}
			return
		}
		defer idx.Close()
		_, errs := askAll(idx)
		for what, err := range errs {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrNotFound) {
				t.Errorf("%s = %v", what, err)
			}
		}
	})
}

// nearSeed reports whether data is seed with at most 64 bytes changed.
func nearSeed(data, seed []byte) bool {
	if len(data) != len(seed) {
		return false
	}
	n := 0
	for i := range data {
		if data[i] != seed[i] {
			if n++; n > 64 {
				return false
			}
		}
	}
	return true
}

// A file damaged while the engine has it open: bbolt reads it through a
// memory map, so the damage shows at once. Reads and batched commits fail
// with ErrCorrupt, none hangs, and the process survives; a file truncated
// under the map (a SIGBUS on access) too.
func TestFileDamagedWhileOpenIsErrCorruptNotACrash(t *testing.T) {
	for _, how := range []string{"pages zeroed", "file truncated"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			buildFixture(t, dir, 4, false)
			idx := openFileTest(t, dir, Options{})
			ctx := context.Background()
			path := filepath.Join(dir, "meta.db")
			ps := int64(os.Getpagesize())
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			info, _ := f.Stat()
			if how == "pages zeroed" {
				zero := make([]byte, info.Size()-2*ps)
				_, err = f.WriteAt(zero, 2*ps)
			} else {
				err = f.Truncate(2 * ps)
			}
			f.Close()
			must(t, err)

			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for i := range 32 {
				wg.Add(2)
				go func() {
					defer wg.Done()
					_, err := idx.Commit(ctx, "users", Delta{ID: uuid.NewString(), Field: "f" + strconv.Itoa(i), Merge: "set"})
					errs <- err
				}()
				go func() {
					defer wg.Done()
					_, _, err := idx.Read(ctx, "users", 0)
					errs <- err
				}()
			}
			finished := make(chan struct{})
			go func() { wg.Wait(); close(finished) }()
			select {
			case <-finished:
			case <-time.After(20 * time.Second):
				t.Fatal("calls on a damaged file still waiting after 20s")
			}
			close(errs)
			for err := range errs {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("call on a damaged file: %v, want ErrCorrupt", err)
				}
			}
			// The engine stays broken, and Close lets go of the directory.
			if _, err := idx.LoadConfig(ctx); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("LoadConfig after the failure: %v, want ErrCorrupt", err)
			}
			idx.Close()
			if _, err := Open(ctx, "file://"+dir, Options{}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("reopen of the damaged file: %v, want ErrCorrupt", err)
			}
		})
	}
}

// Sealed values: every single-bit and every two-bit flip of a sealed value,
// and a value read under another key or scope, is ErrCorrupt.
func TestFileSealedValuesCatchEveryBitFlip(t *testing.T) {
	key := versionKey(1795650085846807)
	payload := []byte(mustEncodeMember(t, Delta{ID: "0192-abc", Field: "profile.name", Merge: "set", BodyKey: "users/0192.json"}))
	sealed := seal(scopeLog("users"), key, payload)
	if got, legacy, err := unseal(scopeLog("users"), key, sealed, true); err != nil || legacy || !bytes.Equal(got, payload) {
		t.Fatalf("unseal = %q, %v, %v", got, legacy, err)
	}
	bits := len(sealed) * 8
	for i := range bits {
		for j := i; j < bits; j++ {
			v := bytes.Clone(sealed)
			v[i/8] ^= 1 << (i % 8)
			if j != i {
				v[j/8] ^= 1 << (j % 8)
			}
			for _, strict := range []bool{true, false} {
				got, legacy, err := unseal(scopeLog("users"), key, v, strict)
				if err == nil && !legacy {
					t.Fatalf("flip of bits %d, %d unsealed to %q", i, j, got)
				}
				// A flipped format byte reads as unsealed in a namespace
				// written before sealing: the member must then not decode.
				if err == nil {
					if _, err := decodeMember(string(got), 1); err == nil {
						t.Fatalf("flip of bits %d, %d decodes as an unsealed member %q", i, j, got)
					}
				}
			}
		}
	}
	for _, other := range []struct {
		scope string
		key   []byte
	}{{scopeLog("users2"), key}, {scopeIDs("users"), key}, {scopeLog("users"), versionKey(1795650085846808)}} {
		if _, _, err := unseal(other.scope, other.key, sealed, true); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("value read as %s %x: %v, want ErrCorrupt", other.scope, other.key, err)
		}
	}
}

// A flipped byte in each kind of stored value is ErrCorrupt at Open (the
// check) and, past the check, on the read that meets it.
func TestFileFlippedValueIsErrCorruptNotAWrongAnswer(t *testing.T) {
	ctx := context.Background()
	type target struct {
		name string
		// locate returns the bucket and key of the value to flip.
		locate func(root *bolt.Bucket) (*bolt.Bucket, []byte)
		read   func(idx Index) error
	}
	catalog := func(root *bolt.Bucket) *bolt.Bucket { return root.Bucket(bucketCatalogs).Bucket(nameKey("orders")) }
	firstKey := func(b *bolt.Bucket) []byte { k, _ := b.Cursor().First(); return bytes.Clone(k) }
	targets := []target{
		{"log entry", func(root *bolt.Bucket) (*bolt.Bucket, []byte) {
			log := catalog(root).Bucket(bucketLog)
			k, _ := log.Cursor().Last()
			return log, bytes.Clone(k)
		}, func(idx Index) error { _, _, err := idx.Read(ctx, "orders", 0); return err }},
		{"head", func(root *bolt.Bucket) (*bolt.Bucket, []byte) { return catalog(root), keyHead },
			func(idx Index) error { _, _, err := idx.Read(ctx, "orders", 0); return err }},
		{"delta ID", func(root *bolt.Bucket) (*bolt.Bucket, []byte) {
			ids := catalog(root).Bucket(bucketIDs)
			return ids, firstKey(ids)
		}, nil},
		{"config", func(root *bolt.Bucket) (*bolt.Bucket, []byte) { return root, keySetting },
			func(idx Index) error { _, err := idx.LoadConfig(ctx); return err }},
		{"script name", func(root *bolt.Bucket) (*bolt.Bucket, []byte) { return root.Bucket(bucketScripts), nameKey("counter") },
			func(idx Index) error { _, err := idx.ScriptHash(ctx, "counter"); return err }},
		{"script source", func(root *bolt.Bucket) (*bolt.Bucket, []byte) {
			return root.Bucket(bucketScriptSources), nameKey("h0")
		}, func(idx Index) error { _, err := idx.ScriptSource(ctx, "h0"); return err }},
		{"lake ID", func(root *bolt.Bucket) (*bolt.Bucket, []byte) { return root, keyLakeID },
			func(idx Index) error { _, err := idx.LakeID(ctx); return err }},
		{"history key", func(root *bolt.Bucket) (*bolt.Bucket, []byte) { return catalog(root), keyHistory },
			func(idx Index) error { _, _, _, err := idx.Range(ctx, "orders", 0, MaxVersion); return err }},
		{"snapshot history entry", func(root *bolt.Bucket) (*bolt.Bucket, []byte) {
			snaps := catalog(root).Bucket(bucketSnaps)
			return snaps, firstKey(snaps)
		}, func(idx Index) error { _, err := idx.Snapshots(ctx, "orders", MaxVersion, 10); return err }},
		{"segment", func(root *bolt.Bucket) (*bolt.Bucket, []byte) {
			segs := catalog(root).Bucket(bucketSegs)
			return segs, firstKey(segs)
		}, func(idx Index) error { _, _, _, err := idx.Range(ctx, "orders", 0, MaxVersion); return err }},
		{"deletion version", func(root *bolt.Bucket) (*bolt.Bucket, []byte) { return root.Bucket(bucketGone), nameKey("dropped") },
			func(idx Index) error { _, _, err := idx.Read(ctx, "dropped", 0); return err }},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			dir := t.TempDir()
			buildFixture(t, dir, 20, false)
			idx := openFileTest(t, dir, Options{})
			// Flip one byte in the middle of the value, behind the engine's back.
			must(t, idx.db.Update(func(tx *bolt.Tx) error {
				b, k := tg.locate(tx.Bucket(idx.root))
				v := bytes.Clone(b.Get(k))
				v[len(v)/2] ^= 0x20
				return b.Put(k, v)
			}))
			if tg.read != nil {
				if err := tg.read(idx); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("read of a flipped %s: %v, want ErrCorrupt", tg.name, err)
				}
			}
			must(t, idx.Close())
			_, err := Open(ctx, "file://"+dir, Options{})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "Restore meta.db from a backup") {
				t.Fatalf("Open of a file with a flipped %s: %v, want ErrCorrupt saying how to recover", tg.name, err)
			}
		})
	}
}

// A file whose namespace was written before sealed values (no checksums,
// the head in three keys) opens, reads, takes commits and passes the check
// at Open afterwards.
func TestFileWrittenBeforeSealingStillOpensAndReads(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	deltas := []Delta{
		{Version: 1000, ID: "a", Field: "x", Merge: "set", BodyKey: "c/a.json"},
		{Version: 1005, ID: "b", Field: "y.z", Merge: "patch", BodyKey: "c/b.json", Script: "s@h"},
		{Version: 1010, ID: "c", Field: "x", Merge: "delete"},
	}
	must(t, db.Update(func(tx *bolt.Tx) error {
		root, _ := tx.CreateBucket([]byte("lake"))
		scripts, _ := root.CreateBucket(bucketScripts)
		sources, _ := root.CreateBucket(bucketScriptSources)
		catalogs, _ := root.CreateBucket(bucketCatalogs)
		must(t, root.Put(keySetting, []byte(`{"a":1}`)))
		must(t, scripts.Put(nameKey("s"), []byte("h")))
		must(t, sources.Put(nameKey("h"), []byte("function s() {}")))
		cat, _ := catalogs.CreateBucket(nameKey("c"))
		log, _ := cat.CreateBucket(bucketLog)
		ids, _ := cat.CreateBucket(bucketIDs)
		for _, d := range deltas {
			must(t, log.Put(versionKey(d.Version), []byte(mustEncodeMember(t, d))))
			must(t, ids.Put([]byte(d.ID), versionKey(d.Version)))
		}
		must(t, cat.Put(keyVersion, versionKey(1010)))
		must(t, cat.Put(keySnapVersion, versionKey(1005)))
		return cat.Put(keySnapKey, []byte("c/snap"))
	}))
	must(t, db.Close())

	ctx := context.Background()
	idx := openFileTest(t, dir, Options{})
	if idx.strict {
		t.Fatal("a namespace written before sealing is taken as sealed")
	}
	head, got, err := idx.Read(ctx, "c", 0)
	if err != nil || head != (Head{Version: 1010, Snapshot: SnapshotPointer{Version: 1005, Key: "c/snap"}, Pending: 1, From: 1005}) || !reflect.DeepEqual(got, deltas[2:]) {
		t.Fatalf("Read = %+v, %+v, %v", head, got, err)
	}
	// History on the unsealed head: its own sealed key, the head untouched.
	must(t, idx.AddSegment(ctx, "c", Segment{After: 0, Last: 1005, Key: "c/seg"}))
	if head, _, err := idx.Read(ctx, "c", 0); err != nil || head.Archived != 1005 || head.Version != 1010 {
		t.Fatalf("Read after AddSegment = %+v, %v", head, err)
	}
	if config, err := idx.LoadConfig(ctx); err != nil || string(config) != `{"a":1}` {
		t.Fatalf("LoadConfig = %q, %v", config, err)
	}
	if src, err := idx.ScriptSource(ctx, "h"); err != nil || src != "function s() {}" {
		t.Fatalf("ScriptSource = %q, %v", src, err)
	}
	if v, err := idx.Commit(ctx, "c", Delta{ID: "b", Field: "y.z", Merge: "patch"}); err != nil || v != 1005 {
		t.Fatalf("retried commit = %d, %v; want 1005", v, err)
	}
	v, err := idx.Commit(ctx, "c", Delta{ID: "d", Field: "w", Merge: "set"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := idx.Remove(ctx, "c", 1000, "a"); err != nil || !ok {
		t.Fatalf("Remove = %v, %v", ok, err)
	}
	must(t, idx.Close())
	idx = openFileTest(t, dir, Options{})
	head, got, err = idx.Read(ctx, "c", 0)
	if err != nil || head.Version != v || head.Removals != 1 || head.Epoch != 0 || len(got) != 2 {
		t.Fatalf("after a commit and a removal: %+v, %+v, %v", head, got, err)
	}
	all, err := idx.Log(ctx, "c", 0, MaxVersion)
	if err != nil || len(all) != 3 || all[0] != deltas[1] {
		t.Fatalf("Log = %+v, %v", all, err)
	}
	if n, err := idx.Trim(ctx, "c", 1005); err != nil || n != 1 {
		t.Fatalf("Trim = %d, %v", n, err)
	}
	must(t, idx.Close())
	idx = openFileTest(t, dir, Options{})
	if _, segs, got, err := idx.Range(ctx, "c", 0, MaxVersion); err != nil || len(segs) != 1 || len(got) != 2 || got[0].Version != 1010 {
		t.Fatalf("Range after trim = %+v, %+v, %v", segs, got, err)
	}
}

// BenchmarkFileOpenCheck measures Open on a large file: the page check,
// Tx.Check and the value check (boltCheckLimit).
func BenchmarkFileOpenCheck(b *testing.B) {
	dir := b.TempDir()
	idx, err := Open(context.Background(), "file://"+dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				d := Delta{ID: uuid.NewString(), Field: "profile.field" + strconv.Itoa(i), Merge: "set", BodyKey: "c/" + uuid.NewString() + ".json"}
				if _, err := idx.Commit(context.Background(), "c"+strconv.Itoa(w%16), d); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	idx.Close()
	info, _ := os.Stat(filepath.Join(dir, "meta.db"))
	b.ResetTimer()
	for range b.N {
		idx, err := Open(context.Background(), "file://"+dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		idx.Close()
	}
	b.ReportMetric(float64(info.Size())/1e6, "MB")
	b.ReportMetric(float64(info.Size())/1e6/(b.Elapsed().Seconds()/float64(b.N)), "MB/s")
}

// A crash while bbolt writes a meta page leaves it torn (a bad checksum):
// bbolt then uses the other one, the previous transaction's, and the check
// at Open must accept that (it is how bbolt is crash-safe), with the
// previous transaction's answers.
func TestFileTornNewestMetaOpensAtThePreviousTransaction(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	idx := openFileTest(t, dir, Options{})
	v1, err := idx.Commit(ctx, "c", Delta{ID: "a", Field: "x", Merge: "set"})
	must(t, err)
	must(t, idx.StoreConfig(ctx, []byte(`{"before":1}`)))
	must(t, idx.StoreConfig(ctx, []byte(`{"after":1}`)))
	must(t, idx.Close())
	path := filepath.Join(dir, "meta.db")
	data, err := os.ReadFile(path)
	must(t, err)
	ps := os.Getpagesize()
	// The newest meta has the higher txid (at offset 16+48 of its page).
	txid := func(page int) uint64 { return ne.Uint64(data[page*ps+16+48:]) }
	newest := 0
	if txid(1) > txid(0) {
		newest = 1
	}
	for i := 16 + 8; i < 16+64; i++ {
		data[newest*ps+i] ^= 0x5a
	}
	must(t, os.WriteFile(path, data, 0o600))
	idx = openFileTest(t, dir, Options{})
	if config, err := idx.LoadConfig(ctx); err != nil || string(config) != `{"before":1}` {
		t.Fatalf("config after a torn meta page: %q, %v; want the previous transaction's", config, err)
	}
	if head, _, err := idx.Read(ctx, "c", 0); err != nil || head.Version != v1 {
		t.Fatalf("Read after a torn meta page: %+v, %v", head, err)
	}
}
