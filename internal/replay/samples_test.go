package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

// --- sample orchestrators ---

func chaining(ctx durable.OrchestrationContext) (any, error) {
	var x int
	for _, f := range []string{"F1", "F2", "F3"} {
		if err := ctx.CallActivity(f, x, nil).Await(&x); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func chainingActivities(w *world) {
	w.acts["F1"] = func(json.RawMessage, int) (any, error) { return 42, nil }
	w.acts["F2"] = addActivity(1)
	w.acts["F3"] = addActivity(2)
}

func addActivity(n int) activityFn {
	return func(in json.RawMessage, _ int) (any, error) {
		var x int
		if err := json.Unmarshal(in, &x); err != nil {
			return nil, err
		}
		return x + n, nil
	}
}

func fanOut(ctx durable.OrchestrationContext) (any, error) {
	var n int
	if err := ctx.GetInput(&n); err != nil {
		return nil, err
	}
	tasks := make([]durable.Task, n)
	for i := range tasks {
		tasks[i] = ctx.CallActivity("Square", i, nil)
	}
	sum := 0
	for _, t := range tasks {
		var v int
		if err := t.Await(&v); err != nil {
			return nil, err
		}
		sum += v
	}
	return sum, nil
}

func square(in json.RawMessage, _ int) (any, error) {
	var x int
	if err := json.Unmarshal(in, &x); err != nil {
		return nil, err
	}
	return x * x, nil
}

// approval is the human-interaction sample: an approval event races a 72h timeout.
func approval(ctx durable.OrchestrationContext) (any, error) {
	var approved bool
	err := ctx.WaitForExternalEvent("ApprovalEvent", 72*time.Hour).Await(&approved)
	switch {
	case errors.Is(err, durable.ErrTimeout):
		if err := ctx.CallActivity("Escalate", nil, nil).Await(nil); err != nil {
			return nil, err
		}
		return "escalated", nil
	case err != nil:
		return nil, err
	case approved:
		return "approved", nil
	}
	return "rejected", nil
}

// approvalWhenAny is the same sample written the way the .NET docs write it.
func approvalWhenAny(ctx durable.OrchestrationContext) (any, error) {
	timer := ctx.CreateTimer(ctx.CurrentUTCDateTime().Add(72 * time.Hour))
	event := ctx.WaitForExternalEvent("approvalevent", 0)
	i, err := durable.WhenAny(ctx, event, timer)
	if err != nil {
		return nil, err
	}
	if i == 1 {
		return "escalated", nil
	}
	var approved bool
	if err := event.Await(&approved); err != nil {
		return nil, err
	}
	return fmt.Sprint("approved=", approved), nil
}

func retrying(policy *durable.RetryPolicy) durable.Orchestrator {
	return func(ctx durable.OrchestrationContext) (any, error) {
		var out string
		if err := ctx.CallActivity("Flaky", nil, &durable.ActivityOptions{Retry: policy}).Await(&out); err != nil {
			return nil, err
		}
		return out, nil
	}
}

// flaky fails until its third attempt.
func flaky(_ json.RawMessage, attempt int) (any, error) {
	if attempt < 3 {
		return nil, fmt.Errorf("transient failure %d", attempt)
	}
	return fmt.Sprintf("ok after %d attempts", attempt), nil
}

func parent(ctx durable.OrchestrationContext) (any, error) {
	var x int
	if err := ctx.GetInput(&x); err != nil {
		return nil, err
	}
	var y int
	if err := ctx.CallSubOrchestrator("Child", x, nil).Await(&y); err != nil {
		return nil, fmt.Errorf("child failed: %w", err)
	}
	return y, nil
}

func child(ctx durable.OrchestrationContext) (any, error) {
	var x int
	if err := ctx.GetInput(&x); err != nil {
		return nil, err
	}
	if x < 0 {
		return nil, errors.New("negative input")
	}
	if err := ctx.CallActivity("F2", x, nil).Await(&x); err != nil {
		return nil, err
	}
	return x, nil
}

// accumulate adds one "Add" event per execution and continues as new until it
// reaches its target, the eternal-orchestration pattern.
func accumulate(preserve bool) durable.Orchestrator {
	return func(ctx durable.OrchestrationContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		if n >= 6 {
			return n, nil
		}
		var v int
		if err := ctx.WaitForExternalEvent("Add", 0).Await(&v); err != nil {
			return nil, err
		}
		ctx.ContinueAsNew(n+v, preserve)
		return "ignored", nil
	}
}

func counterUser(ctx durable.OrchestrationContext) (any, error) {
	id := durable.NewEntityID("Counter", "c1")
	ctx.SignalEntity(id, "add", 5)
	if err := ctx.CallEntity(id, "add", 3).Await(nil); err != nil {
		return nil, err
	}
	var v int
	if err := ctx.CallEntity(id, "get", nil).Await(&v); err != nil {
		return nil, err
	}
	err := ctx.CallEntity(id, "fail", nil).Await(nil)
	var tfe *durable.TaskFailedError
	if !errors.As(err, &tfe) || tfe.Kind != "entity" || tfe.Name != "counter@c1:fail" {
		return nil, fmt.Errorf("want entity TaskFailedError, got %v", err)
	}
	return v, nil
}

// transfer is the critical-section sample: move an amount between two counters.
func transfer(ctx durable.OrchestrationContext) (any, error) {
	a, b := durable.NewEntityID("Counter", "b"), durable.NewEntityID("counter", "a")
	unlock, lock := ctx.LockEntities(a, b, a)
	if err := lock.Await(nil); err != nil {
		return nil, err
	}
	if !ctx.InCriticalSection() {
		return nil, errors.New("not in critical section after lock")
	}
	ta := ctx.CallEntity(a, "add", -10)
	tb := ctx.CallEntity(b, "add", 10)
	if err := durable.WhenAll(ta, tb); err != nil {
		return nil, err
	}
	unlock()
	if ctx.InCriticalSection() {
		return nil, errors.New("still in critical section after unlock")
	}
	var v int
	if err := ctx.CallEntity(b, "get", nil).Await(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// --- tests ---

func TestChaining(t *testing.T) {
	for seed := range uint64(20) {
		w := newWorld(t, seed)
		w.dup = 0.5
		w.orchs["Chain"] = chaining
		chainingActivities(w)
		in := w.start("Chain", "chain", nil, nil)
		w.run()
		assertOutput(t, in, durable.StatusCompleted, "45")
	}
}

func TestFanOutFanIn1000(t *testing.T) {
	w := newWorld(t, 7)
	w.dup = 0.1
	w.maxBatch = 150
	w.orchs["FanOut"] = fanOut
	w.acts["Square"] = square
	in := w.start("FanOut", "fan", 1000, nil)
	w.run()
	assertOutput(t, in, durable.StatusCompleted, "332833500")
	if in.episodes < 5 {
		t.Errorf("completions arrived in only %d episodes; want random batches", in.episodes)
	}
	if len(in.dropped) == 0 {
		t.Error("no duplicate completion was dropped")
	}
	for _, d := range in.dropped {
		if d.Type != history.TaskCompleted {
			t.Errorf("unexpected dropped event %s", d.Type)
		}
	}
}

func TestHumanInteraction(t *testing.T) {
	for _, orch := range []struct {
		name string
		fn   durable.Orchestrator
		yes  string
	}{{"WaitWithTimeout", approval, `"approved"`}, {"TimerAndWhenAny", approvalWhenAny, `"approved=true"`}} {
		t.Run(orch.name+"/approved", func(t *testing.T) {
			w := newWorld(t, 1)
			w.orchs["Approval"] = orch.fn
			in := w.start("Approval", "ask", nil, nil)
			w.raiseAt(t0.Add(time.Hour), "ask", "ApprovalEvent", true)
			w.run()
			assertOutput(t, in, durable.StatusCompleted, orch.yes)
			if count(in.hist, history.TimerCreated) != 1 || count(in.hist, history.TimerFired) != 0 {
				t.Errorf("want one unfired timer:\n%s", dump(in.hist))
			}
		})
		t.Run(orch.name+"/timeout", func(t *testing.T) {
			w := newWorld(t, 1)
			w.orchs["Approval"] = orch.fn
			w.acts["Escalate"] = func(json.RawMessage, int) (any, error) { return nil, nil }
			in := w.start("Approval", "ask", nil, nil)
			w.raiseAt(t0.Add(100*time.Hour), "ask", "ApprovalEvent", true) // too late
			w.run()
			assertOutput(t, in, durable.StatusCompleted, `"escalated"`)
			fired := find(in.hist, history.TimerFired)
			if fired == nil || !fired.FireAt.Equal(t0.Add(time.Second).Add(72*time.Hour)) {
				t.Errorf("timer should fire 72h after the first episode:\n%s", dump(in.hist))
			}
			if d := withoutEpisodeStarts(in.dropped); len(d) != 1 || d[0].Type != history.EventRaised {
				t.Errorf("late approval should be dropped, dropped:\n%s", dump(in.dropped))
			}
		})
	}
}

func TestRetries(t *testing.T) {
	policy := func(max int) *durable.RetryPolicy {
		return &durable.RetryPolicy{MaxAttempts: max, FirstRetryInterval: 5 * time.Second, BackoffCoefficient: 2}
	}
	t.Run("fail twice then succeed", func(t *testing.T) {
		w := newWorld(t, 3)
		w.orchs["R"] = retrying(policy(3))
		w.acts["Flaky"] = flaky
		in := w.start("R", "r", nil, nil)
		w.run()
		assertOutput(t, in, durable.StatusCompleted, `"ok after 3 attempts"`)
		if count(in.hist, history.TaskScheduled) != 3 || count(in.hist, history.TaskFailed) != 2 || count(in.hist, history.TimerCreated) != 2 {
			t.Fatalf("want 3 attempts and 2 retry timers in history:\n%s", dump(in.hist))
		}
		// Delays are 5s then 10s after the failure was seen.
		var delays []time.Duration
		for _, e := range in.hist {
			if e.Type == history.TimerCreated {
				delays = append(delays, e.FireAt.Sub(e.Timestamp))
			}
		}
		if delays[0] != 5*time.Second || delays[1] != 10*time.Second {
			t.Errorf("retry delays %v, want [5s 10s]", delays)
		}
	})
	t.Run("give up after MaxAttempts", func(t *testing.T) {
		w := newWorld(t, 3)
		w.orchs["R"] = retrying(policy(2))
		w.acts["Flaky"] = flaky
		in := w.start("R", "r", nil, nil)
		w.run()
		if in.status != durable.StatusFailed || count(in.hist, history.TaskScheduled) != 2 {
			t.Fatalf("status %s:\n%s", in.status, dump(in.hist))
		}
		f := in.last.Failure
		if f.ErrorType != "TaskFailedError" || !strings.Contains(f.ErrorMessage, "transient failure 2") || f.Inner == nil || f.Inner.ErrorType != "ActivityError" {
			t.Errorf("failure %+v", f)
		}
	})
	t.Run("Handle refuses", func(t *testing.T) {
		w := newWorld(t, 3)
		p := policy(5)
		p.Handle = func(err error) bool {
			var tfe *durable.TaskFailedError
			return errors.As(err, &tfe) && !strings.Contains(tfe.Details.ErrorMessage, "2")
		}
		w.orchs["R"] = retrying(p)
		w.acts["Flaky"] = flaky
		in := w.start("R", "r", nil, nil)
		w.run()
		if in.status != durable.StatusFailed || count(in.hist, history.TaskScheduled) != 2 {
			t.Fatalf("Handle should stop after the 2nd failure: %s\n%s", in.status, dump(in.hist))
		}
	})
	t.Run("RetryTimeout", func(t *testing.T) {
		w := newWorld(t, 3)
		p := policy(10)
		p.FirstRetryInterval = time.Minute
		p.RetryTimeout = 30 * time.Second
		w.orchs["R"] = retrying(p)
		w.acts["Flaky"] = func(json.RawMessage, int) (any, error) { return nil, errors.New("always") }
		in := w.start("R", "r", nil, nil)
		w.run()
		// Attempt 1 fails ~1s in: retry after 1m; attempt 2 fails ~63s in, past 30s: stop.
		if in.status != durable.StatusFailed || count(in.hist, history.TaskScheduled) != 2 {
			t.Fatalf("RetryTimeout should stop retries: %s\n%s", in.status, dump(in.hist))
		}
	})
	t.Run("Handle panics", func(t *testing.T) {
		w := newWorld(t, 3)
		p := policy(5)
		p.Handle = func(error) bool { panic("bad handler") }
		w.orchs["R"] = retrying(p)
		w.acts["Flaky"] = flaky
		in := w.start("R", "r", nil, nil)
		w.run()
		if in.status != durable.StatusFailed || !strings.Contains(in.last.Failure.ErrorMessage, "bad handler") {
			t.Fatalf("status %s failure %+v", in.status, in.last.Failure)
		}
	})
	t.Run("sub-orchestration", func(t *testing.T) {
		w := newWorld(t, 3)
		w.orchs["P"] = func(ctx durable.OrchestrationContext) (any, error) {
			var out int
			err := ctx.CallSubOrchestrator("Child", -1, &durable.SubOrchestratorOptions{Retry: policy(3)}).Await(&out)
			return out, err
		}
		w.orchs["Child"] = child
		w.acts["F2"] = addActivity(1)
		in := w.start("P", "p", nil, nil)
		w.run()
		if in.status != durable.StatusFailed || count(in.hist, history.SubOrchestrationCreated) != 3 {
			t.Fatalf("status %s\n%s", in.status, dump(in.hist))
		}
		// Each attempt is a new child instance, named after its own ID.
		for _, id := range []string{"p:0000", "p:0002", "p:0004"} {
			if w.insts[id] == nil || w.insts[id].status != durable.StatusFailed {
				t.Errorf("child %s missing or not failed", id)
			}
		}
	})
}

func TestSubOrchestration(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		w := newWorld(t, 5)
		w.dup = 0.3
		w.orchs["Parent"], w.orchs["Child"] = parent, child
		w.acts["F2"] = addActivity(1)
		in := w.start("Parent", "par", 41, nil)
		w.run()
		assertOutput(t, in, durable.StatusCompleted, "42")
		c := w.insts["par:0000"]
		if c == nil || c.status != durable.StatusCompleted {
			t.Fatalf("child par:0000 not completed")
		}
		if st := find(c.hist, history.ExecutionStarted); st.Parent == nil || st.Parent.InstanceID != "par" || st.Parent.TaskID != 0 {
			t.Errorf("child parent info %+v", st.Parent)
		}
	})
	t.Run("failure", func(t *testing.T) {
		w := newWorld(t, 5)
		w.orchs["Parent"], w.orchs["Child"] = parent, child
		in := w.start("Parent", "par", -1, nil)
		w.run()
		f := in.last.Failure
		if in.status != durable.StatusFailed || !strings.Contains(f.ErrorMessage, `child failed: suborchestration "Child" (task 0) failed: negative input`) {
			t.Fatalf("status %s failure %+v", in.status, f)
		}
		if f.ErrorType != "Error" || f.Inner == nil || f.Inner.ErrorMessage != "negative input" {
			t.Errorf("failure %+v inner %+v", f, f.Inner)
		}
	})
	t.Run("explicit instance id, no sub-orchestrations in critical sections", func(t *testing.T) {
		w := newWorld(t, 5)
		w.orchs["Child"] = child
		w.acts["F2"] = addActivity(1)
		w.orchs["P"] = func(ctx durable.OrchestrationContext) (any, error) {
			unlock, lock := ctx.LockEntities(durable.NewEntityID("counter", "x"))
			lock.Await(nil)
			err := ctx.CallSubOrchestrator("Child", 1, nil).Await(nil)
			unlock()
			var out int
			if err2 := ctx.CallSubOrchestrator("Child", 1, &durable.SubOrchestratorOptions{InstanceID: "mine"}).Await(&out); err2 != nil {
				return nil, err2
			}
			return []any{err.Error(), out}, nil
		}
		in := w.start("P", "p", nil, nil)
		w.run()
		assertOutput(t, in, durable.StatusCompleted, `["durable: critical section rule violated: sub-orchestrations are not allowed in a critical section",2]`)
		if w.insts["mine"] == nil {
			t.Error("child with explicit id not started")
		}
	})
}

func TestContinueAsNew(t *testing.T) {
	t.Run("carry over", func(t *testing.T) {
		w := newWorld(t, 9)
		w.orchs["Acc"] = accumulate(true)
		in := w.start("Acc", "acc", 0, nil)
		// Three events arrive together with the start: one per execution.
		for v := 1; v <= 3; v++ {
			in.inbox = append(in.inbox, message{ev: history.Event{Type: history.EventRaised, ID: -1, Name: "Add", Input: json.RawMessage(fmt.Sprint(v))}})
		}
		w.maxBatch = 100
		w.run()
		assertOutput(t, in, durable.StatusCompleted, "6")
		if in.exec != 4 || len(in.carried) == 0 {
			t.Errorf("executions %d, carried %d", in.exec, len(in.carried))
		}
	})
	t.Run("single episode", func(t *testing.T) {
		newEvents := []history.Event{
			{Type: history.OrchestratorStarted, ID: -1, Timestamp: t0},
			{Type: history.ExecutionStarted, ID: -1, Name: "Acc", InstanceID: "i", Input: json.RawMessage("0")},
			raised("add", "1"), raised("Other", `"x"`), raised("ADD", "2"),
		}
		r := Execute(accumulate(true), nil, newEvents, Options{})
		checkResult(t, nil, newEvents, r)
		if r.Status != durable.StatusContinuedAsNew || string(r.ContinueAsNewInput) != "1" || r.Output != nil {
			t.Fatalf("status %s input %s", r.Status, r.ContinueAsNewInput)
		}
		// The first "add" was consumed; it made the code finish, so the events after it
		// never reached this execution: both are carried, in arrival order.
		if len(r.CarryOverEvents) != 2 || r.CarryOverEvents[0].Name != "Other" || r.CarryOverEvents[1].Name != "ADD" {
			t.Fatalf("carry over %v", r.CarryOverEvents)
		}
		last := r.NewEvents[len(r.NewEvents)-1]
		if last.Type != history.ExecutionCompleted || last.Status != durable.StatusContinuedAsNew || string(last.Result) != "1" {
			t.Fatalf("last event %+v", last)
		}
		r = Execute(accumulate(false), nil, newEvents, Options{})
		if len(r.CarryOverEvents) != 0 || len(r.Dropped) != 2 {
			t.Fatalf("without preserve: carried %v dropped %v", r.CarryOverEvents, r.Dropped)
		}
	})
	t.Run("buffered events carried", func(t *testing.T) {
		// The code waits on a timer while events pile up, then continues as new.
		fn := func(ctx durable.OrchestrationContext) (any, error) {
			ctx.CreateTimer(ctx.CurrentUTCDateTime().Add(time.Hour)).Await(nil)
			ctx.ContinueAsNew("next", true)
			return nil, nil
		}
		past := episode(t, fn, nil, history.Event{Type: history.ExecutionStarted, ID: -1, InstanceID: "i"})
		past = append(past, episode(t, fn, past, raised("a", "1"), raised("b", "2"))...)
		r := Execute(fn, past, []history.Event{{Type: history.OrchestratorStarted, Timestamp: t0.Add(2 * time.Hour)}, fired(0)}, Options{})
		if r.Status != durable.StatusContinuedAsNew || len(r.CarryOverEvents) != 2 || string(r.ContinueAsNewInput) != `"next"` {
			t.Fatalf("status %s carried %v", r.Status, r.CarryOverEvents)
		}
	})
}

func TestTerminate(t *testing.T) {
	w := newWorld(t, 2)
	w.orchs["Wait"] = waitLocked
	in := w.start("Wait", "w", nil, nil)
	w.run()
	if in.status != durable.StatusRunning {
		t.Fatalf("status %s", in.status)
	}
	w.terminate("w", "operator said so")
	w.run()
	w.raise("w", "never", 1) // after the end: dropped
	w.run()
	if in.status != durable.StatusTerminated || string(in.last.Output) != `"operator said so"` {
		t.Fatalf("status %s output %s", in.status, in.last.Output)
	}
	tail := in.hist[len(in.hist)-4:]
	want := []history.EventType{history.ExecutionTerminated, history.EntityUnlockSent, history.EntityUnlockSent, history.ExecutionCompleted}
	for i, e := range tail {
		if e.Type != want[i] {
			t.Fatalf("history tail:\n%s", dump(tail))
		}
	}
	if tail[1].Entity.Key != "y" || tail[2].Entity.Key != "z" || tail[3].Status != durable.StatusTerminated || string(tail[3].Result) != `"operator said so"` {
		t.Errorf("history tail:\n%s", dump(tail))
	}
	if len(w.locks) != 0 {
		t.Errorf("locks still held: %v", w.locks)
	}
	if d := withoutEpisodeStarts(in.dropped); len(d) != 1 || d[0].Type != history.EventRaised {
		t.Errorf("dropped:\n%s", dump(in.dropped))
	}
}

func TestEntities(t *testing.T) {
	w := newWorld(t, 4)
	w.dup = 0.5
	w.orchs["U"] = counterUser
	w.ents["counter"] = counterEntity
	in := w.start("U", "u", nil, nil)
	w.run()
	assertOutput(t, in, durable.StatusCompleted, "8")
	sig := find(in.hist, history.EntitySignaled)
	if sig == nil || sig.ID != 0 || *sig.Entity != durable.NewEntityID("counter", "c1") || sig.Name != "add" || string(sig.Input) != "5" {
		t.Errorf("signal %+v", sig)
	}
	t.Run("SignalEntityAt", func(t *testing.T) {
		at := t0.Add(time.Hour)
		fn := func(ctx durable.OrchestrationContext) (any, error) {
			ctx.SignalEntityAt(durable.EntityID{Name: "Counter", Key: "k"}, "add", 1, at)
			return nil, nil
		}
		r := Execute(fn, nil, start(), Options{})
		if len(r.Actions) != 1 || !r.Actions[0].FireAt.Equal(at) || r.Actions[0].Entity.Name != "counter" {
			t.Fatalf("actions %+v", r.Actions)
		}
	})
}

func TestCriticalSection(t *testing.T) {
	w := newWorld(t, 6)
	w.orchs["T"] = transfer
	w.ents["counter"] = counterEntity
	in := w.start("T", "t", nil, nil)
	w.run()
	assertOutput(t, in, durable.StatusCompleted, "10")
	req := find(in.hist, history.EntityLockRequested)
	if got := lockSetString(req.LockSet); got != "[@counter@a @counter@b]" {
		t.Errorf("lock set %s", got)
	}
	var unlocked []string
	for _, e := range in.hist {
		if e.Type == history.EntityUnlockSent {
			unlocked = append(unlocked, e.Entity.String())
		}
	}
	if strings.Join(unlocked, " ") != "@counter@a @counter@b" {
		t.Errorf("unlocks %v", unlocked)
	}

	t.Run("sorting and dedup", func(t *testing.T) {
		fn := func(ctx durable.OrchestrationContext) (any, error) {
			ctx.LockEntities(durable.EntityID{Name: "B", Key: "2"}, durable.EntityID{Name: "a", Key: "1"},
				durable.EntityID{Name: "A", Key: "1"}, durable.EntityID{Name: "b", Key: "1"}, durable.EntityID{Name: "a", Key: "0"})
			return nil, nil
		}
		r := Execute(fn, nil, start(), Options{})
		if got := lockSetString(r.Actions[0].LockSet); got != "[@a@0 @a@1 @b@1 @b@2]" {
			t.Fatalf("lock set %s", got)
		}
		// Completing inside a critical section releases every lock, sorted.
		var got []string
		for _, a := range r.Actions[1:] {
			got = append(got, a.Entity.String())
		}
		if strings.Join(got, " ") != "@a@0 @a@1 @b@1 @b@2" || r.NewEvents[len(r.NewEvents)-1].Type != history.ExecutionCompleted {
			t.Fatalf("auto unlock %v\n%s", got, dump(r.NewEvents))
		}
	})
}

func TestLockingRules(t *testing.T) {
	a, b := durable.NewEntityID("counter", "a"), durable.NewEntityID("counter", "b")
	// Each case runs inside a granted critical section over a and returns the error the
	// offending call produced.
	cases := []struct {
		name string
		body func(ctx durable.OrchestrationContext) error
		rule string
	}{
		{"nested", func(ctx durable.OrchestrationContext) error {
			_, t := ctx.LockEntities(b)
			return t.Await(nil)
		}, "nested critical sections are not allowed"},
		{"sub-orchestration", func(ctx durable.OrchestrationContext) error {
			return ctx.CallSubOrchestrator("Child", nil, nil).Await(nil)
		}, "sub-orchestrations are not allowed in a critical section"},
		{"entity not locked", func(ctx durable.OrchestrationContext) error {
			return ctx.CallEntity(b, "get", nil).Await(nil)
		}, "entity @counter@b is not locked by this critical section"},
		{"parallel calls", func(ctx durable.OrchestrationContext) error {
			first := ctx.CallEntity(a, "get", nil)
			err := ctx.CallEntity(a, "get", nil).Await(nil)
			first.Await(nil)
			return err
		}, "parallel calls to one entity in a critical section (@counter@a already has a call outstanding)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fn := func(ctx durable.OrchestrationContext) (any, error) {
				unlock, lock := ctx.LockEntities(a)
				if err := lock.Await(nil); err != nil {
					return nil, err
				}
				err := tc.body(ctx)
				unlock()
				return nil, err
			}
			w := newWorld(t, 1)
			w.orchs["L"] = fn
			w.ents["counter"] = counterEntity
			in := w.start("L", "l", nil, nil)
			w.run()
			f := in.last.Failure
			if in.status != durable.StatusFailed || f.ErrorType != "LockingRulesError" || !strings.HasSuffix(f.ErrorMessage, tc.rule) {
				t.Fatalf("status %s failure %+v", in.status, f)
			}
			for _, e := range in.hist {
				if e.Type == history.SubOrchestrationCreated || e.Type == history.EntityLockRequested && e.ID != 0 ||
					e.Type == history.EntityCalled && e.Entity.Key == "b" {
					t.Errorf("a refused action was sent anyway: %+v", e)
				}
			}
		})
	}
	t.Run("empty lock set", func(t *testing.T) {
		fn := func(ctx durable.OrchestrationContext) (any, error) {
			_, lock := ctx.LockEntities()
			return nil, lock.Await(nil)
		}
		r := Execute(fn, nil, start(), Options{})
		if r.Status != durable.StatusFailed || !strings.Contains(r.Failure.ErrorMessage, "at least one entity") || len(r.Actions) != 0 {
			t.Fatalf("%s %+v", r.Status, r.Failure)
		}
	})
	t.Run("signal to locked entity fails the instance", func(t *testing.T) {
		fn := func(ctx durable.OrchestrationContext) (any, error) {
			unlock, lock := ctx.LockEntities(a, b)
			defer unlock()
			lock.Await(nil)
			ctx.SignalEntity(durable.NewEntityID("counter", "c"), "add", 1) // fine: not locked
			defer func() { recover() }()                                    // cannot swallow it
			ctx.SignalEntity(b, "add", 1)
			ctx.CallActivity("NeverScheduled", nil, nil)
			return "unreachable", nil
		}
		past := episode(t, fn, nil, history.Event{Type: history.ExecutionStarted, ID: -1, InstanceID: "s"})
		r := Execute(fn, past, []history.Event{{Type: history.OrchestratorStarted, Timestamp: t0}, {Type: history.EntityLockGranted, TaskID: 0}}, Options{})
		if r.Status != durable.StatusFailed || r.Failure.ErrorType != "LockingRulesError" ||
			!strings.HasSuffix(r.Failure.ErrorMessage, "signals to locked entities are not allowed in a critical section (@counter@b)") {
			t.Fatalf("%s %+v", r.Status, r.Failure)
		}
		// Actions: the allowed signal, then the automatic release of a and b.
		var kinds []string
		for _, a := range r.Actions {
			kinds = append(kinds, fmt.Sprintf("%s:%d", a.Type, a.ID))
		}
		if strings.Join(kinds, " ") != "EntityOperationSignaled:1 EntityUnlockSent:2 EntityUnlockSent:3" {
			t.Fatalf("actions %v", kinds)
		}
	})
	t.Run("unlock twice and stale unlock are no-ops", func(t *testing.T) {
		fn := func(ctx durable.OrchestrationContext) (any, error) {
			unlock1, lock := ctx.LockEntities(a)
			lock.Await(nil)
			unlock1()
			unlock1()
			unlock2, lock2 := ctx.LockEntities(b)
			lock2.Await(nil)
			unlock1()
			if !ctx.InCriticalSection() {
				return nil, errors.New("stale unlock ended the new section")
			}
			unlock2()
			return nil, nil
		}
		w := newWorld(t, 1)
		w.orchs["U"] = fn
		in := w.start("U", "u", nil, nil)
		w.run()
		if in.status != durable.StatusCompleted || count(in.hist, history.EntityUnlockSent) != 2 {
			t.Fatalf("%s\n%s", in.status, dump(in.hist))
		}
	})
}

