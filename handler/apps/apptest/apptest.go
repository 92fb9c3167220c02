// Package apptest runs the sample apps' entity functions in memory for unit tests, with
// the engine's rules: state and results travel as JSON, and an operation that returns
// an error leaves the state as it was.
package apptest

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/durablego/durablefunctions/durable"
)

// Entity is an entity's committed state between operations.
type Entity struct {
	ID    durable.EntityID
	Fn    durable.Entity
	State json.RawMessage // nil: no state
}

// Call applies one operation. On error the state is unchanged, as the engine does.
func (e *Entity) Call(op string, input any) (json.RawMessage, error) {
	in, err := json.Marshal(input)
	if err != nil {
		return nil, err
	}
	if input == nil {
		in = nil
	}
	c := &fakeContext{id: e.ID, op: op, input: in, state: e.State, hasState: e.State != nil}
	if err := e.Fn(c); err != nil {
		return nil, err
	}
	if c.hasState {
		e.State = c.state
	} else {
		e.State = nil
	}
	return c.result, nil
}

type fakeContext struct {
	id       durable.EntityID
	op       string
	input    json.RawMessage
	state    json.RawMessage
	hasState bool
	result   json.RawMessage
}

func (c *fakeContext) ID() durable.EntityID                                    { return c.id }
func (c *fakeContext) Operation() string                                       { return c.op }
func (c *fakeContext) GetInput(v any) error                                    { return durable.Unmarshal(c.input, v) }
func (c *fakeContext) HasState() bool                                          { return c.hasState }
func (c *fakeContext) DeleteState()                                            { c.state, c.hasState = nil, false }
func (c *fakeContext) Logger() *slog.Logger                                    { return slog.New(slog.DiscardHandler) }
func (c *fakeContext) SignalEntity(durable.EntityID, string, any)              {}
func (c *fakeContext) SignalEntityAt(durable.EntityID, string, any, time.Time) {}
func (c *fakeContext) StartNewOrchestration(string, any, string) string        { return "" }

func (c *fakeContext) GetState(v any) error {
	if !c.hasState {
		return nil
	}
	return json.Unmarshal(c.state, v)
}

func (c *fakeContext) SetState(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.state, c.hasState = b, true
	return nil
}

func (c *fakeContext) SetResult(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.result = b
	return nil
}
