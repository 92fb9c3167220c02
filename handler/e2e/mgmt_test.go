package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// mgmtPath is where the durable_mgmt function serves the DF management API in this app.
const mgmtPath = "/api/runtime/webhooks/durabletask"

// served turns a check-status URL into the URL the app serves: the management function
// lives under the route prefix, so a URL built for DF's prefix-less path gets it added.
func served(u string) string {
	if strings.Contains(u, mgmtPath) {
		return u
	}
	return strings.Replace(u, "/runtime/webhooks/durabletask", mgmtPath, 1)
}

type mgmtStatus struct {
	Name            string            `json:"name"`
	InstanceID      string            `json:"instanceId"`
	RuntimeStatus   string            `json:"runtimeStatus"`
	Input           json.RawMessage   `json:"input"`
	CustomStatus    json.RawMessage   `json:"customStatus"`
	Output          json.RawMessage   `json:"output"`
	CreatedTime     string            `json:"createdTime"`
	LastUpdatedTime string            `json:"lastUpdatedTime"`
	HistoryEvents   []json.RawMessage `json:"historyEvents"`
}

func decodeStatus(t testing.TB, r response) mgmtStatus {
	t.Helper()
	var s mgmtStatus
	if err := json.Unmarshal(r.Body, &s); err != nil {
		t.Fatalf("status body (%d) %s: %v", r.Status, r.Body, err)
	}
	return s
}

// mgmtStart starts an orchestration through the management API and checks DF's
// check-status answer.
func mgmtStart(t testing.TB, api, name, id, body string) (string, map[string]any) {
	t.Helper()
	u := api + "/orchestrators/" + name
	if id != "" {
		u += "/" + url.PathEscape(id)
	}
	r := do(t, "POST", u, body, "Content-Type", "application/json")
	if r.Status != http.StatusAccepted {
		t.Fatalf("start %s: %d %s", name, r.Status, r.Body)
	}
	m := r.JSON(t)
	got, _ := m["id"].(string)
	if id != "" && got != id {
		t.Fatalf("started %q, want %q", got, id)
	}
	if r.Header.Get("Location") != m["statusQueryGetUri"] {
		t.Fatalf("Location %q differs from statusQueryGetUri %v", r.Header.Get("Location"), m["statusQueryGetUri"])
	}
	return got, m
}

// mgmtWait polls GET instances/{id} until the instance reaches want, checking DF's
// 202-while-running / 200-when-done contract on every answer.
func mgmtWait(t testing.TB, api, id, want string, within time.Duration) mgmtStatus {
	t.Helper()
	var s mgmtStatus
	eventually(t, within, fmt.Sprintf("%s %s", id, want), func() (bool, string) {
		r := do(t, "GET", api+"/instances/"+url.PathEscape(id), "")
		if r.Status == http.StatusNotFound {
			return false, "404"
		}
		s = decodeStatus(t, r)
		finished := s.RuntimeStatus == "Completed" || s.RuntimeStatus == "Failed" || s.RuntimeStatus == "Terminated"
		switch {
		case finished && r.Status != http.StatusOK:
			t.Fatalf("finished instance answered %d, want 200", r.Status)
		case !finished && (r.Status != http.StatusAccepted || r.Header.Get("Location") == "" || r.Header.Get("Retry-After") == ""):
			t.Fatalf("%s instance answered %d (Location %q, Retry-After %q), want 202 with both", s.RuntimeStatus, r.Status, r.Header.Get("Location"), r.Header.Get("Retry-After"))
		}
		return s.RuntimeStatus == want, s.RuntimeStatus + " " + string(s.CustomStatus)
	})
	return s
}

