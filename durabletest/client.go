package durabletest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/httpapi"
)

// Client returns a durable.Client backed by the Env, for unit tests of HTTP code: the
// func(durable.Client) http.Handler factories an app passes to funcapp.App.HTTP run
// against it under net/http/httptest, with no storage.
//
// When work runs: a call that sends something (StartNew, RaiseEvent, Terminate,
// Suspend, Resume, Restart, SignalEntity) runs the world until it is idle before it
// returns, without moving the clock, as Env.Start does: activities, entity operations
// and sub-orchestrations have run, and what is left waits for a timer or an event.
// Reads (GetStatus, ListInstances, ReadEntity, ListEntities) run nothing.
// WaitForCompletion drives the instance to its end as Run does, jumping the virtual
// clock to each pending timer.
//
// The Client is safe for concurrent use (an httptest.Server calls it from its own
// goroutines): its calls are serialised. Do not call the Env's own methods while a
// Client call may be in progress.
//
// It follows the engine's rules where HTTP code can tell: instances started without
// an id are named "instance-1", "instance-2", ... (shared with Start and Run); an
// IdempotencyKey names the same instance on every start of the same orchestrator,
// and a repeat returns it, whatever its status; a signal's IdempotencyKey is
// remembered for the Env's lifetime (the engine: at least an hour). Errors wrap
// durable's sentinels (errors.Is) with the engine's messages. Rewind is not
// simulated: it checks its arguments as the engine does, then fails with an error
// that wraps errors.ErrUnsupported.
func (e *Env) Client() durable.Client { return &client{e: e} }

type client struct{ e *Env }

var _ durable.Client = (*client)(nil)

// begin checks ctx and takes the Env; the caller must call e.mu.Unlock.
func (c *client) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.e.mu.Lock()
	if c.e.err != nil {
		err := c.e.err
		c.e.mu.Unlock()
		return err
	}
	return nil
}

// settled runs the world to idle after a change and wakes WaitForCompletion callers.
func (c *client) settled() error {
	c.e.steps = 0
	err := c.e.settle()
	c.e.notify()
	return err
}

func (e *Env) notify() {
	if e.changed != nil {
		close(e.changed)
		e.changed = nil
	}
}

func (e *Env) waitChan() chan struct{} {
	if e.changed == nil {
		e.changed = make(chan struct{})
	}
	return e.changed
}

// nextID names an instance started without an id: the next "instance-N" not in use.
func (e *Env) nextID() string {
	for {
		e.started++
		id := fmt.Sprintf("instance-%d", e.started)
		if e.insts[id] == nil {
			return id
		}
	}
}

func marshal(what string, v any) (json.RawMessage, error) {
	b, err := durable.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s is not JSON-serialisable: %w", what, err)
	}
	return b, nil
}

// StartNew implements durable.Client.
func (c *client) StartNew(ctx context.Context, orchestrator string, input any, opts *durable.StartOptions) (string, error) {
	in, err := marshal("orchestration input", input)
	if err != nil {
		return "", err
	}
	if err := c.begin(ctx); err != nil {
		return "", err
	}
	defer c.e.mu.Unlock()
	e := c.e
	var o durable.StartOptions
	if opts != nil {
		o = *opts
	}
	if e.orchestrator(orchestrator) == nil {
		return "", fmt.Errorf("%w %q", durable.ErrUnknownOrchestrator, orchestrator)
	}
	id := o.InstanceID
	if id != "" {
		if err := engine.ValidateInstanceID(id); err != nil {
			return "", err
		}
	}
	if o.IdempotencyKey != "" {
		if id == "" {
			k := strings.ToLower(orchestrator) + "\x00" + o.IdempotencyKey
			if id = e.idem[k]; id == "" {
				id = e.nextID()
				e.idem[k] = id
			}
		}
		if e.insts[id] != nil {
			return id, nil // a retry: the first start's instance, whatever became of it
		}
	}
	if id == "" {
		id = e.nextID()
	}
	if !e.startVersion(id, orchestrator, o.Version, in, nil) {
		return "", fmt.Errorf("%w: %s is %s", durable.ErrInstanceExists, id, e.insts[id].status)
	}
	return id, c.settled()
}

