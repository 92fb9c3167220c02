package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// TestSweepWakesStrandedInbox: a sender died after writing an inbox row but before
// enqueueing its wake-up. The maintenance sweep finds the row and the signal applies.
func TestSweepWakesStrandedInbox(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	ctx := testenv.Context(t, 30*time.Second)
	id := durable.NewEntityID("counter_entity", "stranded")
	env := &engine.Envelope{ID: "~client|stranded-1", Op: &engine.EntityOp{Kind: engine.OpSignal, Operation: "add", Input: json.RawMessage("9")}}
	body, _ := json.Marshal(env)
	row := &storage.Row{PartitionKey: storage.EscapeKey(id.String()), RowKey: "i" + storage.EscapeKey(env.ID), Props: map[string]any{}}
	if err := storage.SetChunked(row.Props, "Body", body); err != nil {
		t.Fatal(err)
	}
	if err := w.App.Hub.Instances().Insert(ctx, row); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if v := counterValue(t, w.Server.URL, "stranded"); v != 0 {
		t.Fatalf("applied without a wake-up: %d", v)
	}
	n, err := w.App.Hub.Sweep(ctx, &engine.SweepOptions{MinAge: time.Millisecond})
	if err != nil || n != 1 {
		t.Fatalf("sweep woke %d instances (%v), want 1", n, err)
	}
	waitCounter(t, w.Server.URL, "stranded", 9, 20*time.Second)
}

// TestStandaloneKeys: with keys configured, function-level routes need one;
// anonymous routes do not.
func TestStandaloneKeys(t *testing.T) {
	h := newHarness(t, env{"AZURE_FUNCTIONS_ENVIRONMENT": "Production", "FUNCTIONS_MASTER_KEY": "master-secret", "FUNCTIONS_HOST_KEYS": "default=host-secret"})
	w := h.startWorker()
	base := w.Server.URL
	cases := []struct {
		name, method, path string
		headers            []string
		status             int
	}{
		{"no key", "GET", "/api/counter", nil, http.StatusUnauthorized},
		{"wrong key", "GET", "/api/counter?code=nope", nil, http.StatusUnauthorized},
		{"host key in query", "GET", "/api/counter?code=host-secret", nil, http.StatusOK},
		{"host key in header", "GET", "/api/counter", []string{"x-functions-key", "host-secret"}, http.StatusOK},
		{"master key", "POST", "/api/counter/add?value=1", []string{"x-functions-key", "master-secret"}, http.StatusAccepted},
		{"anonymous status route", "GET", "/api/status/none", nil, http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, c.method, base+c.path, "", c.headers...)
			if r.Status != c.status {
				t.Fatalf("%d, want %d: %s", r.Status, c.status, r.Body)
			}
			if r.Status == http.StatusUnauthorized && r.JSON(t)["error"] == nil {
				t.Fatalf("401 without error body: %s", r.Body)
			}
		})
	}
}
