// Package testenv starts a private Azurite for a test binary, so tests run against the
// real storage emulator without sharing an account (Azurite slows down with the number
// of messages held in the whole account, and tests must not see each other's queues).
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/durablego/durablefunctions/internal/storage"
)

// Azurite is a running emulator.
type Azurite struct {
	ConnectionString string
	cmd              *exec.Cmd
	dir              string
	ports            []int
}

// Account opens a storage account on the emulator with short retries, so a test that
// goes wrong fails fast instead of hanging in SDK back-off.
func (a *Azurite) Account(t testing.TB) *storage.Account {
	t.Helper()
	acct, err := a.Open()
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

// Open is Account for code outside tests (the benchmark command).
func (a *Azurite) Open() (*storage.Account, error) {
	s, err := storage.ParseConnectionString(a.ConnectionString)
	if err != nil {
		return nil, err
	}
	return storage.Open(s, &storage.OpenOptions{Retry: &policy.RetryOptions{MaxRetries: 3, RetryDelay: 50 * time.Millisecond, MaxRetryDelay: time.Second}})
}

// Stop ends the emulator process.
func (a *Azurite) Stop() {
	if a.cmd != nil && a.cmd.Process != nil {
		_ = a.cmd.Process.Kill()
		_, _ = a.cmd.Process.Wait()
	}
	if a.dir != "" {
		_ = os.RemoveAll(a.dir)
	}
}

// Kill stops the emulator abruptly, keeping nothing (in-memory persistence).
func (a *Azurite) Kill() { a.Stop() }

var (
	shared     *Azurite
	sharedErr  error
	sharedOnce sync.Once
)

// Shared returns the test binary's emulator, starting it on first use. Call
// StopShared from TestMain after m.Run.
func Shared(t testing.TB) *Azurite {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	if sharedErr != nil {
		t.Fatalf("azurite: %v", sharedErr)
	}
	return shared
}

// StopShared stops the emulator started by Shared, if any.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}

// EntryPoint finds Azurite's node entry point: $AZURITE_ENTRY, else .tools/azurite in
// the repository (installed by `make test` through scripts/azurite.sh install).
func EntryPoint() (string, error) {
	if p := os.Getenv("AZURITE_ENTRY"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, ".tools", "azurite", "node_modules", "azurite", "dist", "src", "azurite.js")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("azurite is not installed: run `make test` (or scripts/azurite.sh install) from the repository root")
		}
		dir = parent
	}
}

// Start launches a new in-memory Azurite on free loopback ports.
func Start() (*Azurite, error) { return StartWith(StartOptions{}) }

// StartOptions tunes StartWith.
type StartOptions struct {
	// DataDir keeps Azurite's data on disk there (so a restart keeps it); empty
	// means in memory.
	DataDir string
	// Ports are the blob, queue and table ports; nil picks free ones.
	Ports []int
}

// Ports returns the blob, queue and table ports of a running emulator.
func (a *Azurite) Ports() []int { return a.ports }

// Terminate stops the emulator gracefully (SIGTERM), so it saves its data.
func (a *Azurite) Terminate() {
	if a.cmd != nil && a.cmd.Process != nil {
		_ = a.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _, _ = a.cmd.Process.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = a.cmd.Process.Kill()
			<-done
		}
	}
}

// StartWith launches an Azurite as o says.
func StartWith(o StartOptions) (*Azurite, error) {
	entry, err := EntryPoint()
	if err != nil {
		return nil, err
	}
	ports := o.Ports
	if len(ports) != 3 {
		if ports, err = freePorts(3); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "azurite-*")
	if err != nil {
		return nil, err
	}
	persist := []string{"--inMemoryPersistence"}
	if o.DataDir != "" {
		persist = []string{"--location", o.DataDir}
	}
	args := append([]string{entry, "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose"}, persist...)
	cmd := exec.Command("node", append(args,
		"--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(ports[0]),
		"--queueHost", "127.0.0.1", "--queuePort", fmt.Sprint(ports[1]),
		"--tableHost", "127.0.0.1", "--tablePort", fmt.Sprint(ports[2]))...)
	cmd.Dir = dir
	logf, err := os.Create(filepath.Join(dir, "azurite.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start azurite: %w", err)
	}
	a := &Azurite{cmd: cmd, dir: dir, ports: ports, ConnectionString: ConnectionString("127.0.0.1", ports[1], ports[2])}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range ports[1:] {
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "azurite.log"))
				a.Stop()
				return nil, fmt.Errorf("azurite did not listen on %d: %s", p, strings.TrimSpace(string(log)))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return a, nil
}

// ConnectionString is the devstoreaccount1 connection string for given ports.
func ConnectionString(host string, queuePort, tablePort int) string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;QueueEndpoint=http://%s:%d/devstoreaccount1;TableEndpoint=http://%s:%d/devstoreaccount1", host, queuePort, host, tablePort)
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

var hubSeq struct {
	sync.Mutex
	n int
}

// HubName returns a task hub name unique within this test binary.
func HubName(prefix string) string {
	hubSeq.Lock()
	defer hubSeq.Unlock()
	hubSeq.n++
	return fmt.Sprintf("%s%d%d", strings.ToLower(prefix), os.Getpid()%10000, hubSeq.n)
}

// Context returns a context that ends with the test or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