// lookup finds a running or finished instance.
func (e *Env) lookup(instanceID string) (*instance, error) {
	if err := engine.ValidateInstanceID(instanceID); err != nil {
		return nil, err
	}
	in := e.insts[instanceID]
	if in == nil {
		return nil, fmt.Errorf("%w: %s", durable.ErrInstanceNotFound, instanceID)
	}
	return in, nil
}

// lookupRunning finds an instance that can still take messages.
func (e *Env) lookupRunning(instanceID string) (*instance, error) {
	in, err := e.lookup(instanceID)
	if err != nil {
		return nil, err
	}
	if in.status.IsTerminal() {
		return nil, fmt.Errorf("%w: %s is %s", durable.ErrInstanceFinished, instanceID, in.status)
	}
	return in, nil
}

// statusOf presents an instance as the engine's GetStatus does.
func (e *Env) statusOf(in *instance, showHistory bool) *durable.InstanceStatus {
	s := &durable.InstanceStatus{Name: in.name, InstanceID: in.id, RuntimeStatus: in.status, Input: in.input, Output: in.output,
		CustomStatus: in.custom, Failure: in.failure, CreatedTime: in.created, LastUpdated: in.updated, Version: in.version}
	if s.RuntimeStatus == durable.StatusContinuedAsNew { // between executions: the next one is queued
		s.RuntimeStatus = durable.StatusRunning
	}
	if s.RuntimeStatus == durable.StatusFailed && s.Output == nil && s.Failure != nil {
		s.Output, _ = json.Marshal(s.Failure.ErrorMessage)
	}
	if showHistory {
		s.History = (&History{events: in.hist}).JSON()
	}
	return s
}

// GetStatus implements durable.Client.
func (c *client) GetStatus(ctx context.Context, instanceID string, opts *durable.StatusOptions) (*durable.InstanceStatus, error) {
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	defer c.e.mu.Unlock()
	in, err := c.e.lookup(instanceID)
	if err != nil {
		return nil, err
	}
	return c.e.statusOf(in, opts != nil && opts.ShowHistory), nil
}

// page cuts one page out of keys (sorted) after the continuation token, which is the
// last key of the previous page.
func page(keys []string, size int, token string) (from, to int, next string, err error) {
	if size <= 0 {
		size = engine.DefaultPageSize
	}
	size = min(size, engine.MaxPageSize)
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return 0, 0, "", fmt.Errorf("%w: bad continuation token", durable.ErrInvalidQuery)
		}
		from, _ = slices.BinarySearch(keys, string(b))
		if from < len(keys) && keys[from] == string(b) {
			from++
		}
	}
	to = min(from+size, len(keys))
	if to < len(keys) {
		next = base64.RawURLEncoding.EncodeToString([]byte(keys[to-1]))
	}
	return from, to, next, nil
}

func within(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || !t.After(to))
}

func knownStatus(s durable.RuntimeStatus) bool {
	switch s {
	case durable.StatusPending, durable.StatusRunning, durable.StatusCompleted, durable.StatusContinuedAsNew,
		durable.StatusFailed, durable.StatusTerminated, durable.StatusSuspended:
		return true
	}
	return false
}

