package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

// This file is a tiny simulated storage + worker: it plays the role the engine plays
// in production (persist NewEvents, carry out Actions, answer them with completion
// events in later episodes) but shuffles, batches and duplicates deliveries, which is
// what the real queues may do.

// t0 is the simulated clock's start; fixed so recorded histories are reproducible.
var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type activityFn func(input json.RawMessage, attempt int) (any, error)

// entityFn runs one operation on an entity whose state is an int.
type entityFn func(op string, input json.RawMessage, state *int) (any, error)

type message struct {
	exec int // execution the message is for; 0 = whichever is current
	ev   history.Event
}

type timed struct {
	at   time.Time
	inst string
	msg  message
}

type instance struct {
	id       string
	name     string
	exec     int
	hist     []history.Event
	inbox    []message
	status   durable.RuntimeStatus
	last     *Result
	parent   *history.ParentInfo
	episodes int
	dropped  []history.Event
	carried  []history.Event
	actions  []history.Event // every action ever carried out, all executions
	attempts map[string]int
}

type world struct {
	t        testing.TB
	rng      *rand.Rand
	now      time.Time
	orchs    map[string]durable.Orchestrator
	acts     map[string]activityFn
	ents     map[string]entityFn
	state    map[durable.EntityID]int
	locks    map[durable.EntityID]string // entity -> instance holding it
	insts    map[string]*instance
	order    []string
	timers   []timed
	dup      float64 // probability that a completion is delivered twice
	maxBatch int
	noCheck  bool // skip the full-replay determinism check after each episode
	opts     Options
}

func newWorld(t testing.TB, seed uint64) *world {
	return &world{
		t:        t,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:      t0,
		orchs:    map[string]durable.Orchestrator{},
		acts:     map[string]activityFn{},
		ents:     map[string]entityFn{},
		state:    map[durable.EntityID]int{},
		locks:    map[durable.EntityID]string{},
		insts:    map[string]*instance{},
		maxBatch: 8,
	}
}

func (w *world) start(name, id string, input any, parent *history.ParentInfo) *instance {
	w.t.Helper()
	raw, err := durable.Marshal(input)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, ok := w.insts[id]; ok {
		w.t.Fatalf("instance %q started twice", id)
	}
	in := &instance{id: id, name: name, exec: 1, status: durable.StatusPending, parent: parent, attempts: map[string]int{}}
	in.inbox = []message{{exec: 1, ev: w.startEvent(in, raw)}}
	w.insts[id] = in
	w.order = append(w.order, id)
	return in
}

func (w *world) startEvent(in *instance, input json.RawMessage) history.Event {
	return history.Event{Type: history.ExecutionStarted, ID: -1, Timestamp: w.now, Name: in.name, Input: input,
		InstanceID: in.id, ExecutionID: fmt.Sprintf("%s-exec%d", in.id, in.exec), Parent: in.parent}
}

// raise queues an external event for delivery at the given time.
func (w *world) raiseAt(at time.Time, id, name string, payload any) {
	raw, _ := durable.Marshal(payload)
	w.timers = append(w.timers, timed{at: at, inst: id, msg: message{ev: history.Event{Type: history.EventRaised, ID: -1, Timestamp: at, Name: name, Input: raw}}})
}

func (w *world) raise(id, name string, payload any) {
	raw, _ := durable.Marshal(payload)
	w.deliver(id, message{ev: history.Event{Type: history.EventRaised, ID: -1, Timestamp: w.now, Name: name, Input: raw}})
}

func (w *world) terminate(id, reason string) {
	raw, _ := durable.Marshal(reason)
	w.deliver(id, message{ev: history.Event{Type: history.ExecutionTerminated, ID: -1, Timestamp: w.now, Input: raw}})
}

func (w *world) deliver(id string, m message) {
	in, ok := w.insts[id]
	if !ok {
		return
	}
	in.inbox = append(in.inbox, m)
}

// reply delivers a completion to in, sometimes twice, as at-least-once queues do.
func (w *world) reply(in *instance, ev history.Event) {
	ev.ID = -1
	ev.Timestamp = w.now
	w.deliver(in.id, message{exec: in.exec, ev: ev})
	if w.dup > 0 && w.rng.Float64() < w.dup {
		w.deliver(in.id, message{exec: in.exec, ev: ev})
	}
}

// run drives every instance until nothing is left to deliver.
func (w *world) run() {
	w.t.Helper()
	for steps := 0; ; steps++ {
		if steps > 100000 {
			w.t.Fatal("simulation does not settle")
		}
		var ready []*instance
		for _, id := range w.order {
			if in := w.insts[id]; len(in.inbox) > 0 {
				ready = append(ready, in)
			}
		}
		if len(ready) > 0 {
			w.episode(ready[w.rng.IntN(len(ready))])
			continue
		}
		if len(w.timers) == 0 {
			return
		}
		// Idle: jump the clock to the next due message.
		next := slices.MinFunc(w.timers, func(a, b timed) int { return a.at.Compare(b.at) }).at
		if next.After(w.now) {
			w.now = next
		}
		rest := w.timers[:0]
		for _, tm := range w.timers {
			if tm.at.After(w.now) {
				rest = append(rest, tm)
				continue
			}
			w.deliver(tm.inst, tm.msg)
		}
		w.timers = rest
	}
}

