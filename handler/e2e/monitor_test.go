package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps/counter"
	"github.com/durablego/durablefunctions/handler/apps/patterns"
	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/runner"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// monitorPath is where the durable_monitor function serves the dashboard.
const monitorPath = "/api/monitor"

// chromiumPath finds Debian's chromium (scripts/chromium.sh installs it). Without it
// the browser test fails under CI=true and skips elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed: run scripts/chromium.sh as root (apt-get install chromium) to run the dashboard browser test"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// registerMonitorDemo adds an orchestration that leaves every kind of timeline
// entry: parallel activities, a sub-orchestration, a critical section with an entity
// call, and a durable timer.
func registerMonitorDemo(reg *durable.Registry) {
	reg.AddOrchestrator("monitor_demo", func(ctx durable.OrchestrationContext) (any, error) {
		ctx.SetCustomStatus(map[string]string{"stage": "fan-out"})
		var items []patterns.WorkItem
		if err := ctx.CallActivity("GetWorkBatch", patterns.FanOutInput{Items: 4, SpreadMillis: 4000}, nil).Await(&items); err != nil {
			return nil, err
		}
		tasks := make([]durable.Task, len(items))
		for i, it := range items {
			tasks[i] = ctx.CallActivity("ProcessItem", it, nil)
		}
		squares := make([]int, len(items))
		for i, t := range tasks {
			if err := t.Await(&squares[i]); err != nil {
				return nil, err
			}
		}
		ctx.SetCustomStatus(map[string]string{"stage": "sub-orchestration"})
		var chained int
		if err := ctx.CallSubOrchestrator("chaining", nil, nil).Await(&chained); err != nil {
			return nil, err
		}
		ctx.SetCustomStatus(map[string]string{"stage": "critical section"})
		acct := durable.NewEntityID(counter.EntityName, "demo")
		unlock, locked := ctx.LockEntities(acct)
		if err := locked.Await(nil); err != nil {
			return nil, err
		}
		err := ctx.CallEntity(acct, "add", chained).Await(nil)
		unlock()
		if err != nil {
			return nil, err
		}
		if err := ctx.CreateTimer(ctx.CurrentUTCDateTime().Add(500 * time.Millisecond)).Await(nil); err != nil {
			return nil, err
		}
		var sum int
		if err := ctx.CallActivity("Sum", squares, nil).Await(&sum); err != nil {
			return nil, err
		}
		ctx.SetCustomStatus(map[string]string{"stage": "done"})
		return map[string]int{"sumOfSquares": sum, "chained": chained}, nil
	})
}

// startMonitorWorker is startWorker with the demo orchestration registered.
func (h *harness) startMonitorWorker() *worker {
	h.t.Helper()
	ctx := testenv.Context(h.t, time.Minute)
	a, err := app.New(ctx, app.Options{Root: repoRoot(h.t), Getenv: h.vars.get, Logger: quietLogger(), Account: h.az.Account(h.t), Def: sampleApp(), Register: registerMonitorDemo})
	if err != nil {
		h.t.Fatal(err)
	}
	handler, err := a.StandaloneHandler()
	if err != nil {
		h.t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	w := &worker{App: a, Server: httptest.NewServer(handler), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		_ = a.RunWorkers(wctx, &runner.PollerOptions{Lease: 10 * time.Second, MinPollingInterval: 20 * time.Millisecond})
	}()
	h.t.Cleanup(w.Stop)
	return w
}

// browser starts headless chromium and fails the test on any script error or
// content-security-policy violation the page reports.
func browser(t *testing.T) context.Context {
	t.Helper()
	// A fresh profile per test. Not t.TempDir: chromium's helper processes may still
	// write to it for a moment after the browser is gone, which fails TempDir's clean-up.
	profile, err := os.MkdirTemp("", "monitor-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1440, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		for i := 0; i < 50 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})

	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value))
				}
				problems = append(problems, "console.error: "+strings.Join(parts, " "))
			}
		case *cdplog.EventEntryAdded:
			// Network entries are the API's expected 4xx/5xx answers (the rewind 501).
			if e.Entry.Level == cdplog.LevelError && e.Entry.Source != cdplog.SourceNetwork {
				problems = append(problems, fmt.Sprintf("%s: %s", e.Entry.Source, e.Entry.Text))
			}
		}
	})
	if err := chromedp.Run(ctx, cdplog.Enable()); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("browser reported %s", p)
		}
	})
	return ctx
}

