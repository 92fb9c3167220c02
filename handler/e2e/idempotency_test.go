package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestIdempotencyKey(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL
	add := func(key string) {
		r := do(t, "POST", base+"/api/counter/idem/add?value=10", "", "Idempotency-Key", key)
		if r.Status != http.StatusAccepted {
			t.Fatalf("add: %d %s", r.Status, r.Body)
		}
	}
	add("k1")
	add("k1") // retried while the first may still be pending
	waitCounter(t, base, "idem", 10, 20*time.Second)
	add("k1") // retried after the first was applied
	add("k2")
	waitCounter(t, base, "idem", 20, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	if v := counterValue(t, base, "idem"); v != 20 {
		t.Fatalf("counter %d after retries, want 20", v)
	}

	startKeyed := func(key string) string {
		r := do(t, "POST", base+"/api/orchestrators/chaining", "", "Idempotency-Key", key)
		if r.Status != http.StatusAccepted {
			t.Fatalf("start: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)["id"].(string)
	}
	a := startKeyed("order-1")
	waitStatus(t, base, a, "Completed", 30*time.Second)
	if b := startKeyed("order-1"); b != a {
		t.Fatalf("same key started a second instance: %s vs %s", a, b)
	}
	if c := startKeyed("order-2"); c == a {
		t.Fatal("different keys share an instance")
	}
	if r := do(t, "POST", base+"/api/counter/idem/add", "", "Idempotency-Key", strings.Repeat("k", 300)); r.Status != http.StatusBadRequest {
		t.Fatalf("over-long key: %d", r.Status)
	}
}
