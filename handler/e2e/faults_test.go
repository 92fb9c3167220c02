package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps/bank"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// TestCrashAtEachEpisodeStep kills the worker (as SIGKILL would: no clean-up) after
// it reads a partition, after it commits an episode, and after it delivers part of an
// outbox, then lets a fresh worker finish: entity signals, a locked bank transfer and
// a fan-out all end exactly right, with no lock left behind.
func TestCrashAtEachEpisodeStep(t *testing.T) {
	for _, point := range []string{engine.FaultAfterLoad, engine.FaultAfterCommit, engine.FaultAfterDelivery} {
		for _, n := range []int{3, 9} {
			t.Run(fmt.Sprintf("%s#%d", point, n), func(t *testing.T) {
				crashRun(t, point, n)
			})
		}
	}
}

func crashRun(t *testing.T, point string, n int) {
	h := newHarness(t, env{"DURABLE_CRASH_AT": fmt.Sprintf("%s:%d", point, n)})
	a := h.startProcess("")
	client := h.newApp()
	hub := client.Hub
	ctx := testenv.Context(t, 3*time.Minute)
	acct := func(k string) durable.EntityID { return durable.NewEntityID(bank.EntityName, k) }
	for _, k := range []string{"x", "y"} {
		if err := hub.SignalEntity(ctx, acct(k), "deposit", json.RawMessage("100"), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		if err := hub.SignalEntity(ctx, counterID("crash"), "add", json.RawMessage("1"), nil); err != nil {
			t.Fatal(err)
		}
	}
	in, _ := json.Marshal(bank.Transfer{From: "x", To: "y", Amount: 30})
	transfer, err := hub.StartOrchestration(ctx, bank.Orchestrator, "", in)
	if err != nil {
		t.Fatal(err)
	}
	fan, err := hub.StartOrchestration(ctx, "fan_out_fan_in", "", json.RawMessage(`{"items": 20}`))
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the crash.
	deadline := time.Now().Add(60 * time.Second)
wait:
	for time.Now().Before(deadline) {
		if strings.Contains(a.log.String(), "DURABLE_CRASH_AT reached") {
			break
		}
		select {
		case <-a.exited:
			break wait
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !strings.Contains(a.log.String(), "DURABLE_CRASH_AT reached "+point) {
		t.Fatalf("the worker never reached %s #%d", point, n)
	}
	a.Kill()
	delete(h.vars, "DURABLE_CRASH_AT")
	b := h.startProcess("")

	for _, c := range []struct{ id, want string }{{transfer, "true"}, {fan, fmt.Sprint(sumSquares(20))}} {
		eventually(t, 90*time.Second, c.id+" completed", func() (bool, string) {
			s, err := hub.GetStatus(ctx, c.id, nil)
			if err != nil {
				return false, err.Error()
			}
			if s.RuntimeStatus.IsTerminal() && string(s.Output) != c.want {
				t.Fatalf("%s ended %s with %s, want %s", c.id, s.RuntimeStatus, s.Output, c.want)
			}
			return s.RuntimeStatus == durable.StatusCompleted, string(s.RuntimeStatus)
		})
	}
	waitCounter(t, b.URL, "crash", 10, 60*time.Second)
	for k, want := range map[string]int64{"x": 70, "y": 130} {
		eventually(t, 60*time.Second, "balance "+k, func() (bool, string) {
			s, err := hub.ReadEntity(ctx, acct(k))
			if err != nil {
				return false, err.Error()
			}
			var v int64
			_ = json.Unmarshal(s.State, &v)
			return v == want && s.LockedBy == "", fmt.Sprintf("%d locked by %q", v, s.LockedBy)
		})
	}
	time.Sleep(300 * time.Millisecond)
	if v := counterValue(t, b.URL, "crash"); v != 10 {
		t.Fatalf("counter %d after settling, want 10", v)
	}
}
