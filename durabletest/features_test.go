package durabletest_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
)

func TestRetryWithDurableTimers(t *testing.T) {
	reg := durable.NewRegistry()
	attempts := 0
	reg.AddActivity("Flaky", func(durable.ActivityContext) (any, error) {
		attempts++
		if attempts < 3 {
			return nil, fmt.Errorf("attempt %d failed", attempts)
		}
		return "ok", nil
	})
	reg.AddOrchestrator("retry", func(ctx durable.OrchestrationContext) (any, error) {
		var s string
		err := ctx.CallActivity("Flaky", nil, &durable.ActivityOptions{Retry: &durable.RetryPolicy{
			MaxAttempts: 5, FirstRetryInterval: time.Minute, BackoffCoefficient: 2}}).Await(&s)
		return s, err
	})
	env := durabletest.New(reg)
	res := mustRun(t, env, "retry", nil)
	if res.Status != durable.StatusCompleted || string(res.Output) != `"ok"` {
		t.Fatalf("status %s output %s failure %+v", res.Status, res.Output, res.Failure)
	}
	if got := res.History.Activities(); !reflect.DeepEqual(got, []string{"Flaky", "Flaky", "Flaky"}) || res.History.Timers() != 2 {
		t.Fatalf("activities %v, %d timers", got, res.History.Timers())
	}
	// 1 minute, then 2: the clock moved exactly the backoff.
	if d := env.Now().Sub(durabletest.Epoch); d != 3*time.Minute {
		t.Fatalf("virtual time moved %v, want 3m", d)
	}
}

func TestSubOrchestrationsAndMocks(t *testing.T) {
	reg := durable.NewRegistry()
	reg.AddOrchestrator("child", func(ctx durable.OrchestrationContext) (any, error) {
		var n int
		_ = ctx.GetInput(&n)
		if n < 0 {
			return nil, errors.New("negative")
		}
		return n * 2, nil
	})
	reg.AddOrchestrator("parent", func(ctx durable.OrchestrationContext) (any, error) {
		a := ctx.CallSubOrchestrator("child", 1, nil)
		b := ctx.CallSubOrchestrator("child", 2, &durable.SubOrchestratorOptions{InstanceID: "kid"})
		var x, y int
		if err := durable.WhenAll(a, b); err != nil {
			return nil, err
		}
		_ = a.Await(&x)
		_ = b.Await(&y)
		err := ctx.CallSubOrchestrator("child", -1, nil).Await(nil)
		var tfe *durable.TaskFailedError
		if !errors.As(err, &tfe) || tfe.Details.ErrorMessage != "negative" {
			return nil, fmt.Errorf("want the child's failure, got %v", err)
		}
		return x + y, nil
	})
	env := durabletest.New(reg)
	res := mustRun(t, env, "parent", nil)
	if res.Status != durable.StatusCompleted || string(res.Output) != "6" {
		t.Fatalf("status %s output %s failure %+v", res.Status, res.Output, res.Failure)
	}
	if got := res.History.SubOrchestrators(); !reflect.DeepEqual(got, []string{"child", "child", "child"}) {
		t.Fatalf("sub-orchestrations %v", got)
	}
	kid, err := env.Status("kid")
	if err != nil || kid.Status != durable.StatusCompleted || string(kid.Output) != "4" {
		t.Fatalf("child kid: %+v %v", kid, err)
	}
	if _, err := env.Status("instance-1:0000"); err != nil {
		t.Fatalf("derived child id: %v", err)
	}

	env = durabletest.New(reg)
	env.OnSubOrchestrator("child", func(ctx durable.OrchestrationContext) (any, error) {
		var n int
		_ = ctx.GetInput(&n)
		if n < 0 {
			return nil, errors.New("negative")
		}
		return 100, nil
	})
	if res = mustRun(t, env, "parent", nil); string(res.Output) != "200" {
		t.Fatalf("with the mock: %s %s", res.Status, res.Output)
	}
}

