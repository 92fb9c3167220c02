package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/httpapi"
	"github.com/durablego/durablefunctions/internal/httpx"
)

// StatusPayload is DF's instance status body (StatusResponsePayload).
type StatusPayload struct {
	Name            string           `json:"name"`
	InstanceID      string           `json:"instanceId"`
	RuntimeStatus   string           `json:"runtimeStatus"`
	Input           json.RawMessage  `json:"input"`
	CustomStatus    json.RawMessage  `json:"customStatus"`
	Output          json.RawMessage  `json:"output"`
	CreatedTime     string           `json:"createdTime"`
	LastUpdatedTime string           `json:"lastUpdatedTime"`
	Version         string           `json:"version,omitempty"`
	HistoryEvents   []map[string]any `json:"historyEvents,omitempty"`
}

func payloadOf(s *engine.InstanceStatus, showInput bool) *StatusPayload {
	p := &StatusPayload{Name: s.Name, InstanceID: s.InstanceID, RuntimeStatus: string(s.RuntimeStatus), CustomStatus: s.CustomStatus,
		Output: s.Output, CreatedTime: formatTime(s.CreatedTime), LastUpdatedTime: formatTime(s.LastUpdated), Version: s.Version}
	if showInput {
		p.Input = s.Input
	}
	return p
}

