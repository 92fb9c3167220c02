// Package httpapi serves the durable HTTP functions every app has: starting an
// orchestration (http_start) and the public status route (get_status).
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/httpx"
	"github.com/durablego/durablefunctions/internal/runner"
	"github.com/gorilla/mux"
)

// MaxInput is the largest orchestration input accepted over HTTP: the engine's
// payload maximum (larger values are stored out of line).
const MaxInput = engine.DefaultMaxPayload

// BaseURL is the scheme and host the caller used, honouring the forwarding headers a
// front end (or the Functions host) sets.
func BaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
		host = strings.TrimSpace(strings.Split(fh, ",")[0])
	}
	if r.URL != nil && r.URL.Host != "" && host == "" {
		host = r.URL.Host
	}
	return scheme + "://" + host
}

// CheckStatus is the Durable Functions check-status response body.
type CheckStatus struct {
	ID                    string `json:"id"`
	StatusQueryGetURI     string `json:"statusQueryGetUri"`
	SendEventPostURI      string `json:"sendEventPostUri"`
	TerminatePostURI      string `json:"terminatePostUri"`
	PurgeHistoryDeleteURI string `json:"purgeHistoryDeleteUri"`
	RestartPostURI        string `json:"restartPostUri"`
	SuspendPostURI        string `json:"suspendPostUri"`
	ResumePostURI         string `json:"resumePostUri"`
}

// NewCheckStatus builds the management URLs of an instance. They carry the caller's
// key only when the caller presented the master key: anyone else gets URLs without
// secrets (and needs their own key to use them).
func NewCheckStatus(r *http.Request, instanceID string) CheckStatus {
	// Under the Functions host only routes below the route prefix reach a custom
	// handler, so the management API lives at /api/runtime/webhooks/durabletask.
	mgmt := "/runtime/webhooks/durabletask"
	if p := runner.RoutePrefix(r); p != "" {
		mgmt = "/" + p + mgmt
	}
	base := BaseURL(r) + mgmt + "/instances/" + url.PathEscape(instanceID)
	q := url.Values{}
	if runner.CallerIsAdmin(r) {
		if k := presentedKey(r); k != "" {
			q.Set("code", k)
		}
	}
	with := func(path string, extra ...string) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		s := base + path
		if enc := v.Encode(); enc != "" {
			s += "?" + enc
		}
		return s
	}
	return CheckStatus{
		ID:                    instanceID,
		StatusQueryGetURI:     with(""),
		SendEventPostURI:      strings.Replace(with("/raiseEvent/{eventName}"), "%7BeventName%7D", "{eventName}", 1),
		TerminatePostURI:      with("/terminate", "reason", "{text}"),
		PurgeHistoryDeleteURI: with(""),
		RestartPostURI:        with("/restart"),
		SuspendPostURI:        with("/suspend", "reason", "{text}"),
		ResumePostURI:         with("/resume", "reason", "{text}"),
	}
}

func presentedKey(r *http.Request) string {
	if k := r.Header.Get("x-functions-key"); k != "" {
		return k
	}
	return r.URL.Query().Get("code")
}

// WriteStarted answers 202 with Location and the check-status body, as DF's
// CreateCheckStatusResponse does.
func WriteStarted(w http.ResponseWriter, r *http.Request, instanceID string) {
	cs := NewCheckStatus(r, instanceID)
	w.Header().Set("Location", cs.StatusQueryGetURI)
	w.Header().Set("Retry-After", "1")
	httpx.WriteJSON(w, http.StatusAccepted, cs)
}

// StartError maps a StartOrchestration error to an HTTP answer.
func StartError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, engine.ErrUnknownOrchestrator):
		httpx.Error(w, http.StatusNotFound, err.Error())
	case errors.Is(err, engine.ErrInstanceExists):
		httpx.Error(w, http.StatusConflict, err.Error())
	case errors.Is(err, engine.ErrInvalidInstanceID):
		httpx.Error(w, http.StatusBadRequest, err.Error())
	default:
		httpx.Errorf(w, http.StatusServiceUnavailable, "could not start orchestration: %v", err)
	}
}

