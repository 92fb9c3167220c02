package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const maxInt = "9223372036854775807"

// TestSampleRoutesRefuseOutOfRange: every sample route answers 400 with a JSON error
// for numbers it can tell are out of range, and arithmetic at the int64 limits fails
// the entity operation (the orchestration that called it fails with the reason)
// instead of wrapping, leaving the state as it was.
func TestSampleRoutesRefuseOutOfRange(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL + "/api"
	jsonCT := []string{"Content-Type", "application/json"}

	t.Run("refused at the edge", func(t *testing.T) {
		cases := []struct{ method, path, body string }{
			{"POST", "/counter/edge/add?value=9223372036854775808", ""},
			{"POST", "/counter/edge/add?value=-9223372036854775809", ""},
			{"POST", "/counter/edge/add", `{"value": 9223372036854775808}`},
			{"POST", "/counter/edge/add", `{"value": 1e19}`},
			{"POST", "/counter/edge/add", `{"value": 1.5}`},
			{"POST", "/bank/edge/deposit?amount=9223372036854775808", ""},
			{"POST", "/bank/edge/deposit?amount=-1", ""},
			{"POST", "/bank/edge/deposit?amount=0", ""},
			{"POST", "/bank/transfer", `{"from": "a", "to": "b", "amount": 9223372036854775808}`},
			{"POST", "/bank/transfer", `{"from": "a", "to": "b", "amount": -1}`},
			{"POST", "/bank/transfer", `{"from": "a", "to": "b", "amount": 2.5}`},
			{"POST", "/scoreboard/edge?operation=add", `{"avenger_name": "Thor", "combos_executed": 9223372036854775808, "win": 0}`},
			{"POST", "/scoreboard/edge?operation=add", `{"avenger_name": "Thor", "combos_executed": 1, "win": -1}`},
			{"POST", "/scoreboard/edge?operation=add", `{"avenger_name": "Thor", "combos_executed": 1, "win": 1e30}`},
			{"POST", "/circuit/edge/configure", `{"threshold": 9223372036854775808}`},
			{"POST", "/circuit/edge/configure", `{"threshold": -1}`},
			{"POST", "/circuit/edge/configure", `{"windowSeconds": 99999999999}`},
		}
		for _, c := range cases {
			r := do(t, c.method, base+c.path, c.body, jsonCT...)
			var e map[string]any
			if r.Status != http.StatusBadRequest || json.Unmarshal(r.Body, &e) != nil || e["error"] == nil {
				t.Errorf("%s %s %s: %d %s, want 400 with a JSON error", c.method, c.path, c.body, r.Status, r.Body)
			}
		}
	})

	accepted := func(t *testing.T, method, path, body string) map[string]any {
		t.Helper()
		r := do(t, method, base+path, body, jsonCT...)
		if r.Status != http.StatusAccepted {
			t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
		return r.JSON(t)
	}
	getInt := func(t *testing.T, path, field string) string {
		t.Helper()
		r := do(t, "GET", base+path, "")
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(string(r.Body)))
		dec.UseNumber()
		if r.Status != 200 || dec.Decode(&m) != nil {
			return fmt.Sprintf("%d %s", r.Status, r.Body)
		}
		return fmt.Sprint(m[field])
	}
	waitInt := func(t *testing.T, path, field, want string) {
		t.Helper()
		eventually(t, 20*time.Second, path+" = "+want, func() (bool, string) {
			got := getInt(t, path, field)
			return got == want, got
		})
	}

	t.Run("counter", func(t *testing.T) {
		accepted(t, "POST", "/counter/full/add?value="+maxInt, "")
		waitInt(t, "/counter/full", "value", maxInt)
		accepted(t, "POST", "/counter/full/add?value=1", "")  // refused by the entity
		accepted(t, "POST", "/counter/full/add?value=-7", "") // applied after it
		waitInt(t, "/counter/full", "value", strconv.FormatInt(math.MaxInt64-7, 10))
		accepted(t, "POST", "/counter/low/add?value=-9223372036854775808", "")
		accepted(t, "POST", "/counter/low/add?value=-1", "")
		accepted(t, "POST", "/counter/low/add?value=3", "")
		waitInt(t, "/counter/low", "value", strconv.FormatInt(math.MinInt64+3, 10))
	})

	t.Run("bank", func(t *testing.T) {
		accepted(t, "POST", "/bank/full/deposit?amount="+maxInt, "")
		accepted(t, "POST", "/bank/src/deposit?amount=10", "")
		waitInt(t, "/bank/full", "balance", maxInt)
		waitInt(t, "/bank/src", "balance", "10")
		accepted(t, "POST", "/bank/full/deposit?amount=1", "") // refused by the entity
		// The transfer's deposit is refused too: it fails, and the money goes back.
		id := accepted(t, "POST", "/bank/transfer", `{"from": "src", "to": "full", "amount": 5}`)["id"].(string)
		s := waitStatus(t, w.Server.URL, id, "Failed", 30*time.Second)
		if !strings.Contains(string(s.Result), "overflow") {
			t.Fatalf("failed transfer's result %s does not say why", s.Result)
		}
		if got := getInt(t, "/bank/full", "balance"); got != maxInt {
			t.Fatalf("full account: %s", got)
		}
		if got := getInt(t, "/bank/src", "balance"); got != "10" {
			t.Fatalf("source account after the refused transfer: %s, want 10", got)
		}
	})

	t.Run("scoreboard", func(t *testing.T) {
		id := accepted(t, "POST", "/scoreboard/full?operation=add", `{"avenger_name": "Thor", "combos_executed": `+maxInt+`, "win": 1}`)["id"].(string)
		waitStatus(t, w.Server.URL, id, "Completed", 30*time.Second)
		id = accepted(t, "POST", "/scoreboard/full?operation=add", `{"avenger_name": "Thor", "combos_executed": 1, "win": 1}`)["id"].(string)
		s := waitStatus(t, w.Server.URL, id, "Failed", 30*time.Second)
		if !strings.Contains(string(s.Result), "overflow") {
			t.Fatalf("failed update's result %s does not say why", s.Result)
		}
		r := do(t, "GET", base+"/scoreboard/full", "")
		if !strings.Contains(string(r.Body), `"total_combos":`+maxInt) || !strings.Contains(string(r.Body), `"total_wins":1`) {
			t.Fatalf("board after the refused update: %s", r.Body)
		}
	})
}