func TestPanicInOrchestrator(t *testing.T) {
	w := newWorld(t, 1)
	chainingActivities(w)
	w.orchs["P"] = func(ctx durable.OrchestrationContext) (any, error) {
		var x int
		ctx.CallActivity("F1", nil, nil).Await(&x)
		var m map[string]int
		m["boom"] = x // nil map write
		return nil, nil
	}
	in := w.start("P", "p", nil, nil)
	w.run()
	f := in.last.Failure
	if in.status != durable.StatusFailed || f.ErrorType != "panic" || !strings.Contains(f.ErrorMessage, "assignment to entry in nil map") {
		t.Fatalf("status %s failure %+v", in.status, f)
	}
	if !strings.Contains(f.StackTrace, "TestPanicInOrchestrator") {
		t.Errorf("stack trace does not show the orchestrator:\n%s", f.StackTrace)
	}

	t.Run("panic with error value, Goexit", func(t *testing.T) {
		r := Execute(func(durable.OrchestrationContext) (any, error) { panic(errors.New("bad")) }, nil, start(), Options{})
		if r.Status != durable.StatusFailed || r.Failure.ErrorMessage != "panic: bad" {
			t.Fatalf("%+v", r.Failure)
		}
		r = Execute(func(durable.OrchestrationContext) (any, error) { runtimeGoexit(); return nil, nil }, nil, start(), Options{})
		if r.Status != durable.StatusFailed || !strings.Contains(r.Failure.ErrorMessage, "Goexit") {
			t.Fatalf("%+v", r.Failure)
		}
		r = Execute(nil, nil, start(), Options{})
		if r.Status != durable.StatusFailed {
			t.Fatalf("nil orchestrator: %s", r.Status)
		}
	})
}

