package lake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/internal/testenv"
	"github.com/hkloudou/lake/v2/server"
	"github.com/hkloudou/lake/v2/storage"
)

func withLog(w *testenv.LogBuffer) func(*lake.Option) {
	return func(o *lake.Option) { o.Logger = slog.New(slog.NewTextHandler(w, nil)) }
}

func TestRequireDurableStorageRefusesWritesIntoProcessMemory(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	strict := l.client(func(o *lake.Option) { o.RequireDurableStorage = true })
	err := strict.Write(ctx, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	if !errors.Is(err, lake.ErrNoDurableStorage) || !strings.Contains(err.Error(), "no config is stored") {
		t.Fatalf("write without a config: %v, want ErrNoDurableStorage saying why", err)
	}
	if n := l.logLen("c"); n != 0 {
		t.Fatalf("a refused write committed %d entries", n)
	}
	// A config naming memory storage is no better.
	if err := strict.UpdateConfig(ctx, &config.Config{Storage: "memory"}); err != nil {
		t.Fatal(err)
	}
	if err := strict.Write(ctx, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1}); !errors.Is(err, lake.ErrNoDurableStorage) {
		t.Fatalf("write with a memory config: %v", err)
	}
	// Durable storage: the write goes through.
	if err := strict.UpdateConfig(ctx, &config.Config{Storage: "local", Path: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, strict, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
}

func TestAnEmptyConfigIsInvalidAndStoresNothing(t *testing.T) {
	l := newTestLake(t)
	client := l.client()
	for _, cfg := range []*config.Config{{}, {Name: "x", Path: t.TempDir()}, nil} {
		if err := client.UpdateConfig(context.Background(), cfg); !errors.Is(err, lake.ErrInvalidConfig) {
			t.Fatalf("UpdateConfig(%v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	if raw := l.rawConfig(); raw != "" {
		t.Fatalf("stored %s", raw)
	}
}

func TestMovingALakeWithDataToAnotherStoreNeedsForce(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	client := l.client()
	dirA, dirB := t.TempDir(), t.TempDir()
	// Leaving the memory fallback is not a move.
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	if err := client.UpdateConfig(ctx, &config.Config{Storage: "local", Path: dirA}); err != nil {
		t.Fatalf("memory -> local: %v", err)
	}
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "b", Value: 2})
	for _, next := range []*config.Config{
		{Storage: "local", Path: dirB},
		{Storage: "memory"},
		{Storage: "local", Path: dirA, AESPwd: "pw"}, // turning encryption on is allowed
	} {
		err := client.UpdateConfig(ctx, next)
		if next.AESPwd != "" {
			if err != nil {
				t.Fatalf("turning encryption on: %v", err)
			}
			continue
		}
		if !errors.Is(err, lake.ErrStorageChange) || !strings.Contains(err.Error(), "old store") {
			t.Fatalf("UpdateConfig(%v) = %v, want ErrStorageChange", next, err)
		}
	}
	// A new password for encrypted bodies is a move too.
	if err := client.UpdateConfig(ctx, &config.Config{Storage: "local", Path: dirA, AESPwd: "other"}); !errors.Is(err, lake.ErrStorageChange) {
		t.Fatalf("password change: %v", err)
	}
	if cfg, _ := client.GetConfig(ctx); cfg.Path != dirA || cfg.AESPwd != "pw" {
		t.Fatalf("a refused config was applied: %v", cfg)
	}
	if err := client.UpdateConfig(ctx, &config.Config{Storage: "local", Path: dirB}, lake.ForceStorageChange()); err != nil {
		t.Fatalf("forced: %v", err)
	}
	if cfg, _ := client.GetConfig(ctx); cfg.Path != dirB {
		t.Fatalf("forced config not applied: %v", cfg)
	}
	// An empty lake may move freely.
	empty := newTestLake(t).client()
	if err := empty.UpdateConfig(ctx, &config.Config{Storage: "local", Path: dirA}); err != nil {
		t.Fatal(err)
	}
	if err := empty.UpdateConfig(ctx, &config.Config{Storage: "local", Path: dirB}); err != nil {
		t.Fatalf("moving an empty lake: %v", err)
	}
}

func TestSecretsComeFromTheEnvironmentAndNeverFallBackToPlaintext(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv(config.EnvAESPwd, "from-the-environment")
	writer := l.client()
	if err := writer.UpdateConfig(ctx, &config.Config{Storage: "local", Path: dir, Encrypt: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(l.rawConfig(), "from-the-environment") {
		t.Fatalf("the stored config holds the password: %s", l.rawConfig())
	}
	mustWrite(t, writer, lake.WriteRequest{Catalog: "c", Field: "secret", Value: "plain words"})
	objects, _ := filepath.Glob(filepath.Join(dir, "c", "*.json"))
	for _, path := range objects {
		if data, _ := os.ReadFile(path); bytes.Contains(data, []byte("plain words")) {
			t.Fatalf("%s is stored in plaintext", path)
		}
	}
	if kind, _ := writer.StorageKind(ctx); kind != "encrypted(local)" {
		t.Fatalf("storage %q", kind)
	}
	// A process without the password refuses to run, loudly.
	t.Setenv(config.EnvAESPwd, "")
	err := l.client().Write(ctx, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	if !errors.Is(err, lake.ErrInvalidConfig) || !strings.Contains(err.Error(), config.EnvAESPwd) {
		t.Fatalf("a process without the password: %v", err)
	}
}

func TestInvalidUTF8IsRefusedEverywhere(t *testing.T) {
	l := newTestLake(t)
	client := l.client()
	ctx := context.Background()
	type nested struct {
		Tags []string `json:"tags"`
	}
	for name, value := range map[string]any{
		"string":      "bad \xff byte",
		"map key":     map[string]int{"k\xc3\x28": 1},
		"nested":      map[string]any{"a": []any{nested{Tags: []string{"ok", "\xff"}}}},
		"raw message": json.RawMessage("\"\xff\""),
		"lake.JSON":   lake.JSON("{\"a\":\"\xfe\"}"),
		"a Marshaler": halfCharacter{},
	} {
		if err := client.Write(ctx, lake.WriteRequest{Catalog: "u", Field: "f", Value: value}); !errors.Is(err, lake.ErrInvalidValue) {
			t.Errorf("%s: %v, want ErrInvalidValue", name, err)
		}
	}
	if err := client.Write(ctx, lake.WriteRequest{Catalog: "u", Field: "a.\xff", Value: 1}); !errors.Is(err, lake.ErrInvalidField) {
		t.Errorf("field: %v, want ErrInvalidField", err)
	}
	if n := l.logLen("u"); n != 0 {
		t.Fatalf("%d entries committed", n)
	}
	// A real U+FFFD, and a JSON escape of it, are valid text.
	mustWrite(t, client, lake.WriteRequest{Catalog: "u", Field: "r", Value: "\uFFFD"})
	mustWrite(t, client, lake.WriteRequest{Catalog: "u", Field: "e", Value: json.RawMessage(`"\ufffd"`)})
}

func TestADocumentOverMaxDocumentSizeIsATypedError(t *testing.T) {
	l := newTestLake(t)
	store := storage.NewMemoryStorage()
	writer := l.client(withStorage(store))
	big := strings.Repeat("x", 4000)
	for _, f := range []string{"a", "b", "c"} {
		mustWrite(t, writer, lake.WriteRequest{Catalog: "big", Field: f, Value: big})
	}
	small := l.client(withStorage(store), func(o *lake.Option) { o.MaxDocumentSize = 10000 })
	_, err := small.Read(context.Background(), lake.ReadRequest{Catalog: "big"})
	if !errors.Is(err, lake.ErrDocumentTooLarge) {
		t.Fatalf("read: %v, want ErrDocumentTooLarge", err)
	}
	// The snapshot of it is refused before it is decoded.
	if res := mustRead(t, writer, lake.ReadRequest{Catalog: "big", GenerateSnap: true}); !res.Snapshot.Saved {
		t.Fatal("snapshot not saved")
	}
	fresh := l.client(withStorage(store), func(o *lake.Option) { o.MaxDocumentSize = 10000 })
	if _, err := fresh.Read(context.Background(), lake.ReadRequest{Catalog: "big"}); !errors.Is(err, lake.ErrDocumentTooLarge) {
		t.Fatalf("read from the snapshot: %v", err)
	}
}

// A Redis that restarts without persistence loses every log. A client that
// had a document in memory must not keep serving it as if the log still
// justified it.
func TestAClientNoticesAMetaStoreThatLostItsData(t *testing.T) {
	server := redistest.StartServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	local, _ := storage.NewLocalStorage(dir)
	var logs testenv.LogBuffer
	old := lake.NewLake(server.URL, withStorage(local), withLog(&logs))
	defer old.Close()
	oldID, err := old.LakeID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, old, lake.WriteRequest{Catalog: "u", Field: "a", Value: 1})
	mustWrite(t, old, lake.WriteRequest{Catalog: "u", Field: "b", Value: 2})
	if res := mustRead(t, old, lake.ReadRequest{Catalog: "u"}); res.Data.String() != `{"a":1,"b":2}` {
		t.Fatal(res.Data)
	}

	server.Restart(t) // no persistence: the index is gone

	fresh := lake.NewLake(server.URL, withStorage(local), withLog(&testenv.LogBuffer{}))
	defer fresh.Close()
	mustWrite(t, fresh, lake.WriteRequest{Catalog: "u", Field: "b", Value: 2})
	want := mustRead(t, fresh, lake.ReadRequest{Catalog: "u"})
	if want.Data.String() != `{"b":2}` {
		t.Fatal(want.Data)
	}
	var got *lake.ReadResult
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, err = old.Read(ctx, lake.ReadRequest{Catalog: "u"}); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got.Data.String() != want.Data.String() || got.Version != want.Version {
		t.Fatalf("the long-lived client read %s@%d, a fresh one %s@%d", got.Data, got.Version, want.Data, want.Version)
	}
	if !strings.Contains(logs.String(), "WAS RESET") || !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("no error logged about the reset:\n%s", logs.String())
	}
	if id, _ := old.LakeID(ctx); id == oldID {
		t.Fatalf("the lake id %s survived the reset", id)
	}

	// A catalog the long-lived client cached and nobody rewrote reads as
	// empty, not as its old document.
	mustWrite(t, old, lake.WriteRequest{Catalog: "v", Field: "x", Value: 1})
	mustRead(t, old, lake.ReadRequest{Catalog: "v"})
	server.Restart(t)
	deadline = time.Now().Add(10 * time.Second)
	for {
		if got, err = old.Read(ctx, lake.ReadRequest{Catalog: "v"}); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || got.Version != 0 || got.Data.String() != `{}` {
		t.Fatalf("after a second reset the client read %v@%v, %v", got.Data, got.Version, err)
	}
}

func TestRemovedEntriesLeaveEveryReaderAndNoLateSnapshotBringsThemBack(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	dir := t.TempDir()
	local, _ := storage.NewLocalStorage(dir)
	reader := l.client(withStorage(local))
	writer := l.client(withStorage(local))
	mustWrite(t, writer, lake.WriteRequest{Catalog: "r", Field: "keep", Value: 1})
	bad := mustWrite(t, writer, lake.WriteRequest{Catalog: "r", Field: "gone", Value: 2})
	if res := mustRead(t, reader, lake.ReadRequest{Catalog: "r"}); res.Data.String() != `{"gone":2,"keep":1}` {
		t.Fatal(res.Data)
	}
	entry, err := writer.RemoveDelta(ctx, "r", bad)
	if err != nil || entry.Field != "gone" || entry.Version != bad || entry.Object == "" {
		t.Fatalf("RemoveDelta = %+v, %v", entry, err)
	}
	if _, err := writer.RemoveDelta(ctx, "r", bad); !errors.Is(err, lake.ErrDeltaNotFound) {
		t.Fatalf("second RemoveDelta: %v", err)
	}
	// The reader had the entry folded in memory: it must not serve it, nor
	// save a snapshot holding it.
	res := mustRead(t, reader, lake.ReadRequest{Catalog: "r", GenerateSnap: true})
	if res.Data.String() != `{"keep":1}` {
		t.Fatalf("after the removal the reader read %s", res.Data)
	}
	cold := mustRead(t, l.client(withStorage(local)), lake.ReadRequest{Catalog: "r"})
	if cold.Data.String() != `{"keep":1}` {
		t.Fatalf("a cold read after the removal: %s", cold.Data)
	}
}

func TestCheckFindsBrokenEntriesAndRepairMakesTheCatalogReadableAgain(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	dir := t.TempDir()
	local, _ := storage.NewLocalStorage(dir)
	client := l.client(withStorage(local), withoutCache)
	mustWrite(t, client, lake.WriteRequest{Catalog: "k", Field: "ok", Value: 1})
	missing := mustWrite(t, client, lake.WriteRequest{Catalog: "k", Field: "lost", Value: 2})
	corrupt := mustWrite(t, client, lake.WriteRequest{Catalog: "k", Field: "junk", Value: 3})
	mustWrite(t, client, lake.WriteRequest{Catalog: "k", Field: "after", Value: 4})
	// Another process kept one body in its memory.
	memory := l.client(withStorage(storage.NewMemoryStorage()))
	held := mustWrite(t, memory, lake.WriteRequest{Catalog: "k", Field: "held", Value: 5})
	mustWrite(t, client, lake.WriteRequest{Catalog: "clean", Field: "a", Value: 1})

	objects := map[int64]string{}
	report, err := client.Check(ctx, "k", lake.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if report.Catalogs != 1 || report.Deltas != 5 || len(report.Problems) != 1 || report.Problems[0].Version != held {
		t.Fatalf("before breaking anything, only the body held by the other process is a problem: %+v", report)
	}
	// Break two bodies by hand: each sequential write has a pack of its own.
	for _, key := range packKeys(t, dir) {
		parts, err := storage.ReadParts(ctx, local, key)
		if err != nil {
			t.Fatal(err)
		}
		switch string(parts[1].Data) {
		case "2":
			local.Delete(ctx, key)
			objects[missing] = key
		case "3":
			rewritePart(t, local, key, 1, []byte("{"))
			objects[corrupt] = key
		}
	}
	if len(objects) != 2 {
		t.Fatalf("found %d of the bodies to break", len(objects))
	}
	if _, err := client.Read(ctx, lake.ReadRequest{Catalog: "k"}); !errors.Is(err, lake.ErrBodyMissing) {
		t.Fatalf("the broken catalog read: %v", err)
	}

	report, err = client.CheckAll(ctx, lake.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[int64]string{}
	for _, p := range report.Problems {
		if p.Catalog != "k" || p.Removed {
			t.Fatalf("problem %+v", p)
		}
		kinds[p.Version] = p.Kind
	}
	want := map[int64]string{missing: lake.ProblemBodyMissing, corrupt: lake.ProblemBodyCorrupt, held: lake.ProblemMemoryBody}
	if report.Catalogs != 2 || len(kinds) != 3 || kinds[missing] != want[missing] || kinds[corrupt] != want[corrupt] || kinds[held] != want[held] {
		t.Fatalf("check found %+v, want %v", report, want)
	}

	report, err = client.Check(ctx, "k", lake.CheckOptions{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range report.Problems {
		if !p.Removed {
			t.Fatalf("repair left %+v", p)
		}
	}
	res := mustRead(t, client, lake.ReadRequest{Catalog: "k", Strict: true})
	if res.Data.String() != `{"after":4,"ok":1}` {
		t.Fatalf("after repair: %s", res.Data)
	}
	if report, _ = client.Check(ctx, "k", lake.CheckOptions{}); len(report.Problems) != 0 || report.Deltas != 2 {
		t.Fatalf("after repair, check found %+v", report)
	}
	if _, err := client.Check(ctx, "bad name!", lake.CheckOptions{}); !errors.Is(err, lake.ErrInvalidCatalog) {
		t.Fatalf("check of an invalid name: %v", err)
	}
}

func TestCheckReportsAMissingSnapshotWithoutTouchingTheLog(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	store := storage.NewMemoryStorage()
	client := l.client(withStorage(store))
	mustWrite(t, client, lake.WriteRequest{Catalog: "s", Field: "a", Value: 1})
	if !mustRead(t, client, lake.ReadRequest{Catalog: "s", GenerateSnap: true}).Snapshot.Saved {
		t.Fatal("no snapshot")
	}
	store.Delete(ctx, l.snapshotKey("s"))
	report, err := client.Check(ctx, "s", lake.CheckOptions{Repair: true})
	if err != nil || len(report.Problems) != 1 || report.Problems[0].Kind != lake.ProblemSnapshotMissing || report.Problems[0].Removed {
		t.Fatalf("check: %+v, %v", report, err)
	}
	if l.logLen("s") != 1 {
		t.Fatal("repair touched the log for a snapshot problem")
	}
}

func TestMetaWarningsAndLakeIDOnASafeAndAnUnsafeRedis(t *testing.T) {
	ctx := context.Background()
	unsafe := redistest.StartServer(t, "--maxmemory-policy", "allkeys-lru")
	client := lake.NewLake(unsafe.URL, withLog(&testenv.LogBuffer{}))
	defer client.Close()
	warnings, err := client.MetaWarnings(ctx)
	if err != nil || len(warnings) == 0 {
		t.Fatalf("an evicting Redis without persistence: %v, %v", warnings, err)
	}
	var text []string
	for _, w := range warnings {
		text = append(text, w.String())
	}
	if joined := strings.Join(text, "\n"); !strings.Contains(joined, "maxmemory-policy") || !strings.Contains(joined, "allkeys-lru") {
		t.Fatalf("warnings %s", joined)
	}
	safe := redistest.StartServer(t, "--appendonly", "yes", "--maxmemory-policy", "noeviction")
	good := lake.NewLake(safe.URL, withLog(&testenv.LogBuffer{}))
	defer good.Close()
	if warnings, err := good.MetaWarnings(ctx); err != nil || len(warnings) != 0 {
		t.Fatalf("a safe Redis: %v, %v", warnings, err)
	}
	id, err := good.LakeID(ctx)
	if again, err2 := good.LakeID(ctx); err != nil || err2 != nil || id == "" || again != id {
		t.Fatalf("lake id %q %q %v %v", id, again, err, err2)
	}
	file := lake.NewLake("file://"+t.TempDir(), withLog(&testenv.LogBuffer{}))
	defer file.Close()
	if warnings, err := file.MetaWarnings(ctx); err != nil || len(warnings) != 0 {
		t.Fatalf("a file lake: %v, %v", warnings, err)
	}
}

// After a reset the stored config is gone too: a long-lived client loads it
// again instead of writing where no other client looks.
func TestAClientReloadsTheConfigAfterAMetaStoreReset(t *testing.T) {
	server := redistest.StartServer(t)
	ctx := context.Background()
	old := lake.NewLake(server.URL, withLog(&testenv.LogBuffer{}), func(o *lake.Option) { o.RequireDurableStorage = true })
	defer old.Close()
	if err := old.UpdateConfig(ctx, &config.Config{Storage: "local", Path: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, old, lake.WriteRequest{Catalog: "u", Field: "a", Value: 1})
	mustRead(t, old, lake.ReadRequest{Catalog: "u"})

	server.Restart(t)

	var res *lake.ReadResult
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err = old.Read(ctx, lake.ReadRequest{Catalog: "u"}); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || res.Version != 0 {
		t.Fatalf("read after the reset: %+v, %v", res, err)
	}
	if cfg, err := old.GetConfig(ctx); err != nil || cfg != nil {
		t.Fatalf("after the reset the client still runs with %v (%v); the meta store holds no config", cfg, err)
	}
	if err := old.Write(ctx, lake.WriteRequest{Catalog: "u", Field: "a", Value: 2}); !errors.Is(err, lake.ErrNoDurableStorage) {
		t.Fatalf("a write after the reset: %v, want ErrNoDurableStorage like every other client", err)
	}
}

// A log entry the index cannot decode is ErrCorrupt to callers, and
// "corrupt" over HTTP, not an internal error.
func TestACorruptLogEntryIsErrCorruptEverywhere(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	client := l.client()
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	cmd := l.redis.B().Zadd().Key(l.prefix+"lake:{c}:log").ScoreMember().ScoreMember(float64(1), "not a log entry").Build()
	if err := l.redis.Do(ctx, cmd).Error(); err != nil {
		t.Fatal(err)
	}
	_, err := l.client().Read(ctx, lake.ReadRequest{Catalog: "c"})
	if !errors.Is(err, lake.ErrCorrupt) {
		t.Fatalf("read: %v, want ErrCorrupt", err)
	}
	if code, status := server.Classify(err); code != server.CodeCorrupt || status != 500 {
		t.Fatalf("over HTTP: %s %d, want corrupt 500", code, status)
	}
	if lake.IsInputError(err) {
		t.Fatal("a corrupt entry counted as the caller's input")
	}
}

func TestIsInputErrorPutsStoredDataFirst(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("x: %w", lake.ErrInvalidField):                          true,
		fmt.Errorf("x: %w", lake.ErrInvalidConfig):                         true,
		fmt.Errorf("%w: delta: %w", lake.ErrCorrupt, lake.ErrInvalidValue): false,
		fmt.Errorf("%w: %w", lake.ErrScriptFailed, lake.ErrInvalidValue):   false,
		fmt.Errorf("%w: %w", lake.ErrDeltaConflict, lake.ErrInvalidField):  false,
		fmt.Errorf("%w: %w", lake.ErrBodyMissing, lake.ErrInvalidCatalog):  false,
		lake.ErrMetaUnavailable:                                            false,
		nil:                                                                false,
	} {
		if got := lake.IsInputError(err); got != want {
			t.Errorf("IsInputError(%v) = %v, want %v", err, got, want)
		}
	}
}

// A process that lacks the stored config's secrets can still be told why a
// new config is refused: it never panics on the old config it cannot open.
func TestUpdateConfigOfALakeWhoseSecretsThisProcessLacks(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv(config.EnvAESPwd, "the-password")
	writer := l.client()
	if err := writer.UpdateConfig(ctx, &config.Config{Storage: "local", Path: dir, Encrypt: true}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, writer, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	t.Setenv(config.EnvAESPwd, "")
	other := l.client()
	err := other.UpdateConfig(ctx, &config.Config{Storage: "local", Path: t.TempDir()})
	if !errors.Is(err, lake.ErrStorageChange) {
		t.Fatalf("UpdateConfig without the old password: %v, want ErrStorageChange", err)
	}
	if err := other.UpdateConfig(ctx, &config.Config{Storage: "local", Path: dir, Encrypt: true}); !errors.Is(err, lake.ErrInvalidConfig) {
		t.Fatalf("the same config without a password here: %v, want ErrInvalidConfig", err)
	}
}

// halfCharacter marshals to a JSON escape of half a character, which
// decoding would turn into U+FFFD.
type halfCharacter struct{}

func (halfCharacter) MarshalJSON() ([]byte, error) { return []byte(`"\ud800"`), nil }

// Check reports what breaks a read, nothing more: a body with invalid
// UTF-8 (which older versions stored) still folds, so it is not a problem
// and a repair keeps it.
func TestCheckKeepsABodyThatStillFolds(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	dir := t.TempDir()
	local, _ := storage.NewLocalStorage(dir)
	client := l.client(withStorage(local), withoutCache)
	mustWrite(t, client, lake.WriteRequest{Catalog: "u", Field: "a", Value: "abcdefghij"})
	keys := packKeys(t, dir)
	if len(keys) != 1 {
		t.Fatal(keys)
	}
	rewritePart(t, local, keys[0], 1, []byte("\"bad \xff byte\""))
	if _, err := client.Read(ctx, lake.ReadRequest{Catalog: "u", Strict: true}); err != nil {
		t.Fatalf("the body no longer folds: %v", err)
	}
	report, err := client.Check(ctx, "u", lake.CheckOptions{Repair: true})
	if err != nil || len(report.Problems) != 0 || l.logLen("u") != 1 {
		t.Fatalf("check: %+v, %v; log holds %d", report, err, l.logLen("u"))
	}
}