// ListInstances implements durable.Client. Instances come in id order, as the table
// service returns them.
func (c *client) ListInstances(ctx context.Context, q *durable.InstanceQuery) (*durable.InstancePage, error) {
	if q == nil {
		q = &durable.InstanceQuery{}
	}
	for _, s := range q.RuntimeStatus {
		if !knownStatus(s) {
			return nil, fmt.Errorf("%w: unknown runtime status %q", durable.ErrInvalidQuery, s)
		}
	}
	if !utf8.ValidString(q.InstanceIDPrefix) {
		return nil, fmt.Errorf("%w: instanceIdPrefix is not valid UTF-8", durable.ErrInvalidQuery)
	}
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	defer c.e.mu.Unlock()
	var ids []string
	for _, id := range c.e.sortedIDs() {
		s := c.e.statusOf(c.e.insts[id], false)
		if (len(q.RuntimeStatus) == 0 || slices.Contains(q.RuntimeStatus, s.RuntimeStatus)) &&
			within(s.CreatedTime, q.CreatedFrom, q.CreatedTo) && strings.HasPrefix(id, q.InstanceIDPrefix) {
			ids = append(ids, id)
		}
	}
	from, to, next, err := page(ids, q.PageSize, q.Continuation)
	if err != nil {
		return nil, err
	}
	p := &durable.InstancePage{Continuation: next, Instances: make([]*durable.InstanceStatus, 0, to-from)}
	for _, id := range ids[from:to] {
		p.Instances = append(p.Instances, c.e.statusOf(c.e.insts[id], false))
	}
	return p, nil
}

func (e *Env) sortedIDs() []string {
	ids := make([]string, 0, len(e.insts))
	for id := range e.insts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// runUntil runs the world, jumping the clock from timer to timer, until the instance
// has finished or nothing but an outside message can move the world on.
func (e *Env) runUntil(id string) error {
	e.steps = 0
	for {
		if err := e.settle(); err != nil {
			return err
		}
		if in := e.insts[id]; in == nil || in.status.IsTerminal() {
			return nil
		}
		i := e.nextTimer()
		if i < 0 {
			return nil
		}
		if at := e.timers[i].at; at.After(e.now) {
			e.now = at
		}
	}
}

// WaitForCompletion implements durable.Client: it runs the world as Run does (the
// virtual clock jumps to each pending timer) until the instance has finished. An
// instance that then still waits (for an external event, a Resume) waits for another
// goroutine's Client call, or until ctx ends; with a ctx that cannot end
// (context.Background()) it returns the status at once, with an error saying so,
// rather than hang the test. An unknown instance is durable.ErrInstanceNotFound at
// once: a start has always run by the time StartNew returns.
func (c *client) WaitForCompletion(ctx context.Context, instanceID string) (*durable.InstanceStatus, error) {
	var last *durable.InstanceStatus
	for {
		if err := c.begin(ctx); err != nil {
			return last, err
		}
		e := c.e
		in, err := e.lookup(instanceID)
		if err != nil {
			e.mu.Unlock()
			return last, err
		}
		err = e.runUntil(instanceID)
		e.notify()
		if in = e.insts[instanceID]; in == nil {
			e.mu.Unlock()
			return last, fmt.Errorf("%w: %s", durable.ErrInstanceNotFound, instanceID)
		}
		last = e.statusOf(in, false)
		if err != nil || last.RuntimeStatus.IsTerminal() {
			e.mu.Unlock()
			return last, err
		}
		if ctx.Done() == nil {
			e.mu.Unlock()
			return last, fmt.Errorf("durabletest: instance %s is %s and waits for something no timer brings (an external event? a resume?); "+
				"with a context that cannot end WaitForCompletion would wait forever", instanceID, last.RuntimeStatus)
		}
		ch := e.waitChan()
		e.mu.Unlock()
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-ch:
		}
	}
}

// send delivers a client event to a running instance and runs the world to idle.
func (c *client) send(ctx context.Context, instanceID string, ev history.Event) error {
	if err := c.begin(ctx); err != nil {
		return err
	}
	defer c.e.mu.Unlock()
	if _, err := c.e.lookupRunning(instanceID); err != nil {
		return err
	}
	ev.ID, ev.Timestamp = -1, c.e.now
	c.e.deliver(instanceID, message{ev: ev})
	return c.settled()
}

