package funcapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/durablego/durablefunctions/durable"
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
// and 503 with Retry-After for storage trouble (whose details are never shown).
func WriteError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, durable.ErrPayloadTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadJSON), errors.Is(err, durable.ErrInvalidInstanceID), errors.Is(err, durable.ErrInvalidKey), errors.Is(err, durable.ErrInvalidQuery):
		status = http.StatusBadRequest
	case errors.Is(err, durable.ErrInstanceNotFound), errors.Is(err, durable.ErrUnknownOrchestrator), errors.Is(err, durable.ErrUnknownEntity):
		status = http.StatusNotFound
	case errors.Is(err, durable.ErrInstanceExists):
		status = http.StatusConflict
	case errors.Is(err, durable.ErrInstanceFinished):
		status = http.StatusGone
	case errors.Is(err, durable.ErrInstanceNotFinished), errors.Is(err, durable.ErrInstanceNotFailed):
		status = http.StatusPreconditionFailed
	case errors.Is(err, durable.ErrStorage):
		w.Header().Set("Retry-After", "5")
		httpx.Error(w, http.StatusServiceUnavailable, "storage is unavailable; retry later")
		return
	}
	httpx.Error(w, status, err.Error())
}

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

// IdempotencyKeyHeader makes signal and start routes safe to retry.
const IdempotencyKeyHeader = httpapi.IdempotencyKeyHeader

// IdempotencyKey reads and checks r's Idempotency-Key header ("" when absent); pass
// it in durable.StartOptions or durable.SignalOptions.
func IdempotencyKey(r *http.Request) (string, error) { return httpapi.IdempotencyKey(r) }

// PathValue is a route parameter ("{key}" in Route.Path), decoded.
func PathValue(r *http.Request, name string) string { return mux.Vars(r)[name] }

// PathSegments splits a catch-all route parameter ("{*path}") into its non-empty
// segments.
func PathSegments(r *http.Request, name string) []string {
	var segs []string
	for _, s := range strings.Split(mux.Vars(r)[name], "/") {
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
	key, err := IdempotencyKey(r)
	if err != nil {
		WriteErrorf(w, http.StatusBadRequest, "%v", err)
		return
	}
	id, err := c.StartNew(r.Context(), orchestrator, input, &durable.StartOptions{IdempotencyKey: key})
	if err != nil {
		WriteError(w, err)
		return
	}
	c.WriteCheckStatus(w, r, id)
}

func isNotFound(err error) bool {
	return errors.Is(err, durable.ErrInstanceNotFound) || errors.Is(err, durable.ErrInvalidInstanceID)
}
