package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/testenv"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestSoak runs several standalone workers while signals and orchestrations pour in
// and workers are killed with SIGKILL at random: no signal is lost or applied twice,
// and every orchestration completes once. The default is the short CI version;
// `make soak` runs the long one (3 workers, 10,000 signals, 1,000 orchestrations,
// 10 minutes, a kill every 30-60 s).
func TestSoak(t *testing.T) {
	var (
		workers  = envInt("SOAK_WORKERS", 3)
		signals  = envInt("SOAK_SIGNALS", 1000)
		orchs    = envInt("SOAK_ORCHESTRATIONS", 100)
		duration = time.Duration(envInt("SOAK_SECONDS", 30)) * time.Second
		killMin  = time.Duration(envInt("SOAK_KILL_MIN_SECONDS", 8)) * time.Second
		killMax  = time.Duration(envInt("SOAK_KILL_MAX_SECONDS", 15)) * time.Second
		keys     = 20
	)
	h := newHarness(t, nil)
	procs := make([]*proc, workers)
	for i := range procs {
		procs[i] = h.startProcess("")
	}
	client := h.newApp() // sends and reads; runs no pollers
	hub := client.Hub
	ctx := testenv.Context(t, duration+10*time.Minute)

	stop := make(chan struct{})
	var kills atomic.Int64
	var mu sync.Mutex // guards procs
	var killerDone sync.WaitGroup
	killerDone.Add(1)
	go func() {
		defer killerDone.Done()
		rng := rand.New(rand.NewPCG(7, 7))
		for {
			wait := killMin + time.Duration(rng.Int64N(int64(killMax-killMin)+1))
			select {
			case <-stop:
				return
			case <-time.After(wait):
			}
			mu.Lock()
			i := rng.IntN(len(procs))
			procs[i].Kill()
			kills.Add(1)
			procs[i] = h.startProcess(procs[i].addr)
			mu.Unlock()
		}
	}()

	sent := make([]atomic.Int64, keys)
	var ids []string
	var idsMu sync.Mutex
	// The plan: every operation, shuffled; -1 starts an orchestration, k signals key k.
	rng := rand.New(rand.NewPCG(3, 5))
	plan := make([]int, 0, signals+orchs)
	for i := 0; i < signals; i++ {
		plan = append(plan, rng.IntN(keys))
	}
	for i := 0; i < orchs; i++ {
		plan = append(plan, -1)
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	var next atomic.Int64
	began := time.Now()
	var load sync.WaitGroup
	for g := 0; g < 8; g++ {
		load.Add(1)
		go func() {
			defer load.Done()
			for {
				n := int(next.Add(1) - 1)
				if n >= len(plan) {
					return
				}
				// Pace the plan evenly over the duration.
				if at := began.Add(duration * time.Duration(n) / time.Duration(len(plan))); time.Until(at) > 0 {
					time.Sleep(time.Until(at))
				}
				if plan[n] < 0 {
					id, err := hub.StartOrchestration(ctx, "chaining", "", nil)
					if err != nil {
						t.Errorf("start: %v", err)
						return
					}
					idsMu.Lock()
					ids = append(ids, id)
					idsMu.Unlock()
					continue
				}
				k := plan[n]
				if err := hub.SignalEntity(ctx, counterID(fmt.Sprintf("soak%02d", k)), "add", json.RawMessage("1"), nil); err != nil {
					t.Errorf("signal: %v", err)
					return
				}
				sent[k].Add(1)
			}
		}()
	}
	load.Wait()
	close(stop)
	killerDone.Wait()
	if t.Failed() {
		return
	}
	var totalSent int64
	for k := 0; k < keys; k++ {
		want := sent[k].Load()
		totalSent += want
		id := counterID(fmt.Sprintf("soak%02d", k))
		eventually(t, 5*time.Minute, fmt.Sprintf("%s = %d", id, want), func() (bool, string) {
			s, err := hub.ReadEntity(ctx, id)
			if err != nil {
				return false, err.Error()
			}
			var v int64
			_ = json.Unmarshal(s.State, &v)
			if v > want {
				t.Fatalf("%s = %d, more than the %d signals sent: applied twice", id, v, want)
			}
			return v == want, fmt.Sprint(v)
		})
	}
	for _, id := range ids {
		eventually(t, 5*time.Minute, "orchestration "+id, func() (bool, string) {
			s, err := hub.GetStatus(ctx, id, nil)
			if err != nil {
				return false, err.Error()
			}
			if s.RuntimeStatus.IsTerminal() && (s.RuntimeStatus != durable.StatusCompleted || string(s.Output) != "45") {
				t.Fatalf("orchestration %s ended %s with %s", id, s.RuntimeStatus, s.Output)
			}
			return s.RuntimeStatus == durable.StatusCompleted, string(s.RuntimeStatus)
		})
	}
	t.Logf("%d workers, %d kills, %d signals and %d orchestrations: none lost, none doubled", workers, kills.Load(), totalSent, len(ids))
}
