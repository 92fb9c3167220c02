package durabletest_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
	"github.com/durablego/durablefunctions/handler/apps/bank"
	"github.com/durablego/durablefunctions/handler/apps/patterns"
)

func golden(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/chaining_history.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReplayGolden(t *testing.T) {
	reg := durable.NewRegistry()
	patterns.Register(reg)
	body := golden(t)
	if err := durabletest.Replay(reg, "", body); err != nil {
		t.Fatalf("status body: %v", err)
	}
	var s struct{ HistoryEvents json.RawMessage }
	_ = json.Unmarshal(body, &s)
	if err := durabletest.Replay(reg, "chaining", s.HistoryEvents); err != nil {
		t.Fatalf("bare array: %v", err)
	}
}

func TestReplayGoldenAgainstChangedCode(t *testing.T) {
	step := func(ctx durable.OrchestrationContext, name string, x *int) error {
		return ctx.CallActivity(name, *x, nil).Await(x)
	}
	cases := []struct {
		name     string
		fn       durable.Orchestrator
		expected string
		actual   string
	}{
		{"different activity", func(ctx durable.OrchestrationContext) (any, error) {
			x := 0
			_ = step(ctx, "F1", &x)
			_ = step(ctx, "F2b", &x)
			return x, step(ctx, "F3", &x)
		}, `TaskScheduled "F2"`, `TaskScheduled "F2b"`},
		{"step removed", func(ctx durable.OrchestrationContext) (any, error) {
			x := 0
			_ = step(ctx, "F1", &x)
			return x, step(ctx, "F2", &x)
		}, `TaskScheduled "F3"`, "no further action (orchestrator returned)"},
		{"timer inserted", func(ctx durable.OrchestrationContext) (any, error) {
			x := 0
			_ = step(ctx, "F1", &x)
			_ = ctx.CreateTimer(ctx.CurrentUTCDateTime().Add(time.Second)).Await(nil)
			_ = step(ctx, "F2", &x)
			return x, step(ctx, "F3", &x)
		}, `TaskScheduled "F2"`, "TimerCreated"},
		{"step added at the end", func(ctx durable.OrchestrationContext) (any, error) {
			x := 0
			_ = step(ctx, "F1", &x)
			_ = step(ctx, "F2", &x)
			_ = step(ctx, "F3", &x)
			return x, step(ctx, "F4", &x)
		}, "no scheduling event", `TaskScheduled "F4"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := durable.NewRegistry()
			reg.AddOrchestrator("chaining", c.fn)
			err := durabletest.Replay(reg, "", golden(t))
			var nde *durable.NonDeterminismError
			if !errors.As(err, &nde) || !strings.Contains(nde.Expected, c.expected) || !strings.Contains(nde.Actual, c.actual) {
				t.Fatalf("error %v, want a NonDeterminismError with history %q and code %q", err, c.expected, c.actual)
			}
		})
	}
}

func TestReplayRefusesBadInput(t *testing.T) {
	reg := durable.NewRegistry()
	patterns.Register(reg)
	for name, body := range map[string]string{
		"not JSON":           "nope",
		"no history":         `{"name": "chaining", "runtimeStatus": "Completed"}`,
		"no start":           `[{"EventType": "TaskCompleted", "TaskScheduledId": 0, "Timestamp": "2024-01-01T00:00:00Z"}]`,
		"unscheduled result": `[{"EventType": "ExecutionStarted", "FunctionName": "chaining", "Timestamp": "2024-01-01T00:00:00Z"}, {"EventType": "TaskCompleted", "TaskScheduledId": 0, "Timestamp": "2024-01-01T00:00:01Z"}]`,
		"bad time":           `[{"EventType": "ExecutionStarted", "FunctionName": "chaining", "Timestamp": "yesterday"}]`,
		"unknown event":      `[{"EventType": "ExecutionStarted", "FunctionName": "chaining", "Timestamp": "2024-01-01T00:00:00Z"}, {"EventType": "Teleported", "Timestamp": "2024-01-01T00:00:00Z"}]`,
	} {
		err := durabletest.Replay(reg, "", []byte(body))
		var nde *durable.NonDeterminismError
		if err == nil || errors.As(err, &nde) {
			t.Errorf("%s: %v, want an input error", name, err)
		}
	}
	if err := durabletest.Replay(reg, "nope", golden(t)); !errors.Is(err, durable.ErrUnknownOrchestrator) {
		t.Errorf("unknown orchestrator: %v", err)
	}
}

// TestReplayEnvHistories round-trips the histories of the samples through the DF JSON:
// each replays cleanly against its own code, and fails against changed code.
func TestReplayEnvHistories(t *testing.T) {
	reg := durable.NewRegistry()
	patterns.Register(reg)
	bank.Register(reg)
	cases := []struct {
		name  string
		input any
		setup func(env *durabletest.Env)
	}{
		{"chaining", nil, nil},
		{"fan_out_fan_in", patterns.FanOutInput{Items: 5}, nil},
		{"approval", patterns.ApprovalRequest{Item: "a"}, nil},
		{"approval", patterns.ApprovalRequest{Item: "b"}, func(env *durabletest.Env) {
			_ = env.RaiseEventAfter(time.Hour, "instance-1", "ApprovalEvent", patterns.ApprovalEvent{Approved: true})
		}},
		{bank.Orchestrator, bank.Transfer{From: "x", To: "y", Amount: 5}, func(env *durabletest.Env) {
			_ = env.SetEntityState(durable.NewEntityID(bank.EntityName, "x"), 10)
		}},
	}
	for _, c := range cases {
		env := durabletest.New(reg)
		if c.setup != nil {
			c.setup(env)
		}
		res := mustRun(t, env, c.name, c.input)
		if err := durabletest.Replay(reg, "", res.History.JSON()); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, res.History.JSON())
		}
		changed := durable.NewRegistry()
		changed.AddOrchestrator(c.name, func(ctx durable.OrchestrationContext) (any, error) {
			return nil, ctx.CallActivity("Other", nil, nil).Await(nil)
		})
		var nde *durable.NonDeterminismError
		if err := durabletest.Replay(changed, "", res.History.JSON()); !errors.As(err, &nde) || !strings.Contains(nde.Actual, `"Other"`) {
			t.Fatalf("%s against changed code: %v", c.name, err)
		}
	}
	// A running instance's history replays too: the code must be waiting, not ending.
	env := durabletest.New(reg)
	id, _ := env.Start("approval", patterns.ApprovalRequest{Item: "c"}, nil)
	st, _ := env.Status(id)
	if err := durabletest.Replay(reg, "", st.History.JSON()); err != nil {
		t.Fatalf("running approval: %v", err)
	}
	quick := durable.NewRegistry()
	quick.AddOrchestrator("approval", func(ctx durable.OrchestrationContext) (any, error) {
		return nil, ctx.CallActivity("RequestApproval", nil, nil).Await(nil)
	})
	var nde *durable.NonDeterminismError
	if err := durabletest.Replay(quick, "", st.History.JSON()); !errors.As(err, &nde) {
		t.Fatalf("code that now ends early: %v", err)
	}
}