func TestEventsTimeoutsWhenAny(t *testing.T) {
	reg := durable.NewRegistry()
	reg.AddOrchestrator("race", func(ctx durable.OrchestrationContext) (any, error) {
		timer := ctx.CreateTimer(ctx.CurrentUTCDateTime().Add(time.Hour))
		ev := ctx.WaitForExternalEvent("go", 0)
		i, err := durable.WhenAny(ctx, timer, ev)
		if err != nil {
			return nil, err
		}
		var got string
		if i == 1 {
			_ = ev.Await(&got)
		}
		// A wait with a timeout that nobody answers.
		err = ctx.WaitForExternalEvent("never", 10*time.Minute).Await(nil)
		if !errors.Is(err, durable.ErrTimeout) {
			return nil, fmt.Errorf("want a timeout, got %v", err)
		}
		return fmt.Sprintf("%d %s %s", i, got, ctx.CurrentUTCDateTime().Sub(durabletest.Epoch)), nil
	})
	cases := []struct {
		raiseAt time.Duration
		want    string
	}{
		{30 * time.Minute, "1 hi 40m0s"},
		{2 * time.Hour, "0  1h10m0s"},
	}
	for _, c := range cases {
		env := durabletest.New(reg)
		_ = env.RaiseEventAfter(c.raiseAt, "instance-1", "GO", "hi")
		res := mustRun(t, env, "race", nil)
		var out string
		_ = res.GetOutput(&out)
		if out != c.want {
			t.Fatalf("event at %v: status %s output %q failure %+v", c.raiseAt, res.Status, out, res.Failure)
		}
	}
}

func TestWaitingForever(t *testing.T) {
	reg := durable.NewRegistry()
	reg.AddOrchestrator("wait", func(ctx durable.OrchestrationContext) (any, error) {
		return nil, ctx.WaitForExternalEvent("x", 0).Await(nil)
	})
	res := mustRun(t, durabletest.New(reg), "wait", nil)
	if res.Status != durable.StatusRunning || res.Err() == nil {
		t.Fatalf("status %s err %v", res.Status, res.Err())
	}
}

func TestContinueAsNewAndGUIDs(t *testing.T) {
	reg := durable.NewRegistry()
	var guids []string
	reg.AddOrchestrator("loop", func(ctx durable.OrchestrationContext) (any, error) {
		var n int
		_ = ctx.GetInput(&n)
		g := ctx.NewGUID()
		if !ctx.IsReplaying() {
			guids = append(guids, g)
		}
		ctx.SetCustomStatus(n)
		if n < 3 {
			if err := ctx.CreateTimer(ctx.CurrentUTCDateTime().Add(time.Minute)).Await(nil); err != nil {
				return nil, err
			}
			ctx.ContinueAsNew(n+1, false)
			return nil, nil
		}
		return n, nil
	})
	var first []string
	for run := 0; run < 2; run++ {
		guids = nil
		env := durabletest.New(reg)
		res := mustRun(t, env, "loop", 0)
		if res.Status != durable.StatusCompleted || string(res.Output) != "3" || string(res.CustomStatus) != "3" {
			t.Fatalf("status %s output %s custom %s", res.Status, res.Output, res.CustomStatus)
		}
		// The history is the last execution's: it started with input 3.
		if types := res.History.EventTypes(); !reflect.DeepEqual(types, []string{"ExecutionStarted", "ExecutionCompleted"}) {
			t.Fatalf("last execution's history %v", types)
		}
		if len(guids) != 4 || guids[0] == guids[1] {
			t.Fatalf("guids %v", guids)
		}
		if run == 1 && !reflect.DeepEqual(guids, first) {
			t.Fatalf("GUIDs differ between runs: %v vs %v", guids, first)
		}
		first = guids
	}
}

