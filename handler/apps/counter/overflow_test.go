package counter

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
	"github.com/durablego/durablefunctions/handler/apps/checked"
)

func TestCounterRefusesOverflow(t *testing.T) {
	cases := []struct {
		start, add, want int64
		overflow         bool
	}{
		{math.MaxInt64 - 1, 1, math.MaxInt64, false},
		{math.MaxInt64, 1, math.MaxInt64, true},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64, true},
		{math.MinInt64 + 1, -1, math.MinInt64, false},
		{math.MinInt64, -1, math.MinInt64, true},
		{math.MinInt64, math.MinInt64, math.MinInt64, true},
		{math.MinInt64, math.MaxInt64, -1, false},
		{-3, 5, 2, false},
	}
	for _, c := range cases {
		st, _ := json.Marshal(c.start)
		state, err := call(t, Entity, st, "add", c.add)
		if c.overflow != isOverflow(err) || !c.overflow && err != nil {
			t.Errorf("%d + %d: error %v, overflow wanted: %v", c.start, c.add, err, c.overflow)
		}
		var got int64
		if err := json.Unmarshal(state, &got); err != nil || got != c.want {
			t.Errorf("%d + %d: state %s, want %d", c.start, c.add, state, c.want)
		}
	}
}

// isOverflow reports whether an entity operation failed with checked.ErrOverflow. Only
// the message crosses the entity boundary, and it starts with the sentinel's.
func isOverflow(err error) bool {
	var d *durable.FailureDetails
	return errors.As(err, &d) && strings.HasPrefix(d.ErrorMessage, checked.ErrOverflow.Error()+":")
}

// call runs one operation on the entity from state (JSON; nil for none) and returns
// the state after it (nil for none) and the operation's error.
func call(t *testing.T, fn durable.Entity, state json.RawMessage, op string, input any) (json.RawMessage, error) {
	t.Helper()
	var initial any
	if state != nil {
		initial = state
	}
	run, err := durabletest.RunEntity(fn, durable.NewEntityID(EntityName, "k"), initial, durabletest.Op{Name: op, Input: input})
	if err != nil {
		t.Fatal(err)
	}
	if !run.HasState {
		return nil, run.Ops[0].Err
	}
	return run.State, run.Ops[0].Err
}
