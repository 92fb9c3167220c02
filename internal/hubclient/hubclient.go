// Package hubclient implements the public durable.Client over the engine's Hub, so
// HTTP code depends on the interface while the Hub stays worker-side.
package hubclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/httpapi"
	"github.com/durablego/durablefunctions/internal/mgmt"
	"github.com/durablego/durablefunctions/internal/storage"
)

// Client is a durable.Client backed by a Hub.
type Client struct {
	hub *engine.Hub
	// WaitInterval is how often WaitForCompletion re-reads a status.
	WaitInterval time.Duration
}

var _ durable.Client = (*Client)(nil)

// New returns a client of hub.
func New(hub *engine.Hub) *Client { return &Client{hub: hub, WaitInterval: 50 * time.Millisecond} }

// Hub is the engine behind the client (tests, the management API).
func (c *Client) Hub() *engine.Hub { return c.hub }

// mapErr keeps the engine's sentinels (they are durable's) and turns storage failures
// into durable.ErrStorage without their URLs or raw responses.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	switch {
	case errors.Is(err, engine.ErrPayloadTooLarge) && !errors.Is(err, durable.ErrPayloadTooLarge):
		return fmt.Errorf("%w: %w", durable.ErrPayloadTooLarge, err)
	case errors.As(err, &re), errors.Is(err, storage.ErrConflict):
		return &storageError{err: err}
	}
	return err
}

// storageError is a storage failure: errors.Is(err, durable.ErrStorage), and errors.As
// still reaches the SDK's *azcore.ResponseError for callers that want its status, but
// the message carries no URL or raw response.
type storageError struct{ err error }

func (e *storageError) Error() string {
	var re *azcore.ResponseError
	if errors.As(e.err, &re) {
		return fmt.Sprintf("%v (status %d %s)", durable.ErrStorage, re.StatusCode, re.ErrorCode)
	}
	return durable.ErrStorage.Error()
}

func (e *storageError) Unwrap() []error { return []error{durable.ErrStorage, e.err} }

func marshal(v any) (json.RawMessage, error) {
	b, err := durable.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value is not JSON-serialisable: %w", err)
	}
	return b, nil
}

// StartNew implements durable.Client.
func (c *Client) StartNew(ctx context.Context, orchestrator string, input any, opts *durable.StartOptions) (string, error) {
	in, err := marshal(input)
	if err != nil {
		return "", err
	}
	var o durable.StartOptions
	if opts != nil {
		o = *opts
	}
	id, _, err := c.hub.StartOrchestrationWith(ctx, orchestrator, o.InstanceID, in, &engine.StartOptions{IdempotencyKey: o.IdempotencyKey, Version: o.Version})
	return id, mapErr(err)
}

func convertStatus(s *engine.InstanceStatus) *durable.InstanceStatus {
	return &durable.InstanceStatus{Name: s.Name, InstanceID: s.InstanceID, RuntimeStatus: s.RuntimeStatus, Input: s.Input, Output: s.Output,
		CustomStatus: s.CustomStatus, Failure: s.Failure, CreatedTime: s.CreatedTime, LastUpdated: s.LastUpdated, Version: s.Version}
}

