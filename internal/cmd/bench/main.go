// Command bench measures the engine against a private Azurite and prints one table
// (and writes it as JSON). Run it with `make bench`; `-quick` is a one-minute version.
//
// Azurite on a small machine is slow in its own ways (see DESIGN.md), and other work on
// the machine moves every figure, so an absolute number says little on its own. The
// run therefore measures what Azurite does with the storage package alone (inserts,
// batch transactions, queue sends and receives) before and after the engine figures,
// on the same emulator, and gives engine figures as ratios to the raw figure that
// bounds them. Storage requests per operation, which do not depend on load, are the
// figures to compare across runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps"
	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/appdef"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/runner"
	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// config is the size of the run. -quick shrinks every part of it; a flag given
// explicitly wins over -quick.
type config struct {
	quick         bool
	signals       int
	entities      int
	parallel      int
	latency       int
	latencyPause  time.Duration
	hello         int
	instances     int
	fanouts       []int
	fanoutTimeout time.Duration
	calls         int
	raw           rawSizes
	rawPasses     int
	skip          map[string]bool

	// inject is added to every storage request of the whole run (-latency);
	// sweep are the injected latencies of the one-activity latency figures.
	inject       time.Duration
	sweep        []time.Duration
	sweepSamples int
	waves        int
	waveSize     int
	scaleOut     []int
	scaleWaves   int
	scaleSize    int
	idleWindow   time.Duration
	handlerBin   string
	azuriteDisk  bool
}

const taskHub = "bench1"

