package bank

import (
	"context"
	"testing"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
)

func newEnv(t *testing.T, balances map[string]int64) *durabletest.Env {
	t.Helper()
	reg := durable.NewRegistry()
	Register(reg)
	env := durabletest.New(reg)
	for k, b := range balances {
		if err := env.SetEntityState(durable.NewEntityID(EntityName, k), b); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

func balanceOf(t *testing.T, env *durabletest.Env, key string) int64 {
	t.Helper()
	var b int64
	if _, err := env.EntityState(durable.NewEntityID(EntityName, key), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func runTransfer(t *testing.T, env *durabletest.Env, tr Transfer) *durabletest.Result {
	t.Helper()
	res, err := env.Run(Orchestrator, tr)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Status.IsTerminal() {
		t.Fatalf("transfer %+v did not finish: %s", tr, res.Status)
	}
	return res
}

// The transfer locks both accounts in one sorted lock set, whatever the direction, and
// releases each exactly once, whether it moves the money or finds too little.
func TestTransferReleasesBothLocks(t *testing.T) {
	a, b := durable.NewEntityID(EntityName, "a"), durable.NewEntityID(EntityName, "b")
	for _, c := range []struct {
		balance int64
		want    string
	}{{10, "false"}, {100, "true"}} {
		env := newEnv(t, map[string]int64{"b": c.balance})
		res := runTransfer(t, env, Transfer{From: "b", To: "a", Amount: 50})
		if res.Status != durable.StatusCompleted || string(res.Output) != c.want {
			t.Fatalf("balance %d: %s %s %+v, want %s", c.balance, res.Status, res.Output, res.Failure, c.want)
		}
		if got := res.History.LockRequests(); len(got) != 1 || len(got[0]) != 2 || got[0][0] != a || got[0][1] != b {
			t.Fatalf("lock requests %v, want one sorted [a b]", got)
		}
		unlocks := map[durable.EntityID]int{}
		for _, id := range res.History.Unlocks() {
			unlocks[id]++
		}
		if len(unlocks) != 2 || unlocks[a] != 1 || unlocks[b] != 1 {
			t.Fatalf("balance %d: unlocks %v, want one per account (result %s)", c.balance, unlocks, res.Output)
		}
		for _, id := range []durable.EntityID{a, b} {
			if s, err := env.Client().ReadEntity(context.Background(), id); err != nil || s.LockedBy != "" {
				t.Fatalf("%s after the transfer: %+v %v", id, s, err)
			}
		}
	}
}
