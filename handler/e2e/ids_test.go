package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps/bank"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// TestInvalidIDsAndKeys: every route that takes an instance id, entity name or key
// refuses ids that are not UTF-8 (storage would silently map %FE and %FF onto one
// row) or too long for a table key, with a 400 that names the problem, fast, without
// writing anything and without storage details in the answer.
func TestInvalidIDsAndKeys(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	long := strings.Repeat("k", 600)                      // passed validation before, then failed in storage
	justOver := strings.Repeat("k", engine.MaxIDLength+1) // one byte over the instance id limit
	keyOver := strings.Repeat("k", engine.MaxIDLength-15) // "@account_entity@" + this is one over
	const mg = "/api/runtime/webhooks/durabletask"
	var cases []refusal
	for _, bad := range []struct{ name, seg string }{{"utf8", "%FF"}, {"utf8-pair", "a%FE%FFb"}, {"long", long}, {"just-over", justOver}} {
		for _, c := range []refusal{
			{name: "status", method: "GET", path: "/api/status/" + bad.seg},
			{name: "start", method: "POST", path: "/api/orchestrators/chaining/" + bad.seg},
			{name: "counter-get", method: "GET", path: "/api/counter/" + bad.seg},
			{name: "counter-add", method: "POST", path: "/api/counter/" + bad.seg + "/add"},
			{name: "bank-get", method: "GET", path: "/api/bank/" + bad.seg},
			{name: "bank-deposit", method: "POST", path: "/api/bank/" + bad.seg + "/deposit?amount=1"},
			{name: "scoreboard-get", method: "GET", path: "/api/scoreboard/" + bad.seg},
			{name: "scoreboard-reset", method: "POST", path: "/api/scoreboard/" + bad.seg + "?operation=reset"},
			{name: "circuit-get", method: "GET", path: "/api/circuit/" + bad.seg},
			{name: "circuit-reset", method: "POST", path: "/api/circuit/" + bad.seg + "/reset"},
			{name: "mgmt-status", method: "GET", path: mg + "/instances/" + bad.seg},
			{name: "mgmt-terminate", method: "POST", path: mg + "/instances/" + bad.seg + "/terminate"},
			{name: "mgmt-raise", method: "POST", path: mg + "/instances/" + bad.seg + "/raiseEvent/go"},
			{name: "mgmt-purge", method: "DELETE", path: mg + "/instances/" + bad.seg},
			{name: "mgmt-start", method: "POST", path: mg + "/orchestrators/chaining/" + bad.seg},
			{name: "mgmt-entity-get", method: "GET", path: mg + "/entities/counter_entity/" + bad.seg},
			{name: "mgmt-entity-signal", method: "POST", path: mg + "/entities/counter_entity/" + bad.seg + "?op=add"},
			{name: "mgmt-entity-delete", method: "DELETE", path: mg + "/entities/counter_entity/" + bad.seg},
		} {
			c.name = bad.name + "/" + c.name
			c.status = http.StatusBadRequest
			cases = append(cases, c)
		}
	}
	cases = append(cases,
		refusal{name: "mgmt-list-prefix", method: "GET", path: mg + "/instances?instanceIdPrefix=%FF", status: http.StatusBadRequest},
		refusal{name: "mgmt-entity-name", method: "GET", path: mg + "/entities/%FF/k", status: http.StatusBadRequest},
		refusal{name: "transfer-utf8-ok-but-long", method: "POST", path: "/api/bank/transfer", body: `{"from":"` + keyOver + `","to":"b","amount":1}`, status: http.StatusBadRequest},
	)
	start := time.Now()
	expectRefusals(t, w, cases)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("%d refusals took %s: refusals must not wait for storage retries", len(cases), d)
	}
	// No storage details in any answer.
	for _, c := range cases[:4] {
		r := do(t, c.method, w.Server.URL+c.path, c.body)
		for _, leak := range []string{"devstoreaccount1", "127.0.0.1", "Instances", "RESPONSE"} {
			if strings.Contains(string(r.Body), leak) {
				t.Errorf("%s: answer leaks %q: %s", c.name, leak, r.Body)
			}
		}
	}
}

// TestLongestIDsWork: an instance id and entity keys exactly at the limit go through
// the longest row keys the engine writes (a critical section: lock requests and calls
// land in the accounts' inboxes under the orchestration's id and execution).
func TestLongestIDsWork(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	hub := w.App.Hub
	ctx := testenv.Context(t, time.Minute)           // one byte too long a row key never commits: it would hang
	pad := func(prefix string, escaped int) string { // escaped: length once escaped
		return prefix + strings.Repeat("a", escaped-len(prefix)-2) // '/' escapes to 3 bytes
	}
	instance := pad("x/", engine.MaxIDLength)
	from := pad("f/", engine.MaxIDLength-len("@account_entity@"))
	to := pad("t/", engine.MaxIDLength-len("@account_entity@"))
	for _, id := range []durable.EntityID{durable.NewEntityID(bank.EntityName, from), durable.NewEntityID(bank.EntityName, to)} {
		if err := engine.ValidateEntityID(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := hub.SignalEntity(ctx, durable.NewEntityID(bank.EntityName, from), "deposit", json.RawMessage("10"), nil); err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(bank.Transfer{From: from, To: to, Amount: 7})
	if _, err := hub.StartOrchestration(ctx, bank.Orchestrator, instance, in); err != nil {
		t.Fatal(err)
	}
	s, err := hub.WaitForCompletion(ctx, instance, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if s.RuntimeStatus != durable.StatusCompleted || string(s.Output) != "true" {
		t.Fatalf("transfer with the longest ids: %s %s %+v", s.RuntimeStatus, s.Output, s.Failure)
	}
	snap, err := hub.ReadEntity(ctx, durable.NewEntityID(bank.EntityName, to))
	if err != nil || string(snap.State) != "7" {
		t.Fatalf("destination balance %s, %v", snap.State, err)
	}
}
