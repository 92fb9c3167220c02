package durabletest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
	"github.com/durablego/durablefunctions/handler/apps/bank"
	"github.com/durablego/durablefunctions/handler/apps/patterns"
)

func patternsEnv(t *testing.T) *durabletest.Env {
	t.Helper()
	reg := durable.NewRegistry()
	patterns.Register(reg)
	return durabletest.New(reg)
}

func mustRun(t *testing.T, env *durabletest.Env, name string, input any) *durabletest.Result {
	t.Helper()
	res, err := env.Run(name, input)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestChaining(t *testing.T) {
	res := mustRun(t, patternsEnv(t), "chaining", nil)
	var out int
	if err := res.GetOutput(&out); err != nil || res.Err() != nil || out != 45 {
		t.Fatalf("status %s output %s err %v", res.Status, res.Output, res.Err())
	}
	if got := res.History.Activities(); !reflect.DeepEqual(got, []string{"F1", "F2", "F3"}) {
		t.Fatalf("activities %v", got)
	}
	want := []string{"ExecutionStarted", "TaskCompleted", "TaskCompleted", "TaskCompleted", "ExecutionCompleted"}
	if got := res.History.EventTypes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("history %v, want %v", got, want)
	}
	// The JSON is the management API's shape: completions carry the scheduled name.
	var evs []map[string]any
	if err := json.Unmarshal(res.History.JSON(), &evs); err != nil {
		t.Fatal(err)
	}
	if evs[2]["FunctionName"] != "F2" || evs[2]["Result"] != 43.0 || evs[4]["Result"] != 45.0 {
		t.Fatalf("history JSON %s", res.History.JSON())
	}
}

func TestChainingWithMock(t *testing.T) {
	env := patternsEnv(t)
	var got []int
	env.OnActivity("f2", func(ctx durable.ActivityContext) (any, error) {
		var v int
		_ = ctx.GetInput(&v)
		got = append(got, v)
		return v * 10, nil
	})
	res := mustRun(t, env, "chaining", nil)
	var out int
	_ = res.GetOutput(&out)
	if out != 422 || !reflect.DeepEqual(got, []int{42}) {
		t.Fatalf("output %d, mock saw %v", out, got)
	}
	env.OnActivity("F3", func(durable.ActivityContext) (any, error) { return nil, errors.New("F3 is down") })
	res = mustRun(t, env, "chaining", nil)
	var tfe *durable.TaskFailedError
	if res.Status != durable.StatusFailed || !errors.As(res.Err(), &tfe) || !strings.Contains(tfe.Details.ErrorMessage, "F3 is down") {
		t.Fatalf("status %s err %v", res.Status, res.Err())
	}
	if res.InstanceID != "instance-2" {
		t.Fatalf("second run's instance id %q", res.InstanceID)
	}
}

func TestFanOutFanIn(t *testing.T) {
	res := mustRun(t, patternsEnv(t), "fan_out_fan_in", patterns.FanOutInput{Items: 10})
	var out int
	_ = res.GetOutput(&out)
	if out != 385 { // 1² + ... + 10²
		t.Fatalf("status %s output %s failure %+v", res.Status, res.Output, res.Failure)
	}
	acts := res.History.Activities()
	if len(acts) != 12 || acts[0] != "GetWorkBatch" || acts[11] != "Sum" || strings.Count(strings.Join(acts, ","), "ProcessItem") != 10 {
		t.Fatalf("activities %v", acts)
	}
}

func TestApproval(t *testing.T) {
	cases := []struct {
		name   string
		event  *patterns.ApprovalEvent
		after  time.Duration
		want   string
		last   string
		minNow time.Duration
	}{
		{"approved", &patterns.ApprovalEvent{Approved: true, By: "ann"}, time.Hour, "processed order-1", "ProcessApproval", time.Hour},
		{"rejected", &patterns.ApprovalEvent{Approved: false}, 2 * time.Hour, "escalated order-1", "Escalate", 2 * time.Hour},
		{"timed out", nil, 0, "escalated order-1", "Escalate", 72 * time.Hour},
		{"event after the deadline", &patterns.ApprovalEvent{Approved: true}, 73 * time.Hour, "escalated order-1", "Escalate", 72 * time.Hour},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := patternsEnv(t)
			if c.event != nil {
				if err := env.RaiseEventAfter(c.after, "instance-1", "ApprovalEvent", c.event); err != nil {
					t.Fatal(err)
				}
			}
			begin := time.Now()
			res := mustRun(t, env, "approval", patterns.ApprovalRequest{Item: "order-1"})
			var out, custom string
			_ = res.GetOutput(&out)
			_ = res.GetCustomStatus(&custom)
			if res.Status != durable.StatusCompleted || out != c.want || custom != "done" {
				t.Fatalf("status %s output %q custom %q failure %+v", res.Status, out, custom, res.Failure)
			}
			acts := res.History.Activities()
			if len(acts) != 2 || acts[0] != "RequestApproval" || acts[1] != c.last {
				t.Fatalf("activities %v", acts)
			}
			if res.History.Timers() != 1 {
				t.Fatalf("%d timers, want the one deadline", res.History.Timers())
			}
			if elapsed := env.Now().Sub(durabletest.Epoch); elapsed < c.minNow {
				t.Fatalf("virtual time moved %v, want at least %v", elapsed, c.minNow)
			}
			if real := time.Since(begin); real > 5*time.Second {
				t.Fatalf("took %v of real time", real)
			}
		})
	}
}

