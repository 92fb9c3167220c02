package durabletest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
)

var counterID = durable.NewEntityID("counter", "a")

// clientReg registers the functions the client tests drive.
func clientReg() *durable.Registry {
	reg := durable.NewRegistry()
	reg.AddActivity("Hello", func(ctx durable.ActivityContext) (any, error) {
		var name string
		err := ctx.GetInput(&name)
		return "Hello " + name, err
	})
	reg.AddOrchestrator("hello", func(ctx durable.OrchestrationContext) (any, error) {
		var name, s string
		if err := ctx.GetInput(&name); err != nil {
			return nil, err
		}
		err := ctx.CallActivity("Hello", name, nil).Await(&s)
		return s, err
	})
	reg.AddOrchestrator("boom", func(ctx durable.OrchestrationContext) (any, error) {
		return nil, errors.New("kaboom")
	})
	reg.AddOrchestrator("approval", func(ctx durable.OrchestrationContext) (any, error) {
		var v string
		err := ctx.WaitForExternalEvent("Approve", 0).Await(&v)
		return "approved by " + v, err
	})
	reg.AddOrchestrator("sleepy", func(ctx durable.OrchestrationContext) (any, error) {
		if err := ctx.CreateTimer(ctx.CurrentUTCDateTime().Add(72 * time.Hour)).Await(nil); err != nil {
			return nil, err
		}
		return "woke", nil
	})
	reg.AddOrchestrator("parent", func(ctx durable.OrchestrationContext) (any, error) {
		var s string
		err := ctx.CallSubOrchestrator("approval", nil, &durable.SubOrchestratorOptions{InstanceID: ctx.InstanceID() + "-child"}).Await(&s)
		return s, err
	})
	reg.AddOrchestrator("locker", func(ctx durable.OrchestrationContext) (any, error) {
		unlock, task := ctx.LockEntities(counterID)
		if err := task.Await(nil); err != nil {
			return nil, err
		}
		defer unlock()
		return nil, ctx.WaitForExternalEvent("go", 0).Await(nil)
	})
	reg.AddEntity("counter", func(ctx durable.EntityContext) error {
		var n, d int
		if err := ctx.GetState(&n); err != nil {
			return err
		}
		if err := ctx.GetInput(&d); err != nil {
			return err
		}
		return ctx.SetState(n + d)
	})
	return reg
}

func newClient(t *testing.T) (*durabletest.Env, durable.Client) {
	t.Helper()
	env := durabletest.New(clientReg())
	return env, env.Client()
}

func mustStart(t *testing.T, c durable.Client, name string, input any, opts *durable.StartOptions) string {
	t.Helper()
	id, err := c.StartNew(context.Background(), name, input, opts)
	if err != nil {
		t.Fatalf("StartNew %s: %v", name, err)
	}
	return id
}

func mustStatus(t *testing.T, c durable.Client, id string) *durable.InstanceStatus {
	t.Helper()
	s, err := c.GetStatus(context.Background(), id, nil)
	if err != nil {
		t.Fatalf("GetStatus %s: %v", id, err)
	}
	return s
}

