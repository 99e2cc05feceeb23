package lake_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2/internal/redistest"
)

// readmeGoBlocks returns the ```go blocks of README.md.
func readmeGoBlocks(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		blocks = append(blocks, m[1])
	}
	if len(blocks) < 4 {
		t.Fatalf("README.md has %d go blocks, want at least 4", len(blocks))
	}
	return blocks
}

// buildModule writes files into a new module that requires this one (by a
// replace directive), builds it and returns the binary's path.
func buildModule(t *testing.T, files map[string]string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a program in another module")
	}
	repo, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := fmt.Sprintf("module example.com/readme\n\ngo 1.26\n\nrequire github.com/hkloudou/lake/v2 v2.0.0\n\nreplace github.com/hkloudou/lake/v2 => %s\n", repo)
	files["go.mod"] = gomod
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files["go.sum"] = string(sum)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "readme")
	cmd := exec.Command("go", "build", "-mod=mod", "-o", bin, ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's code does not build in another module: %v\n%s", err, out)
	}
	return bin
}

func TestReadmeQuickStartBuildsInAnotherModuleAndPrintsTheDocument(t *testing.T) {
	quickStart := readmeGoBlocks(t)[0]
	if !strings.HasPrefix(quickStart, "package main") {
		t.Fatalf("the first go block of README.md is not the Quick Start program:\n%s", quickStart)
	}
	// Run it against a Redis of its own, so that it finds no config there.
	server := redistest.StartServer(t)
	program := strings.Replace(quickStart, `"redis://localhost:6379"`, fmt.Sprintf("%q", server.URL), 1)
	bin := buildModule(t, map[string]string{"main.go": program})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Twice, as a new user would: the second run finds the first run's
	// delta, whose body died with that process's memory, and skips it.
	for run := 1; run <= 2; run++ {
		out, err := exec.CommandContext(ctx, bin).Output()
		if err != nil {
			t.Fatalf("quick start, run %d: %v", run, err)
		}
		const want = `{"profile":{"name":{"first":"John","last":"Doe"}}}` + "\n"
		if string(out) != want {
			t.Fatalf("quick start, run %d, printed %q, want %q", run, out, want)
		}
	}
}

// The README's other snippets are fragments; each is compiled in a function
// that provides client and ctx, with its imports lifted to the file.
func TestReadmeSnippetsCompile(t *testing.T) {
	importLine := regexp.MustCompile(`(?m)^import "([^"]+)"\n`)
	files := map[string]string{"main.go": "package main\n\nfunc main() {}\n"}
	for i, block := range readmeGoBlocks(t)[1:] {
		imports := map[string]bool{"context": true, "fmt": true, "github.com/hkloudou/lake/v2": true}
		for _, m := range importLine.FindAllStringSubmatch(block, -1) {
			imports[m[1]] = true
		}
		body := importLine.ReplaceAllString(block, "")
		var src strings.Builder
		src.WriteString("package main\n\nimport (\n")
		for path := range imports {
			fmt.Fprintf(&src, "\t%q\n", path)
		}
		src.WriteString(")\n\n")
		// The fragment may not use the imports every fragment gets.
		src.WriteString("var (\n\t_ context.Context\n\t_ *lake.Client\n\t_ = fmt.Sprint\n)\n")
		fmt.Fprintf(&src, "\nfunc snippet%d(ctx context.Context, client *lake.Client) {\n\t_, _ = ctx, client\n\t{\n%s\n\t}\n}\n", i, body)
		files[fmt.Sprintf("snippet%d.go", i)] = src.String()
	}
	buildModule(t, files)
}
