package circuitbreaker

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
)

// fakeContext runs the entity purely in memory, keeping state and result as JSON as
// the engine does, and rolling the state back on error as the engine does.
type fakeContext struct {
	op       string
	input    json.RawMessage
	state    json.RawMessage
	hasState bool
	result   json.RawMessage
}

func (c *fakeContext) ID() durable.EntityID                                    { return durable.NewEntityID(EntityName, "payments") }
func (c *fakeContext) Operation() string                                       { return c.op }
func (c *fakeContext) GetInput(v any) error                                    { return durable.Unmarshal(c.input, v) }
func (c *fakeContext) HasState() bool                                          { return c.hasState }
func (c *fakeContext) DeleteState()                                            { c.state, c.hasState = nil, false }
func (c *fakeContext) Logger() *slog.Logger                                    { return slog.New(slog.DiscardHandler) }
func (c *fakeContext) SignalEntity(durable.EntityID, string, any)              {}
func (c *fakeContext) SignalEntityAt(durable.EntityID, string, any, time.Time) {}
func (c *fakeContext) StartNewOrchestration(string, any, string) string        { return "" }
func (c *fakeContext) GetState(v any) error {
	if !c.hasState {
		return nil
	}
	return json.Unmarshal(c.state, v)
}
func (c *fakeContext) SetState(v any) error {
	b, err := json.Marshal(v)
	c.state, c.hasState = b, true
	return err
}
func (c *fakeContext) SetResult(v any) error {
	b, err := durable.Marshal(v)
	c.result = b
	return err
}

// apply runs one operation the way the engine does, rollback included.
func (c *fakeContext) apply(op, input string) error {
	c.op, c.input, c.result = op, json.RawMessage(input), nil
	saved, had := c.state, c.hasState
	err := Entity(c)
	if err != nil {
		c.state, c.hasState = saved, had
	}
	return err
}

func (c *fakeContext) circuit(t *testing.T) Circuit {
	t.Helper()
	var s Circuit
	if c.hasState {
		if err := json.Unmarshal(c.state, &s); err != nil {
			t.Fatalf("state %s: %v", c.state, err)
		}
	}
	return s
}

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// at is a failure report input s seconds after t0.
func at(s int) string {
	return `{"at":"` + t0.Add(time.Duration(s)*time.Second).Format(time.RFC3339) + `"}`
}

type step struct {
	op, input string
	wantErr   string // substring; "" = must succeed
}