func TestEntitiesFromOrchestrations(t *testing.T) {
	reg := durable.NewRegistry()
	reg.AddEntity("counter", func(ctx durable.EntityContext) error {
		var n int
		_ = ctx.GetState(&n)
		switch ctx.Operation() {
		case "add":
			var d int
			_ = ctx.GetInput(&d)
			n += d
			if n > 100 {
				return errors.New("too big")
			}
			if n == 7 {
				ctx.SignalEntity(durable.NewEntityID("counter", "lucky"), "add", 1)
				ctx.StartNewOrchestration("celebrate", n, "")
			}
		case "get":
			return ctx.SetResult(n)
		}
		return ctx.SetState(n)
	})
	reg.AddOrchestrator("celebrate", func(ctx durable.OrchestrationContext) (any, error) { return "party", nil })
	c := durable.NewEntityID("Counter", "c")
	reg.AddOrchestrator("count", func(ctx durable.OrchestrationContext) (any, error) {
		ctx.SignalEntity(c, "add", 3)
		ctx.SignalEntityAt(c, "add", 4, ctx.CurrentUTCDateTime().Add(time.Hour))
		if err := ctx.CreateTimer(ctx.CurrentUTCDateTime().Add(2 * time.Hour)).Await(nil); err != nil {
			return nil, err
		}
		var n int
		if err := ctx.CallEntity(c, "get", nil).Await(&n); err != nil {
			return nil, err
		}
		err := ctx.CallEntity(c, "add", 1000).Await(nil)
		var tfe *durable.TaskFailedError
		if !errors.As(err, &tfe) || tfe.Details.ErrorMessage != "too big" {
			return nil, fmt.Errorf("want the entity's failure, got %v", err)
		}
		return n, nil
	})
	env := durabletest.New(reg)
	res := mustRun(t, env, "count", nil)
	if res.Status != durable.StatusCompleted || string(res.Output) != "7" {
		t.Fatalf("status %s output %s failure %+v", res.Status, res.Output, res.Failure)
	}
	var n, lucky int
	if _, err := env.EntityState(c, &n); err != nil || n != 7 {
		t.Fatalf("counter %d (%v): the failed add must not change it", n, err)
	}
	if has, _ := env.EntityState(durable.NewEntityID("counter", "lucky"), &lucky); !has || lucky != 1 {
		t.Fatalf("signal from the entity: %v %d", has, lucky)
	}
	st, err := env.Status("@counter@c:0002")
	if err != nil || st.Status != durable.StatusCompleted || string(st.Output) != `"party"` {
		t.Fatalf("orchestration started by the entity: %+v %v", st, err)
	}
	if err := env.SignalEntity(c, "add", 1); err != nil {
		t.Fatal(err)
	}
	if _, _ = env.EntityState(c, &n); n != 8 {
		t.Fatalf("after a client signal: %d", n)
	}
}

func TestCriticalSectionRules(t *testing.T) {
	a, b := durable.NewEntityID("acct", "a"), durable.NewEntityID("acct", "b")
	cases := []struct {
		name string
		body func(ctx durable.OrchestrationContext) error
		want string
	}{
		{"call outside the lock set", func(ctx durable.OrchestrationContext) error {
			return ctx.CallEntity(b, "get", nil).Await(nil)
		}, "not locked by this critical section"},
		{"nested", func(ctx durable.OrchestrationContext) error {
			_, l := ctx.LockEntities(b)
			return l.Await(nil)
		}, "nested critical sections"},
		{"sub-orchestration", func(ctx durable.OrchestrationContext) error {
			return ctx.CallSubOrchestrator("x", nil, nil).Await(nil)
		}, "sub-orchestrations are not allowed"},
		{"signal a locked entity", func(ctx durable.OrchestrationContext) error {
			ctx.SignalEntity(a, "get", nil)
			return nil
		}, "signals to locked entities"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := durable.NewRegistry()
			reg.AddEntity("acct", func(ctx durable.EntityContext) error { return ctx.SetResult(1) })
			reg.AddOrchestrator("o", func(ctx durable.OrchestrationContext) (any, error) {
				unlock, l := ctx.LockEntities(a)
				if err := l.Await(nil); err != nil {
					return nil, err
				}
				defer unlock()
				return nil, c.body(ctx)
			})
			env := durabletest.New(reg)
			res := mustRun(t, env, "o", nil)
			if res.Status != durable.StatusFailed || !strings.Contains(res.Failure.ErrorMessage, c.want) {
				t.Fatalf("status %s failure %+v", res.Status, res.Failure)
			}
			// Whatever happened, the lock is free again: another instance can take it.
			reg2 := mustRun(t, env, "o", nil)
			if reg2.Status != durable.StatusFailed {
				t.Fatalf("second run: %s", reg2.Status)
			}
		})
	}
}

