package durabletest

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

// Epoch is where every Env's virtual clock starts: fixed, so that histories, timer
// deadlines and deterministic GUIDs are the same on every run.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Env is an in-memory world for testing orchestrations: it runs the registered
// orchestrators, activities and entities (or mocks of them) through the same replay
// core as the engine, with a virtual clock instead of storage and queues.
//
// Time stands still while work runs; it moves only when the world is idle and a timer
// is due: Run jumps to the next timer by itself, Advance moves it on request. After
// every episode the Env replays the history just written and checks it decides the
// same (see Run), so non-deterministic orchestrators fail their unit tests.
//
// An Env is not safe for concurrent use. Activities and entity operations run on the
// goroutine that called the Env method.
type Env struct {
	reg   *durable.Registry
	acts  map[string]durable.Activity
	orchs map[string]durable.Orchestrator
	log   *slog.Logger

	now      time.Time
	insts    map[string]*instance
	order    []string
	ents     map[durable.EntityID]*entity
	entOrder []durable.EntityID
	timers   []timed
	timerSeq int
	started  int // instances started without an id, to name the next one
	steps    int
	err      error // first determinism failure; it sticks

	// For Client (client.go).
	mu          sync.Mutex    // serialises Client calls, which HTTP handlers make concurrently
	changed     chan struct{} // closed (and replaced) when a Client call has changed the world
	idem        map[string]string
	sigKeys     map[durable.EntityID]map[string]bool
	purgedExecs map[string]int
}

// New returns an Env that runs what reg registers; reg may be nil when everything the
// test needs is mocked. Instances started without an id are named "instance-1",
// "instance-2", ... in start order.
func New(reg *durable.Registry) *Env {
	if reg == nil {
		reg = durable.NewRegistry()
	}
	return &Env{
		reg: reg, acts: map[string]durable.Activity{}, orchs: map[string]durable.Orchestrator{}, log: discard,
		now: Epoch, insts: map[string]*instance{}, ents: map[durable.EntityID]*entity{},
		idem: map[string]string{}, sigKeys: map[durable.EntityID]map[string]bool{}, purgedExecs: map[string]int{},
	}
}

// SetLogger sends the orchestrators' (outside replay) and entities' log records, and
// the Env's own diagnostics, to l. By default they are discarded.
func (e *Env) SetLogger(l *slog.Logger) {
	if l == nil {
		l = discard
	}
	e.log = l
}

// OnActivity makes calls of the activity name run fn instead of the registered one
// (or of none). Names match case-insensitively.
func (e *Env) OnActivity(name string, fn durable.Activity) { e.acts[strings.ToLower(name)] = fn }

// OnSubOrchestrator makes instances of the orchestrator name, typically started as
// sub-orchestrations, run fn instead of the registered one.
func (e *Env) OnSubOrchestrator(name string, fn durable.Orchestrator) {
	e.orchs[strings.ToLower(name)] = fn
}

func (e *Env) activity(name string) durable.Activity {
	if fn, ok := e.acts[strings.ToLower(name)]; ok {
		return fn
	}
	fn, _ := e.reg.Activity(name)
	return fn
}

func (e *Env) orchestrator(name string) durable.Orchestrator {
	if fn, ok := e.orchs[strings.ToLower(name)]; ok {
		return fn
	}
	fn, _ := e.reg.Orchestrator(name)
	return fn
}

func (e *Env) entity(name string) durable.Entity {
	fn, _ := e.reg.Entity(name)
	return fn
}

// Now is the virtual time: Epoch plus the time timers and Advance have moved it.
func (e *Env) Now() time.Time { return e.now }

// SetEntityState gives the entity id the state v (JSON-encoded); nil removes its state.
func (e *Env) SetEntityState(id durable.EntityID, v any) error {
	b, err := durable.Marshal(v)
	if err != nil {
		return fmt.Errorf("durabletest: entity %s state: %w", id, err)
	}
	en := e.entityOf(id)
	en.state, en.has, en.modified = b, b != nil, e.now
	return nil
}

// EntityState decodes the state of the entity id into v and reports whether it has
// one (v is left untouched when not).
func (e *Env) EntityState(id durable.EntityID, v any) (bool, error) {
	en, ok := e.ents[durable.NewEntityID(id.Name, id.Key)]
	if !ok || !en.has {
		return false, nil
	}
	return true, durable.Unmarshal(en.state, v)
}

// SignalEntity sends the operation to the entity id, as a client would, and runs
// until the world is idle (without moving the clock).
func (e *Env) SignalEntity(id durable.EntityID, operation string, input any) error {
	e.steps = 0
	in, err := durable.Marshal(input)
	if err != nil {
		return fmt.Errorf("durabletest: signal input: %w", err)
	}
	e.sendEntity(id, entityMsg{kind: opSignal, op: operation, input: in}, time.Time{})
	return e.settle()
}