func TestReturnedErrorAndOutput(t *testing.T) {
	type myErr struct{ error }
	r := Execute(func(durable.OrchestrationContext) (any, error) { return nil, &myErr{errors.New("nope")} }, nil, start(), Options{})
	if r.Status != durable.StatusFailed || r.Failure.ErrorType != "myErr" || r.Failure.ErrorMessage != "nope" || r.Output != nil {
		t.Fatalf("%s %+v", r.Status, r.Failure)
	}
	r = Execute(func(durable.OrchestrationContext) (any, error) { return make(chan int), nil }, nil, start(), Options{})
	if r.Status != durable.StatusFailed || !strings.Contains(r.Failure.ErrorMessage, "encoding orchestrator output") {
		t.Fatalf("%s %+v", r.Status, r.Failure)
	}
	r = Execute(func(ctx durable.OrchestrationContext) (any, error) {
		ctx.SetCustomStatus(map[string]int{"step": 1})
		ctx.SetCustomStatus(map[string]int{"step": 2})
		return nil, nil
	}, nil, start(), Options{})
	if r.Status != durable.StatusCompleted || r.Output != nil || string(r.CustomStatus) != `{"step":2}` {
		t.Fatalf("%s output %s custom %s", r.Status, r.Output, r.CustomStatus)
	}
	r = Execute(func(ctx durable.OrchestrationContext) (any, error) {
		ctx.SendEvent("other", "Ping", make(chan int))
		return nil, nil
	}, nil, start(), Options{})
	if r.Status != durable.StatusFailed || !strings.Contains(r.Failure.ErrorMessage, `encoding payload of event "Ping"`) {
		t.Fatalf("%s %+v", r.Status, r.Failure)
	}
	r = Execute(func(ctx durable.OrchestrationContext) (any, error) {
		return nil, ctx.CallActivity("A", make(chan int), nil).Await(nil)
	}, nil, start(), Options{})
	if r.Status != durable.StatusFailed || len(r.Actions) != 0 {
		t.Fatalf("%s %+v", r.Status, r.Actions)
	}
}

