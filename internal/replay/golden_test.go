package replay

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from the simulation")

// waitLocked holds two locks and waits for an event that never comes, until terminated.
func waitLocked(ctx durable.OrchestrationContext) (any, error) {
	unlock, lock := ctx.LockEntities(durable.NewEntityID("counter", "z"), durable.NewEntityID("counter", "y"))
	if err := lock.Await(nil); err != nil {
		return nil, err
	}
	defer unlock() // must not run as an action when the instance is torn down
	return nil, ctx.WaitForExternalEvent("never", 0).Await(nil)
}

// golden lists the recorded histories in testdata and how each was recorded.
var golden = []struct {
	file   string
	fn     durable.Orchestrator
	status durable.RuntimeStatus
	output string
	record func(w *world) *instance
}{
	{"chaining.json", chaining, durable.StatusCompleted, "45", func(w *world) *instance {
		chainingActivities(w)
		return w.start("Chain", "chain-1", nil, nil)
	}},
	{"fanout.json", fanOut, durable.StatusCompleted, "30", func(w *world) *instance {
		w.acts["Square"] = square
		return w.start("Fan", "fan-1", 5, nil)
	}},
	{"approval_event.json", approval, durable.StatusCompleted, `"approved"`, func(w *world) *instance {
		w.raiseAt(t0.Add(time.Hour), "ask-1", "ApprovalEvent", true)
		return w.start("Approval", "ask-1", nil, nil)
	}},
	{"approval_timeout.json", approval, durable.StatusCompleted, `"escalated"`, func(w *world) *instance {
		w.acts["Escalate"] = func(json.RawMessage, int) (any, error) { return nil, nil }
		return w.start("Approval", "ask-2", nil, nil)
	}},
	{"retry.json", retrying(&durable.RetryPolicy{MaxAttempts: 3, FirstRetryInterval: 5 * time.Second, BackoffCoefficient: 2}),
		durable.StatusCompleted, `"ok after 3 attempts"`, func(w *world) *instance {
			w.acts["Flaky"] = flaky
			return w.start("Retry", "retry-1", nil, nil)
		}},
	{"critical_section.json", transfer, durable.StatusCompleted, "10", func(w *world) *instance {
		w.ents["counter"] = counterEntity
		return w.start("Transfer", "transfer-1", nil, nil)
	}},
	{"entity.json", counterUser, durable.StatusCompleted, "8", func(w *world) *instance {
		w.ents["counter"] = counterEntity
		return w.start("Counter", "counter-1", nil, nil)
	}},
	{"suborchestration.json", parent, durable.StatusCompleted, "42", func(w *world) *instance {
		w.orchs["Child"] = child
		w.acts["F2"] = addActivity(1)
		return w.start("Parent", "parent-1", 41, nil)
	}},
	{"terminated.json", waitLocked, durable.StatusTerminated, `"operator said so"`, func(w *world) *instance {
		w.orchs["Wait"] = waitLocked
		in := w.start("Wait", "wait-1", nil, nil)
		w.run()
		w.terminate("wait-1", "operator said so")
		return in
	}},
}