func TestClientStartNew(t *testing.T) {
	ctx := context.Background()
	_, c := newClient(t)
	cases := []struct {
		name   string
		orch   string
		opts   *durable.StartOptions
		wantID string
		err    error
	}{
		{"generated id", "hello", nil, "instance-1", nil},
		{"next generated id", "hello", &durable.StartOptions{}, "instance-2", nil},
		{"explicit id", "approval", &durable.StartOptions{InstanceID: "job-1"}, "job-1", nil},
		{"explicit id still running", "approval", &durable.StartOptions{InstanceID: "job-1"}, "", durable.ErrInstanceExists},
		{"explicit id of a finished instance starts it again", "hello", &durable.StartOptions{InstanceID: "instance-1"}, "instance-1", nil},
		{"idempotency key", "approval", &durable.StartOptions{IdempotencyKey: "k1"}, "instance-3", nil},
		{"same key again: same instance, no error", "approval", &durable.StartOptions{IdempotencyKey: "k1"}, "instance-3", nil},
		{"same key, other orchestrator", "hello", &durable.StartOptions{IdempotencyKey: "k1"}, "instance-4", nil},
		{"same key, finished instance", "hello", &durable.StartOptions{IdempotencyKey: "k1"}, "instance-4", nil},
		{"key with an explicit running id", "approval", &durable.StartOptions{InstanceID: "job-1", IdempotencyKey: "k2"}, "job-1", nil},
		{"unknown orchestrator", "nope", nil, "", durable.ErrUnknownOrchestrator},
		{"reserved id", "hello", &durable.StartOptions{InstanceID: "@counter@a"}, "", durable.ErrInvalidInstanceID},
	}
	for _, tc := range cases {
		id, err := c.StartNew(ctx, tc.orch, "Tokyo", tc.opts)
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Fatalf("%s: error %v, want %v", tc.name, err, tc.err)
		}
		if id != tc.wantID {
			t.Fatalf("%s: id %q, want %q", tc.name, id, tc.wantID)
		}
	}
	// The work ran before StartNew returned: no clock needed for an activity.
	if s := mustStatus(t, c, "instance-2"); s.RuntimeStatus != durable.StatusCompleted || string(s.Output) != `"Hello Tokyo"` || string(s.Input) != `"Tokyo"` {
		t.Fatalf("instance-2: %s %s input %s", s.RuntimeStatus, s.Output, s.Input)
	}
	if _, err := c.StartNew(ctx, "hello", func() {}, nil); err == nil {
		t.Fatal("a func input was accepted")
	}
}

func TestClientGetStatus(t *testing.T) {
	env, c := newClient(t)
	ctx := context.Background()
	done := mustStart(t, c, "hello", "Seattle", &durable.StartOptions{Version: "2.0"})
	failed := mustStart(t, c, "boom", nil, nil)
	waiting := mustStart(t, c, "approval", nil, nil)
	cases := []struct {
		id      string
		status  durable.RuntimeStatus
		output  string
		failure string
	}{
		{done, durable.StatusCompleted, `"Hello Seattle"`, ""},
		{failed, durable.StatusFailed, `"kaboom"`, "kaboom"}, // DF shows a failure's message as the output
		{waiting, durable.StatusRunning, "", ""},
	}
	for _, tc := range cases {
		s, err := c.GetStatus(ctx, tc.id, &durable.StatusOptions{ShowHistory: true})
		if err != nil {
			t.Fatal(err)
		}
		if s.RuntimeStatus != tc.status || string(s.Output) != tc.output || s.InstanceID != tc.id {
			t.Errorf("%s: %s %s, want %s %s", tc.id, s.RuntimeStatus, s.Output, tc.status, tc.output)
		}
		if (s.Failure != nil) != (tc.failure != "") || s.Failure != nil && s.Failure.ErrorMessage != tc.failure {
			t.Errorf("%s: failure %+v, want %q", tc.id, s.Failure, tc.failure)
		}
		res, _ := env.Status(tc.id)
		if string(s.History) != string(res.History.JSON()) || !json.Valid(s.History) {
			t.Errorf("%s: history %s, want the Env's %s", tc.id, s.History, res.History.JSON())
		}
		if !s.CreatedTime.Equal(durabletest.Epoch) {
			t.Errorf("%s: created %v", tc.id, s.CreatedTime)
		}
	}
	if s := mustStatus(t, c, done); s.Version != "2.0" || s.History != nil {
		t.Errorf("version %q, history %s without ShowHistory", s.Version, s.History)
	}
	// The history is one Replay accepts.
	s, _ := c.GetStatus(ctx, done, &durable.StatusOptions{ShowHistory: true})
	if err := durabletest.Replay(clientReg(), "", s.History); err != nil {
		t.Errorf("Replay of GetStatus history: %v", err)
	}
	for _, bad := range []struct {
		id  string
		err error
	}{{"nobody", durable.ErrInstanceNotFound}, {"@x@y", durable.ErrInvalidInstanceID}} {
		if _, err := c.GetStatus(ctx, bad.id, nil); !errors.Is(err, bad.err) {
			t.Errorf("GetStatus(%q): %v, want %v", bad.id, err, bad.err)
		}
	}
}

