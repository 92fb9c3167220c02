package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/testenv"
)

// TestPoisonMessagesAreRecorded: a message that can never be processed lands in
// <queue>-poison with its reason readable through the hub (and the CLI).
func TestPoisonMessagesAreRecorded(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	ctx := testenv.Context(t, 30*time.Second)
	acct := w.App.Hub.Account()
	qname := h.hub + "-orchestrator"
	q, err := acct.Queue(ctx, qname)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Send(ctx, "this is not a wake-up", 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "poison record", func() (bool, string) {
		recs, err := w.App.Hub.ListPoison(ctx)
		if err != nil || len(recs) == 0 {
			return false, "none"
		}
		r := recs[0]
		return r.Queue == qname && r.Text == "this is not a wake-up" && strings.Contains(r.Reason, "not a wake-up"), r.Reason
	})
	pq, err := acct.Queue(ctx, qname+"-poison")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := pq.Receive(ctx, 32, time.Second)
	if err != nil || len(msgs) != 1 || msgs[0].Text != "this is not a wake-up" {
		t.Fatalf("poison queue: %v %+v", err, msgs)
	}
}