// TestGoldenHistories replays every episode of each recorded history and checks that
// it reproduces exactly what was recorded: the persisted format and the executor's
// decisions are both pinned. Run with -update to re-record after a deliberate change.
func TestGoldenHistories(t *testing.T) {
	for _, g := range golden {
		t.Run(g.file, func(t *testing.T) {
			path := filepath.Join("testdata", g.file)
			if *update {
				w := newWorld(t, 42)
				w.dup = 0.3
				in := g.record(w)
				w.orchs[in.name] = g.fn
				w.run()
				data, err := json.MarshalIndent(in.hist, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			hist := load(t, path)
			eps := episodes(hist)
			if len(eps) < 2 {
				t.Fatalf("%s has %d episodes; a golden history should have several", g.file, len(eps))
			}
			var last *Result
			for k, ep := range eps {
				past, recorded := hist[:ep[0]], hist[ep[0]:ep[1]]
				in := incoming(recorded)
				r := Execute(g.fn, past, in, Options{})
				checkResult(t, past, in, r)
				if got, want := dump(r.NewEvents), dump(recorded); got != want {
					t.Fatalf("episode %d differs from the recording\ngot:\n%swant:\n%s", k, got, want)
				}
				if len(r.Dropped) != 0 {
					t.Fatalf("episode %d dropped recorded events:\n%s", k, dump(r.Dropped))
				}
				if again := Execute(g.fn, past, in, Options{}); mustJSON(t, again) != mustJSON(t, r) {
					t.Fatalf("episode %d: two runs on the same input differ", k)
				}
				last = r
			}
			if last.Status != g.status || string(last.Output) != g.output {
				t.Fatalf("final status %s output %s, want %s %s", last.Status, last.Output, g.status, g.output)
			}
		})
	}
}

// TestNonDeterminism replays recorded histories with code that changed since they were
// recorded: the instance must fail, naming what history has and what the code did.
func TestNonDeterminism(t *testing.T) {
	activityInstead := func(from, to string) durable.Orchestrator {
		return func(ctx durable.OrchestrationContext) (any, error) {
			var x int
			for _, f := range []string{"F1", "F2", "F3"} {
				if f == from {
					f = to
				}
				if err := ctx.CallActivity(f, x, nil).Await(&x); err != nil {
					return nil, err
				}
			}
			return x, nil
		}
	}
	cases := []struct {
		name    string
		file    string
		episode int // replay up to the start of this episode (-1: the last one)
		fn      durable.Orchestrator
		want    string
		unlocks string // releases sent because history holds locks
	}{
		{"activity renamed", "chaining.json", -1, activityInstead("F1", "F9"),
			`at event 0 history has TaskScheduled "F1" but code produced TaskScheduled "F9"`, ""},
		{"activity renamed later", "chaining.json", -1, activityInstead("F2", "F2b"),
			`at event 1 history has TaskScheduled "F2" but code produced TaskScheduled "F2b"`, ""},
		{"timer instead of activity", "chaining.json", -1, func(ctx durable.OrchestrationContext) (any, error) {
			ctx.CreateTimer(ctx.CurrentUTCDateTime()).Await(nil)
			return chaining(ctx)
		}, `at event 0 history has TaskScheduled "F1" but code produced TimerCreated`, ""},
		{"call removed", "chaining.json", -1, func(ctx durable.OrchestrationContext) (any, error) {
			var x int
			err := ctx.CallActivity("F1", nil, nil).Await(&x)
			return x, err
		}, `at event 1 history has TaskScheduled "F2" but code produced no further action (orchestrator returned)`, ""},
		{"waits instead of calling", "chaining.json", -1, func(ctx durable.OrchestrationContext) (any, error) {
			var x int
			ctx.CallActivity("F1", nil, nil).Await(&x)
			return x, ctx.WaitForExternalEvent("Go", 0).Await(nil)
		}, `at event 1 history has TaskScheduled "F2" but code produced no further action (orchestrator is waiting)`, ""},
		{"call added", "chaining.json", -1, func(ctx durable.OrchestrationContext) (any, error) {
			var x int
			ctx.CallActivity("F1", nil, nil).Await(&x)
			ctx.CallActivity("F2", x, nil).Await(&x)
			f3 := ctx.CallActivity("F3", x, nil)
			ctx.CallActivity("Audit", x, nil)
			return x, f3.Await(&x)
		}, `at event 3 history has no scheduling event but code produced TaskScheduled "Audit"`, ""},
		{"different lock set", "critical_section.json", 2, func(ctx durable.OrchestrationContext) (any, error) {
			_, lock := ctx.LockEntities(durable.NewEntityID("counter", "a"))
			return nil, lock.Await(nil)
		}, `at event 0 history has EntityLockRequested [@counter@a @counter@b] but code produced EntityLockRequested [@counter@a]`,
			"@counter@a @counter@b"},
		{"entity operation changed", "entity.json", -1, func(ctx durable.OrchestrationContext) (any, error) {
			ctx.SignalEntity(durable.NewEntityID("Counter", "c1"), "subtract", 5)
			return counterUser(ctx)
		}, `at event 0 history has EntityOperationSignaled "add" on @counter@c1 but code produced EntityOperationSignaled "subtract" on @counter@c1`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hist := load(t, filepath.Join("testdata", tc.file))
			eps := episodes(hist)
			k := tc.episode
			if k < 0 {
				k = len(eps) - 1
			}
			past, in := hist[:eps[k][0]], incoming(hist[eps[k][0]:eps[k][1]])
			r := Execute(tc.fn, past, in, Options{})
			checkResult(t, past, in, r)
			if r.Status != durable.StatusFailed || r.Failure.ErrorType != "NonDeterminismError" {
				t.Fatalf("status %s failure %+v", r.Status, r.Failure)
			}
			if !strings.HasSuffix(r.Failure.ErrorMessage, tc.want) {
				t.Fatalf("message\n  %s\nwant it to end with\n  %s", r.Failure.ErrorMessage, tc.want)
			}
			if r.Nondeterminism == nil || r.Nondeterminism.Error() != r.Failure.ErrorMessage {
				t.Fatalf("Result.Nondeterminism = %v, want the error behind %q", r.Nondeterminism, r.Failure.ErrorMessage)
			}
			// The episode records its start and the failure; the rest is dropped.
			if r.NewEvents[0].Type != history.OrchestratorStarted || len(r.Dropped) != len(in)-1 {
				t.Fatalf("new events:\n%sdropped:\n%s", dump(r.NewEvents), dump(r.Dropped))
			}
			var unlocks []string
			for _, a := range r.Actions {
				if a.Type != history.EntityUnlockSent {
					t.Fatalf("unexpected action %s", a.Type)
				}
				unlocks = append(unlocks, a.Entity.String())
				if a.ID <= maxID(past) {
					t.Errorf("release reuses id %d", a.ID)
				}
			}
			if strings.Join(unlocks, " ") != tc.unlocks {
				t.Errorf("released %v, want %s", unlocks, tc.unlocks)
			}
		})
	}
}

func load(t testing.TB, path string) []history.Event {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h []history.Event
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// episodes splits a history at its OrchestratorStarted events: [start, end) ranges.
func episodes(h []history.Event) [][2]int {
	var eps [][2]int
	for i, e := range h {
		if e.Type == history.OrchestratorStarted {
			if len(eps) > 0 {
				eps[len(eps)-1][1] = i
			}
			eps = append(eps, [2]int{i, len(h)})
		}
	}
	return eps
}

// incoming keeps the events of a recorded episode that came from outside, i.e. what
// the worker passed as newEvents.
func incoming(seg []history.Event) []history.Event {
	var in []history.Event
	for _, e := range seg {
		if !isScheduling(e.Type) && e.Type != history.ExecutionCompleted {
			in = append(in, e)
		}
	}
	return in
}

func maxID(h []history.Event) int {
	m := -1
	for _, e := range h {
		if isScheduling(e.Type) {
			m = max(m, e.ID)
		}
	}
	return m
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