func reasonJSON(reason string) json.RawMessage {
	b, _ := json.Marshal(reason) // a string always encodes
	return b
}

// RaiseEvent implements durable.Client.
func (c *client) RaiseEvent(ctx context.Context, instanceID, eventName string, payload any) error {
	b, err := marshal("event payload", payload)
	if err != nil {
		return err
	}
	return c.send(ctx, instanceID, history.Event{Type: history.EventRaised, Name: eventName, Input: b})
}

// Terminate implements durable.Client.
func (c *client) Terminate(ctx context.Context, instanceID, reason string, opts *durable.TerminateOptions) error {
	if opts == nil || !opts.Recursive {
		return c.send(ctx, instanceID, history.Event{Type: history.ExecutionTerminated, Input: reasonJSON(reason)})
	}
	if err := c.begin(ctx); err != nil {
		return err
	}
	defer c.e.mu.Unlock()
	return c.terminateTree(instanceID, reason)
}

// terminateTree terminates the instance, then the sub-orchestrations it still waits
// for, depth first, as the engine's recursive terminate does: the parent goes first so
// that it starts no new children.
func (c *client) terminateTree(instanceID, reason string) error {
	in, err := c.e.lookupRunning(instanceID)
	if err != nil {
		return err
	}
	kids := children(in)
	c.e.deliver(instanceID, message{ev: history.Event{Type: history.ExecutionTerminated, ID: -1, Timestamp: c.e.now, Input: reasonJSON(reason)}})
	if err := c.settled(); err != nil {
		return err
	}
	for _, k := range kids {
		if k.answered {
			continue
		}
		err := c.terminateTree(k.id, reason)
		if err != nil && !errors.Is(err, durable.ErrInstanceFinished) && !errors.Is(err, durable.ErrInstanceNotFound) {
			return fmt.Errorf("terminate sub-orchestration %s of %s: %w", k.id, instanceID, err)
		}
	}
	return nil
}

type child struct {
	id       string
	answered bool
}

// children lists the sub-orchestrations the instance's current execution started, in
// start order, with whether each has answered.
func children(in *instance) []child {
	answered := map[int]bool{}
	for _, ev := range in.hist {
		if ev.Type == history.SubOrchestrationDone || ev.Type == history.SubOrchestrationFailed {
			answered[ev.TaskID] = true
		}
	}
	var out []child
	for _, ev := range in.hist {
		if ev.Type == history.SubOrchestrationCreated {
			out = append(out, child{id: ev.InstanceID, answered: answered[ev.ID]})
		}
	}
	return out
}

// Suspend implements durable.Client: the instance's messages are held until Resume
// (or Terminate), and its status is Suspended.
func (c *client) Suspend(ctx context.Context, instanceID, reason string) error {
	return c.send(ctx, instanceID, history.Event{Type: history.ExecutionSuspended, Input: reasonJSON(reason)})
}

// Resume implements durable.Client.
func (c *client) Resume(ctx context.Context, instanceID, reason string) error {
	return c.send(ctx, instanceID, history.Event{Type: history.ExecutionResumed, Input: reasonJSON(reason)})
}

// Restart implements durable.Client.
func (c *client) Restart(ctx context.Context, instanceID string, opts *durable.RestartOptions) (string, error) {
	if err := c.begin(ctx); err != nil {
		return "", err
	}
	defer c.e.mu.Unlock()
	e := c.e
	in, err := e.lookup(instanceID)
	if err != nil {
		return "", err
	}
	if e.orchestrator(in.name) == nil {
		return "", fmt.Errorf("%w %q", durable.ErrUnknownOrchestrator, in.name)
	}
	id := instanceID
	if opts != nil && opts.NewInstanceID {
		id = e.nextID()
	}
	if !e.startVersion(id, in.name, "", in.input, nil) {
		return "", fmt.Errorf("%w: %s is %s", durable.ErrInstanceExists, id, e.insts[id].status)
	}
	return id, c.settled()
}

