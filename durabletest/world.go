package durabletest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/entityexec"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/replay"
)

// This file is the simulated world behind Env: instances with inboxes, entities with
// queues and locks, and a list of timed deliveries, driven one episode at a time
// through the same pure cores the engine uses (replay.Execute, entityexec.Execute).
// It is deterministic: work is taken in creation order and nothing is shuffled.

// maxSteps bounds the episodes and entity operations of one call, so that an eternal
// orchestration or an entity ping-pong ends with an error instead of hanging the test.
const maxSteps = 10000

type message struct {
	exec string // execution the message is for; "" = whichever is current
	ev   history.Event
}

type instance struct {
	id       string
	name     string
	exec     int
	execID   string
	input    json.RawMessage
	hist     []history.Event
	inbox    []message
	status   durable.RuntimeStatus
	output   json.RawMessage
	failure  *durable.FailureDetails
	custom   json.RawMessage
	parent   *history.ParentInfo
	created  time.Time
	updated  time.Time // last episode (or start)
	version  string
	episodes int
	// suspended holds the inbox back, all but the messages that end a suspension,
	// as the engine does between Suspend and Resume.
	suspended bool
}

// runnable reports whether an episode would take something from the inbox.
func (in *instance) runnable() bool {
	if !in.suspended {
		return len(in.inbox) > 0
	}
	return slices.ContainsFunc(in.inbox, func(m message) bool { return releasesSuspension(m.ev) })
}

func releasesSuspension(ev history.Event) bool {
	switch ev.Type {
	case history.ExecutionResumed, history.ExecutionTerminated, history.ExecutionSuspended:
		return true
	}
	return false
}

func (in *instance) ended() bool {
	return in.status.IsTerminal() || in.status == durable.StatusContinuedAsNew
}

type opKind int

const (
	opSignal opKind = iota
	opCall
	opLock
	opUnlock
)

type entityMsg struct {
	kind      opKind
	origin    string // the orchestration (instance|execution) a message acts for
	op        string
	input     json.RawMessage
	replyTo   string
	replyExec string
	taskID    int
	lockSet   []durable.EntityID
	lockIndex int
}

type entity struct {
	id    durable.EntityID
	state json.RawMessage
	has   bool
	lock  string // origin holding the lock, "" when free
	queue []entityMsg
	sent  int64 // messages sent so far, for the ids of started orchestrations
	// modified is when an operation last ran (ReadEntity's LastModified).
	modified time.Time
}

type timed struct {
	at  time.Time
	seq int
	do  func()
}

func (e *Env) instanceOf(id string) *instance { return e.insts[id] }

func (e *Env) entityOf(id durable.EntityID) *entity {
	id = durable.NewEntityID(id.Name, id.Key)
	en, ok := e.ents[id]
	if !ok {
		en = &entity{id: id}
		e.ents[id] = en
		e.entOrder = append(e.entOrder, id)
	}
	return en
}

func (e *Env) after(at time.Time, do func()) {
	e.timerSeq++
	e.timers = append(e.timers, timed{at: at, seq: e.timerSeq, do: do})
}

// startInstance queues a new execution of name as id; it reports false when an
// instance with that id is still running (the start is dropped, as the engine does).
func (e *Env) startInstance(id, name string, input json.RawMessage, parent *history.ParentInfo) bool {
	return e.startVersion(id, name, "", input, parent)
}

func (e *Env) startVersion(id, name, version string, input json.RawMessage, parent *history.ParentInfo) bool {
	in := e.insts[id]
	if in != nil && !in.status.IsTerminal() {
		e.log.Debug("start for a running instance dropped", "instance", id)
		return false
	}
	if in == nil {
		// A purged id keeps counting executions, so late messages for the purged one
		// cannot reach the new one.
		in = &instance{id: id, created: e.now, exec: e.purgedExecs[id]}
		e.insts[id] = in
		e.order = append(e.order, id)
	}
	in.name, in.parent, in.status, in.version, in.updated, in.suspended = name, parent, durable.StatusPending, version, e.now, false
	in.input = input
	in.exec++
	in.execID = fmt.Sprintf("%s#%d", id, in.exec)
	in.hist, in.inbox = nil, []message{{exec: in.execID, ev: history.Event{
		Type: history.ExecutionStarted, ID: -1, Timestamp: e.now, Name: name, Input: input,
		InstanceID: id, ExecutionID: in.execID, Parent: parent, Version: version,
	}}}
	in.output, in.failure, in.custom = nil, nil, nil
	return true
}

