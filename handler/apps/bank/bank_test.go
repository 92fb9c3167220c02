package bank

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/replay"
)

// drive runs the transfer orchestration to completion, answering each action as the
// engine would, one episode per answer, and returns every action issued.
func drive(t *testing.T, balance int64) ([]history.Event, *replay.Result) {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in, _ := json.Marshal(Transfer{From: "b", To: "a", Amount: 50})
	var past []history.Event
	next := []history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: now}, {Type: history.ExecutionStarted, ID: -1, Name: Orchestrator, Input: in, InstanceID: "t1", ExecutionID: "x"}}
	var all []history.Event
	for i := 0; i < 20; i++ {
		res := replay.Execute(TransferOrchestration, past, next, replay.Options{})
		past = append(past, res.NewEvents...)
		all = append(all, res.Actions...)
		if res.Status != durable.StatusRunning {
			return all, res
		}
		next = []history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: now}}
		for _, a := range res.Actions {
			switch a.Type {
			case history.EntityLockRequested:
				next = append(next, history.Event{Type: history.EntityLockGranted, ID: -1, TaskID: a.ID})
			case history.EntityCalled:
				r, _ := json.Marshal(balance)
				next = append(next, history.Event{Type: history.EntityCompleted, ID: -1, TaskID: a.ID, Result: r})
			}
		}
	}
	t.Fatal("did not finish")
	return nil, nil
}

func TestTransferReleasesBothLocks(t *testing.T) {
	for _, bal := range []int64{10, 100} {
		actions, res := drive(t, bal)
		unlocks := map[string]int{}
		var lockSet []durable.EntityID
		for _, a := range actions {
			switch a.Type {
			case history.EntityUnlockSent:
				unlocks[a.Entity.String()]++
			case history.EntityLockRequested:
				lockSet = a.LockSet
			}
		}
		if len(lockSet) != 2 || lockSet[0].Key != "a" {
			t.Fatalf("lock set %v, want sorted [a b]", lockSet)
		}
		if unlocks["@account_entity@a"] != 1 || unlocks["@account_entity@b"] != 1 {
			t.Fatalf("balance %d: unlocks %v, want one per account (result %s)", bal, unlocks, res.Output)
		}
	}
}
