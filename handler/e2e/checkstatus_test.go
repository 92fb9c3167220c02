package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// linksPath is where check-status URLs point (mgmt.LinksHandler) in this app.
const linksPath = "/api/runtime/webhooks/durabletask-links"

var dfInstanceID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkStatusKeys are DF's HttpManagementPayload fields, in its order.
var checkStatusKeys = []string{"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "rewindPostUri",
	"purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri", "resumePostUri"}

// jsonKeys returns the keys of a JSON object in the order they were written.
func jsonKeys(t testing.TB, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", body)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestCheckStatusBody: new ids are DF's 32 hex digits (a chosen id is kept), and the
// check-status body is DF's, field for field: order, rewindPostUri, literal
// placeholders, taskHub=<hub>&connection=Storage on every URL, Retry-After: 10.
func TestCheckStatusBody(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL

	starts := []struct {
		name, url, wantID string
	}{
		{"http_start", base + "/api/orchestrators/chaining", ""},
		{"management start", base + mgmtPath + "/orchestrators/chaining", ""},
		{"management start, chosen id", base + mgmtPath + "/orchestrators/chaining/My-Order.1", "My-Order.1"},
	}
	for _, s := range starts {
		t.Run(s.name, func(t *testing.T) {
			r := do(t, "POST", s.url, "")
			if r.Status != http.StatusAccepted {
				t.Fatalf("start: %d %s", r.Status, r.Body)
			}
			if ra := r.Header.Get("Retry-After"); ra != "10" {
				t.Errorf("Retry-After %q, want 10 as DF", ra)
			}
			if got := strings.Join(jsonKeys(t, r.Body), " "); got != strings.Join(checkStatusKeys, " ") {
				t.Fatalf("fields %s, want %s", got, strings.Join(checkStatusKeys, " "))
			}
			var m map[string]string
			if err := json.Unmarshal(r.Body, &m); err != nil {
				t.Fatal(err)
			}
			id := m["id"]
			if s.wantID != "" && id != s.wantID || s.wantID == "" && !dfInstanceID.MatchString(id) {
				t.Fatalf("instance id %q, want %q or 32 lower-case hex digits", id, s.wantID)
			}
			inst := base + linksPath + "/instances/" + url.PathEscape(id)
			st, err := url.Parse(m["statusQueryGetUri"])
			if err != nil {
				t.Fatal(err)
			}
			sig := st.Query().Get("sig")
			if sig == "" {
				t.Fatalf("statusQueryGetUri %s has no link token", m["statusQueryGetUri"])
			}
			q := "taskHub=" + h.hub + "&connection=Storage&sig=" + sig
			want := map[string]string{
				"statusQueryGetUri":     inst + "?" + q,
				"sendEventPostUri":      inst + "/raiseEvent/{eventName}?" + q,
				"terminatePostUri":      inst + "/terminate?reason={text}&" + q,
				"rewindPostUri":         inst + "/rewind?reason={text}&" + q,
				"purgeHistoryDeleteUri": inst + "?" + q,
				"restartPostUri":        inst + "/restart?" + q,
				"suspendPostUri":        inst + "/suspend?reason={text}&" + q,
				"resumePostUri":         inst + "/resume?reason={text}&" + q,
			}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s\n got %s\nwant %s", k, m[k], v)
				}
			}
			if loc := r.Header.Get("Location"); loc != m["statusQueryGetUri"] {
				t.Errorf("Location %s", loc)
			}
		})
	}

	t.Run("status poll while running", func(t *testing.T) {
		id, _ := mgmtStart(t, base+mgmtPath, "approval", "", `{"item":"x","timeoutSeconds":600}`)
		eventually(t, 20*time.Second, "running", func() (bool, string) {
			r := do(t, "GET", base+mgmtPath+"/instances/"+id, "")
			return r.Status == http.StatusAccepted && decodeStatus(t, r).RuntimeStatus == "Running", fmt.Sprint(r.Status)
		})
		// DF's status route asks for 5 seconds (HandleGetStatusRequestAsync); its
		// check-status 202 for 10.
		if r := do(t, "GET", base+mgmtPath+"/instances/"+id, ""); r.Header.Get("Retry-After") != "5" || r.Header.Get("Location") == "" {
			t.Fatalf("running status: Retry-After %q, Location %q", r.Header.Get("Retry-After"), r.Header.Get("Location"))
		}
	})
}