func (e *Env) deliver(id string, m message) {
	if in := e.insts[id]; in != nil {
		in.inbox = append(in.inbox, m)
	}
}

// settle runs every episode and entity operation that can run now, without moving
// the clock.
func (e *Env) settle() error {
	for {
		if e.err != nil {
			return e.err
		}
		e.fireDue()
		if e.steps++; e.steps > maxSteps {
			return fmt.Errorf("durabletest: still busy after %d episodes and entity operations; an eternal orchestration or a message loop?", maxSteps)
		}
		if in := e.nextReady(); in != nil {
			e.episode(in)
			continue
		}
		if en := e.nextEntity(); en != nil {
			e.entityStep(en)
			continue
		}
		return e.err
	}
}

// fireDue delivers the timed messages due by now, earliest first.
func (e *Env) fireDue() {
	for {
		i := e.nextTimer()
		if i < 0 || e.timers[i].at.After(e.now) {
			return
		}
		t := e.timers[i]
		e.timers = slices.Delete(e.timers, i, i+1)
		t.do()
	}
}

func (e *Env) nextTimer() int {
	best := -1
	for i, t := range e.timers {
		if best < 0 || t.at.Before(e.timers[best].at) || (t.at.Equal(e.timers[best].at) && t.seq < e.timers[best].seq) {
			best = i
		}
	}
	return best
}

func (e *Env) nextReady() *instance {
	for _, id := range e.order {
		if in := e.insts[id]; in.runnable() {
			return in
		}
	}
	return nil
}

func (e *Env) nextEntity() *entity {
	for _, id := range e.entOrder {
		en := e.ents[id]
		if en.nextMsg() >= 0 {
			return en
		}
	}
	return nil
}

// nextMsg is the first queued message the entity may serve: while locked, only the
// holder's.
func (en *entity) nextMsg() int {
	for i, m := range en.queue {
		if en.lock == "" || m.origin == en.lock {
			return i
		}
	}
	return -1
}

// episode runs one orchestration episode over everything in the instance's inbox.
func (e *Env) episode(in *instance) {
	var batch []history.Event
	var start *history.Event
	var rest []message
	for _, m := range in.inbox {
		switch {
		case in.suspended && !releasesSuspension(m.ev):
			rest = append(rest, m) // held until resumed
		case m.ev.Type == history.ExecutionStarted && start == nil && m.exec == in.execID:
			ev := m.ev
			start = &ev
		case m.ev.Type == history.ExecutionStarted:
			rest = append(rest, m) // one execution start per episode
		case start == nil && in.ended(), m.exec != "" && m.exec != in.execID:
			e.log.Debug("message for a finished execution dropped", "instance", in.id, "type", m.ev.Type)
		default:
			batch = append(batch, m.ev)
		}
	}
	in.inbox = rest
	if start != nil {
		in.input, in.status, in.hist = start.Input, durable.StatusRunning, nil
		batch = append([]history.Event{*start}, batch...)
	}
	if len(batch) == 0 {
		return
	}
	in.episodes++
	newEvents := append([]history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: e.now}}, batch...)
	fn := e.orchestrator(in.name)
	var res *replay.Result
	if fn == nil {
		f := &durable.FailureDetails{ErrorType: "UnknownOrchestrator", ErrorMessage: fmt.Sprintf("no orchestrator named %q is registered", in.name)}
		evs := append(newEvents, history.Event{Type: history.ExecutionCompleted, ID: -1, Timestamp: e.now, Status: durable.StatusFailed, Failure: f})
		res = &replay.Result{NewEvents: evs, Status: durable.StatusFailed, Failure: f}
	} else {
		res = replay.Execute(fn, in.hist, newEvents, replay.Options{Logger: e.log.With("instance", in.id, "orchestrator", in.name)})
	}
	in.hist = append(slices.Clip(in.hist), res.NewEvents...)
	in.status, in.updated = res.Status, e.now
	if res.Status == durable.StatusRunning {
		for _, ev := range res.NewEvents {
			switch ev.Type {
			case history.ExecutionSuspended:
				in.suspended = true
			case history.ExecutionResumed:
				in.suspended = false
			}
		}
		if in.suspended {
			in.status = durable.StatusSuspended
		}
	} else {
		in.suspended = false
	}
	if res.CustomStatus != nil {
		in.custom = res.CustomStatus
	}
	if in.ended() {
		in.output, in.failure = res.Output, res.Failure
		if res.Status == durable.StatusContinuedAsNew {
			in.output = nil
		}
	}
	if fn != nil && res.Nondeterminism == nil {
		if err := selfCheck(fn, in.hist, res); err != nil {
			e.err = fmt.Errorf("durabletest: instance %q (%s), episode %d: replaying the history just persisted does not give the same result, so the orchestrator is not deterministic: %w",
				in.id, in.name, in.episodes, err)
			return
		}
	}
	for _, a := range res.Actions {
		e.act(in, a)
	}
	switch {
	case res.Status.IsTerminal() && in.parent != nil:
		ev := history.Event{ID: -1, Timestamp: e.now, TaskID: in.parent.TaskID}
		if res.Status == durable.StatusCompleted {
			ev.Type, ev.Result = history.SubOrchestrationDone, res.Output
		} else {
			ev.Type, ev.Failure = history.SubOrchestrationFailed, res.Failure
			if ev.Failure == nil {
				ev.Failure = &durable.FailureDetails{ErrorType: string(res.Status), ErrorMessage: "sub-orchestration " + string(res.Status)}
			}
		}
		e.deliver(in.parent.InstanceID, message{exec: in.parent.ExecutionID, ev: ev})
	case res.Status == durable.StatusContinuedAsNew:
		old := in.inbox
		in.exec++
		in.execID = fmt.Sprintf("%s#%d", in.id, in.exec)
		next := []message{{exec: in.execID, ev: history.Event{Type: history.ExecutionStarted, ID: -1, Timestamp: e.now, Name: in.name,
			Input: res.ContinueAsNewInput, InstanceID: in.id, ExecutionID: in.execID, Parent: in.parent, Version: in.version}}}
		for _, c := range res.CarryOverEvents {
			next = append(next, message{exec: in.execID, ev: c})
		}
		in.inbox = append(next, old...)
	}
}

