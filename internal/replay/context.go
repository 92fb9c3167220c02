package replay

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

// guidNamespace is the namespace Durable Functions uses for its deterministic GUIDs.
var guidNamespace = uuid.MustParse("9e952958-5e33-4daf-827f-2fa12937b875")

// orchContext is the durable.OrchestrationContext the code sees. Like the code, it is
// used on the orchestrator goroutine only; orchestrators must not start goroutines
// that call it.
type orchContext struct {
	ex     *executor
	logger *slog.Logger
}

var (
	_ durable.OrchestrationContext = (*orchContext)(nil)
	_ durable.WhenAnyer            = (*orchContext)(nil)
)

func (c *orchContext) InstanceID() string { return c.ex.instanceID }
func (c *orchContext) Name() string       { return c.ex.name }
func (c *orchContext) IsReplaying() bool  { return c.ex.replaying }

func (c *orchContext) GetInput(v any) error {
	if err := durable.Unmarshal(c.ex.input, v); err != nil {
		return fmt.Errorf("durable: decoding orchestration input: %w", err)
	}
	return nil
}

func (c *orchContext) CurrentUTCDateTime() time.Time { return c.ex.now.UTC() }

// NewGUID follows Durable Functions' recipe (a name-based UUID over instance id, episode
// time and a counter) so that the same call yields the same value on every replay.
func (c *orchContext) NewGUID() string {
	ex := c.ex
	name := ex.instanceID + "_" + ex.now.UTC().Format(time.RFC3339Nano) + "_" + fmt.Sprint(ex.guids)
	ex.guids++
	return uuid.NewSHA1(guidNamespace, []byte(name)).String()
}

func (c *orchContext) Logger() *slog.Logger {
	if c.logger == nil {
		c.logger = slog.New(&replayAwareHandler{h: c.ex.log.Handler(), ex: c.ex})
	}
	return c.logger
}

func (c *orchContext) CallActivity(name string, input any, opts *durable.ActivityOptions) durable.Task {
	ex := c.ex
	t := ex.newTask("activity", name)
	if ex.unwinding {
		return t
	}
	payload, err := durable.Marshal(input)
	if err != nil {
		ex.finishTask(t, nil, fmt.Errorf("durable: encoding input of activity %q: %w", name, err))
		return t
	}
	cl := &call{t: t, attempt: 1, first: ex.now, build: func(id int) history.Event {
		return history.Event{Type: history.TaskScheduled, ID: id, Name: name, Input: payload}
	}}
	if opts != nil {
		cl.policy = opts.Retry
	}
	ex.startAttempt(cl)
	return t
}

func (c *orchContext) CallSubOrchestrator(name string, input any, opts *durable.SubOrchestratorOptions) durable.Task {
	ex := c.ex
	t := ex.newTask("suborchestration", name)
	if ex.unwinding {
		return t
	}
	if ex.section != nil {
		ex.finishTask(t, nil, &durable.LockingRulesError{Rule: "sub-orchestrations are not allowed in a critical section"})
		return t
	}
	payload, err := durable.Marshal(input)
	if err != nil {
		ex.finishTask(t, nil, fmt.Errorf("durable: encoding input of sub-orchestration %q: %w", name, err))
		return t
	}
	var instanceID string
	var policy *durable.RetryPolicy
	if opts != nil {
		instanceID, policy = opts.InstanceID, opts.Retry
	}
	cl := &call{t: t, attempt: 1, first: ex.now, policy: policy, build: func(id int) history.Event {
		child := instanceID
		if child == "" {
			// Durable Functions' scheme: unique per attempt, stable across replays.
			child = fmt.Sprintf("%s:%04X", ex.instanceID, id)
		}
		return history.Event{Type: history.SubOrchestrationCreated, ID: id, Name: name, InstanceID: child, Input: payload, Version: ex.version}
	}}
	ex.startAttempt(cl)
	return t
}

func (c *orchContext) CreateTimer(fireAt time.Time) durable.Task {
	ex := c.ex
	t := ex.newTask("timer", "")
	if ex.unwinding {
		return t
	}
	id := ex.allocID()
	ev := history.Event{Type: history.TimerCreated, ID: id, FireAt: fireAt.UTC()}
	if ex.issue(&ev) {
		ex.await(id, history.TimerCreated, func(*history.Event) { ex.finishTask(t, nil, nil) })
	}
	return t
}