func TestSendEvent(t *testing.T) {
	w := newWorld(t, 1)
	w.orchs["Sender"] = func(ctx durable.OrchestrationContext) (any, error) {
		ctx.SendEvent("recv", "Ping", "hello")
		return nil, nil
	}
	w.orchs["Receiver"] = func(ctx durable.OrchestrationContext) (any, error) {
		var s string
		err := ctx.WaitForExternalEvent("ping", 0).Await(&s)
		return s, err
	}
	recv := w.start("Receiver", "recv", nil, nil)
	w.run()
	w.start("Sender", "send", nil, nil)
	w.run()
	assertOutput(t, recv, durable.StatusCompleted, `"hello"`)
	sent := find(w.insts["send"].hist, history.EventSent)
	if sent.InstanceID != "recv" || sent.Name != "Ping" || string(sent.Input) != `"hello"` {
		t.Errorf("%+v", sent)
	}
}

func TestGUIDDeterminism(t *testing.T) {
	var runs [][]string
	fn := func(ctx durable.OrchestrationContext) (any, error) {
		g := []string{ctx.NewGUID(), ctx.NewGUID()}
		ctx.CreateTimer(ctx.CurrentUTCDateTime().Add(time.Minute)).Await(nil)
		g = append(g, ctx.NewGUID())
		runs = append(runs, g)
		return g, nil
	}
	w := newWorld(t, 1)
	w.orchs["G"] = fn
	in := w.start("G", "guid-instance", nil, nil)
	w.run()
	if in.status != durable.StatusCompleted {
		t.Fatal(in.status)
	}
	first := runs[len(runs)-1]
	var out []string
	json.Unmarshal(in.last.Output, &out)
	if strings.Join(out, ",") != strings.Join(first, ",") {
		t.Fatalf("output %v, last run %v", out, first)
	}
	if first[0] == first[1] || first[1] == first[2] {
		t.Fatalf("GUIDs not unique: %v", first)
	}
	// Independent recomputation of the first one: v5 over instance id, time, counter.
	name := "guid-instance_" + t0.Add(time.Second).Format(time.RFC3339Nano) + "_0"
	if want := uuidV5(name); first[0] != want {
		t.Fatalf("first GUID %s, want %s", first[0], want)
	}
	// Replaying the whole history again yields the same values.
	runs = nil
	r := Execute(fn, in.hist[:len(in.hist)-1], nil, Options{}) // without ExecutionCompleted
	if len(runs) != 1 || strings.Join(runs[0], ",") != strings.Join(first, ",") || r.Status != durable.StatusCompleted {
		t.Fatalf("replayed GUIDs %v, want %v", runs, first)
	}
}

