package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hkloudou/lake/v2/internal/testenv"
)

// The README's first commands, after `make run`, are curl calls a new user
// pastes as they are: each must succeed against `lake serve`, as printed.
func TestReadmeCurlExamplesWorkAsWritten(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		testenv.Missing(t, "curl is not installed")
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for line := range strings.SplitSeq(string(readme), "\n") {
		if strings.HasPrefix(line, "curl ") && strings.Contains(line, "localhost:7171") {
			lines = append(lines, line)
		}
	}
	if len(lines) < 3 {
		t.Fatalf("found %d curl examples in README.md", len(lines))
	}
	dir := t.TempDir()
	p := startServe(t, dir, "--meta", "file://"+filepath.Join(dir, "lake"))
	for _, line := range lines {
		// Run the line as a shell would, against this server, failing on
		// any HTTP error (-f) and quietly (-sS).
		line = strings.ReplaceAll(line, "localhost:7171", p.addr)
		cmd := exec.Command("sh", "-c", strings.Replace(line, "curl ", curl+" -fsS ", 1))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s\n%v\n%s\nserver log:\n%s", line, err, out, p.log())
		}
		if !strings.Contains(string(out), "{") {
			t.Fatalf("%s printed %q", line, out)
		}
	}
}
