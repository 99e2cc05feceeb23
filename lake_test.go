package lake_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/storage"
)

func testQuickStartPrintsTheMergedDocumentAsJSONText(t *testing.T, store storage.Storage) {
	client := newTestLake(t).client(withStorage(store))
	ctx := context.Background()
	err := client.Write(ctx, lake.WriteRequest{
		Catalog: "users",
		Field:   "profile.name",
		Value:   map[string]any{"first": "John", "last": "Doe"},
	})
	if err != nil {
		t.Fatal(err)
	}
	result, err := client.Read(ctx, lake.ReadRequest{Catalog: "users", GenerateSnap: true})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"profile":{"name":{"first":"John","last":"Doe"}}}`
	if got := fmt.Sprintln(result.Data); got != want+"\n" {
		t.Fatalf("fmt.Println(result.Data) printed %q, want %q", got, want)
	}
	if !result.Snapshot.Saved || result.Version == 0 {
		t.Fatalf("GenerateSnap did not save a snapshot: %+v", result.Snapshot)
	}
	var doc struct {
		Profile struct{ Name struct{ First, Last string } }
	}
	if err := result.Decode(&doc); err != nil || doc.Profile.Name.Last != "Doe" {
		t.Fatalf("Decode: %+v, %v", doc, err)
	}
}

func testReadOfACatalogNeverWrittenIsAnEmptyDocument(t *testing.T, store storage.Storage) {
	res := mustRead(t, newTestLake(t).client(withStorage(store)), lake.ReadRequest{Catalog: "nobody", GenerateSnap: true})
	if res.Data.String() != "{}" || res.Version != 0 || res.Snapshot.Saved {
		t.Fatalf("got %s at %d (%+v)", res.Data, res.Version, res.Snapshot)
	}
}

func TestNewLakeNeverFailsAndTheFirstOperationReportsABadURL(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		url  string
		want error
	}{
		{"http://127.0.0.1:6379", lake.ErrInvalidMetaURL},
		{"", lake.ErrInvalidMetaURL},
		{"redis://%zz", lake.ErrInvalidMetaURL},
		{"redis://127.0.0.1:1", lake.ErrMetaUnavailable},
		{"127.0.0.1:1", lake.ErrMetaUnavailable},
	} {
		client := lake.NewLake(tc.url)
		err := client.Write(ctx, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
		if !errors.Is(err, tc.want) {
			t.Errorf("NewLake(%q).Write: %v, want %v", tc.url, err, tc.want)
		}
		if _, err := client.Read(ctx, lake.ReadRequest{Catalog: "c"}); !errors.Is(err, tc.want) {
			t.Errorf("NewLake(%q).Read: %v, want %v", tc.url, err, tc.want)
		}
		client.Close()
	}
}

func TestURLPasswordsStayOutOfErrors(t *testing.T) {
	err := lake.NewLake("mysql://user:s3cret@host/db").Write(context.Background(), lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error %v leaks the password", err)
	}
}

func TestNewLakeAcceptsRedisURLAndBareHostPort(t *testing.T) {
	l := newTestLake(t)
	hostPort := strings.TrimPrefix(l.url, "redis://")
	for _, url := range []string{l.url, hostPort} {
		c := lake.NewLake(url, func(o *lake.Option) { o.KeyPrefix = l.prefix })
		mustWrite(t, c, lake.WriteRequest{Catalog: "c", Field: "a", Value: url})
		c.Close()
	}
}

func TestWithoutConfigTheClientUsesMemoryStorageAndWarns(t *testing.T) {
	var logs bytes.Buffer
	client := newTestLake(t).client(func(o *lake.Option) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	kind, err := client.StorageKind(context.Background())
	if err != nil || kind != "memory" {
		t.Fatalf("StorageKind = %q, %v", kind, err)
	}
	if !strings.Contains(logs.String(), "NO CONFIG STORED") || !strings.Contains(logs.String(), "die with it") {
		t.Fatalf("no warning about memory storage in %q", logs.String())
	}
	cfg, err := client.GetConfig(context.Background())
	if err != nil || cfg != nil {
		t.Fatalf("GetConfig without a stored config = %v, %v; want nil, nil", cfg, err)
	}
}

func TestAnInvalidStoredConfigFailsEveryOperationUntilFixed(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	for _, raw := range []string{`{"storage":"local"}`, `not json`, `{"storage":"memory","typo":1}`} {
		l.setRawConfig(raw)
		client := l.client()
		for range 2 {
			if err := client.Write(ctx, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1}); !errors.Is(err, lake.ErrInvalidConfig) {
				t.Fatalf("config %s: Write = %v, want ErrInvalidConfig", raw, err)
			}
			if _, err := client.Read(ctx, lake.ReadRequest{Catalog: "c"}); !errors.Is(err, lake.ErrInvalidConfig) {
				t.Fatalf("config %s: Read = %v, want ErrInvalidConfig", raw, err)
			}
		}
		if n := l.logLen("c"); n != 0 {
			t.Fatalf("%d deltas written under an invalid config", n)
		}
		// UpdateConfig can repair it.
		if err := client.UpdateConfig(ctx, &config.Config{Storage: "memory"}); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
		l.redis.Do(ctx, l.redis.B().Del().Key(l.prefix+"lake:{c}:log", l.prefix+"lake:{c}:head").Build())
	}
}

func TestUpdateConfigStoresAppliesAndIsSharedByOtherClients(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	dir := t.TempDir()
	writer := l.client()
	cfg := &config.Config{Name: "my-lake", Storage: "local", Path: dir}
	if err := writer.UpdateConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if kind, _ := writer.StorageKind(ctx); kind != "local" {
		t.Fatalf("StorageKind after UpdateConfig = %q", kind)
	}
	got, err := writer.GetConfig(ctx)
	if err != nil || *got != *cfg {
		t.Fatalf("GetConfig = %+v, %v", got, err)
	}
	mustWrite(t, writer, lake.WriteRequest{Catalog: "shared", Field: "x", Value: 1})

	// A second client loads the stored config and reads the bodies from disk.
	reader := l.client()
	if res := mustRead(t, reader, lake.ReadRequest{Catalog: "shared"}); res.Data.String() != `{"x":1}` {
		t.Fatalf("second client read %s", res.Data)
	}
	if files := packFiles(t, dir); len(files) != 1 {
		t.Fatalf("want one pack file under %s, got %v", dir, files)
	}
}

func TestUpdateConfigRefusesAndDoesNotStoreABadConfig(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	client := l.client()
	good := &config.Config{Storage: "memory", Name: "good"}
	if err := client.UpdateConfig(ctx, good); err != nil {
		t.Fatal(err)
	}
	before := l.rawConfig()
	notADir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notADir, []byte("x"), 0o600)
	for _, tc := range []struct {
		cfg  *config.Config
		want error
	}{
		{nil, lake.ErrInvalidConfig},
		{&config.Config{Storage: "tape"}, lake.ErrInvalidConfig},
		{&config.Config{Storage: "local"}, lake.ErrInvalidConfig},
		{&config.Config{Storage: "local", Path: notADir}, lake.ErrStorageUnavailable},
		{&config.Config{Storage: "s3", Endpoint: "http://127.0.0.1:1", Bucket: "lake"}, lake.ErrStorageUnavailable},
	} {
		if err := client.UpdateConfig(ctx, tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("UpdateConfig(%v) = %v, want %v", tc.cfg, err, tc.want)
		}
		if after := l.rawConfig(); after != before {
			t.Fatalf("a refused config was stored: %s", after)
		}
	}
	if cfg, _ := client.GetConfig(ctx); cfg == nil || cfg.Name != "good" {
		t.Fatalf("a refused config was applied: %v", cfg)
	}
}

func TestUpdateConfigWithTheSameStorageKeepsMemoryBodies(t *testing.T) {
	client := newTestLake(t).client()
	ctx := context.Background()
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	if err := client.UpdateConfig(ctx, &config.Config{Name: "renamed", Storage: "memory"}); err != nil {
		t.Fatal(err)
	}
	if res := mustRead(t, client, lake.ReadRequest{Catalog: "c"}); res.Data.String() != `{"a":1}` {
		t.Fatalf("read %s after a rename", res.Data)
	}
}

func TestAESPwdEncryptsBodiesAtRest(t *testing.T) {
	l := newTestLake(t)
	ctx := context.Background()
	dir := t.TempDir()
	client := l.client()
	if err := client.UpdateConfig(ctx, &config.Config{Storage: "local", Path: dir, AESPwd: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	if kind, _ := client.StorageKind(ctx); kind != "encrypted(local)" {
		t.Fatalf("StorageKind = %q", kind)
	}
	mustWrite(t, client, lake.WriteRequest{Catalog: "secret", Field: "card", Value: "4111-1111-1111-1111"})
	res := mustRead(t, l.client(), lake.ReadRequest{Catalog: "secret", GenerateSnap: true})
	if res.Data.String() != `{"card":"4111-1111-1111-1111"}` || !res.Snapshot.Saved {
		t.Fatalf("read %s (%+v)", res.Data, res.Snapshot)
	}
	files := 0
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
			if data, _ := os.ReadFile(path); bytes.Contains(data, []byte("4111")) {
				t.Errorf("%s holds the plaintext", path)
			}
		}
		return nil
	})
	if files != 2 {
		t.Fatalf("want a delta and a snapshot on disk, found %d files", files)
	}
	// A client with the wrong password gets a typed error, not garbage.
	l.setRawConfig(fmt.Sprintf(`{"storage":"local","path":%q,"aes_pwd":"wrong"}`, dir))
	wrong := l.client()
	if _, err := wrong.Read(ctx, lake.ReadRequest{Catalog: "secret"}); !errors.Is(err, lake.ErrDecrypt) {
		t.Fatalf("wrong password: %v, want ErrDecrypt", err)
	}
}

func TestCustomStorageOptionIsUsed(t *testing.T) {
	mem := storage.NewMemoryStorage()
	client := newTestLake(t).client(withStorage(mem))
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	if mem.Len() != 1 {
		t.Fatalf("custom storage holds %d objects, want 1", mem.Len())
	}
	if kind, _ := client.StorageKind(context.Background()); kind != "memory" {
		t.Fatalf("StorageKind = %q", kind)
	}
}

func TestCloseReleasesTheClient(t *testing.T) {
	client := newTestLake(t).client()
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "a", Value: 1})
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if err := client.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := client.Write(context.Background(), lake.WriteRequest{Catalog: "c", Field: "a", Value: 1}); !errors.Is(err, lake.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}

func TestAStoppedRedisIsMetaUnavailableAndLosesNothingAcknowledged(t *testing.T) {
	server := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	mem := storage.NewMemoryStorage()
	client := lake.NewLake(server.URL, withStorage(mem), func(o *lake.Option) { o.Logger = slog.New(slog.DiscardHandler) })
	defer client.Close()
	ctx := context.Background()
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "before", Value: 1})
	server.Stop()
	if err := client.Write(ctx, lake.WriteRequest{Catalog: "c", Field: "during", Value: 2}); !errors.Is(err, lake.ErrMetaUnavailable) {
		t.Fatalf("write with Redis down: %v, want ErrMetaUnavailable", err)
	}
	if _, err := client.Read(ctx, lake.ReadRequest{Catalog: "c"}); !errors.Is(err, lake.ErrMetaUnavailable) {
		t.Fatalf("read with Redis down: %v, want ErrMetaUnavailable", err)
	}
	server.Restart(t)
	mustWrite(t, client, lake.WriteRequest{Catalog: "c", Field: "after", Value: 3})
	res := mustRead(t, client, lake.ReadRequest{Catalog: "c"})
	if res.Data.String() != `{"after":3,"before":1}` {
		t.Fatalf("after restart: %s", res.Data)
	}
}

func TestConcurrentFirstOperationsShareOneClient(t *testing.T) {
	client := newTestLake(t).client()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- client.Write(context.Background(), lake.WriteRequest{Catalog: "c", Field: fmt.Sprint("f", i), Value: i})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if res := mustRead(t, client, lake.ReadRequest{Catalog: "c"}); strings.Count(res.Data.String(), ":") != 50 {
		t.Fatalf("read %s", res.Data)
	}
}

func TestAFileLakeNeedsNoServerAndKeepsBodiesBesideItsMetaStore(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	quiet := func(o *lake.Option) { o.Logger = slog.New(slog.DiscardHandler) }
	first := lake.NewLake("file://"+dir, quiet)
	v := mustWrite(t, first, lake.WriteRequest{Catalog: "users", Field: "name", Value: "Ada"})
	if kind, _ := first.StorageKind(ctx); kind != "local" {
		t.Fatalf("StorageKind = %q, want local", kind)
	}
	// One process owns the directory at a time.
	if err := lake.NewLake("file://"+dir, quiet).Write(ctx, lake.WriteRequest{Catalog: "users", Field: "x", Value: 1}); !errors.Is(err, lake.ErrMetaLocked) {
		t.Fatalf("second owner: %v, want ErrMetaLocked", err)
	}
	first.Close()
	again := lake.NewLake("file://"+dir, quiet)
	defer again.Close()
	res := mustRead(t, again, lake.ReadRequest{Catalog: "users", GenerateSnap: true})
	if res.Data.String() != `{"name":"Ada"}` || res.Version != v {
		t.Fatalf("after reopening: %s at %d", res.Data, res.Version)
	}
	if files := packFiles(t, filepath.Join(dir, "objects")); len(files) != 1 {
		t.Fatalf("bodies are not under %s/objects: %v", dir, files)
	}
}

func TestCatalogsListsWhatWasWritten(t *testing.T) {
	client := newTestLake(t).client()
	var versions []int64
	for _, name := range []string{"orders", "users", "audit"} {
		versions = append(versions, mustWrite(t, client, lake.WriteRequest{Catalog: name, Field: "a", Value: 1}))
	}
	list, err := client.Catalogs(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []lake.CatalogInfo{{Name: "audit", Version: versions[2]}, {Name: "orders", Version: versions[0]}, {Name: "users", Version: versions[1]}}
	if fmt.Sprint(list) != fmt.Sprint(want) {
		t.Fatalf("Catalogs = %v, want %v", list, want)
	}
	if page, _ := client.Catalogs(context.Background(), "orders", 10); len(page) != 1 || page[0].Name != "users" {
		t.Fatalf("page after orders = %v", page)
	}
}

func TestPingChecksBothStores(t *testing.T) {
	if err := newTestLake(t).client().Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := lake.NewLake("redis://127.0.0.1:1").Ping(context.Background()); !errors.Is(err, lake.ErrMetaUnavailable) {
		t.Fatalf("Ping with Redis down: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o600)
	broken := newTestLake(t).client(withStorage(mustLocalStorage(t, file)))
	if err := broken.Ping(context.Background()); !errors.Is(err, lake.ErrStorageUnavailable) {
		t.Fatalf("Ping with a broken store: %v", err)
	}
}

func mustLocalStorage(t *testing.T, dir string) *storage.Local {
	t.Helper()
	local, err := storage.NewLocalStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	return local
}