// WaitForExternalEvent waits forever when timeout <= 0 (see the package comment).
func (c *orchContext) WaitForExternalEvent(name string, timeout time.Duration) durable.Task {
	return c.waitEvent(name, timeout, func(t *task) {
		c.ex.finishTask(t, nil, fmt.Errorf("%w waiting for external event %q (timeout %v)", durable.ErrTimeout, name, timeout))
	})
}

// waitEvent is WaitForExternalEvent with what a timeout does to the task left to the caller.
func (c *orchContext) waitEvent(name string, timeout time.Duration, onTimeout func(t *task)) durable.Task {
	ex := c.ex
	t := ex.newTask("event", name)
	if ex.unwinding {
		return t
	}
	key := foldName(name)
	if ev := ex.takeBuffered(key); ev != nil {
		ex.finishTask(t, ev.Input, nil)
		return t
	}
	ex.waiters[key] = append(ex.waiters[key], t)
	if timeout <= 0 {
		return t
	}
	id := ex.allocID()
	ev := history.Event{Type: history.TimerCreated, ID: id, FireAt: ex.now.Add(timeout).UTC()}
	if ex.issue(&ev) {
		ex.await(id, history.TimerCreated, func(*history.Event) {
			if t.done {
				return // the event won the race
			}
			ex.removeWaiter(key, t)
			onTimeout(t)
		})
	}
	return t
}

func (c *orchContext) SendEvent(instanceID, eventName string, payload any) {
	ex := c.ex
	if ex.unwinding {
		return
	}
	data, err := durable.Marshal(payload)
	if err != nil {
		ex.codeFail(fmt.Errorf("durable: encoding payload of event %q: %w", eventName, err))
	}
	ev := history.Event{Type: history.EventSent, ID: ex.allocID(), InstanceID: instanceID, Name: eventName, Input: data}
	ex.issue(&ev)
}

func (c *orchContext) CallEntity(id durable.EntityID, operation string, input any) durable.Task {
	ex := c.ex
	id = durable.NewEntityID(id.Name, id.Key)
	t := ex.newTask("entity", id.Name+"@"+id.Key+":"+operation)
	if ex.unwinding {
		return t
	}
	sec := ex.section
	if sec != nil {
		if !slices.Contains(sec.ids, id) {
			ex.finishTask(t, nil, &durable.LockingRulesError{Rule: fmt.Sprintf("entity %s is not locked by this critical section", id)})
			return t
		}
		if sec.calling[id] {
			ex.finishTask(t, nil, &durable.LockingRulesError{Rule: fmt.Sprintf("parallel calls to one entity in a critical section (%s already has a call outstanding)", id)})
			return t
		}
	}
	payload, err := durable.Marshal(input)
	if err != nil {
		ex.finishTask(t, nil, fmt.Errorf("durable: encoding input of entity operation %q: %w", t.name, err))
		return t
	}
	eid := ex.allocID()
	ev := history.Event{Type: history.EntityCalled, ID: eid, Entity: &id, Name: operation, Input: payload}
	if !ex.issue(&ev) {
		return t
	}
	if sec != nil {
		sec.calling[id] = true
	}
	ex.await(eid, history.EntityCalled, func(e *history.Event) {
		if sec != nil {
			delete(sec.calling, id)
		}
		if e.Type == history.EntityCompleted {
			ex.finishTask(t, e.Result, nil)
			return
		}
		ex.finishTask(t, nil, &durable.TaskFailedError{Kind: t.kind, Name: t.name, TaskID: e.TaskID, Details: failureOf(e)})
	})
	return t
}

func (c *orchContext) SignalEntity(id durable.EntityID, operation string, input any) {
	c.signal(id, operation, input, time.Time{})
}

func (c *orchContext) SignalEntityAt(id durable.EntityID, operation string, input any, at time.Time) {
	c.signal(id, operation, input, at)
}

func (c *orchContext) signal(id durable.EntityID, operation string, input any, at time.Time) {
	ex := c.ex
	if ex.unwinding {
		return
	}
	id = durable.NewEntityID(id.Name, id.Key)
	if ex.section != nil && slices.Contains(ex.section.ids, id) {
		// There is no task to fail, and carrying on would act on a wrong assumption.
		ex.codeFail(&durable.LockingRulesError{Rule: fmt.Sprintf("signals to locked entities are not allowed in a critical section (%s)", id)})
	}
	payload, err := durable.Marshal(input)
	if err != nil {
		ex.codeFail(fmt.Errorf("durable: encoding input of entity signal %q to %s: %w", operation, id, err))
	}
	ev := history.Event{Type: history.EntitySignaled, ID: ex.allocID(), Entity: &id, Name: operation, Input: payload}
	if !at.IsZero() {
		ev.FireAt = at.UTC()
	}
	ex.issue(&ev)
}

