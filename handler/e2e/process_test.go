package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// handlerBinary builds the handler once per test binary.
func handlerBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "handler-bin-*")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "handler")
		cmd := exec.Command("go", "build", "-o", binPath, "./handler")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is a standalone handler process.
type proc struct {
	cmd    *exec.Cmd
	URL    string
	log    *bytes.Buffer
	addr   string
	exited chan struct{} // closed once the process has ended (cmd.Wait returned)
}

// exitedEarly is a process that ended before it listened (spawnProcess); the error
// carries its output.
type exitedEarly struct{ log string }

func (e *exitedEarly) Error() string { return "handler process exited before it listened:\n" + e.log }

// startProcess runs the real binary standalone against the harness's task hub.
func (h *harness) startProcess(addr string) *proc {
	h.t.Helper()
	p, err := h.spawnProcess(addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { p.Kill() })
	return p
}

// spawnProcess starts the binary (over h.root, with lease h.lease, when set) and
// waits until it listens; safe to call from any goroutine. The caller stops it.
func (h *harness) spawnProcess(addr string) (*proc, error) {
	bin := handlerBinary(h.t)
	if addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr = l.Addr().String()
		l.Close()
	}
	root, lease := h.root, h.lease
	if root == "" {
		root = repoRoot(h.t)
	}
	if lease == "" {
		lease = "4s"
	}
	cmd := exec.Command(bin, "-root", root, "-addr", addr, "-lease", lease)
	cmd.Env = append(os.Environ(), "FUNCTIONS_CUSTOMHANDLER_PORT=")
	for k, v := range h.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, URL: "http://" + addr, log: &buf, addr: addr, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, &exitedEarly{log: buf.String()}
		default:
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("handler process did not listen on %s:\n%s", addr, buf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill ends the process with SIGKILL: no clean shutdown, as a crash.
func (p *proc) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

func TestCounterTwoProcesses(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.startProcess(""), h.startProcess("")
	sendAdds(t, []string{a.URL, b.URL}, 1000, 64)
	waitCounter(t, a.URL, "", 1000, 90*time.Second)
	time.Sleep(500 * time.Millisecond)
	if v := counterValue(t, b.URL, ""); v != 1000 {
		t.Fatalf("after settling: %d, want 1000", v)
	}
}

// TestCounterSurvivesKill kills a worker with SIGKILL while signals are pending and
// restarts it: every signal is applied exactly once.
func TestCounterSurvivesKill(t *testing.T) {
	h := newHarness(t, nil)
	a := h.startProcess("")
	sendAdds(t, []string{a.URL}, 300, 32)
	a.Kill()
	b := h.startProcess(a.addr)
	waitCounter(t, b.URL, "", 300, 90*time.Second)
	time.Sleep(time.Second)
	if v := counterValue(t, b.URL, ""); v != 300 {
		t.Fatalf("after settling: %d, want 300", v)
	}
}
