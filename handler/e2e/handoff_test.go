package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// TestLocalHandoffSkipsWakeUps checks that a standalone worker runs the episodes of an
// orchestration it starts and of the activity results it reports itself, without a
// queue round trip: a one-activity orchestration sends one queue message (the
// activity's work) instead of three (the start's wake-up, the work, the result's
// wake-up), and receives one.
func TestLocalHandoffSkipsWakeUps(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	probe := h.newApp() // status reads on an account of their own
	ctx := testenv.Context(t, time.Minute)
	acct := w.App.Hub.Account()
	for i := 0; i < 3; i++ {
		before := acct.RequestsByKind()
		id, err := w.App.Hub.StartOrchestration(ctx, "hello", "", json.RawMessage(`"handoff"`))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, id+" completed", func() (bool, string) {
			s, err := probe.Hub.GetStatus(ctx, id, nil)
			if err != nil {
				return false, err.Error()
			}
			if s.RuntimeStatus.IsTerminal() && s.RuntimeStatus != durable.StatusCompleted {
				t.Fatalf("%s ended %s: %+v", id, s.RuntimeStatus, s.Failure)
			}
			return s.RuntimeStatus == durable.StatusCompleted, string(s.RuntimeStatus)
		})
		// The activity message is deleted after the episode its result starts.
		time.Sleep(200 * time.Millisecond)
		after := acct.RequestsByKind()
		sends := after["queue.send"] - before["queue.send"]
		deletes := after["queue.delete"] - before["queue.delete"]
		if sends != 1 || deletes != 1 {
			t.Fatalf("run %d: %d queue sends and %d deletes, want 1 and 1 (the activity's work only); all: %v", i, sends, deletes, diffKinds(before, after))
		}
	}
}

func diffKinds(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}
