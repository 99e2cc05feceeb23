package index

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// File-engine-only tests: URLs, the lock, reopening, crashes. The behaviour
// both engines share is in conformance_test.go.

func openFileTest(t *testing.T, dir string, opts Options) *boltIndex {
	t.Helper()
	idx, err := Open(context.Background(), "file://"+dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	return idx.(*boltIndex)
}

// setLastVersion overwrites a catalog's last allocated version.
func (b *boltIndex) setLastVersion(catalog string, v int64) error {
	return b.update(context.Background(), func(root *bolt.Bucket) error {
		cat := b.catalog(root, catalog)
		if cat == nil {
			var err error
			if cat, err = root.Bucket(bucketCatalogs).CreateBucket(nameKey(catalog)); err != nil {
				return err
			}
			if err := b.addCounts(root, boltCounts{catalogs: 1}); err != nil {
				return err
			}
		}
		head, err := b.loadHead(cat, catalog)
		if err != nil {
			return err
		}
		upgradeHead(cat, &head)
		head.Version = v
		head.Epoch = min(head.Epoch, v)
		head.Snapshot.Version = min(head.Snapshot.Version, v)
		if head.Snapshot.Version == 0 {
			head.Snapshot.Key = ""
		}
		return putHead(cat, catalog, head)
	})
}

func TestFileOpenAcceptsTheURLForms(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "abs", "meta")
	t.Chdir(t.TempDir())
	for url, dir := range map[string]string{
		"file://" + abs:    abs,
		"file://./rel/dir": "rel/dir",
		"file://rel":       "rel",
	} {
		idx, err := Open(context.Background(), url, Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		if s := idx.(interface{ String() string }).String(); s != "file" {
			t.Errorf("String() = %q, want file", s)
		}
		if err := idx.StoreConfig(context.Background(), []byte(url)); err != nil {
			t.Fatal(err)
		}
		idx.Close()
		for path, mode := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, "meta.db"): 0o600} {
			info, err := os.Stat(path)
			if err != nil || info.Mode() != mode {
				t.Errorf("%s: %v, %v; want mode %v", path, info.Mode(), err, mode)
			}
		}
	}
	// The relative forms are relative to the working directory.
	idx := openFileTest(t, "./rel", Options{})
	if got, err := idx.LoadConfig(context.Background()); err != nil || string(got) != "file://rel" {
		t.Fatalf("file://./rel after file://rel: %q, %v", got, err)
	}
}

func TestFileOpenOfAnUnusableDirectoryIsUnavailable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(file, "below")} {
		if _, err := Open(context.Background(), "file://"+dir, Options{}); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Open(file://%s) = %v, want ErrUnavailable", dir, err)
		}
	}
}

func TestFileSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(context.Background(), "file://"+dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Open(context.Background(), "file://"+dir, Options{KeyPrefix: "another:"})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), filepath.Join(dir, "meta.db")) {
		t.Fatalf("second Open = %v, want ErrLocked naming %s", err, filepath.Join(dir, "meta.db"))
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("second Open took %v to fail", waited)
	}
	// A shorter context deadline shortens the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := Open(ctx, "file://"+dir, Options{}); !errors.Is(err, ErrLocked) || time.Since(start) > time.Second {
		t.Fatalf("Open with a 200ms deadline = %v after %v, want ErrLocked at once", err, time.Since(start))
	}
	first.Close()
	openFileTest(t, dir, Options{})
}

// Child processes: a test re-executes the test binary to run only itself,
// with childRole set; the child does its part and prints what it did.
const (
	childRole = "LAKE_INDEX_TEST_CHILD"
	childDir  = "LAKE_INDEX_TEST_CHILD_DIR"
)