func TestClientWaitForCompletion(t *testing.T) {
	t.Run("timers jump", func(t *testing.T) {
		env, c := newClient(t)
		id := mustStart(t, c, "sleepy", nil, nil)
		if s := mustStatus(t, c, id); s.RuntimeStatus != durable.StatusRunning {
			t.Fatalf("before waiting: %s (StartNew must not move the clock)", s.RuntimeStatus)
		}
		s, err := c.WaitForCompletion(context.Background(), id)
		if err != nil || s.RuntimeStatus != durable.StatusCompleted || string(s.Output) != `"woke"` {
			t.Fatalf("%v %+v", err, s)
		}
		if d := env.Now().Sub(durabletest.Epoch); d != 72*time.Hour {
			t.Fatalf("clock moved %v, want 72h", d)
		}
		if !s.LastUpdated.Equal(env.Now()) {
			t.Fatalf("last updated %v, want %v", s.LastUpdated, env.Now())
		}
	})
	t.Run("stuck without deadline", func(t *testing.T) {
		_, c := newClient(t)
		id := mustStart(t, c, "approval", nil, nil)
		s, err := c.WaitForCompletion(context.Background(), id)
		if err == nil || !strings.Contains(err.Error(), "wait forever") || s == nil || s.RuntimeStatus != durable.StatusRunning {
			t.Fatalf("%v %+v", err, s)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		_, c := newClient(t)
		id := mustStart(t, c, "approval", nil, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		s, err := c.WaitForCompletion(ctx, id)
		if !errors.Is(err, context.DeadlineExceeded) || s == nil || s.RuntimeStatus != durable.StatusRunning {
			t.Fatalf("%v %+v", err, s)
		}
	})
	t.Run("event from another goroutine", func(t *testing.T) {
		_, c := newClient(t)
		id := mustStart(t, c, "approval", nil, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		go func() {
			time.Sleep(10 * time.Millisecond)
			_ = c.RaiseEvent(ctx, id, "Approve", "ann")
		}()
		s, err := c.WaitForCompletion(ctx, id)
		if err != nil || string(s.Output) != `"approved by ann"` {
			t.Fatalf("%v %+v", err, s)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		_, c := newClient(t)
		if _, err := c.WaitForCompletion(context.Background(), "nobody"); !errors.Is(err, durable.ErrInstanceNotFound) {
			t.Fatal(err)
		}
	})
}

func TestClientInstanceOperations(t *testing.T) {
	ctx := context.Background()
	type step struct {
		name string
		do   func(c durable.Client, id string) error
		err  error
		// want is the status afterwards ("" = do not check).
		want   durable.RuntimeStatus
		output string
	}
	raise := func(c durable.Client, id string) error { return c.RaiseEvent(ctx, id, "Approve", "bob") }
	terminate := func(c durable.Client, id string) error { return c.Terminate(ctx, id, "enough", nil) }
	suspend := func(c durable.Client, id string) error { return c.Suspend(ctx, id, "hold on") }
	resume := func(c durable.Client, id string) error { return c.Resume(ctx, id, "go on") }
	cases := []struct {
		name  string
		orch  string
		steps []step
	}{
		{"raise event", "approval", []step{
			{"raise", raise, nil, durable.StatusCompleted, `"approved by bob"`},
			{"raise again", raise, durable.ErrInstanceFinished, durable.StatusCompleted, ""},
		}},
		{"terminate", "approval", []step{
			{"terminate", terminate, nil, durable.StatusTerminated, `"enough"`},
			{"terminate again", terminate, durable.ErrInstanceFinished, durable.StatusTerminated, ""},
			{"raise after", raise, durable.ErrInstanceFinished, durable.StatusTerminated, ""},
			{"suspend after", suspend, durable.ErrInstanceFinished, "", ""},
		}},
		{"suspend holds events until resume", "approval", []step{
			{"suspend", suspend, nil, durable.StatusSuspended, ""},
			{"raise while suspended", raise, nil, durable.StatusSuspended, ""},
			{"resume", resume, nil, durable.StatusCompleted, `"approved by bob"`},
		}},
		{"terminate a suspended instance", "approval", []step{
			{"suspend", suspend, nil, durable.StatusSuspended, ""},
			{"terminate", terminate, nil, durable.StatusTerminated, `"enough"`},
		}},
		{"rewind", "boom", []step{
			{"rewind", func(c durable.Client, id string) error { return c.Rewind(ctx, id, "again") }, errors.ErrUnsupported, durable.StatusFailed, ""},
		}},
		{"rewind a running instance", "approval", []step{
			{"rewind", func(c durable.Client, id string) error { return c.Rewind(ctx, id, "again") }, durable.ErrInstanceNotFailed, durable.StatusRunning, ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newClient(t)
			id := mustStart(t, c, tc.orch, nil, nil)
			for _, st := range tc.steps {
				err := st.do(c, id)
				if !errors.Is(err, st.err) || st.err == nil && err != nil {
					t.Fatalf("%s: %v, want %v", st.name, err, st.err)
				}
				if st.want == "" {
					continue
				}
				s := mustStatus(t, c, id)
				if s.RuntimeStatus != st.want || st.output != "" && string(s.Output) != st.output {
					t.Fatalf("%s: %s %s, want %s %s", st.name, s.RuntimeStatus, s.Output, st.want, st.output)
				}
			}
		})
	}
	t.Run("unknown instance", func(t *testing.T) {
		_, c := newClient(t)
		for name, do := range map[string]func(durable.Client, string) error{"raise": raise, "terminate": terminate, "suspend": suspend, "resume": resume,
			"rewind": func(c durable.Client, id string) error { return c.Rewind(ctx, id, "") }} {
			if err := do(c, "nobody"); !errors.Is(err, durable.ErrInstanceNotFound) {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

func TestClientTerminateRecursive(t *testing.T) {
	ctx := context.Background()
	for _, recursive := range []bool{false, true} {
		_, c := newClient(t)
		id := mustStart(t, c, "parent", nil, &durable.StartOptions{InstanceID: "p"})
		if s := mustStatus(t, c, "p-child"); s.RuntimeStatus != durable.StatusRunning {
			t.Fatalf("child %s", s.RuntimeStatus)
		}
		if err := c.Terminate(ctx, id, "stop", &durable.TerminateOptions{Recursive: recursive}); err != nil {
			t.Fatal(err)
		}
		want := durable.StatusRunning
		if recursive {
			want = durable.StatusTerminated
		}
		if p, k := mustStatus(t, c, "p"), mustStatus(t, c, "p-child"); p.RuntimeStatus != durable.StatusTerminated || k.RuntimeStatus != want {
			t.Errorf("recursive %v: parent %s child %s, want Terminated %s", recursive, p.RuntimeStatus, k.RuntimeStatus, want)
		}
		// Purging the parent recursively needs every child finished.
		n, err := c.Purge(ctx, "p", &durable.PurgeOptions{Recursive: true})
		if recursive && (err != nil || n != 2) || !recursive && !errors.Is(err, durable.ErrInstanceNotFinished) {
			t.Errorf("recursive %v: purge %d %v", recursive, n, err)
		}
	}
}

func TestClientRestart(t *testing.T) {
	ctx := context.Background()
	_, c := newClient(t)
	running := mustStart(t, c, "approval", nil, nil)
	if _, err := c.Restart(ctx, running, nil); !errors.Is(err, durable.ErrInstanceExists) {
		t.Fatalf("restart of a running instance: %v", err)
	}
	done := mustStart(t, c, "hello", "Oslo", &durable.StartOptions{InstanceID: "h"})
	for _, tc := range []struct {
		opts   *durable.RestartOptions
		wantID string
	}{{nil, "h"}, {&durable.RestartOptions{NewInstanceID: true}, "instance-2"}} {
		id, err := c.Restart(ctx, done, tc.opts)
		if err != nil || id != tc.wantID {
			t.Fatalf("restart %+v: %q %v, want %q", tc.opts, id, err, tc.wantID)
		}
		if s := mustStatus(t, c, id); s.RuntimeStatus != durable.StatusCompleted || string(s.Output) != `"Hello Oslo"` {
			t.Fatalf("restarted %s: %s %s", id, s.RuntimeStatus, s.Output)
		}
	}
	if _, err := c.Restart(ctx, "nobody", nil); !errors.Is(err, durable.ErrInstanceNotFound) {
		t.Fatal(err)
	}
}

func TestClientPurgeAndList(t *testing.T) {
	ctx := context.Background()
	env, c := newClient(t)
	for _, o := range []string{"hello", "boom", "approval", "hello"} { // instance-1 .. instance-4
		mustStart(t, c, o, "x", nil)
	}
	_ = env.Advance(time.Hour)
	late := mustStart(t, c, "hello", "y", &durable.StartOptions{InstanceID: "late"})

	ids := func(p *durable.InstancePage) []string {
		var out []string
		for _, s := range p.Instances {
			out = append(out, s.InstanceID)
		}
		return out
	}
	list := []struct {
		name string
		q    *durable.InstanceQuery
		want []string
		err  error
	}{
		{"all", nil, []string{"instance-1", "instance-2", "instance-3", "instance-4", "late"}, nil},
		{"completed", &durable.InstanceQuery{RuntimeStatus: []durable.RuntimeStatus{durable.StatusCompleted}}, []string{"instance-1", "instance-4", "late"}, nil},
		{"running or failed", &durable.InstanceQuery{RuntimeStatus: []durable.RuntimeStatus{durable.StatusRunning, durable.StatusFailed}}, []string{"instance-2", "instance-3"}, nil},
		{"prefix", &durable.InstanceQuery{InstanceIDPrefix: "la"}, []string{"late"}, nil},
		{"created from", &durable.InstanceQuery{CreatedFrom: durabletest.Epoch.Add(time.Minute)}, []string{"late"}, nil},
		{"created to", &durable.InstanceQuery{CreatedTo: durabletest.Epoch}, []string{"instance-1", "instance-2", "instance-3", "instance-4"}, nil},
		{"unknown status", &durable.InstanceQuery{RuntimeStatus: []durable.RuntimeStatus{"Sleeping"}}, nil, durable.ErrInvalidQuery},
		{"bad continuation", &durable.InstanceQuery{Continuation: "!!"}, nil, durable.ErrInvalidQuery},
	}
	for _, tc := range list {
		p, err := c.ListInstances(ctx, tc.q)
		if !errors.Is(err, tc.err) || tc.err == nil && err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err == nil && (!reflect.DeepEqual(ids(p), tc.want) || p.Continuation != "") {
			t.Errorf("%s: %v (continuation %q), want %v", tc.name, ids(p), p.Continuation, tc.want)
		}
	}
	// Paging: 2 + 2 + 1, each page resuming after the last.
	var got []string
	q := &durable.InstanceQuery{PageSize: 2}
	for pages := 1; ; pages++ {
		p, err := c.ListInstances(ctx, q)
		if err != nil || len(p.Instances) > 2 || pages > 3 {
			t.Fatalf("page %d: %v %v", pages, err, ids(p))
		}
		got = append(got, ids(p)...)
		if p.Continuation == "" {
			break
		}
		q.Continuation = p.Continuation
	}
	if len(got) != 5 || got[4] != late {
		t.Fatalf("paged %v", got)
	}

	purge := []struct {
		name string
		id   string
		n    int
		err  error
	}{
		{"running", "instance-3", 0, durable.ErrInstanceNotFinished},
		{"completed", "instance-1", 1, nil},
		{"again", "instance-1", 0, nil},
		{"unknown", "nobody", 0, nil},
		{"invalid", "@a@b", 0, durable.ErrInvalidInstanceID},
	}
	for _, tc := range purge {
		n, err := c.Purge(ctx, tc.id, nil)
		if n != tc.n || !errors.Is(err, tc.err) || tc.err == nil && err != nil {
			t.Errorf("purge %s: %d %v, want %d %v", tc.name, n, err, tc.n, tc.err)
		}
	}
	if _, err := c.GetStatus(ctx, "instance-1", nil); !errors.Is(err, durable.ErrInstanceNotFound) {
		t.Fatalf("purged instance: %v", err)
	}
	if _, err := c.PurgeInstances(ctx, &durable.PurgeFilter{RuntimeStatus: []durable.RuntimeStatus{durable.StatusRunning}}); !errors.Is(err, durable.ErrInvalidQuery) {
		t.Fatalf("purge running by filter: %v", err)
	}
	n, err := c.PurgeInstances(ctx, &durable.PurgeFilter{CreatedTo: durabletest.Epoch})
	if err != nil || n != 2 { // instance-2 (failed), instance-4; not late (created after), not instance-3 (running)
		t.Fatalf("purge by filter: %d %v", n, err)
	}
	p, _ := c.ListInstances(ctx, nil)
	if !reflect.DeepEqual(ids(p), []string{"instance-3", "late"}) {
		t.Fatalf("left %v", ids(p))
	}
}

func TestClientEntities(t *testing.T) {
	ctx := context.Background()
	env, c := newClient(t)
	signals := []struct {
		name string
		id   durable.EntityID
		key  string
		err  error
	}{
		{"signal", counterID, "", nil},
		{"keyed", counterID, "k1", nil},
		{"keyed retry dropped", counterID, "k1", nil},
		{"other key", counterID, "k2", nil},
		{"same key, other entity", durable.NewEntityID("Counter", "b"), "k1", nil},
		{"unknown entity", durable.NewEntityID("nope", "a"), "", durable.ErrUnknownEntity},
		{"bad key", durable.NewEntityID("counter", "\xff"), "", durable.ErrInvalidKey},
	}
	for _, s := range signals {
		err := c.SignalEntity(ctx, s.id, "add", 1, &durable.SignalOptions{IdempotencyKey: s.key})
		if !errors.Is(err, s.err) || s.err == nil && err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	read := func(id durable.EntityID) (int, *durable.EntityState) {
		t.Helper()
		s, err := c.ReadEntity(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.GetState(&n); err != nil {
			t.Fatal(err)
		}
		return n, s
	}
	if n, s := read(counterID); n != 3 || !s.Exists || s.LockedBy != "" {
		t.Fatalf("counter a = %d (%+v), want 3: one signal, two distinct keys", n, s)
	}
	if _, s := read(durable.NewEntityID("counter", "never")); s.Exists || s.State != nil {
		t.Fatalf("untouched entity %+v", s)
	}

	// A scheduled signal waits for the clock.
	if err := c.SignalEntity(ctx, counterID, "add", 10, &durable.SignalOptions{At: env.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if n, _ := read(counterID); n != 3 {
		t.Fatalf("scheduled signal applied early: %d", n)
	}
	_ = env.Advance(time.Minute)
	if n, s := read(counterID); n != 13 || !s.LastModified.Equal(durabletest.Epoch.Add(time.Minute)) {
		t.Fatalf("after a minute: %d modified %v", n, s.LastModified)
	}

	// A critical section shows as LockedBy.
	id := mustStart(t, c, "locker", nil, nil)
	if _, s := read(counterID); !strings.HasPrefix(s.LockedBy, id+"|") {
		t.Fatalf("locked by %q, want %s", s.LockedBy, id)
	}
	if err := c.RaiseEvent(ctx, id, "go", nil); err != nil {
		t.Fatal(err)
	}
	if _, s := read(counterID); s.LockedBy != "" {
		t.Fatalf("still locked by %q", s.LockedBy)
	}

	_ = env.SetEntityState(durable.NewEntityID("other", "z"), 5)
	list := []struct {
		name  string
		q     *durable.EntityQuery
		want  []string
		state bool
	}{
		{"all", nil, []string{"@counter@a", "@counter@b", "@other@z"}, false},
		{"by name", &durable.EntityQuery{Name: "COUNTER", IncludeState: true}, []string{"@counter@a", "@counter@b"}, true},
		{"modified from", &durable.EntityQuery{LastModifiedFrom: durabletest.Epoch.Add(time.Second)}, []string{"@counter@a", "@other@z"}, false},
		{"modified to", &durable.EntityQuery{LastModifiedTo: durabletest.Epoch}, []string{"@counter@b"}, false},
	}
	for _, tc := range list {
		p, err := c.ListEntities(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range p.Entities {
			got = append(got, e.ID.String())
			if (e.State != nil) != tc.state {
				t.Errorf("%s: %s state %s", tc.name, e.ID, e.State)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	p, err := c.ListEntities(ctx, &durable.EntityQuery{PageSize: 2})
	if err != nil || len(p.Entities) != 2 || p.Continuation == "" {
		t.Fatalf("first page %v %+v", err, p)
	}
	p, err = c.ListEntities(ctx, &durable.EntityQuery{PageSize: 2, Continuation: p.Continuation})
	if err != nil || len(p.Entities) != 1 || p.Entities[0].ID.String() != "@other@z" || p.Continuation != "" {
		t.Fatalf("second page %v %+v", err, p)
	}
}

// The check-status body is the real client's: the same URLs for the same request.
func TestClientCheckStatus(t *testing.T) {
	_, c := newClient(t)
	r := httptest.NewRequest(http.MethodPost, "http://example.net/api/orchestrators/hello", nil)
	cs := c.CheckStatus(r, "abc 1")
	base := "http://example.net/api/runtime/webhooks/durabletask-links/instances/abc%201"
	if cs.ID != "abc 1" || cs.StatusQueryGetURI != base+"?taskHub=TestHubName&connection=Storage" ||
		cs.TerminatePostURI != base+"/terminate?reason={text}&taskHub=TestHubName&connection=Storage" ||
		cs.RewindPostURI != base+"/rewind?reason={text}&taskHub=TestHubName&connection=Storage" {
		t.Fatalf("%+v", cs)
	}
	w := httptest.NewRecorder()
	c.WriteCheckStatus(w, r, "abc 1")
	var body durable.CheckStatus
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusAccepted || body != cs || w.Header().Get("Location") != cs.StatusQueryGetURI {
		t.Fatalf("%d %v %s %+v", w.Code, err, w.Body, w.Header())
	}
}

// HTTP handlers run concurrently under an httptest.Server; the client serialises them.
func TestClientConcurrentHandlers(t *testing.T) {
	_, c := newClient(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := c.SignalEntity(r.Context(), counterID, "add", 1, nil); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	errs := make(chan error, 20)
	for range 20 {
		go func() {
			resp, err := http.Post(srv.URL, "application/json", nil)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s, _ := c.ReadEntity(context.Background(), counterID)
	if string(s.State) != "20" {
		t.Fatalf("state %s after 20 concurrent signals", s.State)
	}
}
