// Package deploytest checks the deployment assets against the code: the dist/ package
// scripts/dist.sh assembles, the Azure Developer CLI template (azure.yaml, infra/*.bicep,
// infra/*.json), .funcignore and the CI workflow. Nothing here talks to Azure; the Bicep
// files are checked with a small scanner (balance, module wiring, app settings) because
// no Bicep compiler is assumed.
package deploytest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// modulePath is go.mod's module line.
const modulePath = "github.com/durablego/durablefunctions"

// repoRoot is the folder holding go.mod, found upward from the test's folder.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module "+modulePath) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repo root (go.mod of " + modulePath + ") not found")
		}
		dir = parent
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(readFile(t, path)), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// functionFolders lists the top-level folders of the app holding a function.json, the way
// the host (and internal/funcmeta) discover functions: hidden folders are skipped.
func functionFolders(t testing.TB, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if st, err := os.Stat(filepath.Join(root, e.Name(), "function.json")); err == nil && st.Mode().IsRegular() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatalf("no */function.json under %s", root)
	}
	return out
}

// hostExecutablePath is host.json customHandler.description.defaultExecutablePath.
func hostExecutablePath(t testing.TB, hostJSON string) string {
	t.Helper()
	var h struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	readJSON(t, hostJSON, &h)
	p := h.CustomHandler.Description.DefaultExecutablePath
	if p == "" {
		t.Fatalf("%s: customHandler.description.defaultExecutablePath is empty", hostJSON)
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
