package replay

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

// TestNoGoroutineLeak runs many episodes that end with the orchestrator parked, or torn
// down in every other way, and checks that no orchestrator goroutine survives them.
func TestNoGoroutineLeak(t *testing.T) {
	chain := load(t, filepath.Join("testdata", "chaining.json"))
	eps := episodes(chain)
	midChain := chain[:eps[2][0]] // parked on F3... after the next OrchestratorStarted
	os := []history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: t0}}

	stubborn := func(ctx durable.OrchestrationContext) (any, error) {
		// Tries hard to keep running: swallows panics, awaits in defers, loops.
		defer func() {
			recover()
			ctx.CallActivity("cleanup", nil, nil).Await(nil)
		}()
		for {
			if err := ctx.CallActivity("F1", nil, nil).Await(nil); err == nil {
				return nil, nil
			}
		}
	}
	scenarios := []struct {
		name string
		run  func() *Result
		want durable.RuntimeStatus
	}{
		{"parked after replay", func() *Result { return Execute(chaining, midChain, os, Options{}) }, durable.StatusRunning},
		{"parked in WhenAny", func() *Result {
			return Execute(approvalWhenAny, nil, start(), Options{})
		}, durable.StatusRunning},
		{"stubborn code", func() *Result { return Execute(stubborn, nil, start(), Options{}) }, durable.StatusRunning},
		{"non-determinism", func() *Result {
			return Execute(func(ctx durable.OrchestrationContext) (any, error) {
				return nil, ctx.CallActivity("F9", nil, nil).Await(nil)
			}, midChain, os, Options{})
		}, durable.StatusFailed},
		{"terminated while parked", func() *Result {
			return Execute(chaining, midChain, append(os, history.Event{Type: history.ExecutionTerminated, ID: -1}), Options{})
		}, durable.StatusTerminated},
		{"rule violation", func() *Result {
			return Execute(func(ctx durable.OrchestrationContext) (any, error) {
				id := durable.NewEntityID("e", "1")
				ctx.LockEntities(id)
				ctx.SignalEntity(id, "op", nil)
				return nil, nil
			}, nil, start(), Options{})
		}, durable.StatusFailed},
		{"panic", func() *Result {
			return Execute(func(durable.OrchestrationContext) (any, error) { panic("x") }, nil, start(), Options{})
		}, durable.StatusFailed},
	}

	// Warm up so lazily started runtime goroutines are not counted.
	for _, s := range scenarios {
		s.run()
	}
	before := runtime.NumGoroutine()
	for range 200 {
		for _, s := range scenarios {
			if r := s.run(); r.Status != s.want {
				t.Fatalf("%s: status %s, want %s (%+v)", s.name, r.Status, s.want, r.Failure)
			}
		}
	}
	// An unwound goroutine may still be returning from its last deferred call.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after %d episodes:\n%s", before, after, 200*len(scenarios), buf[:runtime.Stack(buf, true)])
	}
}
