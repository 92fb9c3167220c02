package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/durablego/durablefunctions/handler/app"
	"github.com/durablego/durablefunctions/handler/durable"
	"github.com/durablego/durablefunctions/handler/storage"
)

// benchOrchestrations measures orchestration figures with the hub's client API.
func benchOrchestrations(ctx context.Context, a *app.App, acct *storage.Account, add func(Figure), instances, fanout int) error {
	hub := a.Hub
	wait := func(id string, within time.Duration) (*json.RawMessage, error) {
		deadline := time.Now().Add(within)
		for {
			s, err := hub.GetStatus(ctx, id, nil)
			readsDone.Add(1)
			if err == nil && s.RuntimeStatus.IsTerminal() {
				if s.RuntimeStatus != durable.StatusCompleted {
					return nil, fmt.Errorf("instance %s ended %s: %v", id, s.RuntimeStatus, s.Failure)
				}
				out := json.RawMessage(s.Output)
				return &out, nil
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("instance %s not done after %s", id, within)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// Let the previous phase's delayed wake-ups drain so they are not counted here.
	time.Sleep(3 * time.Second)

	// Storage requests per one-activity orchestration, one at a time.
	const helloN = 20
	before, emptyBefore := acct.Requests(), acct.EmptyPolls()
	for i := 0; i < helloN; i++ {
		id, err := hub.StartOrchestration(ctx, "hello", "", json.RawMessage(`"bench"`))
		if err != nil {
			return err
		}
		if _, err := wait(id, time.Minute); err != nil {
			return err
		}
	}
	add(Figure{"storage requests per one-activity orchestration", work(acct, before, emptyBefore) / helloN, "requests", "start to completed; excludes empty polls and status reads"})

	// Chains of three activities, many at once.
	for _, n := range []int{1, 10, instances} {
		start := time.Now()
		ids := make([]string, n)
		for i := range ids {
			id, err := hub.StartOrchestration(ctx, "chaining", "", nil)
			if err != nil {
				return err
			}
			ids[i] = id
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		lat := make([]time.Duration, n)
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := wait(id, 5*time.Minute)
				if err == nil && string(*out) != "45" {
					err = fmt.Errorf("chaining %s returned %s", id, *out)
				}
				errs[i], lat[i] = err, time.Since(start)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		el := time.Since(start)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		add(Figure{fmt.Sprintf("chain of 3 activities, %d concurrent: orchestrations/s", n), float64(n) / el.Seconds(), "orch/s", fmt.Sprintf("p50 completion %.2fs", lat[n/2].Seconds())})
	}

	// Fan-out/fan-in.
	for _, n := range []int{100, fanout} {
		start := time.Now()
		id, err := hub.StartOrchestration(ctx, "fan_out_fan_in", "", json.RawMessage(fmt.Sprintf(`{"items": %d}`, n)))
		if err != nil {
			return err
		}
		out, err := wait(id, 10*time.Minute)
		if err != nil {
			return err
		}
		want := 0
		for i := 1; i <= n; i++ {
			want += i * i
		}
		if string(*out) != fmt.Sprint(want) {
			return fmt.Errorf("fan-out of %d returned %s, want %d", n, *out, want)
		}
		add(Figure{fmt.Sprintf("fan-out/fan-in of %d activities", n), time.Since(start).Seconds(), "s", ""})
	}
	return nil
}
