package index

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hkloudou/lake/v2/internal/redistest"
)

// Wiper: every engine erases its own namespace and nothing else.

// namespaces returns a function that opens the engine's kind of store, one
// server or directory shared by every call, under a key prefix.
func namespaces(t *testing.T, e engine) func(prefix string) Index {
	t.Helper()
	var url string
	base := ""
	switch e.name {
	case "redis":
		url = redistest.URL(t)
		base = redistest.Prefix(t, url)
	case "redis-cluster":
		url = redistest.StartCluster(t).URL
	case "file":
		url = "file://" + t.TempDir()
	default:
		t.Fatalf("no namespaces for engine %s", e.name)
	}
	return func(prefix string) Index {
		idx, err := Open(context.Background(), url, Options{KeyPrefix: base + prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close() })
		return idx
	}
}

// fill writes one of everything a namespace holds, and returns the lake ID.
func fill(t *testing.T, idx Index) string {
	t.Helper()
	ctx := context.Background()
	must(t, idx.StoreConfig(ctx, []byte(`{"storage":"memory"}`)))
	must(t, idx.PutScript(ctx, "counter", "h1", "function merge() {}"))
	for _, catalog := range []string{"a", "b"} {
		versions := commitN(t, idx, catalog, 3)
		if _, err := idx.SaveSnapshot(ctx, catalog, SnapshotPointer{Version: versions[1], Key: "snap"}, lineageOf(t, idx, catalog)); err != nil {
			t.Fatal(err)
		}
	}
	id, err := idx.LakeID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// mustBeFilled checks what fill wrote is all there.
func mustBeFilled(t *testing.T, idx Index, id string) {
	t.Helper()
	ctx := context.Background()
	if config, err := idx.LoadConfig(ctx); err != nil || string(config) != `{"storage":"memory"}` {
		t.Fatalf("config: %q, %v", config, err)
	}
	if hash, err := idx.ScriptHash(ctx, "counter"); err != nil || hash != "h1" {
		t.Fatalf("merge script: %q, %v", hash, err)
	}
	if list, err := idx.Catalogs(ctx, "", 10); err != nil || len(list) != 2 {
		t.Fatalf("catalogs: %v, %v", list, err)
	}
	if deltas, err := idx.Log(ctx, "a", 0, MaxVersion); err != nil || len(deltas) != 3 {
		t.Fatalf("log of a: %d deltas, %v", len(deltas), err)
	}
	if got, err := idx.LakeID(ctx); err != nil || got != id {
		t.Fatalf("lake ID %q, %v; want %q", got, err, id)
	}
}

func TestWipeRemovesEveryKeyOfItsPrefixAndNoOther(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			open := namespaces(t, e)
			// The file engine has one owner at a time: each namespace is
			// closed before the next opens.
			kept := open("kept:")
			keptID := fill(t, kept)
			must(t, kept.Close())

			wiped := open("wiped:")
			wipedID := fill(t, wiped)
			must(t, wiped.(Wiper).Wipe(ctx))

			if _, err := wiped.LoadConfig(ctx); !errors.Is(err, ErrNotFound) {
				t.Fatalf("config after Wipe: %v, want ErrNotFound", err)
			}
			if _, err := wiped.ScriptHash(ctx, "counter"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("merge script name after Wipe: %v, want ErrNotFound", err)
			}
			if _, err := wiped.ScriptSource(ctx, "h1"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("merge script source after Wipe: %v, want ErrNotFound", err)
			}
			if all, err := wiped.Scripts(ctx); err != nil || len(all) != 0 {
				t.Fatalf("merge scripts after Wipe: %v, %v", all, err)
			}
			if list, err := wiped.Catalogs(ctx, "", 10); err != nil || len(list) != 0 {
				t.Fatalf("catalogs after Wipe: %v, %v", list, err)
			}
			if head, deltas, err := wiped.Read(ctx, "a", 0); err != nil || head != (Head{}) || len(deltas) != 0 {
				t.Fatalf("read after Wipe: %+v, %d deltas, %v", head, len(deltas), err)
			}
			if r, ok := wiped.(*redisIndex); ok {
				if keys := redisKeysUnder(t, r, r.prefix); len(keys) != 0 {
					t.Fatalf("keys left after Wipe: %v", keys)
				}
			}
			if id, err := wiped.LakeID(ctx); err != nil || id == wipedID {
				t.Fatalf("lake ID after Wipe: %q, %v; want a new one", id, err)
			}

			// The engine goes on working, and lists a catalog it listed
			// before the wipe again.
			commitN(t, wiped, "a", 1)
			if list, err := wiped.Catalogs(ctx, "", 10); err != nil || len(list) != 1 || list[0].Name != "a" {
				t.Fatalf("catalogs after a commit following Wipe: %v, %v", list, err)
			}
			must(t, wiped.Close())

			mustBeFilled(t, open("kept:"), keptID)
		})
	}
}

