package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/google/uuid"
)

// Client-side errors, mapped to HTTP statuses by the HTTP layer.
var (
	ErrInstanceNotFound    = durable.ErrInstanceNotFound
	ErrInstanceExists      = durable.ErrInstanceExists
	ErrInstanceFinished    = durable.ErrInstanceFinished
	ErrUnknownOrchestrator = durable.ErrUnknownOrchestrator
	ErrInvalidInstanceID   = durable.ErrInvalidInstanceID
)

// rowKeyOverhead is the most a row key adds around an escaped instance or entity id:
// the inbox row of a message an orchestration sent is "i" + id + "|" + execution id
// (a 36-character UUID) + "|" + sequence (16 hex digits); entity rows add less.
const rowKeyOverhead = len(inboxPfx) + 1 + 36 + 1 + 16

// MaxIDLength is the longest instance id, or entity id ("@name@key"), accepted: in
// bytes once escaped (storage.EscapeKey), so that every row key holding it fits in
// Azure's 1 KiB key limit.
const MaxIDLength = storage.MaxKeyLength - rowKeyOverhead

// ValidateInstanceID rejects ids that cannot be stored or that collide with entity ids.
func ValidateInstanceID(id string) error {
	if strings.HasPrefix(id, "@") {
		return fmt.Errorf("%w: %q must not start with '@' (reserved for entities)", ErrInvalidInstanceID, id)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: control characters are not allowed", ErrInvalidInstanceID)
		}
	}
	if err := storage.ValidateKeyMax("instance id", id, MaxIDLength); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInstanceID, err)
	}
	return nil
}

// StartOptions tunes StartOrchestrationWith.
type StartOptions struct {
	// IdempotencyKey: the instance id is derived from it (unless one is given), and a
	// start whose instance already exists returns that instance instead of an error.
	IdempotencyKey string
	// Version is the orchestration version; Config.Versioning.DefaultVersion when empty.
	Version string
}

// StartOrchestrationWith is StartOrchestration with options. It reports whether a new
// instance was created (false: an earlier start with the same idempotency key won).
func (h *Hub) StartOrchestrationWith(ctx context.Context, name, instanceID string, input json.RawMessage, opts *StartOptions) (string, bool, error) {
	if opts == nil {
		opts = &StartOptions{}
	}
	if opts.IdempotencyKey == "" {
		id, err := h.startOrchestration(ctx, name, instanceID, input, opts.Version)
		return id, err == nil, err
	}
	if instanceID == "" {
		secret, err := h.idSecret(ctx)
		if err != nil {
			return "", false, err
		}
		instanceID = IdempotentInstanceID(secret, name, opts.IdempotencyKey)
	}
	if s, err := h.GetStatus(ctx, instanceID, nil); err == nil && s.Name != "" {
		return instanceID, false, nil
	}
	id, err := h.startOrchestration(ctx, name, instanceID, input, opts.Version)
	if errors.Is(err, ErrInstanceExists) {
		return instanceID, false, nil
	}
	return id, err == nil, err
}

// StartOrchestration creates an instance and queues its start: one batch (checkpoint
// + inbox row) and one wake-up. An empty instanceID gets a fresh one (NewInstanceID).
func (h *Hub) StartOrchestration(ctx context.Context, name, instanceID string, input json.RawMessage) (string, error) {
	return h.startOrchestration(ctx, name, instanceID, input, "")
}

