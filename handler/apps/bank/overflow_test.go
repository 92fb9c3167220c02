package bank

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
	"github.com/durablego/durablefunctions/handler/apps/checked"
)

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
		var amount any = c.amount
		if s, ok := c.amount.(string); ok {
			amount = json.RawMessage(s)
		}
		run, err := durabletest.RunEntity(Account, durable.NewEntityID(EntityName, "a"), c.start, durabletest.Op{Name: c.op, Input: amount})
		if err != nil {
			t.Fatal(err)
		}
		err = run.Ops[0].Err
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%d %s %v: error %v, want %q", c.start, c.op, c.amount, err, c.wantErr)
		}
		if c.wantErr == "overflow" && !checked.IsOverflow(err) {
			t.Errorf("%d %s %v: %v is not ErrOverflow", c.start, c.op, c.amount, err)
		}
		var got int64
		if err := run.GetState(&got); err != nil || !run.HasState || got != c.want {
			t.Errorf("%d %s %v: balance %d (%v), want %d", c.start, c.op, c.amount, got, err, c.want)
		}
	}
}

// TestTransferIntoFullAccount: a deposit the destination refuses (its balance would
// overflow) fails the transfer and gives the money back, so nothing is lost.
func TestTransferIntoFullAccount(t *testing.T) {
	env := newEnv(t, map[string]int64{"a": 100, "b": math.MaxInt64 - 10})
	res := runTransfer(t, env, Transfer{From: "a", To: "b", Amount: 50})
	if res.Status != durable.StatusFailed || res.Failure == nil || !strings.Contains(res.Failure.ErrorMessage, "overflow") {
		t.Fatalf("transfer into a nearly full account: %s %+v %s", res.Status, res.Failure, res.Output)
	}
	// The refund is a deposit back to the source, after the refused one.
	wantOps := []string{"account_entity@a:balance", "account_entity@a:withdraw", "account_entity@b:deposit", "account_entity@a:deposit"}
	if got := res.History.EntityOperations(); !reflect.DeepEqual(got, wantOps) {
		t.Fatalf("entity operations %v, want %v", got, wantOps)
	}
	if a, b := balanceOf(t, env, "a"), balanceOf(t, env, "b"); a != 100 || b != math.MaxInt64-10 {
		t.Fatalf("balances a=%d b=%d after the refused transfer, want 100 and %d", a, b, int64(math.MaxInt64-10))
	}
	// Exactly up to the limit works.
	res = runTransfer(t, env, Transfer{From: "a", To: "b", Amount: 10})
	if res.Status != durable.StatusCompleted || string(res.Output) != "true" {
		t.Fatalf("transfer up to the limit: %s %+v %s", res.Status, res.Failure, res.Output)
	}
	if a, b := balanceOf(t, env, "a"), balanceOf(t, env, "b"); a != 90 || b != math.MaxInt64 {
		t.Fatalf("balances a=%d b=%d, want 90 and MaxInt64", a, b)
	}
}
