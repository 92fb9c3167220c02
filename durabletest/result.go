package durabletest

import (
	"encoding/json"
	"fmt"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/history/dfjson"
)

// Result is an orchestration instance as the Env left it.
type Result struct {
	InstanceID string
	// Name is the orchestrator's name.
	Name   string
	Status durable.RuntimeStatus
	// Output is the JSON output of a completed instance (the reason of a terminated one).
	Output json.RawMessage
	// Failure describes why a failed instance failed.
	Failure *durable.FailureDetails
	// CustomStatus is the last value the orchestrator set with SetCustomStatus.
	CustomStatus json.RawMessage
	// History is the current execution's history.
	History *History
}

// GetOutput decodes the output into v.
func (r *Result) GetOutput(v any) error { return durable.Unmarshal(r.Output, v) }

// GetCustomStatus decodes the custom status into v.
func (r *Result) GetCustomStatus(v any) error { return durable.Unmarshal(r.CustomStatus, v) }

// Err is nil for a completed instance. For a failed one it is a
// *durable.TaskFailedError (Kind "orchestration") carrying the failure details, as a
// parent orchestration would see it; otherwise it says the instance has not finished
// or was terminated.
func (r *Result) Err() error {
	switch r.Status {
	case durable.StatusCompleted:
		return nil
	case durable.StatusFailed:
		d := durable.FailureDetails{ErrorMessage: "failed"}
		if r.Failure != nil {
			d = *r.Failure
		}
		return &durable.TaskFailedError{Kind: "orchestration", Name: r.Name, TaskID: -1, Details: d}
	case durable.StatusTerminated:
		return fmt.Errorf("durabletest: instance %q was terminated: %s", r.InstanceID, r.Output)
	}
	return fmt.Errorf("%w: %q is %s", errNotFinished, r.InstanceID, r.Status)
}

// History is an execution's history.
type History struct {
	events []history.Event
}

// JSON renders the history as the management API's showHistory does, with outputs
// and inputs (showHistoryOutput=true&showInput=true): the shape Replay accepts.
func (h *History) JSON() json.RawMessage {
	b, _ := json.Marshal(dfjson.Render(h.events, true, true)) // maps of JSON values always encode
	return b
}

// EventTypes lists the EventType of each entry of JSON, in order.
func (h *History) EventTypes() []string {
	var out []string
	for _, m := range dfjson.Render(h.events, false, false) {
		out = append(out, m["EventType"].(string))
	}
	return out
}

// Activities lists the activities the orchestrator scheduled, in order, once per
// attempt (a retried activity appears once per try).
func (h *History) Activities() []string { return h.names(history.TaskScheduled) }

// SubOrchestrators lists the sub-orchestrations the orchestrator started, in order.
func (h *History) SubOrchestrators() []string { return h.names(history.SubOrchestrationCreated) }

// EntityOperations lists the entity operations the orchestrator called or signalled,
// in order, as "name@key:operation".
func (h *History) EntityOperations() []string {
	var out []string
	for _, e := range h.events {
		if (e.Type == history.EntityCalled || e.Type == history.EntitySignaled) && e.Entity != nil {
			out = append(out, e.Entity.Name+"@"+e.Entity.Key+":"+e.Name)
		}
	}
	return out
}

// LockRequests lists the lock sets the orchestrator requested with LockEntities, in
// order, each as it was sent: sorted, without duplicates.
func (h *History) LockRequests() [][]durable.EntityID {
	var out [][]durable.EntityID
	for _, e := range h.events {
		if e.Type == history.EntityLockRequested {
			out = append(out, append([]durable.EntityID(nil), e.LockSet...))
		}
	}
	return out
}

// Unlocks lists the entities the instance sent a lock release to, in order, once per
// release: those its critical sections unlocked, and those the engine released for it
// when it ended holding them.
func (h *History) Unlocks() []durable.EntityID {
	var out []durable.EntityID
	for _, e := range h.events {
		if e.Type == history.EntityUnlockSent && e.Entity != nil {
			out = append(out, *e.Entity)
		}
	}
	return out
}

// Timers counts the durable timers the orchestrator created (including the ones
// behind retries and WaitForExternalEvent timeouts).
func (h *History) Timers() int { return len(h.names(history.TimerCreated)) }

func (h *History) names(t history.EventType) []string {
	var out []string
	for _, e := range h.events {
		if e.Type == t {
			out = append(out, e.Name)
		}
	}
	return out
}
