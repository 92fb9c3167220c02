// Package patterns holds the Durable Functions application patterns as Go samples:
// function chaining, fan-out/fan-in and human interaction.
package patterns

import (
	"errors"
	"fmt"
	"time"

	"github.com/durablego/durablefunctions/durable"
)

// Startable are the orchestrators the app's public starter (/api/orchestrators/{name},
// function key) may start: the pattern samples. The others (transfer, scoreboard
// updates, query jobs) are started by their own routes, which validate their input.
var Startable = []string{"chaining", "fan_out_fan_in", "approval"}

// Register adds the samples' orchestrators and activities.
func Register(reg *durable.Registry) {
	reg.AddOrchestrator("hello", func(ctx durable.OrchestrationContext) (any, error) {
		var name string
		if err := ctx.GetInput(&name); err != nil {
			return nil, err
		}
		var out string
		err := ctx.CallActivity("SayHello", name, nil).Await(&out)
		return out, err
	})
	reg.AddActivity("SayHello", func(ctx durable.ActivityContext) (any, error) {
		var name string
		if err := ctx.GetInput(&name); err != nil {
			return nil, err
		}
		if name == "" {
			name = "world"
		}
		return "Hello, " + name + "!", nil
	})

	reg.AddOrchestrator("chaining", Chaining)
	reg.AddActivity("F1", func(ctx durable.ActivityContext) (any, error) { return 42, nil })
	reg.AddActivity("F2", addActivity(1))
	reg.AddActivity("F3", addActivity(2))

	reg.AddOrchestrator("fan_out_fan_in", FanOutFanIn)
	reg.AddActivity("GetWorkBatch", GetWorkBatch)
	reg.AddActivity("ProcessItem", ProcessItem)
	reg.AddActivity("Sum", Sum)

	reg.AddOrchestrator("approval", Approval)
	reg.AddActivity("RequestApproval", func(ctx durable.ActivityContext) (any, error) {
		var req ApprovalRequest
		if err := ctx.GetInput(&req); err != nil {
			return nil, err
		}
		return fmt.Sprintf("approval requested for %s", req.Item), nil
	})
	reg.AddActivity("ProcessApproval", func(ctx durable.ActivityContext) (any, error) {
		var item string
		_ = ctx.GetInput(&item)
		return "processed " + item, nil
	})
	reg.AddActivity("Escalate", func(ctx durable.ActivityContext) (any, error) {
		var item string
		_ = ctx.GetInput(&item)
		return "escalated " + item, nil
	})
}

func addActivity(n int) durable.Activity {
	return func(ctx durable.ActivityContext) (any, error) {
		var v int
		if err := ctx.GetInput(&v); err != nil {
			return nil, fmt.Errorf("want an integer input: %w", err)
		}
		return v + n, nil
	}
}

// Chaining runs F1, F2 and F3 in sequence, each on the previous result: 42 -> 43 -> 45.
func Chaining(ctx durable.OrchestrationContext) (any, error) {
	var x int
	if err := ctx.CallActivity("F1", nil, nil).Await(&x); err != nil {
		return nil, err
	}
	if err := ctx.CallActivity("F2", x, nil).Await(&x); err != nil {
		return nil, err
	}
	if err := ctx.CallActivity("F3", x, nil).Await(&x); err != nil {
		return nil, err
	}
	return x, nil
}

// FanOutInput sizes the fan-out.
type FanOutInput struct {
	Items int `json:"items"`
	// SpreadMillis makes item i take (i mod 20) * SpreadMillis / 20 ms, so that
	// results trickle in (demos and crash tests); 0 = as fast as possible.
	SpreadMillis int `json:"spreadMillis,omitempty"`
}

// WorkItem is one unit of the fan-out.
type WorkItem struct {
	Value   int `json:"v"`
	DelayMs int `json:"d,omitempty"`
}

// GetWorkBatch returns the items to process: 1..n.
func GetWorkBatch(ctx durable.ActivityContext) (any, error) {
	var in FanOutInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	if in.Items <= 0 {
		in.Items = 10
	}
	if in.Items > 100000 {
		return nil, errors.New("at most 100000 items")
	}
	if in.SpreadMillis < 0 || in.SpreadMillis > 60000 {
		return nil, errors.New("spreadMillis must be between 0 and 60000")
	}
	out := make([]WorkItem, in.Items)
	for i := range out {
		out[i] = WorkItem{Value: i + 1, DelayMs: (i % 20) * in.SpreadMillis / 20}
	}
	return out, nil
}

// ProcessItem squares its item's value.
func ProcessItem(ctx durable.ActivityContext) (any, error) {
	var it WorkItem
	if err := ctx.GetInput(&it); err != nil {
		return nil, err
	}
	if it.DelayMs > 0 {
		select {
		case <-time.After(time.Duration(it.DelayMs) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return it.Value * it.Value, nil
}

// Sum adds its inputs.
func Sum(ctx durable.ActivityContext) (any, error) {
	var vs []int
	if err := ctx.GetInput(&vs); err != nil {
		return nil, err
	}
	total := 0
	for _, v := range vs {
		total += v
	}
	return total, nil
}

// FanOutFanIn gets a batch, processes every item in parallel, and sums the results.
func FanOutFanIn(ctx durable.OrchestrationContext) (any, error) {
	var in FanOutInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	var items []WorkItem
	if err := ctx.CallActivity("GetWorkBatch", in, nil).Await(&items); err != nil {
		return nil, err
	}
	tasks := make([]durable.Task, len(items))
	for i, it := range items {
		tasks[i] = ctx.CallActivity("ProcessItem", it, nil)
	}
	results := make([]int, len(items))
	for i, t := range tasks {
		if err := t.Await(&results[i]); err != nil {
			return nil, err
		}
	}
	var total int
	if err := ctx.CallActivity("Sum", results, nil).Await(&total); err != nil {
		return nil, err
	}
	return total, nil
}

// ApprovalRequest is the human-interaction sample's input.
type ApprovalRequest struct {
	Item string `json:"item"`
	// TimeoutSeconds overrides the 72-hour deadline (tests and demos).
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
}

// ApprovalEvent is the external event a person raises.
type ApprovalEvent struct {
	Approved bool   `json:"approved"`
	By       string `json:"by,omitempty"`
}

// Approval asks for approval, then waits for an "ApprovalEvent" or the deadline
// (a durable timer, 72 hours by default): approved work is processed, anything else
// escalated.
func Approval(ctx durable.OrchestrationContext) (any, error) {
	var req ApprovalRequest
	if err := ctx.GetInput(&req); err != nil {
		return nil, err
	}
	if req.Item == "" {
		req.Item = "request"
	}
	timeout := 72 * time.Hour
	if req.TimeoutSeconds > 0 {
		timeout = time.Duration(req.TimeoutSeconds) * time.Second
	}
	if err := ctx.CallActivity("RequestApproval", req, nil).Await(nil); err != nil {
		return nil, err
	}
	ctx.SetCustomStatus("waiting for approval")
	var ev ApprovalEvent
	err := ctx.WaitForExternalEvent("ApprovalEvent", timeout).Await(&ev)
	var out string
	switch {
	case errors.Is(err, durable.ErrTimeout):
		err = ctx.CallActivity("Escalate", req.Item, nil).Await(&out)
	case err != nil:
		return nil, err
	case ev.Approved:
		err = ctx.CallActivity("ProcessApproval", req.Item, nil).Await(&out)
	default:
		err = ctx.CallActivity("Escalate", req.Item, nil).Await(&out)
	}
	if err != nil {
		return nil, err
	}
	ctx.SetCustomStatus("done")
	return out, nil
}