func TestReplayStability(t *testing.T) {
	type seen struct {
		step      int
		replaying bool
		now       time.Time
	}
	var log []seen
	var logged []string
	h := &captureHandler{lines: &logged}
	fn := func(ctx durable.OrchestrationContext) (any, error) {
		for step := range 4 {
			log = append(log, seen{step, ctx.IsReplaying(), ctx.CurrentUTCDateTime()})
			ctx.Logger().Info("step", "n", step)
			if err := ctx.CallActivity("F2", step, nil).Await(nil); err != nil {
				return nil, err
			}
		}
		log = append(log, seen{4, ctx.IsReplaying(), ctx.CurrentUTCDateTime()})
		return nil, nil
	}
	w := newWorld(t, 11)
	w.noCheck = true
	w.opts = Options{Logger: slogNew(h)}
	w.orchs["S"] = fn
	w.acts["F2"] = addActivity(1)
	in := w.start("S", "s", nil, nil)
	w.run()
	if in.status != durable.StatusCompleted {
		t.Fatal(in.status)
	}
	first := map[int]seen{}
	for _, s := range log {
		f, ok := first[s.step]
		if !ok {
			if s.replaying {
				t.Fatalf("step %d first seen while replaying", s.step)
			}
			first[s.step] = s
			continue
		}
		if !s.replaying || !s.now.Equal(f.now) {
			t.Fatalf("step %d replayed as %+v, first run %+v", s.step, s, f)
		}
	}
	for i := 1; i < 5; i++ {
		if !first[i].now.After(first[i-1].now) {
			t.Errorf("time did not advance between steps %d and %d", i-1, i)
		}
	}
	if len(logged) != 4 {
		t.Errorf("each log line should appear once, got %v", logged)
	}
}

