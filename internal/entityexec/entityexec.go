// Package entityexec is the pure entity executor: one operation of a durable entity,
// given the entity's state, in; the new state, the operation's result or failure, and
// the messages it sent, out. It does no I/O and keeps nothing between calls, so the
// engine (which persists state and delivers messages) and package durabletest (which
// simulates both in memory) run entity code with exactly the same semantics.
//
// The rules, as Durable Functions has them:
//   - An operation that returns an error, or panics, fails: its state changes are
//     rolled back, its result and sends are dropped, and the failure is reported (to a
//     caller of CallEntity) with ErrorType durable.ErrorType(err), as for activities.
//     A panic becomes a failure with ErrorType "panic" and the stack.
//   - A signal or start whose input cannot be encoded as JSON is logged and dropped;
//     the operation itself does not fail (SignalEntity has no error to return).
//   - StartNewOrchestration without an instance id gets one from
//     Operation.NewInstanceID, so the id is stable when the operation is re-run.
package entityexec

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/durablego/durablefunctions/durable"
)

// Operation is one entity operation to run.
type Operation struct {
	// ID is the entity the operation runs on.
	ID durable.EntityID
	// Name is the operation name as sent (entity code compares it itself).
	Name  string
	Input json.RawMessage
	// State is the entity's state before the operation; HasState is false for an
	// entity that has none (never set, or deleted).
	State    json.RawMessage
	HasState bool
	// Logger is what the entity's EntityContext.Logger returns; nil discards.
	Logger *slog.Logger
	// NewInstanceID names an orchestration started without an explicit instance id;
	// n is the number of messages the operation sent before it (0 for the first).
	// The engine derives it from the entity's message sequence so that a re-run
	// operation starts the same instance. nil uses DefaultInstanceID.
	NewInstanceID func(n int) string
}

// SendKind says what a Send is.
type SendKind int

// The messages an entity operation can send.
const (
	// SendSignal is a one-way operation on an entity (EntityContext.SignalEntity/At).
	SendSignal SendKind = iota + 1
	// SendStart starts an orchestration (EntityContext.StartNewOrchestration).
	SendStart
)

// Send is one message an operation sent, in the order it was sent.
type Send struct {
	Kind SendKind
	// Entity and Operation address a signal.
	Entity    durable.EntityID
	Operation string
	// At delays a signal (zero: deliver at once).
	At time.Time
	// Orchestrator and InstanceID describe a start.
	Orchestrator string
	InstanceID   string
	// Input is the signal's or the orchestration's input.
	Input json.RawMessage
}

// Outcome is what one operation did.
type Outcome struct {
	// State and HasState are the entity's state after the operation: unchanged from
	// the Operation's when it failed.
	State    json.RawMessage
	HasState bool
	// Result is the value returned to a caller (nil when none was set, or on failure).
	Result json.RawMessage
	// Failure is set when the operation failed.
	Failure *durable.FailureDetails
	// Sends are the messages to deliver, in send order; empty on failure.
	Sends []Send
}

// Execute runs fn on op. A nil fn fails the operation as an unknown entity, which is
// what a message to an entity name nobody registered gets.
func Execute(fn durable.Entity, op *Operation) *Outcome {
	out := &Outcome{State: op.State, HasState: op.HasState}
	if fn == nil {
		out.Failure = &durable.FailureDetails{ErrorType: "UnknownEntity", ErrorMessage: fmt.Sprintf("no entity function named %q", op.ID.Name)}
		return out
	}
	log := op.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ec := &context{op: op, state: op.State, has: op.HasState, log: log}
	if err := run(fn, ec); err != nil {
		out.Failure = &durable.FailureDetails{ErrorType: durable.ErrorType(err), ErrorMessage: err.Error()}
		if pe, ok := err.(*panicError); ok {
			out.Failure.ErrorType, out.Failure.StackTrace = "panic", pe.stack
		}
		return out
	}
	out.State, out.HasState = ec.state, ec.has
	if !ec.has {
		out.State = nil
	}
	out.Result = ec.result
	out.Sends = ec.sends
	return out
}

// DefaultInstanceID is the instance id NewInstanceID gives when the Operation has no
// generator: the entity id and the send's position, which is unique per operation only.
func DefaultInstanceID(id durable.EntityID, n int) string {
	return fmt.Sprintf("%s:%04X", id.String(), n)
}

type panicError struct {
	msg   string
	stack string
}

func (e *panicError) Error() string { return e.msg }

func run(fn durable.Entity, ec *context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{msg: fmt.Sprintf("entity operation panicked: %v", r), stack: string(debug.Stack())}
		}
	}()
	return fn(ec)
}

// context is the durable.EntityContext of one operation. It works on a copy of the
// state, so a failed operation leaves the caller's untouched.
type context struct {
	op     *Operation
	state  json.RawMessage
	has    bool
	log    *slog.Logger
	result json.RawMessage
	sends  []Send
}

var _ durable.EntityContext = (*context)(nil)

func (c *context) ID() durable.EntityID { return c.op.ID }
func (c *context) Operation() string    { return c.op.Name }
func (c *context) Logger() *slog.Logger { return c.log }
func (c *context) HasState() bool       { return c.has }
func (c *context) GetInput(v any) error { return durable.Unmarshal(c.op.Input, v) }
func (c *context) DeleteState()         { c.state, c.has = nil, false }

// GetState leaves v untouched when the entity has no state, so v's zero value (or
// whatever default the caller put there) is the initial state.
func (c *context) GetState(v any) error {
	if !c.has {
		return nil
	}
	return json.Unmarshal(c.state, v)
}

func (c *context) SetState(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("entity state is not JSON-serialisable: %w", err)
	}
	c.state, c.has = b, true
	return nil
}

func (c *context) SetResult(v any) error {
	b, err := durable.Marshal(v)
	if err != nil {
		return fmt.Errorf("entity result is not JSON-serialisable: %w", err)
	}
	c.result = b
	return nil
}

func (c *context) SignalEntity(id durable.EntityID, operation string, input any) {
	c.SignalEntityAt(id, operation, input, time.Time{})
}

func (c *context) SignalEntityAt(id durable.EntityID, operation string, input any, at time.Time) {
	in, err := durable.Marshal(input)
	if err != nil {
		c.log.Error("signal input is not JSON-serialisable; signal dropped", "target", id.String(), "err", err)
		return
	}
	if !at.IsZero() {
		at = at.UTC()
	}
	c.sends = append(c.sends, Send{Kind: SendSignal, Entity: durable.NewEntityID(id.Name, id.Key), Operation: operation, At: at, Input: in})
}

func (c *context) StartNewOrchestration(name string, input any, instanceID string) string {
	if instanceID == "" {
		if c.op.NewInstanceID != nil {
			instanceID = c.op.NewInstanceID(len(c.sends))
		} else {
			instanceID = DefaultInstanceID(c.op.ID, len(c.sends))
		}
	}
	in, err := durable.Marshal(input)
	if err != nil {
		c.log.Error("orchestration input is not JSON-serialisable; start dropped", "err", err)
		return instanceID
	}
	c.sends = append(c.sends, Send{Kind: SendStart, Orchestrator: name, InstanceID: instanceID, Input: in})
	return instanceID
}