// act carries out one action, as the engine does after committing the episode.
func (e *Env) act(in *instance, a history.Event) {
	origin := in.id + "|" + in.execID
	reply := func(ev history.Event) {
		ev.ID, ev.Timestamp = -1, e.now
		e.deliver(in.id, message{exec: in.execID, ev: ev})
	}
	switch a.Type {
	case history.TaskScheduled:
		reply(e.runActivity(in, a))
	case history.TimerCreated:
		id, exec := in.id, in.execID
		e.after(a.FireAt, func() {
			e.deliver(id, message{exec: exec, ev: history.Event{Type: history.TimerFired, ID: -1, Timestamp: a.FireAt, TaskID: a.ID, FireAt: a.FireAt}})
		})
	case history.SubOrchestrationCreated:
		if !e.startInstance(a.InstanceID, a.Name, a.Input, &history.ParentInfo{InstanceID: in.id, ExecutionID: in.execID, TaskID: a.ID, Name: a.Name}) {
			e.log.Warn("sub-orchestration id in use by a running instance; the parent waits forever", "instance", in.id, "child", a.InstanceID)
		}
	case history.EventSent:
		e.deliver(a.InstanceID, message{ev: history.Event{Type: history.EventRaised, ID: -1, Timestamp: e.now, Name: a.Name, Input: a.Input}})
	case history.EntitySignaled:
		m := entityMsg{kind: opSignal, origin: origin, op: a.Name, input: a.Input}
		e.sendEntity(*a.Entity, m, a.FireAt)
	case history.EntityCalled:
		e.sendEntity(*a.Entity, entityMsg{kind: opCall, origin: origin, op: a.Name, input: a.Input, replyTo: in.id, replyExec: in.execID, taskID: a.ID}, time.Time{})
	case history.EntityLockRequested:
		if len(a.LockSet) > 0 {
			e.sendEntity(a.LockSet[0], entityMsg{kind: opLock, origin: origin, replyTo: in.id, replyExec: in.execID, taskID: a.ID, lockSet: a.LockSet}, time.Time{})
		}
	case history.EntityUnlockSent:
		e.sendEntity(*a.Entity, entityMsg{kind: opUnlock, origin: origin}, time.Time{})
	}
}

func (e *Env) sendEntity(id durable.EntityID, m entityMsg, at time.Time) {
	if at.After(e.now) {
		e.after(at, func() { e.sendEntity(id, m, time.Time{}) })
		return
	}
	en := e.entityOf(id)
	en.queue = append(en.queue, m)
}

