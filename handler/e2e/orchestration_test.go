package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/durablego/durablefunctions/internal/testenv"
)

type publicStatus struct {
	ID     string          `json:"id"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result"`
}

func getStatus(t testing.TB, base, id string) (publicStatus, int) {
	t.Helper()
	r := do(t, "GET", base+"/api/status/"+id, "")
	var s publicStatus
	if r.Status == 200 {
		if err := json.Unmarshal(r.Body, &s); err != nil {
			t.Fatalf("status body %s: %v", r.Body, err)
		}
	}
	return s, r.Status
}

func waitStatus(t testing.TB, base, id, want string, within time.Duration) publicStatus {
	t.Helper()
	var s publicStatus
	eventually(t, within, fmt.Sprintf("instance %s %s", id, want), func() (bool, string) {
		var code int
		s, code = getStatus(t, base, id)
		if code != 200 {
			return false, fmt.Sprintf("HTTP %d", code)
		}
		if s.Status == "Failed" && want != "Failed" {
			t.Fatalf("instance %s failed: %s", id, s.Result)
		}
		return s.Status == want, s.Status + " " + string(s.Result)
	})
	return s
}

// start starts an orchestration over HTTP and checks the DF check-status answer.
func start(t testing.TB, base, name, body string) string {
	t.Helper()
	r := do(t, "POST", base+"/api/orchestrators/"+name, body, "Content-Type", "application/json")
	if r.Status != http.StatusAccepted {
		t.Fatalf("start %s: %d %s", name, r.Status, r.Body)
	}
	m := r.JSON(t)
	id, _ := m["id"].(string)
	for _, k := range []string{"statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri", "resumePostUri"} {
		if u, _ := m[k].(string); !strings.Contains(u, id) {
			t.Fatalf("check-status body lacks %s: %s", k, r.Body)
		}
	}
	if loc := r.Header.Get("Location"); loc != m["statusQueryGetUri"] {
		t.Fatalf("Location %q differs from statusQueryGetUri", loc)
	}
	return id
}