func TestMgmtStartAndStatus(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	api := w.Server.URL + mgmtPath

	id, cs := mgmtStart(t, api, "chaining", "", "")
	for _, k := range []string{"statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri", "resumePostUri"} {
		if u, _ := cs[k].(string); !strings.Contains(u, "/runtime/webhooks/durabletask-links/instances/"+id) {
			t.Fatalf("%s = %q", k, u)
		}
	}
	// The check-status URL leads to this API.
	eventually(t, 30*time.Second, "status via statusQueryGetUri", func() (bool, string) {
		r := do(t, "GET", served(cs["statusQueryGetUri"].(string)), "")
		return r.Status == http.StatusOK, fmt.Sprint(r.Status)
	})
	s := mgmtWait(t, api, id, "Completed", 30*time.Second)
	if string(s.Output) != "45" || s.Name != "chaining" || s.InstanceID != id || s.CreatedTime == "" || s.LastUpdatedTime < s.CreatedTime {
		t.Fatalf("status %+v", s)
	}
	if _, err := time.Parse(time.RFC3339, s.CreatedTime); err != nil || !strings.HasSuffix(s.CreatedTime, "Z") {
		t.Fatalf("createdTime %q is not DF's format", s.CreatedTime)
	}
	if s.HistoryEvents != nil {
		t.Fatal("history shown without showHistory")
	}

	t.Run("history", func(t *testing.T) {
		cases := []struct {
			query      string
			wantResult bool
		}{
			{"showHistory=true", false},
			{"showHistory=true&showHistoryOutput=true", true},
		}
		for _, c := range cases {
			r := do(t, "GET", api+"/instances/"+id+"?"+c.query, "")
			st := decodeStatus(t, r)
			var types []string
			results := 0
			for _, raw := range st.HistoryEvents {
				var ev map[string]any
				_ = json.Unmarshal(raw, &ev)
				types = append(types, fmt.Sprint(ev["EventType"]))
				if _, ok := ev["Result"]; ok {
					results++
				}
				if ev["EventType"] == "TaskCompleted" && (ev["FunctionName"] == nil || ev["ScheduledTime"] == nil) {
					t.Fatalf("TaskCompleted without FunctionName/ScheduledTime: %s", raw)
				}
			}
			want := "ExecutionStarted TaskCompleted TaskCompleted TaskCompleted ExecutionCompleted"
			if strings.Join(types, " ") != want {
				t.Fatalf("%s: history %v, want %s", c.query, types, want)
			}
			if (results > 0) != c.wantResult {
				t.Fatalf("%s: %d events with Result", c.query, results)
			}
		}
	})

	t.Run("showInput", func(t *testing.T) {
		id, _ := mgmtStart(t, api, "fan_out_fan_in", "", `{"items": 3}`)
		mgmtWait(t, api, id, "Completed", 30*time.Second)
		if in := decodeStatus(t, do(t, "GET", api+"/instances/"+id, "")).Input; string(in) != `{"items": 3}` && string(in) != `{"items":3}` {
			t.Fatalf("input %s", in)
		}
		if in := decodeStatus(t, do(t, "GET", api+"/instances/"+id+"?showInput=false", "")).Input; string(in) != "null" && in != nil {
			t.Fatalf("input shown with showInput=false: %s", in)
		}
	})

	t.Run("wait for completion", func(t *testing.T) {
		r := do(t, "POST", api+"/orchestrators/chaining?timeout=30&pollingInterval=0.1", "")
		if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "45" {
			t.Fatalf("start and wait: %d %s", r.Status, r.Body)
		}
		r = do(t, "POST", api+"/orchestrators/approval?timeout=0.3&pollingInterval=0.1", `{"item":"w","timeoutSeconds":600}`)
		if r.Status != http.StatusAccepted || r.JSON(t)["statusQueryGetUri"] == nil {
			t.Fatalf("start and wait past the timeout: %d %s", r.Status, r.Body)
		}
	})

	t.Run("failed instance", func(t *testing.T) {
		id, _ := mgmtStart(t, api, "approval", "", `{"item": 5}`) // item must be a string
		s := mgmtWait(t, api, id, "Failed", 30*time.Second)
		if len(s.Output) == 0 || string(s.Output) == "null" {
			t.Fatalf("failed instance has no output: %+v", s)
		}
		if r := do(t, "GET", api+"/instances/"+id+"?returnInternalServerErrorOnFailure=true", ""); r.Status != http.StatusInternalServerError {
			t.Fatalf("returnInternalServerErrorOnFailure: %d", r.Status)
		}
	})

	t.Run("errors", func(t *testing.T) {
		running, _ := mgmtStart(t, api, "approval", "dup-1", `{"item":"x","timeoutSeconds":600}`)
		cases := []struct {
			method, path, body string
			status             int
		}{
			{"POST", "/orchestrators/no_such_orchestrator", "", 400}, // DF: ArgumentException
			{"POST", "/orchestrators/chaining", "{not json", 400},
			{"POST", "/orchestrators/approval/" + running, `{"item":"y"}`, 409},
			{"POST", "/orchestrators/chaining", `{"pad":"` + strings.Repeat("x", 17<<20) + `"}`, 413},
			{"GET", "/orchestrators/chaining", "", 405},
			{"GET", "/instances/no-such-instance", "", 404},
			{"GET", "/instances/" + running + "?showHistory=maybe", "", 400},
			{"GET", "/nothing-here", "", 404},
			{"GET", "", "", 404},
		}
		for _, c := range cases {
			if r := do(t, c.method, api+c.path, c.body); r.Status != c.status {
				t.Errorf("%s %s: %d %s, want %d", c.method, c.path, r.Status, r.Body, c.status)
			} else if c.status >= 400 && r.JSON(t)["Message"] == nil {
				t.Errorf("%s %s: error body %s has no \"Message\"", c.method, c.path, r.Body)
			}
		}
	})

	t.Run("idempotent start", func(t *testing.T) {
		var ids []string
		for i := 0; i < 2; i++ {
			r := do(t, "POST", api+"/orchestrators/chaining", "", "Idempotency-Key", "start-once")
			if r.Status != http.StatusAccepted {
				t.Fatalf("keyed start %d: %d %s", i, r.Status, r.Body)
			}
			ids = append(ids, r.JSON(t)["id"].(string))
		}
		if ids[0] != ids[1] {
			t.Fatalf("a retried keyed start made a second instance: %v", ids)
		}
		mgmtWait(t, api, ids[0], "Completed", 30*time.Second)
	})

	t.Run("escaped instance id", func(t *testing.T) {
		id := "a/b#c?d e"
		mgmtStart(t, api, "chaining", id, "")
		s := mgmtWait(t, api, id, "Completed", 30*time.Second)
		if s.InstanceID != id {
			t.Fatalf("instance id %q", s.InstanceID)
		}
	})
}

