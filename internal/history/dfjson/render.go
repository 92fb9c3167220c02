// Package dfjson converts an execution's history to and from the JSON shape of Durable
// Functions' status API with showHistory: PascalCase fields, no episode markers, and
// each TaskScheduled (or sub-orchestration creation) folded into its completion.
// Render is what the management API serves; Parse reconstructs, from that JSON, an
// event stream the replay core can re-run, which is how durabletest.Replay checks a
// recorded history against new code.
package dfjson

import (
	"encoding/json"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

// Render renders an execution's history the way DF's status API shows it:
// PascalCase fields, no episode markers, and each TaskScheduled (or sub-orchestration
// creation) folded into its completion as FunctionName and ScheduledTime, so a
// completed step is one entry. Scheduled steps without a completion stay as they are.
// Results, event payloads and outputs appear only with showOutput, inputs only with
// showInput: they may be large or sensitive.
//
// Beyond DF's fields (which clients ignore when unknown) every scheduling entry
// carries its EventId, ExecutionStarted its InstanceId and a delayed entity signal its
// FireAt, so that Parse can rebuild the event stream exactly.
func Render(events []history.Event, showOutput, showInput bool) []map[string]any {
	var out []map[string]any
	scheduled := map[int]int{} // task id -> index in out of its scheduling entry
	dropped := map[int]bool{}
	for i := range events {
		e := &events[i]
		m := map[string]any{"EventType": string(e.Type), "Timestamp": ts(e.Timestamp)}
		switch e.Type {
		case history.OrchestratorStarted, history.CustomStatusSet:
			continue
		case history.ExecutionStarted:
			m["FunctionName"] = e.Name
			if e.InstanceID != "" {
				m["InstanceId"] = e.InstanceID
			}
			if showInput {
				m["Input"] = raw(e.Input)
			}
		case history.ExecutionCompleted:
			m["OrchestrationStatus"] = string(e.Status)
			if showOutput {
				m["Result"] = raw(e.Result)
			}
			addFailure(m, e.Failure)
		case history.ExecutionTerminated, history.ExecutionSuspended, history.ExecutionResumed:
			var reason string
			if json.Unmarshal(e.Input, &reason) == nil && reason != "" {
				m["Reason"] = reason
			}
		case history.TaskScheduled, history.SubOrchestrationCreated:
			m["EventId"] = e.ID
			m["FunctionName"] = e.Name
			if e.Type == history.SubOrchestrationCreated {
				m["InstanceId"] = e.InstanceID
			}
			if showInput {
				m["Input"] = raw(e.Input)
			}
			scheduled[e.ID] = len(out)
		case history.TaskCompleted, history.TaskFailed, history.SubOrchestrationDone, history.SubOrchestrationFailed:
			m["TaskScheduledId"] = e.TaskID
			if j, ok := scheduled[e.TaskID]; ok && !dropped[j] {
				s := out[j]
				m["FunctionName"] = s["FunctionName"]
				m["ScheduledTime"] = s["Timestamp"]
				if id, ok := s["InstanceId"]; ok {
					m["InstanceId"] = id
				}
				dropped[j] = true
			}
			if showOutput && e.Result != nil {
				m["Result"] = raw(e.Result)
			}
			addFailure(m, e.Failure)
		case history.TimerCreated:
			m["EventId"] = e.ID
			m["FireAt"] = ts(e.FireAt)
		case history.TimerFired:
			m["TimerId"] = e.TaskID
			m["FireAt"] = ts(e.FireAt)
		case history.EventRaised, history.EventSent:
			m["Name"] = e.Name
			if e.Type == history.EventSent {
				m["EventId"] = e.ID
				m["InstanceId"] = e.InstanceID
			}
			if showOutput {
				m["Input"] = raw(e.Input)
			}
		case history.EntitySignaled, history.EntityCalled:
			m["EventId"] = e.ID
			m["Operation"] = e.Name
			if e.Entity != nil {
				m["EntityId"] = e.Entity.String()
			}
			if !e.FireAt.IsZero() {
				m["FireAt"] = ts(e.FireAt)
			}
			if showInput {
				m["Input"] = raw(e.Input)
			}
		case history.EntityCompleted, history.EntityFailed:
			m["TaskScheduledId"] = e.TaskID
			if showOutput && e.Result != nil {
				m["Result"] = raw(e.Result)
			}
			addFailure(m, e.Failure)
		case history.EntityLockRequested:
			m["EventId"] = e.ID
			var ids []string
			for _, id := range e.LockSet {
				ids = append(ids, id.String())
			}
			m["LockSet"] = ids
		case history.EntityLockGranted:
			m["TaskScheduledId"] = e.TaskID
		case history.EntityUnlockSent:
			m["EventId"] = e.ID
			if e.Entity != nil {
				m["EntityId"] = e.Entity.String()
			}
		}
		out = append(out, m)
	}
	if len(dropped) == 0 {
		return out
	}
	kept := out[:0]
	for i, m := range out {
		if !dropped[i] {
			kept = append(kept, m)
		}
	}
	return kept
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func raw(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

func addFailure(m map[string]any, f *durable.FailureDetails) {
	if f == nil {
		return
	}
	m["Reason"] = f.ErrorMessage
	m["FailureDetails"] = f
}
