package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/history"
)

// status reads an instance's committed status, counted as the benchmark's own read.
func (b *bench) status(id string) (*engine.InstanceStatus, error) {
	s, err := b.a.Hub.GetStatus(b.ctx, id, nil)
	b.reads.Add(1)
	return s, err
}

// failureText renders why an instance failed, or "".
func failureText(s *engine.InstanceStatus) string {
	if s.Failure == nil {
		return ""
	}
	return fmt.Sprintf(": %s: %s", s.Failure.ErrorType, s.Failure.ErrorMessage)
}

// waitDone polls one instance until it ends; it fails unless the instance completed.
func (b *bench) waitDone(id string, every, within time.Duration) (json.RawMessage, error) {
	deadline := time.Now().Add(within)
	for {
		s, err := b.status(id)
		if err == nil && s.RuntimeStatus.IsTerminal() {
			if s.RuntimeStatus != durable.StatusCompleted {
				return nil, fmt.Errorf("instance %s ended %s%s", id, s.RuntimeStatus, failureText(s))
			}
			return json.RawMessage(s.Output), nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("instance %s: %w after %s", id, errTimeout, within)
		}
		time.Sleep(every)
	}
}

// waitAll waits for many instances with one reader that sweeps over those still
// running. A poller per instance would flood Azurite with status reads (100
// instances every 10 ms is more requests than the engine's own) and measure the
// poller; one sweep at a time costs at most one concurrent read. It returns each
// instance's completion time since start, resolved to one sweep.
func (b *bench) waitAll(ids []string, start time.Time, within time.Duration, check func(id string, out json.RawMessage) error) ([]time.Duration, error) {
	lat := make([]time.Duration, len(ids))
	pending := make([]int, len(ids))
	for i := range pending {
		pending[i] = i
	}
	deadline := start.Add(within)
	for len(pending) > 0 {
		still := pending[:0]
		for _, i := range pending {
			s, err := b.status(ids[i])
			switch {
			case err != nil:
				return nil, err
			case s.RuntimeStatus.IsTerminal():
				if s.RuntimeStatus != durable.StatusCompleted {
					return nil, fmt.Errorf("instance %s ended %s%s", ids[i], s.RuntimeStatus, failureText(s))
				}
				if err := check(ids[i], json.RawMessage(s.Output)); err != nil {
					return nil, err
				}
				lat[i] = time.Since(start)
			default:
				still = append(still, i)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d instances: %w after %s", len(pending), len(ids), errTimeout, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return lat, nil
}

// benchOrchestrations measures the storage cost of an orchestration and the
// throughput of chained ones at several concurrencies.
func (b *bench) benchOrchestrations() error {
	hub := b.a.Hub
	b.settle()

	// Storage requests per one-activity orchestration, one at a time.
	n := b.cfg.hello
	m := b.mark()
	for i := 0; i < n; i++ {
		id, err := hub.StartOrchestration(b.ctx, "hello", "", json.RawMessage(`"bench"`))
		if err != nil {
			return err
		}
		if _, err := b.waitDone(id, 10*time.Millisecond, time.Minute); err != nil {
			return err
		}
	}
	b.add(Figure{Group: "orchestrations", Name: "storage requests per one-activity orchestration", Value: b.cost(m) / float64(n), Unit: "requests",
		Note: fmt.Sprintf("%d, one at a time, start to completed; excludes empty polls and status reads", n)})

	// Chains of three activities, n at a time, in rounds (one instance alone says
	// little). A chain commits at least four episodes, each a small batch
	// transaction, so batch commits/s bound it.
	rounds := map[int]int{1: 10, 10: 3, b.cfg.instances: 3}
	if b.cfg.quick {
		rounds = map[int]int{1: 5, 10: 2, b.cfg.instances: 2}
	}
	for _, n := range []int{1, 10, b.cfg.instances} {
		if n == b.cfg.instances {
			// One unmeasured round first: the first burst of this size opens the
			// connections and grows the pools that every later one reuses.
			if err := b.chainRound(n); err != nil {
				return err
			}
		}
		b.settle()
		r := max(1, rounds[n])
		m := b.mark()
		start := time.Now()
		var lat []time.Duration
		for round := 0; round < r; round++ {
			rs := time.Now()
			ids, err := b.startChains(hub, n)
			if err != nil {
				return err
			}
			l, err := b.waitAll(ids, rs, 5*time.Minute, func(id string, out json.RawMessage) error {
				if string(out) != "45" {
					return fmt.Errorf("chaining %s returned %s", id, out)
				}
				return nil
			})
			if err != nil {
				return err
			}
			lat = append(lat, l...)
		}
		el := time.Since(start)
		total := n * r
		perOrch := b.cost(m) / float64(total)
		f := Figure{Group: "orchestrations", Name: fmt.Sprintf("chain of 3 activities, %d concurrent", n), Value: float64(total) / el.Seconds(), Unit: "orch/s",
			Note: fmt.Sprintf("%d x %d%s; p50 completion %.2fs; %.1f requests each", r, n, warmNote(n == b.cfg.instances), pct(lat, 0.5).Seconds(), perOrch)}
		if n == 1 {
			f = against(f, "raw 100-row batch commits/s (1 client)", func(r *rawBaseline) float64 { return r.Batch100Seq })
		} else {
			f = against(f, "raw 100-row batch commits/s (4 clients)", func(r *rawBaseline) float64 { return r.Batch100Conc })
		}
		b.add(f)
		if n == b.cfg.instances {
			b.add(Figure{Group: "orchestrations", Name: fmt.Sprintf("storage requests per chain-of-3 orchestration, %d concurrent", n), Value: perOrch, Unit: "requests",
				Note: "excludes empty polls and status reads"})
		}
	}
	return nil
}

func warmNote(warm bool) string {
	if warm {
		return " after an unmeasured warm-up round"
	}
	return ""
}

// chainRound runs n chains at once and waits for them, measuring nothing.
func (b *bench) chainRound(n int) error {
	ids, err := b.startChains(b.a.Hub, n)
	if err != nil {
		return err
	}
	_, err = b.waitNotified(ids, time.Now(), 5*time.Minute)
	return err
}

// startChains starts n chaining orchestrations through hub and returns their ids.
func (b *bench) startChains(hub *engine.Hub, n int) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		id, err := hub.StartOrchestration(b.ctx, "chaining", "", nil)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

// benchFanOut runs fan-out/fan-in orchestrations, smallest first. One that does not
// finish within the time limit is reported with how far it got, and terminated so that
// its leftovers do not run on behind the benchmark's back.
func (b *bench) benchFanOut() error {
	hub := b.a.Hub
	for _, n := range b.cfg.fanouts {
		b.settle()
		name := fmt.Sprintf("fan-out/fan-in of %d activities", n)
		m := b.mark()
		start := time.Now()
		id, err := hub.StartOrchestration(b.ctx, "fan_out_fan_in", "", json.RawMessage(fmt.Sprintf(`{"items": %d}`, n)))
		if err != nil {
			return err
		}
		out, err := b.waitDone(id, 25*time.Millisecond, b.cfg.fanoutTimeout)
		el := time.Since(start)
		if err != nil {
			// Say how far it got: the status and the completed activities in history.
			note := err.Error()
			terminal := false
			if s, herr := hub.GetStatus(b.ctx, id, &engine.StatusOptions{ShowHistory: true}); herr == nil {
				done := 0
				for _, e := range s.History {
					if e.Type == history.TaskCompleted {
						done++
					}
				}
				terminal = s.RuntimeStatus.IsTerminal()
				note = fmt.Sprintf("%s after %.1fs%s; %d of %d activities completed", s.RuntimeStatus, el.Seconds(), failureText(s), done, n+2)
				if errors.Is(err, errTimeout) {
					note = "time limit: " + note
				}
			}
			if !terminal {
				if terr := hub.Terminate(b.ctx, id, "benchmark time limit"); terr != nil {
					note += "; terminate failed: " + terr.Error()
				} else {
					note += "; terminated"
				}
			}
			status := "error"
			if errors.Is(err, errTimeout) {
				status = "timeout"
			}
			b.add(Figure{Group: "orchestrations", Name: name, Unit: "s", Status: status, Note: note})
			b.problem("%s: %s", name, note)
			continue
		}
		want := 0
		for i := 1; i <= n; i++ {
			want += i * i
		}
		if string(out) != fmt.Sprint(want) {
			return fmt.Errorf("fan-out of %d returned %s, want %d", n, out, want)
		}
		b.add(Figure{Group: "orchestrations", Name: name, Value: el.Seconds(), Unit: "s",
			Note: fmt.Sprintf("%.0f activities/s; %.2f requests per activity", float64(n)/el.Seconds(), b.cost(m)/float64(n))})
	}
	return nil
}
