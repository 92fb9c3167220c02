package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
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

// TestIdempotencyKeyEveryRoute: every sample route that signals an entity or starts an
// orchestration honours Idempotency-Key: the same key twice (back to back, and again
// after the first was applied) applies once and answers the same; a different key
// applies again.
func TestIdempotencyKeyEveryRoute(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL + "/api"
	jsonCT := []string{"Content-Type", "application/json"}
	number := func(t *testing.T, path string, pick func(map[string]any) any) int64 {
		t.Helper()
		r := do(t, "GET", base+path, "")
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatalf("GET %s: %s", path, r.Body)
		}
		f, _ := pick(m).(float64)
		return int64(f)
	}
	field := func(names ...string) func(map[string]any) any {
		return func(m map[string]any) any {
			var v any = m
			for _, n := range names {
				o, _ := v.(map[string]any)
				v = o[n]
			}
			return v
		}
	}
	// Money for the transfers to move.
	if r := do(t, "POST", base+"/bank/idem-src/deposit?amount=1000", ""); r.Status != http.StatusAccepted {
		t.Fatalf("fund: %d %s", r.Status, r.Body)
	}

	routes := []struct {
		name, method, path, body string
		start                    bool                     // answers a check-status body (or statusUri) for an instance
		effect                   func(t *testing.T) int64 // how many times it was applied (nil: the instance id is the effect)
	}{
		{name: "counter add", method: "POST", path: "/counter/idem-c/add?value=1",
			effect: func(t *testing.T) int64 { return number(t, "/counter/idem-c", field("value")) }},
		{name: "bank deposit", method: "POST", path: "/bank/idem-d/deposit?amount=1",
			effect: func(t *testing.T) int64 { return number(t, "/bank/idem-d", field("balance")) }},
		{name: "bank transfer", method: "POST", path: "/bank/transfer", body: `{"from": "idem-src", "to": "idem-t", "amount": 1}`, start: true,
			effect: func(t *testing.T) int64 { return number(t, "/bank/idem-t", field("balance")) }},
		{name: "scoreboard add", method: "POST", path: "/scoreboard/idem-s?operation=add", body: `{"avenger_name": "Thor", "combos_executed": 1, "win": 0}`, start: true,
			effect: func(t *testing.T) int64 { return number(t, "/scoreboard/idem-s", field("Thor", "total_combos")) }},
		{name: "circuit failure", method: "POST", path: "/circuit/idem-cb/failure",
			effect: func(t *testing.T) int64 { return number(t, "/circuit/idem-cb", field("failures")) }},
		{name: "async job submit", method: "GET", path: "/submit/query?s=01/02/2025&e=28/02/2025", start: true},
		{name: "generic starter", method: "POST", path: "/orchestrators/chaining", start: true},
	}
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			send := func(key string) string {
				t.Helper()
				r := do(t, rt.method, base+rt.path, rt.body, append([]string{"Idempotency-Key", key}, jsonCT...)...)
				if r.Status != http.StatusAccepted && !(rt.name == "async job submit" && r.Status == http.StatusOK) {
					t.Fatalf("%s %s: %d %s", rt.method, rt.path, r.Status, r.Body)
				}
				return string(r.Body)
			}
			waitEffect := func(want int64) {
				t.Helper()
				if rt.effect == nil {
					return
				}
				eventually(t, 30*time.Second, fmt.Sprintf("%s applied %d times", rt.name, want), func() (bool, string) {
					got := rt.effect(t)
					return got == want, fmt.Sprint(got)
				})
			}
			// A start answers the same instance; a signal the same shape (a circuit
			// failure echoes the time of its request).
			same := func(a, b string) bool {
				if rt.start {
					return a == b
				}
				var ma, mb map[string]any
				_ = json.Unmarshal([]byte(a), &ma)
				_ = json.Unmarshal([]byte(b), &mb)
				keys := func(m map[string]any) string {
					var ks []string
					for k := range m {
						ks = append(ks, k)
					}
					sort.Strings(ks)
					return strings.Join(ks, ",")
				}
				return len(ma) > 0 && keys(ma) == keys(mb)
			}
			first := send("key-1")
			if again := send("key-1"); !same(first, again) {
				t.Fatalf("same key, different answers:\n%s\n%s", first, again)
			}
			waitEffect(1)
			if late := send("key-1"); !same(first, late) {
				t.Fatalf("same key after it was applied, different answer:\n%s\n%s", first, late)
			}
			other := send("key-2")
			if rt.start && other == first {
				t.Fatal("a different key got the same instance")
			}
			waitEffect(2)
			if rt.effect != nil {
				time.Sleep(300 * time.Millisecond)
				if got := rt.effect(t); got != 2 {
					t.Fatalf("applied %d times after two keys, want 2", got)
				}
			}
		})
	}
}