// run runs browser actions, failing the test with what was being done and the page's
// text. Each call has its own deadline, so a missing element fails in seconds.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	if err := chromedp.Run(sctx, actions...); err != nil {
		var body string
		_ = chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('#view') ? document.querySelector('#view').innerText.slice(0, 2000) : document.body.innerText`, &body))
		t.Fatalf("%s: %v\npage: %s", what, err, body)
	}
}

// waitJS polls a JavaScript condition in the page.
func waitJS(expr string, within time.Duration) chromedp.Action {
	return chromedp.Poll(expr, nil, chromedp.WithPollingTimeout(within), chromedp.WithPollingInterval(100*time.Millisecond))
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// clickJS clicks the element sel as soon as it exists, in one step in the page: a
// refresh cannot replace it between finding and clicking.
func clickJS(sel string) chromedp.Action {
	return waitJS(`(() => { const e = document.querySelector(`+jsString(sel)+`); if (!e || e.disabled) return false; e.click(); return true; })()`, 20*time.Second)
}

// screenshotPath is where the dashboard screenshot goes: $DASHBOARD_SCREENSHOT, or a
// file in the test's temporary directory.
func screenshotPath(t *testing.T) string {
	if p := os.Getenv("DASHBOARD_SCREENSHOT"); p != "" {
		return p
	}
	return filepath.Join(t.TempDir(), "dashboard.png")
}

// TestMonitorDashboard drives the dashboard in headless chromium against a worker on
// real Azurite: the instances list with counts, an instance's timeline and a link to
// its sub-orchestration, terminate (through the in-page confirm dialog), rewind's 501,
// entities with delete, and the task hub's queues and poison messages.
func TestMonitorDashboard(t *testing.T) {
	ctx := browser(t)
	h := newHarness(t, nil)
	w := h.startMonitorWorker()
	base := w.Server.URL
	api := base + mgmtPath

	demo, _ := mgmtStart(t, api, "monitor_demo", "", "")
	chain1, _ := mgmtStart(t, api, "chaining", "", "")
	chain2, _ := mgmtStart(t, api, "chaining", "", "")
	waiting, _ := mgmtStart(t, api, "approval", "", `{"item":"purchase order 4711","timeoutSeconds":3600}`)
	failed, _ := mgmtStart(t, api, "approval", "", `{"item": 5}`) // item must be a string
	for _, k := range []struct{ key, n string }{{"alpha", "5"}, {"beta", "12"}, {"gamma", "7"}} {
		if r := do(t, "POST", api+"/entities/counter_entity/"+k.key+"?op=add", k.n, "Content-Type", "application/json"); r.Status != http.StatusAccepted {
			t.Fatalf("signal: %d %s", r.Status, r.Body)
		}
	}
	ctxQ := testenv.Context(t, time.Minute)
	oq, err := w.App.Hub.Account().Queue(ctxQ, h.hub+"-orchestrator")
	if err != nil {
		t.Fatal(err)
	}
	if err := oq.Send(ctxQ, "not a wake-up message", 0); err != nil {
		t.Fatal(err)
	}
	demoStatus := mgmtWait(t, api, demo, "Completed", 60*time.Second)
	mgmtWait(t, api, chain1, "Completed", 30*time.Second)
	mgmtWait(t, api, chain2, "Completed", 30*time.Second)
	mgmtWait(t, api, failed, "Failed", 30*time.Second)
	mgmtWait(t, api, waiting, "Running", 30*time.Second)
	eventually(t, 20*time.Second, "entities and poison", func() (bool, string) {
		r := do(t, "GET", api+"/entities/counter_entity/gamma", "")
		p := do(t, "GET", api+"/poison", "")
		return r.Status == 200 && strings.Contains(string(p.Body), "not a wake-up message"), fmt.Sprint(r.Status, string(p.Body))
	})

	// What the timeline must show, from the API's own history.
	hist := decodeStatus(t, do(t, "GET", api+"/instances/"+demo+"?showHistory=true", ""))
	activities, subID := 0, ""
	for _, raw := range hist.HistoryEvents {
		var ev struct{ EventType, InstanceId string }
		_ = json.Unmarshal(raw, &ev)
		switch ev.EventType {
		case "TaskCompleted":
			activities++
		case "SubOrchestrationInstanceCompleted":
			subID = ev.InstanceId
		}
	}
	if activities != 6 || subID == "" {
		t.Fatalf("demo history has %d completed activities, sub-orchestration %q: %+v", activities, subID, demoStatus)
	}

	page := base + monitorPath
	shot := screenshotPath(t)
	// save writes a full-page screenshot: the instance page to shot, the other views
	// next to it.
	save := func(t *testing.T, view string) {
		p := shot
		if view != "" {
			p = strings.TrimSuffix(shot, ".png") + "-" + view + ".png"
		}
		if err := os.WriteFile(p, screenshot(t, ctx), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("instances", func(t *testing.T) {
		row := func(id string) string { return `#instances tr[data-instance-id=` + jsString(id) + `]` }
		var runningCount, completedCount string
		run(t, ctx, "instances list",
			chromedp.Navigate(page),
			chromedp.WaitVisible(row(demo), chromedp.ByQuery),
			chromedp.WaitVisible(row(waiting), chromedp.ByQuery),
			chromedp.WaitVisible(row(failed), chromedp.ByQuery),
			chromedp.WaitVisible(row(chain1), chromedp.ByQuery),
			chromedp.WaitVisible(row(subID), chromedp.ByQuery),
			waitJS(`document.querySelector('#counts .count[data-status=Completed] .n')?.textContent === '4'`, 10*time.Second),
			chromedp.Text(`#counts .count[data-status=Running] .n`, &runningCount, chromedp.ByQuery),
			chromedp.Text(`#counts .count[data-status=Completed] .n`, &completedCount, chromedp.ByQuery),
		)
		if runningCount != "1" || completedCount != "4" {
			t.Fatalf("counts: running %q completed %q, want 1 and 4", runningCount, completedCount)
		}
		save(t, "instances")
		var chip string
		run(t, ctx, "status chip", chromedp.Text(row(failed)+` .chip`, &chip, chromedp.ByQuery))
		if chip != "Failed" {
			t.Fatalf("failed instance chip %q", chip)
		}

		// Filters: by status (server-side) and by orchestrator name (in the page).
		var ids []string
		listed := `Array.from(document.querySelectorAll('#instances tr[data-instance-id]')).map(r => r.dataset.instanceId)`
		run(t, ctx, "status filter",
			chromedp.SetValue(`#f-status`, "Running", chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelector('#f-status').dispatchEvent(new Event('change'))`, nil),
			waitJS(`location.hash.includes('status=Running') && document.querySelectorAll('#instances tr[data-instance-id]').length === 1`, 10*time.Second),
			chromedp.Evaluate(listed, &ids),
		)
		if len(ids) != 1 || ids[0] != waiting {
			t.Fatalf("Running filter lists %v, want [%s]", ids, waiting)
		}
		run(t, ctx, "name filter",
			chromedp.Navigate(page+"#/instances"),
			chromedp.WaitVisible(row(demo), chromedp.ByQuery),
			chromedp.SendKeys(`#f-name`, "chain", chromedp.ByQuery),
			clickJS(`#f-apply`),
			waitJS(`location.hash.includes('name=chain') && document.querySelectorAll('#instances tr[data-instance-id]').length === 3`, 10*time.Second),
			chromedp.Evaluate(listed, &ids),
		)
		want := map[string]bool{chain1: true, chain2: true, subID: true}
		for _, id := range ids {
			if !want[id] {
				t.Fatalf("name filter 'chain' lists %v", ids)
			}
		}
	})

	t.Run("timeline", func(t *testing.T) {
		var bars, subBars, entityBars, lockBars, timerBars []*cdp.Node
		var title string
		run(t, ctx, "instance page",
			chromedp.Navigate(page+"#/instances"),
			clickJS(`#instances tr[data-instance-id=`+jsString(demo)+`] a`),
			chromedp.WaitVisible(`#timeline .tl-bar[data-kind=activity]`, chromedp.ByQuery),
			chromedp.Text(`#instance-id`, &title, chromedp.ByQuery),
			chromedp.Nodes(`#timeline .tl-bar[data-kind=activity][data-state=done]`, &bars, chromedp.ByQueryAll),
			chromedp.Nodes(`#timeline .tl-bar[data-kind=suborchestration]`, &subBars, chromedp.ByQueryAll),
			chromedp.Nodes(`#timeline .tl-bar[data-kind=entity]`, &entityBars, chromedp.ByQueryAll),
			chromedp.Nodes(`#timeline .tl-bar[data-kind=lock], #timeline .tl-bar[data-kind=locked]`, &lockBars, chromedp.ByQueryAll),
			chromedp.Nodes(`#timeline .tl-bar[data-kind=timer]`, &timerBars, chromedp.ByQueryAll),
		)
		if title != demo || len(bars) != activities || len(subBars) != 1 || len(entityBars) != 1 || len(lockBars) != 2 || len(timerBars) != 1 {
			t.Fatalf("instance %q timeline: %d activity bars (want %d), %d sub-orchestration, %d entity, %d lock, %d timer",
				title, len(bars), activities, len(subBars), len(entityBars), len(lockBars), len(timerBars))
		}
		// Bars are laid out on the time axis: each has a width and starts inside the track.
		var laidOut bool
		run(t, ctx, "bar geometry", chromedp.Evaluate(`Array.from(document.querySelectorAll('#timeline .tl-bar')).every(b => {
			const r = b.getBoundingClientRect(), tr = b.parentElement.getBoundingClientRect();
			return r.width >= 3 && r.left >= tr.left - 1 && r.right <= tr.right + 4;
		})`, &laidOut))
		if !laidOut {
			t.Fatal("timeline bars lie outside their tracks")
		}
		var output string
		run(t, ctx, "output panel", chromedp.Text(`#output`, &output, chromedp.ByQuery))
		if !strings.Contains(output, `"sumOfSquares": 30`) || !strings.Contains(output, `"chained": 45`) {
			t.Fatalf("output panel: %q", output)
		}
		save(t, "")
		// The sub-orchestration links to its own page.
		var subTitle string
		run(t, ctx, "sub-orchestration link",
			clickJS(`#timeline a[data-instance-id=`+jsString(subID)+`]`),
			waitJS(`document.querySelector('#instance-id')?.textContent === `+jsString(subID), 10*time.Second),
			chromedp.Text(`#instance-id`, &subTitle, chromedp.ByQuery),
		)
		if subTitle != subID {
			t.Fatalf("sub-orchestration page shows %q", subTitle)
		}
	})

	t.Run("terminate", func(t *testing.T) {
		var dialogTitle string
		run(t, ctx, "terminate through the dialog",
			chromedp.Navigate(page+"#/instance/"+url.PathEscape(waiting)),
			waitJS(`document.querySelector('#instance-status')?.textContent === 'Running'`, 10*time.Second),
			chromedp.WaitVisible(`#timeline .tl-bar[data-kind=timer][data-state=open]`, chromedp.ByQuery),
			clickJS(`#act-terminate`),
			chromedp.WaitVisible(`#dialog`, chromedp.ByQuery),
			chromedp.Text(`#dlg-title`, &dialogTitle, chromedp.ByQuery),
		)
		if dialogTitle != "Terminate instance" {
			t.Fatalf("dialog %q", dialogTitle)
		}
		// Cancel acts on nothing.
		run(t, ctx, "cancel", chromedp.Click(`#dlg-cancel`, chromedp.ByQuery), chromedp.WaitNotVisible(`#dialog`, chromedp.ByQuery))
		time.Sleep(300 * time.Millisecond)
		if s := decodeStatus(t, do(t, "GET", api+"/instances/"+waiting, "")); s.RuntimeStatus != "Running" {
			t.Fatalf("cancelled dialog terminated the instance: %s", s.RuntimeStatus)
		}
		run(t, ctx, "confirm",
			clickJS(`#act-terminate`),
			chromedp.WaitVisible(`#dlg-f-reason`, chromedp.ByQuery),
			chromedp.SendKeys(`#dlg-f-reason`, "no longer needed", chromedp.ByQuery),
			chromedp.Click(`#dlg-ok`, chromedp.ByQuery),
			chromedp.WaitNotVisible(`#dialog`, chromedp.ByQuery),
			waitJS(`document.querySelector('#instance-status')?.textContent === 'Terminated'`, 30*time.Second),
		)
		r := do(t, "GET", api+"/instances/"+waiting+"?showHistory=true", "")
		if s := decodeStatus(t, r); s.RuntimeStatus != "Terminated" || !strings.Contains(string(r.Body), `"Reason":"no longer needed"`) {
			t.Fatalf("after terminate: %s", r.Body)
		}
		var purgeDisabled bool
		run(t, ctx, "purge enabled once finished", chromedp.Evaluate(`document.querySelector('#act-purge').disabled`, &purgeDisabled))
		if purgeDisabled {
			t.Fatal("purge stays disabled on a terminated instance")
		}
	})

	t.Run("rewind", func(t *testing.T) {
		run(t, ctx, "rewind requested",
			chromedp.Navigate(page+"#/instance/"+url.PathEscape(failed)),
			chromedp.WaitVisible(`#failure`, chromedp.ByQuery),
			clickJS(`#act-rewind`),
			chromedp.WaitVisible(`#dlg-ok`, chromedp.ByQuery),
			chromedp.SendKeys(`#dlg-f-reason`, "retry after fix", chromedp.ByQuery),
			chromedp.Click(`#dlg-ok`, chromedp.ByQuery),
			waitJS(`Array.from(document.querySelectorAll('.toast')).some(t => t.textContent.includes('Rewind requested'))`, 10*time.Second),
		)
		// The orchestrator fails on its input, so the rewound instance fails again; the
		// history records the rewind the page asked for.
		eventually(t, 30*time.Second, "rewind recorded in history", func() (bool, string) {
			r := do(t, "GET", api+"/instances/"+failed+"?showHistory=true", "")
			return strings.Contains(string(r.Body), "ExecutionRewound"), string(r.Body)
		})
	})

	t.Run("entities", func(t *testing.T) {
		row := func(key string) string { return `#entities tr[data-entity="counter_entity@` + key + `"]` }
		var state, lastMod string
		run(t, ctx, "entities list",
			chromedp.Navigate(page+"#/entities"),
			chromedp.WaitVisible(row("beta"), chromedp.ByQuery),
			chromedp.WaitVisible(row("demo"), chromedp.ByQuery),
			chromedp.Text(row("beta")+` td:nth-child(3)`, &state, chromedp.ByQuery),
			chromedp.Text(row("beta")+` td:nth-child(4)`, &lastMod, chromedp.ByQuery),
		)
		if !strings.Contains(state, "12") || !strings.HasPrefix(lastMod, fmt.Sprint(time.Now().Year())) {
			t.Fatalf("beta row: state %q, last modified %q", state, lastMod)
		}
		save(t, "entities")
		run(t, ctx, "delete through the dialog",
			clickJS(row("gamma")+` button.del`),
			chromedp.WaitVisible(`#dlg-ok`, chromedp.ByQuery),
			chromedp.Click(`#dlg-ok`, chromedp.ByQuery),
			chromedp.WaitNotPresent(row("gamma"), chromedp.ByQuery),
		)
		if r := do(t, "GET", api+"/entities/counter_entity/gamma", ""); r.Status != http.StatusNotFound {
			t.Fatalf("deleted entity reads %d %s", r.Status, r.Body)
		}
	})

	t.Run("taskhub", func(t *testing.T) {
		var hubName, poisonText string
		run(t, ctx, "task hub view",
			chromedp.Navigate(page+"#/taskhub"),
			chromedp.WaitVisible(`#queues tr[data-queue=`+jsString(h.hub+"-orchestrator")+`]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#queues tr[data-queue=`+jsString(h.hub+"-orchestrator-poison")+`]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#poison tr[data-message-id]`, chromedp.ByQuery),
			chromedp.Text(`#hub-name`, &hubName, chromedp.ByQuery),
			chromedp.Text(`#poison tbody`, &poisonText, chromedp.ByQuery),
		)
		if hubName != h.hub || !strings.Contains(poisonText, "not a wake-up message") || !strings.Contains(poisonText, h.hub+"-orchestrator") {
			t.Fatalf("task hub %q, poison table %q", hubName, poisonText)
		}
		save(t, "taskhub")
	})
}

