// Package replay is the pure core of the orchestration engine: given an orchestrator
// function, the history persisted so far and the events that arrived since, it runs one
// episode and says what to persist and what to send. It does no I/O and keeps no state
// between calls, so every episode can be re-run from storage on any worker, and the
// same inputs always produce the same outputs.
//
// # How an episode runs
//
// The orchestrator function runs on its own goroutine, but never at the same time as
// the executor: control passes back and forth over unbuffered channels, so the code
// only runs between two history events and sees exactly the same sequence of
// completions on every replay. When the code awaits a task that is not complete, its
// goroutine parks; when the events run out, the episode ends with the code still
// parked and the goroutine is unwound with runtime.Goexit (which user code cannot
// recover from), so no goroutine outlives Execute.
//
// # Determinism check
//
// Every scheduling action gets the next per-execution sequence number as its ID. While
// replaying the persisted history, each action the code issues must match the
// scheduling event with the same ID (type and name/target; inputs are not compared, as
// in Durable Functions), and every scheduling event in the history must have been
// issued by the time the executor reaches it. Otherwise the instance fails with a
// *durable.NonDeterminismError that names both sides.
//
// # Choices the specification left open
//
//   - WaitForExternalEvent with timeout <= 0 waits forever and creates no timer, the
//     way Durable Functions treats "no timeout" as infinite.
//   - A wait satisfied by an already-buffered event creates no timer either.
//   - Breaking a critical-section rule in SignalEntity/SignalEntityAt (which returns
//     nothing to report an error through) fails the instance at that call with a
//     *durable.LockingRulesError; the code is unwound there and no action is sent.
//     The same happens when a payload given to SendEvent, SignalEntity,
//     SetCustomStatus or ContinueAsNew cannot be encoded as JSON.
//   - The critical section begins when LockEntities is called (not when the lock is
//     granted), as in Durable Functions, so InCriticalSection and the rules apply from
//     then on.
//   - If the code returns an error or panics after calling ContinueAsNew, it fails;
//     only a nil error continues as new (the returned value is ignored).
//   - Custom status is reported in Result.CustomStatus only; no CustomStatusSet event
//     is written, since replay recomputes it.
//   - Events produced by the code are appended right after the incoming event whose
//     processing produced them, so NewEvents reads in causal order.
//   - If the history already holds ExecutionCompleted, the code is not run at all: the
//     recorded outcome is returned and every new event is dropped.
//   - Without any ExecutionStarted the result is StatusPending, with nothing to
//     persist and every new event in Dropped, unless an ExecutionTerminated arrived.
package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

// Options tunes Execute. The zero value is ready to use.
type Options struct {
	// Logger receives the engine's diagnostics (dropped events, non-determinism) and,
	// through OrchestrationContext.Logger, the orchestrator's own records outside
	// replay. Records carry no instance attributes: the caller knows the instance
	// before Execute does, so it attaches them (Logger.With). nil discards everything.
	Logger *slog.Logger
}

// Result is everything one episode decided. The caller persists NewEvents and the
// status atomically, then carries out Actions; doing it in that order is what makes
// a crash between the two steps safe.
type Result struct {
	// NewEvents is to be appended to the persisted history, in order: every accepted
	// event of newEvents, each followed by the events the code produced in reaction
	// to it (scheduling events, then ExecutionCompleted when the instance ended).
	NewEvents []history.Event
	// Actions is the subset of NewEvents the caller must act on after commit: the
	// scheduling events produced this episode.
	Actions []history.Event
	// Status is Running, Completed, Failed, ContinuedAsNew or Terminated (Pending when
	// no ExecutionStarted was seen).
	Status durable.RuntimeStatus
	// Output is the JSON result of a completed instance, or the reason of a
	// terminated one.
	Output json.RawMessage
	// Failure describes why a failed instance failed.
	Failure *durable.FailureDetails
	// Nondeterminism is the mismatch behind Failure when the instance failed because
	// the code no longer matches its history (its fields name both sides).
	Nondeterminism *durable.NonDeterminismError
	// CustomStatus is the latest value the code set (nil if never set this replay).
	CustomStatus json.RawMessage
	// ContinueAsNewInput is the input of the next execution when Status is
	// ContinuedAsNew.
	ContinueAsNewInput json.RawMessage
	// CarryOverEvents are the EventRaised events nobody consumed, to be delivered to
	// the next execution, when the code continued as new preserving them.
	CarryOverEvents []history.Event
	// Dropped are events of newEvents that were ignored: duplicates, completions for
	// unknown tasks, anything after the instance ended. They are reported for logging
	// only; they must not be persisted.
	Dropped []history.Event
	// Redispatch is set by the episode that rewinds a failed instance: the scheduling
	// events of the history (activities, timers, sub-orchestrations) that have no
	// completion any more, to be carried out again. They are not part of NewEvents.
	Redispatch []history.Event
}

