// Package durable is the authoring API of durable functions for Go: the types that
// orchestrators, activities and entities are written against. It holds no engine code,
// so application packages depend on it alone and the engine can evolve behind it.
package durable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// RuntimeStatus is the lifecycle state of an orchestration instance, spelled as
// Durable Functions spells it so existing clients can parse it.
type RuntimeStatus string

// The runtime statuses of Durable Functions.
const (
	StatusPending        RuntimeStatus = "Pending"
	StatusRunning        RuntimeStatus = "Running"
	StatusCompleted      RuntimeStatus = "Completed"
	StatusContinuedAsNew RuntimeStatus = "ContinuedAsNew"
	StatusFailed         RuntimeStatus = "Failed"
	StatusTerminated     RuntimeStatus = "Terminated"
	StatusSuspended      RuntimeStatus = "Suspended"
)

// IsTerminal reports whether no further events change an instance in this status.
func (s RuntimeStatus) IsTerminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusTerminated
}

// FailureDetails describes an error that crossed a durable boundary (activity,
// sub-orchestration, entity operation). It is what gets persisted in history.
type FailureDetails struct {
	ErrorType    string          `json:"errorType,omitempty"`
	ErrorMessage string          `json:"errorMessage"`
	StackTrace   string          `json:"stackTrace,omitempty"`
	Inner        *FailureDetails `json:"innerFailure,omitempty"`
}

// TaskFailedError is the Go error an orchestrator receives when an activity,
// sub-orchestration or entity call it awaited failed.
type TaskFailedError struct {
	// Kind is "activity", "suborchestration" or "entity".
	Kind string
	// Name is the activity/orchestrator name or "entityName@key:operation".
	Name    string
	TaskID  int
	Details FailureDetails
}

func (e *TaskFailedError) Error() string {
	return fmt.Sprintf("%s %q (task %d) failed: %s", e.Kind, e.Name, e.TaskID, e.Details.ErrorMessage)
}

// ErrTimeout is returned (wrapped) by WaitForExternalEvent when its timeout fires first.
var ErrTimeout = errors.New("durable: timed out")

// ErrTaskCanceled is returned by a task that can no longer complete, for example a
// wait whose orchestration is finishing.
var ErrTaskCanceled = errors.New("durable: task canceled")

// NonDeterminismError is raised when replaying an orchestrator produces an action that
// disagrees with the recorded history. It names both sides so the mismatch can be fixed.
type NonDeterminismError struct {
	EventID  int
	Expected string // what the history says happened
	Actual   string // what the code did on replay
}

func (e *NonDeterminismError) Error() string {
	return fmt.Sprintf("non-deterministic orchestrator: at event %d history has %s but code produced %s", e.EventID, e.Expected, e.Actual)
}

// LockingRulesError reports an orchestrator action that breaks a critical-section rule
// (see OrchestrationContext.LockEntities). The engine refuses such actions rather than
// sending them, because they could deadlock entities or let another caller observe
// state the critical section is supposed to hide.
type LockingRulesError struct {
	Rule string // the rule broken, e.g. "nested critical sections are not allowed"
}

func (e *LockingRulesError) Error() string {
	return "durable: critical section rule violated: " + e.Rule
}

// RetryPolicy makes CallActivity/CallSubOrchestrator retry a failed task with durable
// timers between attempts, as Durable Functions' RetryOptions do.
type RetryPolicy struct {
	MaxAttempts        int              // total attempts including the first; <=1 means no retry
	FirstRetryInterval time.Duration    // delay before the second attempt
	BackoffCoefficient float64          // multiplier per attempt; <1 is treated as 1
	MaxRetryInterval   time.Duration    // cap on a single delay; 0 = no cap
	RetryTimeout       time.Duration    // give up when this much time has passed since the first attempt; 0 = none
	Handle             func(error) bool // optional: return false to stop retrying this error
}

// Delay returns the wait before attempt number attempt+1, given attempt (1-based) failed.
func (p *RetryPolicy) Delay(attempt int) time.Duration {
	coef := p.BackoffCoefficient
	if coef < 1 {
		coef = 1
	}
	d := float64(p.FirstRetryInterval)
	for i := 1; i < attempt; i++ {
		d *= coef
		if p.MaxRetryInterval > 0 && d > float64(p.MaxRetryInterval) {
			break
		}
	}
	if p.MaxRetryInterval > 0 && d > float64(p.MaxRetryInterval) {
		d = float64(p.MaxRetryInterval)
	}
	return time.Duration(d)
}

// EntityID addresses a durable entity. Name is case-insensitive and is kept lower case.
type EntityID struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// NewEntityID builds an EntityID with the name normalised to lower case.
func NewEntityID(name, key string) EntityID {
	return EntityID{Name: strings.ToLower(name), Key: key}
}