func main() {
	quick := flag.Bool("quick", false, "a short run (about a minute): fewer signals, samples and activities")
	signals := flag.Int("signals", 2000, "signals per entity throughput run")
	entities := flag.Int("entities", 100, "entities in the spread run")
	parallel := flag.Int("parallel", 32, "concurrent HTTP clients in the signal bursts")
	latency := flag.Int("latency-samples", 100, "signals in the signal-to-committed-state latency run")
	inject := flag.Duration("latency", 0, "storage latency added to every storage request of the whole run (e.g. 5ms)")
	sweep := flag.String("latency-sweep", "0,5ms,20ms", "injected storage latencies of the one-activity start-to-completed figures")
	sweepSamples := flag.Int("sweep-samples", 30, "one-activity orchestrations, one at a time, per injected latency")
	waves := flag.Int("waves", 20, "waves of chained orchestrations in the stall check")
	waveSize := flag.Int("wave-size", 100, "chained orchestrations per wave")
	scaleOut := flag.String("scale-out", "1,2,3", "worker process counts of the scale-out run")
	scaleWaves := flag.Int("scale-waves", 3, "waves of chains per scale-out run")
	idle := flag.Duration("idle-window", time.Minute, "how long the idle standalone process is measured")
	handlerBin := flag.String("handler", "bin/handler", "the handler binary the scale-out and idle runs start (built by make bench)")
	pause := flag.Duration("latency-pause", 100*time.Millisecond, "pause between latency samples")
	instances := flag.Int("instances", 100, "concurrent chained orchestrations in the largest chain run")
	fanout := flag.String("fanout", "100,1000,5000", "comma-separated fan-out/fan-in sizes")
	fanoutTimeout := flag.Duration("fanout-timeout", 2*time.Minute, "give up on one fan-out/fan-in after this long")
	calls := flag.Int("calls", 50, "entity calls per orchestration in the call round-trip run")
	rawMax := flag.Duration("raw-max", 2*time.Second, "time limit of each raw Azurite measurement")
	rawPasses := flag.Int("raw-passes", 2, "raw Azurite baseline passes: 1 (before the engine) or 2 (before and after, averaged)")
	skip := flag.String("skip", "", "comma-separated phases to leave out: raw, latency, signals, orchestrations, calls, fanout, injected, waves, scaleout, idle")
	out := flag.String("json", "bench-results.json", "where to write the figures")
	root := flag.String("root", ".", "app root (folder with host.json)")
	disk := flag.Bool("azurite-disk", false, "run Azurite with its data on disk (a temporary folder) instead of in memory")
	flag.Parse()

	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	pick := func(name string, full, short int) int {
		if *quick && !set[name] {
			return short
		}
		return full
	}
	cfg := config{
		quick:         *quick,
		signals:       pick("signals", *signals, 500),
		entities:      *entities,
		parallel:      *parallel,
		latency:       pick("latency-samples", *latency, 30),
		latencyPause:  *pause,
		hello:         pick("hello", 20, 10),
		instances:     *instances,
		fanoutTimeout: *fanoutTimeout,
		calls:         pick("calls", *calls, 15),
		rawPasses:     pick("raw-passes", *rawPasses, 1),
		raw:           rawSizes{inserts: 1500, batches: 40, reads: 1000, queries: 300, sends: 900, deqRounds: 3, maxDur: *rawMax},
		skip:          map[string]bool{},
		inject:        *inject,
		sweepSamples:  pick("sweep-samples", *sweepSamples, 15),
		waves:         pick("waves", *waves, 5),
		waveSize:      *waveSize,
		scaleWaves:    pick("scale-waves", *scaleWaves, 2),
		scaleSize:     pick("wave-size", *waveSize, 50),
		idleWindow:    *idle,
		handlerBin:    *handlerBin,
		azuriteDisk:   *disk,
	}
	sw := *sweep
	if *quick && !set["latency-sweep"] {
		sw = "0,5ms"
	}
	for _, s := range strings.Split(sw, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if s == "0" {
			s = "0s"
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			fmt.Fprintf(os.Stderr, "bench: bad -latency-sweep value %q\n", s)
			os.Exit(2)
		}
		cfg.sweep = append(cfg.sweep, d)
	}
	for _, s := range strings.Split(*scaleOut, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: bad -scale-out count %q\n", s)
			os.Exit(2)
		}
		cfg.scaleOut = append(cfg.scaleOut, n)
	}
	fo := *fanout
	if *quick && !set["fanout"] {
		fo = "100,1000"
	}
	if *quick && !set["fanout-timeout"] {
		cfg.fanoutTimeout = time.Minute
	}
	if *quick {
		cfg.raw = rawSizes{inserts: 400, batches: 15, reads: 300, queries: 100, sends: 300, deqRounds: 1, maxDur: *rawMax}
		if !set["raw-max"] {
			cfg.raw.maxDur = time.Second
		}
	}
	for _, s := range strings.Split(fo, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: bad -fanout size %q\n", s)
			os.Exit(2)
		}
		cfg.fanouts = append(cfg.fanouts, n)
	}
	for _, s := range strings.Split(*skip, ",") {
		switch s = strings.TrimSpace(s); s {
		case "":
		case "raw", "latency", "signals", "orchestrations", "calls", "fanout", "injected", "waves", "scaleout", "idle":
			cfg.skip[s] = true
		default:
			fmt.Fprintf(os.Stderr, "bench: -skip: no phase %q\n", s)
			os.Exit(2)
		}
	}
	rep, err := run(*root, cfg)
	if rep != nil {
		printTable(os.Stdout, rep.Figures)
		for _, p := range rep.Problems {
			fmt.Println("problem:", p)
		}
		if werr := writeJSON(*out, rep); werr != nil {
			fmt.Fprintln(os.Stderr, "bench:", werr)
			os.Exit(1)
		}
		fmt.Println("wrote", *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if rep != nil && len(rep.Problems) > 0 {
		// Every figure that could be measured is in the table; the exit status says
		// that some could not, so that a script running the benchmark notices.
		fmt.Fprintf(os.Stderr, "bench: %d problem(s), listed above the JSON path\n", len(rep.Problems))
		os.Exit(1)
	}
}

// bench carries the run's shared state: the app under test and what has been measured.
type bench struct {
	ctx context.Context
	cfg config
	// pauses are the spans in which a probe request waited over pauseMin: Azurite
	// answered nothing then (see docs/ARCHITECTURE.md, the Azurite stall).
	pmu    sync.Mutex
	pauses []span
	acct   *storage.Account // the engine's: its request counters are the engine's cost
	a      *app.App
	url    string
	raw    *rawBaseline
	mem    *memSampler

	poller *runner.Poller
	root   string

	// engineQueues are the app's trigger queues opened through the probe account.
	engineQueues []storage.Queue
	settled      time.Duration // spent waiting for the engine to go idle between figures
	current      string        // the phase running, for problem reports

	// reads counts the benchmark's own status and state reads, which go through the
	// engine's account but are not the engine's cost.
	reads atomic.Int64

	mu       sync.Mutex
	figs     []Figure
	phases   []PhaseResult
	problems []string
}

func (b *bench) add(f Figure) {
	b.mu.Lock()
	b.figs = append(b.figs, f)
	b.mu.Unlock()
	v := formatValue(f.Value)
	if f.Status != "" {
		v = strings.ToUpper(f.Status)
	}
	fmt.Fprintf(os.Stderr, "  %-62s %10s %s\n", f.Name, v, f.Unit)
}

func (b *bench) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.mu.Lock()
	b.problems = append(b.problems, msg)
	b.mu.Unlock()
	fmt.Fprintln(os.Stderr, "  problem:", msg)
}

