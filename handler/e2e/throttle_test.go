package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/runner"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// throttleRoot is the repository's app with host.json's extensions.durableTask set
// to durableTask (function folders linked, not copied).
func throttleRoot(t *testing.T, durableTask string) string {
	t.Helper()
	repo := repoRoot(t)
	dir := t.TempDir()
	host, err := os.ReadFile(filepath.Join(repo, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	h := strings.Replace(string(host), `"extensions": {`, `"extensions": {`+"\n    \"durableTask\": "+durableTask+",", 1)
	if err := os.WriteFile(filepath.Join(dir, "host.json"), []byte(h), 0o644); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(repo)
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(repo, e.Name(), "function.json")); err == nil {
			if err := os.Symlink(filepath.Join(repo, e.Name()), filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// probeApp runs a worker whose "throttle_fan" orchestration fans out n activities that
// each take 80 ms; running and peak count how many run at once.
func probeApp(t *testing.T, root string) (a *app.App, peak *atomic.Int64) {
	t.Helper()
	h := newHarness(t, nil)
	var running atomic.Int64
	peak = new(atomic.Int64)
	ctx := testenv.Context(t, time.Minute)
	a, err := app.New(ctx, app.Options{Root: root, Getenv: h.vars.get, Logger: quietLogger(), Account: h.az.Account(t), Def: sampleApp(),
		Register: func(reg *durable.Registry) {
			reg.AddActivity("throttle_probe", func(ctx durable.ActivityContext) (any, error) {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(80 * time.Millisecond)
				running.Add(-1)
				return 1, nil
			})
			reg.AddOrchestrator("throttle_chain", func(ctx durable.OrchestrationContext) (any, error) {
				sum := 0
				for i := range 6 {
					var v int
					if err := ctx.CallActivity("throttle_probe", i, nil).Await(&v); err != nil {
						return nil, err
					}
					sum += v
				}
				return sum, nil
			})
			reg.AddOrchestrator("throttle_fan", func(ctx durable.OrchestrationContext) (any, error) {
				var n int
				if err := ctx.GetInput(&n); err != nil {
					return nil, err
				}
				tasks := make([]durable.Task, n)
				for i := range tasks {
					tasks[i] = ctx.CallActivity("throttle_probe", i, nil)
				}
				sum := 0
				for _, tk := range tasks {
					var v int
					if err := tk.Await(&v); err != nil {
						return nil, err
					}
					sum += v
				}
				return sum, nil
			})
		}})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.RunWorkers(wctx, &runner.PollerOptions{Lease: 10 * time.Second, MinPollingInterval: 10 * time.Millisecond})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return a, peak
}

func runFan(t *testing.T, a *app.App, name string) {
	t.Helper()
	ctx := testenv.Context(t, time.Minute)
	id, err := a.Hub.StartOrchestration(ctx, name, "", []byte(`6`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.Hub.WaitForCompletion(ctx, id, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if s.RuntimeStatus != durable.StatusCompleted || string(s.Output) != "6" {
		t.Fatalf("%s ended %s with %s", name, s.RuntimeStatus, s.Output)
	}
}

// TestActivityThrottleOfOne: with maxConcurrentActivityFunctions 1, a fan-out of six
// activities (one queue message carries several) never runs two at once; with 3, the
// same probe sees more than one, so it does detect concurrency.
func TestActivityThrottleOfOne(t *testing.T) {
	for _, c := range []struct {
		limit   string
		checkOK func(peak int64) bool
	}{
		{"1", func(p int64) bool { return p == 1 }},
		{"3", func(p int64) bool { return p > 1 && p <= 3 }},
	} {
		t.Run("limit "+c.limit, func(t *testing.T) {
			a, peak := probeApp(t, throttleRoot(t, `{"maxConcurrentActivityFunctions": `+c.limit+`}`))
			if got := a.Meta.Host.DurableTask.MaxConcurrentActivityFunctions; fmt.Sprint(got) != c.limit {
				t.Fatalf("host.json limit read as %d", got)
			}
			runFan(t, a, "throttle_fan")
			if p := peak.Load(); !c.checkOK(p) {
				t.Fatalf("limit %s: %d activities ran at once", c.limit, p)
			}
		})
	}
}

// TestWaitForCompletionIsNotified: a wait on an instance this process runs returns
// on the completion commit with a couple of status reads, instead of one read every
// polling interval while the orchestration runs (a chain of six 80 ms activities:
// about half a second, which at 20 ms was 25 reads or more).
func TestWaitForCompletionIsNotified(t *testing.T) {
	a, _ := probeApp(t, repoRoot(t))
	acct := a.Hub.Account()
	before := acct.RequestsByKind()["table.get"]
	start := time.Now()
	runFan(t, a, "throttle_chain")
	gets := acct.RequestsByKind()["table.get"] - before
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("the orchestration took only %s: too short to tell polling from notification", el)
	}
	// The engine makes about one point read per activity result it delivers (6); the
	// notified waiter adds one or two, a 20 ms poller 25 or more.
	if gets > 10 {
		t.Fatalf("%d point reads while waiting (the engine's own included)", gets)
	}
}
