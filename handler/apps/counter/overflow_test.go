package counter

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/durablego/durablefunctions/handler/apps/checked"
	"github.com/durablego/durablefunctions/handler/apps/entitytest"
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
		state, err := entitytest.Call(t, Entity, EntityName, st, "add", c.add)
		if c.overflow != checked.IsOverflow(err) || !c.overflow && err != nil {
			t.Errorf("%d + %d: error %v, overflow wanted: %v", c.start, c.add, err, c.overflow)
		}
		var got int64
		if err := json.Unmarshal(state, &got); err != nil || got != c.want {
			t.Errorf("%d + %d: state %s, want %d", c.start, c.add, state, c.want)
		}
	}
}