func TestMgmtInstanceOperations(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	api := w.Server.URL + mgmtPath
	waiting := func(id string) {
		t.Helper()
		eventually(t, 20*time.Second, id+" waiting for approval", func() (bool, string) {
			s := decodeStatus(t, do(t, "GET", api+"/instances/"+id, ""))
			return string(s.CustomStatus) == `"waiting for approval"`, s.RuntimeStatus + " " + string(s.CustomStatus)
		})
	}
	post := func(path, body string, headers ...string) response {
		t.Helper()
		return do(t, "POST", api+path, body, headers...)
	}

	id, cs := mgmtStart(t, api, "approval", "op-1", `{"item":"x","timeoutSeconds":600}`)
	waiting(id)

	// Suspend and resume over the API; the event raised afterwards completes the instance.
	if r := post("/instances/"+id+"/suspend?reason=hold", ""); r.Status != http.StatusAccepted {
		t.Fatalf("suspend: %d %s", r.Status, r.Body)
	}
	mgmtWait(t, api, id, "Suspended", 20*time.Second)
	if r := post("/instances/"+id+"/resume?reason=go", ""); r.Status != http.StatusAccepted {
		t.Fatalf("resume: %d %s", r.Status, r.Body)
	}
	mgmtWait(t, api, id, "Running", 20*time.Second)
	ev := strings.Replace(served(cs["sendEventPostUri"].(string)), "{eventName}", "ApprovalEvent", 1)
	if r := do(t, "POST", ev, `{"approved": true, "by": "ana"}`, "Content-Type", "application/json"); r.Status != http.StatusAccepted {
		t.Fatalf("raise event via sendEventPostUri: %d %s", r.Status, r.Body)
	}
	if s := mgmtWait(t, api, id, "Completed", 20*time.Second); string(s.Output) != `"processed x"` {
		t.Fatalf("output %s", s.Output)
	}

	// Terminate another instance.
	term, _ := mgmtStart(t, api, "approval", "op-2", `{"item":"y","timeoutSeconds":600}`)
	waiting(term)
	if r := post("/instances/"+term+"/terminate?reason=stop+it", ""); r.Status != http.StatusAccepted {
		t.Fatalf("terminate: %d %s", r.Status, r.Body)
	}
	if s := mgmtWait(t, api, term, "Terminated", 20*time.Second); string(s.Output) != `"stop it"` {
		t.Fatalf("terminated output %s", s.Output)
	}

	running, _ := mgmtStart(t, api, "approval", "op-3", `{"item":"z","timeoutSeconds":600}`)
	waiting(running)
	jsonCT := []string{"Content-Type", "application/json"}
	cases := []struct {
		name, path, body string
		headers          []string
		status           int
	}{
		{"event: unknown instance", "/instances/nobody/raiseEvent/ApprovalEvent", `{}`, jsonCT, 404},
		{"event: finished instance", "/instances/" + id + "/raiseEvent/ApprovalEvent", `{}`, jsonCT, 410},
		{"event: bad JSON", "/instances/" + running + "/raiseEvent/ApprovalEvent", `{"approved":`, jsonCT, 400},
		{"event: not JSON content", "/instances/" + running + "/raiseEvent/ApprovalEvent", `hello`, []string{"Content-Type", "text/plain"}, 400},
		{"event: too large", "/instances/" + running + "/raiseEvent/ApprovalEvent", `"` + strings.Repeat("x", 17<<20) + `"`, jsonCT, 413},
		{"terminate: unknown", "/instances/nobody/terminate", "", nil, 404},
		{"terminate: finished", "/instances/" + id + "/terminate", "", nil, 410},
		{"suspend: unknown", "/instances/nobody/suspend", "", nil, 404},
		{"suspend: finished", "/instances/" + term + "/suspend", "", nil, 410},
		{"resume: unknown", "/instances/nobody/resume", "", nil, 404},
		{"resume: finished", "/instances/" + term + "/resume", "", nil, 410},
		{"unknown operation", "/instances/" + running + "/fly", "", nil, 404},
		{"restart: unknown", "/instances/nobody/restart", "", nil, 400}, // DF: ArgumentException
		{"restart: running, same id", "/instances/" + running + "/restart?restartWithNewInstanceId=false", "", nil, 409},
		{"restart: bad flag", "/instances/" + id + "/restart?restartWithNewInstanceId=perhaps", "", nil, 400},
		{"rewind: unknown", "/instances/nobody/rewind", "", nil, 404},
		{"rewind: not failed", "/instances/" + id + "/rewind", "", nil, 412},
	}
	for _, c := range cases {
		if r := post(c.path, c.body, c.headers...); r.Status != c.status {
			t.Errorf("%s: POST %s: %d %s, want %d", c.name, c.path, r.Status, r.Body, c.status)
		}
	}
	if r := do(t, "GET", api+"/instances/"+running+"/terminate", ""); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET terminate: %d, want 405", r.Status)
	}

	// The waiting instance gets its event over the API and finishes.
	if r := post("/instances/"+running+"/raiseEvent/ApprovalEvent", `{"approved": false}`, jsonCT...); r.Status != http.StatusAccepted {
		t.Fatalf("raise event: %d %s", r.Status, r.Body)
	}
	if s := mgmtWait(t, api, running, "Completed", 20*time.Second); string(s.Output) != `"escalated z"` {
		t.Fatalf("output %s", s.Output)
	}

	t.Run("restart", func(t *testing.T) {
		r := post("/instances/"+id+"/restart", "")
		if r.Status != http.StatusAccepted {
			t.Fatalf("restart: %d %s", r.Status, r.Body)
		}
		fresh, _ := r.JSON(t)["id"].(string)
		if fresh == "" || fresh == id {
			t.Fatalf("restart with a new id answered id %q", fresh)
		}
		waiting(fresh)
		if s := decodeStatus(t, do(t, "GET", api+"/instances/"+fresh, "")); string(s.Input) != `{"item":"x","timeoutSeconds":600}` || s.Name != "approval" {
			t.Fatalf("restarted instance %+v", s)
		}
		r = post("/instances/"+term+"/restart?restartWithNewInstanceId=false", "")
		if r.Status != http.StatusAccepted || r.JSON(t)["id"] != term {
			t.Fatalf("restart in place: %d %s", r.Status, r.Body)
		}
		waiting(term)
	})
}

