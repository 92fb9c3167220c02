package entityexec

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
)

var self = durable.NewEntityID("Counter", "k")

// counter is a function-style entity exercising every EntityContext method.
func counter(ctx durable.EntityContext) error {
	var n int
	if err := ctx.GetState(&n); err != nil {
		return err
	}
	switch ctx.Operation() {
	case "add":
		var d int
		if err := ctx.GetInput(&d); err != nil {
			return err
		}
		n += d
	case "get":
		return ctx.SetResult(n)
	case "has":
		return ctx.SetResult(ctx.HasState())
	case "delete":
		ctx.DeleteState()
		return nil
	case "fanout":
		ctx.SignalEntity(durable.NewEntityID("Other", "a"), "ping", 1)
		id := ctx.StartNewOrchestration("orch", "in", "")
		ctx.SignalEntityAt(durable.NewEntityID("other", "b"), "later", nil, time.Date(2030, 1, 1, 1, 0, 0, 0, time.FixedZone("x", 3600)))
		named := ctx.StartNewOrchestration("orch", nil, "named")
		return ctx.SetResult([]string{id, named})
	case "badsend":
		ctx.SignalEntity(self, "x", func() {}) // not JSON: dropped, the operation goes on
		ctx.StartNewOrchestration("orch", make(chan int), "c")
		n++
	case "failafter":
		n = 1000
		_ = ctx.SetState(n)
		_ = ctx.SetResult("lost")
		ctx.SignalEntity(self, "x", nil)
		return errors.New("refused")
	case "panic":
		_ = ctx.SetState(-1)
		ctx.SignalEntity(self, "x", nil)
		panic("boom")
	case "badstate":
		return ctx.SetState(func() {})
	case "badresult":
		return ctx.SetResult(make(chan int))
	default:
		return fmt.Errorf("no operation %q", ctx.Operation())
	}
	return ctx.SetState(n)
}

func TestExecute(t *testing.T) {
	type want struct {
		state    string // "" = no state
		result   string
		errType  string
		errMsg   string // substring
		stack    bool
		sends    []Send
		noFnCall bool
	}
	cases := []struct {
		name  string
		fn    durable.Entity
		op    string
		input string
		state string // "" = no state
		idGen func(int) string
		want  want
	}{
		{name: "add to nothing", op: "add", input: "5", want: want{state: "5"}},
		{name: "add to state", op: "add", input: "5", state: "2", want: want{state: "7"}},
		{name: "result", op: "get", state: "9", want: want{state: "9", result: "9"}},
		{name: "no result without SetResult", op: "add", input: "1", state: "1", want: want{state: "2"}},
		{name: "HasState false", op: "has", want: want{result: "false"}},
		{name: "HasState true", op: "has", state: "0", want: want{state: "0", result: "true"}},
		{name: "delete", op: "delete", state: "3", want: want{}},
		{name: "bad input fails and keeps state", op: "add", input: `"x"`, state: "4", want: want{state: "4", errType: "UnmarshalTypeError", errMsg: "cannot unmarshal"}},
		{name: "error rolls back state, result and sends", op: "failafter", state: "4", want: want{state: "4", errType: "Error", errMsg: "refused"}},
		{name: "panic rolls back and reports the stack", op: "panic", state: "4", want: want{state: "4", errType: "panic", errMsg: "entity operation panicked: boom", stack: true}},
		{name: "unencodable state fails", op: "badstate", state: "4", want: want{state: "4", errType: "Error", errMsg: "not JSON-serialisable"}},
		{name: "unencodable result fails", op: "badresult", state: "4", want: want{state: "4", errType: "Error", errMsg: "not JSON-serialisable"}},
		{name: "unencodable sends are dropped", op: "badsend", state: "1", want: want{state: "2"}},
		{name: "unknown entity", fn: nil, op: "add", input: "1", state: "1", want: want{state: "1", errType: "UnknownEntity", errMsg: `no entity function named "counter"`, noFnCall: true}},
		{
			name: "sends in order with generated ids", op: "fanout", state: "1",
			idGen: func(n int) string { return fmt.Sprintf("gen-%d", n) },
			want: want{state: "1", result: `["gen-1","named"]`, sends: []Send{
				{Kind: SendSignal, Entity: durable.EntityID{Name: "other", Key: "a"}, Operation: "ping", Input: json.RawMessage("1")},
				{Kind: SendStart, Orchestrator: "orch", InstanceID: "gen-1", Input: json.RawMessage(`"in"`)},
				{Kind: SendSignal, Entity: durable.EntityID{Name: "other", Key: "b"}, Operation: "later", At: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
				{Kind: SendStart, Orchestrator: "orch", InstanceID: "named"},
			}},
		},
		{
			name: "default ids without a generator", op: "fanout",
			want: want{result: `["@counter@k:0001","named"]`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fn := durable.Entity(counter)
			if c.want.noFnCall {
				fn = c.fn
			}
			op := &Operation{ID: self, Name: c.op, NewInstanceID: c.idGen}
			if c.input != "" {
				op.Input = json.RawMessage(c.input)
			}
			if c.state != "" {
				op.State, op.HasState = json.RawMessage(c.state), true
			}
			before := string(op.State)
			out := Execute(fn, op)
			if string(op.State) != before {
				t.Fatalf("input state changed to %s", op.State)
			}
			if out.HasState != (c.want.state != "") || string(out.State) != c.want.state {
				t.Fatalf("state %s (has %v), want %q", out.State, out.HasState, c.want.state)
			}
			if string(out.Result) != c.want.result {
				t.Fatalf("result %s, want %s", out.Result, c.want.result)
			}
			switch {
			case c.want.errType == "" && out.Failure != nil:
				t.Fatalf("failed: %+v", out.Failure)
			case c.want.errType != "":
				f := out.Failure
				if f == nil || f.ErrorType != c.want.errType || !strings.Contains(f.ErrorMessage, c.want.errMsg) || (f.StackTrace != "") != c.want.stack {
					t.Fatalf("failure %+v, want type %s message ~%q stack %v", f, c.want.errType, c.want.errMsg, c.want.stack)
				}
				if len(out.Sends) != 0 {
					t.Fatalf("a failed operation sent %v", out.Sends)
				}
			}
			if c.want.sends != nil {
				got, _ := json.Marshal(out.Sends)
				want, _ := json.Marshal(c.want.sends)
				if string(got) != string(want) {
					t.Fatalf("sends\n %s\nwant\n %s", got, want)
				}
			}
		})
	}
}

func TestExecuteTypedEntity(t *testing.T) {
	fn := durable.TypedEntity[typed]()
	out := Execute(fn, &Operation{ID: self, Name: "Add", Input: json.RawMessage("3"), State: json.RawMessage(`{"n":1}`), HasState: true})
	if out.Failure != nil || string(out.State) != `{"n":4}` || string(out.Result) != "4" {
		t.Fatalf("typed add: %+v state %s result %s", out.Failure, out.State, out.Result)
	}
	out = Execute(fn, &Operation{ID: self, Name: "delete", State: json.RawMessage(`{"n":1}`), HasState: true})
	if out.Failure != nil || out.HasState {
		t.Fatalf("typed implicit delete: %+v has %v", out.Failure, out.HasState)
	}
}

type typed struct {
	N int `json:"n"`
}

func (s *typed) Add(d int) int { s.N += d; return s.N }
