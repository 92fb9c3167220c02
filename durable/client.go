package durable

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Errors a Client returns. They are sentinels: test them with errors.Is, whatever
// detail the message adds. The HTTP helpers of package funcapp map them to DF's
// status codes (404, 409, 410, 412, 400, 413).
var (
	ErrInstanceNotFound    = errors.New("instance not found")
	ErrInstanceExists      = errors.New("an instance with this id is already running")
	ErrInstanceFinished    = errors.New("instance has already finished")
	ErrInstanceNotFinished = errors.New("instance has not finished")
	ErrInstanceNotFailed   = errors.New("instance has not failed")
	ErrUnknownOrchestrator = errors.New("unknown orchestrator")
	ErrUnknownEntity       = errors.New("unknown entity")
	ErrInvalidInstanceID   = errors.New("invalid instance id")
	ErrInvalidKey          = errors.New("invalid entity key")
	ErrInvalidQuery        = errors.New("invalid query")
	ErrPayloadTooLarge     = errors.New("payload too large")
	// ErrStorage marks a storage failure: transient from the caller's point of view.
	// Its message never carries storage URLs or raw responses.
	ErrStorage = errors.New("storage unavailable")
)

// Client starts, inspects and steers orchestration instances and entities. HTTP
// functions receive one (see funcapp.App.HTTP); for unit tests of them,
// durabletest.Env.Client returns an in-memory one that runs the work in the test's
// Env. It is what Durable Functions calls the durable client binding.
type Client interface {
	// StartNew schedules a new instance of the orchestrator and returns its id.
	StartNew(ctx context.Context, orchestrator string, input any, opts *StartOptions) (string, error)
	// GetStatus reads an instance's last committed status.
	GetStatus(ctx context.Context, instanceID string, opts *StatusOptions) (*InstanceStatus, error)
	// ListInstances returns one page of instances matching q.
	ListInstances(ctx context.Context, q *InstanceQuery) (*InstancePage, error)
	// WaitForCompletion returns once the instance is Completed, Failed or Terminated,
	// or with ctx's error (and the last status read) when ctx ends first.
	WaitForCompletion(ctx context.Context, instanceID string) (*InstanceStatus, error)
	// RaiseEvent delivers an external event to a running instance.
	RaiseEvent(ctx context.Context, instanceID, eventName string, payload any) error
	// Terminate ends a running instance; reason becomes its output. With
	// opts.Recursive its running sub-orchestrations are terminated too.
	Terminate(ctx context.Context, instanceID, reason string, opts *TerminateOptions) error
	// Suspend pauses a running instance until Resume.
	Suspend(ctx context.Context, instanceID, reason string) error
	// Resume continues a suspended instance.
	Resume(ctx context.Context, instanceID, reason string) error
	// Restart starts the instance's orchestrator again with its original input and
	// returns the id of the new run.
	Restart(ctx context.Context, instanceID string, opts *RestartOptions) (string, error)
	// Purge deletes a finished instance and everything stored for it; it returns the
	// number of instances deleted (0 or 1, more with opts.Recursive, which deletes the
	// sub-orchestrations it ran too).
	Purge(ctx context.Context, instanceID string, opts *PurgeOptions) (int, error)
	// Rewind reopens a Failed instance: its failed activities and sub-orchestrations
	// (rewound in turn) run again from the point of failure and the instance carries
	// on, as DF's RewindAsync. ErrInstanceNotFailed unless the instance is Failed.
	Rewind(ctx context.Context, instanceID, reason string) error
	// PurgeInstances deletes the finished instances that match f.
	PurgeInstances(ctx context.Context, f *PurgeFilter) (int, error)
	// SignalEntity sends a one-way operation to an entity.
	SignalEntity(ctx context.Context, id EntityID, operation string, input any, opts *SignalOptions) error
	// ReadEntity returns an entity's last committed state.
	ReadEntity(ctx context.Context, id EntityID) (*EntityState, error)
	// ListEntities returns one page of entities matching q.
	ListEntities(ctx context.Context, q *EntityQuery) (*EntityPage, error)
	// CheckStatus builds the management URLs of an instance for the caller of r, as
	// DF's CreateHttpManagementPayload does.
	CheckStatus(r *http.Request, instanceID string) CheckStatus
	// WriteCheckStatus answers r with 202, Location and the check-status body, as DF's
	// CreateCheckStatusResponse does.
	WriteCheckStatus(w http.ResponseWriter, r *http.Request, instanceID string)
}

// StartOptions tune Client.StartNew.
type StartOptions struct {
	// InstanceID names the instance; a new id is generated when empty.
	InstanceID string
	// IdempotencyKey makes retries safe: starts with the same key (for the same
	// orchestrator) name the same instance, and a repeat returns it instead of failing.
	IdempotencyKey string
	// Version is the orchestration version (OrchestrationContext.Version); host.json
	// extensions.durableTask.defaultVersion when empty.
	Version string
}