// TestCheckStatusLinksWithoutKey: whoever got a check-status body can follow its URLs
// without a key (the link token opens that one instance and nothing else), and no key
// is ever written into them, not even for a master-key caller.
func TestCheckStatusLinksWithoutKey(t *testing.T) {
	h := newHarness(t, env{"AZURE_FUNCTIONS_ENVIRONMENT": "Production", "FUNCTIONS_MASTER_KEY": "the-master", "FUNCTIONS_HOST_KEYS": "the-host"})
	w := h.startWorker()
	base := w.Server.URL

	startWith := func(key, orchestrator, body string) map[string]string {
		t.Helper()
		r := do(t, "POST", base+"/api/orchestrators/"+orchestrator, body, "x-functions-key", key, "Content-Type", "application/json")
		if r.Status != http.StatusAccepted {
			t.Fatalf("start %s: %d %s", orchestrator, r.Status, r.Body)
		}
		var m map[string]string
		_ = json.Unmarshal(r.Body, &m)
		for k, v := range m {
			if strings.Contains(v, "the-master") || strings.Contains(v, "the-host") || strings.Contains(v, "code=") {
				t.Fatalf("%s carries a key: %s", k, v)
			}
		}
		return m
	}
	fill := func(u, name, value string) string { return strings.Replace(u, "{"+name+"}", url.QueryEscape(value), 1) }

	// A host-key caller (http_start is authLevel function) follows every URL key-less.
	a := startWith("the-host", "approval", `{"item":"a","timeoutSeconds":600}`)
	eventually(t, 20*time.Second, "status via the link", func() (bool, string) {
		r := do(t, "GET", a["statusQueryGetUri"], "")
		return r.Status == http.StatusAccepted && decodeStatus(t, r).RuntimeStatus == "Running", fmt.Sprint(r.Status, " ", string(r.Body))
	})
	if r := do(t, "POST", fill(a["suspendPostUri"], "text", "hold on"), ""); r.Status != http.StatusAccepted {
		t.Fatalf("suspend via link: %d %s", r.Status, r.Body)
	}
	eventually(t, 20*time.Second, "suspended", func() (bool, string) {
		s := decodeStatus(t, do(t, "GET", a["statusQueryGetUri"], ""))
		return s.RuntimeStatus == "Suspended", s.RuntimeStatus
	})
	if r := do(t, "POST", fill(a["resumePostUri"], "text", "go"), ""); r.Status != http.StatusAccepted {
		t.Fatalf("resume via link: %d %s", r.Status, r.Body)
	}
	if r := do(t, "POST", fill(a["sendEventPostUri"], "eventName", "ApprovalEvent"), `{"approved":true,"by":"ana"}`, "Content-Type", "application/json"); r.Status != http.StatusAccepted {
		t.Fatalf("raise event via link: %d %s", r.Status, r.Body)
	}
	eventually(t, 20*time.Second, "completed", func() (bool, string) {
		r := do(t, "GET", a["statusQueryGetUri"], "")
		return r.Status == http.StatusOK && decodeStatus(t, r).RuntimeStatus == "Completed", string(r.Body)
	})
	// Restart answers the new instance's check-status body, whose links work too.
	r := do(t, "POST", a["restartPostUri"], "")
	if r.Status != http.StatusAccepted {
		t.Fatalf("restart via link: %d %s", r.Status, r.Body)
	}
	var restarted map[string]string
	_ = json.Unmarshal(r.Body, &restarted)
	if restarted["id"] == a["id"] || !dfInstanceID.MatchString(restarted["id"]) {
		t.Fatalf("restart id %q", restarted["id"])
	}
	if r := do(t, "POST", fill(restarted["terminatePostUri"], "text", "enough"), ""); r.Status != http.StatusAccepted {
		t.Fatalf("terminate the restarted instance via its link: %d %s", r.Status, r.Body)
	}
	if r := do(t, "DELETE", a["purgeHistoryDeleteUri"], ""); r.Status != http.StatusOK {
		t.Fatalf("purge via link: %d %s", r.Status, r.Body)
	}

	// A master-key caller gets the same kind of URLs: no key in them.
	b := startWith("the-master", "chaining", "")

	// The token opens its own instance only; the links route opens nothing else.
	other := strings.Replace(b["statusQueryGetUri"], "/instances/"+b["id"], "/instances/"+restarted["id"], 1)
	tampered := strings.Replace(b["statusQueryGetUri"], "sig=", "sig=x", 1)
	unsigned := strings.Split(b["statusQueryGetUri"], "&sig=")[0]
	sig := strings.Split(b["statusQueryGetUri"], "&sig=")[1]
	for name, u := range map[string]string{
		"another instance's token": other,
		"tampered token":           tampered,
		"no token":                 unsigned,
	} {
		if r := do(t, "GET", u, ""); r.Status != http.StatusUnauthorized || r.JSON(t)["Message"] == nil {
			t.Errorf("%s: %d %s, want 401 with a Message", name, r.Status, r.Body)
		}
	}
	for name, u := range map[string]string{
		"list":     base + linksPath + "/instances?sig=" + sig,
		"entities": base + linksPath + "/entities?sig=" + sig,
		"start":    base + linksPath + "/orchestrators/chaining?sig=" + sig,
	} {
		if r := do(t, "GET", u, ""); r.Status != http.StatusNotFound {
			t.Errorf("%s via the links route: %d %s, want 404", name, r.Status, r.Body)
		}
	}
	// The management API itself still wants the master key.
	if r := do(t, "GET", strings.Replace(b["statusQueryGetUri"], linksPath, mgmtPath, 1), ""); r.Status != http.StatusUnauthorized {
		t.Errorf("management API with a link token only: %d, want 401", r.Status)
	}
}

