// Package s3test gives tests a real S3-compatible object store: a throwaway
// versitygw (github.com/versity/versitygw) with its POSIX backend in a
// temporary directory, on a free loopback port, with a fresh bucket.
//
// The versitygw binary is $LAKE_VERSITYGW if set, else versitygw in the
// directory `go install` writes to (GOBIN, or the first GOPATH entry's bin).
// When it is missing there, the first test builds it with
// `go install github.com/versity/versitygw/cmd/versitygw@v1.8.0` (Version),
// which takes one to three minutes on a cold module cache; a lock file keeps
// parallel test binaries from building it twice.
//
// When versitygw can be neither found nor built, or does not start, tests are
// skipped, except under CI=true, where that fails the run: CI must never pass
// by skipping.
package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hkloudou/lake/v2/internal/testenv"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Version is the versitygw release the helper builds.
const Version = "v1.8.0"

// Region is the region every test server reports.
const Region = "us-east-1"

// Server is one running versitygw. Its fields are what a client needs.
type Server struct {
	Endpoint  string // "http://127.0.0.1:port"
	Region    string
	AccessKey string
	SecretKey string
	Bucket    string // created by Start

	bin, dataDir, logPath string
	port                  int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start runs a fresh versitygw with one empty bucket, or ends the test when
// versitygw is unavailable. The server is stopped when the test ends.
// Starting one takes a few tens of milliseconds, so every test can have its
// own.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		testenv.Missing(t, "no versitygw for S3 tests: "+err.Error())
	}
	base := t.TempDir()
	s := &Server{
		Region:    Region,
		AccessKey: "lake-test-access",
		SecretKey: "lake-test-secret-" + uuid.NewString()[:8],
		bin:       bin,
		dataDir:   filepath.Join(base, "data"), // every directory in it is a bucket
		logPath:   filepath.Join(base, "versitygw.log"),
	}
	if err := os.Mkdir(s.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	// Another process may take the free port between our probe and
	// versitygw's bind; try a few ports before giving up.
	for attempt := 1; ; attempt++ {
		s.port = testenv.FreePort(t)
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(s.port)
		err = s.start()
		if err == nil {
			break
		}
		if attempt == 3 {
			testenv.Missing(t, err.Error())
		}
	}
	s.Bucket = s.NewBucket(t)
	return s
}

// Stop kills the server (SIGKILL); Restart brings it back with its data.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart stops the server and starts it again on the same port with the
// same data directory, so buckets and objects survive.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

// NewBucket creates another empty bucket on the server and returns its name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	client, err := minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	name := "lake-test-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		t.Fatalf("create bucket %s on versitygw at %s: %v%s", name, s.Endpoint, err, s.log())
	}
	return name
}

// start launches versitygw on s.port and waits until the port answers.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	logFile, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(s.bin,
		"--port", "127.0.0.1:"+strconv.Itoa(s.port),
		"--access", s.AccessKey, "--secret", s.SecretKey,
		"--region", s.Region,
		"--quiet", // no per-request log lines
		"posix", s.dataDir)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	addr := "127.0.0.1:" + strconv.Itoa(s.port)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("versitygw exited at start (%v)%s", cmd.ProcessState, s.log())
		default:
		}
		if conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-done
	s.cmd = nil
	return fmt.Errorf("versitygw did not listen on %s within 10s%s", addr, s.log())
}

// log returns the server's output so far, for failure messages.
func (s *Server) log() string {
	out, _ := os.ReadFile(s.logPath)
	if len(out) == 0 {
		return ""
	}
	return "\nversitygw output:\n" + strings.TrimSpace(string(out))
}

// cleanEnv is the test binary's environment without the variables
// versitygw reads, so a developer's own gateway settings cannot leak in.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "VGW_") || strings.HasPrefix(name, "ROOT_") || name == "LOGFILE" || name == "WEBHOOK" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary returns the path of a working versitygw, building it if needed.
// The outcome, failure included, is shared by every test in the process.
func binary() (string, error) {
	binOnce.Do(func() { binPath, binErr = findOrBuild() })
	return binPath, binErr
}

func findOrBuild() (string, error) {
	if bin := os.Getenv("LAKE_VERSITYGW"); bin != "" {
		if err := runs(bin); err != nil {
			return "", fmt.Errorf("LAKE_VERSITYGW=%s: %w", bin, err)
		}
		return bin, nil
	}
	dir, err := installDir()
	if err != nil {
		return "", err
	}
	name := "versitygw"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	bin := filepath.Join(dir, name)
	if runs(bin) == nil {
		return bin, nil
	}
	unlock, err := lockFile(filepath.Join(os.TempDir(), "lake-s3test-versitygw.lock"))
	if err != nil {
		return "", fmt.Errorf("lock for building versitygw: %w", err)
	}
	defer unlock()
	if runs(bin) == nil {
		return bin, nil // another test binary built it while we waited
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pkg := "github.com/versity/versitygw/cmd/versitygw@" + Version
	build := exec.CommandContext(ctx, "go", "install", pkg)
	build.Dir = os.TempDir() // outside any module: pkg@version needs none
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("versitygw is not installed and `go install %s` failed: %v\n%s", pkg, err, out)
	}
	if err := runs(bin); err != nil {
		return "", fmt.Errorf("built %s: %w", bin, err)
	}
	return bin, nil
}

// installDir is where `go install` puts binaries.
func installDir() (string, error) {
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	// One line per variable; GOBIN's is usually empty.
	gobin, gopath, _ := strings.Cut(string(out), "\n")
	if gobin = strings.TrimSpace(gobin); gobin != "" {
		return gobin, nil
	}
	if paths := filepath.SplitList(strings.TrimSpace(gopath)); len(paths) > 0 && paths[0] != "" {
		return filepath.Join(paths[0], "bin"), nil
	}
	return "", errors.New("go env reports neither GOBIN nor GOPATH")
}

// runs checks that bin exists and executes.
func runs(bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput(); err != nil {
		return fmt.Errorf("%s --version: %w\n%s", bin, err, bytes.TrimSpace(out))
	}
	return nil
}