func (h *Hub) startOrchestration(ctx context.Context, name, instanceID string, input json.RawMessage, version string) (string, error) {
	if version == "" {
		version = h.cfg.Versioning.DefaultVersion
	}
	if _, ok := h.cfg.Registry.Orchestrator(name); !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownOrchestrator, name)
	}
	if instanceID == "" {
		instanceID = NewInstanceID()
	}
	if err := ValidateInstanceID(instanceID); err != nil {
		return "", err
	}
	if len(input) > 0 && !json.Valid(input) {
		return "", fmt.Errorf("input is not valid JSON")
	}
	pk := storage.EscapeKey(instanceID)
	input, err := h.externalize(ctx, pk, input)
	if err != nil {
		return "", err
	}
	now := h.now()
	exec := uuid.NewString()
	env := &Envelope{ID: clientSender + "|start|" + exec, Events: []history.Event{{Type: history.ExecutionStarted, ID: -1, Timestamp: now, Name: name, Input: input, InstanceID: instanceID, ExecutionID: exec, Version: version}}}
	inRow, err := envelopeRow(pk, env)
	if err != nil {
		return "", err
	}
	if h.startDirect(ctx, instanceID, env) {
		return instanceID, nil
	}
	// Optimistically create: the common case (a new id) costs one batch; only when the
	// id exists do we read it to decide between a restart and a conflict.
	var prev, created *storage.Row
	for attempt := 0; ; attempt++ {
		st, err := decodeOrch(instanceID, prev)
		if err != nil {
			return "", err
		}
		if st.exists && !st.Status.IsTerminal() {
			if st.Status == durable.StatusPending {
				// Perhaps our own earlier attempt, whose wake-up failed: make sure the
				// start is processed (a spare wake-up costs one read).
				if err := h.wake(ctx, instanceID, time.Time{}); err != nil {
					return "", err
				}
			}
			return "", fmt.Errorf("%w: %s is %s", ErrInstanceExists, instanceID, st.Status)
		}
		cp := &orchState{Name: name, InstanceID: instanceID, ExecutionID: exec, Status: durable.StatusPending, Created: now, Updated: now, Input: input, Seqs: st.Seqs, Version: version}
		cpRow, err := cp.row(pk)
		if err != nil {
			return "", err
		}
		ops := []storage.Op{{Kind: storage.OpInsert, Row: cpRow}, {Kind: storage.OpInsert, Row: inRow}}
		if st.exists {
			ops[0] = storage.Op{Kind: storage.OpReplace, Row: cpRow, ETag: st.etag}
		}
		etags, err := storage.BatchETags(ctx, h.instances, pk, ops)
		if err == nil {
			if !st.exists && len(etags) > 0 && etags[0] != "" {
				created = &storage.Row{PartitionKey: pk, RowKey: checkpointRK, ETag: etags[0], Props: cpRow.Props}
			}
			break
		}
		if !errors.Is(err, storage.ErrConflict) || attempt >= 2 {
			if errors.Is(err, storage.ErrConflict) {
				return "", fmt.Errorf("%w: %s was started concurrently", ErrInstanceExists, instanceID)
			}
			return "", err
		}
		prev, err = h.instances.Get(ctx, pk, checkpointRK)
		if errors.Is(err, storage.ErrNotFound) {
			prev = nil
		} else if err != nil {
			return "", err
		}
	}
	if created != nil && h.localHandoff() {
		// A new instance's partition is what this batch wrote: its first episode,
		// handed off below, need not read it (see session.go).
		h.sessions.keep(instanceID, &partition{pk: pk, checkpoint: created})
	}
	return instanceID, h.wakeOrHandOff(ctx, instanceID, env)
}

// InstanceStatus is what status queries return.
type InstanceStatus struct {
	Name          string                  `json:"name"`
	InstanceID    string                  `json:"instanceId"`
	RuntimeStatus durable.RuntimeStatus   `json:"runtimeStatus"`
	Input         json.RawMessage         `json:"input"`
	CustomStatus  json.RawMessage         `json:"customStatus"`
	Output        json.RawMessage         `json:"output"`
	Failure       *durable.FailureDetails `json:"failure,omitempty"`
	CreatedTime   time.Time               `json:"createdTime"`
	LastUpdated   time.Time               `json:"lastUpdatedTime"`
	History       []history.Event         `json:"historyEvents,omitempty"`
	Version       string                  `json:"version,omitempty"`
	ExecutionID   string                  `json:"-"`
}

// StatusOptions selects optional parts of a status.
type StatusOptions struct {
	ShowHistory bool
}

