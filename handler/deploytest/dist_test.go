package deploytest

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// goTool is the go command that runs this test (go test puts its GOROOT/bin first on
// PATH), so scripts/dist.sh builds with the same toolchain.
func goTool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	return p
}

// runDist runs scripts/dist.sh with DIST_DIR=dist under sh, as azd's prepackage hook does.
func runDist(t *testing.T, root, dist string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", filepath.Join(root, "scripts", "dist.sh"))
	cmd.Dir = t.TempDir() // the script must not depend on the working directory
	cmd.Env = append(os.Environ(), "DIST_DIR="+dist, "GO="+goTool(t))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDist builds the deployable app with scripts/dist.sh into a temporary DIST_DIR and
// checks it holds exactly what Azure needs, and that a rerun starts from scratch.
func TestDist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler for linux/amd64")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	root := repoRoot(t)
	dist := filepath.Join(t.TempDir(), "out", "dist")
	if out, err := runDist(t, root, dist); err != nil {
		t.Fatalf("scripts/dist.sh: %v\n%s", err, out)
	}
	checkDistLayout(t, root, dist)

	t.Run("rerun replaces stale output", func(t *testing.T) {
		stale := []string{
			filepath.Join(dist, "stale.txt"),
			filepath.Join(dist, "bin", "old-handler"),
			filepath.Join(dist, "gone_function", "function.json"),
			filepath.Join(dist, functionFolders(t, root)[0], "main.go"),
		}
		for _, p := range stale {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("stale"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := runDist(t, root, dist); err != nil {
			t.Fatalf("second scripts/dist.sh: %v\n%s", err, out)
		}
		for _, p := range stale {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s survived a rerun", p)
			}
		}
		checkDistLayout(t, root, dist)
		// No staging folders left next to the output.
		entries, _ := os.ReadDir(filepath.Dir(dist))
		for _, e := range entries {
			if e.Name() != filepath.Base(dist) {
				t.Errorf("leftover %s next to the output folder", e.Name())
			}
		}
	})

	t.Run("refuses an output folder with ..", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "a") + "/../b"
		out, err := runDist(t, root, bad)
		if err == nil {
			t.Fatalf("DIST_DIR=%s accepted:\n%s", bad, out)
		}
		if !strings.Contains(out, "refusing") {
			t.Errorf("unexpected failure output:\n%s", out)
		}
	})
}

func checkDistLayout(t *testing.T, root, dist string) {
	t.Helper()
	functions := functionFolders(t, root)
	exe := hostExecutablePath(t, filepath.Join(root, "host.json"))
	exeTop := strings.SplitN(filepath.ToSlash(exe), "/", 2)[0]

	// Top level: host.json, the executable's folder, one folder per function, nothing else.
	want := append([]string{"host.json", exeTop}, functions...)
	sort.Strings(want)
	var got []string
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("dist/ holds %v, want %v", got, want)
	}

	if a, b := readFile(t, filepath.Join(root, "host.json")), readFile(t, filepath.Join(dist, "host.json")); a != b {
		t.Error("dist/host.json differs from host.json")
	}

	for _, fn := range functions {
		entries, err := os.ReadDir(filepath.Join(dist, fn))
		if err != nil {
			t.Errorf("function folder %s: %v", fn, err)
			continue
		}
		if len(entries) != 1 || entries[0].Name() != "function.json" || !entries[0].Type().IsRegular() {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("dist/%s holds %v, want exactly function.json", fn, names)
			continue
		}
		src := readFile(t, filepath.Join(root, fn, "function.json"))
		if readFile(t, filepath.Join(dist, fn, "function.json")) != src {
			t.Errorf("dist/%s/function.json differs from %s/function.json", fn, fn)
		}
	}

	// The executable: where host.json says, alone in bin/, a static linux/amd64 ELF executable.
	exePath := filepath.Join(dist, filepath.FromSlash(exe))
	st, err := os.Stat(exePath)
	if err != nil {
		t.Fatalf("host.json defaultExecutablePath %q is not in dist/: %v", exe, err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 != 0o111 {
		t.Errorf("dist/%s mode %v: want a regular file executable by everyone", exe, st.Mode())
	}
	if exeTop != exe {
		var names []string
		entries, _ := os.ReadDir(filepath.Join(dist, exeTop))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if strings.Join(names, " ") != filepath.Base(exe) {
			t.Errorf("dist/%s holds %v, want only %s", exeTop, names, filepath.Base(exe))
		}
	}
	checkLinuxAMD64Executable(t, exePath)
}

func checkLinuxAMD64Executable(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// ELF identification: magic, 64-bit, little-endian; e_type ET_EXEC (2) and e_machine
	// EM_X86_64 (62), both little-endian uint16 at offsets 16 and 18.
	if len(b) < 64 || !bytes.Equal(b[:4], []byte{0x7f, 'E', 'L', 'F'}) {
		t.Fatalf("%s is not an ELF file", path)
	}
	if b[4] != 2 || b[5] != 1 {
		t.Errorf("%s: EI_CLASS %d EI_DATA %d, want 64-bit little-endian (2, 1)", path, b[4], b[5])
	}
	if typ, mach := int(b[16])|int(b[17])<<8, int(b[18])|int(b[19])<<8; typ != 2 || mach != 62 {
		t.Errorf("%s: e_type %d e_machine %d, want ET_EXEC (2) on EM_X86_64 (62)", path, typ, mach)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		t.Errorf("%s: %v %v %v, want ELFCLASS64 EM_X86_64 ET_EXEC", path, f.Class, f.Machine, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: want a static binary (CGO_ENABLED=0)", path)
		}
	}
}
