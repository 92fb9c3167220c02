// Command bench measures the engine against a private Azurite and prints a table (and
// writes it as JSON): storage requests per entity signal, and entity signals applied
// per second on one entity and spread over many. Run it with `make bench`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durablego/durablefunctions/handler/app"
	"github.com/durablego/durablefunctions/handler/apps"
	"github.com/durablego/durablefunctions/handler/durable"
	"github.com/durablego/durablefunctions/handler/internal/testenv"
	"github.com/durablego/durablefunctions/handler/runner"
	"github.com/durablego/durablefunctions/handler/storage"
)

// Figure is one measured number.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Note  string  `json:"note,omitempty"`
}

func main() {
	signals := flag.Int("signals", 2000, "signals per throughput run")
	entities := flag.Int("entities", 100, "entities in the spread run")
	parallel := flag.Int("parallel", 32, "concurrent HTTP clients")
	out := flag.String("json", "bench-results.json", "where to write the figures")
	instances = flag.Int("instances", 100, "concurrent chained orchestrations")
	fanout = flag.Int("fanout", 1000, "activities in the fan-out/fan-in run")
	root := flag.String("root", ".", "app root (folder with host.json)")
	flag.Parse()
	if err := run(*root, *signals, *entities, *parallel, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type env map[string]string

func run(root string, signals, entities, parallel int, outPath string) error {
	instances, fanout := *instances, *fanout
	az, err := testenv.Start()
	if err != nil {
		return err
	}
	defer az.Stop()
	acct, err := az.Open()
	if err != nil {
		return err
	}
	vars := env{"DURABLE_TASK_HUB": "bench1", "AzureWebJobsStorage": az.ConnectionString, "AZURE_FUNCTIONS_ENVIRONMENT": "Development"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	abs, _ := filepath.Abs(root)
	a, err := app.New(ctx, app.Options{Root: abs, Getenv: func(k string) string { return vars[k] }, Logger: log, Account: acct,
		Register: func(reg *durable.Registry, d apps.Deps) {
			apps.Register(reg, d)
			reg.AddOrchestrator("bench_call_loop", callLoop)
		}})
	if err != nil {
		return err
	}
	h, err := a.StandaloneHandler()
	if err != nil {
		return err
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	go func() {
		_ = a.RunWorkers(ctx, &runner.PollerOptions{Lease: 30 * time.Second, MinPollingInterval: 10 * time.Millisecond})
	}()

	var figs []Figure
	add := func(f Figure) {
		figs = append(figs, f)
		fmt.Printf("%-58s %12.2f %s\n", f.Name, f.Value, f.Unit)
	}
	fmt.Printf("bench: %s, %d cores, azurite 3.35.0 in memory\n", runtime.Version(), runtime.NumCPU())

	// 1. Storage requests per signal, one at a time (no batching possible).
	const seqN = 50
	before, emptyBefore := acct.Requests(), acct.EmptyPolls()
	for i := 0; i < seqN; i++ {
		if err := post(srv.URL + "/api/counter/seq/add?value=1"); err != nil {
			return err
		}
		if err := waitValue(ctx, a, "seq", int64(i+1), time.Minute); err != nil {
			return err
		}
	}
	add(Figure{"storage requests per signal, one at a time (client + worker)", work(acct, before, emptyBefore) / seqN, "requests", "excludes empty queue polls and the test's own reads"})

	// 2. Burst on one entity.
	before, emptyBefore = acct.Requests(), acct.EmptyPolls()
	start := time.Now()
	if err := burst(srv.URL, signals, parallel, func(i int) string { return "hot" }); err != nil {
		return err
	}
	sent := time.Since(start)
	if err := waitValue(ctx, a, "hot", int64(signals), 5*time.Minute); err != nil {
		return err
	}
	el := time.Since(start)
	add(Figure{"signals/s accepted over HTTP (one entity)", float64(signals) / sent.Seconds(), "signals/s", ""})
	add(Figure{"signals/s applied, one entity (send to last applied)", float64(signals) / el.Seconds(), "signals/s", fmt.Sprintf("%d signals", signals)})
	add(Figure{"storage requests per signal, burst on one entity", work(acct, before, emptyBefore) / float64(signals), "requests", "excludes empty queue polls and the test's own reads"})

	// 3. Spread over many entities.
	before, emptyBefore = acct.Requests(), acct.EmptyPolls()
	start = time.Now()
	if err := burst(srv.URL, signals, parallel, func(i int) string { return fmt.Sprintf("k%03d", i%entities) }); err != nil {
		return err
	}
	per := int64(signals / entities)
	for k := 0; k < entities; k++ {
		want := per
		if k < signals%entities {
			want++
		}
		if err := waitValue(ctx, a, fmt.Sprintf("k%03d", k), want, 5*time.Minute); err != nil {
			return err
		}
	}
	el = time.Since(start)
	add(Figure{fmt.Sprintf("signals/s applied, %d entities", entities), float64(signals) / el.Seconds(), "signals/s", fmt.Sprintf("%d signals", signals)})
	add(Figure{fmt.Sprintf("storage requests per signal, %d entities", entities), work(acct, before, emptyBefore) / float64(signals), "requests", "excludes empty queue polls and the test's own reads"})
	fmt.Printf("requests by kind over the whole run: %v\n", acct.RequestsByKind())

	if err := benchOrchestrations(ctx, a, acct, add, instances, fanout); err != nil {
		return err
	}
	if err := benchCalls(ctx, a, add); err != nil {
		return err
	}

	b, _ := json.MarshalIndent(map[string]any{"date": time.Now().UTC().Format(time.RFC3339), "go": runtime.Version(), "cores": runtime.NumCPU(), "figures": figs}, "", "  ")
	if err := os.WriteFile(outPath, b, 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", outPath)
	return nil
}

var instances, fanout *int

// readsDone counts the benchmark's own state reads, which are not the engine's cost.
var readsDone atomic.Int64

// work is the requests since a mark, less empty polls and the benchmark's reads.
func work(acct *storage.Account, before, emptyBefore int64) float64 {
	return float64(acct.Requests() - before - (acct.EmptyPolls() - emptyBefore) - readsDone.Swap(0))
}

func post(url string) error {
	resp, err := http.Post(url, "application/json", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST %s: %d", url, resp.StatusCode)
	}
	return nil
}

func burst(base string, n, parallel int, key func(int) string) error {
	var wg sync.WaitGroup
	var next atomic.Int64
	var firstErr atomic.Value
	for p := 0; p < parallel; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := post(fmt.Sprintf("%s/api/counter/%s/add?value=1", base, key(i))); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return nil
}

// waitValue polls the committed state; each read is one storage request, counted
// so that it can be left out of the per-signal figures.
func waitValue(ctx context.Context, a *app.App, key string, want int64, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		snap, err := a.Hub.ReadEntity(ctx, durable.NewEntityID("counter_entity", key))
		readsDone.Add(1)
		if err != nil {
			return err
		}
		var v int64
		if snap.Exists {
			_ = json.Unmarshal(snap.State, &v)
		}
		if v == want {
			return nil
		}
		if v > want {
			return fmt.Errorf("counter %s = %d, more than the %d sent: a signal was applied twice", key, v, want)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("counter %s = %d after %s, want %d", key, v, within, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