// String renders the id as Durable Functions does: "@name@key".
func (id EntityID) String() string { return "@" + strings.ToLower(id.Name) + "@" + id.Key }

// ParseEntityID parses the "@name@key" form produced by EntityID.String.
func ParseEntityID(s string) (EntityID, error) {
	if !strings.HasPrefix(s, "@") {
		return EntityID{}, fmt.Errorf("entity id %q does not start with @", s)
	}
	name, key, ok := strings.Cut(s[1:], "@")
	if !ok || name == "" {
		return EntityID{}, fmt.Errorf("entity id %q is not of the form @name@key", s)
	}
	return NewEntityID(name, key), nil
}

// Task is a durable operation an orchestrator started. Await blocks (deterministically,
// driven by the replay engine) until it completes and decodes its JSON result into out
// (out may be nil).
type Task interface {
	Await(out any) error
	// IsDone reports whether the task has completed in the history replayed so far.
	IsDone() bool
}

// ActivityOptions tunes CallActivity.
type ActivityOptions struct {
	Retry *RetryPolicy
}

// SubOrchestratorOptions tunes CallSubOrchestrator.
type SubOrchestratorOptions struct {
	InstanceID string // optional; derived deterministically from the parent when empty
	Retry      *RetryPolicy
}

// OrchestrationContext is what an orchestrator function sees. Every method is
// deterministic under replay; orchestrators must do all I/O through it.
type OrchestrationContext interface {
	InstanceID() string
	Name() string
	// GetInput decodes the orchestration input into v.
	GetInput(v any) error
	IsReplaying() bool
	// CurrentUTCDateTime is the time of the current episode, identical on every replay.
	CurrentUTCDateTime() time.Time
	// NewGUID returns a deterministic, name-based UUID unique within the instance.
	NewGUID() string
	// Logger drops records while replaying so each line is logged once.
	Logger() *slog.Logger

	CallActivity(name string, input any, opts *ActivityOptions) Task
	CallSubOrchestrator(name string, input any, opts *SubOrchestratorOptions) Task
	CreateTimer(fireAt time.Time) Task
	// WaitForExternalEvent completes with the next event of that name (case-insensitive).
	// A timeout > 0 races a durable timer; on expiry Await returns an error wrapping ErrTimeout.
	WaitForExternalEvent(name string, timeout time.Duration) Task
	// WaitForExternalEventOrDefault is WaitForExternalEvent that, when timeout (> 0)
	// expires first, completes successfully with defaultValue instead of failing.
	WaitForExternalEventOrDefault(name string, timeout time.Duration, defaultValue any) Task
	// SendEvent raises an event on another orchestration instance (fire and forget).
	SendEvent(instanceID, eventName string, payload any)

	CallEntity(id EntityID, operation string, input any) Task
	SignalEntity(id EntityID, operation string, input any)
	// SignalEntityAt delivers the signal no earlier than at.
	SignalEntityAt(id EntityID, operation string, input any, at time.Time)
	// LockEntities enters a critical section over ids; Await it, then call unlock to leave.
	LockEntities(ids ...EntityID) (unlock func(), task Task)
	InCriticalSection() bool

	SetCustomStatus(v any)
	// ContinueAsNew restarts the instance with fresh history and input once the
	// orchestrator function returns.
	ContinueAsNew(input any, preserveUnprocessedEvents bool)

	// Version is the orchestration version the instance was started with (StartOptions.
	// Version, else host.json extensions.durableTask.defaultVersion); sub-orchestrations
	// inherit their parent's. Branch on it to change code for new instances only.
	Version() string
	// IsPatched reports whether this instance takes the patched path of changeID. An
	// instance that reaches the call for the first time takes it (true) and records a
	// marker in its history; an instance whose history reached this point without the
	// marker (it ran before the patch was deployed) gets false, so it replays its old
	// path. Keep both paths until no instance that may lack the marker is running.
	IsPatched(changeID string) bool
	// CallHTTP performs an HTTP request as a durable action: a built-in activity sends
	// it (at least once) and its response is recorded in history. A 202 answer with a
	// Location header is polled with GET, waiting Retry-After (default 1 s) on durable
	// timers, until another status comes back, unless req.DisableAsyncPolling is set.
	// The task's result is an HTTPResponse; a transport failure (connection refused,
	// timeout) is a *TaskFailedError. Non-2xx statuses are responses, not errors.
	CallHTTP(req HTTPRequest) Task
}