func screenshot(t *testing.T, ctx context.Context) []byte {
	t.Helper()
	var png []byte
	// Let the last refresh settle and the open bars' animation stand still.
	run(t, ctx, "screenshot",
		chromedp.Evaluate(`document.body.classList.add('still'); document.querySelectorAll('.toast').forEach(t => t.remove()); document.activeElement && document.activeElement.blur()`, nil),
		chromedp.Sleep(200*time.Millisecond),
		chromedp.FullScreenshot(&png, 100))
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	return png
}

// TestMonitorForwardsKey: with keys configured, the page opened with ?code=<master
// key> sends it on every management call (the dashboard works); without it the page
// itself is refused.
func TestMonitorForwardsKey(t *testing.T) {
	ctx := browser(t)
	h := newHarness(t, env{"AZURE_FUNCTIONS_ENVIRONMENT": "Production", "FUNCTIONS_MASTER_KEY": "m4ster", "FUNCTIONS_HOST_KEYS": "h"})
	w := h.startWorker()
	page := w.Server.URL + monitorPath
	if r := do(t, "GET", page, ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("dashboard without a key: %d", r.Status)
	}
	if r := do(t, "GET", page+"?code=h", ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("dashboard with a host key: %d", r.Status)
	}
	var hubName string
	var banner bool
	run(t, ctx, "keyed dashboard",
		chromedp.Navigate(page+"?code=m4ster#/taskhub"),
		chromedp.WaitVisible(`#queues tr[data-queue]`, chromedp.ByQuery),
		chromedp.Text(`#hub-name`, &hubName, chromedp.ByQuery),
		chromedp.Evaluate(`!document.querySelector('#banner').hidden`, &banner),
	)
	if hubName != h.hub || banner {
		t.Fatalf("hub name %q, refusal banner shown: %v", hubName, banner)
	}
}