// Execute runs one episode of an orchestration: it replays past, applies newEvents,
// and returns what to persist and what to send. It does no I/O and is deterministic:
// the same arguments always give the same result.
//
// past is the persisted history of the current execution (empty for a new instance);
// newEvents starts with an OrchestratorStarted whose Timestamp is the episode's time.
func Execute(fn durable.Orchestrator, past []history.Event, newEvents []history.Event, opts Options) *Result {
	ex := newExecutor(fn, opts)
	return ex.run(past, newEvents)
}

// outcome is how an instance ended.
type outcome struct {
	status  durable.RuntimeStatus
	output  json.RawMessage
	failure *durable.FailureDetails
	nde     bool // a non-determinism failure: stops replay, overrides other outcomes
	ndErr   *durable.NonDeterminismError
}

// codeState tracks the orchestrator goroutine.
type codeState int

const (
	codeNotStarted codeState = iota
	codeRunning
	codeParked
	codeFinished
)

// slot is a scheduled action still waiting for its completion event.
type slot struct {
	kind history.EventType // the scheduling event type, to validate the completion type
	done func(e *history.Event)
}

// buffered is an EventRaised no wait has consumed yet.
type buffered struct {
	ev       history.Event
	consumed bool
}

type continueAsNew struct {
	input    json.RawMessage
	preserve bool
}

type executor struct {
	fn  durable.Orchestrator
	log *slog.Logger // engine diagnostics
	ctx *orchContext

	// Instance, from ExecutionStarted.
	started     bool
	name        string
	instanceID  string
	executionID string
	input       json.RawMessage
	version     string

	now       time.Time // Timestamp of the latest OrchestratorStarted
	replaying bool
	nextID    int // next scheduling sequence number
	maxPastID int // highest scheduling ID in past (-1 if none)
	guids     int // NewGUID counter
	doneSeq   int // completion counter, orders WhenAny

	pastActions map[int]*history.Event // scheduling events of past by ID
	pending     map[int]*slot          // scheduled, not completed, by ID

	inbox   []*buffered            // unconsumed-or-not EventRaised, arrival order
	byName  map[string][]*buffered // unconsumed ones by lower-case name, oldest first
	waiters map[string][]*task     // pending WaitForExternalEvent by lower-case name

	section   *section           // open critical section, if any
	heldLocks []durable.EntityID // locks the history says are held (requested minus released)

	customStatus json.RawMessage
	can          *continueAsNew

	// The orchestrator goroutine and the handshake with it.
	resumeCh    chan bool // executor -> code; true means unwind
	yieldCh     chan struct{}
	code        codeState
	inCode      bool // the code goroutine holds control
	unwinding   bool // the code is being unwound; actions are ignored
	waitCond    func() bool
	codeFatal   error    // set by the code goroutine just before it unwinds itself
	codeOutcome *outcome // how the code ended, set by the runner

	outcome *outcome
	flushed bool // the end of the instance has been written to NewEvents

	redispatch []history.Event // set when this episode rewinds the instance
	res        Result
}