// ErrRewindUnsupported is what the Env's Client answers to Rewind of a Failed
// instance: the Env does not simulate rewinds. It wraps errors.ErrUnsupported.
var ErrRewindUnsupported = fmt.Errorf("durabletest: Rewind is not simulated by the in-memory client: %w", errors.ErrUnsupported)

// Rewind implements durable.Client as far as its checks go: an unknown instance is
// durable.ErrInstanceNotFound, one that has not failed durable.ErrInstanceNotFailed;
// a Failed one gets ErrRewindUnsupported, and stays Failed.
func (c *client) Rewind(ctx context.Context, instanceID, reason string) error {
	if err := c.begin(ctx); err != nil {
		return err
	}
	defer c.e.mu.Unlock()
	in, err := c.e.lookup(instanceID)
	if err != nil {
		return err
	}
	if in.status != durable.StatusFailed {
		return fmt.Errorf("%w: %s is %s; only Failed instances can be rewound", durable.ErrInstanceNotFailed, instanceID, in.status)
	}
	return ErrRewindUnsupported
}

// Purge implements durable.Client.
func (c *client) Purge(ctx context.Context, instanceID string, opts *durable.PurgeOptions) (int, error) {
	if err := c.begin(ctx); err != nil {
		return 0, err
	}
	defer c.e.mu.Unlock()
	if err := engine.ValidateInstanceID(instanceID); err != nil {
		return 0, err
	}
	return c.e.purge(instanceID, opts != nil && opts.Recursive)
}

// purge deletes a finished instance (and, recursive, the sub-orchestrations its
// history names, children first) and reports how many went. An unknown id is 0.
func (e *Env) purge(id string, recursive bool) (int, error) {
	in := e.insts[id]
	if in == nil {
		return 0, nil
	}
	if !in.status.IsTerminal() {
		return 0, fmt.Errorf("%w: %s is %s; only Completed, Failed or Terminated instances can be purged", durable.ErrInstanceNotFinished, id, in.status)
	}
	total := 0
	if recursive {
		for _, k := range children(in) {
			n, err := e.purge(k.id, true)
			total += n
			if err != nil {
				return total, fmt.Errorf("purge sub-orchestration %s of %s: %w", k.id, id, err)
			}
		}
	}
	e.purgedExecs[id] = in.exec
	delete(e.insts, id)
	e.order = slices.DeleteFunc(e.order, func(s string) bool { return s == id })
	return total + 1, nil
}

