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

// BaseURL is the scheme and host the caller used. The forwarding headers a front end
// sets (X-Forwarded-Proto, X-Forwarded-Host) count only where the app trusts them
// (runner.TrustForwardedHeaders, setting DURABLE_TRUST_FORWARDED_HEADERS): anyone can
// send them. A request rebuilt from a host invocation keeps the host's scheme.
func BaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if r.URL != nil && (r.URL.Scheme == "http" || r.URL.Scheme == "https") {
		scheme = r.URL.Scheme
	}
	host := r.Host
	if runner.ForwardedHeadersTrusted(r) {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			scheme = p
		}
		if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
			host = strings.TrimSpace(strings.Split(fh, ",")[0])
		}
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

// StartError maps a StartOrchestration error to an HTTP answer: the caller's mistakes
// get 4xx with the reason; storage trouble a generic 503/500 (WriteError).
func StartError(w http.ResponseWriter, err error) { WriteError(w, nil, err) }

// StarterOptions configure Start.
type StarterOptions struct {
	// Orchestrators lists (case-insensitively) the orchestrators the public starter
	// may start. A function key meant for starting jobs must not start everything
	// the app registers (a money transfer, say): any other name, registered or not,
	// gets the same 404 as an unknown one, so the names of the others do not leak.
	// Empty: none. The management API (master key) can start every orchestrator.
	Orchestrators []string
}

// Start serves POST /api/orchestrators/{name}[/{instanceId}] with the body as input,
// for the orchestrators opts allows.
func Start(hub *engine.Hub, opts *StarterOptions) http.Handler {
	allowed := map[string]bool{}
	if opts != nil {
		for _, n := range opts.Orchestrators {
			allowed[strings.ToLower(n)] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vars := mux.Vars(r)
		if !allowed[strings.ToLower(vars["name"])] {
			// Word for word what the engine says of an unknown name.
			StartError(w, fmt.Errorf("%w %q", engine.ErrUnknownOrchestrator, vars["name"]))
			return
		}
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
// history, management URLs or keys. An id that cannot exist (not UTF-8, too long)
// gets 400 without touching storage.
func Status(hub *engine.Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["id"]
		s, err := hub.GetStatus(r.Context(), id, nil)
		switch {
		case errors.Is(err, engine.ErrInstanceNotFound):
			httpx.Error(w, http.StatusNotFound, "Job not found")
			return
		case err != nil:
			WriteError(w, r, err)
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

// SignalError maps a SignalEntity (or ReadEntity) error: bad keys, unknown entities
// and oversize inputs are the caller's fault (400/404/413, with what); storage trouble
// gets a generic 503 + Retry-After (or 500), its details logged only.
func SignalError(w http.ResponseWriter, what string, err error) {
	if code := StatusOf(err); code != 0 {
		httpx.Errorf(w, code, "could not signal %s: %v", what, err)
		return
	}
	WriteInternalError(w, nil, err)
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