// TestMonitorThroughHostProtocol: under the Functions host the dashboard arrives as an
// HTTP invocation and answers the page, pointing at the management API under the
// route prefix; a path below it is a 404.
func TestMonitorThroughHostProtocol(t *testing.T) {
	h := newHarness(t, nil)
	a := h.newApp()
	handler, err := a.HostHandler()
	if err != nil {
		t.Fatal(err)
	}
	invoke := func(url string, params map[string]string) (string, string, map[string]any) {
		inv := map[string]any{"Data": map[string]any{"req": map[string]any{
			"Url": url, "Method": "GET", "Query": map[string]string{}, "Headers": map[string][]string{}, "Params": params, "Body": "",
		}}, "Metadata": map[string]any{}}
		b, _ := json.Marshal(inv)
		rec := postInvocation(t, handler, "/durable_monitor", string(b))
		var resp struct {
			Outputs map[string]struct {
				StatusCode json.Number    `json:"statusCode"`
				Body       string         `json:"body"`
				Headers    map[string]any `json:"headers"`
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("durable_monitor: %s", rec.Body)
		}
		return resp.Outputs["res"].StatusCode.String(), resp.Outputs["res"].Body, resp.Outputs["res"].Headers
	}
	status, body, headers := invoke("http://localhost:7071/api/monitor", map[string]string{})
	if status != "200" || !strings.Contains(body, `<meta name="mgmt-base" content="/api/runtime/webhooks/durabletask">`) || !strings.Contains(fmt.Sprint(headers), "nonce-") {
		t.Fatalf("dashboard under the host: %s %v %.300s", status, headers, body)
	}
	if status, body, _ := invoke("http://localhost:7071/api/monitor/nothing-here", map[string]string{"path": "nothing-here"}); status != "404" {
		t.Fatalf("path below the dashboard: %s %.300s", status, body)
	}
}
