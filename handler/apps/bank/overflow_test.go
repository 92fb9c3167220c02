package bank

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps/apptest"
	"github.com/durablego/durablefunctions/handler/apps/checked"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/replay"
)

func account(key string, balance *int64) *apptest.Entity {
	e := &apptest.Entity{ID: durable.NewEntityID(EntityName, key), Fn: Account}
	if balance != nil {
		e.State, _ = json.Marshal(*balance)
	}
	return e
}

func balanceOf(t *testing.T, e *apptest.Entity) int64 {
	t.Helper()
	var b int64
	if e.State != nil {
		if err := json.Unmarshal(e.State, &b); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func ptr(n int64) *int64 { return &n }

func TestAccountRefusesOverflow(t *testing.T) {
	cases := []struct {
		start   int64
		op      string
		amount  any
		want    int64
		wantErr string
	}{
		{math.MaxInt64 - 1, "deposit", 1, math.MaxInt64, ""},
		{math.MaxInt64, "deposit", 1, math.MaxInt64, "overflow"},
		{1, "deposit", int64(math.MaxInt64), 1, "overflow"},
		{0, "deposit", int64(math.MaxInt64), math.MaxInt64, ""},
		{math.MaxInt64, "withdraw", int64(math.MaxInt64), 0, ""},
		{5, "withdraw", int64(math.MaxInt64), 5, "insufficient funds"},
		{5, "deposit", int64(math.MinInt64), 5, "must be positive"},
		{5, "withdraw", int64(math.MinInt64), 5, "must be positive"},
		{5, "deposit", "9223372036854775808", 5, "integer amount"},
	}
	for _, c := range cases {
		a := account("a", ptr(c.start))
		var amount any = c.amount
		if s, ok := c.amount.(string); ok {
			amount = json.RawMessage(s)
		}
		_, err := a.Call(c.op, amount)
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%d %s %v: error %v, want %q", c.start, c.op, c.amount, err, c.wantErr)
		}
		if c.wantErr == "overflow" && !errors.Is(err, checked.ErrOverflow) {
			t.Errorf("%d %s %v: %v is not ErrOverflow", c.start, c.op, c.amount, err)
		}
		if got := balanceOf(t, a); got != c.want {
			t.Errorf("%d %s %v: balance %d, want %d", c.start, c.op, c.amount, got, c.want)
		}
	}
}

// runTransfer drives the transfer orchestration against in-memory accounts (the real
// entity function), as the engine would, and returns the final result.
func runTransfer(t *testing.T, tr Transfer, accounts map[string]*apptest.Entity) *replay.Result {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in, _ := json.Marshal(tr)
	var past []history.Event
	next := []history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: now}, {Type: history.ExecutionStarted, ID: -1, Name: Orchestrator, Input: in, InstanceID: "t1", ExecutionID: "x"}}
	for i := 0; i < 20; i++ {
		res := replay.Execute(TransferOrchestration, past, next, replay.Options{})
		past = append(past, res.NewEvents...)
		if res.Status != durable.StatusRunning {
			return res
		}
		next = []history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: now}}
		for _, a := range res.Actions {
			switch a.Type {
			case history.EntityLockRequested:
				next = append(next, history.Event{Type: history.EntityLockGranted, ID: -1, TaskID: a.ID})
			case history.EntityCalled:
				var input any
				if len(a.Input) > 0 {
					input = a.Input
				}
				out, err := accounts[a.Entity.Key].Call(a.Name, input)
				if err != nil {
					next = append(next, history.Event{Type: history.EntityFailed, ID: -1, TaskID: a.ID, Failure: &durable.FailureDetails{ErrorType: "EntityError", ErrorMessage: err.Error()}})
					continue
				}
				next = append(next, history.Event{Type: history.EntityCompleted, ID: -1, TaskID: a.ID, Result: out})
			}
		}
	}
	t.Fatal("did not finish")
	return nil
}

// TestTransferIntoFullAccount: a deposit the destination refuses (its balance would
// overflow) fails the transfer and gives the money back, so nothing is lost.
func TestTransferIntoFullAccount(t *testing.T) {
	accounts := map[string]*apptest.Entity{"a": account("a", ptr(100)), "b": account("b", ptr(math.MaxInt64-10))}
	res := runTransfer(t, Transfer{From: "a", To: "b", Amount: 50}, accounts)
	if res.Status != durable.StatusFailed || res.Failure == nil || !strings.Contains(res.Failure.ErrorMessage, "overflow") {
		t.Fatalf("transfer into a nearly full account: %s %+v %s", res.Status, res.Failure, res.Output)
	}
	if a, b := balanceOf(t, accounts["a"]), balanceOf(t, accounts["b"]); a != 100 || b != math.MaxInt64-10 {
		t.Fatalf("balances a=%d b=%d after the refused transfer, want 100 and %d", a, b, int64(math.MaxInt64-10))
	}
	// Exactly up to the limit works.
	res = runTransfer(t, Transfer{From: "a", To: "b", Amount: 10}, accounts)
	if res.Status != durable.StatusCompleted || string(res.Output) != "true" {
		t.Fatalf("transfer up to the limit: %s %+v %s", res.Status, res.Failure, res.Output)
	}
	if a, b := balanceOf(t, accounts["a"]), balanceOf(t, accounts["b"]); a != 90 || b != math.MaxInt64 {
		t.Fatalf("balances a=%d b=%d, want 90 and MaxInt64", a, b)
	}
}