// TestMgmtTaskHubParam: the management API accepts DF's taskHub and connection
// parameters when they name this app's, and refuses another task hub (404: its
// instances are not here) or another connection (400).
func TestMgmtTaskHubParam(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	api := w.Server.URL + mgmtPath
	id, _ := mgmtStart(t, api, "chaining", "", "")
	mgmtWait(t, api, id, "Completed", 30*time.Second)
	cases := []struct {
		query  string
		status int
	}{
		{"taskHub=" + h.hub + "&connection=Storage", 200},
		{"taskHub=" + strings.ToUpper(h.hub), 200},
		{"taskHub=SomeOtherHub&connection=Storage", 404},
		{"connection=Elsewhere", 400},
	}
	for _, c := range cases {
		r := do(t, "GET", api+"/instances/"+id+"?"+c.query, "")
		if r.Status != c.status {
			t.Errorf("%s: %d %s, want %d", c.query, r.Status, r.Body, c.status)
		}
		if c.status >= 400 && r.JSON(t)["Message"] == nil {
			t.Errorf("%s: body %s has no Message", c.query, r.Body)
		}
	}
	if r := do(t, "GET", api+"/instances?taskHub=SomeOtherHub", ""); r.Status != http.StatusNotFound {
		t.Errorf("list in another task hub: %d", r.Status)
	}
}

// TestMgmtErrorBodies: the management API's errors have the shapes of DF's, which
// DF's clients read: {"Message"} objects, ExceptionMessage where DF reports an
// exception, a bare JSON string for a purge without createdTimeFrom.
func TestMgmtErrorBodies(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	api := w.Server.URL + mgmtPath

	r := do(t, "POST", api+"/orchestrators/no_such_orchestrator", "")
	var e struct{ Message, ExceptionMessage, ExceptionType string }
	if err := json.Unmarshal(r.Body, &e); err != nil || r.Status != http.StatusBadRequest ||
		e.Message != "One or more of the arguments submitted is incorrect" || !strings.Contains(e.ExceptionMessage, "'no_such_orchestrator' doesn't exist") {
		t.Errorf("unknown orchestrator: %d %s, want DF's 400", r.Status, r.Body)
	}
	r = do(t, "POST", api+"/orchestrators/chaining", "{not json", "Content-Type", "application/json")
	if err := json.Unmarshal(r.Body, &e); err != nil || r.Status != http.StatusBadRequest || e.Message != "Invalid JSON content" {
		t.Errorf("bad JSON start: %d %s", r.Status, r.Body)
	}
	r = do(t, "POST", api+"/instances/nobody/restart", "")
	if err := json.Unmarshal(r.Body, &e); err != nil || r.Status != http.StatusBadRequest || e.Message != "InstanceId does not match a valid orchestration instance." {
		t.Errorf("restart unknown: %d %s", r.Status, r.Body)
	}
	r = do(t, "DELETE", api+"/instances", "")
	var s string
	if err := json.Unmarshal(r.Body, &s); err != nil || r.Status != http.StatusBadRequest || s != "Please provide value for 'createdTimeFrom' parameter." {
		t.Errorf("purge without createdTimeFrom: %d %s, want DF's JSON string", r.Status, r.Body)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/instances/nobody"},
		{"POST", "/instances/nobody/terminate"},
		{"GET", "/instances/nobody?showHistory=maybe"},
		{"GET", "/nothing-here"},
	} {
		r := do(t, c.method, api+c.path, "")
		if m, _ := r.JSON(t)["Message"].(string); r.Status < 400 || m == "" || r.JSON(t)["error"] != nil {
			t.Errorf("%s %s: %d %s, want a DF error body", c.method, c.path, r.Status, r.Body)
		}
	}
}
