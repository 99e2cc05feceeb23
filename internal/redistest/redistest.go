// Package redistest gives tests a real Redis: the one at LAKE_TEST_REDIS_URL
// (default redis://127.0.0.1:6379), a unique key prefix per test that is
// deleted afterwards, and throwaway redis-server processes for tests that
// restart or stop their server.
//
// When no Redis answers, tests are skipped, except under CI=true, where a
// missing Redis fails the run: CI must never pass by skipping.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hkloudou/lake/v2/internal/testenv"
	"github.com/redis/rueidis"
)

// URL returns the test Redis URL, or ends the test when none answers.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("LAKE_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379"
	}
	client, err := connect(url)
	if err != nil {
		testenv.Missing(t, fmt.Sprintf("no Redis at %s (set LAKE_TEST_REDIS_URL or run `make test`): %v", url, err))
	}
	client.Close()
	return url
}

func connect(url string) (rueidis.Client, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.DisableCache = true
	opt.Dialer.Timeout = 2 * time.Second
	return rueidis.NewClient(opt)
}

// Client returns a raw Redis client for assertions on keys; it is closed
// when the test ends.
func Client(t testing.TB, url string) rueidis.Client {
	t.Helper()
	client, err := connect(url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(client.Close)
	return client
}

// Prefix returns a key prefix unique to this test and deletes every key
// under it when the test ends. The deletion is its own SCAN and UNLINK, not
// index.Wiper: the index package's tests use this package, so it cannot
// import index (an import cycle), and the prefix may hold keys no index
// wrote.
func Prefix(t testing.TB, url string) string {
	t.Helper()
	prefix := "laketest:" + uuid.NewString()[:8] + ":"
	t.Cleanup(func() {
		client, err := connect(url)
		if err != nil {
			t.Logf("cleanup of %s*: %v", prefix, err)
			return
		}
		defer client.Close()
		ctx := context.Background()
		for cursor := uint64(0); ; {
			entry, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Logf("cleanup of %s*: %v", prefix, err)
				return
			}
			if len(entry.Elements) > 0 {
				client.Do(ctx, client.B().Unlink().Key(entry.Elements...).Build())
			}
			if cursor = entry.Cursor; cursor == 0 {
				return
			}
		}
	})
	return prefix
}

// Server is a throwaway redis-server on a free loopback port.
type Server struct {
	Port int
	URL  string
	dir  string
	cmd  *exec.Cmd
	args []string
}

var serverCount atomic.Int32

// StartServer starts a redis-server with the given extra arguments (for
// example "--appendonly", "yes") in a temporary directory, and stops it when
// the test ends. Without redis-server installed the test is skipped, or fails
// under CI=true.
func StartServer(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Missing(t, "redis-server is not installed")
	}
	port := testenv.FreePort(t)
	dir := filepath.Join(t.TempDir(), "redis"+strconv.Itoa(int(serverCount.Add(1))))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s := &Server{Port: port, URL: fmt.Sprintf("redis://127.0.0.1:%d", port), dir: dir}
	s.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log")}, extra...)
	s.cmd = exec.Command(bin, s.args...)
	s.start(t)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command(s.cmd.Path, s.args...)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), 100*time.Millisecond); err == nil {
			conn.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	t.Fatalf("redis-server on port %d did not start: %s", s.Port, strings.TrimSpace(string(log)))
}

// Stop kills the server (SIGKILL: whatever it did not persist is lost).
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// StartCluster starts a redis-server in cluster mode that owns all 16384
// slots. One node is enough: it still refuses multi-key commands and scripts
// whose keys span slots (CROSSSLOT), which is what tests of cluster support
// need to see.
func StartCluster(t testing.TB) *Server {
	t.Helper()
	// nodes.conf outlives Restart, so a restarted node keeps its slots.
	s := StartServer(t, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(t.TempDir(), "nodes.conf"))
	// A forced single client: the auto-detecting one cannot set up a cluster
	// client on a node without slots.
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{fmt.Sprintf("127.0.0.1:%d", s.Port)}, ForceSingleClient: true, DisableCache: true,
		Dialer: net.Dialer{Timeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatalf("connect to redis-server on port %d: %v", s.Port, err)
	}
	defer client.Close()
	ctx := context.Background()
	if err := client.Do(ctx, client.B().ClusterAddslotsrange().StartSlotEndSlot().StartSlotEndSlot(0, 16383).Build()).Error(); err != nil {
		t.Fatalf("assign slots on port %d: %v", s.Port, err)
	}
	// A new master waits up to 2s (CLUSTER_WRITABLE_DELAY) before its state
	// turns ok; until then every key command fails with CLUSTERDOWN.
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := client.Do(ctx, client.B().ClusterInfo().Build()).ToString()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster on port %d is not ok: %v %s", s.Port, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart stops the server and starts it again on the same port and directory.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

// UsedMemory returns the server's used_memory (INFO memory), in bytes.
func UsedMemory(t testing.TB, client rueidis.Client) int64 {
	t.Helper()
	info, err := client.Do(context.Background(), client.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no used_memory in INFO memory")
	return 0
}