func TestCircuitBreaker(t *testing.T) {
	cases := []struct {
		name         string
		steps        []step
		wantState    string
		wantFailures int
		wantThresh   int
		wantWindow   int
		wantOpenedAt int // seconds after t0; -1 = not open
		noState      bool
	}{
		{name: "new circuit gets defaults", steps: []step{{op: "get"}},
			wantState: StateClosed, wantThresh: 5, wantWindow: 60, wantOpenedAt: -1},
		{name: "opens at the default threshold", steps: []step{
			{op: "reportFailure", input: at(0)}, {op: "reportFailure", input: at(1)}, {op: "reportFailure", input: at(2)},
			{op: "reportFailure", input: at(3)}, {op: "reportFailure", input: at(4)},
		}, wantState: StateOpen, wantFailures: 5, wantThresh: 5, wantWindow: 60, wantOpenedAt: 4},
		{name: "below threshold stays closed", steps: []step{
			{op: "configure", input: `{"threshold":3,"windowSeconds":60}`},
			{op: "reportFailure", input: at(0)}, {op: "reportFailure", input: at(10)},
		}, wantState: StateClosed, wantFailures: 2, wantThresh: 3, wantWindow: 60, wantOpenedAt: -1},
		{name: "threshold within the window opens", steps: []step{
			{op: "configure", input: `{"threshold":3,"windowSeconds":60}`},
			{op: "reportFailure", input: at(0)}, {op: "reportFailure", input: at(30)}, {op: "reportFailure", input: at(59)},
		}, wantState: StateOpen, wantFailures: 3, wantThresh: 3, wantWindow: 60, wantOpenedAt: 59},
		{name: "failures older than the window do not count", steps: []step{
			{op: "configure", input: `{"threshold":3,"windowSeconds":60}`},
			{op: "reportFailure", input: at(0)}, {op: "reportFailure", input: at(30)}, {op: "reportFailure", input: at(60)},
		}, wantState: StateClosed, wantFailures: 2, wantThresh: 3, wantWindow: 60, wantOpenedAt: -1},
		{name: "out-of-order reports measure from the latest", steps: []step{
			{op: "configure", input: `{"threshold":3,"windowSeconds":60}`},
			{op: "reportFailure", input: at(100)}, {op: "reportFailure", input: at(10)}, {op: "reportFailure", input: at(90)},
		}, wantState: StateClosed, wantFailures: 2, wantThresh: 3, wantWindow: 60, wantOpenedAt: -1},
		{name: "open circuit keeps at most threshold failures", steps: []step{
			{op: "configure", input: `{"threshold":2}`},
			{op: "reportFailure", input: at(0)}, {op: "reportFailure", input: at(1)}, {op: "reportFailure", input: at(2)},
		}, wantState: StateOpen, wantFailures: 2, wantThresh: 2, wantWindow: 60, wantOpenedAt: 1},
		{name: "success clears failures of a closed circuit", steps: []step{
			{op: "reportFailure", input: at(0)}, {op: "reportFailure", input: at(1)}, {op: "reportSuccess"},
		}, wantState: StateClosed, wantFailures: 0, wantThresh: 5, wantWindow: 60, wantOpenedAt: -1},
		{name: "success does not close an open circuit", steps: []step{
			{op: "configure", input: `{"threshold":1}`}, {op: "reportFailure", input: at(0)}, {op: "reportSuccess"},
		}, wantState: StateOpen, wantFailures: 1, wantThresh: 1, wantWindow: 60, wantOpenedAt: 0},
		{name: "reset closes and keeps the configuration", steps: []step{
			{op: "configure", input: `{"threshold":1,"windowSeconds":5}`}, {op: "reportFailure", input: at(0)}, {op: "reset"},
		}, wantState: StateClosed, wantFailures: 0, wantThresh: 1, wantWindow: 5, wantOpenedAt: -1},
		{name: "partial configure keeps the other setting", steps: []step{
			{op: "configure", input: `{"threshold":7,"windowSeconds":9}`}, {op: "configure", input: `{"windowSeconds":30}`},
		}, wantState: StateClosed, wantThresh: 7, wantWindow: 30, wantOpenedAt: -1},
		{name: "configure does not trip by itself", steps: []step{
			{op: "reportFailure", input: at(0)}, {op: "reportFailure", input: at(1)}, {op: "configure", input: `{"threshold":2}`},
		}, wantState: StateClosed, wantFailures: 2, wantThresh: 2, wantWindow: 60, wantOpenedAt: -1},
		{name: "invalid configure fails and changes nothing", steps: []step{
			{op: "configure", input: `{"threshold":3}`},
			{op: "configure", input: `{"threshold":0,"windowSeconds":10}`, wantErr: "threshold must be between 1"},
			{op: "configure", input: `{"windowSeconds":-1}`, wantErr: "windowSeconds must be between 1"},
			{op: "configure", input: `{"threshold":1001}`, wantErr: "threshold must be between 1 and 1000"},
			{op: "configure", input: `{}`, wantErr: "needs threshold and/or windowSeconds"},
			{op: "configure", wantErr: "needs threshold and/or windowSeconds"},
			{op: "configure", input: `{"threshold":"3"}`, wantErr: `operation "configure" expects an input`},
		}, wantState: StateClosed, wantThresh: 3, wantWindow: 60, wantOpenedAt: -1},
		{name: "bad failure time fails the operation", steps: []step{
			{op: "reportFailure", input: at(0)},
			{op: "reportFailure", input: `{"at":"yesterday"}`, wantErr: `operation "reportFailure" expects an input`},
		}, wantState: StateClosed, wantFailures: 1, wantThresh: 5, wantWindow: 60, wantOpenedAt: -1},
		{name: "unknown operation", steps: []step{
			{op: "trip", wantErr: "available: Configure, Get, ReportFailure, ReportSuccess, Reset, delete"},
		}, noState: true},
		{name: "operation names are case-insensitive", steps: []step{
			{op: "CONFIGURE", input: `{"threshold":1}`}, {op: "reportfailure", input: at(0)},
		}, wantState: StateOpen, wantFailures: 1, wantThresh: 1, wantWindow: 60, wantOpenedAt: 0},
		{name: "delete removes the state", steps: []step{
			{op: "reportFailure", input: at(0)}, {op: "delete"},
		}, noState: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := &fakeContext{}
			for i, s := range c.steps {
				err := ctx.apply(s.op, s.input)
				switch {
				case s.wantErr == "" && err != nil:
					t.Fatalf("step %d %s: %v", i, s.op, err)
				case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
					t.Fatalf("step %d %s: error %v, want %q", i, s.op, err, s.wantErr)
				}
			}
			if c.noState {
				if ctx.hasState {
					t.Fatalf("state %s, want none", ctx.state)
				}
				return
			}
			got := ctx.circuit(t)
			if got.State != c.wantState || len(got.Failures) != c.wantFailures || got.Threshold != c.wantThresh || got.WindowSeconds != c.wantWindow {
				t.Fatalf("state %s, want %s with %d failures, threshold %d, window %d", ctx.state, c.wantState, c.wantFailures, c.wantThresh, c.wantWindow)
			}
			switch {
			case c.wantOpenedAt < 0 && got.OpenedAt != nil:
				t.Fatalf("openedAt %v on a closed circuit", got.OpenedAt)
			case c.wantOpenedAt >= 0 && (got.OpenedAt == nil || !got.OpenedAt.Equal(t0.Add(time.Duration(c.wantOpenedAt)*time.Second))):
				t.Fatalf("openedAt %v, want t0+%ds", got.OpenedAt, c.wantOpenedAt)
			}
			if !strings.Contains(string(ctx.state), `"failures":[`) {
				t.Fatalf("failures is not a JSON array in %s", ctx.state)
			}
		})
	}
}

