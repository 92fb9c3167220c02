package main

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durablego/durablefunctions/durable"
)

const counterEntity = "counter_entity"

// benchLatency sends signals one at a time to an idle entity and times each from the
// HTTP 202 to the first committed read that shows it. The reads run back to back, so
// the figure's resolution is one read round trip (reported with it); they also load
// Azurite a little while the worker applies the signal, as any status poller would.
// The same run gives the storage requests of a signal that nothing batches.
func (b *bench) benchLatency() error {
	const key = "lat"
	url := fmt.Sprintf("%s/api/counter/%s/add?value=1", b.url, key)
	// Warm the entity's queue, partition and code paths first.
	const warm = 3
	for i := 1; i <= warm; i++ {
		if err := post(url); err != nil {
			return err
		}
		if err := b.waitValue(key, int64(i), time.Minute); err != nil {
			return err
		}
	}
	n := b.cfg.latency
	m := b.mark()
	var lats, accepts []time.Duration
	var readTime time.Duration
	reads := 0
	for i := 0; i < n; i++ {
		time.Sleep(b.cfg.latencyPause)
		want := int64(warm + i + 1)
		t := time.Now()
		if err := post(url); err != nil {
			return err
		}
		t0 := time.Now()
		accepts = append(accepts, t0.Sub(t))
		for {
			rs := time.Now()
			v, err := b.readCounter(key)
			readTime += time.Since(rs)
			reads++
			if err != nil {
				return err
			}
			if v == want {
				break
			}
			if v > want {
				return fmt.Errorf("counter %s = %d, more than the %d sent: a signal was applied twice", key, v, want)
			}
			if time.Since(t0) > time.Minute {
				return fmt.Errorf("signal %d to %s not applied after a minute (value %d)", i, key, v)
			}
		}
		lats = append(lats, time.Since(t0))
	}
	perSignal := b.cost(m) / float64(n)
	res := readTime / time.Duration(reads)
	// After the 202 the worker must at least receive the wake-up, load the partition
	// and commit: the floor is those three raw requests back to back.
	floor := &ratio{
		base: func(r *rawBaseline) float64 { return r.RecvSeqMs + 1000/r.QuerySmall + 1000/r.Batch5Seq },
		name: func(v float64) string {
			return fmt.Sprintf("raw floor %.1f ms (1-client receive + partition query + 5-row batch)", v)
		},
	}
	p50 := Figure{Group: "entities", Name: "signal -> committed state latency p50", Value: ms(pct(lats, 0.5)), Unit: "ms", ratio: floor,
		Note: fmt.Sprintf("%d signals, %s apart; resolution %.1f ms (one ReadEntity); the worker shares the process, so no polling delay", n, b.cfg.latencyPause, ms(res))}
	b.add(p50)
	short := &ratio{base: floor.base, name: func(v float64) string { return fmt.Sprintf("raw floor %.1f ms", v) }}
	b.add(Figure{Group: "entities", Name: "signal -> committed state latency p99", Value: ms(pct(lats, 0.99)), Unit: "ms", ratio: short})
	b.add(Figure{Group: "entities", Name: "signal accepted over HTTP (POST -> 202) p50", Value: ms(pct(accepts, 0.5)), Unit: "ms", Note: "inbox insert + wake-up message"})
	b.add(Figure{Group: "entities", Name: "storage requests per signal, one at a time (client + worker)", Value: perSignal, Unit: "requests",
		Note: "excludes empty queue polls and the benchmark's reads"})
	return nil
}

