package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

// --- rewind ---
//
// Rewinding a failed instance works as in Durable Functions: the failed results are
// taken out of the history and the instance runs on, so replay reaches the failed work
// again and waits for it, and the engine sends that work once more. History stays
// append-only: an ExecutionRewound event is appended, and RewindHistory removes on
// every replay what each rewind took out, so the rule below is applied to the same
// prefix each time and gives the same answer.
//
// Which failures are taken out: those recorded after the last scheduling event before
// the instance failed. A failure the code reacted to by scheduling more work (a retry
// timer, a fallback activity) is kept, since removing it would make replay diverge from
// the actions that followed it; the failures nothing followed are what failed the
// instance. Everything scheduled and no longer complete (the rewound tasks, but also
// tasks and timers whose completion arrived after the failure and was dropped) is
// returned for redispatch.

// RewindHistory applies the ExecutionRewound events of past: each one that follows a
// failed end of the execution removes what rewindOnce removes from the events before it.
// Other ExecutionRewound events are left in place and are inert.
func RewindHistory(past []history.Event) []history.Event {
	if !containsType(past, history.ExecutionRewound) {
		return past
	}
	var out []history.Event
	for _, e := range past {
		if e.Type == history.ExecutionRewound && endedFailed(out) {
			out, _ = rewindOnce(out)
		}
		out = append(out, e)
	}
	return out
}

// endedFailed reports whether past holds the failed end of its execution.
func endedFailed(past []history.Event) bool {
	for i := range past {
		if past[i].Type == history.ExecutionCompleted {
			return past[i].Status == durable.StatusFailed
		}
	}
	return false
}

// rewindOnce removes the end of the execution and the failures that ended it, and
// returns what must be carried out again.
func rewindOnce(past []history.Event) (kept, redispatch []history.Event) {
	end := len(past)
	for i := range past {
		if past[i].Type == history.ExecutionCompleted {
			end = i
			break
		}
	}
	lastSched := -1
	for i := 0; i < end; i++ {
		if isScheduling(past[i].Type) {
			lastSched = i
		}
	}
	for i := range past {
		e := past[i]
		switch {
		case e.Type == history.ExecutionCompleted:
			continue
		case i > lastSched && i < end && (e.Type == history.TaskFailed || e.Type == history.SubOrchestrationFailed):
			continue
		}
		kept = append(kept, e)
	}
	done := map[int]bool{}
	for _, e := range kept {
		if e.IsCompletion() {
			done[e.TaskID] = true
		}
	}
	for _, e := range kept {
		switch e.Type {
		case history.TaskScheduled, history.TimerCreated, history.SubOrchestrationCreated:
			if !done[e.ID] {
				redispatch = append(redispatch, e)
			}
		}
	}
	return kept, redispatch
}

// ErrNotRewindable explains why a failed instance cannot be rewound.
var ErrNotRewindable = errors.New("cannot rewind")

// CheckRewindable reports whether the failed execution whose history is past can be
// rewound. Two cases cannot: an entity call or lock request still waiting for its
// answer (repeating it would apply the operation twice, and its answer may have been
// dropped), and a failure inside a critical section (the engine released the locks
// when the instance failed; the code, replayed, would believe it still holds them).
func CheckRewindable(past []history.Event) error {
	past = RewindHistory(past)
	end := slices.IndexFunc(past, func(e history.Event) bool { return e.Type == history.ExecutionCompleted })
	if end < 0 || past[end].Status != durable.StatusFailed {
		return fmt.Errorf("%w: the execution has not failed", ErrNotRewindable)
	}
	if end > 0 && past[end-1].Type == history.EntityUnlockSent {
		return fmt.Errorf("%w: the orchestration failed inside a critical section, whose locks were released", ErrNotRewindable)
	}
	done := map[int]bool{}
	for _, e := range past {
		if e.IsCompletion() {
			done[e.TaskID] = true
		}
	}
	for _, e := range past {
		if (e.Type == history.EntityCalled || e.Type == history.EntityLockRequested) && !done[e.ID] {
			return fmt.Errorf("%w: %s has no answer, and repeating it could apply it twice", ErrNotRewindable, describe(&e))
		}
	}
	return nil
}

func containsType(evs []history.Event, t history.EventType) bool {
	for i := range evs {
		if evs[i].Type == t {
			return true
		}
	}
	return false
}

// --- versioning and patches ---

func (c *orchContext) Version() string { return c.ex.version }