// redisKeysUnder lists the keys starting with prefix on every node, without
// a MATCH pattern, so the listing does not share Wipe's escaping.
func redisKeysUnder(t *testing.T, r *redisIndex, prefix string) []string {
	t.Helper()
	var keys []string
	for _, node := range r.client.Nodes() {
		for cursor := uint64(0); ; {
			entry, err := node.Do(context.Background(), node.B().Scan().Cursor(cursor).Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range entry.Elements {
				if strings.HasPrefix(key, prefix) {
					keys = append(keys, key)
				}
			}
			if cursor = entry.Cursor; cursor == 0 {
				break
			}
		}
	}
	return keys
}

// A prefix is a literal, not a pattern: wiping "a*:" leaves "ab:" alone.
func TestRedisWipeTakesThePrefixLiterally(t *testing.T) {
	url := redistest.URL(t)
	base := redistest.Prefix(t, url)
	ctx := context.Background()
	open := func(prefix string) *redisIndex {
		idx, err := Open(ctx, url, Options{KeyPrefix: base + prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close() })
		return idx.(*redisIndex)
	}
	star, plain := open("a*:"), open("ab:")
	fill(t, star)
	plainID := fill(t, plain)
	for _, prefix := range []string{"a?:", "a[b]:", `a\b:`} {
		fill(t, open(prefix))
	}
	must(t, star.Wipe(ctx))
	if keys := redisKeysUnder(t, star, star.prefix); len(keys) != 0 {
		t.Fatalf("keys left under %s: %v", star.prefix, keys)
	}
	mustBeFilled(t, plain, plainID)
	for _, prefix := range []string{"a?:", "a[b]:", `a\b:`} {
		if keys := redisKeysUnder(t, star, base+prefix); len(keys) == 0 {
			t.Fatalf("wiping %sa*: took the keys of %s%s", base, base, prefix)
		}
	}
}

// Without a prefix a wipe would erase the whole server (Redis): refused,
// on every engine, before anything is removed.
func TestWipeRefusesAnEmptyKeyPrefix(t *testing.T) {
	ctx := context.Background()
	// A server of its own: nothing else's keys are at risk if Wipe does not
	// refuse.
	server := redistest.StartServer(t)
	client := redistest.Client(t, server.URL)
	if err := client.Do(ctx, client.B().Set().Key("other").Value("x").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{server.URL, "file://" + t.TempDir()} {
		idx, err := Open(ctx, url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer idx.Close()
		id := fill(t, idx)
		if err := idx.(Wiper).Wipe(ctx); !errors.Is(err, ErrNoKeyPrefix) {
			t.Fatalf("%s: Wipe without a prefix: %v, want ErrNoKeyPrefix", url, err)
		}
		mustBeFilled(t, idx, id)
	}
	if v, err := client.Do(ctx, client.B().Get().Key("other").Build()).ToString(); err != nil || v != "x" {
		t.Fatalf("a key outside the lake after a refused Wipe: %q, %v", v, err)
	}
}

func TestEmbeddedDirParsesOnlyFileURLs(t *testing.T) {
	for _, tc := range []struct {
		url, dir string
		ok       bool
	}{
		{"file:///abs/dir", "/abs/dir", true},
		{"file://./rel", "./rel", true},
		{"file://rel%20dir", "rel%20dir", true},
		{"file://", "", true},
		{"redis://127.0.0.1:6379", "", false},
		{"127.0.0.1:6379", "", false},
		{"unix:///tmp/redis.sock", "", false},
		{"", "", false},
	} {
		if dir, ok := EmbeddedDir(tc.url); dir != tc.dir || ok != tc.ok {
			t.Errorf("EmbeddedDir(%q) = %q, %v; want %q, %v", tc.url, dir, ok, tc.dir, tc.ok)
		}
	}
}

// The capabilities an opened index has, by engine: what the root package
// and the CLI branch on.
func TestCapabilitiesByEngine(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine, idx Index) {
		_, embedded := idx.(Embedded)
		_, checker := idx.(SafetyChecker)
		_, wiper := idx.(Wiper)
		isFile := e.name == "file"
		if embedded != isFile || checker == isFile || !wiper {
			t.Fatalf("Embedded %v, SafetyChecker %v, Wiper %v", embedded, checker, wiper)
		}
		if isFile {
			if _, err := os.Stat(filepath.Join(idx.(Embedded).Dir(), "meta.db")); err != nil {
				t.Fatalf("Dir %q does not hold meta.db: %v", idx.(Embedded).Dir(), err)
			}
		}
	})
}