func TestChaining(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	id := start(t, w.Server.URL, "chaining", "")
	s := waitStatus(t, w.Server.URL, id, "Completed", 30*time.Second)
	if string(s.Result) != "45" {
		t.Fatalf("result %s, want 45", s.Result)
	}
	// The full status carries the history on request.
	st, err := w.App.Hub.GetStatus(testenv.Context(t, 5*time.Second), id, nil)
	if err != nil || st.Name != "chaining" || st.CreatedTime.IsZero() || st.LastUpdated.Before(st.CreatedTime) {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestFanOutFanIn(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	id := start(t, w.Server.URL, "fan_out_fan_in", `{"items": 100}`)
	s := waitStatus(t, w.Server.URL, id, "Completed", 60*time.Second)
	if want := sumSquares(100); string(s.Result) != fmt.Sprint(want) {
		t.Fatalf("result %s, want %d", s.Result, want)
	}
}

func sumSquares(n int) int {
	t := 0
	for i := 1; i <= n; i++ {
		t += i * i
	}
	return t
}

func TestHumanInteraction(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL
	ctx := testenv.Context(t, time.Minute)

	t.Run("approved by event", func(t *testing.T) {
		id := start(t, base, "approval", `{"item": "invoice-7"}`)
		eventually(t, 20*time.Second, "waiting for approval", func() (bool, string) {
			st, err := w.App.Hub.GetStatus(ctx, id, nil)
			if err != nil {
				return false, err.Error()
			}
			return string(st.CustomStatus) == `"waiting for approval"`, string(st.CustomStatus)
		})
		if err := w.App.Hub.RaiseEvent(ctx, id, "ApprovalEvent", json.RawMessage(`{"approved": true, "by": "ana"}`)); err != nil {
			t.Fatal(err)
		}
		s := waitStatus(t, base, id, "Completed", 20*time.Second)
		if string(s.Result) != `"processed invoice-7"` {
			t.Fatalf("result %s", s.Result)
		}
	})
	t.Run("escalated on timeout", func(t *testing.T) {
		id := start(t, base, "approval", `{"item": "invoice-8", "timeoutSeconds": 2}`)
		s := waitStatus(t, base, id, "Completed", 30*time.Second)
		if string(s.Result) != `"escalated invoice-8"` {
			t.Fatalf("result %s", s.Result)
		}
	})
}

func TestAsyncHTTPJob(t *testing.T) {
	h := newHarness(t, env{"AUDIT_TABLE": "audit" + h0(t)})
	w := h.startWorker()
	base := w.Server.URL
	ctx := testenv.Context(t, time.Minute)
	tbl, err := w.App.Hub.Account().Table(ctx, h.vars["AUDIT_TABLE"])
	if err != nil {
		t.Fatal(err)
	}
	rows := []struct{ pk, rk, cert, ident string }{
		{"2025-02-01", "1", "C1", "A"},
		{"2025-02-03", "2", "C2", "B"},
		{"2025-02-10", "3", "C3", "A"}, // duplicate identification number
		{"2025-02-11", "4", "", "C"},   // no certificate: excluded
		{"2025-03-01", "5", "C5", "D"}, // out of range
		{"2025-01-31", "6", "C6", "E"}, // out of range
		{"2025-02-28", "7", "C7", "F"}, // last day included
	}
	for _, r := range rows {
		if err := tbl.Insert(ctx, &storage.Row{PartitionKey: r.pk, RowKey: r.rk, Props: map[string]any{"CertNumber": r.cert, "identificationNumber": r.ident}}); err != nil {
			t.Fatal(err)
		}
	}
	bad := []struct{ query, msg string }{
		{"", "Empty start date."},
		{"s=the+first&e=28/02/2025", "Invalid start date format."},
		{"s=01/02/2025", "Empty end date."},
		{"s=01/02/2025&e=31/02/2025", "Invalid end date format."},
		{"s=28/02/2025&e=01/02/2025", "Invalid date range."},
		{"s=01/02/2025&e=01/02/2025", "Invalid date range."}, // shorter than one day
	}
	for _, b := range bad {
		r := do(t, "GET", base+"/api/submit/query?"+b.query, "")
		if r.Status != 400 || r.JSON(t)["error"] != b.msg {
			t.Fatalf("?%s: %d %s, want 400 %q", b.query, r.Status, r.Body, b.msg)
		}
	}
	r := do(t, "GET", base+"/api/submit/query?s=1/2/2025&e=28+Feb+2025", "") // day first, as the article
	if r.Status != http.StatusOK {
		t.Fatalf("submit: %d %s, want 200 as the article", r.Status, r.Body)
	}
	uri, _ := r.JSON(t)["statusUri"].(string)
	if r.Header.Get("Location") != uri {
		t.Fatalf("Location %q, statusUri %q", r.Header.Get("Location"), uri)
	}
	if !strings.HasPrefix(uri, base+"/api/status/") {
		t.Fatalf("statusUri %q does not point at %s/api/status/", uri, base)
	}
	id := strings.TrimPrefix(uri, base+"/api/status/")
	first := do(t, "GET", uri, "")
	var s publicStatus
	_ = json.Unmarshal(first.Body, &s)
	if first.Status != 200 || (s.Status != "Pending" && s.Status != "Running") {
		t.Fatalf("first poll: %d %s, want Pending or Running", first.Status, first.Body)
	}
	done := waitStatus(t, base, id, "Completed", 30*time.Second)
	if string(done.Result) != "3" {
		t.Fatalf("distinct identification numbers: %s, want 3 (A, B, F)", done.Result)
	}
	// The public route shows id, status and result only.
	var all map[string]any
	_ = json.Unmarshal(do(t, "GET", uri, "").Body, &all)
	if len(all) != 3 {
		t.Fatalf("public status has extra fields: %v", all)
	}
	if r := do(t, "GET", base+"/api/status/no-such-job", ""); r.Status != 404 || r.JSON(t)["error"] != "Job not found" {
		t.Fatalf("unknown job: %d %s", r.Status, r.Body)
	}
}

func h0(t testing.TB) string { return strings.TrimPrefix(testenv.HubName("x"), "x") }

func TestStartErrors(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL
	cases := []struct {
		path, body string
		status     int
	}{
		{"/api/orchestrators/no_such_orchestrator", "", 404},
		{"/api/orchestrators/chaining", "{not json", 400},
		{"/api/orchestrators/chaining/bad%23id%3F", "", 202},
	}
	for _, c := range cases {
		r := do(t, "POST", base+c.path, c.body)
		if r.Status != c.status {
			t.Fatalf("POST %s: %d %s, want %d", c.path, r.Status, r.Body, c.status)
		}
	}
	// Reusing the id of a running instance is a conflict; of a finished one, a restart.
	id := start(t, base, "approval", `{"item": "x"}`)
	if r := do(t, "POST", base+"/api/orchestrators/approval/"+id, ""); r.Status != http.StatusConflict {
		t.Fatalf("duplicate start: %d %s", r.Status, r.Body)
	}
	waitStatus(t, base, "bad%23id%3F", "Completed", 30*time.Second)
	if r := do(t, "POST", base+"/api/orchestrators/chaining/bad%23id%3F", ""); r.Status != http.StatusAccepted {
		t.Fatalf("restart of a finished instance: %d %s", r.Status, r.Body)
	}
}