// runAsChild runs the child's part and reports true in a child process.
func runAsChild(t *testing.T) bool {
	role := os.Getenv(childRole)
	if role == "" {
		return false
	}
	// A child never outlives a parent that forgot it.
	deadline := time.Now().Add(60 * time.Second)
	idx, err := Open(context.Background(), "file://"+os.Getenv(childDir), Options{})
	if err != nil {
		fmt.Printf("open: %v\n", err)
		os.Exit(1)
	}
	switch role {
	case "hold":
		fmt.Println("ready")
		time.Sleep(time.Until(deadline))
	case "commit":
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; time.Now().Before(deadline); i++ {
					id := uuid.NewString()
					v, err := idx.Commit(context.Background(), "crash", Delta{ID: id, Field: fmt.Sprint(w, ".", i), Merge: "set", BodyKey: "crash/" + id + ".json"})
					mu.Lock()
					if err != nil {
						fmt.Printf("commit: %v\n", err)
						os.Exit(1)
					}
					// One write per line: the parent reads whole lines only.
					os.Stdout.WriteString("ack " + strconv.FormatInt(v, 10) + " " + id + "\n")
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	idx.Close()
	return true
}

// startChild runs the calling test in a child process in role, on dir.
func startChild(t *testing.T, role, dir string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), childRole+"="+role, childDir+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewScanner(stdout)
}

func TestFileLockHoldsAcrossProcesses(t *testing.T) {
	if runAsChild(t) {
		return
	}
	dir := t.TempDir()
	child, out := startChild(t, "hold", dir)
	if !out.Scan() || out.Text() != "ready" {
		t.Fatalf("child did not open %s: %q %v", dir, out.Text(), out.Err())
	}
	start := time.Now()
	if _, err := Open(context.Background(), "file://"+dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while another process holds %s = %v, want ErrLocked", dir, err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("Open took %v to fail", waited)
	}
	// A crashed owner leaves no stale lock: the kernel drops it.
	child.Process.Kill()
	child.Wait()
	openFileTest(t, dir, Options{})
}

func TestFileAcknowledgedCommitsSurviveSIGKILL(t *testing.T) {
	if runAsChild(t) {
		return
	}
	dir := t.TempDir()
	child, out := startChild(t, "commit", dir)
	const killAfter = 300
	acked := map[int64]string{}
	for out.Scan() {
		var v int64
		var id string
		if _, err := fmt.Sscanf(out.Text(), "ack %d %s", &v, &id); err != nil {
			t.Fatalf("child: %q", out.Text())
		}
		acked[v] = id
		if len(acked) == killAfter {
			child.Process.Signal(syscall.SIGKILL)
		}
	}
	err := child.Wait()
	if status, ok := child.ProcessState.Sys().(syscall.WaitStatus); !ok || !status.Signaled() || status.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed mid-way: %v", err)
	}
	if len(acked) < killAfter {
		t.Fatalf("child acknowledged %d commits, want at least %d", len(acked), killAfter)
	}

	idx := openFileTest(t, dir, Options{})
	if err := idx.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("meta.db after SIGKILL: %v", err)
	}
	head, deltas, err := idx.Read(context.Background(), "crash", 0)
	if err != nil {
		t.Fatal(err)
	}
	logged := map[int64]string{}
	var last int64
	for _, d := range deltas {
		if d.Version <= last {
			t.Fatalf("log out of order: %d after %d", d.Version, last)
		}
		last = d.Version
		logged[d.Version] = d.ID
	}
	if head.Version != last {
		t.Fatalf("head %d, last logged version %d", head.Version, last)
	}
	for v, id := range acked {
		if logged[v] != id {
			t.Errorf("acknowledged commit %d (%s) is lost: log has %q", v, id, logged[v])
		}
	}
	t.Logf("%d commits acknowledged before SIGKILL, %d in the log after it", len(acked), len(deltas))
	// The log goes on after the crash.
	if v, err := idx.Commit(context.Background(), "crash", Delta{ID: uuid.NewString(), Field: "after", Merge: "set"}); err != nil || v <= last {
		t.Fatalf("commit after the crash: %d, %v; want > %d", v, err, last)
	}
}