func newExecutor(fn durable.Orchestrator, opts Options) *executor {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ex := &executor{
		fn:          fn,
		log:         log,
		maxPastID:   -1,
		pastActions: map[int]*history.Event{},
		pending:     map[int]*slot{},
		byName:      map[string][]*buffered{},
		waiters:     map[string][]*task{},
		resumeCh:    make(chan bool),
		yieldCh:     make(chan struct{}),
	}
	ex.ctx = &orchContext{ex: ex}
	return ex
}

func (ex *executor) run(past, newEvents []history.Event) *Result {
	past = RewindHistory(past)
	var rewindPrefix []history.Event
	if rw := slices.IndexFunc(newEvents, func(e history.Event) bool { return e.Type == history.ExecutionRewound }); rw >= 0 && endedFailed(past) {
		// The episode's OrchestratorStarted and the rewind open the new part of history;
		// replay then runs over the history without the failures it rewinds.
		rest := slices.Clone(newEvents)
		if rest[0].Type == history.OrchestratorStarted && rw > 0 {
			rewindPrefix = append(rewindPrefix, rest[0])
		}
		rewindPrefix = append(rewindPrefix, rest[rw])
		rest = slices.Delete(rest, rw, rw+1)
		if len(rewindPrefix) == 2 {
			rest = rest[1:]
		}
		past, ex.redispatch = rewindOnce(past)
		newEvents = rest
	}
	for i := range past {
		if past[i].Type == history.ExecutionCompleted {
			return ex.alreadyEnded(&past[i], newEvents)
		}
	}
	for i := range past {
		e := &past[i]
		if isScheduling(e.Type) {
			if _, dup := ex.pastActions[e.ID]; !dup {
				ex.pastActions[e.ID] = e
			}
			ex.maxPastID = max(ex.maxPastID, e.ID)
		}
	}

	ex.replaying = true
	i := 0
	for i < len(past) {
		ex.apply(&past[i])
		i++
		if ex.outcome != nil && ex.outcome.nde {
			break
		}
	}
	// Replay stops at non-determinism, but the locks the rest of the history holds
	// must still be released.
	for j := i; j < len(past); j++ {
		ex.observeLocks(&past[j])
	}
	ex.replaying = false
	if rewindPrefix != nil {
		ex.res.NewEvents = append(ex.res.NewEvents, rewindPrefix...)
		ex.now = rewindPrefix[0].Timestamp
	}

	rest := newEvents
	if ex.outcome != nil {
		// The instance ended during replay (non-determinism, or code that now finishes
		// earlier than it did): record the end in this episode, stamped with its time.
		if len(rest) > 0 && rest[0].Type == history.OrchestratorStarted {
			ex.apply(&rest[0])
			rest = rest[1:]
		}
		if !ex.flushed {
			ex.flush()
		}
	}
	for i := range rest {
		if ex.flushed {
			ex.afterEnd(&rest[i])
			continue
		}
		ex.apply(&rest[i])
	}
	ex.stopCode()
	r := ex.result(newEvents)
	if rewindPrefix != nil {
		if r.Status == durable.StatusRunning {
			r.Redispatch = ex.redispatch
		}
		r.Dropped = slices.DeleteFunc(r.Dropped, func(e history.Event) bool { return e.Type == history.ExecutionRewound })
	}
	return r
}

// alreadyEnded answers for an execution whose history is complete: nothing can change
// it, so the code is not run and every new event is dropped.
func (ex *executor) alreadyEnded(end *history.Event, newEvents []history.Event) *Result {
	r := &ex.res
	r.Status = end.Status
	r.Failure = end.Failure
	switch end.Status {
	case durable.StatusContinuedAsNew:
		r.ContinueAsNewInput = end.Result
	case durable.StatusFailed:
	default:
		r.Output = end.Result
	}
	if len(newEvents) > 0 {
		r.Dropped = slices.Clone(newEvents)
		ex.log.Debug("events for an ended execution dropped", "status", end.Status, "count", len(newEvents))
	}
	return r
}

