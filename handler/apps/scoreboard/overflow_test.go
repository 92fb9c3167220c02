package scoreboard

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

func TestScoreboardRefusesOverflow(t *testing.T) {
	cases := []struct {
		name     string
		start    Totals
		rec      Record
		want     Totals
		overflow bool
	}{
		{"combos up to the limit", Totals{math.MaxInt64 - 1, 0}, Record{"Thor", 1, 0}, Totals{math.MaxInt64, 0}, false},
		{"combos past the limit", Totals{math.MaxInt64, 0}, Record{"Thor", 1, 0}, Totals{math.MaxInt64, 0}, true},
		// Wins overflow while combos would fit: neither total changes.
		{"wins past the limit", Totals{5, math.MaxInt64}, Record{"Thor", 3, 1}, Totals{5, math.MaxInt64}, true},
		{"both at the limit", Totals{0, 0}, Record{"Thor", math.MaxInt64, math.MaxInt64}, Totals{math.MaxInt64, math.MaxInt64}, false},
	}
	for _, c := range cases {
		st, _ := json.Marshal(map[string]Totals{"Thor": c.start, "Loki": {1, 1}})
		state, err := call(t, Entity, st, "add", c.rec)
		if c.overflow != isOverflow(err) || !c.overflow && err != nil {
			t.Errorf("%s: error %v, overflow wanted: %v", c.name, err, c.overflow)
		}
		var board map[string]Totals
		if err := json.Unmarshal(state, &board); err != nil {
			t.Fatal(err)
		}
		if board["Thor"] != c.want || board["Loki"] != (Totals{1, 1}) {
			t.Errorf("%s: board %v, want Thor %v", c.name, board, c.want)
		}
	}
	// A negative record is refused by the entity too (not only at the HTTP edge).
	if state, err := call(t, Entity, nil, "add", Record{"Thor", math.MinInt64, 0}); err == nil || state != nil {
		t.Errorf("negative combos: %v, state %s", err, state)
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
