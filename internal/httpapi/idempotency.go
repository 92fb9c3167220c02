package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/httpx"
)

// The helpers below are how every route that signals an entity or starts an
// orchestration honours Idempotency-Key, so a client may retry any of them: the same
// key twice applies once (a keyed signal is dropped by the entity's marks, a keyed
// start finds the instance the first one created), different keys apply twice.

// SignalFromRequest signals operation on id with input, under the request's
// Idempotency-Key. On failure it has answered the request (400 for a bad key, else
// as SignalError, naming what) and returns false.
func SignalFromRequest(w http.ResponseWriter, r *http.Request, hub *engine.Hub, id durable.EntityID, operation string, input json.RawMessage, what string) bool {
	key, err := IdempotencyKey(r)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, err.Error())
		return false
	}
	if err := hub.SignalEntity(r.Context(), id, operation, input, &engine.SignalOptions{IdempotencyKey: key}); err != nil {
		SignalError(w, what, err)
		return false
	}
	return true
}

// StartFromRequest starts orchestrator with input under the request's
// Idempotency-Key and returns the instance id (the first start's, for a retry). On
// failure it has answered the request (400 for a bad key, else as StartError) and
// returns false.
func StartFromRequest(w http.ResponseWriter, r *http.Request, hub *engine.Hub, orchestrator string, input json.RawMessage) (string, bool) {
	key, err := IdempotencyKey(r)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	id, _, err := hub.StartOrchestrationWith(r.Context(), orchestrator, "", input, &engine.StartOptions{IdempotencyKey: key})
	if err != nil {
		StartError(w, err)
		return "", false
	}
	return id, true
}