// Start starts the orchestrator name with input and runs until the world is idle,
// without moving the clock (manual mode: move it with Advance). It returns the
// instance id: opts.InstanceID, or a generated one. Starting an id whose instance
// is still running fails with durable.ErrInstanceExists.
func (e *Env) Start(name string, input any, opts *durable.StartOptions) (string, error) {
	e.steps = 0
	if e.err != nil {
		return "", e.err
	}
	if e.orchestrator(name) == nil {
		return "", fmt.Errorf("durabletest: %w %q", durable.ErrUnknownOrchestrator, name)
	}
	in, err := durable.Marshal(input)
	if err != nil {
		return "", fmt.Errorf("durabletest: orchestration input: %w", err)
	}
	id := ""
	if opts != nil {
		id = opts.InstanceID
	}
	version := ""
	if opts != nil {
		version = opts.Version
	}
	if id == "" {
		id = e.nextID()
	}
	if !e.startVersion(id, name, version, in, nil) {
		return "", fmt.Errorf("durabletest: %w: %q", durable.ErrInstanceExists, id)
	}
	return id, e.settle()
}

// Run starts the orchestrator name with input and runs it to completion: whenever
// the world is idle but timers are pending, the clock jumps to the next one, so a
// 72-hour timeout takes no real time. It returns once the instance has finished, or
// is waiting for something no timer will bring (an external event nobody raises):
// then the Result's status is Running.
//
// Run's error is about the test, not the orchestration (whose failure is in the
// Result): an unknown orchestrator, or a determinism check that failed. After every
// episode the Env replays the history just persisted with nothing new; if that does
// not end exactly where the episode did, the error wraps the
// *durable.NonDeterminismError found.
func (e *Env) Run(name string, input any) (*Result, error) {
	id, err := e.Start(name, input, nil)
	if err != nil {
		return nil, err
	}
	if err := e.runUntil(id); err != nil {
		return nil, err
	}
	return e.Status(id)
}

// Advance moves the clock forward by d, firing the timers due on the way in time
// order and running the world to idle after each.
func (e *Env) Advance(d time.Duration) error {
	e.steps = 0
	target := e.now.Add(d)
	for {
		if err := e.settle(); err != nil {
			return err
		}
		i := e.nextTimer()
		if i < 0 || e.timers[i].at.After(target) {
			break
		}
		if at := e.timers[i].at; at.After(e.now) {
			e.now = at
		}
	}
	if target.After(e.now) {
		e.now = target
	}
	return e.settle()
}

// RaiseEvent delivers the external event name to the instance now and runs until the
// world is idle. It fails with durable.ErrInstanceNotFound for an unknown instance.
func (e *Env) RaiseEvent(instanceID, name string, payload any) error {
	e.steps = 0
	ev, err := e.eventRaised(name, payload)
	if err != nil {
		return err
	}
	if e.insts[instanceID] == nil {
		return fmt.Errorf("durabletest: %w: %q", durable.ErrInstanceNotFound, instanceID)
	}
	e.deliver(instanceID, message{ev: ev})
	return e.settle()
}

// RaiseEventAfter delivers the external event name to the instance when the clock
// reaches Now()+d (Run and Advance get there). The instance need not exist yet; if it
// does not exist then, the event is dropped.
func (e *Env) RaiseEventAfter(d time.Duration, instanceID, name string, payload any) error {
	at := e.now.Add(d)
	ev, err := e.eventRaised(name, payload)
	if err != nil {
		return err
	}
	e.after(at, func() {
		ev.Timestamp = at
		e.deliver(instanceID, message{ev: ev})
	})
	return nil
}

func (e *Env) eventRaised(name string, payload any) (history.Event, error) {
	b, err := durable.Marshal(payload)
	if err != nil {
		return history.Event{}, fmt.Errorf("durabletest: event %q payload: %w", name, err)
	}
	return history.Event{Type: history.EventRaised, ID: -1, Timestamp: e.now, Name: name, Input: b}, nil
}

// Status returns the instance's current state and history (of its current execution).
func (e *Env) Status(instanceID string) (*Result, error) {
	in := e.insts[instanceID]
	if in == nil {
		return nil, fmt.Errorf("durabletest: %w: %q", durable.ErrInstanceNotFound, instanceID)
	}
	r := &Result{InstanceID: in.id, Name: in.name, Status: in.status, Output: in.output, Failure: in.failure, CustomStatus: in.custom,
		History: &History{events: append([]history.Event(nil), in.hist...)}}
	if r.Status == durable.StatusContinuedAsNew { // between executions: the next one is queued
		r.Status = durable.StatusRunning
	}
	return r, nil
}

var errNotFinished = errors.New("durabletest: the instance has not finished")