// TestMgmtSuspendHoldsEvents: while an instance is suspended, a second suspend is a
// no-op and a raised event waits; after resume the event is applied (DF semantics).
func TestMgmtSuspendHoldsEvents(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	api := w.Server.URL + mgmtPath
	id, _ := mgmtStart(t, api, "approval", "", `{"item":"s","timeoutSeconds":600}`)
	eventually(t, 20*time.Second, "waiting for approval", func() (bool, string) {
		s := decodeStatus(t, do(t, "GET", api+"/instances/"+id, ""))
		return string(s.CustomStatus) == `"waiting for approval"`, s.RuntimeStatus
	})
	if r := do(t, "POST", api+"/instances/"+id+"/suspend", ""); r.Status != http.StatusAccepted {
		t.Fatalf("suspend: %d %s", r.Status, r.Body)
	}
	mgmtWait(t, api, id, "Suspended", 20*time.Second)
	// Suspending a suspended instance changes nothing: it must not re-suspend it after
	// the resume below.
	if r := do(t, "POST", api+"/instances/"+id+"/suspend", ""); r.Status != http.StatusAccepted {
		t.Fatalf("second suspend: %d %s", r.Status, r.Body)
	}
	if r := do(t, "POST", api+"/instances/"+id+"/raiseEvent/ApprovalEvent", `{"approved": true}`, "Content-Type", "application/json"); r.Status != http.StatusAccepted {
		t.Fatalf("raise event: %d %s", r.Status, r.Body)
	}
	time.Sleep(500 * time.Millisecond)
	if s := decodeStatus(t, do(t, "GET", api+"/instances/"+id, "")); s.RuntimeStatus != "Suspended" {
		t.Fatalf("suspended instance moved on: %s", s.RuntimeStatus)
	}
	if r := do(t, "POST", api+"/instances/"+id+"/resume", ""); r.Status != http.StatusAccepted {
		t.Fatalf("resume: %d %s", r.Status, r.Body)
	}
	if s := mgmtWait(t, api, id, "Completed", 20*time.Second); string(s.Output) != `"processed s"` {
		t.Fatalf("output %s", s.Output)
	}
}