// TestApprovalManual drives the same sample by hand: start, look, advance, raise.
func TestApprovalManual(t *testing.T) {
	env := patternsEnv(t)
	id, err := env.Start("approval", patterns.ApprovalRequest{Item: "x", TimeoutSeconds: 600}, &durable.StartOptions{InstanceID: "a1"})
	if err != nil || id != "a1" {
		t.Fatalf("start: %q %v", id, err)
	}
	st, _ := env.Status(id)
	var custom string
	_ = st.GetCustomStatus(&custom)
	if st.Status != durable.StatusRunning || custom != "waiting for approval" || st.Err() == nil {
		t.Fatalf("after start: %s %q", st.Status, custom)
	}
	if err := env.Advance(9 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if st, _ = env.Status(id); st.Status != durable.StatusRunning {
		t.Fatalf("after 9 of 10 minutes: %s", st.Status)
	}
	if err := env.RaiseEvent(id, "approvalevent", patterns.ApprovalEvent{Approved: true}); err != nil {
		t.Fatal(err)
	}
	st, _ = env.Status(id)
	var out string
	_ = st.GetOutput(&out)
	if st.Status != durable.StatusCompleted || out != "processed x" || !env.Now().Equal(durabletest.Epoch.Add(9*time.Minute)) {
		t.Fatalf("after the event: %s %q at %v", st.Status, out, env.Now())
	}
	if err := env.RaiseEvent("nobody", "x", nil); !errors.Is(err, durable.ErrInstanceNotFound) {
		t.Fatalf("event to an unknown instance: %v", err)
	}
	if _, err := env.Start("approval", nil, &durable.StartOptions{InstanceID: "a1"}); err != nil {
		t.Fatalf("restart of a finished id: %v", err)
	}
	if _, err := env.Start("approval", nil, &durable.StartOptions{InstanceID: "a1"}); !errors.Is(err, durable.ErrInstanceExists) {
		t.Fatalf("start of a running id: %v", err)
	}
	if _, err := env.Start("nope", nil, nil); !errors.Is(err, durable.ErrUnknownOrchestrator) {
		t.Fatalf("unknown orchestrator: %v", err)
	}
}

func bankEnv(t *testing.T) *durabletest.Env {
	t.Helper()
	reg := durable.NewRegistry()
	bank.Register(reg)
	return durabletest.New(reg)
}

func TestBankTransfer(t *testing.T) {
	acct := func(k string) durable.EntityID { return durable.NewEntityID(bank.EntityName, k) }
	cases := []struct {
		name             string
		from, to         int64
		amount           int64
		want             bool
		wantFrom, wantTo int64
		ops              []string
	}{
		{"enough", 100, 5, 30, true, 70, 35, []string{"account_entity@b:balance", "account_entity@b:withdraw", "account_entity@a:deposit"}},
		{"insufficient", 10, 5, 30, false, 10, 5, []string{"account_entity@b:balance"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := bankEnv(t)
			if err := env.SetEntityState(acct("b"), c.from); err != nil {
				t.Fatal(err)
			}
			_ = env.SetEntityState(acct("a"), c.to)
			res := mustRun(t, env, bank.Orchestrator, bank.Transfer{From: "b", To: "a", Amount: c.amount})
			var ok bool
			if err := res.GetOutput(&ok); err != nil || res.Status != durable.StatusCompleted || ok != c.want {
				t.Fatalf("status %s output %s failure %+v", res.Status, res.Output, res.Failure)
			}
			var from, to int64
			if has, err := env.EntityState(acct("b"), &from); !has || err != nil {
				t.Fatalf("account b: %v %v", has, err)
			}
			_, _ = env.EntityState(acct("a"), &to)
			if from != c.wantFrom || to != c.wantTo {
				t.Fatalf("balances b=%d a=%d, want %d %d", from, to, c.wantFrom, c.wantTo)
			}
			if got := res.History.EntityOperations(); !reflect.DeepEqual(got, c.ops) {
				t.Fatalf("entity operations %v, want %v", got, c.ops)
			}
			types := strings.Join(res.History.EventTypes(), " ")
			if !strings.Contains(types, "EntityLockRequested EntityLockGranted") || strings.Count(types, "EntityUnlockSent") != 2 {
				t.Fatalf("history %s", types)
			}
		})
	}
}

// TestBankConcurrentTransfers checks that the lock rules hold between instances: two
// transfers from one account, each locking it, cannot both spend the same money.
func TestBankConcurrentTransfers(t *testing.T) {
	env := bankEnv(t)
	acct := func(k string) durable.EntityID { return durable.NewEntityID(bank.EntityName, k) }
	_ = env.SetEntityState(acct("src"), int64(50))
	var ids []string
	for i, to := range []string{"x", "y"} {
		id, err := env.Start(bank.Orchestrator, bank.Transfer{From: "src", To: to, Amount: 40}, &durable.StartOptions{InstanceID: fmt.Sprint("t", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var done []bool
	for _, id := range ids {
		st, _ := env.Status(id)
		var ok bool
		_ = st.GetOutput(&ok)
		if st.Status != durable.StatusCompleted {
			t.Fatalf("%s: %s", id, st.Status)
		}
		done = append(done, ok)
	}
	var src, x, y int64
	_, _ = env.EntityState(acct("src"), &src)
	_, _ = env.EntityState(acct("x"), &x)
	_, _ = env.EntityState(acct("y"), &y)
	if !reflect.DeepEqual(done, []bool{true, false}) || src != 10 || x != 40 || y != 0 {
		t.Fatalf("results %v, balances src=%d x=%d y=%d", done, src, x, y)
	}
}