func (c *orchContext) LockEntities(ids ...durable.EntityID) (unlock func(), task durable.Task) {
	ex := c.ex
	t := ex.newTask("lock", "")
	noop := func() {}
	if ex.unwinding {
		return noop, t
	}
	if ex.section != nil {
		ex.finishTask(t, nil, &durable.LockingRulesError{Rule: "nested critical sections are not allowed"})
		return noop, t
	}
	set := make([]durable.EntityID, 0, len(ids))
	for _, id := range ids {
		set = append(set, durable.NewEntityID(id.Name, id.Key))
	}
	// One global order of acquisition is what keeps critical sections deadlock-free.
	slices.SortFunc(set, compareEntityIDs)
	set = slices.Compact(set)
	if len(set) == 0 {
		ex.finishTask(t, nil, &durable.LockingRulesError{Rule: "LockEntities needs at least one entity"})
		return noop, t
	}
	t.name = lockSetString(set)
	id := ex.allocID()
	ev := history.Event{Type: history.EntityLockRequested, ID: id, LockSet: slices.Clone(set)}
	if !ex.issue(&ev) {
		return noop, t
	}
	sec := &section{ids: set, calling: map[durable.EntityID]bool{}}
	ex.section = sec
	ex.await(id, history.EntityLockRequested, func(*history.Event) { ex.finishTask(t, nil, nil) })
	return func() { ex.unlock(sec) }, t
}

func (c *orchContext) InCriticalSection() bool { return c.ex.section != nil }

// SetCustomStatus(nil) reports JSON null, so that clearing the status is visible.
func (c *orchContext) SetCustomStatus(v any) {
	ex := c.ex
	if ex.unwinding {
		return
	}
	data, err := durable.Marshal(v)
	if err != nil {
		ex.codeFail(fmt.Errorf("durable: encoding custom status: %w", err))
	}
	if data == nil {
		data = json.RawMessage("null")
	}
	ex.customStatus = data
}

func (c *orchContext) ContinueAsNew(input any, preserveUnprocessedEvents bool) {
	ex := c.ex
	if ex.unwinding {
		return
	}
	data, err := durable.Marshal(input)
	if err != nil {
		ex.codeFail(fmt.Errorf("durable: encoding continue-as-new input: %w", err))
	}
	ex.can = &continueAsNew{input: data, preserve: preserveUnprocessedEvents}
}

// WhenAny returns the index of the task whose completion came first in history order.
// Its error reports a misuse of WhenAny itself; the winner's own outcome is had by
// awaiting it.
func (c *orchContext) WhenAny(tasks ...durable.Task) (int, error) {
	if len(tasks) == 0 {
		return -1, errors.New("durable: WhenAny needs at least one task")
	}
	ts := make([]*task, len(tasks))
	for i, t := range tasks {
		tt, ok := t.(*task)
		if !ok || tt.ex != c.ex {
			return -1, fmt.Errorf("durable: WhenAny: task %d was not created by this orchestration context", i)
		}
		ts[i] = tt
	}
	if c.ex.unwinding {
		runtime.Goexit()
	}
	c.ex.park(func() bool { return slices.ContainsFunc(ts, func(t *task) bool { return t.done }) })
	win := -1
	for i, t := range ts {
		if t.done && (win < 0 || t.seq < ts[win].seq) {
			win = i
		}
	}
	return win, nil
}

// --- tasks ---

// task is the one durable.Task implementation; what completes it is registered with
// the executor when the action is scheduled.
type task struct {
	ex     *executor
	kind   string // "activity", "suborchestration", "entity", "timer", "event", "lock"
	name   string
	done   bool
	seq    int // completion order, for WhenAny
	result json.RawMessage
	err    error
}

// Await parks the orchestrator until the task completes. When the episode is being
// torn down it never returns (the goroutine exits), so that no code runs on after it.
func (t *task) Await(out any) error {
	if t.ex.unwinding {
		runtime.Goexit()
	}
	if !t.done {
		t.ex.park(func() bool { return t.done })
	}
	if t.err != nil {
		return t.err
	}
	if err := durable.Unmarshal(t.result, out); err != nil {
		return fmt.Errorf("durable: decoding result of %s %q: %w", t.kind, t.name, err)
	}
	return nil
}

func (t *task) IsDone() bool { return t.done }

func (ex *executor) newTask(kind, name string) *task {
	return &task{ex: ex, kind: kind, name: name}
}

