package durabletest

import (
	"fmt"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history/dfjson"
)

// Replay checks that the current code of an orchestrator still fits a history it
// recorded: historyJSON is what the management API returns for
// GET .../instances/{id}?showHistory=true&showHistoryOutput=true&showInput=true (the
// whole body, or its historyEvents array alone; durable.Client's GetStatus with
// ShowHistory gives the array). orchestrator names the function in reg to replay;
// "" takes the name the history records.
//
// Replay returns nil when the code schedules, on replay, exactly what the history
// says it scheduled (kinds, names and targets, in order; inputs are not compared, as
// in Durable Functions) and ends the way the history ends (or is still waiting, for
// a running instance). Otherwise the error is a *durable.NonDeterminismError (use
// errors.As) naming both sides. Deploying code that fails this check breaks the
// instances in flight that recorded such a history.
func Replay(reg *durable.Registry, orchestrator string, historyJSON []byte) error {
	x, err := dfjson.Parse(historyJSON)
	if err != nil {
		return fmt.Errorf("durabletest: %w", err)
	}
	name := orchestrator
	if name == "" {
		name = x.Name
	}
	if reg == nil {
		return fmt.Errorf("durabletest: no registry to find orchestrator %q in", name)
	}
	fn, ok := reg.Orchestrator(name)
	if !ok {
		return fmt.Errorf("durabletest: %w %q", durable.ErrUnknownOrchestrator, name)
	}
	return checkReplay(fn, x.Events, x.End, false)
}
