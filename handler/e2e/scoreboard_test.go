package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
)

func TestScoreboard(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL
	post := func(q, body string) string {
		r := do(t, "POST", base+"/api/scoreboard?"+q, body, "Content-Type", "application/json")
		if r.Status != http.StatusAccepted {
			t.Fatalf("POST ?%s %s: %d %s", q, body, r.Status, r.Body)
		}
		m := r.JSON(t)
		if m["statusQueryGetUri"] == nil || r.Header.Get("Location") == "" {
			t.Fatalf("no status URLs: %s", r.Body)
		}
		return m["id"].(string)
	}
	id := post("operation=add", `{"avenger_name": "BlackWidow", "combos_executed": 3, "win": 0}`)
	waitStatus(t, base, id, "Completed", 30*time.Second)
	id = post("operation=add", `{"avenger_name": "BlackWidow", "combos_executed": 2, "win": 1}`)
	s := waitStatus(t, base, id, "Completed", 30*time.Second)
	want := `{"BlackWidow":{"total_combos":5,"total_wins":1}}`
	if compactJSON(t, s.Result) != want {
		t.Fatalf("orchestration result %s, want %s", s.Result, want)
	}
	post("operation=add", `{"avenger_name": "Hulk", "combos_executed": 7, "win": 1}`)
	eventually(t, 30*time.Second, "board with two characters", func() (bool, string) {
		r := do(t, "GET", base+"/api/scoreboard", "")
		return strings.Contains(string(r.Body), "Hulk"), string(r.Body)
	})
	bad := []string{
		`{"combos_executed": 3, "win": 0}`,
		`{"avenger_name": "X", "combos_executed": -1, "win": 0}`,
		`{"avenger_name": "X", "combos_executed": 1.5, "win": 0}`,
		`{"avenger_name": "X", "combos_executed": "3"}`,
		`{"avenger_name": "X", "win": -2}`,
		`{"avenger_name":`,
	}
	for _, b := range bad {
		if r := do(t, "POST", base+"/api/scoreboard?operation=add", b); r.Status != 400 || r.JSON(t)["error"] == nil {
			t.Fatalf("bad record %s: %d %s", b, r.Status, r.Body)
		}
	}
	for _, q := range []string{"", "operation=multiply"} {
		if r := do(t, "POST", base+"/api/scoreboard?"+q, ""); r.Status != 400 {
			t.Fatalf("?%s: %d %s", q, r.Status, r.Body)
		}
	}
	id = post("operation=reset", "")
	waitStatus(t, base, id, "Completed", 30*time.Second)
	if r := do(t, "GET", base+"/api/scoreboard", ""); strings.TrimSpace(string(r.Body)) != "{}" {
		t.Fatalf("after reset: %s", r.Body)
	}
}

func compactJSON(t testing.TB, b []byte) string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// lockRules violates each critical-section rule once and reports the errors.
func lockRules(ctx durable.OrchestrationContext) (any, error) {
	a, b, c := counterID("la"), counterID("lb"), counterID("lc")
	unlock, lock := ctx.LockEntities(b, a)
	if err := lock.Await(nil); err != nil {
		return nil, err
	}
	out := map[string]string{}
	msg := func(err error) string {
		var le *durable.LockingRulesError
		if errors.As(err, &le) {
			return le.Rule
		}
		if err == nil {
			return "no error"
		}
		return "other: " + err.Error()
	}
	_, nested := ctx.LockEntities(c)
	out["nested"] = msg(nested.Await(nil))
	out["suborchestration"] = msg(ctx.CallSubOrchestrator("chaining", nil, nil).Await(nil))
	out["unlocked"] = msg(ctx.CallEntity(c, "get", nil).Await(nil))
	t1 := ctx.CallEntity(a, "add", 1)
	t2 := ctx.CallEntity(a, "add", 1)
	out["parallel"] = msg(t2.Await(nil))
	if err := t1.Await(nil); err != nil {
		return nil, err
	}
	var v int
	if err := ctx.CallEntity(a, "get", nil).Await(&v); err != nil {
		return nil, err
	}
	out["lockedCallWorks"] = map[bool]string{true: "yes", false: "no"}[v == 1]
	unlock()
	// After the section, the same calls are fine.
	out["afterUnlock"] = msg(ctx.CallEntity(c, "get", nil).Await(nil))
	return out, nil
}

func TestCriticalSectionRules(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startCustomWorker(testRoot(t), func(reg *durable.Registry) {
		reg.AddOrchestrator("lock_rules", lockRules)
		reg.AddOrchestrator("signal_locked", func(ctx durable.OrchestrationContext) (any, error) {
			unlock, lock := ctx.LockEntities(counterID("sa"))
			if err := lock.Await(nil); err != nil {
				return nil, err
			}
			defer unlock()
			ctx.SignalEntity(counterID("sa"), "add", 1)
			return "unreachable", nil
		})
	})
	base := w.Server.URL
	id := start(t, base, "lock_rules", "")
	s := waitStatus(t, base, id, "Completed", 30*time.Second)
	var out map[string]string
	if err := json.Unmarshal(s.Result, &out); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"nested": "nest", "suborchestration": "sub-orchestration", "unlocked": "not locked", "parallel": "parallel", "lockedCallWorks": "yes", "afterUnlock": "no error"} {
		if !strings.Contains(out[k], want) {
			t.Errorf("%s: %q, want it to mention %q", k, out[k], want)
		}
	}
	id = start(t, base, "signal_locked", "")
	f := waitStatus(t, base, id, "Failed", 30*time.Second)
	if !strings.Contains(string(f.Result), "signal") {
		t.Fatalf("signal to a locked entity: %s", f.Result)
	}
	// Locks are released when an orchestration fails inside its section.
	ctx := t.Context()
	eventually(t, 20*time.Second, "lock released after failure", func() (bool, string) {
		snap, err := w.App.Hub.ReadEntity(ctx, counterID("sa"))
		return err == nil && snap.LockedBy == "", snap.LockedBy
	})
}
