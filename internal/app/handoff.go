package app

import (
	"context"
	"strings"
)

// EnableHandoff lets the hub run, in this process, the episodes of orchestrations it
// starts or reports activity results to (engine.Hub.EnableLocalHandoff), saving a
// queue round trip per step. Only where this process polls the orchestrator queue:
// standalone, with the orchestrator function enabled. Under the Functions host the
// queue path stays, so the host sees the work.
func (a *App) EnableHandoff(ctx context.Context) {
	for _, f := range a.Meta.Functions {
		if f.IsQueue() && !f.Disabled && strings.EqualFold(f.Name, OrchestratorFunction) {
			a.Hub.EnableLocalHandoff(ctx, 0)
			return
		}
	}
}