func TestWhenAnyHistoryOrder(t *testing.T) {
	fn := func(ctx durable.OrchestrationContext) (any, error) {
		a := ctx.CallActivity("A", nil, nil)
		b := ctx.CallActivity("B", nil, nil)
		ctx.CreateTimer(ctx.CurrentUTCDateTime().Add(time.Hour)).Await(nil) // both done by then
		i, err := durable.WhenAny(ctx, a, b)
		return i, err
	}
	past := episode(t, fn, nil, history.Event{Type: history.ExecutionStarted, ID: -1, InstanceID: "w"})
	past = append(past, episode(t, fn, past, completed(1, "1"), completed(0, "0"))...)
	r := Execute(fn, past, []history.Event{{Type: history.OrchestratorStarted, Timestamp: t0}, fired(2)}, Options{})
	if r.Status != durable.StatusCompleted || string(r.Output) != "1" {
		t.Fatalf("%s %s %+v", r.Status, r.Output, r.Failure)
	}
	// Parked WhenAny: the first completion wins, within one batch too.
	fn2 := func(ctx durable.OrchestrationContext) (any, error) {
		return durable.WhenAny(ctx, ctx.CallActivity("A", nil, nil), ctx.CallActivity("B", nil, nil))
	}
	past = episode(t, fn2, nil, history.Event{Type: history.ExecutionStarted, ID: -1, InstanceID: "w"})
	r = Execute(fn2, past, []history.Event{{Type: history.OrchestratorStarted, Timestamp: t0}, completed(1, "1"), completed(0, "0")}, Options{})
	if string(r.Output) != "1" {
		t.Fatalf("output %s", r.Output)
	}
	_, err := (&orchContext{ex: newExecutor(nil, Options{})}).WhenAny(&task{})
	if err == nil {
		t.Fatal("WhenAny accepted a foreign task")
	}
}

