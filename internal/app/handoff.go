package app

import (
	"context"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
)

// EnableHandoff lets the hub run, in this process, the episodes of instances it sends
// messages to (engine.Hub.EnableLocalHandoff), saving a queue round trip per step.
// Only where this process polls the orchestrator queue: standalone, with the
// orchestrator function enabled; entities only if their queue function is enabled
// too. Under the Functions host the queue path stays, so the host sees the work.
func (a *App) EnableHandoff(ctx context.Context) {
	on := false
	var entities []string
	for _, f := range a.Meta.Functions {
		if !f.IsQueue() || f.Disabled {
			continue
		}
		if strings.EqualFold(f.Name, OrchestratorFunction) {
			on = true
		} else if _, ok := a.Hub.Registry().Entity(f.Name); ok {
			entities = append(entities, f.Name)
		}
	}
	if !on {
		return
	}
	// A handed-off episode takes the slot its queue's wake-up would have taken, so
	// host.json's limits bound the process either way.
	acquire := func(ctx context.Context, id string) (func(), error) {
		function := OrchestratorFunction
		if strings.HasPrefix(id, "@") {
			if eid, err := durable.ParseEntityID(id); err == nil {
				function = eid.Name // the entity's queue function has the entity's name
			}
		}
		return a.Throttle.Acquire(ctx, function)
	}
	a.Hub.EnableLocalHandoff(ctx, &engine.LocalHandoffOptions{Entities: entities, Acquire: acquire})
}

// recoverAtStart wakes, through the queues, every instance with messages written
// before this process started (started is its start time): a process before it may
// have died while it ran their episodes itself, with no queue message to bring them
// back. Entities are woken in careful mode (engine.SweepOptions.Recover).
func (a *App) recoverAtStart(ctx context.Context, started time.Time) {
	if _, err := a.Hub.Sweep(ctx, &engine.SweepOptions{Before: started, Recover: true}); err != nil && ctx.Err() == nil {
		a.log.Warn("start-up sweep failed; the maintenance sweep will find stranded work", "err", err)
	}
}
