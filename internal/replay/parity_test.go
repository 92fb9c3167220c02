package replay

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

// run is a tiny driver: it keeps the persisted history of one instance and runs one
// episode per call, the way the engine does (persist NewEvents, append the next).
type run struct {
	t    *testing.T
	fn   durable.Orchestrator
	hist []history.Event
	now  time.Time
	last *Result
}

func newRun(t *testing.T, fn durable.Orchestrator, version string) *run {
	r := &run{t: t, fn: fn, now: t0}
	r.episode(history.Event{Type: history.ExecutionStarted, ID: -1, Timestamp: t0, Name: "orch", InstanceID: "i1", ExecutionID: "x1", Version: version})
	return r
}

func (r *run) episode(evs ...history.Event) *Result {
	r.t.Helper()
	r.now = r.now.Add(time.Second)
	in := append([]history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: r.now}}, evs...)
	res := Execute(r.fn, r.hist, in, Options{})
	r.hist = append(r.hist, res.NewEvents...)
	r.last = res
	if res.Failure != nil && strings.Contains(res.Failure.ErrorType, "NonDeterminism") {
		r.t.Fatalf("non-determinism: %s", res.Failure.ErrorMessage)
	}
	return res
}

func taskDone(id int, v any) history.Event {
	b, _ := json.Marshal(v)
	return history.Event{Type: history.TaskCompleted, ID: -1, TaskID: id, Result: b}
}

func failed(id int, msg string) history.Event {
	return history.Event{Type: history.TaskFailed, ID: -1, TaskID: id, Failure: &durable.FailureDetails{ErrorType: "Error", ErrorMessage: msg}}
}

func rewindEv(reason string) history.Event {
	b, _ := json.Marshal(reason)
	return history.Event{Type: history.ExecutionRewound, ID: -1, Input: b}
}

func actionTypes(evs []history.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Type)+":"+e.Name)
	}
	return out
}

func wantStatus(t *testing.T, res *Result, want durable.RuntimeStatus, out string) {
	t.Helper()
	if res.Status != want {
		t.Fatalf("status %s (failure %+v), want %s", res.Status, res.Failure, want)
	}
	if out != "" && string(res.Output) != out {
		t.Fatalf("output %s, want %s", res.Output, out)
	}
}

