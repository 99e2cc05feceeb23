package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/index"
)

// wipeIndex erases the namespace of the lake meta (a redisLake) in Redis:
// its config, its scripts, every catalog.
func wipeIndex(t *testing.T, meta []string) {
	t.Helper()
	ctx := context.Background()
	idx, err := index.Open(ctx, meta[1], index.Options{KeyPrefix: meta[3]})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if err := idx.(index.Wiper).Wipe(ctx); err != nil {
		t.Fatal(err)
	}
}

// recovered decodes the lines lake recover printed, by catalog.
func recovered(t *testing.T, stdout string) map[string]lake.RecoveredCatalog {
	t.Helper()
	out := map[string]lake.RecoveredCatalog{}
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var rc lake.RecoveredCatalog
		if err := json.Unmarshal([]byte(line), &rc); err != nil {
			t.Fatalf("recover line %q: %v", line, err)
		}
		out[rc.Name] = rc
	}
	return out
}

// TestRecoverRebuildsAWipedIndexFromItsConfigFile: after the index lost
// everything, its config included, lake recover --config FILE brings back
// every catalog as it read; --dry-run writes nothing, not even the config;
// an index that has catalogs again is refused unless --force.
func TestRecoverRebuildsAWipedIndexFromItsConfigFile(t *testing.T) {
	dir := t.TempDir()
	meta := redisLake(t)
	cfgFile := filepath.Join(dir, "lake-config.json")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, `{"storage":"local","path":%q}`, filepath.Join(dir, "objects")), 0o600); err != nil {
		t.Fatal(err)
	}
	mustLake(t, dir, "", append(meta, "config", "set", cfgFile)...)
	v1 := writeVersion(t, dir, meta, "a", "profile.name", `"Ada"`)
	writeVersion(t, dir, meta, "a", "profile", `{"age":36}`, "--merge", "patch")
	writeVersion(t, dir, meta, "b", "x", "1")
	writeVersion(t, dir, meta, "b", "y", "[1,2]")
	writeVersion(t, dir, meta, "c", "n", `{"deep":{"er":true}}`)
	writeVersion(t, dir, meta, "gone", "x", "1")
	mustLake(t, dir, "", append(meta, "delete", "gone")...) // archived, then deleted
	mustLake(t, dir, "", append(meta, "compact", "--all")...)
	// After the compaction, only packs hold them: best effort.
	writeVersion(t, dir, meta, "a", "note", `"after the compaction"`)
	writeVersion(t, dir, meta, "d", "only", `"packs"`)
	docs := map[string]string{}
	for _, name := range []string{"a", "b", "c", "d", "gone"} {
		docs[name] = mustLake(t, dir, "", append(meta, "read", name)...)
	}

	wipeIndex(t, meta)
	if out := mustLake(t, dir, "", append(meta, "read", "a")...); out != "{}\n" {
		t.Fatalf("read after the wipe: %q", out)
	}
	r := runLake(t, dir, "", append(meta, "recover")...)
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "no config is stored in the index") || !strings.Contains(r.stderr, "give --config") {
		t.Fatalf("recover without a stored config: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	r = runLake(t, dir, "", append(meta, "recover", "--config", cfgFile, "--dry-run")...)
	if r.code != 0 || !strings.Contains(r.stderr, "dry run, nothing written: would rebuild 4 catalogs (0 skipped, 1 with nothing to restore)") {
		t.Fatalf("recover --dry-run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if rcs := recovered(t, r.stdout); len(rcs) != 5 || rcs["a"].Exact != 2 || rcs["a"].BestEffort != 1 || rcs["d"].BestEffort != 1 {
		t.Fatalf("recover --dry-run printed %+v", rcs)
	}
	if out := mustLake(t, dir, "", append(meta, "config", "get")...); out != "{}\n" {
		t.Fatalf("config after recover --dry-run: %q", out)
	}
	if out := mustLake(t, dir, "", append(meta, "catalogs", "--json")...); out != `{"catalogs":[]}`+"\n" {
		t.Fatalf("catalogs after recover --dry-run: %q", out)
	}

	r = runLake(t, dir, "", append(meta, "recover", "--config", cfgFile)...)
	if r.code != 0 || !strings.Contains(r.stderr, "config stored (storage local)") ||
		!strings.Contains(r.stderr, "rebuilt 4 catalogs (0 skipped, 1 with nothing to restore): 5 deltas exact, 2 best effort") || !strings.Contains(r.stderr, `"archived" version`) {
		t.Fatalf("recover --config: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rcs := recovered(t, r.stdout)
	if a := rcs["a"]; a.Archived < v1 || a.Snapshot != a.Archived || a.Segments != 1 || a.Exact != 2 || a.BestEffort != 1 {
		t.Fatalf("a recovered as %+v", a)
	}
	if d := rcs["d"]; d.Archived != 0 || d.BestEffort != 1 {
		t.Fatalf("d recovered as %+v", d)
	}
	for name, want := range docs {
		if out := mustLake(t, dir, "", append(meta, "read", name)...); out != want {
			t.Errorf("read %s after recover: %q, want %q", name, out, want)
		}
	}
	if out := mustLake(t, dir, "", append(meta, "read", "a", "--at", fmt.Sprint(v1))...); out != `{"profile":{"name":"Ada"}}`+"\n" {
		t.Errorf("read a --at %d after recover: %q", v1, out)
	}

	// The index has catalogs again: refused, and nothing is written.
	for _, args := range [][]string{{"recover"}, {"recover", "--config", cfgFile}} {
		r := runLake(t, dir, "", append(meta, args...)...)
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "the index still has catalogs") || !strings.Contains(r.stderr, "hint: ") ||
			!strings.Contains(r.stderr, "--force") {
			t.Errorf("lake %v onto a full index: exit %d %q %q", args, r.code, r.stdout, r.stderr)
		}
	}
	// --force rebuilds only what the index lacks: nothing here. A dry run
	// with --config reads the store it names beside the stored config.
	for _, args := range [][]string{{"recover", "--force"}, {"recover", "--force", "--dry-run", "--config", cfgFile}} {
		r = runLake(t, dir, "", append(meta, args...)...)
		if rcs := recovered(t, r.stdout); r.code != 0 || rcs["a"].Skipped == "" || rcs["c"].Skipped == "" || !strings.Contains(r.stderr, "0 catalogs (3 skipped") {
			t.Fatalf("lake %v: exit %d\n%s\n%s", args, r.code, r.stdout, r.stderr)
		}
	}
	// A --config that would move the catalogs' bodies, a bad config,
	// memory storage: refused.
	for _, args := range [][]string{
		{"recover", "--force", "--config", fmt.Sprintf(`{"storage":"local","path":%q}`, filepath.Join(dir, "elsewhere"))},
		{"recover", "--config", `{"storage":"floppy"}`},
		{"recover", "--config", filepath.Join(dir, "missing.json")},
		{"recover", "--storage", "memory", "--force"},
	} {
		if r := runLake(t, dir, "", append(meta, args...)...); r.code != 2 || r.stdout != "" {
			t.Errorf("lake %v: exit %d %q %q", args, r.code, r.stdout, r.stderr)
		}
	}
	if out := mustLake(t, dir, "", append(meta, "config", "get")...); !strings.Contains(out, filepath.Join(dir, "objects")) {
		t.Fatalf("config after the refused recoveries: %s", out)
	}
	for name, want := range docs {
		if out := mustLake(t, dir, "", append(meta, "read", name)...); out != want {
			t.Errorf("read %s after recover --force: %q, want %q", name, out, want)
		}
	}
}
