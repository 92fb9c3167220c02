package durabletest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
	"github.com/durablego/durablefunctions/handler/apps/bank"
)

func TestRunEntityAccount(t *testing.T) {
	id := durable.NewEntityID(bank.EntityName, "a")
	cases := []struct {
		name     string
		initial  any
		ops      []durabletest.Op
		final    int64
		hasState bool
		results  []string // per op: result JSON, or "error: substring"
	}{
		{"deposits on a new account", nil, []durabletest.Op{{"deposit", 10}, {"deposit", 5}, {"balance", nil}}, 15, true, []string{"10", "15", "15"}},
		{"overdraft fails and keeps the balance", int64(20), []durabletest.Op{{"withdraw", 50}, {"withdraw", 5}}, 15, true,
			[]string{"error: insufficient funds", "15"}},
		{"bad amount", int64(1), []durabletest.Op{{"deposit", -3}, {"deposit", "x"}}, 1, true, []string{"error: amount must be positive", "error: needs an integer amount"}},
		{"unknown operation", nil, []durabletest.Op{{"close", nil}}, 0, false, []string{"error: has no operation"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run, err := durabletest.RunEntity(bank.Account, id, c.initial, c.ops...)
			if err != nil {
				t.Fatal(err)
			}
			var bal int64
			if err := run.GetState(&bal); err != nil || bal != c.final || run.HasState != c.hasState {
				t.Fatalf("final state %s (has %v), want %d", run.State, run.HasState, c.final)
			}
			for i, want := range c.results {
				op := run.Ops[i]
				if msg, isErr := strings.CutPrefix(want, "error: "); isErr {
					var tfe *durable.TaskFailedError
					if !errors.As(op.Err, &tfe) || tfe.Kind != "entity" || tfe.Name != "account_entity@a:"+op.Operation || !strings.Contains(tfe.Details.ErrorMessage, msg) {
						t.Fatalf("op %d: err %v, want one mentioning %q", i, op.Err, msg)
					}
					continue
				}
				if op.Err != nil || string(op.Result) != want {
					t.Fatalf("op %d: result %s err %v, want %s", i, op.Result, op.Err, want)
				}
			}
		})
	}
}

// notifier sends messages from an operation, and loses them when it fails.
func notifier(ctx durable.EntityContext) error {
	ctx.SignalEntity(durable.NewEntityID("Audit", "log"), "record", ctx.Operation())
	ctx.SignalEntityAt(durable.NewEntityID("audit", "log"), "remind", nil, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	id := ctx.StartNewOrchestration("followup", ctx.Operation(), "")
	_ = ctx.SetResult(id)
	if ctx.Operation() == "fail" {
		return errors.New("no")
	}
	return ctx.SetState(ctx.Operation())
}

func TestRunEntitySends(t *testing.T) {
	id := durable.NewEntityID("notifier", "n")
	run, err := durabletest.RunEntity(notifier, id, "start", durabletest.Op{Name: "first"}, durabletest.Op{Name: "fail"}, durabletest.Op{Name: "second"})
	if err != nil {
		t.Fatal(err)
	}
	first, failed, second := run.Ops[0], run.Ops[1], run.Ops[2]
	if len(first.Signals) != 2 || first.Signals[0].Entity != durable.NewEntityID("audit", "log") || first.Signals[0].Operation != "record" ||
		string(first.Signals[0].Input) != `"first"` || !first.Signals[0].At.IsZero() || !first.Signals[1].At.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("first op's signals %+v", first.Signals)
	}
	if len(first.Starts) != 1 || first.Starts[0].Orchestrator != "followup" || string(first.Result) != `"`+first.Starts[0].InstanceID+`"` {
		t.Fatalf("first op's starts %+v result %s", first.Starts, first.Result)
	}
	if failed.Err == nil || len(failed.Signals)+len(failed.Starts) != 0 || failed.Result != nil || string(failed.State) != `"first"` {
		t.Fatalf("failed op: %+v", failed)
	}
	// Generated ids are unique per entity, across operations.
	if second.Starts[0].InstanceID == first.Starts[0].InstanceID {
		t.Fatalf("two starts named %q", second.Starts[0].InstanceID)
	}
	if string(run.State) != `"second"` {
		t.Fatalf("final state %s", run.State)
	}
}

// Score is a typed entity.
type Score struct {
	Points int `json:"points"`
	Best   int `json:"best"`
}

func (s *Score) Add(n int) (int, error) {
	if n <= 0 {
		return 0, errors.New("points must be positive")
	}
	s.Points += n
	s.Best = max(s.Best, n)
	return s.Points, nil
}

func (s *Score) Get() Score { return *s }

func TestRunTypedEntity(t *testing.T) {
	run, err := durabletest.RunEntity(durable.TypedEntity[Score](), durable.NewEntityID("Score", "p1"), Score{Points: 1, Best: 1},
		durabletest.Op{Name: "add", Input: 5}, durabletest.Op{Name: "Add", Input: 0}, durabletest.Op{Name: "get"}, durabletest.Op{Name: "delete"})
	if err != nil {
		t.Fatal(err)
	}
	var got Score
	if err := run.Ops[2].GetResult(&got); err != nil || got != (Score{Points: 6, Best: 5}) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if run.Ops[1].Err == nil || string(run.Ops[1].State) != `{"points":6,"best":5}` {
		t.Fatalf("failed add: %v, state %s", run.Ops[1].Err, run.Ops[1].State)
	}
	if run.HasState || run.State != nil {
		t.Fatalf("after delete: %s", run.State)
	}
	if _, err := durabletest.RunEntity(notifier, durable.NewEntityID("n", "k"), func() {}); err == nil {
		t.Fatal("an initial state that is not JSON must be refused")
	}
}