func (w *world) episode(in *instance) {
	w.t.Helper()
	w.now = w.now.Add(time.Second)
	in.episodes++

	// Messages for an older execution are stale (the engine filters them the same way).
	inbox := in.inbox[:0]
	for _, m := range in.inbox {
		if m.exec == 0 || m.exec == in.exec {
			inbox = append(inbox, m)
		}
	}
	in.inbox = inbox

	var batch []history.Event
	if len(in.hist) == 0 {
		// A new execution: ExecutionStarted comes first, then whatever else is queued.
		i := slices.IndexFunc(in.inbox, func(m message) bool { return m.ev.Type == history.ExecutionStarted })
		if i < 0 {
			w.t.Fatalf("%s: no ExecutionStarted queued", in.id)
		}
		batch = append(batch, in.inbox[i].ev)
		in.inbox = slices.Delete(in.inbox, i, i+1)
	}
	w.rng.Shuffle(len(in.inbox), func(i, j int) { in.inbox[i], in.inbox[j] = in.inbox[j], in.inbox[i] })
	n := min(len(in.inbox), 1+w.rng.IntN(w.maxBatch))
	for _, m := range in.inbox[:n] {
		batch = append(batch, m.ev)
	}
	in.inbox = slices.Clone(in.inbox[n:])

	fn := w.orchs[in.name]
	if fn == nil {
		w.t.Fatalf("no orchestrator %q", in.name)
	}
	newEvents := append([]history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: w.now}}, batch...)
	res := Execute(fn, in.hist, newEvents, w.opts)
	checkResult(w.t, in.hist, newEvents, res)
	in.hist = append(in.hist, res.NewEvents...)
	in.dropped = append(in.dropped, res.Dropped...)
	in.last = res
	in.status = res.Status

	if res.Status == durable.StatusRunning && !w.noCheck {
		// Replaying everything just persisted, with nothing new, must be a no-op.
		again := Execute(fn, in.hist, []history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: w.now}}, Options{})
		if again.Status != durable.StatusRunning || len(again.Actions) != 0 || again.Failure != nil {
			w.t.Fatalf("%s: replay of the persisted history is not a no-op: status %s, %d actions, failure %+v",
				in.id, again.Status, len(again.Actions), again.Failure)
		}
	}

	for _, a := range res.Actions {
		in.actions = append(in.actions, a)
		w.act(in, a)
	}

	switch res.Status {
	case durable.StatusCompleted, durable.StatusFailed, durable.StatusTerminated:
		in.inbox = nil
		if p := in.parent; p != nil {
			ev := history.Event{Type: history.SubOrchestrationDone, TaskID: p.TaskID, Result: res.Output}
			if res.Status != durable.StatusCompleted {
				ev = history.Event{Type: history.SubOrchestrationFailed, TaskID: p.TaskID, Failure: res.Failure}
			}
			w.reply(w.insts[p.InstanceID], ev)
		}
	case durable.StatusContinuedAsNew:
		in.exec++
		in.hist = nil
		in.carried = append(in.carried, res.CarryOverEvents...)
		next := []message{{exec: in.exec, ev: w.startEvent(in, res.ContinueAsNewInput)}}
		for _, e := range res.CarryOverEvents {
			next = append(next, message{exec: in.exec, ev: e})
		}
		in.inbox = append(next, in.inbox...)
	}
}

