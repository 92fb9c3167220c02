package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// Durable Functions parity: rewind, recursive terminate and purge, versioning and
// patches, durable HTTP, and waits with a default.

// mgmtStatusOf reads an instance through the management API.
func mgmtStatusOf(t testing.TB, api, id string) mgmtStatus {
	t.Helper()
	return decodeStatus(t, do(t, "GET", api+"/instances/"+id, ""))
}

func waitMgmt(t testing.TB, api, id, want string, within time.Duration) mgmtStatus {
	t.Helper()
	var s mgmtStatus
	eventually(t, within, id+" "+want, func() (bool, string) {
		s = mgmtStatusOf(t, api, id)
		return s.RuntimeStatus == want, s.RuntimeStatus + " " + string(s.Output)
	})
	return s
}

// failOnce makes an activity fail the first time it runs for a key.
type failOnce struct {
	mu   sync.Mutex
	seen map[string]int
}

func (f *failOnce) activity(ctx durable.ActivityContext) (any, error) {
	var key string
	_ = ctx.GetInput(&key)
	f.mu.Lock()
	f.seen[key]++
	n := f.seen[key]
	f.mu.Unlock()
	if n == 1 {
		return nil, fmt.Errorf("transient failure of %s", key)
	}
	return "ok:" + key, nil
}

func TestRewind(t *testing.T) {
	h := newHarness(t, nil)
	flaky := &failOnce{seen: map[string]int{}}
	w := h.startCustomWorker(testRoot(t), func(reg *durable.Registry) {
		reg.AddActivity("rw_flaky", flaky.activity)
		reg.AddActivity("rw_add", func(ctx durable.ActivityContext) (any, error) {
			var s string
			_ = ctx.GetInput(&s)
			return s + "+", nil
		})
		// A chain whose middle step fails once.
		reg.AddOrchestrator("rw_chain", func(ctx durable.OrchestrationContext) (any, error) {
			var key, a, b, c string
			_ = ctx.GetInput(&key)
			if err := ctx.CallActivity("rw_add", key, nil).Await(&a); err != nil {
				return nil, err
			}
			if err := ctx.CallActivity("rw_flaky", key, nil).Await(&b); err != nil {
				return nil, err
			}
			if err := ctx.CallActivity("rw_add", a+b, nil).Await(&c); err != nil {
				return nil, err
			}
			return c, nil
		})
		reg.AddOrchestrator("rw_parent", func(ctx durable.OrchestrationContext) (any, error) {
			var key, out string
			_ = ctx.GetInput(&key)
			err := ctx.CallSubOrchestrator("rw_chain", key, &durable.SubOrchestratorOptions{InstanceID: ctx.InstanceID() + "-child"}).Await(&out)
			return "parent:" + out, err
		})
	})
	api := w.Server.URL + mgmtPath
	ctx := testenv.Context(t, 2*time.Minute)

	t.Run("failed activity retried from the failure point", func(t *testing.T) {
		id, _ := mgmtStart(t, api, "rw_chain", "rw-1", `"k1"`)
		s := waitMgmt(t, api, id, "Failed", 30*time.Second)
		if !strings.Contains(string(s.Output), "transient failure of k1") {
			t.Fatalf("output %s", s.Output)
		}
		if r := do(t, "POST", api+"/instances/"+id+"/rewind?reason=fixed", ""); r.Status != http.StatusAccepted {
			t.Fatalf("rewind: %d %s", r.Status, r.Body)
		}
		s = waitMgmt(t, api, id, "Completed", 30*time.Second)
		if string(s.Output) != `"k1+ok:k1+"` {
			t.Fatalf("output %s, want \"k1+ok:k1+\"", s.Output)
		}
		// The first step ran once: the rewind resumed at the failure, not from scratch.
		full, err := w.App.Hub.GetStatus(ctx, id, nilOpts())
		if err != nil {
			t.Fatal(err)
		}
		scheduled := 0
		for _, e := range full.History {
			if e.Type == "TaskScheduled" {
				scheduled++
			}
		}
		if scheduled != 3 {
			t.Fatalf("%d activities scheduled, want 3 (no step repeated)", scheduled)
		}
		if r := do(t, "POST", api+"/instances/"+id+"/rewind", ""); r.Status != http.StatusPreconditionFailed {
			t.Fatalf("rewind of a completed instance: %d %s, want 412", r.Status, r.Body)
		}
		if r := do(t, "POST", api+"/instances/nobody-here/rewind", ""); r.Status != http.StatusNotFound {
			t.Fatalf("rewind of an unknown instance: %d %s, want 404", r.Status, r.Body)
		}
	})
	t.Run("failed sub-orchestration rewound with its parent", func(t *testing.T) {
		id, err := w.App.Client.StartNew(ctx, "rw_parent", "k2", &durable.StartOptions{InstanceID: "rw-2"})
		if err != nil {
			t.Fatal(err)
		}
		waitMgmt(t, api, id, "Failed", 30*time.Second)
		if s := mgmtStatusOf(t, api, id+"-child"); s.RuntimeStatus != "Failed" {
			t.Fatalf("child %s", s.RuntimeStatus)
		}
		if err := w.App.Client.Rewind(ctx, id, "fixed"); err != nil {
			t.Fatal(err)
		}
		s := waitMgmt(t, api, id, "Completed", 30*time.Second)
		if string(s.Output) != `"parent:k2+ok:k2+"` {
			t.Fatalf("output %s", s.Output)
		}
		if c := mgmtStatusOf(t, api, id+"-child"); c.RuntimeStatus != "Completed" {
			t.Fatalf("child %s after the rewind", c.RuntimeStatus)
		}
		if err := w.App.Client.Rewind(ctx, id, ""); !errors.Is(err, durable.ErrInstanceNotFailed) {
			t.Fatalf("client rewind of a completed instance: %v", err)
		}
	})
}