func TestMgmtQueryAndPurge(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	api := w.Server.URL + mgmtPath
	ctx := testenv.Context(t, 2*time.Minute)
	before := time.Now().UTC().Add(-time.Minute)

	for _, id := range []string{"q-a-1", "q-a-2", "q-b-1"} {
		mgmtStart(t, api, "chaining", id, "")
	}
	mgmtStart(t, api, "approval", "q-run", `{"item":"r","timeoutSeconds":600}`)
	for _, id := range []string{"q-a-1", "q-a-2", "q-b-1"} {
		mgmtWait(t, api, id, "Completed", 30*time.Second)
	}
	mgmtWait(t, api, "q-run", "Running", 20*time.Second)

	list := func(query string, headers ...string) ([]string, response) {
		t.Helper()
		r := do(t, "GET", api+"/instances?"+query, "", headers...)
		if r.Status != http.StatusOK {
			t.Fatalf("GET instances?%s: %d %s", query, r.Status, r.Body)
		}
		var ss []mgmtStatus
		if err := json.Unmarshal(r.Body, &ss); err != nil {
			t.Fatalf("list body %s: %v", r.Body, err)
		}
		var ids []string
		for _, s := range ss {
			ids = append(ids, s.InstanceID)
		}
		sort.Strings(ids)
		return ids, r
	}
	future := url.QueryEscape(time.Now().UTC().Add(time.Hour).Format(time.RFC3339))
	past := url.QueryEscape(before.Format(time.RFC3339))
	queries := []struct {
		query string
		want  string
	}{
		{"", "q-a-1 q-a-2 q-b-1 q-run"},
		{"runtimeStatus=Completed", "q-a-1 q-a-2 q-b-1"},
		{"runtimeStatus=Running,Pending", "q-run"},
		{"runtimeStatus=Failed", ""},
		{"instanceIdPrefix=q-a-", "q-a-1 q-a-2"},
		{"instanceIdPrefix=q-&runtimeStatus=Running", "q-run"},
		{"createdTimeFrom=" + past, "q-a-1 q-a-2 q-b-1 q-run"},
		{"createdTimeFrom=" + future, ""},
		{"createdTimeTo=" + past, ""},
		{"createdTimeFrom=" + past + "&createdTimeTo=" + future + "&instanceIdPrefix=q-b", "q-b-1"},
	}
	for _, q := range queries {
		if ids, _ := list(q.query); strings.Join(ids, " ") != q.want {
			t.Errorf("GET instances?%s = %v, want %s", q.query, ids, q.want)
		}
	}

	t.Run("paging", func(t *testing.T) {
		var all []string
		token := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			var headers []string
			if token != "" {
				headers = []string{"x-ms-continuation-token", token}
			}
			ids, r := list("top=1&showInput=false", headers...)
			if len(ids) > 1 {
				t.Fatalf("top=1 returned %v", ids)
			}
			all = append(all, ids...)
			if token = r.Header.Get("x-ms-continuation-token"); token == "" {
				break
			}
		}
		sort.Strings(all)
		if strings.Join(all, " ") != "q-a-1 q-a-2 q-b-1 q-run" {
			t.Fatalf("pages held %v", all)
		}
	})

	t.Run("bad queries", func(t *testing.T) {
		for _, q := range []string{"runtimeStatus=Sleeping", "top=abc", "top=0", "createdTimeFrom=someday", "showInput=yes-please"} {
			if r := do(t, "GET", api+"/instances?"+q, ""); r.Status != http.StatusBadRequest {
				t.Errorf("GET instances?%s: %d, want 400", q, r.Status)
			}
		}
		if r := do(t, "GET", api+"/instances", "", "x-ms-continuation-token", "%%%"); r.Status != http.StatusBadRequest {
			t.Errorf("bad continuation token: %d, want 400", r.Status)
		}
	})

	t.Run("purge one", func(t *testing.T) {
		if r := do(t, "DELETE", api+"/instances/q-run", ""); r.Status != http.StatusPreconditionFailed {
			t.Fatalf("purge running: %d %s", r.Status, r.Body)
		}
		r := do(t, "DELETE", api+"/instances/q-a-1", "")
		if r.Status != http.StatusOK || r.JSON(t)["instancesDeleted"] != float64(1) {
			t.Fatalf("purge: %d %s", r.Status, r.Body)
		}
		rows, err := w.App.Hub.Instances().QueryPartition(ctx, storage.EscapeKey("q-a-1"))
		if err != nil || len(rows) != 0 {
			t.Fatalf("purged partition still holds %d rows (%v)", len(rows), err)
		}
		if r := do(t, "GET", api+"/instances/q-a-1", ""); r.Status != http.StatusNotFound {
			t.Fatalf("status after purge: %d", r.Status)
		}
		if r := do(t, "DELETE", api+"/instances/q-a-1", ""); r.Status != http.StatusNotFound {
			t.Fatalf("second purge: %d", r.Status)
		}
	})

	t.Run("purge by filter", func(t *testing.T) {
		cases := []struct {
			query  string
			status int
			n      float64
		}{
			{"", 400, 0},
			{"createdTimeFrom=someday", 400, 0},
			{"createdTimeFrom=" + past + "&runtimeStatus=Running", 400, 0},
			{"createdTimeFrom=" + future, 404, 0},
			{"createdTimeFrom=" + past + "&runtimeStatus=Failed", 404, 0},
			{"createdTimeFrom=" + past + "&runtimeStatus=Completed", 200, 2},
			{"createdTimeFrom=" + past, 404, 0},
		}
		for _, c := range cases {
			r := do(t, "DELETE", api+"/instances?"+c.query, "")
			if r.Status != c.status {
				t.Fatalf("DELETE instances?%s: %d %s, want %d", c.query, r.Status, r.Body, c.status)
			}
			if c.status == 200 && r.JSON(t)["instancesDeleted"] != c.n {
				t.Fatalf("DELETE instances?%s: %s, want %v deleted", c.query, r.Body, c.n)
			}
		}
		if ids, _ := list(""); strings.Join(ids, " ") != "q-run" {
			t.Fatalf("left after purge: %v", ids)
		}
	})
}

