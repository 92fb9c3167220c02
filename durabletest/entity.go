package durabletest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/entityexec"
)

// Op is one entity operation for RunEntity.
type Op struct {
	Name  string
	Input any
}

// EntityRun is what a sequence of operations did to an entity.
type EntityRun struct {
	// Ops has one entry per operation, in order.
	Ops []OpResult
	// State is the entity's state after the last operation; HasState is false when it
	// has none (deleted, or never set).
	State    json.RawMessage
	HasState bool
}

// GetState decodes the final state into v; v is left untouched when there is none.
func (r *EntityRun) GetState(v any) error { return durable.Unmarshal(r.State, v) }

// OpResult is what one operation did.
type OpResult struct {
	Operation string
	// Result is the value a CallEntity caller receives (nil when none was set).
	Result json.RawMessage
	// Err is nil on success; otherwise the *durable.TaskFailedError (Kind "entity")
	// a CallEntity caller receives. A failed operation's state changes and messages
	// are dropped.
	Err error
	// State and HasState are the entity's state after this operation.
	State    json.RawMessage
	HasState bool
	// Signals and Starts are the messages the operation sent, each in send order.
	Signals []Signal
	Starts  []Start
}

// GetResult decodes the operation's result into v.
func (o *OpResult) GetResult(v any) error { return durable.Unmarshal(o.Result, v) }

// Signal is an entity operation signalled by an entity operation.
type Signal struct {
	Entity    durable.EntityID
	Operation string
	Input     json.RawMessage
	// At is when a delayed signal is due; zero for an immediate one.
	At time.Time
}

// Start is an orchestration started by an entity operation.
type Start struct {
	Orchestrator string
	InstanceID   string
	Input        json.RawMessage
}

// RunEntity runs ops, one after the other, on the entity id implemented by fn (a
// function-style entity, or durable.TypedEntity[T]()), starting from initialState
// (JSON-encoded; nil for an entity without state). Operations run exactly as the
// engine runs them; what they send is recorded, not delivered. The error is about the
// arguments (a value that does not encode as JSON); the operations' own failures are
// in each OpResult.Err.
func RunEntity(fn durable.Entity, id durable.EntityID, initialState any, ops ...Op) (*EntityRun, error) {
	state, err := durable.Marshal(initialState)
	if err != nil {
		return nil, fmt.Errorf("durabletest: initial state: %w", err)
	}
	id = durable.NewEntityID(id.Name, id.Key)
	run := &EntityRun{State: state, HasState: state != nil}
	var sent int64
	for i, op := range ops {
		in, err := durable.Marshal(op.Input)
		if err != nil {
			return nil, fmt.Errorf("durabletest: input of operation %d (%s): %w", i, op.Name, err)
		}
		out := entityexec.Execute(fn, &entityexec.Operation{
			ID: id, Name: op.Name, Input: in, State: run.State, HasState: run.HasState, Logger: discard,
			NewInstanceID: func(n int) string { return entityInstanceID(id, sent+int64(n)+1) },
		})
		sent += int64(len(out.Sends))
		res := OpResult{Operation: op.Name, Result: out.Result, State: out.State, HasState: out.HasState}
		if out.Failure != nil {
			res.Err = &durable.TaskFailedError{Kind: "entity", Name: id.Name + "@" + id.Key + ":" + op.Name, TaskID: -1, Details: *out.Failure}
		}
		for _, s := range out.Sends {
			switch s.Kind {
			case entityexec.SendSignal:
				res.Signals = append(res.Signals, Signal{Entity: s.Entity, Operation: s.Operation, Input: s.Input, At: s.At})
			case entityexec.SendStart:
				res.Starts = append(res.Starts, Start{Orchestrator: s.Orchestrator, InstanceID: s.InstanceID, Input: s.Input})
			}
		}
		run.State, run.HasState = out.State, out.HasState
		run.Ops = append(run.Ops, res)
	}
	return run, nil
}