// partitionRows lists every row left in an instance's partition.
func partitionRows(t testing.TB, w *worker, id string) []string {
	t.Helper()
	rows, _, err := w.App.Hub.Instances().Query(testenv.Context(t, 10*time.Second), &storage.QueryOptions{Filter: "PartitionKey eq " + storage.Quote(storage.EscapeKey(id))})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range rows {
		keys = append(keys, r.RowKey)
	}
	return keys
}

func TestRecursiveTerminateAndPurge(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startCustomWorker(testRoot(t), func(reg *durable.Registry) {
		reg.AddOrchestrator("tree_leaf", func(ctx durable.OrchestrationContext) (any, error) {
			return nil, ctx.WaitForExternalEvent("never", 0).Await(nil)
		})
		reg.AddOrchestrator("tree_child", func(ctx durable.OrchestrationContext) (any, error) {
			return nil, ctx.CallSubOrchestrator("tree_leaf", nil, &durable.SubOrchestratorOptions{InstanceID: ctx.InstanceID() + "-leaf"}).Await(nil)
		})
		reg.AddOrchestrator("tree_parent", func(ctx durable.OrchestrationContext) (any, error) {
			a := ctx.CallSubOrchestrator("tree_child", nil, &durable.SubOrchestratorOptions{InstanceID: ctx.InstanceID() + "-a"})
			b := ctx.CallSubOrchestrator("tree_child", nil, &durable.SubOrchestratorOptions{InstanceID: ctx.InstanceID() + "-b"})
			return nil, durable.WhenAll(a, b)
		})
	})
	api := w.Server.URL + mgmtPath
	ctx := testenv.Context(t, 2*time.Minute)
	tree := func(root string) []string {
		return []string{root, root + "-a", root + "-b", root + "-a-leaf", root + "-b-leaf"}
	}

	for _, via := range []string{"http", "client"} {
		t.Run(via, func(t *testing.T) {
			root := "tree-" + via
			mgmtStart(t, api, "tree_parent", root, "")
			for _, id := range tree(root) {
				waitMgmt(t, api, id, "Running", 30*time.Second)
			}
			if r := do(t, "DELETE", api+"/instances/"+root+"?recursive=true", ""); r.Status != http.StatusPreconditionFailed {
				t.Fatalf("purge of a running tree: %d %s, want 412", r.Status, r.Body)
			}
			if via == "http" {
				if r := do(t, "POST", api+"/instances/"+root+"/terminate?recursive=true&reason=stop", ""); r.Status != http.StatusAccepted {
					t.Fatalf("terminate: %d %s", r.Status, r.Body)
				}
			} else if err := w.App.Client.Terminate(ctx, root, "stop", &durable.TerminateOptions{Recursive: true}); err != nil {
				t.Fatal(err)
			}
			for _, id := range tree(root) {
				waitMgmt(t, api, id, "Terminated", 30*time.Second)
			}
			// Let the children's (dropped) answers reach the terminated parents first, so
			// nothing is in flight when the partitions are listed.
			time.Sleep(500 * time.Millisecond)
			var n int
			if via == "http" {
				r := do(t, "DELETE", api+"/instances/"+root+"?recursive=true", "")
				if r.Status != http.StatusOK {
					t.Fatalf("purge: %d %s", r.Status, r.Body)
				}
				var res struct {
					InstancesDeleted int `json:"instancesDeleted"`
				}
				_ = json.Unmarshal(r.Body, &res)
				n = res.InstancesDeleted
			} else {
				var err error
				if n, err = w.App.Client.Purge(ctx, root, &durable.PurgeOptions{Recursive: true}); err != nil {
					t.Fatal(err)
				}
			}
			if n != 5 {
				t.Fatalf("purged %d instances, want 5", n)
			}
			for _, id := range tree(root) {
				if rows := partitionRows(t, w, id); len(rows) != 0 {
					t.Fatalf("partition of %s still holds %v", id, rows)
				}
			}
		})
	}
	t.Run("non-recursive terminate leaves children running", func(t *testing.T) {
		root := "tree-flat"
		mgmtStart(t, api, "tree_parent", root, "")
		for _, id := range tree(root) {
			waitMgmt(t, api, id, "Running", 30*time.Second)
		}
		if err := w.App.Client.Terminate(ctx, root, "stop", nil); err != nil {
			t.Fatal(err)
		}
		waitMgmt(t, api, root, "Terminated", 30*time.Second)
		time.Sleep(time.Second)
		if s := mgmtStatusOf(t, api, root+"-a-leaf"); s.RuntimeStatus != "Running" {
			t.Fatalf("leaf %s after a non-recursive terminate", s.RuntimeStatus)
		}
	})
}

