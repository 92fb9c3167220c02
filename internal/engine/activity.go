package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/storage"
)

// HandleActivityBatch runs the work items of one activity queue message and reports
// their results to the orchestrations that scheduled them. It returns nil when every
// result is durably in its orchestration's inbox; the message may then be deleted.
// Activities run at least once: a crash before the report runs them again.
func (h *Hub) HandleActivityBatch(ctx context.Context, body []byte) error {
	var b ActivityBatch
	if err := json.Unmarshal(body, &b); err != nil || len(b.Work)+len(b.Results) == 0 {
		return fmt.Errorf("%w: not an activity batch: %.100q", ErrBadMessage, body)
	}
	if len(b.Results) > 0 {
		return h.deliver(ctx, b.Results)
	}
	events := make([]history.Event, len(b.Work))
	var wg sync.WaitGroup
	for i, w := range b.Work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			events[i] = h.runActivity(ctx, w)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	type key struct{ inst, exec string }
	groups := map[key][]history.Event{}
	firstTask := map[key]int{}
	var order []key
	for i, w := range b.Work {
		k := key{w.Instance, w.Execution}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
			firstTask[k] = w.TaskID
		}
		groups[k] = append(groups[k], events[i])
	}
	var failed []*Delivery
	var firstErr error
	handOff := h.localHandoff()
	for _, k := range order {
		env := &Envelope{
			// Same batch, same id: a redelivered batch's report is recognised.
			ID:         fmt.Sprintf("~activity|%s|%d|%d", k.exec, firstTask[k], len(groups[k])),
			TargetExec: k.exec,
			Events:     groups[k],
		}
		report := h.sendEnvelopes
		if handOff {
			report = h.applyDirect // by this process's own episode (see local.go)
		}
		if err := report(ctx, k.inst, []*Envelope{env}); err != nil {
			failed = append(failed, &Delivery{Target: k.inst, Envelopes: []*Envelope{env}})
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	// The work is done; only its report failed. Queue the report on its own so a retry
	// does not run the activities again (and a failing message is not poisoned).
	h.log.Warn("activity results could not be reported; retrying the report", "err", firstErr)
	q, err := h.queue(ctx, h.cfg.ActivityQueue)
	if err != nil {
		return firstErr
	}
	msg, _ := json.Marshal(ActivityBatch{Results: failed})
	if len(msg) > maxWorkBytes {
		return firstErr // too large to carry: let the whole batch retry
	}
	if err := q.Send(ctx, h.EncodeText(msg), retryWakeDelay); err != nil {
		return firstErr
	}
	return nil
}

func (h *Hub) runActivity(ctx context.Context, w *ActivityWork) (ev history.Event) {
	ev = history.Event{ID: -1, Timestamp: h.now(), TaskID: w.TaskID}
	fail := func(typ, msg, stack string) history.Event {
		ev.Type = history.TaskFailed
		ev.Failure = &durable.FailureDetails{ErrorType: typ, ErrorMessage: msg, StackTrace: stack}
		ev.Timestamp = h.now()
		return ev
	}
	fn, ok := h.cfg.Registry.Activity(w.Name)
	if !ok && strings.EqualFold(w.Name, durable.HTTPActivityName) {
		fn, ok = httpActivity, true
	}
	if !ok {
		return fail("UnknownActivity", fmt.Sprintf("no activity named %q is registered", w.Name), "")
	}
	crashOn("activity", w.Name, w.TaskID)
	defer func() {
		if r := recover(); r != nil {
			ev = fail("panic", fmt.Sprintf("activity %s panicked: %v", w.Name, r), string(debug.Stack()))
		}
	}()
	in, err := h.internalize(ctx, w.Input)
	if err != nil {
		return fail("PayloadError", err.Error(), "")
	}
	work := *w
	work.Input = in
	if h.activitySlots != nil {
		select {
		case h.activitySlots <- struct{}{}:
		case <-ctx.Done():
			return fail("Canceled", "the worker stopped before the activity could start", "")
		}
		defer func() { <-h.activitySlots }()
	}
	out, err := fn(&activityContext{Context: ctx, w: &work})
	if err != nil {
		return fail(durable.ErrorType(err), err.Error(), "")
	}
	res, err := durable.Marshal(out)
	if err != nil {
		return fail("SerializationError", fmt.Sprintf("activity %s result is not JSON-serialisable: %v", w.Name, err), "")
	}
	if res, err = h.externalize(ctx, storage.EscapeKey(w.Instance), res); err != nil {
		return fail("PayloadTooLarge", fmt.Sprintf("activity %s result: %v", w.Name, err), "")
	}
	ev.Type = history.TaskCompleted
	ev.Result = res
	ev.Timestamp = h.now()
	return ev
}

type activityContext struct {
	context.Context
	w *ActivityWork
}

func (c *activityContext) InstanceID() string   { return c.w.Instance }
func (c *activityContext) TaskID() int          { return c.w.TaskID }
func (c *activityContext) Name() string         { return c.w.Name }
func (c *activityContext) GetInput(v any) error { return durable.Unmarshal(c.w.Input, v) }
