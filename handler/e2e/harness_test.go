package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/handler/apps"
	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/appdef"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/runner"
	"github.com/durablego/durablefunctions/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// repoRoot is the app root: the folder with host.json, two levels up from here.
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "host.json")); err != nil {
		t.Fatalf("app root not found: %v", err)
	}
	return root
}

type env map[string]string

func (e env) get(k string) string { return e[k] }

// worker is one in-process instance of the app: HTTP server plus queue pollers.
type worker struct {
	App    *app.App
	Server *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
}

func (w *worker) Stop() {
	w.cancel()
	<-w.done
	w.Server.Close()
}

type harness struct {
	t    testing.TB
	az   *testenv.Azurite
	hub  string
	vars env
	// root and lease override the app root and the standalone lease of processes
	// started by startProcess (defaults: the repository root, 4s).
	root, lease string
}

func newHarness(t testing.TB, extra env) *harness {
	az := testenv.Shared(t)
	h := &harness{t: t, az: az, hub: testenv.HubName("e2e"), vars: env{
		"AZURE_FUNCTIONS_ENVIRONMENT": "Development",
	}}
	h.vars["DURABLE_TASK_HUB"] = h.hub
	h.vars["AzureWebJobsStorage"] = az.ConnectionString
	for k, v := range extra {
		h.vars[k] = v
	}
	return h
}

func quietLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("E2E_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func (h *harness) newApp() *app.App {
	h.t.Helper()
	ctx := testenv.Context(h.t, time.Minute)
	root := h.root
	if root == "" {
		root = repoRoot(h.t)
	}
	a, err := app.New(ctx, app.Options{Root: root, Getenv: h.vars.get, Logger: quietLogger(), Account: h.az.Account(h.t), Def: sampleApp()})
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// startWorker runs a standalone worker in this process.
func (h *harness) startWorker() *worker {
	h.t.Helper()
	a := h.newApp()
	handler, err := a.StandaloneHandler()
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{App: a, Server: newServer(handler, nil), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		_ = a.RunWorkers(ctx, &runner.PollerOptions{Lease: 10 * time.Second, MinPollingInterval: 20 * time.Millisecond})
	}()
	h.t.Cleanup(w.Stop)
	return w
}

// newServer serves handler with the production server settings (runner.NewServer:
// timeouts, body cap), on a local port.
func newServer(handler http.Handler, opts *runner.ServerOptions) *httptest.Server {
	srv := httptest.NewUnstartedServer(handler)
	srv.Config = runner.NewServer(handler, opts).Server
	srv.Start()
	return srv
}

type response struct {
	Status int
	Body   []byte
	Header http.Header
}

func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object (%d): %s", r.Status, r.Body)
	}
	return m
}

func do(t testing.TB, method, url, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Body: b, Header: resp.Header}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last state: %s", within, what, last)
}

func counterValue(t testing.TB, base, key string) int64 {
	t.Helper()
	url := base + "/api/counter"
	if key != "" {
		url += "/" + key
	}
	r := do(t, "GET", url, "")
	if r.Status != 200 {
		t.Fatalf("GET %s: %d %s", url, r.Status, r.Body)
	}
	var v struct{ Value *int64 }
	if err := json.Unmarshal(r.Body, &v); err != nil || v.Value == nil {
		t.Fatalf("GET %s: body %s is not {\"value\": n}", url, r.Body)
	}
	return *v.Value
}

func waitCounter(t testing.TB, base, key string, want int64, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("counter %q = %d", key, want), func() (bool, string) {
		v := counterValue(t, base, key)
		return v == want, fmt.Sprint(v)
	})
}

func nilOpts() *engine.StatusOptions { return &engine.StatusOptions{ShowHistory: true} }

// errorMessage is the message of an error answer: {"error": ...} on app routes,
// DF's {"Message": ...} on the management API.
func errorMessage(t testing.TB, path string, r response) string {
	t.Helper()
	key := "error"
	if strings.Contains(path, "/runtime/webhooks/durabletask") {
		key = "Message"
	}
	msg, _ := r.JSON(t)[key].(string)
	return msg
}

// refusal is a request the app must refuse with status and an error body (errorMessage).
type refusal struct {
	name, method, path, body string
	status                   int
}

// expectRefusals sends each request to w and checks the refusal, then that none of
// them wrote anything: the hub holds no instance rows.
func expectRefusals(t *testing.T, w *worker, cases []refusal) {
	t.Helper()
	base := w.Server.URL
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, c.method, base+c.path, c.body)
			if r.Status != c.status {
				t.Fatalf("%s %s: status %d, want %d (%s)", c.method, c.path, r.Status, c.status, r.Body)
			}
			if msg := errorMessage(t, c.path, r); msg == "" {
				t.Fatalf("no error message in %s", r.Body)
			}
		})
	}
	ctx := testenv.Context(t, 10*time.Second)
	rows, _, err := w.App.Hub.Instances().Query(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 0 {
		t.Fatalf("refused requests wrote %d rows", len(rows))
	}
}

// sampleApp is a fresh definition of the sample app (its own registry).
func sampleApp() *appdef.Def { return appdef.Of(apps.App()) }