// versionedRoot is a copy of the app's folders whose host.json sets durableTask.
func versionedRoot(t *testing.T, durableTask map[string]any) string {
	t.Helper()
	root := testRoot(t)
	p := filepath.Join(root, "host.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var host map[string]any
	if err := json.Unmarshal(b, &host); err != nil {
		t.Fatal(err)
	}
	ext, _ := host["extensions"].(map[string]any)
	if ext == nil {
		ext = map[string]any{}
		host["extensions"] = ext
	}
	ext["durableTask"] = durableTask
	b, _ = json.Marshal(host)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func registerVersioned(reg *durable.Registry) {
	reg.AddOrchestrator("ver_child", func(ctx durable.OrchestrationContext) (any, error) { return ctx.Version(), nil })
	reg.AddOrchestrator("ver_parent", func(ctx durable.OrchestrationContext) (any, error) {
		var child string
		if err := ctx.CallSubOrchestrator("ver_child", nil, nil).Await(&child); err != nil {
			return nil, err
		}
		return ctx.Version() + "/" + child, nil
	})
}

func TestVersioning(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startCustomWorker(versionedRoot(t, map[string]any{"defaultVersion": "2.0"}), registerVersioned)
	api := w.Server.URL + mgmtPath
	ctx := testenv.Context(t, 2*time.Minute)

	t.Run("default version, inherited by sub-orchestrations, shown in status", func(t *testing.T) {
		id, _ := mgmtStart(t, api, "ver_parent", "ver-default", "")
		s := waitMgmt(t, api, id, "Completed", 30*time.Second)
		if string(s.Output) != `"2.0/2.0"` {
			t.Fatalf("output %s", s.Output)
		}
		var raw map[string]any
		_ = json.Unmarshal(do(t, "GET", api+"/instances/"+id, "").Body, &raw)
		if raw["version"] != "2.0" {
			t.Fatalf("status version %v", raw["version"])
		}
	})
	t.Run("older version from the management API start", func(t *testing.T) {
		r := do(t, "POST", api+"/orchestrators/ver_parent/ver-old?version=1.5", "")
		if r.Status != http.StatusAccepted {
			t.Fatalf("start: %d %s", r.Status, r.Body)
		}
		if s := waitMgmt(t, api, "ver-old", "Completed", 30*time.Second); string(s.Output) != `"1.5/1.5"` {
			t.Fatalf("output %s", s.Output)
		}
	})
	t.Run("newer version is rejected (CurrentOrOlder, Reject)", func(t *testing.T) {
		id, err := w.App.Client.StartNew(ctx, "ver_parent", nil, &durable.StartOptions{InstanceID: "ver-new", Version: "3.0"})
		if err != nil {
			t.Fatal(err)
		}
		st, err := w.App.Client.GetStatus(ctx, id, nil)
		if err != nil || st.Version != "3.0" {
			t.Fatalf("status %+v %v", st, err)
		}
		time.Sleep(2 * time.Second)
		if s := mgmtStatusOf(t, api, id); s.RuntimeStatus != "Pending" {
			t.Fatalf("a 2.0 worker ran a 3.0 instance: %s %s", s.RuntimeStatus, s.Output)
		}
	})
	w.Stop()
	t.Run("Strict with Fail fails other versions", func(t *testing.T) {
		w2 := h.startCustomWorker(versionedRoot(t, map[string]any{"defaultVersion": "3.0", "versionMatchStrategy": "Strict", "versionFailureStrategy": "Fail"}), registerVersioned)
		api := w2.Server.URL + mgmtPath
		// The 3.0 instance the 2.0 worker rejected runs now (an event wakes it sooner
		// than the rejection's own retry).
		if err := w2.App.Client.RaiseEvent(ctx, "ver-new", "nudge", nil); err != nil {
			t.Fatal(err)
		}
		if s := waitMgmt(t, api, "ver-new", "Completed", 60*time.Second); string(s.Output) != `"3.0/3.0"` {
			t.Fatalf("output %s", s.Output)
		}
		if r := do(t, "POST", api+"/orchestrators/ver_parent/ver-strict?version=2.0", ""); r.Status != http.StatusAccepted {
			t.Fatalf("start: %d %s", r.Status, r.Body)
		}
		s := waitMgmt(t, api, "ver-strict", "Failed", 30*time.Second)
		if !strings.Contains(string(s.Output), "Strict") {
			t.Fatalf("output %s", s.Output)
		}
	})
}

// patchV1 and patchV2 are two builds of one orchestrator; v2 took a change behind
// IsPatched, decided before the wait as the README recommends.
func patchV1(ctx durable.OrchestrationContext) (any, error) {
	var name string
	if err := ctx.WaitForExternalEvent("go", 0).Await(&name); err != nil {
		return nil, err
	}
	var out string
	err := ctx.CallActivity("patch_greet", name, nil).Await(&out)
	return out, err
}

func patchV2(ctx durable.OrchestrationContext) (any, error) {
	v2 := ctx.IsPatched("greeting-v2")
	var name string
	if err := ctx.WaitForExternalEvent("go", 0).Await(&name); err != nil {
		return nil, err
	}
	if !v2 {
		var out string
		err := ctx.CallActivity("patch_greet", name, nil).Await(&out)
		return out, err
	}
	var out string
	if err := ctx.CallActivity("patch_greet_v2", name, nil).Await(&out); err != nil {
		return nil, err
	}
	return out + "!", nil
}

func TestPatchDeploy(t *testing.T) {
	h := newHarness(t, nil)
	root := testRoot(t)
	activities := func(reg *durable.Registry) {
		reg.AddActivity("patch_greet", func(ctx durable.ActivityContext) (any, error) {
			var n string
			_ = ctx.GetInput(&n)
			return "hello " + n, nil
		})
		reg.AddActivity("patch_greet_v2", func(ctx durable.ActivityContext) (any, error) {
			var n string
			_ = ctx.GetInput(&n)
			return "HELLO " + n, nil
		})
	}
	w1 := h.startCustomWorker(root, func(reg *durable.Registry) { activities(reg); reg.AddOrchestrator("patch_orch", patchV1) })
	api := w1.Server.URL + mgmtPath
	var old []string
	for i := range 2 {
		id, _ := mgmtStart(t, api, "patch_orch", fmt.Sprintf("patch-old-%d", i), "")
		old = append(old, id)
	}
	for _, id := range old {
		waitMgmt(t, api, id, "Running", 30*time.Second)
	}
	w1.Stop() // deploy
	w2 := h.startCustomWorker(root, func(reg *durable.Registry) { activities(reg); reg.AddOrchestrator("patch_orch", patchV2) })
	api = w2.Server.URL + mgmtPath
	newID, _ := mgmtStart(t, api, "patch_orch", "patch-new", "")
	waitMgmt(t, api, newID, "Running", 30*time.Second)
	for _, id := range append(old, newID) {
		if r := do(t, "POST", api+"/instances/"+id+"/raiseEvent/go", `"`+id+`"`, "Content-Type", "application/json"); r.Status != http.StatusAccepted {
			t.Fatalf("raise: %d %s", r.Status, r.Body)
		}
	}
	for _, id := range old {
		if s := waitMgmt(t, api, id, "Completed", 30*time.Second); string(s.Output) != `"hello `+id+`"` {
			t.Fatalf("old instance %s: %s, want the old path", id, s.Output)
		}
	}
	if s := waitMgmt(t, api, newID, "Completed", 30*time.Second); string(s.Output) != `"HELLO patch-new!"` {
		t.Fatalf("new instance: %s, want the patched path", s.Output)
	}
	full, err := w2.App.Hub.GetStatus(testenv.Context(t, 10*time.Second), newID, nilOpts())
	if err != nil {
		t.Fatal(err)
	}
	marker := false
	for _, e := range full.History {
		marker = marker || (e.Type == "PatchMarker" && e.Name == "greeting-v2")
	}
	if !marker {
		t.Fatal("the new instance's history has no PatchMarker")
	}
}

// fakeToken is a token source for tests: CallHTTP must put its token in the header.
type fakeToken struct {
	Value string `json:"value"`
}

func (f *fakeToken) TokenSourceKind() string               { return "e2e-fake" }
func (f *fakeToken) Token(context.Context) (string, error) { return f.Value, nil }

func init() {
	durable.RegisterTokenSource("e2e-fake", func() durable.TokenSource { return &fakeToken{} })
}

func TestCallHTTP(t *testing.T) {
	var polls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", "1")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "%s|%s|%s|%s", r.Method, r.Header.Get("X-Test"), r.Header.Get("Authorization"), b)
	})
	mux.HandleFunc("/job", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/job/status")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("/job/status", func(w http.ResponseWriter, r *http.Request) {
		if polls.Add(1) < 2 {
			w.Header().Set("Location", "/job/status")
			w.WriteHeader(http.StatusAccepted)
			return
		}
		fmt.Fprint(w, "job done")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux) // 127.0.0.1 only
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/"
	l.Close()

	h := newHarness(t, nil)
	w := h.startCustomWorker(testRoot(t), func(reg *durable.Registry) {
		reg.AddOrchestrator("http_call", func(ctx durable.OrchestrationContext) (any, error) {
			var req durable.HTTPRequest
			if err := ctx.GetInput(&req); err != nil {
				return nil, err
			}
			if req.Headers.Get("X-Token") != "" {
				req.TokenSource = &fakeToken{Value: req.Headers.Get("X-Token")}
				req.Headers.Del("X-Token")
			}
			var resp durable.HTTPResponse
			if err := ctx.CallHTTP(req).Await(&resp); err != nil {
				var tfe *durable.TaskFailedError
				if errors.As(err, &tfe) {
					return nil, fmt.Errorf("task failed: %w", err)
				}
				return nil, err
			}
			return resp, nil
		})
	})
	api := w.Server.URL + mgmtPath
	run := func(t *testing.T, id string, req durable.HTTPRequest, want string) mgmtStatus {
		t.Helper()
		b, _ := json.Marshal(req)
		mgmtStart(t, api, "http_call", id, string(b))
		return waitMgmt(t, api, id, want, 40*time.Second)
	}
	response := func(t *testing.T, s mgmtStatus) durable.HTTPResponse {
		t.Helper()
		var r durable.HTTPResponse
		if err := json.Unmarshal(s.Output, &r); err != nil {
			t.Fatalf("output %s: %v", s.Output, err)
		}
		return r
	}
	t.Run("method, headers, body and token", func(t *testing.T) {
		s := run(t, "http-echo", durable.HTTPRequest{Method: "PUT", URL: srv.URL + "/echo", Body: "payload",
			Headers: http.Header{"X-Test": {"abc"}, "X-Token": {"fake-token"}}}, "Completed")
		r := response(t, s)
		if r.StatusCode != http.StatusCreated || r.Body != "PUT|abc|Bearer fake-token|payload" || r.Headers.Get("X-Echo") != "1" {
			t.Fatalf("response %+v", r)
		}
	})
	t.Run("202 with Location is polled on durable timers", func(t *testing.T) {
		start := time.Now()
		s := run(t, "http-poll", durable.HTTPRequest{Method: "POST", URL: srv.URL + "/job"}, "Completed")
		r := response(t, s)
		if r.StatusCode != 200 || r.Body != "job done" || polls.Load() != 2 {
			t.Fatalf("response %+v after %d polls", r, polls.Load())
		}
		if d := time.Since(start); d < 2*time.Second {
			t.Fatalf("finished in %v: the two Retry-After waits of 1 s were not kept", d)
		}
		full, err := w.App.Hub.GetStatus(testenv.Context(t, 10*time.Second), "http-poll", nilOpts())
		if err != nil {
			t.Fatal(err)
		}
		timers := 0
		for _, e := range full.History {
			if e.Type == "TimerCreated" {
				timers++
			}
		}
		if timers != 2 {
			t.Fatalf("%d durable timers, want 2", timers)
		}
	})
	t.Run("connection refused is a task failure", func(t *testing.T) {
		s := run(t, "http-refused", durable.HTTPRequest{URL: refused}, "Failed")
		if !strings.Contains(string(s.Output), "task failed") || !strings.Contains(string(s.Output), "refused") {
			t.Fatalf("output %s", s.Output)
		}
	})
	t.Run("timeout is a task failure", func(t *testing.T) {
		s := run(t, "http-timeout", durable.HTTPRequest{URL: srv.URL + "/slow", Timeout: 300 * time.Millisecond}, "Failed")
		if !strings.Contains(string(s.Output), "task failed") || !strings.Contains(string(s.Output), "deadline exceeded") {
			t.Fatalf("output %s", s.Output)
		}
	})
}