func TestCircuitBreakerResults(t *testing.T) {
	ctx := &fakeContext{}
	steps := []struct {
		op, input string
		want      string // the result's state field
	}{
		{"configure", `{"threshold":2}`, ""},
		{"reportFailure", at(0), StateClosed},
		{"reportFailure", at(1), StateOpen},
		{"get", "", StateOpen},
		{"reportSuccess", "", StateOpen},
		{"reset", "", ""},
		{"get", "", StateClosed},
	}
	for _, s := range steps {
		if err := ctx.apply(s.op, s.input); err != nil {
			t.Fatalf("%s: %v", s.op, err)
		}
		if s.want == "" {
			if ctx.result != nil {
				t.Fatalf("%s: unexpected result %s", s.op, ctx.result)
			}
			continue
		}
		var r Circuit
		if err := json.Unmarshal(ctx.result, &r); err != nil || r.State != s.want {
			t.Fatalf("%s: result %s (%v), want state %s", s.op, ctx.result, err, s.want)
		}
	}
}

func TestReportFailureWithoutTimeUsesClock(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return t0.Add(42 * time.Second).In(time.FixedZone("x", 3600)) }
	ctx := &fakeContext{}
	for _, in := range []string{"", `{}`, `{"at":null}`} {
		if err := ctx.apply("reportFailure", in); err != nil {
			t.Fatalf("input %q: %v", in, err)
		}
	}
	got := ctx.circuit(t)
	if len(got.Failures) != 3 {
		t.Fatalf("failures %v", got.Failures)
	}
	for _, f := range got.Failures {
		if !f.Equal(t0.Add(42*time.Second)) || f.Location() != time.UTC {
			t.Fatalf("failure at %v, want t0+42s in UTC", f)
		}
	}
}