// IsPatched records a PatchMarker the first time an execution passes the call. On
// replay it looks for the marker at the next sequence number (skipping markers of
// other changes the code no longer asks about) and answers false when there is none:
// that history was made by code without the patch. See the package comment.
func (c *orchContext) IsPatched(changeID string) bool {
	ex := c.ex
	if ex.unwinding || ex.outcome != nil {
		return false
	}
	if ex.replaying {
		for id := ex.nextID; ; id++ {
			h, ok := ex.pastActions[id]
			if !ok || h.Type != history.PatchMarker {
				return false
			}
			if strings.EqualFold(h.Name, changeID) {
				ex.nextID = id + 1
				return true
			}
		}
	}
	ex.res.NewEvents = append(ex.res.NewEvents, history.Event{Type: history.PatchMarker, ID: ex.allocID(), Timestamp: ex.now, Name: changeID})
	return true
}

// --- external events with a default ---

func (c *orchContext) WaitForExternalEventOrDefault(name string, timeout time.Duration, defaultValue any) durable.Task {
	def, err := durable.Marshal(defaultValue)
	if err != nil {
		t := c.ex.newTask("event", name)
		c.ex.finishTask(t, nil, fmt.Errorf("durable: encoding default value of event %q: %w", name, err))
		return t
	}
	if def == nil {
		def = json.RawMessage("null")
	}
	return c.waitEvent(name, timeout, func(t *task) { c.ex.finishTask(t, def, nil) })
}

// --- durable HTTP ---

// defaultPollInterval is the wait between polls of a 202 answer without Retry-After.
const defaultPollInterval = time.Second

// httpCall is one CallHTTP: the request, then one GET per poll of a 202 answer, each a
// run of the built-in activity, with a durable timer between polls (as DF does it, so
// a long-running endpoint holds no worker and survives restarts).
type httpCall struct {
	t   *task
	req durable.HTTPRequest
}

func (c *orchContext) CallHTTP(req durable.HTTPRequest) durable.Task {
	ex := c.ex
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	t := ex.newTask("activity", durable.HTTPActivityName)
	if ex.unwinding {
		return t
	}
	if u, err := url.Parse(req.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ex.finishTask(t, nil, fmt.Errorf("durable: CallHTTP needs an absolute http or https URL, got %q", req.URL))
		return t
	}
	ex.httpSend(&httpCall{t: t, req: req}, req)
	return t
}

func (ex *executor) httpSend(hc *httpCall, req durable.HTTPRequest) {
	payload, err := json.Marshal(req)
	if err != nil {
		ex.finishTask(hc.t, nil, fmt.Errorf("durable: encoding HTTP request: %w", err))
		return
	}
	id := ex.allocID()
	ev := history.Event{Type: history.TaskScheduled, ID: id, Name: durable.HTTPActivityName, Input: payload}
	if ex.issue(&ev) {
		ex.await(id, history.TaskScheduled, func(e *history.Event) { ex.httpDone(hc, e) })
	}
}

// httpDone runs on the executor when a request's activity completes.
func (ex *executor) httpDone(hc *httpCall, e *history.Event) {
	if e.Type == history.TaskFailed {
		ex.finishTask(hc.t, nil, &durable.TaskFailedError{Kind: hc.t.kind, Name: hc.t.name, TaskID: e.TaskID, Details: failureOf(e)})
		return
	}
	var resp durable.HTTPResponse
	if err := json.Unmarshal(e.Result, &resp); err != nil {
		ex.finishTask(hc.t, nil, fmt.Errorf("durable: decoding HTTP response: %w", err))
		return
	}
	loc := http.Header(resp.Headers).Get("Location")
	if hc.req.DisableAsyncPolling || resp.StatusCode != http.StatusAccepted || loc == "" {
		ex.finishTask(hc.t, e.Result, nil)
		return
	}
	next, err := pollRequest(hc.req, loc)
	if err != nil {
		ex.finishTask(hc.t, nil, err)
		return
	}
	id := ex.allocID()
	timer := history.Event{Type: history.TimerCreated, ID: id, FireAt: ex.now.Add(retryAfter(resp.Headers, ex.now)).UTC()}
	if ex.issue(&timer) {
		ex.await(id, history.TimerCreated, func(*history.Event) { ex.httpSend(hc, next) })
	}
}

// pollRequest is the GET that follows a 202's Location (relative to the URL polled),
// with the original headers and token source and no body.
func pollRequest(orig durable.HTTPRequest, location string) (durable.HTTPRequest, error) {
	base, err := url.Parse(orig.URL)
	if err != nil {
		return orig, fmt.Errorf("durable: polling %q: %w", orig.URL, err)
	}
	ref, err := url.Parse(location)
	if err != nil {
		return orig, fmt.Errorf("durable: 202 answer has an unusable Location %q: %w", location, err)
	}
	next := orig
	next.Method, next.Body, next.URL = http.MethodGet, "", base.ResolveReference(ref).String()
	return next, nil
}

// retryAfter reads Retry-After in seconds or as an HTTP date (against the episode's
// time, so replay computes the same delay).
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(http.Header(h).Get("Retry-After"))
	if v == "" {
		return defaultPollInterval
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return defaultPollInterval
}
