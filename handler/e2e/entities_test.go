package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"context"
	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/funcapp"
	"github.com/durablego/durablefunctions/handler/apps/patterns"
	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/runner"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// testRoot copies the app's host.json and function folders into a temporary root and
// adds a queue-triggered folder for each extra entity, so tests can register entities
// of their own.
func testRoot(t testing.TB, extraEntities ...string) string {
	t.Helper()
	src := repoRoot(t)
	dst := t.TempDir()
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(filepath.Join(src, "host.json"), filepath.Join(dst, "host.json"))
	matches, _ := filepath.Glob(filepath.Join(src, "*", "function.json"))
	for _, m := range matches {
		copyFile(m, filepath.Join(dst, filepath.Base(filepath.Dir(m)), "function.json"))
	}
	for _, e := range extraEntities {
		fj := fmt.Sprintf(`{"bindings":[{"type":"queueTrigger","direction":"in","name":"msg","queueName":"%%DURABLE_TASK_HUB%%-%s"}]}`, strings.ReplaceAll(e, "_", "-"))
		if err := os.MkdirAll(filepath.Join(dst, e), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e, "function.json"), []byte(fj), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// startCustomWorker runs a worker over root with extra registrations.
func (h *harness) startCustomWorker(root string, register func(*durable.Registry)) *worker {
	h.t.Helper()
	ctx := testenv.Context(h.t, time.Minute)
	// The test's own orchestrators are startable through the public starter too.
	scratch := durable.NewRegistry()
	register(scratch)
	startable := append(append([]string{}, patterns.Startable...), scratch.OrchestratorNames()...)
	def := sampleApp()
	for i := range def.HTTP {
		if def.HTTP[i].Name == "http_start" {
			def.HTTP[i].Handler = funcapp.Starter(startable...)
		}
	}
	a, err := app.New(ctx, app.Options{Root: root, Getenv: h.vars.get, Logger: quietLogger(), Account: h.az.Account(h.t),
		Def: def, Register: register})
	if err != nil {
		h.t.Fatal(err)
	}
	handler, err := a.StandaloneHandler()
	if err != nil {
		h.t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	w := &worker{App: a, Server: newServer(handler, nil), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		_ = a.RunWorkers(wctx, &runner.PollerOptions{Lease: 10 * time.Second, MinPollingInterval: 20 * time.Millisecond})
	}()
	h.t.Cleanup(w.Stop)
	return w
}

func counterID(key string) durable.EntityID { return durable.NewEntityID("counter_entity", key) }

// relay is a test entity exercising entity-to-entity signals.
func relay(ctx durable.EntityContext) error {
	var in struct {
		Key   string `json:"key"`
		Value int    `json:"value"`
		Delay int    `json:"delayMs"`
		Times int    `json:"times"`
	}
	_ = ctx.GetInput(&in)
	switch ctx.Operation() {
	case "forward": // entity signals another entity
		ctx.SignalEntity(counterID(in.Key), "add", in.Value)
	case "schedule": // scheduled signal
		ctx.SignalEntityAt(counterID(in.Key), "add", in.Value, time.Now().Add(time.Duration(in.Delay)*time.Millisecond))
	case "countdown": // entity signals itself
		var n int
		_ = ctx.GetState(&n)
		if err := ctx.SetState(n + 1); err != nil {
			return err
		}
		if in.Times > 1 {
			in.Times--
			ctx.SignalEntity(ctx.ID(), "countdown", in)
		}
	case "get":
		var n int
		_ = ctx.GetState(&n)
		return ctx.SetResult(n)
	default:
		return fmt.Errorf("relay has no operation %q", ctx.Operation())
	}
	return nil
}

// entityOps is a test orchestration exercising orchestration signals and calls.
func entityOps(ctx durable.OrchestrationContext) (any, error) {
	var key string
	if err := ctx.GetInput(&key); err != nil {
		return nil, err
	}
	c := counterID(key)
	ctx.SignalEntity(c, "add", 5) // applied before the call below: same sender, send order
	var v int
	if err := ctx.CallEntity(c, "get", nil).Await(&v); err != nil {
		return nil, err
	}
	// An operation that fails (add takes a number) comes back as a TaskFailedError.
	err := ctx.CallEntity(c, "add", "explode").Await(nil)
	var tf *durable.TaskFailedError
	if !errors.As(err, &tf) {
		return nil, fmt.Errorf("calling add with a string: want a TaskFailedError, got %v", err)
	}
	ctx.SignalEntityAt(c, "add", 100, ctx.CurrentUTCDateTime().Add(1500*time.Millisecond))
	return map[string]any{"afterSignal": v, "callError": tf.Details.ErrorMessage}, nil
}

func TestEntityAccessPaths(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startCustomWorker(testRoot(t, "relay_entity"), func(reg *durable.Registry) {
		reg.AddEntity("relay_entity", relay)
		reg.AddOrchestrator("entity_ops", entityOps)
	})
	base := w.Server.URL
	hub := w.App.Hub
	ctx := testenv.Context(t, 2*time.Minute)
	relayID := durable.NewEntityID("relay_entity", "r1")
	sig := func(id durable.EntityID, op string, in any) {
		b, _ := json.Marshal(in)
		if err := hub.SignalEntity(ctx, id, op, b, nil); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("entity signals entity", func(t *testing.T) {
		sig(relayID, "forward", map[string]any{"key": "fwd", "value": 7})
		waitCounter(t, base, "fwd", 7, 20*time.Second)
	})
	t.Run("entity signals itself", func(t *testing.T) {
		sig(relayID, "countdown", map[string]any{"times": 5})
		eventually(t, 20*time.Second, "relay counted 5", func() (bool, string) {
			s, err := hub.ReadEntity(ctx, relayID)
			return err == nil && string(s.State) == "5", string(s.State)
		})
	})
	t.Run("scheduled signals", func(t *testing.T) {
		sentAt := time.Now()
		sig(relayID, "schedule", map[string]any{"key": "later", "value": 3, "delayMs": 2000})
		if err := hub.SignalEntity(ctx, counterID("later"), "add", json.RawMessage("1"), engineSignalAt{at: time.Now().Add(1500 * time.Millisecond)}.opts()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		if v := counterValue(t, base, "later"); v != 0 {
			t.Fatalf("scheduled signals applied early: %d", v)
		}
		waitCounter(t, base, "later", 4, 30*time.Second)
		if el := time.Since(sentAt); el < 1900*time.Millisecond {
			t.Fatalf("scheduled signal applied after %s, before its time", el)
		}
	})
	t.Run("orchestration signal and call", func(t *testing.T) {
		id := start(t, base, "entity_ops", `"orch"`)
		s := waitStatus(t, base, id, "Completed", 30*time.Second)
		var out struct {
			AfterSignal int    `json:"afterSignal"`
			CallError   string `json:"callError"`
		}
		if err := json.Unmarshal(s.Result, &out); err != nil {
			t.Fatal(err)
		}
		if out.AfterSignal != 5 || !strings.Contains(out.CallError, "integer input") {
			t.Fatalf("result %s: want the signal applied before the call and the call's error", s.Result)
		}
		waitCounter(t, base, "orch", 105, 30*time.Second) // the scheduled signal from the orchestration
	})
	t.Run("read committed state over HTTP", func(t *testing.T) {
		r := do(t, "GET", base+"/api/counter/fwd", "")
		if r.Status != http.StatusOK || string(r.Body) != "{\"value\":7}\n" {
			t.Fatalf("%d %q", r.Status, r.Body)
		}
	})
}

type engineSignalAt struct{ at time.Time }

func (e engineSignalAt) opts() *engine.SignalOptions { return &engine.SignalOptions{At: e.at} }