func TestDuplicateAndUnknownCompletions(t *testing.T) {
	fn := func(ctx durable.OrchestrationContext) (any, error) {
		var x int
		if err := ctx.CallActivity("A", nil, nil).Await(&x); err != nil {
			return nil, err
		}
		if err := ctx.CallActivity("B", nil, nil).Await(nil); err != nil {
			return nil, err
		}
		return x, nil
	}
	past := episode(t, fn, nil, history.Event{Type: history.ExecutionStarted, ID: -1, InstanceID: "d"})
	past = append(past, episode(t, fn, past, completed(0, "7"))...)
	newEvents := []history.Event{
		{Type: history.OrchestratorStarted, Timestamp: t0},
		completed(0, "8"),  // duplicate of an earlier completion
		completed(99, "1"), // never scheduled
		fired(1),           // wrong completion type for a TaskScheduled
		{Type: history.ExecutionStarted, InstanceID: "d"}, // duplicate start
		{Type: history.TaskScheduled, ID: 5, Name: "X"},   // only the engine produces these
		{Type: "Bogus"},
		completed(1, "null"),
		completed(1, "null"), // duplicate within one batch
		completed(1, "null"), // after the end
	}
	r := Execute(fn, past, newEvents, Options{})
	checkResult(t, past, newEvents, r)
	if r.Status != durable.StatusCompleted || string(r.Output) != "7" {
		t.Fatalf("%s %s", r.Status, r.Output)
	}
	if len(r.Dropped) != 8 {
		t.Fatalf("dropped %d:\n%s", len(r.Dropped), dump(r.Dropped))
	}
	// A history that ended drops everything and does not run the code.
	done := append(append([]history.Event{}, past...), r.NewEvents...)
	r = Execute(func(durable.OrchestrationContext) (any, error) { panic("must not run") }, done, newEvents, Options{})
	if r.Status != durable.StatusCompleted || string(r.Output) != "7" || len(r.Dropped) != len(newEvents) || len(r.NewEvents) != 0 {
		t.Fatalf("%s %s dropped %d", r.Status, r.Output, len(r.Dropped))
	}
}

