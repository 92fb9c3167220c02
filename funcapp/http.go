package funcapp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/httpapi"
	"github.com/durablego/durablefunctions/internal/httpx"
	"github.com/gorilla/mux"
)

// Helpers for HTTP functions. Errors are JSON bodies {"error": "..."} with the status
// Durable Functions' HTTP API uses for the same condition.

// MaxBody is the default body limit of DecodeJSON and ReadJSON callers.
const MaxBody = httpx.MaxBody

// Body errors, for errors.Is.
var (
	// ErrBadJSON: the body is not the JSON the route expects (unknown field, trailing
	// data, wrong type). Answered with 400.
	ErrBadJSON = httpx.ErrBadJSON
	// ErrTooLarge: the body is over the limit. Answered with 413.
	ErrTooLarge = httpx.ErrTooLarge
)

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) { httpx.WriteJSON(w, status, v) }

// WriteErrorf answers with status and {"error": message}.
func WriteErrorf(w http.ResponseWriter, status int, format string, args ...any) {
	httpx.Error(w, status, fmt.Sprintf(format, args...))
}

// WriteError answers with the status that err calls for: 400 for bad input, 404 for
// unknown instances, orchestrators and entities, 409 for an existing instance, 410
// for a finished one, 412 for one not finished, 413 for a body or payload too large,
// and for anything else a generic error without its details — 503 with Retry-After
// when storage is busy or unreachable, else 500 — with the details logged through
// slog.
func WriteError(w http.ResponseWriter, err error) { httpapi.WriteError(w, nil, err) }

// DecodeJSON decodes r's body into v strictly: one JSON value of v's shape, no unknown
// fields, no trailing data, at most limit bytes (MaxBody when 0). Errors wrap
// ErrBadJSON or ErrTooLarge.
func DecodeJSON(r *http.Request, limit int64, v any) error {
	if limit <= 0 {
		limit = MaxBody
	}
	return httpx.DecodeStrict(r, limit, v)
}

// ReadJSON returns r's body when it is one JSON value (nil when empty), at most limit
// bytes. Errors wrap ErrBadJSON or ErrTooLarge.
func ReadJSON(r *http.Request, limit int64) (json.RawMessage, error) {
	if limit <= 0 {
		limit = MaxBody
	}
	return httpx.ReadJSON(r, limit)
}

// ReadBody reads r's body, at most limit bytes (MaxBody when 0); over it the error
// wraps ErrTooLarge.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = MaxBody
	}
	return httpx.ReadBody(r, limit)
}

// UnmarshalJSON decodes b into v as strictly as DecodeJSON.
func UnmarshalJSON(b []byte, v any) error { return httpx.UnmarshalStrict(b, v) }

// ValidateEntityID reports whether id can be stored (name and key valid UTF-8, not
// too long), so a route can refuse a bad key with 400 before doing anything.
func ValidateEntityID(id durable.EntityID) error { return engine.ValidateEntityID(id) }

// BaseURL is the scheme and host the caller used (forwarding headers only when the
// app trusts them: DURABLE_TRUST_FORWARDED_HEADERS).
func BaseURL(r *http.Request) string { return httpapi.BaseURL(r) }

// Signal signals operation on id with input under the request's Idempotency-Key.
// On failure it has answered the request (400 for a bad key, else WriteError) and
// returns false.
func Signal(c durable.Client, w http.ResponseWriter, r *http.Request, id durable.EntityID, operation string, input any) bool {
	key, err := IdempotencyKey(r)
	if err != nil {
		WriteErrorf(w, http.StatusBadRequest, "%v", err)
		return false
	}
	if err := c.SignalEntity(r.Context(), id, operation, input, &durable.SignalOptions{IdempotencyKey: key}); err != nil {
		WriteError(w, err)
		return false
	}
	return true
}

// Start starts orchestrator with input under the request's Idempotency-Key and
// returns the instance id (the first start's, for a retry). On failure it has
// answered the request and returns false.
func Start(c durable.Client, w http.ResponseWriter, r *http.Request, orchestrator string, input any) (string, bool) {
	key, err := IdempotencyKey(r)
	if err != nil {
		WriteErrorf(w, http.StatusBadRequest, "%v", err)
		return "", false
	}
	id, err := c.StartNew(r.Context(), orchestrator, input, &durable.StartOptions{IdempotencyKey: key})
	if err != nil {
		WriteError(w, err)
		return "", false
	}
	return id, true
}

// IdempotencyKeyHeader makes signal and start routes safe to retry.
const IdempotencyKeyHeader = httpapi.IdempotencyKeyHeader

// IdempotencyKey reads and checks r's Idempotency-Key header ("" when absent); pass
// it in durable.StartOptions or durable.SignalOptions.
func IdempotencyKey(r *http.Request) (string, error) { return httpapi.IdempotencyKey(r) }

// PathValue is a route parameter ("{key}" in Route.Path), decoded. Outside the app's
// router (a unit test calling the handler directly) it falls back to
// r.PathValue(name), so a test sets one with r.SetPathValue, or serves the handler
// from an http.ServeMux pattern.
func PathValue(r *http.Request, name string) string {
	if v, ok := mux.Vars(r)[name]; ok {
		return v
	}
	return r.PathValue(name)
}

// PathSegments splits a catch-all route parameter ("{*path}") into its non-empty
// segments.
func PathSegments(r *http.Request, name string) []string {
	var segs []string
	for _, s := range strings.Split(PathValue(r, name), "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	return segs
}

// StartAndRespond starts orchestrator with input and answers as DF's starters do:
// 202, Location and the check-status body, or the error's status. The request's
// Idempotency-Key, if any, is honoured.
func StartAndRespond(c durable.Client, w http.ResponseWriter, r *http.Request, orchestrator string, input any) {
	if id, ok := Start(c, w, r, orchestrator, input); ok {
		c.WriteCheckStatus(w, r, id)
	}
}
