package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/handler/apps/circuitbreaker"
)

func circuitStatus(t testing.TB, base, name string) circuitbreaker.Status {
	t.Helper()
	r := do(t, "GET", base+"/api/circuit/"+name, "")
	var s circuitbreaker.Status
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &s) != nil {
		t.Fatalf("GET circuit %s: %d %s", name, r.Status, r.Body)
	}
	return s
}

func waitCircuit(t testing.TB, base, name, what string, cond func(circuitbreaker.Status) bool) circuitbreaker.Status {
	t.Helper()
	var last circuitbreaker.Status
	eventually(t, 20*time.Second, "circuit "+name+" "+what, func() (bool, string) {
		last = circuitStatus(t, base, name)
		return cond(last), fmt.Sprintf("%+v", last)
	})
	return last
}

func postCircuit(t testing.TB, base, name, action, body string) {
	t.Helper()
	r := do(t, "POST", base+"/api/circuit/"+name+"/"+action, body, "Content-Type", "application/json")
	if r.Status != http.StatusAccepted || r.JSON(t)["status"] != "accepted" {
		t.Fatalf("POST %s/%s %s: %d %s", name, action, body, r.Status, r.Body)
	}
}

func TestCircuitBreakerHTTP(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL

	s := circuitStatus(t, base, "payments")
	if s != (circuitbreaker.Status{Name: "payments", State: "closed", Threshold: 5, WindowSeconds: 60}) {
		t.Fatalf("new circuit: %+v", s)
	}

	postCircuit(t, base, "payments", "configure", `{"threshold": 3, "windowSeconds": 60}`)
	waitCircuit(t, base, "payments", "configured", func(s circuitbreaker.Status) bool {
		return s.Threshold == 3 && s.WindowSeconds == 60
	})

	postCircuit(t, base, "payments", "failure", "")
	postCircuit(t, base, "payments", "failure", fmt.Sprintf(`{"at": %q}`, time.Now().UTC().Format(time.RFC3339Nano)))
	waitCircuit(t, base, "payments", "with 2 failures", func(s circuitbreaker.Status) bool { return s.Failures == 2 })
	if s := circuitStatus(t, base, "payments"); s.State != "closed" {
		t.Fatalf("opened below the threshold: %+v", s)
	}
	postCircuit(t, base, "payments", "failure", "")
	s = waitCircuit(t, base, "payments", "open", func(s circuitbreaker.Status) bool { return s.State == "open" })
	if s.Failures != 3 || s.OpenedAt == nil {
		t.Fatalf("open circuit: %+v", s)
	}

	// A success does not close an open circuit; reset does, keeping the configuration.
	postCircuit(t, base, "payments", "success", "")
	postCircuit(t, base, "payments", "reset", "")
	s = waitCircuit(t, base, "payments", "closed again", func(s circuitbreaker.Status) bool { return s.State == "closed" })
	if s.Failures != 0 || s.Threshold != 3 || s.OpenedAt != nil {
		t.Fatalf("after reset: %+v", s)
	}

	// Circuits are independent entities, and action names are case-insensitive.
	postCircuit(t, base, "search", "CONFIGURE", `{"threshold": 1}`)
	postCircuit(t, base, "search", "Failure", "")
	waitCircuit(t, base, "search", "open", func(s circuitbreaker.Status) bool { return s.State == "open" && s.Threshold == 1 })
	if s := circuitStatus(t, base, "payments"); s.State != "closed" || s.Failures != 0 {
		t.Fatalf("another circuit's failure changed payments: %+v", s)
	}
}

func TestCircuitBreakerBadInput(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	expectRefusals(t, w, []refusal{
		{"configure malformed JSON", "POST", "/api/circuit/c/configure", `{"threshold":`, 400},
		{"configure without body", "POST", "/api/circuit/c/configure", "", 400},
		{"configure zero threshold", "POST", "/api/circuit/c/configure", `{"threshold":0,"windowSeconds":60}`, 400},
		{"configure negative window", "POST", "/api/circuit/c/configure", `{"threshold":3,"windowSeconds":-1}`, 400},
		{"configure fractional threshold", "POST", "/api/circuit/c/configure", `{"threshold":1.5}`, 400},
		{"configure unknown field", "POST", "/api/circuit/c/configure", `{"treshold":3}`, 400},
		{"failure with bad time", "POST", "/api/circuit/c/failure", `{"at":"yesterday"}`, 400},
		{"failure malformed JSON", "POST", "/api/circuit/c/failure", `{`, 400},
		{"unknown action", "POST", "/api/circuit/c/explode", "", 404},
		{"unknown action on GET", "GET", "/api/circuit/c/explode", "", 404},
		{"too deep", "GET", "/api/circuit/c/failure/x", "", 404},
		{"no name", "GET", "/api/circuit", "", 404},
		{"GET on an action", "GET", "/api/circuit/c/failure", "", 405},
		{"POST without an action", "POST", "/api/circuit/c", "", 405},
		{"wrong method", "DELETE", "/api/circuit/c", "", 405},
	})
}