// act carries out one action, as the worker would after committing the episode.
func (w *world) act(in *instance, a history.Event) {
	w.t.Helper()
	switch a.Type {
	case history.TaskScheduled:
		fn := w.acts[a.Name]
		if fn == nil {
			w.t.Fatalf("no activity %q", a.Name)
		}
		in.attempts[a.Name]++
		out, err := fn(a.Input, in.attempts[a.Name])
		if err != nil {
			w.reply(in, history.Event{Type: history.TaskFailed, TaskID: a.ID, Failure: &durable.FailureDetails{ErrorType: "ActivityError", ErrorMessage: err.Error()}})
			return
		}
		raw, _ := durable.Marshal(out)
		w.reply(in, history.Event{Type: history.TaskCompleted, TaskID: a.ID, Result: raw})
	case history.TimerCreated:
		w.timers = append(w.timers, timed{at: a.FireAt, inst: in.id, msg: message{exec: in.exec,
			ev: history.Event{Type: history.TimerFired, ID: -1, Timestamp: a.FireAt, TaskID: a.ID, FireAt: a.FireAt}}})
	case history.SubOrchestrationCreated:
		w.start(a.Name, a.InstanceID, a.Input, &history.ParentInfo{InstanceID: in.id, ExecutionID: fmt.Sprint(in.exec), TaskID: a.ID, Name: a.Name})
	case history.EventSent:
		w.raise(a.InstanceID, a.Name, a.Input)
	case history.EntitySignaled:
		if _, err := w.entityOp(*a.Entity, a.Name, a.Input); err != nil {
			w.t.Logf("signal %s %s failed: %v", a.Entity, a.Name, err)
		}
	case history.EntityCalled:
		if h, ok := w.locks[*a.Entity]; ok && h != in.id {
			w.t.Fatalf("%s called %s locked by %s", in.id, a.Entity, h)
		}
		out, err := w.entityOp(*a.Entity, a.Name, a.Input)
		if err != nil {
			w.reply(in, history.Event{Type: history.EntityFailed, TaskID: a.ID, Failure: &durable.FailureDetails{ErrorType: "EntityError", ErrorMessage: err.Error()}})
			return
		}
		raw, _ := durable.Marshal(out)
		w.reply(in, history.Event{Type: history.EntityCompleted, TaskID: a.ID, Result: raw})
	case history.EntityLockRequested:
		for _, id := range a.LockSet {
			if h, ok := w.locks[id]; ok {
				w.t.Fatalf("%s: %s already locked by %s", in.id, id, h)
			}
			w.locks[id] = in.id
		}
		w.reply(in, history.Event{Type: history.EntityLockGranted, TaskID: a.ID})
	case history.EntityUnlockSent:
		if h := w.locks[*a.Entity]; h != in.id {
			w.t.Fatalf("%s released %s held by %q", in.id, a.Entity, h)
		}
		delete(w.locks, *a.Entity)
	default:
		w.t.Fatalf("unexpected action %s", a.Type)
	}
}

func (w *world) entityOp(id durable.EntityID, op string, input json.RawMessage) (any, error) {
	fn := w.ents[id.Name]
	if fn == nil {
		return nil, fmt.Errorf("no entity %q", id.Name)
	}
	st := w.state[id]
	out, err := fn(op, input, &st)
	if err == nil {
		w.state[id] = st
	}
	return out, err
}

// counterEntity is the classic Durable Functions sample entity.
func counterEntity(op string, input json.RawMessage, state *int) (any, error) {
	switch op {
	case "add":
		var n int
		if err := json.Unmarshal(input, &n); err != nil {
			return nil, err
		}
		*state += n
		return nil, nil
	case "get":
		return *state, nil
	case "fail":
		return nil, errors.New("counter refuses")
	}
	return nil, fmt.Errorf("unknown operation %q", op)
}

// checkResult asserts the invariants every Result must satisfy.
func checkResult(t testing.TB, past, newEvents []history.Event, r *Result) {
	t.Helper()
	if r == nil {
		t.Fatal("nil result")
	}
	accepted := 0
	for _, e := range r.NewEvents {
		if !isScheduling(e.Type) && e.Type != history.ExecutionCompleted {
			accepted++
		}
	}
	// Carried-over events were either buffered earlier (so persisted) or arrived after
	// the end in this episode (so neither persisted nor dropped).
	late := 0
	for _, c := range r.CarryOverEvents {
		if !slices.ContainsFunc(r.NewEvents, func(e history.Event) bool { return sameEvent(e, c) }) &&
			!slices.ContainsFunc(past, func(e history.Event) bool { return sameEvent(e, c) }) {
			late++
		}
	}
	if accepted+len(r.Dropped)+late != len(newEvents) {
		t.Fatalf("events lost: %d in, %d accepted, %d dropped, %d carried late", len(newEvents), accepted, len(r.Dropped), late)
	}
	var sched []history.Event
	for _, e := range r.NewEvents {
		if isScheduling(e.Type) {
			sched = append(sched, e)
		}
	}
	if len(sched) != len(r.Actions) {
		t.Fatalf("%d scheduling events but %d actions", len(sched), len(r.Actions))
	}
	ids := map[int]bool{}
	for _, e := range past {
		if isScheduling(e.Type) {
			ids[e.ID] = true
		}
	}
	for _, a := range r.Actions {
		if ids[a.ID] {
			t.Fatalf("action id %d reused", a.ID)
		}
		ids[a.ID] = true
	}
	ended := r.Status != durable.StatusRunning && r.Status != durable.StatusPending
	hasEnd := len(r.NewEvents) > 0 && r.NewEvents[len(r.NewEvents)-1].Type == history.ExecutionCompleted
	for _, e := range past {
		if e.Type == history.ExecutionCompleted {
			hasEnd = true // ended before this episode
		}
	}
	if ended != hasEnd {
		t.Fatalf("status %s but ExecutionCompleted written: %v", r.Status, hasEnd)
	}
}

func sameEvent(a, b history.Event) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
