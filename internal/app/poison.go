package app

import (
	"context"
	"fmt"
	"time"

	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/runner"
)

// activityHandler runs activity batches. On the last delivery before the poison queue
// (DequeueCount reaching maxDequeueCount) it does not run the batch again: every
// earlier attempt failed or died, and under the Functions host an attempt that dies
// now (the usual way a batch gets here: a crash, a kill, a timeout) would have the
// host move the message to <queue>-poison without the app ever hearing of it. It
// answers ErrPoison instead, so both modes poison the message through the app's
// poison hook, which reports every task as failed to its orchestration
// (engine.Hub.HandlePoison). A batch therefore runs at most maxDequeueCount-1 times,
// standalone and under the host alike (with maxDequeueCount 1, once, and a batch that
// kills the worker is left to the sweep's re-drive).
func activityHandler(hub *engine.Hub) runner.QueueFunc {
	run := poisonOnBad(hub.HandleActivityBatch)
	return func(ctx context.Context, b []byte) error {
		// With maxDequeueCount 1 the only delivery is also the last: run it (a crash
		// then goes unreported, and the sweep re-drives the work later).
		if d, ok := runner.DeliveryFrom(ctx); ok && d.Final() && d.MaxDequeueCount > 1 {
			last := d.LastError
			if last == "" {
				last = "none reported (the worker running it stopped: crash, kill or timeout)"
			}
			return fmt.Errorf("%w: delivered %d times without completing (maxDequeueCount %d), last error: %s",
				runner.ErrPoison, d.DequeueCount, d.MaxDequeueCount, last)
		}
		return run(ctx, b)
	}
}

// wakeHandler processes wake-ups, telling the engine which delivery this is: a
// redelivered entity wake-up is processed carefully (see engine.HandleWakeUp).
func wakeHandler(hub *engine.Hub) runner.QueueFunc {
	run := poisonOnBad(hub.HandleWakeUp)
	return func(ctx context.Context, b []byte) error {
		if d, ok := runner.DeliveryFrom(ctx); ok {
			ctx = engine.WithDequeueCount(ctx, d.DequeueCount)
		}
		return run(ctx, b)
	}
}

// redriveAfter reads DURABLE_REDRIVE_AFTER (a Go duration; empty or invalid: the
// engine's default).
func redriveAfter(getenv func(string) string) time.Duration {
	d, err := time.ParseDuration(getenv("DURABLE_REDRIVE_AFTER"))
	if err != nil || d < 0 {
		return 0
	}
	return d
}