func TestWaitForExternalEventOrDefault(t *testing.T) {
	orch := func(ctx durable.OrchestrationContext) (any, error) {
		var v string
		if err := ctx.WaitForExternalEventOrDefault("answer", time.Minute, "default").Await(&v); err != nil {
			return nil, err
		}
		return v, nil
	}
	tests := []struct {
		name string
		next func(timerID int) []history.Event
		want string
	}{
		{"timeout gives the default", func(id int) []history.Event {
			return []history.Event{{Type: history.TimerFired, ID: -1, TaskID: id}}
		}, `"default"`},
		{"event wins", func(int) []history.Event {
			return []history.Event{{Type: history.EventRaised, ID: -1, Name: "Answer", Input: json.RawMessage(`"yes"`)}}
		}, `"yes"`},
		{"event then late timer", func(id int) []history.Event {
			return []history.Event{{Type: history.EventRaised, ID: -1, Name: "answer", Input: json.RawMessage(`"first"`)}, {Type: history.TimerFired, ID: -1, TaskID: id}}
		}, `"first"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRun(t, orch, "")
			if len(r.last.Actions) != 1 || r.last.Actions[0].Type != history.TimerCreated {
				t.Fatalf("actions %v, want one timer", actionTypes(r.last.Actions))
			}
			wantStatus(t, r.episode(tc.next(r.last.Actions[0].ID)...), durable.StatusCompleted, tc.want)
		})
	}
	t.Run("nil default is null", func(t *testing.T) {
		orch := func(ctx durable.OrchestrationContext) (any, error) {
			var v *string
			err := ctx.WaitForExternalEventOrDefault("x", time.Second, nil).Await(&v)
			return v == nil, err
		}
		r := newRun(t, orch, "")
		wantStatus(t, r.episode(history.Event{Type: history.TimerFired, ID: -1, TaskID: 0}), durable.StatusCompleted, "true")
	})
}

// patched is the new build of an orchestrator: the decision is taken before the wait,
// and recorded.
func patched(ctx durable.OrchestrationContext) (any, error) {
	v2 := ctx.IsPatched("greeting-v2")
	var name string
	if err := ctx.WaitForExternalEvent("go", 0).Await(&name); err != nil {
		return nil, err
	}
	if v2 {
		return nil, ctx.CallActivity("GreetV2", name, nil).Await(nil)
	}
	return nil, ctx.CallActivity("Greet", name, nil).Await(nil)
}

func unpatched(ctx durable.OrchestrationContext) (any, error) {
	var name string
	if err := ctx.WaitForExternalEvent("go", 0).Await(&name); err != nil {
		return nil, err
	}
	return nil, ctx.CallActivity("Greet", name, nil).Await(nil)
}

func TestIsPatched(t *testing.T) {
	raise := history.Event{Type: history.EventRaised, ID: -1, Name: "go", Input: json.RawMessage(`"ann"`)}
	t.Run("new instance records the marker and takes the new path", func(t *testing.T) {
		r := newRun(t, patched, "")
		if len(r.hist) < 3 || r.hist[2].Type != history.PatchMarker || r.hist[2].ID != 0 || r.hist[2].Name != "greeting-v2" {
			t.Fatalf("history %v, want a PatchMarker with id 0", actionTypes(r.hist))
		}
		if len(r.last.Actions) != 0 {
			t.Fatalf("a marker is not an action: %v", actionTypes(r.last.Actions))
		}
		res := r.episode(raise)
		if len(res.Actions) != 1 || res.Actions[0].Name != "GreetV2" || res.Actions[0].ID != 1 {
			t.Fatalf("actions %v, want GreetV2 with id 1", res.Actions)
		}
		wantStatus(t, r.episode(taskDone(1, nil)), durable.StatusCompleted, "")
	})
	t.Run("old instance replays without the marker and keeps the old path", func(t *testing.T) {
		r := newRun(t, unpatched, "")
		r.fn = patched // deployed over it
		res := r.episode(raise)
		if len(res.Actions) != 1 || res.Actions[0].Name != "Greet" || res.Actions[0].ID != 0 {
			t.Fatalf("actions %v, want the old Greet with id 0", res.Actions)
		}
		for _, e := range res.NewEvents {
			if e.Type == history.PatchMarker {
				t.Fatal("replay of an old history recorded a marker")
			}
		}
		wantStatus(t, r.episode(taskDone(0, nil)), durable.StatusCompleted, "")
	})
	t.Run("old instance past its activity: ids still line up", func(t *testing.T) {
		r := newRun(t, unpatched, "")
		r.episode(raise)
		r.fn = patched
		wantStatus(t, r.episode(taskDone(0, nil)), durable.StatusCompleted, "")
	})
	t.Run("patch removed later: the recorded marker is skipped", func(t *testing.T) {
		r := newRun(t, patched, "")
		r.episode(raise) // GreetV2 scheduled with id 1 after the marker
		onlyV2 := func(ctx durable.OrchestrationContext) (any, error) {
			var name string
			if err := ctx.WaitForExternalEvent("go", 0).Await(&name); err != nil {
				return nil, err
			}
			return nil, ctx.CallActivity("GreetV2", name, nil).Await(nil)
		}
		r.fn = onlyV2
		wantStatus(t, r.episode(taskDone(1, nil)), durable.StatusCompleted, "")
	})
	t.Run("a different action where the marker was is still non-determinism", func(t *testing.T) {
		r := newRun(t, patched, "")
		r.episode(raise)
		r.fn = func(ctx durable.OrchestrationContext) (any, error) {
			return nil, ctx.CallActivity("Other", nil, nil).Await(nil)
		}
		res := Execute(r.fn, r.hist, []history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: r.now}, taskDone(1, nil)}, Options{})
		var nde *durable.NonDeterminismError
		if res.Status != durable.StatusFailed || res.Failure == nil || !strings.Contains(res.Failure.ErrorMessage, "GreetV2") {
			t.Fatalf("status %s %+v, want a non-determinism failure naming GreetV2 (%T)", res.Status, res.Failure, nde)
		}
	})
}

func TestVersion(t *testing.T) {
	orch := func(ctx durable.OrchestrationContext) (any, error) {
		if err := ctx.CallSubOrchestrator("child", nil, nil).Await(nil); err != nil {
			return nil, err
		}
		return ctx.Version(), nil
	}
	r := newRun(t, orch, "2.1")
	if a := r.last.Actions; len(a) != 1 || a[0].Type != history.SubOrchestrationCreated || a[0].Version != "2.1" {
		t.Fatalf("actions %+v, want a sub-orchestration inheriting version 2.1", a)
	}
	wantStatus(t, r.episode(history.Event{Type: history.SubOrchestrationDone, ID: -1, TaskID: 0}), durable.StatusCompleted, `"2.1"`)
}

// flaky fails the first activity once; rewound, the instance must finish.
func chain3(ctx durable.OrchestrationContext) (any, error) {
	sum := 0
	for _, f := range []string{"A", "B", "C"} {
		var v int
		if err := ctx.CallActivity(f, sum, nil).Await(&v); err != nil {
			return nil, err
		}
		sum += v
	}
	return sum, nil
}

func TestRewind(t *testing.T) {
	t.Run("failed activity is redispatched and the instance runs on", func(t *testing.T) {
		r := newRun(t, chain3, "")
		r.episode(taskDone(0, 1))
		wantStatus(t, r.episode(failed(1, "boom")), durable.StatusFailed, "")
		res := r.episode(rewindEv("fixed"))
		wantStatus(t, res, durable.StatusRunning, "")
		if len(res.Redispatch) != 1 || res.Redispatch[0].Name != "B" || res.Redispatch[0].ID != 1 {
			t.Fatalf("redispatch %v, want B (id 1)", res.Redispatch)
		}
		if len(res.Actions) != 0 {
			t.Fatalf("rewind scheduled new actions %v", actionTypes(res.Actions))
		}
		if got := actionTypes(res.NewEvents); len(got) != 2 || got[1] != "ExecutionRewound:" {
			t.Fatalf("new events %v, want OrchestratorStarted, ExecutionRewound", got)
		}
		// Later episodes replay the rewound history (failure still stored) deterministically.
		res = r.episode(taskDone(1, 10))
		if len(res.Actions) != 1 || res.Actions[0].Name != "C" {
			t.Fatalf("actions %v, want C", actionTypes(res.Actions))
		}
		wantStatus(t, r.episode(taskDone(2, 100)), durable.StatusCompleted, "111")
	})
	t.Run("a handled failure before a retry is kept, the last attempt is rewound", func(t *testing.T) {
		orch := func(ctx durable.OrchestrationContext) (any, error) {
			p := &durable.RetryPolicy{MaxAttempts: 2, FirstRetryInterval: time.Second}
			var v int
			err := ctx.CallActivity("A", nil, &durable.ActivityOptions{Retry: p}).Await(&v)
			return v, err
		}
		r := newRun(t, orch, "")
		r.episode(failed(0, "first"))                                         // retry timer id 1
		r.episode(history.Event{Type: history.TimerFired, ID: -1, TaskID: 1}) // attempt 2, id 2
		wantStatus(t, r.episode(failed(2, "second")), durable.StatusFailed, "")
		res := r.episode(rewindEv(""))
		if len(res.Redispatch) != 1 || res.Redispatch[0].ID != 2 {
			t.Fatalf("redispatch %v, want attempt 2 (id 2)", res.Redispatch)
		}
		wantStatus(t, r.episode(taskDone(2, 5)), durable.StatusCompleted, "5")
	})
	t.Run("fan-out: results dropped after the failure are redispatched too", func(t *testing.T) {
		r := newRun(t, fanOut2, "")
		wantStatus(t, r.episode(failed(0, "x")), durable.StatusFailed, "")
		r.episode(taskDone(1, 2)) // arrives after the end: dropped
		res := r.episode(rewindEv(""))
		if len(res.Redispatch) != 2 {
			t.Fatalf("redispatch %v, want both tasks", res.Redispatch)
		}
		r.episode(taskDone(1, 2))
		wantStatus(t, r.episode(taskDone(0, 1)), durable.StatusCompleted, "3")
	})
	t.Run("failed sub-orchestration is redispatched", func(t *testing.T) {
		orch := func(ctx durable.OrchestrationContext) (any, error) {
			var v int
			err := ctx.CallSubOrchestrator("child", nil, &durable.SubOrchestratorOptions{InstanceID: "kid"}).Await(&v)
			return v, err
		}
		r := newRun(t, orch, "")
		wantStatus(t, r.episode(history.Event{Type: history.SubOrchestrationFailed, ID: -1, TaskID: 0, Failure: &durable.FailureDetails{ErrorMessage: "no"}}), durable.StatusFailed, "")
		res := r.episode(rewindEv(""))
		if len(res.Redispatch) != 1 || res.Redispatch[0].InstanceID != "kid" {
			t.Fatalf("redispatch %v, want the child", res.Redispatch)
		}
		wantStatus(t, r.episode(history.Event{Type: history.SubOrchestrationDone, ID: -1, TaskID: 0, Result: json.RawMessage("7")}), durable.StatusCompleted, "7")
	})
	t.Run("code that fails by itself fails again", func(t *testing.T) {
		orch := func(ctx durable.OrchestrationContext) (any, error) { return nil, errors.New("always") }
		r := newRun(t, orch, "")
		res := r.episode(rewindEv(""))
		wantStatus(t, res, durable.StatusFailed, "")
		if len(res.Redispatch) != 0 {
			t.Fatalf("redispatch %v", res.Redispatch)
		}
	})
	t.Run("rewind of a running instance is dropped", func(t *testing.T) {
		r := newRun(t, chain3, "")
		res := r.episode(rewindEv(""))
		wantStatus(t, res, durable.StatusRunning, "")
		if len(res.Dropped) != 1 || res.Dropped[0].Type != history.ExecutionRewound || len(res.Redispatch) != 0 {
			t.Fatalf("dropped %v redispatch %v", actionTypes(res.Dropped), res.Redispatch)
		}
		for _, e := range r.hist {
			if e.Type == history.ExecutionRewound {
				t.Fatal("a refused rewind was persisted")
			}
		}
	})
	t.Run("rewind of a completed instance is dropped", func(t *testing.T) {
		r := newRun(t, func(durable.OrchestrationContext) (any, error) { return 1, nil }, "")
		res := r.episode(rewindEv(""))
		wantStatus(t, res, durable.StatusCompleted, "1")
		if len(res.NewEvents) != 0 {
			t.Fatalf("new events %v", actionTypes(res.NewEvents))
		}
	})
	t.Run("twice", func(t *testing.T) {
		r := newRun(t, chain3, "")
		r.episode(failed(0, "1"))
		r.episode(rewindEv(""))
		wantStatus(t, r.episode(taskDone(0, 1), failed(1, "2")), durable.StatusFailed, "")
		res := r.episode(rewindEv(""))
		if len(res.Redispatch) != 1 || res.Redispatch[0].Name != "B" {
			t.Fatalf("redispatch %v, want B", res.Redispatch)
		}
		r.episode(taskDone(1, 2))
		wantStatus(t, r.episode(taskDone(2, 4)), durable.StatusCompleted, "7")
	})
}

func fanOut2(ctx durable.OrchestrationContext) (any, error) {
	a, b := ctx.CallActivity("A", nil, nil), ctx.CallActivity("B", nil, nil)
	var x, y int
	if err := a.Await(&x); err != nil {
		return nil, err
	}
	if err := b.Await(&y); err != nil {
		return nil, err
	}
	return x + y, nil
}

func TestCheckRewindable(t *testing.T) {
	entityOrch := func(ctx durable.OrchestrationContext) (any, error) {
		ctx.CallActivity("A", nil, nil)
		return nil, ctx.CallEntity(durable.NewEntityID("e", "k"), "op", nil).Await(nil)
	}
	r := newRun(t, entityOrch, "")
	if err := CheckRewindable(r.hist); err == nil {
		t.Fatal("a running instance was rewindable")
	}
	r.episode(failed(0, "x"), history.Event{Type: history.EntityFailed, ID: -1, TaskID: 1, Failure: &durable.FailureDetails{ErrorMessage: "nope"}})
	if err := CheckRewindable(r.hist); err != nil {
		t.Fatalf("answered entity call: %v", err)
	}
	r2 := newRun(t, fanOut2, "")
	r2.episode(failed(0, "x"))
	if err := CheckRewindable(r2.hist); err != nil {
		t.Fatal(err)
	}
	lockOrch := func(ctx durable.OrchestrationContext) (any, error) {
		_, lt := ctx.LockEntities(durable.NewEntityID("e", "k"))
		if err := lt.Await(nil); err != nil {
			return nil, err
		}
		return nil, ctx.CallActivity("A", nil, nil).Await(nil)
	}
	r3 := newRun(t, lockOrch, "")
	r3.episode(history.Event{Type: history.EntityLockGranted, ID: -1, TaskID: 0})
	r3.episode(failed(1, "x"))
	if err := CheckRewindable(r3.hist); !errors.Is(err, ErrNotRewindable) || !strings.Contains(err.Error(), "critical section") {
		t.Fatalf("failure inside a critical section: %v", err)
	}
}

func TestCallHTTP(t *testing.T) {
	resp := func(code int, body string, hdr ...string) history.Event {
		h := http.Header{}
		for i := 0; i+1 < len(hdr); i += 2 {
			h.Set(hdr[i], hdr[i+1])
		}
		return taskDone(-1, durable.HTTPResponse{StatusCode: code, Headers: h, Body: body})
	}
	at := func(e history.Event, id int) history.Event { e.TaskID = id; return e }
	orch := func(req durable.HTTPRequest) durable.Orchestrator {
		return func(ctx durable.OrchestrationContext) (any, error) {
			var r durable.HTTPResponse
			if err := ctx.CallHTTP(req).Await(&r); err != nil {
				return nil, err
			}
			return r, nil
		}
	}
	t.Run("request is an activity; 202 is polled on durable timers", func(t *testing.T) {
		r := newRun(t, orch(durable.HTTPRequest{Method: "POST", URL: "http://127.0.0.1:1/jobs", Body: `{"n":1}`, Headers: http.Header{"X-A": {"b"}}}), "")
		a := r.last.Actions
		if len(a) != 1 || a[0].Name != durable.HTTPActivityName {
			t.Fatalf("actions %v", actionTypes(a))
		}
		var sent durable.HTTPRequest
		if err := json.Unmarshal(a[0].Input, &sent); err != nil || sent.Method != "POST" || sent.Body != `{"n":1}` || sent.Headers.Get("X-A") != "b" {
			t.Fatalf("recorded request %+v (%v)", sent, err)
		}
		res := r.episode(at(resp(202, "", "Location", "/jobs/1/status", "Retry-After", "3"), 0))
		if len(res.Actions) != 1 || res.Actions[0].Type != history.TimerCreated || !res.Actions[0].FireAt.Equal(r.now.Add(3*time.Second)) {
			t.Fatalf("actions %+v, want a 3 s timer", res.Actions)
		}
		res = r.episode(history.Event{Type: history.TimerFired, ID: -1, TaskID: 1})
		if len(res.Actions) != 1 || res.Actions[0].Name != durable.HTTPActivityName {
			t.Fatalf("actions %v", actionTypes(res.Actions))
		}
		var poll durable.HTTPRequest
		_ = json.Unmarshal(res.Actions[0].Input, &poll)
		if poll.Method != "GET" || poll.URL != "http://127.0.0.1:1/jobs/1/status" || poll.Body != "" || poll.Headers.Get("X-A") != "b" {
			t.Fatalf("poll request %+v", poll)
		}
		r.episode(at(resp(202, "", "Location", "http://127.0.0.1:1/jobs/1/status"), 2)) // no Retry-After: 1 s
		if a := r.last.Actions; len(a) != 1 || !a[0].FireAt.Equal(r.now.Add(time.Second)) {
			t.Fatalf("actions %+v, want a 1 s timer", a)
		}
		r.episode(history.Event{Type: history.TimerFired, ID: -1, TaskID: 3})
		res = r.episode(at(resp(200, "done"), 4))
		wantStatus(t, res, durable.StatusCompleted, "")
		var got durable.HTTPResponse
		if err := json.Unmarshal(res.Output, &got); err != nil || got.StatusCode != 200 || got.Body != "done" {
			t.Fatalf("output %s", res.Output)
		}
	})
	t.Run("polling disabled returns the 202", func(t *testing.T) {
		r := newRun(t, orch(durable.HTTPRequest{URL: "http://127.0.0.1:1/", DisableAsyncPolling: true}), "")
		res := r.episode(at(resp(202, "", "Location", "/x"), 0))
		wantStatus(t, res, durable.StatusCompleted, "")
		if !strings.Contains(string(res.Output), `"statusCode":202`) {
			t.Fatalf("output %s", res.Output)
		}
	})
	t.Run("transport failure is a TaskFailedError", func(t *testing.T) {
		var seen error
		fn := func(ctx durable.OrchestrationContext) (any, error) {
			seen = ctx.CallHTTP(durable.HTTPRequest{URL: "http://127.0.0.1:1/"}).Await(nil)
			return nil, seen
		}
		r := newRun(t, fn, "")
		wantStatus(t, r.episode(failed(0, "connection refused")), durable.StatusFailed, "")
		var tfe *durable.TaskFailedError
		if !errors.As(seen, &tfe) || !strings.Contains(tfe.Details.ErrorMessage, "connection refused") {
			t.Fatalf("error %v", seen)
		}
	})
	t.Run("bad URL fails the task without scheduling", func(t *testing.T) {
		r := newRun(t, orch(durable.HTTPRequest{URL: "/relative"}), "")
		wantStatus(t, r.last, durable.StatusFailed, "")
		if len(r.last.Actions) != 0 {
			t.Fatalf("actions %v", actionTypes(r.last.Actions))
		}
	})
}