// apply processes one event of past (while replaying) or of newEvents.
func (ex *executor) apply(e *history.Event) {
	switch e.Type {
	case history.OrchestratorStarted:
		ex.accept(e)
		ex.now = e.Timestamp
	case history.ExecutionStarted:
		if ex.started {
			ex.drop(e, "duplicate ExecutionStarted")
			return
		}
		ex.accept(e)
		ex.started = true
		ex.name, ex.instanceID, ex.executionID, ex.input, ex.version = e.Name, e.InstanceID, e.ExecutionID, e.Input, e.Version
		if ex.now.IsZero() {
			ex.now = e.Timestamp
		}
		if ex.outcome == nil {
			ex.startCode()
		}
	case history.ExecutionTerminated:
		if ex.outcome != nil {
			ex.drop(e, "instance already ended")
			return
		}
		ex.accept(e)
		ex.end(&outcome{status: durable.StatusTerminated, output: e.Input})
	case history.ExecutionSuspended, history.ExecutionResumed, history.CustomStatusSet:
		// Suspension is enforced by the storage layer holding messages back.
		ex.accept(e)
	case history.EventRaised:
		ex.accept(e)
		ex.raise(e)
	case history.ExecutionCompleted:
		ex.drop(e, "ExecutionCompleted is written by the engine only")
	case history.ExecutionRewound:
		if !ex.replaying {
			ex.drop(e, "only a failed instance can be rewound")
		}
		// In past it is inert: RewindHistory has already applied it.
	default:
		switch {
		case isScheduling(e.Type):
			if ex.replaying {
				ex.checkRecordedAction(e)
			} else {
				ex.drop(e, "scheduling events are produced by the orchestrator only")
			}
		case e.IsCompletion():
			ex.complete(e)
		default:
			ex.drop(e, "unknown event type")
		}
	}
	if !ex.replaying && ex.outcome != nil && !ex.flushed {
		ex.flush()
	}
}

// accept records e as part of the history. Past events already are.
func (ex *executor) accept(e *history.Event) {
	if !ex.replaying {
		ex.res.NewEvents = append(ex.res.NewEvents, *e)
	}
}

func (ex *executor) drop(e *history.Event, why string) {
	if ex.replaying {
		ex.log.Debug("history event ignored on replay", "type", e.Type, "id", e.ID, "taskId", e.TaskID, "reason", why)
		return
	}
	ex.res.Dropped = append(ex.res.Dropped, *e)
	ex.log.Debug("event dropped", "type", e.Type, "id", e.ID, "taskId", e.TaskID, "reason", why)
}

// checkRecordedAction verifies, on replay, that the code issued the scheduling event e
// before the executor reached it. Whether it matches was checked when it was issued.
func (ex *executor) checkRecordedAction(e *history.Event) {
	ex.observeLocks(e)
	if e.ID < ex.nextID || e.Type == history.PatchMarker {
		return // a marker the code no longer asks for is skipped, not a mismatch
	}
	actual := "no further action"
	switch ex.code {
	case codeNotStarted:
		actual += " (orchestrator not started)"
	case codeFinished:
		actual += " (orchestrator returned)"
	case codeParked:
		actual += " (orchestrator is waiting)"
	}
	ex.nondeterminism(&durable.NonDeterminismError{EventID: e.ID, Expected: describe(e), Actual: actual})
}

func (ex *executor) complete(e *history.Event) {
	s, ok := ex.pending[e.TaskID]
	if !ok {
		ex.drop(e, "no pending task with this id (duplicate or unknown)")
		return
	}
	if !completes(s.kind, e.Type) {
		ex.drop(e, fmt.Sprintf("task %d was scheduled by %s", e.TaskID, s.kind))
		return
	}
	delete(ex.pending, e.TaskID)
	ex.accept(e)
	s.done(e)
	ex.resumeIfReady()
}