func (ex *executor) finishTask(t *task, result json.RawMessage, err error) {
	if t.done {
		return
	}
	t.done, t.result, t.err = true, result, err
	t.seq = ex.doneSeq
	ex.doneSeq++
}

// call is an activity or sub-orchestration call, possibly retried: each attempt is a
// new scheduling event, each wait between attempts a durable timer.
type call struct {
	t       *task
	policy  *durable.RetryPolicy
	attempt int       // 1-based number of the current attempt
	first   time.Time // episode time of the first attempt, for RetryTimeout
	build   func(id int) history.Event
}

func (ex *executor) startAttempt(cl *call) {
	id := ex.allocID()
	ev := cl.build(id)
	if ex.issue(&ev) {
		ex.await(id, ev.Type, func(e *history.Event) { ex.attemptDone(cl, e) })
	}
}

// attemptDone runs on the executor as soon as the completion arrives, whether or not
// the code is awaiting the task, so retries do not wait for the code to get there.
func (ex *executor) attemptDone(cl *call, e *history.Event) {
	if e.Type == history.TaskCompleted || e.Type == history.SubOrchestrationDone {
		ex.finishTask(cl.t, e.Result, nil)
		return
	}
	err := &durable.TaskFailedError{Kind: cl.t.kind, Name: cl.t.name, TaskID: e.TaskID, Details: failureOf(e)}
	if !ex.shouldRetry(cl, err) {
		ex.finishTask(cl.t, nil, err)
		return
	}
	id := ex.allocID()
	timer := history.Event{Type: history.TimerCreated, ID: id, FireAt: ex.now.Add(cl.policy.Delay(cl.attempt)).UTC()}
	if ex.issue(&timer) {
		ex.await(id, history.TimerCreated, func(*history.Event) {
			cl.attempt++
			ex.startAttempt(cl)
		})
	}
}

func (ex *executor) shouldRetry(cl *call, err error) bool {
	p := cl.policy
	if p == nil || cl.attempt >= p.MaxAttempts {
		return false
	}
	if p.RetryTimeout > 0 && ex.now.Sub(cl.first) >= p.RetryTimeout {
		return false
	}
	if p.Handle == nil {
		return true
	}
	ok, panicked := callHandle(p.Handle, err)
	if panicked != nil {
		ex.end(&outcome{status: durable.StatusFailed, failure: &durable.FailureDetails{
			ErrorType:    "panic",
			ErrorMessage: fmt.Sprintf("panic in RetryPolicy.Handle: %v", panicked),
		}})
		return false
	}
	return ok
}

func callHandle(h func(error) bool, err error) (ok bool, panicked any) {
	defer func() {
		if r := recover(); r != nil {
			ok, panicked = false, r
		}
	}()
	return h(err), nil
}

func failureOf(e *history.Event) durable.FailureDetails {
	if e.Failure == nil {
		return durable.FailureDetails{ErrorMessage: "unknown failure (no details recorded)"}
	}
	return *e.Failure
}

// --- critical sections ---

// section is an open critical section: from LockEntities until unlock.
type section struct {
	ids      []durable.EntityID // sorted, deduplicated
	calling  map[durable.EntityID]bool
	released bool
}

// unlock ends sec and sends one release per locked entity. Calling it again, or after
// a newer section started, does nothing.
func (ex *executor) unlock(sec *section) {
	if ex.unwinding || sec.released {
		return
	}
	sec.released = true
	if ex.section == sec {
		ex.section = nil
	}
	for i := range sec.ids {
		ev := history.Event{Type: history.EntityUnlockSent, ID: ex.allocID(), Entity: &sec.ids[i]}
		if !ex.issue(&ev) {
			return
		}
	}
}

func compareEntityIDs(a, b durable.EntityID) int {
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Key, b.Key))
}

func lockSetString(ids []durable.EntityID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

func foldName(name string) string { return strings.ToLower(name) }

// --- logging ---

// replayAwareHandler drops records while the executor replays, so that each line the
// orchestrator logs appears once, in the episode where it really happened.
type replayAwareHandler struct {
	h  slog.Handler
	ex *executor
}

func (r *replayAwareHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !r.ex.replaying && r.h.Enabled(ctx, l)
}

func (r *replayAwareHandler) Handle(ctx context.Context, rec slog.Record) error {
	if r.ex.replaying {
		return nil
	}
	return r.h.Handle(ctx, rec)
}

func (r *replayAwareHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &replayAwareHandler{h: r.h.WithAttrs(as), ex: r.ex}
}

func (r *replayAwareHandler) WithGroup(name string) slog.Handler {
	return &replayAwareHandler{h: r.h.WithGroup(name), ex: r.ex}
}