func TestMgmtEntities(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	api := w.Server.URL + mgmtPath
	jsonCT := []string{"Content-Type", "application/json"}

	signal := func(key, op, body string, headers ...string) response {
		t.Helper()
		return do(t, "POST", api+"/entities/counter_entity/"+url.PathEscape(key)+"?op="+op, body, headers...)
	}
	state := func(key string) (int, string) {
		t.Helper()
		r := do(t, "GET", api+"/entities/counter_entity/"+url.PathEscape(key), "")
		return r.Status, strings.TrimSpace(string(r.Body))
	}
	waitState := func(key, want string) {
		t.Helper()
		eventually(t, 20*time.Second, key+" = "+want, func() (bool, string) {
			code, body := state(key)
			return code == 200 && body == want, fmt.Sprint(code, " ", body)
		})
	}

	if r := signal("k1", "add", "5", jsonCT...); r.Status != http.StatusAccepted {
		t.Fatalf("signal: %d %s", r.Status, r.Body)
	}
	signal("k1", "add", "2") // an undeclared body that parses is JSON
	signal("k/2", "add", "3", jsonCT...)
	waitState("k1", "7")
	waitState("k/2", "3")
	// A retried signal with the same Idempotency-Key applies once.
	for i := 0; i < 2; i++ {
		if r := signal("k/2", "add", "10", append(jsonCT, "Idempotency-Key", "add-ten")...); r.Status != http.StatusAccepted {
			t.Fatalf("keyed signal: %d %s", r.Status, r.Body)
		}
	}
	signal("k/2", "add", "100", jsonCT...)
	waitState("k/2", "113")
	signal("k/2", "add", "-110", jsonCT...)
	waitState("k/2", "3")

	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
	}{
		{"bad JSON", "POST", "/entities/counter_entity/k1?op=add", `{"value":`, jsonCT, 400},
		{"unknown entity", "POST", "/entities/no_such_entity/k1?op=add", "1", jsonCT, 404},
		{"too large", "POST", "/entities/counter_entity/k1?op=add", strings.Repeat("1", 17<<20), jsonCT, 413},
		{"no state", "GET", "/entities/counter_entity/never-used", "", nil, 404},
		{"delete unknown entity", "DELETE", "/entities/no_such_entity/k1", "", nil, 404},
		{"bad flag", "GET", "/entities?fetchState=sure", "", nil, 400},
		{"bad top", "GET", "/entities/counter_entity?top=-1", "", nil, 400},
		{"method", "DELETE", "/entities/counter_entity", "", nil, 405},
		{"too deep", "GET", "/entities/counter_entity/k1/more", "", nil, 404},
	}
	for _, c := range cases {
		if r := do(t, c.method, api+c.path, c.body, c.headers...); r.Status != c.status {
			t.Errorf("%s: %s %s: %d %s, want %d", c.name, c.method, c.path, r.Status, r.Body, c.status)
		}
	}

	type entity struct {
		EntityID          durable.EntityID `json:"entityId"`
		LastOperationTime time.Time        `json:"lastOperationTime"`
		State             json.RawMessage  `json:"state"`
	}
	listAll := func(path string) []entity {
		t.Helper()
		var all []entity
		token := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("entity paging does not end")
			}
			var headers []string
			if token != "" {
				headers = []string{"x-ms-continuation-token", token}
			}
			r := do(t, "GET", api+path, "", headers...)
			if r.Status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
			}
			var es []entity
			if err := json.Unmarshal(r.Body, &es); err != nil {
				t.Fatalf("GET %s: %s: %v", path, r.Body, err)
			}
			all = append(all, es...)
			if token = r.Header.Get("x-ms-continuation-token"); token == "" {
				break
			}
		}
		sort.Slice(all, func(i, j int) bool { return all[i].EntityID.Key < all[j].EntityID.Key })
		return all
	}
	describe := func(es []entity) string {
		var parts []string
		for _, e := range es {
			s := e.EntityID.Name + "/" + e.EntityID.Key
			if e.State != nil {
				s += "=" + string(e.State)
			}
			if e.LastOperationTime.IsZero() {
				s += "(no time)"
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " ")
	}
	lists := []struct {
		path, want string
	}{
		{"/entities", "counter_entity/k/2 counter_entity/k1"},
		{"/entities/counter_entity?fetchState=true", "counter_entity/k/2=3 counter_entity/k1=7"},
		{"/entities/COUNTER_ENTITY?top=1", "counter_entity/k/2 counter_entity/k1"},
		{"/entities/scoreboard_entity", ""},
		{"/entities?lastOperationTimeFrom=" + url.QueryEscape(time.Now().UTC().Add(time.Hour).Format(time.RFC3339)), ""},
	}
	for _, l := range lists {
		if got := describe(listAll(l.path)); got != l.want {
			t.Errorf("GET %s = %q, want %q", l.path, got, l.want)
		}
	}

	// DELETE removes the state at once. An entity only clients signalled keeps no
	// marks, so nothing is left of it to list even with includeDeleted.
	if r := do(t, "DELETE", api+"/entities/counter_entity/k1", ""); r.Status != http.StatusAccepted {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if code, body := state("k1"); code != http.StatusNotFound {
		t.Fatalf("state after delete: %d %s", code, body)
	}
	if got := describe(listAll("/entities")); got != "counter_entity/k/2" {
		t.Fatalf("after delete: %s", got)
	}
	if got := describe(listAll("/entities?includeDeleted=true")); got != "counter_entity/k/2" {
		t.Fatalf("after delete, includeDeleted: %s", got)
	}
	signal("k1", "add", "1", jsonCT...)
	waitState("k1", "1")
}

func TestMgmtCleanEntityStorage(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	api := w.Server.URL + mgmtPath
	hub := w.App.Hub
	ctx := testenv.Context(t, 2*time.Minute)

	// An orchestration that no longer exists holds a lock on the counter.
	id := durable.NewEntityID("counter_entity", "locked")
	holder := "ghost-instance|ghost-execution"
	lock := &engine.Envelope{ID: "test|lock|1", Origin: holder, Op: &engine.EntityOp{Kind: engine.OpLock, ReplyTo: "ghost-instance", ReplyExec: "ghost-execution", LockSet: []durable.EntityID{id}}}
	if err := hub.DeliverForTest(ctx, id.String(), lock); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "entity locked", func() (bool, string) {
		snap, err := hub.ReadEntity(ctx, id)
		return err == nil && snap.LockedBy == holder, fmt.Sprintf("%+v %v", snap, err)
	})
	do(t, "POST", api+"/entities/counter_entity/locked?op=add", "4", "Content-Type", "application/json")
	if r := do(t, "DELETE", api+"/entities/counter_entity/locked", ""); r.Status != http.StatusAccepted {
		t.Fatalf("delete of an entity without state: %d %s", r.Status, r.Body)
	}
	time.Sleep(300 * time.Millisecond)
	if code, _ := func() (int, string) {
		r := do(t, "GET", api+"/entities/counter_entity/locked", "")
		return r.Status, string(r.Body)
	}(); code != http.StatusNotFound {
		t.Fatalf("a signal got past the lock: %d", code)
	}
	// Also a running orchestration's lock must survive the clean-up: its holder is alive.
	run, _ := mgmtStart(t, api, "approval", "", `{"item":"l","timeoutSeconds":600}`)
	mgmtWait(t, api, run, "Running", 20*time.Second)
	st, err := hub.GetStatus(ctx, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	alive := durable.NewEntityID("counter_entity", "alive")
	aliveHolder := run + "|" + st.ExecutionID
	do(t, "POST", api+"/entities/counter_entity/alive?op=add", "1", "Content-Type", "application/json")
	eventually(t, 20*time.Second, "alive = 1", func() (bool, string) {
		r := do(t, "GET", api+"/entities/counter_entity/alive", "")
		return r.Status == 200, fmt.Sprint(r.Status)
	})
	if err := hub.DeliverForTest(ctx, alive.String(), &engine.Envelope{ID: "test|lock|2", Origin: aliveHolder, Op: &engine.EntityOp{Kind: engine.OpLock, ReplyTo: run, ReplyExec: "not-the-execution", LockSet: []durable.EntityID{alive}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "second entity locked", func() (bool, string) {
		snap, err := hub.ReadEntity(ctx, alive)
		return err == nil && snap.LockedBy == aliveHolder, fmt.Sprintf("%+v %v", snap, err)
	})

	// Empty entity checkpoints: one idle for two days that never sent anything (removed),
	// one that sent messages (kept: receivers remember its sequence numbers), one recent
	// (kept); one idle with an expired sequence mark row (removed, with the mark) and one
	// with a mark that has not expired (kept).
	old := time.Now().UTC().Add(-48 * time.Hour)
	markRow := func(key string, expires time.Time) *storage.Row {
		return &storage.Row{PartitionKey: storage.EscapeKey(durable.NewEntityID("counter_entity", key).String()), RowKey: "sorch|exec",
			Props: map[string]any{"Seq": int64(2), "At": old, "Expires": expires}}
	}
	for _, r := range []*storage.Row{markRow("idlemark", old.Add(24*time.Hour)), markRow("freshmark", time.Now().UTC().Add(time.Hour))} {
		if err := hub.Instances().Insert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for key, props := range map[string]map[string]any{
		"idle":      {"NextSeq": int64(0), "Modified": old},
		"sender":    {"NextSeq": int64(3), "Modified": old},
		"recent":    {"NextSeq": int64(0), "Modified": time.Now().UTC()},
		"idlemark":  {"NextSeq": int64(0), "Modified": old},
		"freshmark": {"NextSeq": int64(0), "Modified": old},
	} {
		eid := durable.NewEntityID("counter_entity", key)
		row := &storage.Row{PartitionKey: storage.EscapeKey(eid.String()), RowKey: "!", Props: map[string]any{
			"Kind": "entity", "Name": eid.Name, "Key": eid.Key, "HasState": false, "Created": old}}
		for k, v := range props {
			row.Props[k] = v
		}
		if err := hub.Instances().Insert(ctx, row); err != nil {
			t.Fatal(err)
		}
	}

	r := do(t, "POST", api+"/cleanEntityStorage", "")
	if r.Status != http.StatusOK {
		t.Fatalf("clean: %d %s", r.Status, r.Body)
	}
	if m := r.JSON(t); m["numberOfEmptyEntitiesRemoved"] != float64(2) || m["numberOfOrphanedLocksRemoved"] != float64(1) {
		t.Fatalf("clean result %s", r.Body)
	}
	// The held signal now applies.
	eventually(t, 20*time.Second, "signal applied after the orphaned lock is released", func() (bool, string) {
		r := do(t, "GET", api+"/entities/counter_entity/locked", "")
		return r.Status == 200 && strings.TrimSpace(string(r.Body)) == "4", fmt.Sprint(r.Status, " ", string(r.Body))
	})
	if snap, err := hub.ReadEntity(ctx, alive); err != nil || snap.LockedBy != aliveHolder {
		t.Fatalf("a live holder's lock was released: %+v %v", snap, err)
	}
	if r := do(t, "DELETE", api+"/entities/counter_entity/alive", ""); r.Status != http.StatusConflict {
		t.Fatalf("delete of a locked entity: %d %s, want 409", r.Status, r.Body)
	}
	for key, want := range map[string]bool{"idle": false, "sender": true, "recent": true, "idlemark": false, "freshmark": true} {
		_, err := hub.Instances().Get(ctx, storage.EscapeKey(durable.NewEntityID("counter_entity", key).String()), "!")
		if exists := err == nil; exists != want {
			t.Errorf("entity %s exists=%v after clean-up, want %v (%v)", key, exists, want, err)
		}
	}
	for key, want := range map[string]bool{"idlemark": false, "freshmark": true} {
		r := markRow(key, time.Time{})
		_, err := hub.Instances().Get(ctx, r.PartitionKey, r.RowKey)
		if exists := err == nil; exists != want {
			t.Errorf("mark row of %s exists=%v after clean-up, want %v (%v)", key, exists, want, err)
		}
	}
	if r := do(t, "POST", api+"/cleanEntityStorage?releaseOrphanedLocks=nope", ""); r.Status != http.StatusBadRequest {
		t.Fatalf("bad flag: %d", r.Status)
	}
}

func TestMgmtKeys(t *testing.T) {
	h := newHarness(t, env{"AZURE_FUNCTIONS_ENVIRONMENT": "Production", "FUNCTIONS_MASTER_KEY": "m", "FUNCTIONS_HOST_KEYS": "h"})
	w := h.startWorker()
	base := w.Server.URL
	api := base + mgmtPath

	access := []struct {
		name    string
		url     string
		headers []string
		status  int
	}{
		{"no key", api + "/instances", nil, 401},
		{"host key", api + "/instances", []string{"x-functions-key", "h"}, 401},
		{"host key as code", api + "/instances?code=h", nil, 401},
		{"wrong key", api + "/instances", []string{"x-functions-key", "nope"}, 401},
		{"master key", api + "/instances", []string{"x-functions-key", "m"}, 200},
		{"master key as code", api + "/instances?code=m", nil, 200},
		{"master key, entities", api + "/entities", []string{"x-functions-key", "m"}, 200},
	}
	for _, a := range access {
		if r := do(t, "GET", a.url, "", a.headers...); r.Status != a.status {
			t.Errorf("%s: %d %s, want %d", a.name, r.Status, r.Body, a.status)
		}
	}
	if r := do(t, "POST", api+"/orchestrators/chaining", "", "x-functions-key", "h"); r.Status != http.StatusUnauthorized {
		t.Errorf("start with a host key: %d, want 401", r.Status)
	}

	// Check-status URLs never carry a key; their link token lets every caller use them.
	starts := []struct {
		name, url, key string
	}{
		{"http_start, host key", base + "/api/orchestrators/chaining", "h"},
		{"http_start, master key", base + "/api/orchestrators/chaining", "m"},
		{"management start, master key", api + "/orchestrators/chaining", "m"},
	}
	for _, s := range starts {
		r := do(t, "POST", s.url, "", "x-functions-key", s.key)
		if r.Status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", s.name, r.Status, r.Body)
		}
		m := r.JSON(t)
		for _, k := range []string{"statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri", "resumePostUri"} {
			u, _ := m[k].(string)
			if strings.Contains(u, "code=") || !strings.Contains(u, "sig=") {
				t.Fatalf("%s: %s = %q, want a link token and no key", s.name, k, u)
			}
		}
		status := served(m["statusQueryGetUri"].(string))
		// The URL works as handed out.
		eventually(t, 30*time.Second, "status via the link", func() (bool, string) {
			r := do(t, "GET", status, "")
			return r.Status == http.StatusOK, fmt.Sprint(r.Status)
		})
	}
}