// raise hands an external event to the oldest wait for its name, or buffers it.
func (ex *executor) raise(e *history.Event) {
	key := foldName(e.Name)
	if ws := ex.waiters[key]; len(ws) > 0 {
		t := ws[0]
		ex.waiters[key] = ws[1:]
		ex.finishTask(t, e.Input, nil)
		ex.resumeIfReady()
		return
	}
	b := &buffered{ev: *e}
	ex.inbox = append(ex.inbox, b)
	ex.byName[key] = append(ex.byName[key], b)
}

// takeBuffered consumes the oldest buffered event named key, if any.
func (ex *executor) takeBuffered(key string) *history.Event {
	q := ex.byName[key]
	if len(q) == 0 {
		return nil
	}
	b := q[0]
	ex.byName[key] = q[1:]
	b.consumed = true
	return &b.ev
}

func (ex *executor) removeWaiter(key string, t *task) {
	ex.waiters[key] = slices.DeleteFunc(ex.waiters[key], func(w *task) bool { return w == t })
}

// allocID hands out the next scheduling sequence number.
func (ex *executor) allocID() int {
	// On replay, patch markers the code did not ask about (IsPatched calls since
	// removed) are skipped, so the actions after them keep their recorded IDs.
	for ex.replaying {
		if h, ok := ex.pastActions[ex.nextID]; !ok || h.Type != history.PatchMarker {
			break
		}
		ex.nextID++
	}
	id := ex.nextID
	ex.nextID++
	return id
}

// issue records a scheduling event produced by the code (or by the executor on its
// behalf, e.g. retry timers). On replay it must match history; otherwise it is new.
// It reports false when the action must not proceed; on the code goroutine a
// mismatch does not return at all (the code is unwound).
func (ex *executor) issue(ev *history.Event) bool {
	ev.Timestamp = ex.now
	if ex.outcome != nil {
		return false
	}
	if ex.replaying {
		h, ok := ex.pastActions[ev.ID]
		if !ok || !sameAction(h, ev) {
			expected := "no scheduling event"
			if ok {
				expected = describe(h)
			}
			ex.nondeterminism(&durable.NonDeterminismError{EventID: ev.ID, Expected: expected, Actual: describe(ev)})
			return false
		}
		return true
	}
	ex.emit(*ev)
	return true
}

// emit appends a newly produced scheduling event to the episode's output.
func (ex *executor) emit(ev history.Event) {
	ex.res.NewEvents = append(ex.res.NewEvents, ev)
	ex.res.Actions = append(ex.res.Actions, ev)
	ex.observeLocks(&ev)
}

// await registers what happens when the completion of scheduling event id arrives.
func (ex *executor) await(id int, kind history.EventType, done func(e *history.Event)) {
	ex.pending[id] = &slot{kind: kind, done: done}
}

// observeLocks keeps the lock state the history implies, which is what must be
// released if the instance ends inside a critical section, even when the code's own
// view cannot be trusted (non-determinism).
func (ex *executor) observeLocks(e *history.Event) {
	switch e.Type {
	case history.EntityLockRequested:
		for _, id := range e.LockSet {
			id = durable.NewEntityID(id.Name, id.Key)
			if !slices.Contains(ex.heldLocks, id) {
				ex.heldLocks = append(ex.heldLocks, id)
			}
		}
	case history.EntityUnlockSent:
		if e.Entity != nil {
			released := durable.NewEntityID(e.Entity.Name, e.Entity.Key)
			ex.heldLocks = slices.DeleteFunc(ex.heldLocks, func(id durable.EntityID) bool { return id == released })
		}
	}
}

func (ex *executor) nondeterminism(err *durable.NonDeterminismError) {
	ex.log.Warn("orchestration is not deterministic", "err", err)
	if ex.inCode {
		ex.codeFail(err)
	}
	ex.end(failedOutcome(err))
}