func TestWaitForExternalEventOrDefault(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startCustomWorker(testRoot(t), func(reg *durable.Registry) {
		reg.AddOrchestrator("wait_default", func(ctx durable.OrchestrationContext) (any, error) {
			var v string
			err := ctx.WaitForExternalEventOrDefault("answer", 2*time.Second, "nobody answered").Await(&v)
			return v, err
		})
	})
	api := w.Server.URL + mgmtPath
	mgmtStart(t, api, "wait_default", "wait-timeout", "")
	mgmtStart(t, api, "wait_default", "wait-answered", "")
	waitMgmt(t, api, "wait-answered", "Running", 20*time.Second)
	if r := do(t, "POST", api+"/instances/wait-answered/raiseEvent/answer", `"yes"`, "Content-Type", "application/json"); r.Status != http.StatusAccepted {
		t.Fatalf("raise: %d %s", r.Status, r.Body)
	}
	if s := waitMgmt(t, api, "wait-answered", "Completed", 20*time.Second); string(s.Output) != `"yes"` {
		t.Fatalf("output %s", s.Output)
	}
	if s := waitMgmt(t, api, "wait-timeout", "Completed", 20*time.Second); string(s.Output) != `"nobody answered"` {
		t.Fatalf("output %s", s.Output)
	}
}