// Start serves POST /api/orchestrators/{name}[/{instanceId}] with the body as input.
func Start(hub *engine.Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vars := mux.Vars(r)
		input, err := httpx.ReadJSON(r, MaxInput)
		if errors.Is(err, httpx.ErrBadJSON) {
			httpx.Error(w, http.StatusBadRequest, "request body must be JSON (it becomes the orchestration input)")
			return
		}
		if err != nil {
			httpx.BodyError(w, err)
			return
		}
		key, err := IdempotencyKey(r)
		if err != nil {
			httpx.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		id, _, err := hub.StartOrchestrationWith(r.Context(), vars["name"], vars["instanceId"], input, &engine.StartOptions{IdempotencyKey: key})
		if err != nil {
			StartError(w, err)
			return
		}
		WriteStarted(w, r, id)
	})
}

// PublicStatus is all the public status route reveals.
type PublicStatus struct {
	ID     string          `json:"id"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result"`
}

// Status serves GET /api/status/{id}: id, status and result only — never input,
// history, management URLs or keys.
func Status(hub *engine.Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["id"]
		s, err := hub.GetStatus(r.Context(), id, nil)
		switch {
		case errors.Is(err, engine.ErrInstanceNotFound), errors.Is(err, engine.ErrInvalidInstanceID):
			httpx.Error(w, http.StatusNotFound, "Job not found")
			return
		case err != nil:
			httpx.Errorf(w, http.StatusServiceUnavailable, "could not read status: %v", err)
			return
		}
		res := s.Output
		if len(res) == 0 {
			res = json.RawMessage("null")
		}
		if s.RuntimeStatus == durable.StatusFailed && s.Failure != nil {
			res, _ = json.Marshal(fmt.Sprintf("failed: %s", s.Failure.ErrorMessage))
		}
		httpx.WriteJSON(w, http.StatusOK, PublicStatus{ID: id, Status: string(s.RuntimeStatus), Result: res})
	})
}

// IdempotencyKeyHeader is the header that makes signal and start routes safe to retry.
const IdempotencyKeyHeader = "Idempotency-Key"

// IdempotencyKey reads and checks the Idempotency-Key header ("" when absent).
func IdempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get(IdempotencyKeyHeader)
	if k == "" {
		return "", nil
	}
	if len(k) > 256 {
		return "", fmt.Errorf("%s is longer than 256 characters", IdempotencyKeyHeader)
	}
	for _, c := range k {
		if c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%s holds a control character", IdempotencyKeyHeader)
		}
	}
	return k, nil
}

// SignalError maps a SignalEntity error: bad keys and unknown entities are the
// caller's fault (400/404); anything else is storage trouble worth retrying (503).
func SignalError(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, engine.ErrUnknownEntity):
		httpx.Errorf(w, http.StatusNotFound, "could not signal %s: %v", what, err)
	case errors.Is(err, engine.ErrPayloadTooLarge):
		httpx.Errorf(w, http.StatusRequestEntityTooLarge, "could not signal %s: %v", what, err)
	case errors.Is(err, engine.ErrInvalidKey):
		httpx.Errorf(w, http.StatusBadRequest, "could not signal %s: %v", what, err)
	default:
		httpx.Errorf(w, http.StatusServiceUnavailable, "could not signal %s: %v", what, err)
	}
}

// StartAndRespond starts orchestrator with input (JSON-encoded), honouring
// Idempotency-Key (StartFromRequest), and answers as DF's starters do: 202 +
// Location + the check-status body, or the mapped error.
func StartAndRespond(w http.ResponseWriter, r *http.Request, hub *engine.Hub, orchestrator string, input any) {
	in, err := json.Marshal(input)
	if err != nil {
		httpx.Errorf(w, http.StatusInternalServerError, "orchestration input is not JSON-serialisable: %v", err)
		return
	}
	if id, ok := StartFromRequest(w, r, hub, orchestrator, in); ok {
		WriteStarted(w, r, id)
	}
}

// CatchAllSegments splits a catch-all route value ({*path}) into its non-empty segments.
func CatchAllSegments(r *http.Request, name string) []string {
	var segs []string
	for _, s := range strings.Split(mux.Vars(r)[name], "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	return segs
}
