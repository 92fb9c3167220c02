package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps/asyncjob"
	"github.com/durablego/durablefunctions/handler/apps/bank"
	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// poisonRoot is the app's function folders with host.json's maxDequeueCount set to n,
// so that poisoning takes a few deliveries, not five.
func poisonRoot(t testing.TB, n int) string {
	t.Helper()
	root := testRoot(t)
	p := filepath.Join(root, "host.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `"maxDequeueCount": 5`, fmt.Sprintf(`"maxDequeueCount": %d`, n), 1)
	if s == string(b) {
		t.Fatal("host.json has no maxDequeueCount of 5 to replace")
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// supervised keeps one standalone process running, restarting it whenever it exits
// (the crash rules of DURABLE_CRASH_ON make it exit), as a process manager would.
type supervised struct {
	mu      sync.Mutex
	cur     *proc
	crashes atomic.Int64
	stop    chan struct{}
	done    chan struct{}
	logs    strings.Builder
}

func (h *harness) supervise() *supervised {
	h.t.Helper()
	p, err := h.spawnProcess("")
	if err != nil {
		h.t.Fatal(err)
	}
	s := &supervised{cur: p, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			<-p.exited
			s.mu.Lock()
			s.logs.WriteString(p.log.String())
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			default:
			}
			s.crashes.Add(1)
			next, err := h.spawnProcess(p.addr)
			for err != nil {
				// A process that crashed while starting (its start-up sweep woke the
				// work that kills it) is a crash too.
				var early *exitedEarly
				if errors.As(err, &early) {
					s.crashes.Add(1)
					s.mu.Lock()
					s.logs.WriteString(early.log)
					s.mu.Unlock()
				}
				select {
				case <-s.stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				next, err = h.spawnProcess(p.addr)
			}
			s.mu.Lock()
			s.cur, p = next, next
			s.mu.Unlock()
		}
	}()
	h.t.Cleanup(func() {
		close(s.stop)
		s.mu.Lock()
		_ = syscall.Kill(-s.cur.cmd.Process.Pid, syscall.SIGKILL)
		s.mu.Unlock()
		<-s.done
	})
	return s
}

// log is the output of every process so far (the current one up to when it exits).
func (s *supervised) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// waitEnded waits for instance id to reach a terminal status and returns it.
func waitEnded(t *testing.T, hub *engine.Hub, id string, within time.Duration) *engine.InstanceStatus {
	t.Helper()
	ctx := testenv.Context(t, within+10*time.Second)
	var st *engine.InstanceStatus
	eventually(t, within, "instance "+id+" ended", func() (bool, string) {
		s, err := hub.GetStatus(ctx, id, nilOpts())
		if err != nil {
			return false, err.Error()
		}
		st = s
		return s.RuntimeStatus.IsTerminal(), string(s.RuntimeStatus)
	})
	return st
}

// poisonFailure checks that st failed because an awaited task was poisoned and
// returns the task's failure.
func poisonFailure(t *testing.T, st *engine.InstanceStatus, wants ...string) *durable.FailureDetails {
	t.Helper()
	if st.RuntimeStatus != durable.StatusFailed || st.Failure == nil || st.Failure.Inner == nil {
		t.Fatalf("instance ended %s with %+v, want Failed by a TaskFailedError", st.RuntimeStatus, st.Failure)
	}
	in := st.Failure.Inner
	if st.Failure.ErrorType != "TaskFailedError" || in.ErrorType != engine.PoisonErrorType {
		t.Fatalf("failure %s / inner %s (%s), want TaskFailedError / %s", st.Failure.ErrorType, in.ErrorType, in.ErrorMessage, engine.PoisonErrorType)
	}
	for _, w := range wants {
		if !strings.Contains(in.ErrorMessage, w) {
			t.Fatalf("poison reason %q does not mention %q", in.ErrorMessage, w)
		}
	}
	return in
}

// completionsOf counts the results recorded for task id.
func completionsOf(evs []history.Event, id int) (failed, completed int) {
	for _, e := range evs {
		if e.TaskID != id {
			continue
		}
		switch e.Type {
		case history.TaskFailed:
			failed++
		case history.TaskCompleted:
			completed++
		}
	}
	return
}

// TestPoisonedActivityCrash: an activity whose every run kills the worker. After
// maxDequeueCount deliveries the orchestration sees a TaskFailedError naming the
// poison reason and ends, instead of staying Running forever.
func TestPoisonedActivityCrash(t *testing.T) {
	h := newHarness(t, env{"DURABLE_CRASH_ON": "activity:SayHello"})
	h.root, h.lease = poisonRoot(t, 3), "1s"
	sup := h.supervise()
	client := h.newApp()
	ctx := testenv.Context(t, 2*time.Minute)
	id, err := client.Hub.StartOrchestration(ctx, "hello", "", json.RawMessage(`"poison"`))
	if err != nil {
		t.Fatal(err)
	}
	st := waitEnded(t, client.Hub, id, 60*time.Second)
	in := poisonFailure(t, st, "SayHello", h.hub+"-activity", "delivered 3 times", "maxDequeueCount 3")
	if n := sup.crashes.Load(); n < 2 {
		t.Fatalf("the worker crashed %d times, want 2 (the crash rule did not apply?)\n%s", n, sup.log())
	}
	recs, err := client.Hub.ListPoison(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[0].Queue != h.hub+"-activity" {
		t.Fatalf("poison records %+v, want the activity message", recs)
	}
	t.Logf("after %d crashes: %s", sup.crashes.Load(), in.ErrorMessage)
}

// TestPoisonedActivityRetried: the first attempt of an activity with a retry policy
// kills the worker every time; its poisoning is a failure the policy retries, and the
// second attempt succeeds. A duplicate poison report and a late real result of the
// first attempt are both dropped: the task has exactly one result, the failure.
func TestPoisonedActivityRetried(t *testing.T) {
	h := newHarness(t, env{"DURABLE_CRASH_ON": "activity:" + asyncjob.Activity + "#0"})
	h.root, h.lease = poisonRoot(t, 3), "1s"
	sup := h.supervise()
	client := h.newApp()
	ctx := testenv.Context(t, 2*time.Minute)
	id, err := client.Hub.StartOrchestration(ctx, asyncjob.Orchestrator, "", json.RawMessage(`{"start":"2025-01-01","end":"2025-01-31"}`))
	if err != nil {
		t.Fatal(err)
	}
	var exec string
	eventually(t, 60*time.Second, "first attempt poisoned", func() (bool, string) {
		s, err := client.Hub.GetStatus(ctx, id, nilOpts())
		if err != nil {
			return false, err.Error()
		}
		exec = s.ExecutionID
		f, _ := completionsOf(s.History, 0)
		return f == 1, string(s.RuntimeStatus)
	})
	// A second report of the same poisoned batch, and the real result of the first
	// attempt arriving late (a worker that was only slow): neither may count.
	work, _ := json.Marshal(engine.ActivityBatch{Work: []*engine.ActivityWork{{Instance: id, Execution: exec, TaskID: 0, Name: asyncjob.Activity}}})
	if err := client.Hub.HandlePoison(ctx, engine.PoisonRecord{Queue: h.hub + "-activity", MessageID: "dup", Text: string(work), Reason: "reported twice"}); err != nil {
		t.Fatal(err)
	}
	late, _ := json.Marshal(engine.ActivityBatch{Results: []*engine.Delivery{{Target: id, Envelopes: []*engine.Envelope{{
		ID: fmt.Sprintf("~activity|%s|0|1", exec), TargetExec: exec,
		Events: []history.Event{{Type: history.TaskCompleted, ID: -1, Timestamp: time.Now(), TaskID: 0, Result: json.RawMessage("99")}},
	}}}}})
	if err := client.Hub.HandleActivityBatch(ctx, late); err != nil {
		t.Fatal(err)
	}
	st := waitEnded(t, client.Hub, id, 60*time.Second)
	if st.RuntimeStatus != durable.StatusCompleted || string(st.Output) != "0" {
		t.Fatalf("ended %s with %s %+v, want Completed with 0 (the retry's result)\n%s", st.RuntimeStatus, st.Output, st.Failure, sup.log())
	}
	time.Sleep(500 * time.Millisecond) // let the late messages be applied (and dropped)
	st, err = client.Hub.GetStatus(ctx, id, nilOpts())
	if err != nil {
		t.Fatal(err)
	}
	if f, c := completionsOf(st.History, 0); f != 1 || c != 0 {
		t.Fatalf("task 0 has %d failures and %d completions in history, want exactly the poison failure", f, c)
	}
	for _, e := range st.History {
		if e.TaskID == 0 && e.Type == history.TaskFailed && (e.Failure == nil || e.Failure.ErrorType != engine.PoisonErrorType) {
			t.Fatalf("task 0 failed with %+v, want %s", e.Failure, engine.PoisonErrorType)
		}
	}
	if f, c := completionsOf(st.History, 2); f != 0 || c != 1 {
		t.Fatalf("the retry (task 2) has %d failures and %d completions, want one completion", f, c)
	}
}

// newHostedApp loads the app over root with extra registrations, for the host path.
func (h *harness) newHostedApp(root string, register func(*durable.Registry)) *app.App {
	h.t.Helper()
	ctx := testenv.Context(h.t, time.Minute)
	a, err := app.New(ctx, app.Options{Root: root, Getenv: h.vars.get, Logger: quietLogger(), Account: h.az.Account(h.t),
		Def: sampleApp(), Register: register})
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// TestPoisonedActivityUnderHost: under the Functions host (simulated: invocation
// requests, the host's retry and poison rules and its function timeout), an activity
// whose first attempt never finishes in time is given up on at the last delivery: the
// orchestration without a retry policy fails with the poison reason (naming the last
// error), the one with a policy retries and completes.
func TestPoisonedActivityUnderHost(t *testing.T) {
	h := newHarness(t, nil)
	root := poisonRoot(t, 3)
	var runs atomic.Int64
	a := h.newHostedApp(root, func(reg *durable.Registry) {
		reg.AddActivity("poison_stall", func(ctx durable.ActivityContext) (any, error) {
			runs.Add(1)
			if ctx.TaskID() == 0 {
				<-ctx.Done() // never done in time: the host times the invocation out
				return nil, ctx.Err()
			}
			return "done", nil
		})
		for name, retry := range map[string]*durable.RetryPolicy{
			"poison_once":  nil,
			"poison_retry": {MaxAttempts: 2, FirstRetryInterval: 500 * time.Millisecond},
		} {
			reg.AddOrchestrator(name, func(ctx durable.OrchestrationContext) (any, error) {
				var out string
				err := ctx.CallActivity("poison_stall", nil, &durable.ActivityOptions{Retry: retry}).Await(&out)
				return out, err
			})
		}
	})
	handler, err := a.HostHandler()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sim := &hostSim{maxDequeue: 3, retryAfter: time.Second, timeouts: map[string]time.Duration{"activity": 300 * time.Millisecond}}
	wg := sim.run(ctx, t, a, handler, h.az.Account(t))
	defer func() { cancel(); wg.Wait() }()

	tctx := testenv.Context(t, 2*time.Minute)
	once, err := a.Hub.StartOrchestration(tctx, "poison_once", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	retried, err := a.Hub.StartOrchestration(tctx, "poison_retry", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	st := waitEnded(t, a.Hub, once, 60*time.Second)
	poisonFailure(t, st, "poison_stall", "delivered 3 times", "context deadline exceeded")
	st = waitEnded(t, a.Hub, retried, 60*time.Second)
	if st.RuntimeStatus != durable.StatusCompleted || string(st.Output) != `"done"` {
		t.Fatalf("retried instance ended %s with %s %+v, want Completed with \"done\"", st.RuntimeStatus, st.Output, st.Failure)
	}
	if n := runs.Load(); n != 2*2+1 {
		t.Fatalf("the activity ran %d times, want 5: two timed-out attempts per instance (the last delivery does not run it) and the retry", n)
	}
	// The host moved both poisoned messages to the poison queue, as it does.
	pq, err := h.az.Account(t).Queue(tctx, h.hub+"-activity-poison")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := pq.Length(tctx); err != nil || n != 2 {
		t.Fatalf("activity poison queue holds %d messages (%v), want 2", n, err)
	}
}

// TestPoisonedEntityCall: an entity operation that kills the worker every time it is
// applied, called by an orchestration inside a critical section. The entity finds the
// operation (careful mode after the first crash), poisons it, and the caller gets a
// TaskFailedError naming it; the lock is released and the entity serves the next
// operation.
func TestPoisonedEntityCall(t *testing.T) {
	h := newHarness(t, env{"DURABLE_CRASH_ON": "operation:withdraw"})
	h.root, h.lease = poisonRoot(t, 3), "1s"
	sup := h.supervise()
	client := h.newApp()
	hub := client.Hub
	ctx := testenv.Context(t, 2*time.Minute)
	acct := func(k string) durable.EntityID { return durable.NewEntityID(bank.EntityName, k) }
	balance := func(k string) (int64, string) {
		s, err := hub.ReadEntity(ctx, acct(k))
		if err != nil {
			return -1, err.Error()
		}
		var v int64
		_ = json.Unmarshal(s.State, &v)
		return v, s.LockedBy
	}
	for _, k := range []string{"px", "py"} {
		if err := hub.SignalEntity(ctx, acct(k), "deposit", json.RawMessage("100"), nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"px", "py"} {
		eventually(t, 30*time.Second, "deposit on "+k, func() (bool, string) {
			v, l := balance(k)
			return v == 100, fmt.Sprint(v, l)
		})
	}
	in, _ := json.Marshal(bank.Transfer{From: "px", To: "py", Amount: 30})
	id, err := hub.StartOrchestration(ctx, bank.Orchestrator, "", in)
	if err != nil {
		t.Fatal(err)
	}
	st := waitEnded(t, hub, id, 90*time.Second)
	poisonFailure(t, st, "withdraw", "@account_entity@px")
	if n := sup.crashes.Load(); n < 2 {
		t.Fatalf("the worker crashed %d times, want several\n%s", n, sup.log())
	}
	// The entity is free and serves the next operation; the poisoned one never applied.
	if err := hub.SignalEntity(ctx, acct("px"), "deposit", json.RawMessage("5"), nil); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]int64{"px": 105, "py": 100} {
		eventually(t, 30*time.Second, "balance of "+k, func() (bool, string) {
			v, l := balance(k)
			return v == want && l == "", fmt.Sprintf("%d locked by %q", v, l)
		})
	}
	recs, err := hub.ListPoison(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		found = found || r.Queue == h.hub+"-account-entity" && strings.Contains(r.Reason, "withdraw")
	}
	if !found {
		t.Fatalf("no poison record for the withdraw operation: %+v", recs)
	}
	t.Logf("after %d crashes: %s", sup.crashes.Load(), st.Failure.Inner.ErrorMessage)
}

// TestSweepRedrivesLostActivityWork: an orchestration whose activity message was lost
// (removed from every queue) stays Running with nothing queued for it; the sweep
// finds it once RedriveAfter has passed without progress, sends the work again, and
// the orchestration completes.
func TestSweepRedrivesLostActivityWork(t *testing.T) {
	h := newHarness(t, env{"DURABLE_REDRIVE_AFTER": "2s"})
	probe := h.newApp() // no pollers: the test moves the messages itself
	ctx := testenv.Context(t, time.Minute)
	acct := h.az.Account(t)
	id, err := probe.Hub.StartOrchestration(ctx, "hello", "", json.RawMessage(`"sweep"`))
	if err != nil {
		t.Fatal(err)
	}
	oq, err := acct.Queue(ctx, h.hub+"-orchestrator")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "orchestration running", func() (bool, string) {
		msgs, err := oq.Receive(ctx, 16, 5*time.Second)
		if err != nil {
			return false, err.Error()
		}
		for _, m := range msgs {
			if err := probe.Hub.HandleWakeUp(ctx, []byte(m.Text)); err != nil {
				return false, err.Error()
			}
			_ = oq.Delete(ctx, m)
		}
		s, err := probe.Hub.GetStatus(ctx, id, nil)
		if err != nil {
			return false, err.Error()
		}
		return s.RuntimeStatus == durable.StatusRunning, string(s.RuntimeStatus)
	})
	aq, err := acct.Queue(ctx, h.hub+"-activity")
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for {
		msgs, err := aq.Receive(ctx, 32, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if err := aq.Delete(ctx, m); err != nil && !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			lost++
		}
	}
	if lost != 1 {
		t.Fatalf("removed %d activity messages, want 1", lost)
	}
	w := h.startWorker()
	if n, err := w.App.Hub.Sweep(ctx, &engine.SweepOptions{MinAge: time.Millisecond}); err != nil || n != 0 {
		t.Fatalf("sweep before RedriveAfter: %d (%v), want 0: the work may still be running", n, err)
	}
	time.Sleep(2100 * time.Millisecond)
	if s, _ := w.App.Hub.GetStatus(ctx, id, nil); s.RuntimeStatus != durable.StatusRunning {
		t.Fatalf("status %s before the sweep: the work was not lost", s.RuntimeStatus)
	}
	n, err := w.App.Hub.Sweep(ctx, &engine.SweepOptions{MinAge: time.Millisecond})
	if err != nil || n != 1 {
		t.Fatalf("sweep re-drove %d instances (%v), want 1", n, err)
	}
	st := waitEnded(t, w.App.Hub, id, 20*time.Second)
	if st.RuntimeStatus != durable.StatusCompleted || string(st.Output) != `"Hello, sweep!"` {
		t.Fatalf("ended %s with %s %+v", st.RuntimeStatus, st.Output, st.Failure)
	}
	if n, err := w.App.Hub.Sweep(ctx, &engine.SweepOptions{MinAge: time.Millisecond}); err != nil || n != 0 {
		t.Fatalf("sweep after completion: %d (%v), want 0", n, err)
	}
}
