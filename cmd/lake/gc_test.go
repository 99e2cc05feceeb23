package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/internal/pack"
)

// TestGCDryRunDeletesNothingThenGCDeletesAnAbandonedPack: a pack no log
// entry names, older than the grace period, is listed by gc --dry-run and
// stays; gc deletes it; neither touches what a read needs.
func TestGCDryRunDeletesNothingThenGCDeletesAnAbandonedPack(t *testing.T) {
	dir := t.TempDir()
	meta := redisLakeWithStore(t, dir)
	writeVersion(t, dir, meta, "c", "a", "1")
	// An abandoned write's pack, made two hours ago.
	key := pack.Key(pack.NewID(time.Now().Add(-2 * time.Hour)))
	file := filepath.Join(dir, "objects", filepath.FromSlash(key))
	if err := os.WriteFile(file, []byte("abandoned"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := lake.GCObject{Key: key, Size: 9, Reason: "pack no log entry names"}
	deleted := func(stdout string) []lake.GCObject {
		t.Helper()
		var out []lake.GCObject
		for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
			if line == "" {
				continue
			}
			var obj lake.GCObject
			if err := json.Unmarshal([]byte(line), &obj); err != nil {
				t.Fatalf("gc line %q: %v", line, err)
			}
			out = append(out, obj)
		}
		return out
	}

	r := runLake(t, dir, "", append(meta, "gc", "--dry-run")...)
	if objs := deleted(r.stdout); r.code != 0 || len(objs) != 1 || objs[0] != want {
		t.Fatalf("gc --dry-run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, s := range []string{"dry run, nothing deleted: would delete 1 object, 9 B (9 bytes) of ", "floor version 0: the retention keeps every version"} {
		if !strings.Contains(r.stderr, s) {
			t.Fatalf("gc --dry-run summary lacks %q:\n%s", s, r.stderr)
		}
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("gc --dry-run deleted the pack: %v", err)
	}

	// Younger than --grace: kept.
	r = runLake(t, dir, "", append(meta, "gc", "--grace", "3h")...)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "lake gc: deleted 0 objects, 0 B (0 bytes) of ") {
		t.Fatalf("gc --grace 3h: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runLake(t, dir, "", append(meta, "gc")...)
	if objs := deleted(r.stdout); r.code != 0 || len(objs) != 1 || objs[0] != want || !strings.Contains(r.stderr, "lake gc: deleted 1 object, 9 B") {
		t.Fatalf("gc: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("gc left the abandoned pack: %v", err)
	}
	if out := mustLake(t, dir, "", append(meta, "read", "c")...); out != `{"a":1}`+"\n" {
		t.Fatalf("read after gc: %q", out)
	}

	for _, args := range [][]string{{"gc", "--grace", "30s"}, {"gc", "--grace=-1h"}, {"gc", "extra"}} {
		if r := runLake(t, dir, "", append(meta, args...)...); r.code != 2 || r.stdout != "" {
			t.Errorf("lake %v: exit %d %q %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

// TestGCRefusesAStoreThatCannotList: the bodies of a lake without a config,
// or of --storage memory, are in process memory, which gc cannot list:
// exit 1, with why.
func TestGCRefusesAStoreThatCannotList(t *testing.T) {
	dir := t.TempDir()
	meta := redisLake(t)
	mustLake(t, dir, "", append(meta, "--storage", "memory", "write", "c", "a", "1")...)
	for _, args := range [][]string{{"gc"}, {"--storage", "memory", "gc"}, {"gc", "--dry-run"}} {
		r := runLake(t, dir, "", append(meta, args...)...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "lake: gc: storage cannot list its keys") ||
			!strings.Contains(r.stderr, "hint: garbage collection and recovery list the object store's keys") {
			t.Errorf("lake %v: exit %d %q %q", args, r.code, r.stdout, r.stderr)
		}
	}
}