// phase runs one part of the run and records what it cost in storage requests and
// how deep the engine's queues got (Azurite's dequeue slows down with every message
// held in the account, so depth explains slow figures). An error ends that phase
// only: the rest of the run still reports what it measured.
func (b *bench) phase(name string, fn func() error) {
	if b.cfg.skip[name] {
		return
	}
	fmt.Fprintf(os.Stderr, "%s: %s\n", time.Now().Format("15:04:05"), name)
	b.current = name
	before := b.acct.RequestsByKind()
	m := b.mark()
	start := time.Now()
	stop := make(chan struct{})
	sampled := make(chan PhaseResult)
	go func() {
		// The queue-length probe doubles as a stall detector: Azurite serves tables
		// and queues from one event loop, so a probe request that takes over a second
		// means every request of that moment waited too (overload or a stall).
		var r PhaseResult
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				sampled <- r
				return
			case <-t.C:
				n, slow, err := b.queued()
				if err == nil {
					r.PeakQueued = max(r.PeakQueued, n)
				}
				if slow > time.Second {
					r.Stalls++
					r.LongestStall = max(r.LongestStall, slow.Seconds())
				}
				if slow > pauseMin {
					now := time.Now()
					b.pmu.Lock()
					b.pauses = append(b.pauses, span{now.Add(-slow), now})
					b.pmu.Unlock()
				}
			}
		}
	}()
	err := fn()
	close(stop)
	smp := <-sampled
	pr := PhaseResult{Name: name, Seconds: time.Since(start).Seconds(), Requests: b.acct.Requests() - m.req,
		EmptyPolls: b.acct.EmptyPolls() - m.empty, BenchReads: b.reads.Load() - m.reads, PeakQueued: smp.PeakQueued,
		Stalls: smp.Stalls, LongestStall: smp.LongestStall, ByKind: map[string]int64{}}
	for k, v := range b.acct.RequestsByKind() {
		if d := v - before[k]; d != 0 {
			pr.ByKind[k] = d
		}
	}
	if err != nil {
		pr.Error = err.Error()
		b.problem("%s: %v", name, err)
	}
	b.mu.Lock()
	b.phases = append(b.phases, pr)
	b.mu.Unlock()
}

// span is an interval of time.
type span struct{ from, to time.Time }

// pauseMin is how long a probe must wait to count as an Azurite pause: far beyond
// any overload seen (a saturated Azurite answers probes within a second).
const pauseMin = 5 * time.Second

// paused returns the longest Azurite pause that overlaps [from, to], or 0.
func (b *bench) paused(from, to time.Time) time.Duration {
	b.pmu.Lock()
	defer b.pmu.Unlock()
	var longest time.Duration
	for _, p := range b.pauses {
		if p.from.Before(to) && p.to.After(from) {
			longest = max(longest, p.to.Sub(p.from))
		}
	}
	return longest
}

// queued is the number of messages in the engine's queues, in flight ones included,
// and the longest of the requests that counted them.
func (b *bench) queued() (total int, slowest time.Duration, err error) {
	for _, q := range b.engineQueues {
		start := time.Now()
		n, err := q.Length(b.ctx)
		slowest = max(slowest, time.Since(start))
		if err != nil {
			return 0, slowest, err
		}
		total += n
	}
	return total, slowest, nil
}

// mark is a point in the request counters; work measures the engine's requests since.
type mark struct{ req, empty, reads int64 }

