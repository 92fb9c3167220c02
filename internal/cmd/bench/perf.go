package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps"
	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/appdef"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/runner"
	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// openAccount opens an account on the emulator with the test retry policy and
// latency added to every request.
func openAccount(az *testenv.Azurite, latency time.Duration) (*storage.Account, error) {
	s, err := storage.ParseConnectionString(az.ConnectionString)
	if err != nil {
		return nil, err
	}
	return storage.Open(s, &storage.OpenOptions{Latency: latency,
		Retry: &policy.RetryOptions{MaxRetries: 3, RetryDelay: 50 * time.Millisecond, MaxRetryDelay: time.Second}})
}

func pctOf(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s)) + 0.5)
	return s[min(max(i-1, 0), len(s)-1)]
}

// benchInjected measures one-activity orchestrations one at a time, start to
// completed, with storage latency injected into every request of the engine's
// account, and derives from it how many storage round trips lie one after another on
// the path from start to completed: each adds the injected latency once.
func (b *bench) benchInjected() error {
	hub := b.a.Hub
	base := b.acct.Latency()
	defer b.acct.SetLatency(base)
	p50 := map[time.Duration]time.Duration{}
	for _, l := range b.cfg.sweep {
		b.settle()
		b.acct.SetLatency(base + l)
		var lats []time.Duration
		for i := 0; i <= b.cfg.sweepSamples; i++ {
			start := time.Now()
			id, err := hub.StartOrchestration(b.ctx, "hello", "", json.RawMessage(`"bench"`))
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
			s, err := hub.WaitForStatus(ctx, id, &engine.WaitOptions{Interval: time.Second})
			cancel()
			if err != nil {
				return fmt.Errorf("one-activity orchestration %s: %w", id, err)
			}
			if s.RuntimeStatus != durable.StatusCompleted {
				return fmt.Errorf("instance %s ended %s%s", id, s.RuntimeStatus, failureText(s))
			}
			if i > 0 { // the first one warms the path at this latency
				lats = append(lats, time.Since(start))
			}
		}
		p50[l] = pctOf(lats, 0.5)
		suffix := ""
		if l > 0 {
			suffix = fmt.Sprintf(", +%s storage latency", l)
		}
		note := fmt.Sprintf("%d one at a time; from StartOrchestration to the completion seen (notified in process; includes the start batch, its wake-up and one status read)", len(lats))
		b.add(Figure{Group: "latency", Name: "one-activity orchestration start to completed p50" + suffix, Value: ms(p50[l]), Unit: "ms", Note: note})
		b.add(Figure{Group: "latency", Name: "one-activity orchestration start to completed p99" + suffix, Value: ms(pctOf(lats, 0.99)), Unit: "ms"})
	}
	zero, ok := p50[0]
	if !ok {
		return nil
	}
	for _, l := range b.cfg.sweep {
		if l <= 0 {
			continue
		}
		trips := float64(p50[l]-zero) / float64(l)
		b.add(Figure{Group: "latency", Name: fmt.Sprintf("sequential storage round trips, start to completed (derived at +%s)", l), Value: trips, Unit: "round trips",
			Note: fmt.Sprintf("derived: (p50 at +%s - p50 at 0) / %s; each request on the critical path adds the injected latency once", l, l)})
	}
	return nil
}