// TerminateOptions tune Client.Terminate.
type TerminateOptions struct {
	// Recursive also terminates the sub-orchestrations the instance is waiting for,
	// and theirs.
	Recursive bool
}

// PurgeOptions tune Client.Purge.
type PurgeOptions struct {
	// Recursive also purges every sub-orchestration the instance started, and theirs.
	// All of them must have finished.
	Recursive bool
}

// StatusOptions select the optional parts of a status.
type StatusOptions struct {
	// ShowHistory adds the execution history, in the JSON shape of DF's management API
	// (the input durabletest.Replay takes).
	ShowHistory bool
}

// InstanceStatus is an orchestration instance as last committed.
type InstanceStatus struct {
	Name          string          `json:"name"`
	InstanceID    string          `json:"instanceId"`
	RuntimeStatus RuntimeStatus   `json:"runtimeStatus"`
	Input         json.RawMessage `json:"input,omitempty"`
	Output        json.RawMessage `json:"output,omitempty"`
	CustomStatus  json.RawMessage `json:"customStatus,omitempty"`
	Failure       *FailureDetails `json:"failureDetails,omitempty"`
	CreatedTime   time.Time       `json:"createdTime"`
	LastUpdated   time.Time       `json:"lastUpdatedTime"`
	// Version is the orchestration version the instance runs.
	Version string `json:"version,omitempty"`
	// History is set with StatusOptions.ShowHistory: a JSON array of DF history events.
	History json.RawMessage `json:"historyEvents,omitempty"`
}

// GetOutput decodes the instance's output into v.
func (s *InstanceStatus) GetOutput(v any) error { return Unmarshal(s.Output, v) }

// InstanceQuery selects instances. Zero fields do not filter.
type InstanceQuery struct {
	RuntimeStatus    []RuntimeStatus
	CreatedFrom      time.Time // inclusive
	CreatedTo        time.Time // inclusive
	InstanceIDPrefix string
	// PageSize bounds the page (100 when 0, at most 1000). A page may hold fewer and
	// still have a continuation.
	PageSize int
	// Continuation resumes after the page that returned it.
	Continuation string
}

// InstancePage is one page of ListInstances.
type InstancePage struct {
	Instances []*InstanceStatus
	// Continuation is "" on the last page.
	Continuation string
}

// RestartOptions tune Client.Restart.
type RestartOptions struct {
	// NewInstanceID runs the restart under a fresh id instead of the same one.
	NewInstanceID bool
}

// PurgeFilter selects finished instances to purge. Zero fields do not filter.
type PurgeFilter struct {
	CreatedFrom   time.Time
	CreatedTo     time.Time
	RuntimeStatus []RuntimeStatus
}

// SignalOptions tune Client.SignalEntity.
type SignalOptions struct {
	// At delays the operation until then (a scheduled signal).
	At time.Time
	// IdempotencyKey makes retries safe: a second signal with the same key to the same
	// entity is dropped.
	IdempotencyKey string
}

// EntityState is an entity's last committed state.
type EntityState struct {
	ID EntityID `json:"id"`
	// Exists is false for an entity that has no state (never used, or deleted).
	Exists       bool            `json:"exists"`
	State        json.RawMessage `json:"state,omitempty"`
	LastModified time.Time       `json:"lastModified"`
	// LockedBy names the orchestration holding the entity's lock, if any.
	LockedBy string `json:"lockedBy,omitempty"`
}

// GetState decodes the state into v; it leaves v untouched when there is none.
func (s *EntityState) GetState(v any) error { return Unmarshal(s.State, v) }

// EntityQuery selects entities. Zero fields do not filter.
type EntityQuery struct {
	// Name keeps entities of this entity name (case-insensitive).
	Name             string
	LastModifiedFrom time.Time
	LastModifiedTo   time.Time
	// IncludeState returns each entity's state.
	IncludeState bool
	PageSize     int
	Continuation string
}

// EntityPage is one page of ListEntities.
type EntityPage struct {
	Entities     []*EntityState
	Continuation string
}

// CheckStatus is Durable Functions' check-status response body: the URLs that query
// and steer one instance through the management API. They carry that instance's
// link token, which lets whoever holds them use them without a key (see README).
type CheckStatus struct {
	ID                    string `json:"id"`
	StatusQueryGetURI     string `json:"statusQueryGetUri"`
	SendEventPostURI      string `json:"sendEventPostUri"`
	TerminatePostURI      string `json:"terminatePostUri"`
	RewindPostURI         string `json:"rewindPostUri"`
	PurgeHistoryDeleteURI string `json:"purgeHistoryDeleteUri"`
	RestartPostURI        string `json:"restartPostUri"`
	SuspendPostURI        string `json:"suspendPostUri"`
	ResumePostURI         string `json:"resumePostUri"`
}
