package e2e

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQuickstart builds examples/quickstart (its own module, depending on this one
// through a replace) and runs it standalone against Azurite: the README's path.
func TestQuickstart(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "examples", "quickstart")
	bin := filepath.Join(t.TempDir(), "quickstart")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	check := exec.Command(bin, "-gen-check", "-root", dir)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("-gen-check: %v\n%s", err, out)
	}

	h := newHarness(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-root", dir, "-addr", addr)
	cmd.Env = append(os.Environ(), "FUNCTIONS_CUSTOMHANDLER_PORT=")
	for k, v := range h.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			t.Logf("quickstart log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	eventually(t, 20*time.Second, "quickstart listening", func() (bool, string) {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})

	for i := 0; i < 2; i++ {
		r := do(t, "POST", base+"/api/hello/Ada", "")
		if r.Status != 202 {
			t.Fatalf("POST /api/hello/Ada: %d %s", r.Status, r.Body)
		}
		var cs struct {
			ID  string `json:"id"`
			URI string `json:"statusQueryGetUri"`
		}
		if err := json.Unmarshal([]byte(r.Body), &cs); err != nil || cs.ID == "" || cs.URI == "" {
			t.Fatalf("check-status body %s: %v", r.Body, err)
		}
		eventually(t, 30*time.Second, "hello completes", func() (bool, string) {
			s := do(t, "GET", cs.URI, "")
			var st struct {
				RuntimeStatus string          `json:"runtimeStatus"`
				Output        json.RawMessage `json:"output"`
			}
			_ = json.Unmarshal([]byte(s.Body), &st)
			return st.RuntimeStatus == "Completed" && string(st.Output) == `"Hello, Ada!"`, string(s.Body)
		})
	}
	eventually(t, 30*time.Second, "two visits counted", func() (bool, string) {
		r := do(t, "GET", base+"/api/visits/Ada", "")
		return r.Status == 200 && string(bytes.TrimSpace(r.Body)) == `{"visits":2}`, string(r.Body)
	})
}

// TestQuickstartOutsideRepo copies the quickstart out of the repository with its
// replace pointed at this checkout, as a user starting from it would: it tidies,
// builds and vets, imports nothing internal, and -gen restores a deleted folder.
func TestQuickstartOutsideRepo(t *testing.T) {
	root := repoRoot(t)
	src := filepath.Join(root, "examples", "quickstart")
	dst := filepath.Join(t.TempDir(), "myapp")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(root)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dst
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("go", "mod", "edit", "-replace", "github.com/durablego/durablefunctions="+abs)
	run("go", "mod", "tidy")
	run("go", "build", "-o", "app", ".")
	run("go", "vet", "./...")
	imports := run("go", "list", "-f", `{{join .Imports "\n"}}`, ".")
	for _, imp := range strings.Split(imports, "\n") {
		if strings.Contains(imp, "/internal") || strings.Contains(imp, "/handler/") {
			t.Errorf("quickstart imports %s", imp)
		}
	}
	run("./app", "-gen-check")
	if err := os.RemoveAll(filepath.Join(dst, "visits")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("./app", "-gen-check")
	cmd.Dir = dst
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "visits/function.json: missing") {
		t.Fatalf("-gen-check with visits/ deleted: err %v, output:\n%s", err, out)
	}
	run("./app", "-gen")
	run("./app", "-gen-check")
}