// end records how the instance ended and unwinds the code. The first outcome wins,
// except that non-determinism found on replay overrides an earlier provisional one.
func (ex *executor) end(o *outcome) {
	if ex.outcome != nil && !(o.nde && ex.replaying && !ex.outcome.nde) {
		return
	}
	ex.outcome = o
	ex.stopCode()
}

// flush writes the end of the instance: releases of locks still held, then
// ExecutionCompleted. It runs outside replay only.
func (ex *executor) flush() {
	ex.flushed = true
	o := ex.outcome
	locks := slices.Clone(ex.heldLocks)
	slices.SortFunc(locks, compareEntityIDs)
	// IDs continue past anything the history used, even if the code issued less.
	ex.nextID = max(ex.nextID, ex.maxPastID+1)
	for i := range locks {
		ex.emit(history.Event{Type: history.EntityUnlockSent, ID: ex.allocID(), Timestamp: ex.now, Entity: &locks[i]})
	}
	if len(locks) > 0 {
		ex.log.Debug("locks released as the instance ended", "count", len(locks))
	}
	ex.res.NewEvents = append(ex.res.NewEvents, history.Event{
		Type: history.ExecutionCompleted, ID: -1, Timestamp: ex.now,
		Status: o.status, Result: o.output, Failure: o.failure,
	})
	if o.status == durable.StatusContinuedAsNew && ex.can != nil && ex.can.preserve {
		for _, b := range ex.inbox {
			if !b.consumed {
				ex.res.CarryOverEvents = append(ex.res.CarryOverEvents, b.ev)
			}
		}
	}
}

// afterEnd handles a new event arriving after the instance ended in this episode.
func (ex *executor) afterEnd(e *history.Event) {
	if ex.outcome.status == durable.StatusContinuedAsNew && e.Type == history.EventRaised && ex.can != nil && ex.can.preserve {
		ex.res.CarryOverEvents = append(ex.res.CarryOverEvents, *e)
		return
	}
	ex.drop(e, "instance already ended")
}

func (ex *executor) result(newEvents []history.Event) *Result {
	r := &ex.res
	r.CustomStatus = ex.customStatus
	switch {
	case ex.outcome != nil:
		o := ex.outcome
		r.Status, r.Failure, r.Nondeterminism = o.status, o.failure, o.ndErr
		if o.status == durable.StatusContinuedAsNew {
			r.ContinueAsNewInput = o.output
		} else {
			r.Output = o.output
		}
	case ex.started:
		r.Status = durable.StatusRunning
	default:
		// Nothing to run yet: keep nothing, so the events can be offered again.
		r.Status = durable.StatusPending
		r.NewEvents, r.Actions, r.CarryOverEvents = nil, nil, nil
		r.Dropped = slices.Clone(newEvents)
	}
	return r
}

// --- the orchestrator goroutine ---

// startCode runs the orchestrator until it first parks or returns.
func (ex *executor) startCode() {
	if ex.fn == nil {
		ex.end(failedOutcome(errors.New("durable: no orchestrator function")))
		return
	}
	ex.code = codeRunning
	ex.inCode = true
	go ex.runner()
	<-ex.yieldCh
	ex.afterYield()
}

// resumeIfReady gives control to the code if what it waits for has happened.
func (ex *executor) resumeIfReady() {
	if ex.code != codeParked || !ex.waitCond() {
		return
	}
	ex.inCode = true
	ex.resumeCh <- false
	<-ex.yieldCh
	ex.afterYield()
}

func (ex *executor) afterYield() {
	ex.inCode = false
	if ex.code == codeFinished && ex.codeOutcome != nil {
		o := ex.codeOutcome
		ex.codeOutcome = nil
		ex.end(o)
	}
}

// stopCode unwinds a parked orchestrator goroutine so that it exits.
func (ex *executor) stopCode() {
	if ex.code != codeParked {
		return
	}
	ex.unwinding = true
	ex.resumeCh <- true
	<-ex.yieldCh
	ex.codeOutcome = nil
}