// GetStatus reads an instance's committed status: one request (two with history).
func (h *Hub) GetStatus(ctx context.Context, instanceID string, opts *StatusOptions) (*InstanceStatus, error) {
	if err := ValidateInstanceID(instanceID); err != nil {
		return nil, err
	}
	pk := storage.EscapeKey(instanceID)
	row, err := h.instances.Get(ctx, pk, checkpointRK)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrInstanceNotFound, instanceID)
	}
	if err != nil {
		return nil, err
	}
	if row.String("Kind") != "orchestration" {
		return nil, fmt.Errorf("%w: %s", ErrInstanceNotFound, instanceID)
	}
	st, err := decodeOrch(instanceID, row)
	if err != nil {
		return nil, err
	}
	s := &InstanceStatus{Name: st.Name, InstanceID: instanceID, RuntimeStatus: st.Status, Input: st.Input, CustomStatus: st.CustomStatus,
		Output: st.Output, Failure: st.Failure, CreatedTime: st.Created, LastUpdated: st.Updated, ExecutionID: st.ExecutionID, Version: st.Version}
	for _, f := range []*json.RawMessage{&s.Input, &s.Output, &s.CustomStatus} {
		if *f, err = h.internalize(ctx, *f); err != nil {
			return nil, err
		}
	}
	if s.RuntimeStatus == durable.StatusFailed && s.Output == nil && st.Failure != nil {
		s.Output, _ = json.Marshal(st.Failure.ErrorMessage)
	}
	if opts != nil && opts.ShowHistory {
		prefix := historyPfx + st.ExecutionID + "|"
		rows, _, err := h.instances.Query(ctx, &storage.QueryOptions{Filter: fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s",
			storage.Quote(pk), storage.Quote(prefix), storage.Quote(prefix+"~"))})
		if err != nil {
			return nil, err
		}
		p := &partition{pk: pk, history: rows}
		s.History, _, err = historyEvents(p, st.ExecutionID)
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// sendToInstance queues events for a running instance after checking it exists.
func (h *Hub) sendToInstance(ctx context.Context, instanceID string, ev history.Event) error {
	s, err := h.GetStatus(ctx, instanceID, nil)
	if err != nil {
		return err
	}
	if s.RuntimeStatus.IsTerminal() {
		return fmt.Errorf("%w: %s is %s", ErrInstanceFinished, instanceID, s.RuntimeStatus)
	}
	u, err := uuid.NewV7()
	if err != nil {
		return err
	}
	ev.ID = -1
	ev.Timestamp = h.now()
	var err2 error
	if ev.Input, err2 = h.externalize(ctx, storage.EscapeKey(instanceID), ev.Input); err2 != nil {
		return err2
	}
	return h.sendEnvelopes(ctx, instanceID, []*Envelope{{ID: clientSender + "|" + u.String(), Events: []history.Event{ev}}})
}

// RaiseEvent delivers an external event to a running instance.
func (h *Hub) RaiseEvent(ctx context.Context, instanceID, name string, payload json.RawMessage) error {
	if len(payload) > 0 && !json.Valid(payload) {
		return fmt.Errorf("event payload is not valid JSON")
	}
	return h.sendToInstance(ctx, instanceID, history.Event{Type: history.EventRaised, Name: name, Input: payload})
}

// Terminate ends a running instance with reason as its output.
func (h *Hub) Terminate(ctx context.Context, instanceID, reason string) error {
	r, _ := json.Marshal(reason)
	return h.sendToInstance(ctx, instanceID, history.Event{Type: history.ExecutionTerminated, Input: r})
}

// Suspend pauses a running instance: its messages wait until Resume.
func (h *Hub) Suspend(ctx context.Context, instanceID, reason string) error {
	r, _ := json.Marshal(reason)
	return h.sendToInstance(ctx, instanceID, history.Event{Type: history.ExecutionSuspended, Input: r})
}

// Resume continues a suspended instance.
func (h *Hub) Resume(ctx context.Context, instanceID, reason string) error {
	r, _ := json.Marshal(reason)
	return h.sendToInstance(ctx, instanceID, history.Event{Type: history.ExecutionResumed, Input: r})
}

// WaitForCompletion waits until an instance reaches a terminal state or ctx ends
// (tests, CLI): notified at once when this process commits the completion, else
// reading the status at intervals growing from every to one second (WaitForStatus).
func (h *Hub) WaitForCompletion(ctx context.Context, instanceID string, every time.Duration) (*InstanceStatus, error) {
	return h.WaitForStatus(ctx, instanceID, &WaitOptions{Interval: every})
}