func TestNotStarted(t *testing.T) {
	r := Execute(chaining, nil, []history.Event{{Type: history.OrchestratorStarted, Timestamp: t0}, raised("x", "1"), completed(0, "1")}, Options{})
	if r.Status != durable.StatusPending || len(r.NewEvents) != 0 || len(r.Dropped) != 3 {
		t.Fatalf("%s %d %d", r.Status, len(r.NewEvents), len(r.Dropped))
	}
}

func TestSuspendResumeAppended(t *testing.T) {
	past := episode(t, chaining, nil, history.Event{Type: history.ExecutionStarted, ID: -1, InstanceID: "s"})
	r := Execute(chaining, past, []history.Event{{Type: history.OrchestratorStarted, Timestamp: t0}, {Type: history.ExecutionSuspended, ID: -1}, {Type: history.ExecutionResumed, ID: -1}}, Options{})
	if r.Status != durable.StatusRunning || len(r.NewEvents) != 3 || len(r.Actions) != 0 {
		t.Fatalf("%s\n%s", r.Status, dump(r.NewEvents))
	}
}

func TestExternalEventsConsumedOnce(t *testing.T) {
	twoWaits := func(ctx durable.OrchestrationContext) (any, error) {
		var a, b int
		if err := ctx.WaitForExternalEvent("E", 0).Await(&a); err != nil {
			return nil, err
		}
		if err := ctx.WaitForExternalEvent("e", 0).Await(&b); err != nil {
			return nil, err
		}
		return []int{a, b}, nil
	}
	past := episode(t, twoWaits, nil, history.Event{Type: history.ExecutionStarted, ID: -1, InstanceID: "e"})
	past = append(past, episode(t, twoWaits, past, raised("E", "1"))...)
	// Replaying: the one event goes to the first wait only; the second still waits.
	r := Execute(twoWaits, past, []history.Event{{Type: history.OrchestratorStarted, Timestamp: t0}}, Options{})
	if r.Status != durable.StatusRunning {
		t.Fatalf("one event satisfied two waits: %s %s", r.Status, r.Output)
	}
	r = Execute(twoWaits, past, []history.Event{{Type: history.OrchestratorStarted, Timestamp: t0}, raised("E", "2")}, Options{})
	if string(r.Output) != "[1,2]" {
		t.Fatalf("output %s", r.Output)
	}

	// Concurrent waits are served oldest first; events nobody waits for are buffered.
	concurrent := func(ctx durable.OrchestrationContext) (any, error) {
		w1, w2 := ctx.WaitForExternalEvent("E", time.Hour), ctx.WaitForExternalEvent("E", 0)
		var a, b, c int
		w2.Await(&b)
		w1.Await(&a)
		ctx.WaitForExternalEvent("E", 0).Await(&c) // already buffered: no timer
		return []int{a, b, c}, nil
	}
	newEvents := append(start(), raised("e", "1"), raised("E", "2"), raised("E", "3"))
	r = Execute(concurrent, nil, newEvents, Options{})
	if string(r.Output) != "[1,2,3]" || count(r.NewEvents, history.TimerCreated) != 1 {
		t.Fatalf("output %s\n%s", r.Output, dump(r.NewEvents))
	}
}

// --- helpers ---

func assertOutput(t *testing.T, in *instance, status durable.RuntimeStatus, output string) {
	t.Helper()
	if in.status != status || string(in.last.Output) != output {
		t.Fatalf("%s: status %s output %s failure %+v, want %s %s\n%s", in.id, in.status, in.last.Output, in.last.Failure, status, output, dump(in.hist))
	}
}

// episode runs fn on past plus the given events (after an OrchestratorStarted) and
// returns the new events to persist.
func episode(t *testing.T, fn durable.Orchestrator, past []history.Event, evs ...history.Event) []history.Event {
	t.Helper()
	newEvents := append([]history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: t0.Add(time.Duration(len(past)) * time.Minute)}}, evs...)
	r := Execute(fn, past, newEvents, Options{})
	checkResult(t, past, newEvents, r)
	return r.NewEvents
}

func start() []history.Event {
	return []history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: t0}, {Type: history.ExecutionStarted, ID: -1, InstanceID: "x"}}
}

func raised(name, input string) history.Event {
	return history.Event{Type: history.EventRaised, ID: -1, Name: name, Input: json.RawMessage(input)}
}

func completed(id int, result string) history.Event {
	return history.Event{Type: history.TaskCompleted, ID: -1, TaskID: id, Result: json.RawMessage(result)}
}

func fired(id int) history.Event {
	return history.Event{Type: history.TimerFired, ID: -1, TaskID: id}
}

// withoutEpisodeStarts leaves out OrchestratorStarted, which an ended instance drops
// along with everything else of the episode.
func withoutEpisodeStarts(h []history.Event) []history.Event {
	var out []history.Event
	for _, e := range h {
		if e.Type != history.OrchestratorStarted {
			out = append(out, e)
		}
	}
	return out
}

func count(h []history.Event, typ history.EventType) int {
	n := 0
	for _, e := range h {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func find(h []history.Event, typ history.EventType) *history.Event {
	for i := range h {
		if h[i].Type == typ {
			return &h[i]
		}
	}
	return nil
}

func dump(h []history.Event) string {
	var b strings.Builder
	for _, e := range h {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}
