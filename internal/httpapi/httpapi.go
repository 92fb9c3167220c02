// Package httpapi serves the durable HTTP functions every app has: starting an
// orchestration (http_start) and the public status route (get_status).
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/appdef"
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

// CheckStatus is the Durable Functions check-status response body, its fields in the
// order of DF's HttpManagementPayload.
type CheckStatus = durable.CheckStatus

// LinksMount is where the instance URLs of check-status bodies are served (below the
// route prefix): the management API's instance routes, admitting a request that
// carries the instance's link token (LinkTokenParam) instead of a key. It is a route
// of its own, beside the management API's catch-all, because under the Functions host
// the host checks keys before the handler sees a request: the management function is
// at authLevel admin, the links function is anonymous and checks the token itself.
const LinksMount = appdef.LinksMount

// LinkTokenParam is the query parameter carrying an instance's link token
// (engine.Hub.InstanceLinkToken).
const LinkTokenParam = "sig"

// ConnectionName is the connection every management URL names, as DF names the
// storage connection of its default provider.
const ConnectionName = "Storage"

// NewCheckStatus builds the management URLs of an instance as DF writes them: the
// instance path, then reason={text} where DF has it and taskHub=<hub>&connection=
// Storage on every URL, placeholders ({eventName}, {text}) literal. Instead of DF's
// system key they carry the instance's link token, which opens the URLs of this one
// instance and nothing else: no key ever goes into a URL, not even for a caller who
// presented the master key. Without a token (storage unreachable, logged) the URLs
// still work for a caller holding the master key.
func NewCheckStatus(r *http.Request, hub *engine.Hub, instanceID string) CheckStatus {
	tok, err := hub.InstanceLinkToken(r.Context(), instanceID)
	if err != nil {
		slog.Warn("check-status URLs without a link token: the app secret is unreadable", "instanceId", instanceID, "err", err)
		tok = ""
	}
	return CheckStatusOf(r, hub.TaskHubName(), tok, instanceID)
}

// CheckStatusOf builds the check-status body of instanceID in taskHub as
// NewCheckStatus does, with the link token token ("" for none). durabletest's
// in-memory client, which has no hub, builds its bodies with it.
func CheckStatusOf(r *http.Request, taskHub, token, instanceID string) CheckStatus {
	mount := LinksMount
	if p := runner.RoutePrefix(r); p != "" {
		mount = "/" + p + mount
	}
	base := BaseURL(r) + mount + "/instances/" + url.PathEscape(instanceID)
	suffix := "taskHub=" + url.QueryEscape(taskHub) + "&connection=" + ConnectionName
	if token != "" {
		suffix += "&" + LinkTokenParam + "=" + token
	}
	return CheckStatus{
		ID:                    instanceID,
		StatusQueryGetURI:     base + "?" + suffix,
		SendEventPostURI:      base + "/raiseEvent/{eventName}?" + suffix,
		TerminatePostURI:      base + "/terminate?reason={text}&" + suffix,
		RewindPostURI:         base + "/rewind?reason={text}&" + suffix,
		PurgeHistoryDeleteURI: base + "?" + suffix,
		RestartPostURI:        base + "/restart?" + suffix,
		SuspendPostURI:        base + "/suspend?reason={text}&" + suffix,
		ResumePostURI:         base + "/resume?reason={text}&" + suffix,
	}
}

// RetryAfterStarted is the Retry-After (seconds) of the check-status 202, as in DF.
const RetryAfterStarted = "10"

// WriteStarted answers 202 with Location, Retry-After and the check-status body, as
// DF's CreateCheckStatusResponse does.
func WriteStarted(w http.ResponseWriter, r *http.Request, hub *engine.Hub, instanceID string) {
	WriteCheckStatus(w, NewCheckStatus(r, hub, instanceID))
}

// WriteCheckStatus answers 202 with cs: Location, Retry-After and the body.
func WriteCheckStatus(w http.ResponseWriter, cs CheckStatus) {
	w.Header().Set("Location", cs.StatusQueryGetURI)
	w.Header().Set("Retry-After", RetryAfterStarted)
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
		WriteStarted(w, r, hub, id)
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
		WriteStarted(w, r, hub, id)
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
