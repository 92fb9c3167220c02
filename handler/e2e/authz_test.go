package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/testenv"
	"github.com/google/uuid"
)

// TestPublicStarterAllowList: a function key for the generic starter starts only the
// orchestrators the app declares; others (transfer moves money) get exactly the 404 of
// an unknown name, and write nothing. The management API (master key) still can.
func TestPublicStarterAllowList(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL
	transfer := do(t, "POST", base+"/api/orchestrators/transfer", `{"from":"a","to":"b","amount":1}`)
	unknown := do(t, "POST", base+"/api/orchestrators/no_such_orchestrator", `{"from":"a","to":"b","amount":1}`)
	if transfer.Status != http.StatusNotFound || unknown.Status != http.StatusNotFound {
		t.Fatalf("transfer %d %s, unknown %d %s: want 404 for both", transfer.Status, transfer.Body, unknown.Status, unknown.Body)
	}
	if a, b := strings.ReplaceAll(string(transfer.Body), "transfer", "X"), strings.ReplaceAll(string(unknown.Body), "no_such_orchestrator", "X"); a != b {
		t.Fatalf("a registered but unlisted name is told apart from an unknown one: %s vs %s", transfer.Body, unknown.Body)
	}
	ctx := testenv.Context(t, 10*time.Second)
	if rows, _, err := w.App.Hub.Instances().Query(ctx, nil); err != nil || len(rows) != 0 {
		t.Fatalf("refused start wrote %d rows (%v)", len(rows), err)
	}
	for _, name := range []string{"chaining", "CHAINING"} {
		if r := do(t, "POST", base+"/api/orchestrators/"+name, ""); r.Status != http.StatusAccepted {
			t.Fatalf("listed orchestrator %s: %d %s", name, r.Status, r.Body)
		}
	}
	if r := do(t, "POST", base+"/api/runtime/webhooks/durabletask/orchestrators/transfer", `{"from":"a","to":"b","amount":1}`); r.Status != http.StatusAccepted {
		t.Fatalf("management start of transfer: %d %s", r.Status, r.Body)
	}
}

// TestIdempotentIDsAreSecret: ids derived from an Idempotency-Key are keyed by a
// per-app secret: two processes of one app agree on them with no configuration (even
// when both create the secret at once), another app (task hub) does not, and the old
// predictable UUIDv5 is gone. DURABLE_INSTANCE_ID_SECRET sets the secret explicitly.
func TestIdempotentIDsAreSecret(t *testing.T) {
	startKeyed := func(base, key string) string {
		t.Helper()
		r := do(t, "POST", base+"/api/orchestrators/chaining", "", "Idempotency-Key", key)
		if r.Status != http.StatusAccepted {
			t.Fatalf("start: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)["id"].(string)
	}
	h := newHarness(t, nil)
	w1, w2 := h.startWorker(), h.startWorker()
	var ids [2]string
	var wg sync.WaitGroup
	for i, w := range []*worker{w1, w2} {
		wg.Add(1)
		go func() { defer wg.Done(); ids[i] = startKeyed(w.Server.URL, "order-1") }()
	}
	wg.Wait()
	if ids[0] != ids[1] {
		t.Fatalf("two processes of one app derived different ids for one key: %s, %s", ids[0], ids[1])
	}
	// The derivation before: UUIDv5 under a namespace in the source.
	old := uuid.NewSHA1(uuid.MustParse("7b1f5b8e-4a8a-4d3e-9f0e-3c1d2b6a9e51"), []byte("idem|chaining|order-1")).String()
	if ids[0] == old {
		t.Fatalf("id %s is computable from the key alone", ids[0])
	}
	other := newHarness(t, nil).startWorker()
	if id := startKeyed(other.Server.URL, "order-1"); id == ids[0] {
		t.Fatalf("another app derived the same id %s", id)
	}
	secret := env{"DURABLE_INSTANCE_ID_SECRET": "an-explicit-secret-of-the-app"}
	a, b := newHarness(t, secret).startWorker(), newHarness(t, secret).startWorker()
	if x, y := startKeyed(a.Server.URL, "order-1"), startKeyed(b.Server.URL, "order-1"); x != y || x == ids[0] {
		t.Fatalf("with one configured secret: %s and %s (zero-config id %s)", x, y, ids[0])
	}
}

// TestForwardedHeadersTrustedOnlyWhenEnabled: check-status URLs carry the instance's
// link token (never the caller's key); X-Forwarded-Host must not point them elsewhere
// unless the app says a trusted proxy sets that header.
func TestForwardedHeadersTrustedOnlyWhenEnabled(t *testing.T) {
	const master = "the-master-key"
	for _, c := range []struct {
		name  string
		trust string
		want  func(base string) string
	}{
		{"default", "", func(base string) string { return base + "/api/runtime/webhooks/durabletask-links/instances/" }},
		{"trusted", "true", func(string) string {
			return "https://jobs.example.com/api/runtime/webhooks/durabletask-links/instances/"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			vars := env{"FUNCTIONS_MASTER_KEY": master}
			if c.trust != "" {
				vars["DURABLE_TRUST_FORWARDED_HEADERS"] = c.trust
			}
			w := newHarness(t, vars).startWorker()
			base := w.Server.URL
			r := do(t, "POST", base+"/api/orchestrators/chaining?code="+master, "", "X-Forwarded-Host", "jobs.example.com", "X-Forwarded-Proto", "https")
			if r.Status != http.StatusAccepted {
				t.Fatalf("start: %d %s", r.Status, r.Body)
			}
			m := r.JSON(t)
			for _, k := range []string{"statusQueryGetUri", "terminatePostUri", "purgeHistoryDeleteUri"} {
				u, _ := m[k].(string)
				if !strings.HasPrefix(u, c.want(base)) || strings.Contains(u, master) || !strings.Contains(u, "sig=") {
					t.Fatalf("%s = %s, want it under %s with a link token and no key", k, u, c.want(base))
				}
			}
			if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, c.want(base)) {
				t.Fatalf("Location %s", loc)
			}
		})
	}
}
