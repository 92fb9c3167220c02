package durabletest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps/bank"
	"github.com/durablego/durablefunctions/handler/apps/patterns"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/history/dfjson"
)

// skeleton is the order of scheduling events and completions, which is what the
// determinism check depends on.
func skeleton(evs []history.Event) string {
	var s []string
	for _, e := range evs {
		switch {
		case e.Type == history.OrchestratorStarted || e.Type == history.CustomStatusSet || e.Type == history.ExecutionCompleted:
		case e.IsCompletion():
			s = append(s, fmt.Sprintf("%s>%d", e.Type, e.TaskID))
		case e.ID >= 0:
			s = append(s, fmt.Sprintf("%s#%d:%s", e.Type, e.ID, e.Name))
		default:
			s = append(s, string(e.Type))
		}
	}
	return strings.Join(s, " ")
}

// TestParseIsExactOnSampleHistories: for the samples, the stream rebuilt from the DF
// JSON has every scheduling event exactly where the engine wrote it.
func TestParseIsExactOnSampleHistories(t *testing.T) {
	reg := durable.NewRegistry()
	patterns.Register(reg)
	bank.Register(reg)
	flaky := 0
	reg.AddActivity("Flaky", func(durable.ActivityContext) (any, error) {
		if flaky++; flaky < 3 {
			return nil, fmt.Errorf("try %d", flaky)
		}
		return 1, nil
	})
	reg.AddOrchestrator("retry", func(ctx durable.OrchestrationContext) (any, error) {
		return nil, ctx.CallActivity("Flaky", nil, &durable.ActivityOptions{Retry: &durable.RetryPolicy{MaxAttempts: 3, FirstRetryInterval: time.Second}}).Await(nil)
	})
	cases := []struct {
		name  string
		input any
	}{
		{"chaining", nil},
		{"fan_out_fan_in", patterns.FanOutInput{Items: 4}},
		{"approval", patterns.ApprovalRequest{Item: "a"}},
		{bank.Orchestrator, bank.Transfer{From: "x", To: "y", Amount: 5}},
		{"retry", nil},
	}
	for _, c := range cases {
		env := New(reg)
		res, err := env.Run(c.name, c.input)
		if err != nil {
			t.Fatal(err)
		}
		// The Env's clock stands still between timers; the engine's episodes each have
		// their own time, and the events they receive were stamped before. Restamp so.
		evs := append([]history.Event(nil), res.History.events...)
		n := 0
		for i := range evs {
			if evs[i].Type == history.OrchestratorStarted {
				n++
			}
			evs[i].Timestamp = evs[i].Timestamp.Add(time.Duration(n) * time.Millisecond)
			if evs[i].Type != history.OrchestratorStarted && evs[i].ID < 0 && evs[i].Type != history.ExecutionCompleted {
				evs[i].Timestamp = evs[i].Timestamp.Add(-time.Millisecond / 2)
			}
		}
		js, _ := json.Marshal(dfjson.Render(evs, true, true))
		x, err := dfjson.Parse(js)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := skeleton(x.Events), skeleton(evs); got != want {
			t.Errorf("%s: rebuilt\n %s\nwant\n %s", c.name, got, want)
		}
		if c.name == "fan_out_fan_in" {
			// Processing the items one at a time instead of in parallel is caught.
			seq := durable.NewRegistry()
			seq.AddOrchestrator(c.name, func(ctx durable.OrchestrationContext) (any, error) {
				var items []patterns.WorkItem
				_ = ctx.CallActivity("GetWorkBatch", nil, nil).Await(&items)
				for _, it := range items {
					_ = ctx.CallActivity("ProcessItem", it, nil).Await(nil)
				}
				return nil, ctx.CallActivity("Sum", nil, nil).Await(nil)
			})
			var nde *durable.NonDeterminismError
			if err := Replay(seq, "", js); !errors.As(err, &nde) || !strings.Contains(nde.Expected, `"ProcessItem"`) {
				t.Errorf("sequential fan-out replayed against the parallel history: %v", err)
			}
		}
		// Episode times are the scheduling events' times.
		for _, e := range x.Events {
			if e.ID >= 0 {
				var now time.Time
				for _, o := range x.Events {
					if o.Type == history.OrchestratorStarted && !o.Timestamp.After(e.Timestamp) {
						now = o.Timestamp
					}
				}
				if !now.Equal(e.Timestamp) {
					t.Errorf("%s: %s #%d at %v is in an episode at %v", c.name, e.Type, e.ID, e.Timestamp, now)
				}
			}
		}
	}
}
