package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps/bank"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/durablego/durablefunctions/internal/testenv"
)

func balance(t testing.TB, base, acct string) int64 {
	t.Helper()
	r := do(t, "GET", base+"/api/bank/"+acct, "")
	var b struct{ Balance int64 }
	if r.Status != 200 || json.Unmarshal(r.Body, &b) != nil {
		t.Fatalf("balance %s: %d %s", acct, r.Status, r.Body)
	}
	return b.Balance
}

func TestBankTransferHTTP(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL
	if r := do(t, "POST", base+"/api/bank/alice/deposit?amount=100", ""); r.Status != 202 {
		t.Fatalf("deposit: %d %s", r.Status, r.Body)
	}
	eventually(t, 20*time.Second, "deposit applied", func() (bool, string) {
		b := balance(t, base, "alice")
		return b == 100, fmt.Sprint(b)
	})
	transfer := func(body string) string {
		r := do(t, "POST", base+"/api/bank/transfer", body)
		if r.Status != http.StatusAccepted {
			t.Fatalf("transfer %s: %d %s", body, r.Status, r.Body)
		}
		return r.JSON(t)["id"].(string)
	}
	ok := waitStatus(t, base, transfer(`{"from":"alice","to":"bob","amount":60}`), "Completed", 30*time.Second)
	no := waitStatus(t, base, transfer(`{"from":"alice","to":"bob","amount":60}`), "Completed", 30*time.Second)
	if string(ok.Result) != "true" || string(no.Result) != "false" {
		t.Fatalf("results %s, %s; want true then false", ok.Result, no.Result)
	}
	if a, b := balance(t, base, "alice"), balance(t, base, "bob"); a != 40 || b != 60 {
		t.Fatalf("balances alice %d bob %d, want 40 and 60", a, b)
	}
	for _, bad := range []string{`{"from":"a","to":"a","amount":1}`, `{"from":"a","to":"b","amount":-5}`, `{"from":"a","to":"b","amount":1.5}`, `{"from":"a"`, `{"from":"a","to":"b","amount":1,"x":1}`} {
		if r := do(t, "POST", base+"/api/bank/transfer", bad); r.Status != 400 {
			t.Fatalf("bad transfer %s: %d %s", bad, r.Status, r.Body)
		}
	}
}

// TestBankInvariant: 20 accounts, 500 concurrent transfers with random amounts over
// two standalone worker processes, one killed with SIGKILL midway and restarted. The
// total is conserved, no balance is negative, every transfer completes, and each
// account's balance is exactly what the transfers that reported success imply.
func TestBankInvariant(t *testing.T) {
	const accounts, transfers, initial = 20, 500, 1000
	h := newHarness(t, nil)
	p1, p2 := h.startProcess(""), h.startProcess("")
	client := h.newApp() // starts orchestrations and reads state; runs no pollers
	hub := client.Hub
	ctx := testenv.Context(t, 10*time.Minute)
	name := func(i int) string { return fmt.Sprintf("acct%02d", i) }
	for i := 0; i < accounts; i++ {
		if err := hub.SignalEntity(ctx, durable.NewEntityID(bank.EntityName, name(i)), "deposit", json.RawMessage(fmt.Sprint(initial)), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < accounts; i++ {
		eventually(t, 60*time.Second, "initial deposit of "+name(i), func() (bool, string) {
			b := balance(t, p1.URL, name(i))
			return b == initial, fmt.Sprint(b)
		})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	plan := make([]bank.Transfer, transfers)
	for i := range plan {
		from := rng.IntN(accounts)
		to := (from + 1 + rng.IntN(accounts-1)) % accounts
		plan[i] = bank.Transfer{From: name(from), To: name(to), Amount: int64(1 + rng.IntN(400))}
	}
	ids := make([]string, transfers)
	var wg sync.WaitGroup
	errs := make(chan error, transfers)
	for i := range plan {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, _ := json.Marshal(plan[i])
			id, err := hub.StartOrchestration(ctx, bank.Orchestrator, fmt.Sprintf("transfer-%03d", i), in)
			ids[i] = id
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Kill one worker once some transfers are done, then bring it back.
	eventually(t, 3*time.Minute, "some transfers done", func() (bool, string) {
		n := countDone(t, hub, ids)
		return n >= transfers/5, fmt.Sprint(n)
	})
	p1.Kill()
	killedAt := countDone(t, hub, ids)
	time.Sleep(2 * time.Second)
	p1 = h.startProcess(p1.addr)
	eventually(t, 8*time.Minute, "all transfers done", func() (bool, string) {
		n := countDone(t, hub, ids)
		return n == transfers, fmt.Sprint(n)
	})
	t.Logf("killed a worker after %d of %d transfers", killedAt, transfers)

	want := map[string]int64{}
	for i := 0; i < accounts; i++ {
		want[name(i)] = initial
	}
	moved := 0
	for i, id := range ids {
		s, err := hub.GetStatus(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.RuntimeStatus != durable.StatusCompleted {
			t.Fatalf("transfer %s ended %s: %+v", id, s.RuntimeStatus, s.Failure)
		}
		if string(s.Output) == "true" {
			want[plan[i].From] -= plan[i].Amount
			want[plan[i].To] += plan[i].Amount
			moved++
		} else if string(s.Output) != "false" {
			t.Fatalf("transfer %s returned %s", id, s.Output)
		}
	}
	var total int64
	for i := 0; i < accounts; i++ {
		b := balance(t, p2.URL, name(i))
		total += b
		if b < 0 {
			t.Fatalf("%s is overdrawn: %d", name(i), b)
		}
		if b != want[name(i)] {
			t.Fatalf("%s balance %d, but the successful transfers imply %d", name(i), b, want[name(i)])
		}
		snap, _ := hub.ReadEntity(ctx, durable.NewEntityID(bank.EntityName, name(i)))
		if snap.LockedBy != "" {
			holder, _, _ := strings.Cut(snap.LockedBy, "|")
			st, _ := hub.GetStatus(ctx, holder, &engine.StatusOptions{ShowHistory: true})
			for _, e := range st.History {
				t.Logf("holder history: %s id=%d task=%d entity=%v lockset=%v", e.Type, e.ID, e.TaskID, e.Entity, e.LockSet)
			}
			rows, _ := hub.Instances().QueryPartition(ctx, storage.EscapeKey(durable.NewEntityID(bank.EntityName, name(i)).String()))
			for _, r := range rows {
				t.Logf("entity row %s ts=%s lock=%s seqs=%s body=%.300s", r.RowKey, r.Timestamp, r.String("Lock"), storage.GetChunked(r, "Seqs"), storage.GetChunked(r, "Body"))
			}
			for _, p := range []*proc{p1, p2} {
				for _, l := range strings.Split(p.log.String(), "\n") {
					if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
						t.Logf("worker %s: %.400s", p.addr, l)
					}
				}
			}
			t.Fatalf("%s still locked by %s after every transfer finished", name(i), snap.LockedBy)
		}
	}
	if total != accounts*initial {
		t.Fatalf("total %d, want %d", total, accounts*initial)
	}
	t.Logf("%d of %d transfers moved money; total conserved at %d", moved, transfers, total)
}

func countDone(t testing.TB, hub *engine.Hub, ids []string) int {
	ctx := testenv.Context(t, time.Minute)
	n := 0
	for _, id := range ids {
		s, err := hub.GetStatus(ctx, id, nil)
		if err == nil && s.RuntimeStatus.IsTerminal() {
			n++
		}
	}
	return n
}