// entityStep serves one message of en.
func (e *Env) entityStep(en *entity) {
	i := en.nextMsg()
	m := en.queue[i]
	en.queue = slices.Delete(en.queue, i, i+1)
	switch m.kind {
	case opLock:
		en.lock = m.origin
		if m.lockIndex+1 < len(m.lockSet) {
			next := m
			next.lockIndex++
			e.sendEntity(m.lockSet[next.lockIndex], next, time.Time{})
		} else {
			e.deliver(m.replyTo, message{exec: m.replyExec, ev: history.Event{Type: history.EntityLockGranted, ID: -1, Timestamp: e.now, TaskID: m.taskID}})
		}
		return
	case opUnlock:
		if en.lock == m.origin {
			en.lock = ""
		}
		return
	}
	fn := e.entity(en.id.Name)
	self := en.id.String()
	out := entityexec.Execute(fn, &entityexec.Operation{
		ID: en.id, Name: m.op, Input: m.input, State: en.state, HasState: en.has,
		Logger:        e.log.With("entity", self, "operation", m.op),
		NewInstanceID: func(n int) string { return entityInstanceID(en.id, en.sent+int64(n)+1) },
	})
	en.state, en.has, en.modified = out.State, out.HasState, e.now
	for _, s := range out.Sends {
		en.sent++
		switch s.Kind {
		case entityexec.SendSignal:
			e.sendEntity(s.Entity, entityMsg{kind: opSignal, origin: self, op: s.Operation, input: s.Input}, s.At)
		case entityexec.SendStart:
			e.startInstance(s.InstanceID, s.Orchestrator, s.Input, nil)
		}
	}
	if out.Failure != nil && m.kind == opSignal {
		e.log.Warn("entity operation failed", "entity", self, "operation", m.op, "error", out.Failure.ErrorMessage)
	}
	if m.kind == opCall {
		ev := history.Event{ID: -1, Timestamp: e.now, TaskID: m.taskID}
		if out.Failure != nil {
			ev.Type, ev.Failure = history.EntityFailed, out.Failure
		} else {
			ev.Type, ev.Result = history.EntityCompleted, out.Result
		}
		e.deliver(m.replyTo, message{exec: m.replyExec, ev: ev})
	}
}

// entityInstanceID names an orchestration an entity started without an id: stable per
// entity and message number, like the engine's.
func entityInstanceID(id durable.EntityID, n int64) string {
	return fmt.Sprintf("%s:%04X", id.String(), n)
}

// runActivity runs one activity attempt (the mock, when there is one) and returns its
// completion event, with the engine's failure types.
func (e *Env) runActivity(in *instance, a history.Event) (ev history.Event) {
	ev = history.Event{TaskID: a.ID}
	fail := func(typ, msg, stack string) history.Event {
		ev.Type = history.TaskFailed
		ev.Failure = &durable.FailureDetails{ErrorType: typ, ErrorMessage: msg, StackTrace: stack}
		return ev
	}
	fn := e.activity(a.Name)
	if fn == nil {
		return fail("UnknownActivity", fmt.Sprintf("no activity named %q is registered", a.Name), "")
	}
	defer func() {
		if r := recover(); r != nil {
			ev = fail("panic", fmt.Sprintf("activity %s panicked: %v", a.Name, r), string(debug.Stack()))
		}
	}()
	out, err := fn(&activityContext{Context: context.Background(), instance: in.id, taskID: a.ID, name: a.Name, input: a.Input})
	if err != nil {
		return fail(fmt.Sprintf("%T", err), err.Error(), "")
	}
	res, err := durable.Marshal(out)
	if err != nil {
		return fail("SerializationError", fmt.Sprintf("activity %s result is not JSON-serialisable: %v", a.Name, err), "")
	}
	ev.Type, ev.Result = history.TaskCompleted, res
	return ev
}

type activityContext struct {
	context.Context
	instance string
	taskID   int
	name     string
	input    json.RawMessage
}

func (c *activityContext) InstanceID() string   { return c.instance }
func (c *activityContext) TaskID() int          { return c.taskID }
func (c *activityContext) Name() string         { return c.name }
func (c *activityContext) GetInput(v any) error { return durable.Unmarshal(c.input, v) }

var _ durable.ActivityContext = (*activityContext)(nil)

// discard is the default logger: tests are quiet unless they ask (Env.SetLogger).
var discard = slog.New(slog.DiscardHandler)
