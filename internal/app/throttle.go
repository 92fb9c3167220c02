package app

import (
	"strings"

	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/funcmeta"
	"github.com/durablego/durablefunctions/internal/runner"
)

// throttle builds the per-process limits of host.json extensions.durableTask for the
// queue-triggered function folders: the orchestrator folder's wake-ups count against
// maxConcurrentOrchestratorFunctions, every entity folder's together against
// maxConcurrentEntityFunctions. Activities are bounded where they run, per work item
// (engine.Config.MaxConcurrentActivities), since one message carries several; the
// activity queue's messages are bounded by the same number so that no more are
// received than could start.
func throttle(meta *funcmeta.App, entityQueues map[string]string) *runner.Throttle {
	dt := meta.Host.DurableTask
	t := runner.NewThrottle()
	var entities []string
	for _, f := range meta.Functions {
		if !f.IsQueue() {
			continue
		}
		switch {
		case strings.EqualFold(f.Name, OrchestratorFunction):
			t.Limit(dt.MaxConcurrentOrchestratorFunctions, f.Name)
		case strings.EqualFold(f.Name, ActivityFunction):
			t.Limit(dt.MaxConcurrentActivityFunctions, f.Name)
		default:
			if _, ok := entityQueues[strings.ToLower(f.Name)]; ok {
				entities = append(entities, f.Name)
			}
		}
	}
	t.Limit(dt.MaxConcurrentEntityFunctions, entities...)
	return t
}

// workerStats are the engine's and storage's counters a standalone worker adds to
// its stats log lines: commit conflicts (abandoned episodes) and storage errors by
// code (412s, PopReceiptMismatch, ...).
func workerStats(hub *engine.Hub) func() map[string]any {
	return func() map[string]any {
		return map[string]any{"engine": hub.Stats(), "storageErrors": hub.Account().ErrorCounts()}
	}
}

// Poller is the standalone queue poller RunWorkers runs, with the app's defaults
// filled into opts (poison hook, throttle, stats); for callers that want its
// counters (the benchmark). Timers are not included: see runner.RunTimers.
func (a *App) Poller(opts *runner.PollerOptions) *runner.Poller {
	o := runner.PollerOptions{}
	if opts != nil {
		o = *opts
	}
	if o.OnPoison == nil {
		o.OnPoison = a.recordPoison
	}
	if o.Throttle == nil {
		o.Throttle = a.Throttle
	}
	if o.StatsExtra == nil {
		o.StatsExtra = workerStats(a.Hub)
	}
	return runner.NewPoller(a.Meta, a.Funcs, a.acct, a.log, &o)
}
