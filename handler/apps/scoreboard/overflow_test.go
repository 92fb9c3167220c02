package scoreboard

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/durablego/durablefunctions/handler/apps/checked"
	"github.com/durablego/durablefunctions/handler/apps/entitytest"
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
		state, err := entitytest.Call(t, Entity, EntityName, st, "add", c.rec)
		if c.overflow != checked.IsOverflow(err) || !c.overflow && err != nil {
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
	if state, err := entitytest.Call(t, Entity, EntityName, nil, "add", Record{"Thor", math.MinInt64, 0}); err == nil || state != nil {
		t.Errorf("negative combos: %v, state %s", err, state)
	}
}
