package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps/counter"
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
		// The result goes straight into the episode's commit, not into an inbox row.
		if ins := after["table.insert"] - before["table.insert"]; ins != 0 {
			t.Fatalf("run %d: %d single-row inserts, want none (the result row is part of the commit); all: %v", i, ins, diffKinds(before, after))
		}
	}
}

// TestEntitySignalHandoff: once a worker has run an episode of an entity, signals it
// sends that entity itself are applied by an episode in the same process, without a
// wake-up through the queue; the first goes through the queue (see engine/local.go:
// an operation that kills a process must first be seen there). Several at once still
// apply exactly once each.
func TestEntitySignalHandoff(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	ctx := testenv.Context(t, time.Minute)
	hub := w.App.Hub
	acct := hub.Account()
	id := durable.NewEntityID(counter.EntityName, "handoff")
	value := func() int64 {
		s, err := hub.ReadEntity(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var v int64 // the counter's state is its value
		_ = json.Unmarshal(s.State, &v)
		return v
	}
	signal := func() {
		if err := hub.SignalEntity(ctx, id, "add", json.RawMessage("1"), nil); err != nil {
			t.Fatal(err)
		}
	}
	before := acct.RequestsByKind()
	signal()
	eventually(t, 30*time.Second, "first signal applied", func() (bool, string) { v := value(); return v == 1, fmt.Sprint(v) })
	if sends := acct.RequestsByKind()["queue.send"] - before["queue.send"]; sends != 1 {
		t.Fatalf("first signal: %d queue sends, want 1 (its wake-up)", sends)
	}
	before = acct.RequestsByKind()
	for i := 0; i < 3; i++ {
		signal()
		want := int64(2 + i)
		eventually(t, 30*time.Second, "signal applied", func() (bool, string) { v := value(); return v == want, fmt.Sprint(v) })
	}
	for i := 0; i < 20; i++ {
		signal()
	}
	eventually(t, 30*time.Second, "burst applied", func() (bool, string) { v := value(); return v == 24, fmt.Sprint(v) })
	time.Sleep(100 * time.Millisecond)
	if v := value(); v != 24 {
		t.Fatalf("value %d after the burst settled, want 24", v)
	}
	after := acct.RequestsByKind()
	if sends := after["queue.send"] - before["queue.send"]; sends != 0 {
		t.Fatalf("%d queue sends for handed-off signals, want none; all: %v", sends, diffKinds(before, after))
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
