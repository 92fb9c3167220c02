package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// TestFanOutSurvivesKill kills the only worker (SIGKILL) in the middle of a fan-out of
// 200 activities and starts another: the orchestration completes with the right sum,
// and its history holds exactly one result per activity.
func TestFanOutSurvivesKill(t *testing.T) {
	h := newHarness(t, nil)
	a := h.startProcess("")
	id := start(t, a.URL, "fan_out_fan_in", `{"items": 200, "spreadMillis": 4000}`)
	probe := h.newApp() // reads state; runs no pollers
	ctx := testenv.Context(t, 3*time.Minute)
	eventually(t, 60*time.Second, "some activities done", func() (bool, string) {
		st, err := probe.Hub.GetStatus(ctx, id, nilOpts())
		if err != nil {
			return false, err.Error()
		}
		n := countType(st.History, history.TaskCompleted)
		return n >= 40, fmt.Sprintf("%d completed", n)
	})
	a.Kill()
	st, _ := probe.Hub.GetStatus(ctx, id, nilOpts())
	if countType(st.History, history.TaskCompleted) > 150 {
		t.Fatalf("finished before the kill; the test proves nothing (make the fan-out larger)")
	}
	killedAt := countType(st.History, history.TaskCompleted)
	b := h.startProcess(a.addr)
	s := waitStatus(t, b.URL, id, "Completed", 2*time.Minute)
	if want := sumSquares(200); string(s.Result) != fmt.Sprint(want) {
		t.Fatalf("result %s, want %d", s.Result, want)
	}
	final, err := probe.Hub.GetStatus(ctx, id, nilOpts())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	for _, e := range final.History {
		if e.Type == history.TaskCompleted {
			seen[e.TaskID]++
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("task %d has %d results in history", id, n)
		}
	}
	if len(seen) != 202 { // GetWorkBatch + 200 items + Sum
		t.Fatalf("%d task results in history, want 202", len(seen))
	}
	t.Logf("killed with %d of 202 results recorded; completed on the second worker", killedAt)
}

func countType(evs []history.Event, typ history.EventType) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}
