package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/durablego/durablefunctions/handler/app"
	"github.com/durablego/durablefunctions/handler/durable"
	"github.com/durablego/durablefunctions/handler/engine"
	"github.com/durablego/durablefunctions/handler/history"
)

// callLoop calls a counter entity n times in sequence: every episode after the first
// is one call round trip (orchestration -> entity -> orchestration).
func callLoop(ctx durable.OrchestrationContext) (any, error) {
	var in struct {
		Key   string `json:"key"`
		Calls int    `json:"calls"`
	}
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	id := durable.NewEntityID("counter_entity", in.Key)
	for i := 0; i < in.Calls; i++ {
		if err := ctx.CallEntity(id, "add", 1).Await(nil); err != nil {
			return nil, err
		}
	}
	return in.Calls, nil
}

// benchCalls measures call round trips from the episode start times in history.
func benchCalls(ctx context.Context, a *app.App, add func(Figure)) error {
	for _, conc := range []int{1, 10} {
		const calls = 100
		var ids []string
		for i := 0; i < conc; i++ {
			in, _ := json.Marshal(map[string]any{"key": fmt.Sprintf("rt%d-%d", conc, i), "calls": calls})
			id, err := a.Hub.StartOrchestration(ctx, "bench_call_loop", "", in)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		var rtts []time.Duration
		start := time.Now()
		for _, id := range ids {
			for {
				s, err := a.Hub.GetStatus(ctx, id, &engine.StatusOptions{ShowHistory: true})
				if err != nil {
					return err
				}
				if s.RuntimeStatus.IsTerminal() {
					if s.RuntimeStatus != durable.StatusCompleted {
						return fmt.Errorf("call loop %s ended %s", id, s.RuntimeStatus)
					}
					var prev time.Time
					for _, e := range s.History {
						if e.Type != history.OrchestratorStarted {
							continue
						}
						if !prev.IsZero() {
							rtts = append(rtts, e.Timestamp.Sub(prev))
						}
						prev = e.Timestamp
					}
					break
				}
				if time.Since(start) > 5*time.Minute {
					return fmt.Errorf("call loop %s not done", id)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
		if len(rtts) == 0 {
			return fmt.Errorf("no round trips measured")
		}
		p := func(q float64) float64 { return float64(rtts[int(q*float64(len(rtts)-1))].Microseconds()) / 1000 }
		add(Figure{fmt.Sprintf("entity call round trip from an orchestration, %d loops: p50", conc), p(0.5), "ms", fmt.Sprintf("%d calls", len(rtts))})
		add(Figure{fmt.Sprintf("entity call round trip from an orchestration, %d loops: p99", conc), p(0.99), "ms", ""})
	}
	return nil
}