// PurgeInstances implements durable.Client.
func (c *client) PurgeInstances(ctx context.Context, f *durable.PurgeFilter) (int, error) {
	if f == nil {
		f = &durable.PurgeFilter{}
	}
	statuses := f.RuntimeStatus
	if len(statuses) == 0 {
		statuses = []durable.RuntimeStatus{durable.StatusCompleted, durable.StatusFailed, durable.StatusTerminated}
	}
	for _, s := range statuses {
		if !s.IsTerminal() {
			return 0, fmt.Errorf("%w: instances in status %q cannot be purged (only Completed, Failed or Terminated)", durable.ErrInvalidQuery, s)
		}
	}
	if err := c.begin(ctx); err != nil {
		return 0, err
	}
	defer c.e.mu.Unlock()
	to := f.CreatedTo
	if to.IsZero() {
		to = c.e.now
	}
	n := 0
	for _, id := range c.e.sortedIDs() {
		in := c.e.insts[id]
		if in == nil || !slices.Contains(statuses, in.status) || !within(in.created, f.CreatedFrom, to) {
			continue
		}
		k, err := c.e.purge(id, false)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// SignalEntity implements durable.Client. A signal with opts.At waits for the clock
// (WaitForCompletion, Env.Advance, Env.Run) to get there.
func (c *client) SignalEntity(ctx context.Context, id durable.EntityID, operation string, input any, opts *durable.SignalOptions) error {
	id = durable.NewEntityID(id.Name, id.Key)
	in, err := marshal("signal input", input)
	if err != nil {
		return err
	}
	if err := c.begin(ctx); err != nil {
		return err
	}
	defer c.e.mu.Unlock()
	e := c.e
	if e.entity(id.Name) == nil {
		return fmt.Errorf("%w %q", durable.ErrUnknownEntity, id.Name)
	}
	if err := engine.ValidateEntityID(id); err != nil {
		return err
	}
	var o durable.SignalOptions
	if opts != nil {
		o = *opts
	}
	if o.IdempotencyKey != "" {
		if e.sigKeys[id][o.IdempotencyKey] {
			return nil // a retry: the first signal is the one that counts
		}
		if e.sigKeys[id] == nil {
			e.sigKeys[id] = map[string]bool{}
		}
		e.sigKeys[id][o.IdempotencyKey] = true
	}
	e.sendEntity(id, entityMsg{kind: opSignal, op: operation, input: in}, o.At.UTC())
	return c.settled()
}

// ReadEntity implements durable.Client.
func (c *client) ReadEntity(ctx context.Context, id durable.EntityID) (*durable.EntityState, error) {
	id = durable.NewEntityID(id.Name, id.Key)
	if err := engine.ValidateEntityID(id); err != nil {
		return nil, err
	}
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	defer c.e.mu.Unlock()
	en := c.e.ents[id]
	if en == nil {
		return &durable.EntityState{ID: id}, nil
	}
	return entityState(en, true), nil
}

func entityState(en *entity, withState bool) *durable.EntityState {
	s := &durable.EntityState{ID: en.id, Exists: en.has, LastModified: en.modified, LockedBy: en.lock}
	if en.has && withState {
		s.State = en.state
	}
	return s
}

// ListEntities implements durable.Client: the entities that have state, in id order.
func (c *client) ListEntities(ctx context.Context, q *durable.EntityQuery) (*durable.EntityPage, error) {
	if q == nil {
		q = &durable.EntityQuery{}
	}
	if !utf8.ValidString(q.Name) {
		return nil, fmt.Errorf("%w: entity name is not valid UTF-8", durable.ErrInvalidQuery)
	}
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	defer c.e.mu.Unlock()
	name := strings.ToLower(q.Name)
	byKey := map[string]*entity{}
	var keys []string
	for id, en := range c.e.ents {
		if en.has && (name == "" || id.Name == name) && within(en.modified, q.LastModifiedFrom, q.LastModifiedTo) {
			keys = append(keys, id.String())
			byKey[id.String()] = en
		}
	}
	slices.Sort(keys)
	from, to, next, err := page(keys, q.PageSize, q.Continuation)
	if err != nil {
		return nil, err
	}
	p := &durable.EntityPage{Continuation: next, Entities: make([]*durable.EntityState, 0, to-from)}
	for _, k := range keys[from:to] {
		p.Entities = append(p.Entities, entityState(byKey[k], q.IncludeState))
	}
	return p, nil
}

// TaskHub is the task hub the in-memory client's check-status URLs name
// (taskHub=TestHubName), Durable Functions' default for local development.
const TaskHub = "TestHubName"

// CheckStatus implements durable.Client with the real client's URLs, except that they
// carry no link token (sig=): nothing in the Env serves them, and it has no secret.
func (c *client) CheckStatus(r *http.Request, instanceID string) durable.CheckStatus {
	return durable.CheckStatus(httpapi.CheckStatusOf(r, TaskHub, "", instanceID))
}

// WriteCheckStatus implements durable.Client as the real client does: 202, Location,
// Retry-After and the check-status body.
func (c *client) WriteCheckStatus(w http.ResponseWriter, r *http.Request, instanceID string) {
	httpapi.WriteCheckStatus(w, httpapi.CheckStatusOf(r, TaskHub, "", instanceID))
}