// benchWaves runs waves of chained orchestrations back to back and checks that no
// wave has a tail: a lease that expires under saturation shows up as one instance
// finishing tens of seconds after the others (p99 far above p50).
func (b *bench) benchWaves() error {
	hub := b.a.Hub
	b.settle()
	before := b.poller.Stats()
	errsBefore := b.acct.ErrorCounts()
	worst, bad := 0.0, 0
	var per []string
	var all, p50s, p99s []time.Duration
	var spans []span
	start := time.Now()
	for w := 0; w < b.cfg.waves; w++ {
		rs := time.Now()
		ids, err := b.startChains(hub, b.cfg.waveSize)
		if err != nil {
			return err
		}
		lat, err := b.waitNotified(ids, rs, 5*time.Minute)
		if err != nil {
			return fmt.Errorf("wave %d: %w", w+1, err)
		}
		all = append(all, lat...)
		p50, p99 := pctOf(lat, 0.5), pctOf(lat, 0.99)
		p50s, p99s = append(p50s, p50), append(p99s, p99)
		spans = append(spans, span{rs, time.Now()})
		per = append(per, fmt.Sprintf("%.2f/%.2f", p50.Seconds(), p99.Seconds()))
	}
	// Against the typical wave's p50 (the median over waves), not the wave's own: a
	// stall that holds a whole wave moves its p50 and p99 together. A wave during
	// which Azurite answered nothing for seconds (its queue GC, see ARCHITECTURE.md)
	// is named, not counted: no engine can finish work while its storage is stopped.
	typical := pctOf(p50s, 0.5)
	var held []string
	for i, p99 := range p99s {
		r := float64(p99) / float64(max(typical, time.Millisecond))
		if d := b.paused(spans[i].from, spans[i].to); d > 0 {
			held = append(held, fmt.Sprintf("wave %d (%.1fx; Azurite answered nothing for %.0f s)", i+1, r, d.Seconds()))
			continue
		}
		worst = max(worst, r)
		if p99 > 3*typical {
			bad++
		}
	}
	el := time.Since(start)
	after := b.poller.Stats()
	errsAfter := b.acct.ErrorCounts()
	n := b.cfg.waves * b.cfg.waveSize
	b.add(Figure{Group: "waves", Name: fmt.Sprintf("chain of 3 activities, %d waves of %d", b.cfg.waves, b.cfg.waveSize), Value: float64(n) / el.Seconds(), Unit: "orch/s",
		Note: fmt.Sprintf("p50 %.2fs, p99 %.2fs over all; per wave p50/p99 s: %s", pctOf(all, 0.5).Seconds(), pctOf(all, 0.99).Seconds(), strings.Join(per, " "))})
	note := fmt.Sprintf("%d of %d waves over 3x (the check: every wave's p99 <= 3 x the median wave's p50, %.2fs)", bad, b.cfg.waves, typical.Seconds())
	if len(held) > 0 {
		note += "; held by an Azurite pause, not counted: " + strings.Join(held, ", ")
	}
	f := Figure{Group: "waves", Name: "worst wave p99 / p50", Value: worst, Unit: "x", Note: note}
	if bad > 0 {
		b.problem("waves: %d of %d waves have p99 > 3 x the median wave p50 (worst %.1fx)", bad, b.cfg.waves, worst)
	}
	b.add(f)
	if n := after.LeaseExpiries - before.LeaseExpiries; n > 0 {
		b.problem("waves: %d message leases expired while their work was in progress", n)
	}
	b.add(Figure{Group: "waves", Name: "lease expiries during the waves", Value: float64(after.LeaseExpiries - before.LeaseExpiries), Unit: "messages",
		Note: fmt.Sprintf("redeliveries %d, renewals %d, renewal failures %d, PopReceiptMismatch %d",
			after.Redeliveries-before.Redeliveries, after.LeaseRenewals-before.LeaseRenewals, after.RenewFailures-before.RenewFailures,
			errsAfter[storage.ErrCodePopReceipt]-errsBefore[storage.ErrCodePopReceipt])})
	return nil
}

// waitNotified waits for every instance with one notified waiter each (the engine
// runs in this process, so each costs a read at the start and one at the end) and
// returns each one's time from start to its completion.
func (b *bench) waitNotified(ids []string, start time.Time, within time.Duration) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	lat := make([]time.Duration, len(ids))
	var eo errOnce
	done := make(chan struct{}, len(ids))
	for i, id := range ids {
		go func() {
			defer func() { done <- struct{}{} }()
			s, err := b.a.Hub.WaitForStatus(ctx, id, &engine.WaitOptions{Interval: 2 * time.Second, MaxInterval: 5 * time.Second})
			switch {
			case err != nil:
				eo.set(fmt.Errorf("instance %s: %w", id, err))
			case s.RuntimeStatus != durable.StatusCompleted:
				eo.set(fmt.Errorf("instance %s ended %s%s", id, s.RuntimeStatus, failureText(s)))
			case string(s.Output) != "45":
				eo.set(fmt.Errorf("chaining %s returned %s", id, s.Output))
			default:
				lat[i] = time.Since(start)
			}
		}()
	}
	for range ids {
		<-done
	}
	return lat, eo.get()
}

// health reports the whole run's lease and pop-receipt trouble in the in-process
// worker: both are 0 in a healthy run.
func (b *bench) health() {
	st := b.poller.Stats()
	errs := b.acct.ErrorCounts()
	b.add(Figure{Group: "engine", Name: "message lease expiries (whole run)", Value: float64(st.LeaseExpiries), Unit: "messages",
		Note: fmt.Sprintf("renewals %d, renewal failures %d, redeliveries %d; counted by the poller", st.LeaseRenewals, st.RenewFailures, st.Redeliveries)})
	b.add(Figure{Group: "engine", Name: "PopReceiptMismatch answers (whole run)", Value: float64(errs[storage.ErrCodePopReceipt]), Unit: "answers",
		Note: fmt.Sprintf("MessageNotFound %d, 412 %d, 409 %d; counted by the storage pipeline", errs[storage.ErrCodeMessageNotFound], errs[storage.ErrCodeConditionFailed], errs[storage.ErrCodeConflict])})
}