func (b *bench) mark() mark {
	return mark{b.acct.Requests(), b.acct.EmptyPolls(), b.reads.Load()}
}

// work is the requests since m, less empty queue polls (a cost of idling that depends
// on time, not work) and the benchmark's own reads.
func (b *bench) work(m mark) float64 {
	return float64(b.acct.Requests() - m.req - (b.acct.EmptyPolls() - m.empty) - (b.reads.Load() - m.reads))
}

// cost is work(m) once the engine is idle again: the wake-ups and deletes that trail
// a measurement (a redundant wake-up is processed after the value it announced was
// already applied) are part of what the measured work cost.
func (b *bench) cost(m mark) float64 {
	b.settle()
	return b.work(m)
}

// settle waits until the engine's queues hold no message at all (visible, invisible
// or being processed), so that the previous measurement's work, delayed wake-ups
// included (the engine coalesces bursts into wake-ups a second later), is not counted
// in the next one. The queue lengths are read through the probe account: not the
// engine's cost.
func (b *bench) settle() {
	start := time.Now()
	defer func() { b.settled += time.Since(start) }()
	const limit = time.Minute
	quiet := 0
	for quiet < 2 {
		if time.Since(start) > limit {
			n, _, _ := b.queued()
			b.problem("%s: engine queues still hold %d messages after waiting %s; the next figures include leftover work", b.current, n, limit)
			return
		}
		time.Sleep(100 * time.Millisecond)
		if n, _, err := b.queued(); err == nil && n == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}

type env map[string]string

func run(root string, cfg config) (*Report, error) {
	began := time.Now()
	mem := startMemSampler()
	defer mem.stop()
	opts := testenv.StartOptions{}
	where := "in memory"
	if cfg.azuriteDisk {
		dir, err := os.MkdirTemp("", "bench-azurite-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		opts.DataDir, where = dir, "on disk"
	}
	az, err := testenv.StartWith(opts)
	if err != nil {
		return nil, err
	}
	defer az.Stop()
	mem.watchAzurite()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The baseline has its own account (its own request counters) and runs before the
	// engine's pollers exist, so neither disturbs the other. The probe account reads
	// queue lengths and row counts, which are the benchmark's cost, not the engine's.
	rawAcct, err := az.Open()
	if err != nil {
		return nil, err
	}
	probe, err := az.Open()
	if err != nil {
		return nil, err
	}
	b := &bench{ctx: ctx, cfg: cfg, mem: mem, root: root}
	fmt.Fprintf(os.Stderr, "bench: %s, %d cores, azurite %s %s\n", runtime.Version(), runtime.NumCPU(), azuriteVersion(), where)
	var passes []*rawBaseline
	rawPass := func() {
		if cfg.skip["raw"] || len(passes) >= cfg.rawPasses {
			return
		}
		name := fmt.Sprintf("raw pass %d", len(passes)+1)
		fmt.Fprintf(os.Stderr, "%s: %s\n", time.Now().Format("15:04:05"), name)
		before := rawAcct.RequestsByKind()
		start := time.Now()
		r, err := measureRaw(ctx, rawAcct, cfg.raw, func(name string, v float64, unit, note string) {
			fmt.Fprintf(os.Stderr, "  %-62s %10s %s %s\n", name, formatValue(v), unit, note)
		}, func(s string) { fmt.Fprintln(os.Stderr, " ", s) })
		pr := PhaseResult{Name: name, Seconds: time.Since(start).Seconds(), ByKind: map[string]int64{}}
		for k, v := range rawAcct.RequestsByKind() {
			if d := v - before[k]; d != 0 {
				pr.ByKind[k] = d
				pr.Requests += d
			}
		}
		if err != nil {
			pr.Error = err.Error()
			b.problem("%s: %v", name, err)
		} else {
			passes = append(passes, r)
		}
		b.phases = append(b.phases, pr)
	}
	rawPass()

	acct, err := openAccount(az, cfg.inject)
	if err != nil {
		return nil, err
	}
	b.acct = acct
	vars := env{"DURABLE_TASK_HUB": taskHub, "AzureWebJobsStorage": az.ConnectionString, "AZURE_FUNCTIONS_ENVIRONMENT": "Development"}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	abs, _ := filepath.Abs(root)
	a, err := app.New(ctx, app.Options{Root: abs, Getenv: func(k string) string { return vars[k] }, Logger: log, Account: acct,
		Def: appdef.Of(apps.App()),
		Register: func(reg *durable.Registry) {
			reg.AddOrchestrator("bench_call_loop", callLoop)
		}})
	if err != nil {
		return nil, err
	}
	b.a = a
	for _, f := range a.Meta.Functions {
		if f.IsQueue() {
			q, err := probe.Queue(ctx, f.Trigger.QueueName)
			if err != nil {
				return nil, err
			}
			b.engineQueues = append(b.engineQueues, q)
		}
	}
	h, err := a.StandaloneHandler()
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config = runner.NewServer(h, nil).Server // the production server settings
	srv.Start()
	defer srv.Close()
	b.url = srv.URL
	workCtx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	workersDone := make(chan struct{})
	b.poller = a.Poller(&runner.PollerOptions{MinPollingInterval: 10 * time.Millisecond, StatsInterval: -1})
	a.EnableHandoff(workCtx) // as RunWorkers does in a standalone process
	go func() {
		defer close(workersDone)
		go runner.RunTimers(workCtx, a.Meta, a.Funcs, log)
		_ = b.poller.Run(workCtx)
	}()
	// The idle standalone process runs beside the other phases: what is measured is
	// its own CPU time and polls, on a task hub of its own that gets no work.
	idle := b.startIdle(az)

	// Latency first, on an idle engine with an empty table; then throughput. The
	// largest fan-out runs last: if it does not finish, what it leaves behind cannot
	// slow down the other figures.
	b.phase("latency", b.benchLatency)
	b.phase("signals", b.benchSignals)
	b.phase("orchestrations", b.benchOrchestrations)
	b.phase("calls", b.benchCalls)
	b.phase("fanout", b.benchFanOut)
	b.phase("injected", b.benchInjected)
	b.phase("waves", b.benchWaves)
	b.health()
	b.phase("idle", func() error { return idle.finish(b) })
	b.phase("scaleout", func() error { return b.benchScaleOut(az) })

	// Engine-wide context for the figures above: how deep the queues got (Azurite's
	// dequeue slows down with every message in the account) and how big the table
	// every Azurite query scans had grown.
	peak, stalls, longest := 0, 0, 0.0
	var perPhase, stallPhases []string
	for _, p := range b.phases {
		if strings.HasPrefix(p.Name, "raw") {
			continue
		}
		perPhase = append(perPhase, fmt.Sprintf("%s %d", p.Name, p.PeakQueued))
		peak = max(peak, p.PeakQueued)
		if p.Stalls > 0 {
			stallPhases = append(stallPhases, fmt.Sprintf("%s %d (longest %.1fs)", p.Name, p.Stalls, p.LongestStall))
			stalls += p.Stalls
			longest = max(longest, p.LongestStall)
		}
	}
	if len(perPhase) > 0 {
		b.add(Figure{Group: "engine", Name: "peak messages in the engine's queues", Value: float64(peak), Unit: "msgs",
			Note: "sampled every 500 ms; by phase: " + strings.Join(perPhase, ", ")})
		note := "no probe request took over 1 s"
		if stalls > 0 {
			note = "Azurite overloaded or stalled; by phase: " + strings.Join(stallPhases, ", ") + "; figures of those phases are pessimistic"
		}
		b.add(Figure{Group: "engine", Name: "queue-length probes answered after more than 1 s", Value: float64(stalls), Unit: "samples", Note: note})
	}
	if t, err := probe.Table(ctx, engine.InstancesTableName(taskHub)); err == nil {
		if n, err := countRows(ctx, t); err == nil {
			b.add(Figure{Group: "engine", Name: "rows left in the Instances table", Value: float64(n), Unit: "rows",
				Note: "Azurite scans the whole table for every partition query (see raw figures)"})
		}
	}

	stopWorkers()
	select {
	case <-workersDone:
	case <-time.After(10 * time.Second):
	}
	// The second baseline pass, with the engine idle: the load from everything else
	// on the machine drifts during a run, and the mean of a pass before and one after
	// the engine figures is a fairer yardstick than either.
	rawPass()
	b.raw = meanRaw(passes)
	b.figs = append(rawFigures(b.raw, passes), b.figs...)
	fillRatios(b.figs, b.raw)

	mem.stop()
	az.Stop() // reaps Azurite, so that RUSAGE_CHILDREN can stand in for /proc
	b.memoryFigures()

	rep := &Report{
		Date: time.Now().UTC().Format(time.RFC3339), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Azurite: azuriteVersion(),
		Mode: map[bool]string{true: "quick", false: "full"}[cfg.quick],
		Settings: map[string]any{"signals": cfg.signals, "entities": cfg.entities, "parallel": cfg.parallel, "latencySamples": cfg.latency,
			"latencyPause": cfg.latencyPause.String(), "helloOrchestrations": cfg.hello, "chainInstances": cfg.instances, "fanouts": cfg.fanouts,
			"fanoutTimeout": cfg.fanoutTimeout.String(), "callsPerLoop": cfg.calls, "rawMaxPerMeasurement": cfg.raw.maxDur.String(), "rawPasses": cfg.rawPasses,
			"injectedLatency": cfg.inject.String(), "latencySweep": fmt.Sprint(cfg.sweep), "sweepSamples": cfg.sweepSamples, "waves": cfg.waves, "waveSize": cfg.waveSize,
			"scaleOut": cfg.scaleOut, "scaleWaves": cfg.scaleWaves, "scaleWaveSize": cfg.scaleSize, "idleWindow": cfg.idleWindow.String()},
		Seconds: time.Since(began).Seconds(), SettleSeconds: b.settled.Seconds(), Figures: b.figs, Baseline: baselineMap(b.raw), BaselinePasses: passMaps(passes),
		RequestsByKind: acct.RequestsByKind(), RawRequestsByKind: rawAcct.RequestsByKind(), Phases: b.phases, Problems: b.problems,
	}
	return rep, nil
}

func passMaps(ps []*rawBaseline) []map[string]float64 {
	var out []map[string]float64
	for _, p := range ps {
		out = append(out, baselineMap(p))
	}
	return out
}

func baselineMap(r *rawBaseline) map[string]float64 {
	if r == nil {
		return nil
	}
	return map[string]float64{
		"tableInsertsPerSec1": r.InsertSeq, "tableInsertsPerSec16": r.InsertConc,
		"batch100PerSec1": r.Batch100Seq, "batch100PerSec4": r.Batch100Conc, "batch5PerSec1": r.Batch5Seq,
		"pointReadsPerSec1": r.GetSeq, "partitionQueriesPerSecSmallTable": r.QuerySmall, "partitionQueriesPerSecLargeTable": r.QueryLarge,
		"largeTableRows": float64(r.LargeRows),
		"receiveMs1":     r.RecvSeqMs, "enqueuesPerSec1": r.EnqSeq, "enqueuesPerSec16": r.EnqConc, "dequeueDeletesPerSec1": r.DeqSeq, "dequeueDeletesPerSec4x32": r.DeqConc,
	}
}

// azuriteVersion reads the installed emulator's package version, so that figures are
// never attributed to the wrong Azurite.
func azuriteVersion() string {
	entry, err := testenv.EntryPoint()
	if err != nil {
		return "unknown"
	}
	// .../node_modules/azurite/dist/src/azurite.js -> .../node_modules/azurite/package.json
	b, err := os.ReadFile(filepath.Join(filepath.Dir(entry), "..", "..", "package.json"))
	if err != nil {
		return "unknown"
	}
	s := string(b)
	if i := strings.Index(s, `"version"`); i >= 0 {
		s = s[i+len(`"version"`):]
		if j := strings.IndexByte(s, '"'); j >= 0 {
			s = s[j+1:]
			if k := strings.IndexByte(s, '"'); k >= 0 {
				return s[:k]
			}
		}
	}
	return "unknown"
}

// errOnce keeps the first error of concurrent workers.
type errOnce struct {
	mu  sync.Mutex
	err error
}

func (e *errOnce) set(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

func (e *errOnce) get() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func post(url string) error {
	resp, err := http.Post(url, "application/json", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 600))
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

var errTimeout = errors.New("timed out")
