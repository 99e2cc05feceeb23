package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssBytes reads a process's resident set size from /proc.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to read the resident set size from: %v", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kib << 10
		}
	}
	t.Fatal("no VmRSS in /proc/PID/status")
	return 0
}

// A server that reads many large documents keeps what it caches within
// --cache-bytes: its memory stays below the bound plus a constant instead
// of growing with every document read (it used to keep 1,024 documents of
// any size: 200 x 1 MiB over 10 catalogs took it from 26 to 706 MiB). Here
// 40 documents of 5 MB, read twice.
func TestServeMemoryStaysWithinTheCacheBound(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 MB")
	}
	const (
		catalogs    = 40
		perCatalog  = 5
		valueBytes  = 1000 * 1000
		cacheBytes  = 32 << 20
		allowedOver = 128 << 20 // the Go runtime, one fold in flight and its garbage, HTTP buffers
	)
	dir := t.TempDir()
	p := startServe(t, dir, "--meta", "file://"+dir+"/lake", "--cache-bytes", strconv.Itoa(cacheBytes))
	value, _ := json.Marshal(strings.Repeat("x", valueBytes))
	for c := range catalogs {
		for f := range perCatalog {
			body := fmt.Sprintf(`{"field":"f%d","value":%s}`, f, value)
			resp, err := http.Post(p.url(fmt.Sprintf("/v1/catalogs/big%d", c)), "application/json", bytes.NewBufferString(body))
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("write: %d %s", resp.StatusCode, msg)
			}
		}
	}
	var peak int64
	for round := range 2 {
		for c := range catalogs {
			resp, err := http.Get(p.url(fmt.Sprintf("/v1/catalogs/big%d", c)))
			if err != nil {
				t.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || n < perCatalog*valueBytes {
				t.Fatalf("round %d read of big%d: %d, %d bytes", round, c, resp.StatusCode, n)
			}
			peak = max(peak, rssBytes(t, p.cmd.Process.Pid))
		}
	}
	t.Logf("RSS peak while reading %d documents of %d MB: %d MiB (cache bound %d MiB)",
		catalogs, perCatalog*valueBytes/1000000, peak>>20, cacheBytes>>20)
	if peak > cacheBytes+allowedOver {
		t.Fatalf("RSS reached %d MiB, above the cache bound %d MiB plus %d MiB", peak>>20, cacheBytes>>20, allowedOver>>20)
	}
}
