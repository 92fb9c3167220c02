package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/engine"
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

// TestSessionSkipsReload checks that episodes handed off in a worker work from the
// partition as that worker wrote it: the start's episode from what the start wrote,
// the result's episode from what the first episode committed. A one-activity
// orchestration started there never queries its partition.
func TestSessionSkipsReload(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	probe := h.newApp()
	ctx := testenv.Context(t, time.Minute)
	acct := w.App.Hub.Account()
	for i := 0; i < 3; i++ {
		before := acct.RequestsByKind()
		id, err := w.App.Hub.StartOrchestration(ctx, "hello", "", json.RawMessage(`"session"`))
		if err != nil {
			t.Fatal(err)
		}
		waitCompleted(t, probe, id)
		time.Sleep(200 * time.Millisecond)
		after := acct.RequestsByKind()
		if q := after["table.query"] - before["table.query"]; q != 0 {
			t.Fatalf("run %d: %d partition reads, want none; all: %v", i, q, diffKinds(before, after))
		}
	}
}

// TestSessionSeesOtherWriters races an external event from another process against
// the activity result that a session episode applies: the event row is one the
// session has not seen, and its own wake-up must get it applied.
func TestSessionSeesOtherWriters(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	other := h.newApp() // another process: its wake-ups go through the queue
	ctx := testenv.Context(t, 2*time.Minute)
	for i := 0; i < 8; i++ {
		id, err := w.App.Hub.StartOrchestration(ctx, "approval", "", json.RawMessage(`{"item":"x","timeoutSeconds":60}`))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i*7) * time.Millisecond)
		eventually(t, 10*time.Second, "raise", func() (bool, string) {
			err := other.Hub.RaiseEvent(ctx, id, "ApprovalEvent", json.RawMessage(`{"approved":true}`))
			return err == nil, fmt.Sprint(err)
		})
		s := waitCompleted(t, other, id)
		if !strings.Contains(string(s.Output), "x") {
			t.Fatalf("%s: output %s", id, s.Output)
		}
	}
}

func waitCompleted(t *testing.T, a *app.App, id string) *engine.InstanceStatus {
	t.Helper()
	ctx := testenv.Context(t, time.Minute)
	var last *engine.InstanceStatus
	eventually(t, 30*time.Second, id+" completed", func() (bool, string) {
		s, err := a.Hub.GetStatus(ctx, id, nil)
		if err != nil {
			return false, err.Error()
		}
		if s.RuntimeStatus.IsTerminal() && s.RuntimeStatus != durable.StatusCompleted {
			t.Fatalf("%s ended %s: %+v", id, s.RuntimeStatus, s.Failure)
		}
		last = s
		return s.RuntimeStatus == durable.StatusCompleted, string(s.RuntimeStatus)
	})
	return last
}
