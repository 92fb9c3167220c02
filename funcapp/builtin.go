package funcapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/httpapi"
)

// StarterRoute is the route of Durable Functions' generic HTTP starter.
const StarterRoute = "orchestrators/{name}/{instanceId?}"

// Starter is Durable Functions' generic HTTP starter, for Route{Path: StarterRoute,
// Methods: []string{"POST"}}: POST /api/orchestrators/{name}[/{instanceId}] with the
// body as input answers 202 with the check-status body. It starts only the
// orchestrators listed: anyone holding the route's key could otherwise start any
// orchestrator of the app (a money transfer, say). Others get the same 404 as an
// unknown name, so names do not leak. Idempotency-Key is honoured.
func Starter(orchestrators ...string) func(durable.Client) http.Handler {
	allowed := map[string]bool{}
	for _, o := range orchestrators {
		allowed[strings.ToLower(o)] = true
	}
	return func(c durable.Client) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name := PathValue(r, "name")
			if !allowed[strings.ToLower(name)] {
				WriteError(w, fmt.Errorf("%w %q", durable.ErrUnknownOrchestrator, name))
				return
			}
			input, err := ReadJSON(r, httpapi.MaxInput)
			if errors.Is(err, ErrBadJSON) {
				WriteErrorf(w, http.StatusBadRequest, "request body must be JSON (it becomes the orchestration input)")
				return
			}
			if err != nil {
				WriteError(w, err)
				return
			}
			key, err := IdempotencyKey(r)
			if err != nil {
				WriteErrorf(w, http.StatusBadRequest, "%v", err)
				return
			}
			var in any
			if len(input) > 0 {
				in = input
			}
			id, err := c.StartNew(r.Context(), name, in, &durable.StartOptions{InstanceID: PathValue(r, "instanceId"), IdempotencyKey: key})
			if err != nil {
				WriteError(w, err)
				return
			}
			c.WriteCheckStatus(w, r, id)
		})
	}
}

// PublicStatus answers GET .../{id} with the instance's id, status and result only —
// never its input, history, management URLs or keys — so it can be anonymous. An
// unknown id answers 404 {"error": "Job not found"} (the async HTTP API sample's
// text); an id that cannot exist (not UTF-8, too long) 400.
func PublicStatus() func(durable.Client) http.Handler {
	return func(c durable.Client) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := PathValue(r, "id")
			s, err := c.GetStatus(r.Context(), id, nil)
			if err != nil {
				if errors.Is(err, durable.ErrInstanceNotFound) {
					WriteErrorf(w, http.StatusNotFound, "Job not found")
					return
				}
				WriteError(w, err)
				return
			}
			res := s.Output
			if len(res) == 0 {
				res = json.RawMessage("null")
			}
			if s.RuntimeStatus == durable.StatusFailed && s.Failure != nil {
				res, _ = json.Marshal("failed: " + s.Failure.ErrorMessage)
			}
			WriteJSON(w, http.StatusOK, struct {
				ID     string          `json:"id"`
				Status string          `json:"status"`
				Result json.RawMessage `json:"result"`
			}{id, string(s.RuntimeStatus), res})
		})
	}
}
