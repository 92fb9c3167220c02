package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/testenv"
)

func TestCounterHTTP(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL

	if v := counterValue(t, base, ""); v != 0 {
		t.Fatalf("new counter: %d, want 0", v)
	}
	r := do(t, "POST", base+"/api/counter/add?value=3", "")
	if r.Status != http.StatusAccepted || r.JSON(t)["operation"] != "add" ||
		r.JSON(t)["message"] != "Signaled 'add' operation for durable entity 'counter_entity'." {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	do(t, "POST", base+"/api/counter/add?value=2", "")
	waitCounter(t, base, "", 5, 20*time.Second)

	// Body form and default of 1, on another key.
	do(t, "POST", base+"/api/counter/other/add", `{"value": 40}`, "Content-Type", "application/json")
	do(t, "POST", base+"/api/counter/other/add", "")
	waitCounter(t, base, "other", 41, 20*time.Second)

	if r := do(t, "POST", base+"/api/counter/reset", ""); r.Status != http.StatusAccepted {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	waitCounter(t, base, "", 0, 20*time.Second)
	if v := counterValue(t, base, "other"); v != 41 {
		t.Fatalf("reset of one key changed another: %d", v)
	}

	// Any operation passes through to the entity, which answers what it does not
	// support and keeps its state; a later add still applies.
	r = do(t, "POST", base+"/api/counter/other/multiply", `3`, "Content-Type", "application/json")
	if r.Status != http.StatusAccepted || r.JSON(t)["message"] != "Signaled 'multiply' operation for durable entity 'counter_entity'." {
		t.Fatalf("multiply: %d %s", r.Status, r.Body)
	}
	do(t, "POST", base+"/api/counter/other/add", "")
	waitCounter(t, base, "other", 42, 20*time.Second)
}

func TestCounterBadInput(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	expectRefusals(t, w, []refusal{
		{"non-numeric value", "POST", "/api/counter/add?value=abc", "", 400},
		{"float value", "POST", "/api/counter/add?value=1.5", "", 400},
		{"malformed JSON", "POST", "/api/counter/add", `{"value":`, 400},
		{"non-integer JSON", "POST", "/api/counter/add", `{"value":"x"}`, 400},
		{"oversize body", "POST", "/api/counter/add", `{"value":1,"pad":"` + strings.Repeat("x", 70<<10) + `"}`, 413},
		{"operation input not JSON", "POST", "/api/counter/multiply", "three", 400},
		{"unknown route", "GET", "/api/nothing-here", "", 404},
		{"too deep", "GET", "/api/counter/a/b", "", 404},
		{"wrong method", "DELETE", "/api/counter", "", 405},
	})
}

func TestCounterUnknownOperationIsAnErrorNotACrash(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	ctx := testenv.Context(t, 30*time.Second)
	id := durable.NewEntityID("counter_entity", "x")
	hub := w.App.Hub
	if err := hub.SignalEntity(ctx, id, "add", json.RawMessage("7"), nil); err != nil {
		t.Fatal(err)
	}
	if err := hub.SignalEntity(ctx, id, "explode", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := hub.SignalEntity(ctx, id, "add", json.RawMessage("1"), nil); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, w.Server.URL, "x", 8, 20*time.Second)
}

// TestCounterConcurrentAdds sends 1,000 add signals over HTTP at once; the sum must be exact.
func TestCounterConcurrentAdds(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	sendAdds(t, []string{w.Server.URL}, 1000, 64)
	waitCounter(t, w.Server.URL, "", 1000, 90*time.Second)
}

// TestCounterTwoWorkers runs two competing workers on one task hub.
func TestCounterTwoWorkers(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.startWorker(), h.startWorker()
	sendAdds(t, []string{a.Server.URL, b.Server.URL}, 1000, 64)
	waitCounter(t, a.Server.URL, "", 1000, 90*time.Second)
	time.Sleep(500 * time.Millisecond)
	if v := counterValue(t, b.Server.URL, ""); v != 1000 {
		t.Fatalf("after settling: %d, want 1000", v)
	}
}

func sendAdds(t *testing.T, bases []string, n, parallel int) {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var next atomic.Int64
	for p := 0; p < parallel; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				r := do(t, "POST", bases[int(i)%len(bases)]+"/api/counter/add?value=1", "")
				if r.Status != http.StatusAccepted {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d adds were not accepted", f, n)
	}
}

// TestRedeliveredWakeUpAppliesOnce delivers the same queue message twice, through the
// engine and through the host-protocol path: the signal is applied once.
func TestRedeliveredWakeUpAppliesOnce(t *testing.T) {
	h := newHarness(t, nil)
	a := h.newApp() // no pollers: this test is the only consumer
	ctx := testenv.Context(t, 30*time.Second)
	id := durable.NewEntityID("counter_entity", "dup")
	if err := a.Hub.SignalEntity(ctx, id, "add", json.RawMessage("5"), nil); err != nil {
		t.Fatal(err)
	}
	wake := []byte(fmt.Sprintf(`{"w":%q}`, id.String()))
	for i := 0; i < 2; i++ {
		if err := a.Hub.HandleWakeUp(ctx, wake); err != nil {
			t.Fatal(err)
		}
	}
	host, err := a.HostHandler()
	if err != nil {
		t.Fatal(err)
	}
	payload := fmt.Sprintf(`{"Data":{"msg":%q},"Metadata":{"DequeueCount":"2","Id":"\"m1\"","PopReceipt":"\"p\""}}`, fmt.Sprintf("%q", wake))
	for i := 0; i < 2; i++ {
		rec := postInvocation(t, host, "/counter_entity", payload)
		if rec.Code != 200 {
			t.Fatalf("host invocation: %d %s", rec.Code, rec.Body)
		}
	}
	snap, err := a.Hub.ReadEntity(ctx, id)
	if err != nil || string(snap.State) != "5" {
		t.Fatalf("state after redeliveries: %s %v, want 5", snap.State, err)
	}

	// An entity-to-entity message redelivered with the same sender sequence is dropped.
	env := &engine.Envelope{ID: engine.MessageID("@other@k", 1), Sender: "@other@k", Seq: 1, Op: &engine.EntityOp{Kind: engine.OpSignal, Operation: "add", Input: json.RawMessage("10")}}
	for i := 0; i < 2; i++ {
		if err := a.Hub.DeliverForTest(ctx, id.String(), env); err != nil {
			t.Fatal(err)
		}
		if err := a.Hub.Process(ctx, id.String()); err != nil {
			t.Fatal(err)
		}
	}
	snap, _ = a.Hub.ReadEntity(ctx, id)
	if string(snap.State) != "15" {
		t.Fatalf("state after duplicate sequenced message: %s, want 15", snap.State)
	}
}
