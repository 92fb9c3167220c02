// Package apptest runs the sample apps' entity functions in memory for unit tests,
// through the engine's own entity executor (package entityexec): state and results
// travel as JSON, and an operation that fails leaves the state as it was.
package apptest

import (
	"encoding/json"
	"errors"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/entityexec"
)

// Entity is an entity's committed state between operations.
type Entity struct {
	ID    durable.EntityID
	Fn    durable.Entity
	State json.RawMessage // nil: no state
}

// Call applies one operation. On error the state is unchanged, as the engine does. The
// error is the one the entity returned (so errors.Is works), or the executor's failure
// for a panic or an unencodable state or result.
func (e *Entity) Call(op string, input any) (json.RawMessage, error) {
	in, err := json.Marshal(input)
	if err != nil {
		return nil, err
	}
	if input == nil {
		in = nil
	}
	var returned error
	fn := func(ctx durable.EntityContext) error {
		returned = e.Fn(ctx)
		return returned
	}
	out := entityexec.Execute(fn, &entityexec.Operation{ID: e.ID, Name: op, Input: in, State: e.State, HasState: e.State != nil})
	if out.Failure != nil {
		if returned != nil {
			return nil, returned
		}
		return nil, errors.New(out.Failure.ErrorMessage)
	}
	e.State = nil
	if out.HasState {
		e.State = out.State
	}
	return out.Result, nil
}
