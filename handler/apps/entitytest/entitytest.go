// Package entitytest runs single entity operations for the sample apps' tests.
package entitytest

import (
	"encoding/json"
	"testing"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
)

// Call runs one operation on entity fn (named name) from state (JSON; nil for none)
// and returns the state after it (nil for none) and the operation's error.
func Call(t testing.TB, fn durable.Entity, name string, state json.RawMessage, op string, input any) (json.RawMessage, error) {
	t.Helper()
	var initial any
	if state != nil {
		initial = state
	}
	run, err := durabletest.RunEntity(fn, durable.NewEntityID(name, "k"), initial, durabletest.Op{Name: op, Input: input})
	if err != nil {
		t.Fatal(err)
	}
	if !run.HasState {
		return nil, run.Ops[0].Err
	}
	return run.State, run.Ops[0].Err
}