// WhenAll awaits every task and returns the first error met (all tasks are awaited).
func WhenAll(tasks ...Task) error {
	var first error
	for _, t := range tasks {
		if err := t.Await(nil); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// WhenAnyer is implemented by the engine's context to pick the first completed task
// deterministically.
type WhenAnyer interface {
	WhenAny(tasks ...Task) (int, error)
}

// WhenAny returns the index of the first task (in history order) to complete.
func WhenAny(ctx OrchestrationContext, tasks ...Task) (int, error) {
	w, ok := ctx.(WhenAnyer)
	if !ok {
		return -1, errors.New("durable: context does not support WhenAny")
	}
	return w.WhenAny(tasks...)
}

// Orchestrator is an orchestrator function. Its result is JSON-encoded as the output;
// a returned error fails the instance with the error's message.
type Orchestrator func(ctx OrchestrationContext) (any, error)

// ActivityContext is what an activity function sees.
type ActivityContext interface {
	context.Context
	InstanceID() string // of the orchestration that scheduled it
	TaskID() int
	Name() string
	GetInput(v any) error
}

// Activity is an activity function: ordinary Go code with side effects. It runs at
// least once per scheduling; make it idempotent where that matters.
type Activity func(ctx ActivityContext) (any, error)

// EntityContext is what an entity operation sees. Operations on one entity run one
// at a time; state changes of a batch are committed together.
type EntityContext interface {
	ID() EntityID
	Operation() string
	GetInput(v any) error
	HasState() bool
	GetState(v any) error
	SetState(v any) error
	DeleteState()
	// SetResult sets the value returned to a caller (CallEntity).
	SetResult(v any) error
	SignalEntity(id EntityID, operation string, input any)
	SignalEntityAt(id EntityID, operation string, input any, at time.Time)
	// StartNewOrchestration schedules a new orchestration; returns its instance id.
	StartNewOrchestration(name string, input any, instanceID string) string
	Logger() *slog.Logger
}

// Entity is a function-style entity: switch on ctx.Operation(). A returned error makes
// the operation fail: its state changes are rolled back and the caller sees the error.
type Entity func(ctx EntityContext) error

// Registry maps names to orchestrators, activities and entities. Names are matched
// case-insensitively, as Durable Functions does.
type Registry struct {
	orchestrators map[string]Orchestrator
	activities    map[string]Activity
	entities      map[string]Entity
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{orchestrators: map[string]Orchestrator{}, activities: map[string]Activity{}, entities: map[string]Entity{}}
}

// AddOrchestrator registers fn under name. Registering a name twice panics at start-up,
// which is where such a mistake should surface.
func (r *Registry) AddOrchestrator(name string, fn Orchestrator) {
	mustAdd(r.orchestrators, "orchestrator", name, fn)
}

// AddActivity registers an activity under name.
func (r *Registry) AddActivity(name string, fn Activity) { mustAdd(r.activities, "activity", name, fn) }

// AddEntity registers a function-style entity under name (the entity function folder's name).
func (r *Registry) AddEntity(name string, fn Entity) { mustAdd(r.entities, "entity", name, fn) }

// Orchestrator looks up an orchestrator.
func (r *Registry) Orchestrator(name string) (Orchestrator, bool) {
	fn, ok := r.orchestrators[strings.ToLower(name)]
	return fn, ok
}

// Activity looks up an activity.
func (r *Registry) Activity(name string) (Activity, bool) {
	fn, ok := r.activities[strings.ToLower(name)]
	return fn, ok
}

// Entity looks up an entity.
func (r *Registry) Entity(name string) (Entity, bool) {
	fn, ok := r.entities[strings.ToLower(name)]
	return fn, ok
}

// OrchestratorNames lists registered orchestrator names (lower case).
func (r *Registry) OrchestratorNames() []string {
	out := make([]string, 0, len(r.orchestrators))
	for n := range r.orchestrators {
		out = append(out, n)
	}
	return out
}

// EntityNames lists registered entity names (lower case).
func (r *Registry) EntityNames() []string {
	out := make([]string, 0, len(r.entities))
	for n := range r.entities {
		out = append(out, n)
	}
	return out
}

func mustAdd[T any](m map[string]T, kind, name string, fn T) {
	key := strings.ToLower(name)
	if key == "" {
		panic("durable: empty " + kind + " name")
	}
	if _, dup := m[key]; dup {
		panic(fmt.Sprintf("durable: %s %q registered twice", kind, name))
	}
	m[key] = fn
}

// Marshal encodes v as a JSON payload; nil becomes an empty payload (no value).
func Marshal(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	return json.Marshal(v)
}

// Unmarshal decodes a payload into v; an empty payload leaves v untouched.
func Unmarshal(data json.RawMessage, v any) error {
	if v == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, v)
}