// GetStatus implements durable.Client.
func (c *Client) GetStatus(ctx context.Context, instanceID string, opts *durable.StatusOptions) (*durable.InstanceStatus, error) {
	show := opts != nil && opts.ShowHistory
	s, err := c.hub.GetStatus(ctx, instanceID, &engine.StatusOptions{ShowHistory: show})
	if err != nil {
		return nil, mapErr(err)
	}
	out := convertStatus(s)
	if show {
		if out.History, err = mgmt.HistoryJSON(s.History, true, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListInstances implements durable.Client.
func (c *Client) ListInstances(ctx context.Context, q *durable.InstanceQuery) (*durable.InstancePage, error) {
	if q == nil {
		q = &durable.InstanceQuery{}
	}
	p, err := c.hub.QueryInstances(ctx, &engine.InstanceQuery{RuntimeStatus: q.RuntimeStatus, CreatedFrom: q.CreatedFrom, CreatedTo: q.CreatedTo,
		InstanceIDPrefix: q.InstanceIDPrefix, Top: q.PageSize, Continuation: q.Continuation})
	if err != nil {
		return nil, mapErr(err)
	}
	page := &durable.InstancePage{Continuation: p.Continuation, Instances: make([]*durable.InstanceStatus, 0, len(p.Instances))}
	for _, s := range p.Instances {
		page.Instances = append(page.Instances, convertStatus(s))
	}
	return page, nil
}

// WaitForCompletion implements durable.Client.
func (c *Client) WaitForCompletion(ctx context.Context, instanceID string) (*durable.InstanceStatus, error) {
	s, err := c.hub.WaitForCompletion(ctx, instanceID, c.WaitInterval)
	if s == nil {
		return nil, mapErr(err)
	}
	return convertStatus(s), mapErr(err)
}

// RaiseEvent implements durable.Client.
func (c *Client) RaiseEvent(ctx context.Context, instanceID, eventName string, payload any) error {
	b, err := marshal(payload)
	if err != nil {
		return err
	}
	return mapErr(c.hub.RaiseEvent(ctx, instanceID, eventName, b))
}

// Terminate implements durable.Client.
func (c *Client) Terminate(ctx context.Context, instanceID, reason string, opts *durable.TerminateOptions) error {
	if opts != nil && opts.Recursive {
		return mapErr(c.hub.TerminateRecursive(ctx, instanceID, reason))
	}
	return mapErr(c.hub.Terminate(ctx, instanceID, reason))
}

// Rewind implements durable.Client.
func (c *Client) Rewind(ctx context.Context, instanceID, reason string) error {
	return mapErr(c.hub.Rewind(ctx, instanceID, reason))
}

// Suspend implements durable.Client.
func (c *Client) Suspend(ctx context.Context, instanceID, reason string) error {
	return mapErr(c.hub.Suspend(ctx, instanceID, reason))
}

// Resume implements durable.Client.
func (c *Client) Resume(ctx context.Context, instanceID, reason string) error {
	return mapErr(c.hub.Resume(ctx, instanceID, reason))
}

// Restart implements durable.Client.
func (c *Client) Restart(ctx context.Context, instanceID string, opts *durable.RestartOptions) (string, error) {
	id, err := c.hub.Restart(ctx, instanceID, opts != nil && opts.NewInstanceID)
	return id, mapErr(err)
}

// Purge implements durable.Client.
func (c *Client) Purge(ctx context.Context, instanceID string, opts *durable.PurgeOptions) (int, error) {
	if opts != nil && opts.Recursive {
		n, err := c.hub.PurgeRecursive(ctx, instanceID)
		return n, mapErr(err)
	}
	n, err := c.hub.Purge(ctx, instanceID)
	return n, mapErr(err)
}

// PurgeInstances implements durable.Client.
func (c *Client) PurgeInstances(ctx context.Context, f *durable.PurgeFilter) (int, error) {
	if f == nil {
		f = &durable.PurgeFilter{}
	}
	n, err := c.hub.PurgeByFilter(ctx, f.CreatedFrom, f.CreatedTo, f.RuntimeStatus)
	return n, mapErr(err)
}

// SignalEntity implements durable.Client.
func (c *Client) SignalEntity(ctx context.Context, id durable.EntityID, operation string, input any, opts *durable.SignalOptions) error {
	in, err := marshal(input)
	if err != nil {
		return err
	}
	var o engine.SignalOptions
	if opts != nil {
		o = engine.SignalOptions{At: opts.At, IdempotencyKey: opts.IdempotencyKey}
	}
	return mapErr(c.hub.SignalEntity(ctx, id, operation, in, &o))
}

// ReadEntity implements durable.Client.
func (c *Client) ReadEntity(ctx context.Context, id durable.EntityID) (*durable.EntityState, error) {
	s, err := c.hub.ReadEntity(ctx, id)
	if err != nil {
		return nil, mapErr(err)
	}
	return &durable.EntityState{ID: s.ID, Exists: s.Exists, State: s.State, LastModified: s.LastModified, LockedBy: s.LockedBy}, nil
}

// ListEntities implements durable.Client.
func (c *Client) ListEntities(ctx context.Context, q *durable.EntityQuery) (*durable.EntityPage, error) {
	if q == nil {
		q = &durable.EntityQuery{}
	}
	p, err := c.hub.ListEntities(ctx, &engine.EntityQuery{Name: q.Name, LastModifiedFrom: q.LastModifiedFrom, LastModifiedTo: q.LastModifiedTo,
		IncludeState: q.IncludeState, Top: q.PageSize, Continuation: q.Continuation})
	if err != nil {
		return nil, mapErr(err)
	}
	page := &durable.EntityPage{Continuation: p.Continuation, Entities: make([]*durable.EntityState, 0, len(p.Entities))}
	for _, e := range p.Entities {
		page.Entities = append(page.Entities, &durable.EntityState{ID: e.ID, Exists: e.HasState, State: e.State, LastModified: e.LastModified, LockedBy: e.LockedBy})
	}
	return page, nil
}

// CheckStatus implements durable.Client.
func (c *Client) CheckStatus(r *http.Request, instanceID string) durable.CheckStatus {
	return httpapi.NewCheckStatus(r, c.hub, instanceID)
}

// WriteCheckStatus implements durable.Client.
func (c *Client) WriteCheckStatus(w http.ResponseWriter, r *http.Request, instanceID string) {
	httpapi.WriteStarted(w, r, c.hub, instanceID)
}
