package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// TestLargePayloads: a 10 MiB orchestration input travels to an activity and back as
// the output, an entity holds 10 MiB of state, and a 1 MiB event is raised; above
// the maximum, the caller gets a clear error.
func TestLargePayloads(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startCustomWorker(testRoot(t, "blob_entity"), func(reg *durable.Registry) {
		reg.AddOrchestrator("big", func(ctx durable.OrchestrationContext) (any, error) {
			var in string
			if err := ctx.GetInput(&in); err != nil {
				return nil, err
			}
			var up string
			if err := ctx.CallActivity("upper_big", in, nil).Await(&up); err != nil {
				return nil, err
			}
			var ev string
			if err := ctx.WaitForExternalEvent("more", time.Minute).Await(&ev); err != nil {
				return nil, err
			}
			ctx.SignalEntity(durable.NewEntityID("blob_entity", "b"), "set", up)
			return up + ev[:10], nil
		})
		reg.AddActivity("upper_big", func(ctx durable.ActivityContext) (any, error) {
			var s string
			if err := ctx.GetInput(&s); err != nil {
				return nil, err
			}
			return strings.ToUpper(s), nil
		})
		reg.AddEntity("blob_entity", func(ctx durable.EntityContext) error {
			var in string
			if err := ctx.GetInput(&in); err != nil {
				return err
			}
			return ctx.SetState(in)
		})
	})
	base := w.Server.URL
	hub := w.App.Hub
	ctx := testenv.Context(t, 3*time.Minute)
	big := strings.Repeat("abcdefghij", 1<<20) // 10 MiB
	body, _ := json.Marshal(big)
	r := do(t, "POST", base+"/api/orchestrators/big", string(body), "Content-Type", "application/json")
	if r.Status != http.StatusAccepted {
		t.Fatalf("start with 10 MiB: %d %.200s", r.Status, r.Body)
	}
	id := r.JSON(t)["id"].(string)
	event, _ := json.Marshal(strings.Repeat("é", 1<<19)) // 1 MiB of two-byte characters
	eventually(t, 60*time.Second, "orchestration waiting for the event", func() (bool, string) {
		s, err := hub.GetStatus(ctx, id, nil)
		if err != nil {
			return false, err.Error()
		}
		return s.RuntimeStatus == durable.StatusRunning, string(s.RuntimeStatus)
	})
	if err := hub.RaiseEvent(ctx, id, "more", event); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "big orchestration completed", func() (bool, string) {
		s, err := hub.GetStatus(ctx, id, nil)
		if err != nil {
			return false, err.Error()
		}
		if s.RuntimeStatus == durable.StatusFailed {
			t.Fatalf("failed: %+v", s.Failure)
		}
		if s.RuntimeStatus != durable.StatusCompleted {
			return false, string(s.RuntimeStatus)
		}
		var out string
		if err := json.Unmarshal(s.Output, &out); err != nil {
			t.Fatal(err)
		}
		if out != strings.ToUpper(big)+strings.Repeat("é", 5) {
			t.Fatalf("output of %d bytes is not the upper-cased input plus the event's start", len(out))
		}
		return true, ""
	})
	eventually(t, 60*time.Second, "entity holds 10 MiB", func() (bool, string) {
		s, err := hub.ReadEntity(ctx, durable.NewEntityID("blob_entity", "b"))
		if err != nil || !s.Exists {
			return false, fmt.Sprint(err)
		}
		var v string
		_ = json.Unmarshal(s.State, &v)
		return v == strings.ToUpper(big), fmt.Sprint(len(v))
	})
	// Over the maximum: a clear error.
	huge, _ := json.Marshal(strings.Repeat("x", 17<<20))
	if r := do(t, "POST", base+"/api/orchestrators/big", string(huge)); r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("17 MiB input: %d %.200s", r.Status, r.Body)
	}
}