// runner is the body of the orchestrator goroutine.
func (ex *executor) runner() {
	var (
		out      any
		err      error
		returned bool
	)
	defer func() {
		r := recover()
		ex.codeOutcome = ex.codeEnded(out, err, returned, r)
		ex.code = codeFinished
		ex.yieldCh <- struct{}{}
	}()
	out, err = ex.fn(ex.ctx)
	returned = true
}

// codeEnded turns the way the orchestrator function ended into an outcome; nil when it
// was unwound because the episode is over.
func (ex *executor) codeEnded(out any, err error, returned bool, panicked any) *outcome {
	switch {
	case ex.codeFatal != nil:
		return failedOutcome(ex.codeFatal)
	case ex.unwinding:
		return nil
	case panicked != nil:
		ex.log.Warn("orchestrator panicked", "panic", panicked)
		return &outcome{status: durable.StatusFailed, failure: &durable.FailureDetails{
			ErrorType:    "panic",
			ErrorMessage: fmt.Sprintf("panic: %v", panicked),
			StackTrace:   string(debug.Stack()),
		}}
	case !returned:
		return failedOutcome(errors.New("durable: orchestrator goroutine exited without returning (runtime.Goexit)"))
	case err != nil:
		return failedOutcome(err)
	case ex.can != nil:
		return &outcome{status: durable.StatusContinuedAsNew, output: ex.can.input}
	}
	payload, merr := durable.Marshal(out)
	if merr != nil {
		return failedOutcome(fmt.Errorf("durable: encoding orchestrator output: %w", merr))
	}
	return &outcome{status: durable.StatusCompleted, output: payload}
}

// park blocks the code goroutine until cond holds, handing control to the executor.
func (ex *executor) park(cond func() bool) {
	for !cond() {
		if ex.unwinding {
			runtime.Goexit()
		}
		ex.code = codeParked
		ex.waitCond = cond
		ex.yieldCh <- struct{}{}
		unwind := <-ex.resumeCh
		ex.code = codeRunning
		ex.waitCond = nil
		if unwind {
			runtime.Goexit()
		}
	}
}

// codeFail ends the instance from the code goroutine: it records err and unwinds the
// code on the spot, so that nothing after the offending call runs.
func (ex *executor) codeFail(err error) {
	ex.codeFatal = err
	ex.unwinding = true
	runtime.Goexit()
}

// --- helpers ---

func failedOutcome(err error) *outcome {
	f := &durable.FailureDetails{ErrorType: errorType(err), ErrorMessage: err.Error()}
	var tfe *durable.TaskFailedError
	if errors.As(err, &tfe) {
		inner := tfe.Details
		f.Inner = &inner
	}
	var nde *durable.NonDeterminismError
	isNDE := errors.As(err, &nde)
	return &outcome{status: durable.StatusFailed, failure: f, nde: isNDE, ndErr: nde}
}

func errorType(err error) string { return durable.ErrorType(err) }

func isScheduling(t history.EventType) bool {
	switch t {
	case history.TaskScheduled, history.TimerCreated, history.SubOrchestrationCreated, history.EventSent,
		history.EntitySignaled, history.EntityCalled, history.EntityLockRequested, history.EntityUnlockSent, history.PatchMarker:
		return true
	}
	return false
}

// completes reports whether a completion of type c may complete an action of type s.
func completes(s, c history.EventType) bool {
	switch s {
	case history.TaskScheduled:
		return c == history.TaskCompleted || c == history.TaskFailed
	case history.TimerCreated:
		return c == history.TimerFired
	case history.SubOrchestrationCreated:
		return c == history.SubOrchestrationDone || c == history.SubOrchestrationFailed
	case history.EntityCalled:
		return c == history.EntityCompleted || c == history.EntityFailed
	case history.EntityLockRequested:
		return c == history.EntityLockGranted
	}
	return false
}