// instances routes instances[/{id}[/{operation}[/{eventName}]]].
func (a *api) instances(w http.ResponseWriter, r *http.Request, segs []string) {
	switch len(segs) {
	case 0:
		if !allow(w, r, http.MethodGet, http.MethodDelete) {
			return
		}
		if r.Method == http.MethodGet {
			a.listInstances(w, r)
		} else {
			a.purgeByFilter(w, r)
		}
	case 1:
		if !allow(w, r, http.MethodGet, http.MethodDelete) {
			return
		}
		if r.Method == http.MethodGet {
			a.status(w, r, segs[0])
		} else {
			a.purge(w, r, segs[0])
		}
	case 2, 3:
		op := strings.ToLower(segs[1])
		if (op == "raiseevent") != (len(segs) == 3) {
			notFound(w, r)
			return
		}
		if !allow(w, r, http.MethodPost) {
			return
		}
		id := segs[0]
		reason := r.URL.Query().Get("reason")
		var err error
		switch op {
		case "raiseevent":
			a.raiseEvent(w, r, id, segs[2])
			return
		case "terminate":
			var recursive bool
			if recursive, err = queryBool(r, "recursive", false); err == nil {
				if recursive {
					err = a.hub.TerminateRecursive(r.Context(), id, reason)
				} else {
					err = a.hub.Terminate(r.Context(), id, reason)
				}
			}
		case "suspend":
			err = a.hub.Suspend(r.Context(), id, reason)
		case "resume":
			err = a.hub.Resume(r.Context(), id, reason)
		case "restart":
			a.restart(w, r, id)
			return
		case "rewind":
			a.rewind(w, r, id)
			return
		default:
			notFound(w, r)
			return
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		notFound(w, r)
	}
}

// status serves GET instances/{id}: 202 with Location and Retry-After while the
// instance may still change, 200 once it has finished (500 for a failed instance when
// returnInternalServerErrorOnFailure=true), 404 when unknown.
func (a *api) status(w http.ResponseWriter, r *http.Request, id string) {
	var showHistory, showHistoryOutput, showInput, failAs500 bool
	var err error
	if showHistory, err = queryBool(r, "showHistory", false); err == nil {
		if showHistoryOutput, err = queryBool(r, "showHistoryOutput", false); err == nil {
			if showInput, err = queryBool(r, "showInput", true); err == nil {
				failAs500, err = queryBool(r, "returnInternalServerErrorOnFailure", false)
			}
		}
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	s, err := a.hub.GetStatus(r.Context(), id, &engine.StatusOptions{ShowHistory: showHistory})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeStatus(w, r, s, showHistory, showHistoryOutput, showInput, failAs500)
}

func (a *api) writeStatus(w http.ResponseWriter, r *http.Request, s *engine.InstanceStatus, showHistory, showHistoryOutput, showInput, failAs500 bool) {
	p := payloadOf(s, showInput)
	if showHistory {
		p.HistoryEvents = historyPayload(s.History, showHistoryOutput, showInput)
		if p.HistoryEvents == nil {
			p.HistoryEvents = []map[string]any{}
		}
	}
	code := http.StatusOK
	switch s.RuntimeStatus {
	case durable.StatusFailed:
		if failAs500 {
			code = http.StatusInternalServerError
		}
	case durable.StatusCompleted, durable.StatusTerminated:
	default:
		code = http.StatusAccepted
		w.Header().Set("Location", requestURL(r))
		w.Header().Set("Retry-After", retryAfterRunning)
	}
	httpx.WriteJSON(w, code, p)
}

// listInstances serves GET instances with DF's filters and x-ms-continuation-token paging.
func (a *api) listInstances(w http.ResponseWriter, r *http.Request) {
	q := &engine.InstanceQuery{InstanceIDPrefix: r.URL.Query().Get("instanceIdPrefix"), Continuation: r.Header.Get(ContinuationHeader)}
	var err error
	var showInput bool
	if q.RuntimeStatus, err = queryStatuses(r); err == nil {
		if q.CreatedFrom, err = queryTime(r, "createdTimeFrom"); err == nil {
			if q.CreatedTo, err = queryTime(r, "createdTimeTo"); err == nil {
				if q.Top, err = queryInt(r, "top"); err == nil {
					showInput, err = queryBool(r, "showInput", true)
				}
			}
		}
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	page, err := a.hub.QueryInstances(r.Context(), q)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]*StatusPayload, 0, len(page.Instances))
	for _, s := range page.Instances {
		out = append(out, payloadOf(s, showInput))
	}
	if page.Continuation != "" {
		w.Header().Set(ContinuationHeader, page.Continuation)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// PurgeResult is DF's purge answer.
type PurgeResult struct {
	InstancesDeleted int `json:"instancesDeleted"`
}

// purge serves DELETE instances/{id}: 200 when deleted, 404 when unknown, 412 while
// the instance has not finished.
func (a *api) purge(w http.ResponseWriter, r *http.Request, id string) {
	recursive, err := queryBool(r, "recursive", false)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	purge := a.hub.Purge
	if recursive {
		purge = a.hub.PurgeRecursive
	}
	n, err := purge(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if n == 0 {
		dfErrorf(w, http.StatusNotFound, "%s: %s", engine.ErrInstanceNotFound, id)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, PurgeResult{InstancesDeleted: n})
}

// purgeByFilter serves DELETE instances: createdTimeFrom is required (as in DF),
// createdTimeTo defaults to now; 404 when nothing matched.
func (a *api) purgeByFilter(w http.ResponseWriter, r *http.Request) {
	from, err := queryTime(r, "createdTimeFrom")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if from.IsZero() {
		// DF's answer word for word: a JSON string, not an object.
		httpx.WriteJSON(w, http.StatusBadRequest, "Please provide value for 'createdTimeFrom' parameter.")
		return
	}
	to, err := queryTime(r, "createdTimeTo")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	statuses, err := queryStatuses(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	n, err := a.hub.PurgeByFilter(r.Context(), from, to, statuses)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if n == 0 {
		httpx.WriteJSON(w, http.StatusNotFound, map[string]any{"Message": "no finished instances matched the filter", "instancesDeleted": 0})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, PurgeResult{InstancesDeleted: n})
}

// raiseEvent serves POST instances/{id}/raiseEvent/{eventName}.
func (a *api) raiseEvent(w http.ResponseWriter, r *http.Request, id, name string) {
	payload, err := readJSONBody(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if strings.TrimSpace(name) == "" {
		dfError(w, http.StatusBadRequest, "event name must not be empty")
		return
	}
	if err := a.hub.RaiseEvent(r.Context(), id, name, payload); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// restart serves POST instances/{id}/restart: DF restarts under a new instance id
// unless restartWithNewInstanceId=false.
func (a *api) restart(w http.ResponseWriter, r *http.Request, id string) {
	newID, err := queryBool(r, "restartWithNewInstanceId", true)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	wp, err := parseWait(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	started, err := a.hub.Restart(r.Context(), id, newID)
	if errors.Is(err, engine.ErrInstanceNotFound) {
		dfException(w, http.StatusBadRequest, msgNoInstance, "System.ArgumentException", err)
		return
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.checkStatusOrWait(w, r, started, wp)
}

// rewind serves POST instances/{id}/rewind?reason=: 202 once the rewind is queued,
// 404 unknown, 412 unless the instance is Failed (or cannot be rewound, see
// engine.Hub.Rewind).
func (a *api) rewind(w http.ResponseWriter, r *http.Request, id string) {
	if err := a.hub.Rewind(r.Context(), id, r.URL.Query().Get("reason")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// start serves POST orchestrators/{functionName}[/{instanceId}][?version=] with the body as input;
// an Idempotency-Key header makes a retried start answer the first start's instance.
func (a *api) start(w http.ResponseWriter, r *http.Request, name, id string) {
	wp, err := parseWait(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	input, err := httpx.ReadJSON(r, httpapi.MaxInput)
	if errors.Is(err, httpx.ErrBadJSON) {
		dfException(w, http.StatusBadRequest, msgInvalidJSON, "Newtonsoft.Json.JsonReaderException", errors.New("the request body is not valid JSON (it becomes the orchestration input)"))
		return
	}
	if err != nil {
		bodyError(w, err)
		return
	}
	key, err := httpapi.IdempotencyKey(r)
	if err != nil {
		dfError(w, http.StatusBadRequest, err.Error())
		return
	}
	started, _, err := a.hub.StartOrchestrationWith(r.Context(), name, id, input, &engine.StartOptions{IdempotencyKey: key, Version: strings.TrimSpace(r.URL.Query().Get("version"))})
	switch {
	case errors.Is(err, engine.ErrUnknownOrchestrator):
		// DF: an ArgumentException, 400 with the reason as ExceptionMessage.
		dfException(w, http.StatusBadRequest, msgBadArguments, "System.ArgumentException",
			fmt.Errorf("The function '%s' doesn't exist, is disabled, or is not an orchestrator function.", name))
		return
	case err != nil:
		// An id that exists is 409 here (DF answers 500 for it).
		a.writeError(w, r, err)
		return
	}
	a.checkStatusOrWait(w, r, started, wp)
}

// checkStatusOrWait answers a start: the check-status 202, or, when the caller passed
// timeout and pollingInterval (seconds), the outcome if the instance finishes in time —
// DF's WaitForCompletionOrCreateCheckStatusResponse: 200 with the output when it
// completed, the status answer when it failed or was terminated.
func (a *api) checkStatusOrWait(w http.ResponseWriter, r *http.Request, id string, wp waitParams) {
	if !wp.wait {
		httpapi.WriteStarted(w, r, a.hub, id)
		return
	}
	// Notified at once when this process commits the completion; otherwise the status
	// is read at intervals growing to the caller's pollingInterval.
	wctx, cancel := context.WithTimeout(r.Context(), wp.timeout)
	defer cancel()
	s, err := a.hub.WaitForStatus(wctx, id, &engine.WaitOptions{Interval: min(waitFirstInterval, wp.every), MaxInterval: wp.every})
	switch {
	case r.Context().Err() != nil:
		a.writeError(w, r, r.Context().Err())
		return
	case err != nil && wctx.Err() != nil:
		httpapi.WriteStarted(w, r, a.hub, id) // still running when the timeout came
		return
	case err != nil:
		a.writeError(w, r, err)
		return
	}
	if s.RuntimeStatus == durable.StatusCompleted {
		out := s.Output
		if len(out) == 0 {
			out = json.RawMessage("null")
		}
		httpx.WriteJSON(w, http.StatusOK, out)
		return
	}
	a.writeStatus(w, r, s, false, false, true, false)
}

// waitFirstInterval is the first pause of a wait-for-completion whose instance runs
// in another process (no notification): it doubles up to the pollingInterval.
const waitFirstInterval = 50 * time.Millisecond

// maxSecondsParam bounds the timeout and pollingInterval parameters: larger values
// are mistakes (1e308 would overflow a time.Duration), not long waits, which are cut to
// MaxWait anyway.
const maxSecondsParam = 24 * 60 * 60

// waitParams are the timeout and pollingInterval of a start or restart that waits.
type waitParams struct {
	wait           bool
	timeout, every time.Duration
}

// parseWait reads timeout and pollingInterval before anything is started, so that a
// bad value is refused without side effects.
func parseWait(r *http.Request) (waitParams, error) {
	timeout, tok, err := querySeconds(r, "timeout")
	if err != nil {
		return waitParams{}, err
	}
	every, pok, err := querySeconds(r, "pollingInterval")
	if err != nil || !tok || !pok {
		return waitParams{}, err
	}
	timeout = min(timeout, MaxWait)
	every = max(every, 100*time.Millisecond)
	if every > timeout {
		return waitParams{}, badRequestf("Total timeout %gs should be bigger than retry timeout %gs", timeout.Seconds(), every.Seconds())
	}
	return waitParams{wait: true, timeout: timeout, every: every}, nil
}

// querySeconds reads a duration given in (fractional) seconds; ok is false when the
// parameter is absent, and anything but a number from 0 to maxSecondsParam is a 400.
func querySeconds(r *http.Request, name string) (d time.Duration, ok bool, err error) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	if v == "" {
		return 0, false, nil
	}
	f, perr := strconv.ParseFloat(v, 64)
	if perr != nil || math.IsNaN(f) || f < 0 || f > maxSecondsParam {
		return 0, false, badRequestf("query parameter %s must be a number of seconds from 0 to %d, got %q", name, maxSecondsParam, v)
	}
	return time.Duration(f * float64(time.Second)), true, nil
}