// benchSignals measures entity operations per second: a burst on one entity (which
// the engine can apply in batches) and the same burst spread over many entities.
func (b *bench) benchSignals() error {
	b.settle()
	signals, parallel, entities := b.cfg.signals, b.cfg.parallel, b.cfg.entities
	enq := func(r *rawBaseline) float64 { return r.EnqConc }
	const enqName = "raw enqueue/s (16 clients): a signal is at least an inbox insert and a queue message"

	m := b.mark()
	start := time.Now()
	failed := b.burst(signals, parallel, func(i int) string { return "hot" })
	sent := time.Since(start)
	applied, err := b.waitApplied(map[string]int64{"hot": int64(signals)}, failed, 5*time.Minute)
	if err != nil {
		return err
	}
	el := time.Since(start)
	b.add(against(Figure{Group: "entities", Name: "signals/s accepted over HTTP (one entity)", Value: float64(signals-len(failed)) / sent.Seconds(), Unit: "signals/s",
		Note: fmt.Sprintf("%d HTTP clients%s", parallel, failedNote(failed))}, enqName, enq))
	b.add(against(Figure{Group: "entities", Name: "entity operations/s, one entity (send to last applied)", Value: float64(applied) / el.Seconds(), Unit: "ops/s",
		Note: fmt.Sprintf("%d signals", signals)}, "raw enqueue/s (16 clients)", enq))
	b.add(Figure{Group: "entities", Name: "storage requests per signal, burst on one entity", Value: b.cost(m) / float64(signals), Unit: "requests",
		Note: "excludes empty polls and the benchmark's reads"})

	b.settle()
	m = b.mark()
	start = time.Now()
	key := func(i int) string { return fmt.Sprintf("k%03d", i%entities) }
	failed = b.burst(signals, parallel, key)
	want := map[string]int64{}
	for i := 0; i < signals; i++ {
		want[key(i)]++
	}
	applied, err = b.waitApplied(want, failed, 5*time.Minute)
	if err != nil {
		return err
	}
	el = time.Since(start)
	b.add(against(Figure{Group: "entities", Name: fmt.Sprintf("entity operations/s, %d entities", entities), Value: float64(applied) / el.Seconds(), Unit: "ops/s",
		Note: fmt.Sprintf("%d signals%s", signals, failedNote(failed))}, "raw enqueue/s (16 clients)", enq))
	b.add(Figure{Group: "entities", Name: fmt.Sprintf("storage requests per signal, %d entities", entities), Value: b.cost(m) / float64(signals), Unit: "requests",
		Note: "excludes empty polls and the benchmark's reads"})
	return nil
}

func failedNote(failed map[string]int64) string {
	n := int64(0)
	for _, c := range failed {
		n += c
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d POSTs FAILED", n)
}

// burst sends n add-1 signals from parallel HTTP clients. A failed POST is not
// retried (without an idempotency key a retry could apply twice): it is counted per
// entity, reported as a problem, and waited for as "maybe applied".
func (b *bench) burst(n, parallel int, key func(int) string) (failed map[string]int64) {
	var wg sync.WaitGroup
	var next atomic.Int64
	var mu sync.Mutex
	failed = map[string]int64{}
	var first error
	for p := 0; p < parallel; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				k := key(i)
				if err := post(fmt.Sprintf("%s/api/counter/%s/add?value=1", b.url, k)); err != nil {
					mu.Lock()
					failed[k]++
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		n := int64(0)
		for _, c := range failed {
			n += c
		}
		b.problem("%s: %d signal POSTs failed; the first: %v", b.current, n, first)
	}
	return failed
}

// waitApplied waits until every counter shows what was sent to it and returns how
// many signals were applied. A counter with failed POSTs may end anywhere between
// the signals that surely arrived and all that were sent; it counts as done once its
// value has not moved for five seconds.
func (b *bench) waitApplied(want, failed map[string]int64, within time.Duration) (int64, error) {
	deadline := time.Now().Add(within)
	var applied int64
	for k, hi := range want {
		lo := hi - failed[k]
		last, since := int64(-1), time.Now()
		for {
			v, err := b.readCounter(k)
			if err != nil {
				return 0, err
			}
			if v > hi {
				return 0, fmt.Errorf("counter %s = %d, more than the %d sent: a signal was applied twice", k, v, hi)
			}
			if v != last {
				last, since = v, time.Now()
			}
			if v == hi || (v >= lo && time.Since(since) > 5*time.Second) {
				applied += v
				break
			}
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("counter %s = %d after %s, want %d: %w", k, v, within, hi, errTimeout)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return applied, nil
}

// readCounter reads a counter's committed value: one storage request, counted as the
// benchmark's so that it is left out of the engine's figures.
func (b *bench) readCounter(key string) (int64, error) {
	snap, err := b.a.Hub.ReadEntity(b.ctx, durable.NewEntityID(counterEntity, key))
	b.reads.Add(1)
	if err != nil {
		return 0, err
	}
	var v int64
	if snap.Exists {
		_ = json.Unmarshal(snap.State, &v)
	}
	return v, nil
}

// waitValue polls a counter until it reaches want.
func (b *bench) waitValue(key string, want int64, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		v, err := b.readCounter(key)
		if err != nil {
			return err
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

// pct is the q-quantile of ds (nearest rank); it sorts ds.
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}