// worker is a standalone handler process started by the benchmark.
type worker struct {
	cmd     *exec.Cmd
	out     *bytes.Buffer
	started time.Time
}

func (b *bench) spawn(az *testenv.Azurite, hubName string, extra ...string) (*worker, error) {
	bin, err := filepath.Abs(b.cfg.handlerBin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s: %w (run make build, or pass -handler)", bin, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	root, _ := filepath.Abs(b.root)
	cmd := exec.Command(bin, "-root", root, "-addr", addr)
	cmd.Env = append(os.Environ(), "FUNCTIONS_CUSTOMHANDLER_PORT=", "DURABLE_TASK_HUB="+hubName, "AzureWebJobsStorage="+az.ConnectionString,
		"AZURE_FUNCTIONS_ENVIRONMENT=Development")
	cmd.Env = append(cmd.Env, extra...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &worker{cmd: cmd, out: &buf, started: time.Now()}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return w, nil
		}
		if time.Now().After(deadline) {
			w.kill()
			return nil, fmt.Errorf("handler did not listen on %s:\n%s", addr, buf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *worker) kill() {
	_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
	_ = w.cmd.Wait()
}

// stop ends the process cleanly and returns the stats of its last stats line.
func (w *worker) stop() (*runner.StatsLine, error) {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		w.kill()
		<-done
	}
	return lastStats(w.out.String())
}

// lastStats parses the stats attribute of the last worker stats line in a log.
func lastStats(log string) (*runner.StatsLine, error) {
	var last string
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, "msg=\"worker st") {
			last = line
		}
	}
	i := strings.Index(last, " stats=")
	if i < 0 {
		return nil, fmt.Errorf("no worker stats line in the process's log:\n%s", tail(log, 2000))
	}
	q, err := strconv.QuotedPrefix(last[i+len(" stats="):])
	if err != nil {
		return nil, err
	}
	js, err := strconv.Unquote(q)
	if err != nil {
		return nil, err
	}
	var st runner.StatsLine
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// cpuTime is a process's user+system CPU time from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// idleRun is the idle standalone process measured beside the other phases.
type idleRun struct {
	w     *worker
	err   error
	t0    time.Time
	cpu0  time.Duration
	until time.Time
}

func (b *bench) startIdle(az *testenv.Azurite) *idleRun {
	r := &idleRun{}
	if b.cfg.skip["idle"] {
		return r
	}
	r.w, r.err = b.spawn(az, "benchidle")
	if r.err != nil {
		return r
	}
	time.Sleep(3 * time.Second) // start-up (queue creation, first polls) is not idling
	r.t0 = time.Now()
	r.cpu0, r.err = cpuTime(r.w.cmd.Process.Pid)
	r.until = r.t0.Add(b.cfg.idleWindow)
	return r
}

func (r *idleRun) finish(b *bench) error {
	if r.err != nil {
		if r.w != nil {
			r.w.kill()
		}
		return r.err
	}
	time.Sleep(time.Until(r.until))
	cpu1, err := cpuTime(r.w.cmd.Process.Pid)
	el := time.Since(r.t0)
	if err != nil {
		r.w.kill()
		return err
	}
	st, err := r.w.stop()
	life := time.Since(r.w.started)
	if err != nil {
		return err
	}
	pct := 100 * float64(cpu1-r.cpu0) / float64(el)
	b.add(Figure{Group: "idle", Name: "idle standalone process CPU", Value: pct, Unit: "% of a core",
		Note: fmt.Sprintf("user+system time from /proc/<pid>/stat over %.0fs (must stay under 1%%)", el.Seconds())})
	if pct >= 1 {
		b.problem("idle: the idle standalone process used %.2f%% of a core", pct)
	}
	b.add(Figure{Group: "idle", Name: "idle standalone process empty polls per minute", Value: float64(st.EmptyPolls) / life.Minutes(), Unit: "polls/min",
		Note: fmt.Sprintf("%d empty polls over its %.0fs life, all queues (each one a storage transaction); the worker logs this figure every %s", st.EmptyPolls, life.Seconds(), runner.DefaultStatsInterval)})
	return nil
}

// benchScaleOut runs the chain workload on one task hub with 1, 2 and 3 worker
// processes (the real binary, standalone) and reports throughput and what the
// workers cost each other: lost conditional writes (412/409), episodes redone after a
// commit conflict, lease expiries and redeliveries, from each process's last stats line.
func (b *bench) benchScaleOut(az *testenv.Azurite) error {
	for _, n := range b.cfg.scaleOut {
		hubName := fmt.Sprintf("benchscale%d", n)
		acct, err := openAccount(az, b.cfg.inject)
		if err != nil {
			return err
		}
		vars := env{"DURABLE_TASK_HUB": hubName, "AzureWebJobsStorage": az.ConnectionString, "AZURE_FUNCTIONS_ENVIRONMENT": "Development"}
		root, _ := filepath.Abs(b.root)
		client, err := app.New(b.ctx, app.Options{Root: root, Getenv: func(k string) string { return vars[k] }, Account: acct, Def: appdef.Of(apps.App()),
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			return err
		}
		var ws []*worker
		stopAll := func() ([]*runner.StatsLine, error) {
			var out []*runner.StatsLine
			var first error
			for _, w := range ws {
				st, err := w.stop()
				if err != nil && first == nil {
					first = err
				}
				out = append(out, st)
			}
			ws = nil
			return out, first
		}
		for range n {
			w, err := b.spawn(az, hubName, "DURABLE_STATS_INTERVAL=off")
			if err != nil {
				stopAll()
				return err
			}
			ws = append(ws, w)
		}
		run := func() (float64, []time.Duration, error) {
			// Warm up: one chain, so that every process has created its queues and polls.
			if _, err := b.scaleWave(client.Hub, 1); err != nil {
				return 0, nil, err
			}
			start := time.Now()
			var all []time.Duration
			for range b.cfg.scaleWaves {
				lat, err := b.scaleWave(client.Hub, b.cfg.scaleSize)
				if err != nil {
					return 0, nil, err
				}
				all = append(all, lat...)
			}
			return float64(b.cfg.scaleWaves*b.cfg.scaleSize) / time.Since(start).Seconds(), all, nil
		}
		rate, lat, err := run()
		stats, serr := stopAll()
		if err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		var c412, c409, redo, exp, redel, pop int64
		for _, s := range stats {
			exp += s.LeaseExpiries
			redel += s.Redeliveries
			if e, ok := s.Extra["storageErrors"].(map[string]any); ok {
				c412 += num(e[storage.ErrCodeConditionFailed])
				c409 += num(e[storage.ErrCodeConflict])
				pop += num(e[storage.ErrCodePopReceipt])
			}
			if e, ok := s.Extra["engine"].(map[string]any); ok {
				redo += num(e["commitConflicts"])
			}
		}
		b.add(Figure{Group: "scale-out", Name: fmt.Sprintf("chain of 3 activities, %d waves of %d, %d worker process(es)", b.cfg.scaleWaves, b.cfg.scaleSize, n),
			Value: rate, Unit: "orch/s", Note: fmt.Sprintf("p50 %.2fs, p99 %.2fs; status read by sweeps of a client in the benchmark", pctOf(lat, 0.5).Seconds(), pctOf(lat, 0.99).Seconds())})
		b.add(Figure{Group: "scale-out", Name: fmt.Sprintf("lost conditional writes (412 + 409), %d worker process(es)", n), Value: float64(c412 + c409), Unit: "answers",
			Note: fmt.Sprintf("412 %d, 409 %d; episodes redone after a commit conflict %d; lease expiries %d; redeliveries %d; PopReceiptMismatch %d (from the workers' last stats lines)",
				c412, c409, redo, exp, redel, pop)})
	}
	return nil
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// scaleWave starts n chains through client and waits for them with sweeps of status
// reads (the workers are other processes: no notification reaches this one).
func (b *bench) scaleWave(hub *engine.Hub, n int) ([]time.Duration, error) {
	start := time.Now()
	ids, err := b.startChains(hub, n)
	if err != nil {
		return nil, err
	}
	lat := make([]time.Duration, n)
	pending := make([]int, n)
	for i := range pending {
		pending[i] = i
	}
	deadline := start.Add(5 * time.Minute)
	for len(pending) > 0 {
		still := pending[:0]
		for _, i := range pending {
			s, err := hub.GetStatus(b.ctx, ids[i], nil)
			switch {
			case err != nil:
				return nil, err
			case s.RuntimeStatus.IsTerminal():
				if s.RuntimeStatus != durable.StatusCompleted || string(s.Output) != "45" {
					return nil, fmt.Errorf("chaining %s ended %s with %s%s", ids[i], s.RuntimeStatus, s.Output, failureText(s))
				}
				lat[i] = time.Since(start)
			default:
				still = append(still, i)
			}
		}
		pending = still
		if len(pending) > 0 {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%d of %d chains: %w", len(pending), n, errTimeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return lat, nil
}
