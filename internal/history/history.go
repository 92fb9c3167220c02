// Package history defines the events an orchestration's history is made of. The replay
// engine consumes and produces them; the storage layer persists them as JSON. Field
// names are stable: they are the persisted format.
package history

import (
	"encoding/json"
	"time"

	"github.com/durablego/durablefunctions/durable"
)

// EventType names a history event kind.
type EventType string

// Event kinds, following Durable Task Framework's vocabulary.
const (
	ExecutionStarted        EventType = "ExecutionStarted"
	ExecutionCompleted      EventType = "ExecutionCompleted" // Status: Completed, Failed or ContinuedAsNew
	ExecutionTerminated     EventType = "ExecutionTerminated"
	ExecutionSuspended      EventType = "ExecutionSuspended"
	ExecutionResumed        EventType = "ExecutionResumed"
	OrchestratorStarted     EventType = "OrchestratorStarted" // opens an episode; Timestamp is the episode's current time
	TaskScheduled           EventType = "TaskScheduled"
	TaskCompleted           EventType = "TaskCompleted"
	TaskFailed              EventType = "TaskFailed"
	TimerCreated            EventType = "TimerCreated"
	TimerFired              EventType = "TimerFired"
	EventRaised             EventType = "EventRaised"
	EventSent               EventType = "EventSent"
	SubOrchestrationCreated EventType = "SubOrchestrationInstanceCreated"
	SubOrchestrationDone    EventType = "SubOrchestrationInstanceCompleted"
	SubOrchestrationFailed  EventType = "SubOrchestrationInstanceFailed"
	EntitySignaled          EventType = "EntityOperationSignaled"
	EntityCalled            EventType = "EntityOperationCalled"
	EntityCompleted         EventType = "EntityOperationCompleted"
	EntityFailed            EventType = "EntityOperationFailed"
	EntityLockRequested     EventType = "EntityLockRequested"
	EntityLockGranted       EventType = "EntityLockGranted"
	EntityUnlockSent        EventType = "EntityUnlockSent"
	CustomStatusSet         EventType = "CustomStatusSet" // informational; custom status also lives in the checkpoint
	// ExecutionRewound reopens a failed execution (Input: the reason). Replay drops the
	// failures it rewinds (see replay.RewindHistory); the rows stay, for the record.
	ExecutionRewound EventType = "ExecutionRewound"
	// PatchMarker records that the code took the patched path of change Name
	// (OrchestrationContext.IsPatched). It takes a sequence number but sends nothing.
	PatchMarker EventType = "PatchMarker"
)

// Event is one history event. Only the fields of its Type are set.
//
// ID is the sequence number of events that schedule something (TaskScheduled,
// TimerCreated, SubOrchestrationCreated, EntityCalled, EntitySignaled, EventSent,
// EntityLockRequested, EntityUnlockSent): it is assigned in the order the orchestrator
// code issues actions, starting at 0 for each execution, and is what completions refer to
// through TaskID. Other events have ID -1.
type Event struct {
	Type      EventType `json:"type"`
	ID        int       `json:"id"`
	Timestamp time.Time `json:"ts"`

	// TaskID links a completion (TaskCompleted/Failed, TimerFired, SubOrchestration*,
	// EntityCompleted/Failed, EntityLockGranted) to the ID of the event that scheduled it.
	TaskID int `json:"taskId,omitempty"`

	Name        string                  `json:"name,omitempty"` // activity/orchestrator/event/operation name
	Input       json.RawMessage         `json:"input,omitempty"`
	Result      json.RawMessage         `json:"result,omitempty"`
	Failure     *durable.FailureDetails `json:"failure,omitempty"`
	FireAt      time.Time               `json:"fireAt,omitzero"`
	InstanceID  string                  `json:"instanceId,omitempty"`  // target instance (sub-orchestration, EventSent) or own id (ExecutionStarted)
	ExecutionID string                  `json:"executionId,omitempty"` // ExecutionStarted
	Entity      *durable.EntityID       `json:"entity,omitempty"`
	LockSet     []durable.EntityID      `json:"lockSet,omitempty"`
	Status      durable.RuntimeStatus   `json:"status,omitempty"` // ExecutionCompleted
	// Version is the orchestration version, on ExecutionStarted and
	// SubOrchestrationCreated (which the child inherits).
	Version string `json:"version,omitempty"`

	// Parent is set on ExecutionStarted of a sub-orchestration.
	Parent *ParentInfo `json:"parent,omitempty"`
}

// ParentInfo identifies the orchestration waiting for a sub-orchestration's result.
type ParentInfo struct {
	InstanceID  string `json:"instanceId"`
	ExecutionID string `json:"executionId"`
	TaskID      int    `json:"taskId"`
	Name        string `json:"name,omitempty"`
}

// IsCompletion reports whether e completes a task scheduled earlier (it carries TaskID).
func (e *Event) IsCompletion() bool {
	switch e.Type {
	case TaskCompleted, TaskFailed, TimerFired, SubOrchestrationDone, SubOrchestrationFailed,
		EntityCompleted, EntityFailed, EntityLockGranted:
		return true
	}
	return false
}
