package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// TestStorageOutage stops Azurite in the middle of a load and starts it again after
// OUTAGE_SECONDS (default 10; the figure is 30): workers back off and retry,
// clients retry with idempotency keys and fixed instance ids, and in the end every
// signal is applied exactly once and every orchestration completes.
func TestStorageOutage(t *testing.T) {
	outage := time.Duration(envInt("OUTAGE_SECONDS", 10)) * time.Second
	dataDir := t.TempDir()
	az, err := testenv.StartWith(testenv.StartOptions{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { az.Stop() }()
	h := newHarness(t, nil)
	h.az = az
	h.vars["AzureWebJobsStorage"] = az.ConnectionString
	h.startProcess("")
	h.startProcess("")
	client := h.newApp()
	hub := client.Hub
	ctx := testenv.Context(t, 10*time.Minute)

	const signals, orchs, keys = 300, 30, 5
	retry := func(what string, op func() error) {
		for attempt := 0; ; attempt++ {
			err := op()
			if err == nil {
				return
			}
			if attempt > 200 {
				t.Errorf("%s: still failing: %v", what, err)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < signals+orchs; i += 4 {
				time.Sleep(60 * time.Millisecond) // spread the load across the outage
				if i < orchs {
					id := fmt.Sprintf("outage-%03d", i)
					retry("start "+id, func() error {
						_, err := hub.StartOrchestration(ctx, "chaining", id, nil)
						if errors.Is(err, engine.ErrInstanceExists) {
							return nil // an earlier attempt went through
						}
						return err
					})
					continue
				}
				key := fmt.Sprintf("sig-%d", i)
				retry("signal "+key, func() error {
					return hub.SignalEntity(ctx, counterID(fmt.Sprintf("out%d", i%keys)), "add", json.RawMessage("1"), &engine.SignalOptions{IdempotencyKey: key})
				})
			}
		}()
	}
	time.Sleep(3 * time.Second)
	az.Terminate()
	t.Logf("azurite stopped for %s", outage)
	time.Sleep(outage)
	az2, err := testenv.StartWith(testenv.StartOptions{DataDir: dataDir, Ports: az.Ports()})
	if err != nil {
		t.Fatal(err)
	}
	az = az2
	wg.Wait()
	if t.Failed() {
		return
	}
	for k := 0; k < keys; k++ {
		want := 0
		for i := orchs; i < signals+orchs; i++ {
			if i%keys == k {
				want++
			}
		}
		id := counterID(fmt.Sprintf("out%d", k))
		eventually(t, 3*time.Minute, fmt.Sprintf("%s = %d", id, want), func() (bool, string) {
			s, err := hub.ReadEntity(ctx, id)
			if err != nil {
				return false, err.Error()
			}
			var v int
			_ = json.Unmarshal(s.State, &v)
			if v > want {
				t.Fatalf("%s = %d, more than the %d signals sent", id, v, want)
			}
			return v == want, fmt.Sprint(v)
		})
	}
	for i := 0; i < orchs; i++ {
		id := fmt.Sprintf("outage-%03d", i)
		eventually(t, 3*time.Minute, id+" completed", func() (bool, string) {
			s, err := hub.GetStatus(ctx, id, nil)
			if err != nil {
				return false, err.Error()
			}
			return s.RuntimeStatus == durable.StatusCompleted && string(s.Output) == "45", string(s.RuntimeStatus)
		})
	}
}
