package deploytest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// internalImports lists "file: import" for every Go file under dir (tests included,
// testdata and hidden folders skipped) that imports an internal package: the sample
// apps and examples show what a user's app can write, and a user's app cannot import
// this module's internal packages. It also returns how many Go files it read.
func internalImports(t *testing.T, dir string) (bad []string, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if p == "internal" || strings.HasPrefix(p, "internal/") || strings.Contains(p, "/internal/") || strings.HasSuffix(p, "/internal") {
				rel, _ := filepath.Rel(dir, path)
				bad = append(bad, filepath.ToSlash(rel)+": "+p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad, files
}

// TestSamplesUsePublicAPIOnly: nothing under handler/apps or examples/ imports an
// internal package, tests included (they test with durabletest, as users do).
func TestSamplesUsePublicAPIOnly(t *testing.T) {
	root := repoRoot(t)
	for _, dir := range []string{"handler/apps", "examples"} {
		bad, files := internalImports(t, filepath.Join(root, filepath.FromSlash(dir)))
		if files == 0 {
			t.Errorf("%s: no Go files found; has it moved?", dir)
		}
		for _, b := range bad {
			t.Errorf("%s/%s: samples may use only the public packages (durable, funcapp, durabletest)", dir, b)
		}
	}
}

// The check finds what it is for.
func TestInternalImportsFindsViolations(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app/app.go", "package app\nimport _ \"github.com/durablego/durablefunctions/durable\"\n")
	write("app/app_test.go", "package app\nimport (\n\t\"testing\"\n\th \"github.com/durablego/durablefunctions/internal/history\"\n)\nvar _ = h.Event{}\nfunc TestX(*testing.T) {}\n")
	write("app/testdata/x.go", "package x\nimport _ \"github.com/durablego/durablefunctions/internal/replay\"\n")
	bad, files := internalImports(t, dir)
	if files != 2 || len(bad) != 1 || bad[0] != "app/app_test.go: github.com/durablego/durablefunctions/internal/history" {
		t.Fatalf("files %d, found %v", files, bad)
	}
}
