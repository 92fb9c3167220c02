package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/history"
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
	id := durable.NewEntityID(counterEntity, in.Key)
	for i := 0; i < in.Calls; i++ {
		if err := ctx.CallEntity(id, "add", 1).Await(nil); err != nil {
			return nil, err
		}
	}
	return in.Calls, nil
}

// benchCalls measures call round trips from the episode start times in history, so
// that the benchmark's polling does not blur them.
func (b *bench) benchCalls() error {
	a := b.a
	calls := b.cfg.calls
	for _, conc := range []int{1, 10} {
		b.settle()
		m := b.mark()
		var ids []string
		for i := 0; i < conc; i++ {
			in, _ := json.Marshal(map[string]any{"key": fmt.Sprintf("rt%d-%d", conc, i), "calls": calls})
			id, err := a.Hub.StartOrchestration(b.ctx, "bench_call_loop", "", in)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		var rtts []time.Duration
		start := time.Now()
		for _, id := range ids {
			for {
				s, err := a.Hub.GetStatus(b.ctx, id, &engine.StatusOptions{ShowHistory: true})
				b.reads.Add(1)
				if err != nil {
					return err
				}
				if s.RuntimeStatus.IsTerminal() {
					b.reads.Add(1) // the history query
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
					return fmt.Errorf("call loop %s: %w", id, errTimeout)
				}
				// Polled rarely: history is read only once the loop has ended.
				time.Sleep(50 * time.Millisecond)
			}
		}
		if len(rtts) == 0 {
			return fmt.Errorf("no round trips measured")
		}
		slow := 0
		for _, d := range rtts {
			if d >= time.Second {
				slow++
			}
		}
		b.add(Figure{Group: "orchestrations", Name: fmt.Sprintf("entity call round trip, %s calling: p50", plural(conc, "orchestration")), Value: ms(pct(rtts, 0.5)), Unit: "ms",
			Note: fmt.Sprintf("%d calls, %d of them 1 s or more; %.1f requests per call", len(rtts), slow, b.cost(m)/float64(conc*calls))})
		b.add(Figure{Group: "orchestrations", Name: fmt.Sprintf("entity call round trip, %s calling: p99", plural(conc, "orchestration")), Value: ms(pct(rtts, 0.99)), Unit: "ms"})
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