func TestFileReopenSeesEverything(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	idx, err := Open(ctx, "file://"+dir, Options{KeyPrefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	if idx.(*boltIndex).db.NoSync {
		t.Fatal("NoSync is on: acknowledged commits could be lost in a crash")
	}
	var versions []int64
	for i := range 10 {
		v, err := idx.Commit(ctx, "c", Delta{ID: "id-" + strconv.Itoa(i), Field: "f" + strconv.Itoa(i), Merge: "set", BodyKey: "c/" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	must(t, idx.StoreConfig(ctx, []byte(`{"a":1}`)))
	must(t, idx.PutScript(ctx, "counter", "h1", "src"))
	if _, err := idx.SaveSnapshot(ctx, "c", SnapshotPointer{Version: versions[5], Key: "c/snap"}, Lineage{Epoch: versions[0]}); err != nil {
		t.Fatal(err)
	}
	must(t, idx.Close())

	idx = openFileTest(t, dir, Options{KeyPrefix: "p:"})
	head, deltas, err := idx.Read(ctx, "c", 0)
	if err != nil || head != (Head{Version: versions[9], Snapshot: SnapshotPointer{Version: versions[5], Key: "c/snap"}, Pending: 4, From: versions[5], Epoch: versions[0]}) || len(deltas) != 4 {
		t.Fatalf("after reopen: %+v, %d deltas, %v", head, len(deltas), err)
	}
	all, err := idx.Log(ctx, "c", 0, versions[9])
	if err != nil || len(all) != 10 || all[3] != (Delta{Version: versions[3], ID: "id-3", Field: "f3", Merge: "set", BodyKey: "c/3"}) {
		t.Fatalf("Log after reopen: %+v, %v", all, err)
	}
	if config, err := idx.LoadConfig(ctx); err != nil || string(config) != `{"a":1}` {
		t.Fatalf("config after reopen: %q, %v", config, err)
	}
	if src, err := idx.ScriptSource(ctx, "h1"); err != nil || src != "src" {
		t.Fatalf("script after reopen: %q, %v", src, err)
	}
	// Idempotency and the version allocator survive too.
	if v, err := idx.Commit(ctx, "c", Delta{ID: "id-4", Field: "f4", Merge: "set", BodyKey: "c/4"}); err != nil || v != versions[4] {
		t.Fatalf("retried commit after reopen: %d, %v; want %d", v, err, versions[4])
	}
	if v, err := idx.Commit(ctx, "c", Delta{ID: "id-10", Field: "f10", Merge: "set"}); err != nil || v <= versions[9] {
		t.Fatalf("new commit after reopen: %d, %v; want > %d", v, err, versions[9])
	}
}

func TestFileKeyPrefixesAreSeparateNamespaces(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, prefix := range []string{"", "a:", "b:"} {
		idx, err := Open(ctx, "file://"+dir, Options{KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := idx.LoadConfig(ctx); !errors.Is(err, ErrNotFound) {
			t.Fatalf("prefix %q sees a config: %v", prefix, err)
		}
		if _, deltas, _ := idx.Read(ctx, "c", 0); len(deltas) != 0 {
			t.Fatalf("prefix %q sees %d deltas", prefix, len(deltas))
		}
		if all, _ := idx.Scripts(ctx); len(all) != 0 {
			t.Fatalf("prefix %q sees scripts %v", prefix, all)
		}
		must(t, idx.StoreConfig(ctx, []byte(prefix)))
		must(t, idx.PutScript(ctx, "s"+prefix, "h", "x"))
		if _, err := idx.Commit(ctx, "c", Delta{ID: "same-id", Field: prefix, Merge: "set"}); err != nil {
			t.Fatal(err)
		}
		must(t, idx.Close())
	}
	idx := openFileTest(t, dir, Options{KeyPrefix: "a:"})
	_, deltas, _ := idx.Read(ctx, "c", 0)
	config, _ := idx.LoadConfig(ctx)
	if len(deltas) != 1 || deltas[0].Field != "a:" || string(config) != "a:" {
		t.Fatalf("prefix a: after the others wrote: %+v, config %q", deltas, config)
	}
}

func TestFileOperationsAfterCloseAreUnavailable(t *testing.T) {
	idx := openFileTest(t, t.TempDir(), Options{})
	must(t, idx.Close())
	must(t, idx.Close())
	ctx := context.Background()
	if _, err := idx.Commit(ctx, "c", Delta{ID: "x", Field: "a", Merge: "set"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("commit after Close: %v, want ErrUnavailable", err)
	}
	if _, _, err := idx.Read(ctx, "c", 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("read after Close: %v, want ErrUnavailable", err)
	}
	if _, err := idx.LoadConfig(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("LoadConfig after Close: %v, want ErrUnavailable", err)
	}
}

func TestFileCorruptEntriesAreErrCorrupt(t *testing.T) {
	idx := openFileTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	v, err := idx.Commit(ctx, "c", Delta{ID: "x", Field: "a", Merge: "set"})
	if err != nil {
		t.Fatal(err)
	}
	corrupt := func(fn func(cat *bolt.Bucket) error) {
		t.Helper()
		must(t, idx.update(ctx, func(root *bolt.Bucket) error { return fn(root.Bucket(bucketCatalogs).Bucket(nameKey("c"))) }))
	}
	corrupt(func(cat *bolt.Bucket) error { return cat.Bucket(bucketLog).Put(versionKey(v), []byte("profile:uuid")) })
	if _, _, err := idx.Read(ctx, "c", 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a corrupt entry: %v, want ErrCorrupt", err)
	}
	corrupt(func(cat *bolt.Bucket) error {
		return cat.Bucket(bucketLog).Put([]byte("short"), []byte(mustEncodeMember(t, Delta{ID: "y"})))
	})
	if _, err := idx.Log(ctx, "c", -1, MaxVersion); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("log with a corrupt version key: %v, want ErrCorrupt", err)
	}
	corrupt(func(cat *bolt.Bucket) error { return cat.Put(keyVersion, []byte("12")) })
	if _, err := idx.Commit(ctx, "c", Delta{ID: "z", Field: "a", Merge: "set"}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("commit on a corrupt head: %v, want ErrCorrupt", err)
	}
}

func TestFileEmptyNamesAreValidKeys(t *testing.T) {
	idx := openFileTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	v, err := idx.Commit(ctx, "", Delta{ID: "x", Field: "", Merge: "set"})
	if err != nil {
		t.Fatal(err)
	}
	if _, deltas, err := idx.Read(ctx, "", 0); err != nil || len(deltas) != 1 || deltas[0].Version != v {
		t.Fatalf("the empty catalog: %+v, %v", deltas, err)
	}
	must(t, idx.PutScript(ctx, "", "", "src"))
	if hash, err := idx.ScriptHash(ctx, ""); err != nil || hash != "" {
		t.Fatalf("the empty script name: %q, %v", hash, err)
	}
	if all, err := idx.Scripts(ctx); err != nil || len(all) != 1 || all[""] != "" {
		t.Fatalf("Scripts = %v, %v", all, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