// TestDeterminismSelfCheck: an orchestrator that decides differently on replay fails
// its unit test, even when it completes in one episode.
func TestDeterminismSelfCheck(t *testing.T) {
	reg := durable.NewRegistry()
	reg.AddActivity("A", func(durable.ActivityContext) (any, error) { return nil, nil })
	reg.AddActivity("B", func(durable.ActivityContext) (any, error) { return nil, nil })
	reg.AddOrchestrator("replayAware", func(ctx durable.OrchestrationContext) (any, error) {
		name := "A"
		if ctx.IsReplaying() {
			name = "B"
		}
		return nil, ctx.CallActivity(name, nil, nil).Await(nil)
	})
	reg.AddOrchestrator("clock", func(ctx durable.OrchestrationContext) (any, error) {
		return time.Now().UnixNano(), nil // the wall clock: different on every replay
	})
	reg.AddOrchestrator("fine", func(ctx durable.OrchestrationContext) (any, error) {
		return ctx.CurrentUTCDateTime(), ctx.CallActivity("A", nil, nil).Await(nil)
	})
	for name, want := range map[string]string{
		"replayAware": `history has TaskScheduled "A" but code produced TaskScheduled "B"`,
		"clock":       "with output",
		"fine":        "",
	} {
		_, err := durabletest.New(reg).Run(name, nil)
		var nde *durable.NonDeterminismError
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case want != "" && (!errors.As(err, &nde) || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want a NonDeterminismError mentioning %q", name, err, want)
		}
	}
}

func TestEternalOrchestrationIsBounded(t *testing.T) {
	reg := durable.NewRegistry()
	reg.AddOrchestrator("forever", func(ctx durable.OrchestrationContext) (any, error) {
		if err := ctx.CreateTimer(ctx.CurrentUTCDateTime().Add(time.Hour)).Await(nil); err != nil {
			return nil, err
		}
		ctx.ContinueAsNew(nil, false)
		return nil, nil
	})
	if _, err := durabletest.New(reg).Run("forever", nil); err == nil || !strings.Contains(err.Error(), "still busy") {
		t.Fatalf("want the step bound, got %v", err)
	}
	// Manual mode steps it instead.
	env := durabletest.New(reg)
	id, err := env.Start("forever", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Advance(5 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, _ := env.Status(id); st.Status != durable.StatusRunning {
		t.Fatalf("status %s", st.Status)
	}
}

// LockRequests and Unlocks show a critical section's lock set (sorted, deduplicated)
// and its releases, including the engine's release of locks held at the end.
func TestHistoryLocks(t *testing.T) {
	a, b := durable.NewEntityID("acct", "a"), durable.NewEntityID("acct", "b")
	for _, explicit := range []bool{true, false} {
		reg := durable.NewRegistry()
		reg.AddEntity("acct", func(ctx durable.EntityContext) error { return nil })
		reg.AddOrchestrator("o", func(ctx durable.OrchestrationContext) (any, error) {
			unlock, l := ctx.LockEntities(b, a, b)
			if err := l.Await(nil); err != nil {
				return nil, err
			}
			if explicit {
				unlock()
			}
			return nil, nil
		})
		res := mustRun(t, durabletest.New(reg), "o", nil)
		if got := res.History.LockRequests(); !reflect.DeepEqual(got, [][]durable.EntityID{{a, b}}) {
			t.Errorf("explicit %v: lock requests %v", explicit, got)
		}
		if got := res.History.Unlocks(); len(got) != 2 || !slices.Contains(got, a) || !slices.Contains(got, b) {
			t.Errorf("explicit %v: unlocks %v", explicit, got)
		}
	}
}
