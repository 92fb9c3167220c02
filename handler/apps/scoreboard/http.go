package scoreboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/httpapi"
	"github.com/durablego/durablefunctions/internal/httpx"
	"github.com/gorilla/mux"
)

// Orchestrator is the name of the orchestration that applies an update.
const Orchestrator = "scoreboard_update"

// DefaultKey is the scoreboard the routes without a key address.
const DefaultKey = "scoreboard"

// Update is the orchestration's input.
type Update struct {
	Key       string  `json:"key"`
	Operation string  `json:"operation"`
	Record    *Record `json:"record,omitempty"`
}

// UpdateOrchestration calls the scoreboard entity and returns its new state.
func UpdateOrchestration(ctx durable.OrchestrationContext) (any, error) {
	var u Update
	if err := ctx.GetInput(&u); err != nil {
		return nil, err
	}
	var board map[string]Totals
	err := ctx.CallEntity(durable.NewEntityID(EntityName, u.Key), u.Operation, u.Record).Await(&board)
	return board, err
}

// RegisterOrchestration adds the update orchestration.
func RegisterOrchestration(reg *durable.Registry) {
	reg.AddOrchestrator(Orchestrator, UpdateOrchestration)
}

// HTTP serves POST /api/scoreboard[/{key}]?operation=add|reset (body: the record for
// add) -> 202 + status URLs, and GET /api/scoreboard[/{key}] -> the committed board.
func HTTP(hub *engine.Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := mux.Vars(r)["key"]
		if key == "" {
			key = DefaultKey
		}
		id := durable.NewEntityID(EntityName, key)
		if err := engine.ValidateEntityID(id); err != nil {
			httpx.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		if r.Method == http.MethodGet {
			snap, err := hub.ReadEntity(r.Context(), id)
			if err != nil {
				httpapi.WriteError(w, r, err)
				return
			}
			board := json.RawMessage("{}")
			if snap.Exists {
				board = snap.State
			}
			httpx.WriteJSON(w, http.StatusOK, board)
			return
		}
		u := Update{Key: key, Operation: strings.ToLower(r.URL.Query().Get("operation"))}
		switch u.Operation {
		case "add":
			var rec Record
			if err := httpx.DecodeStrict(r, 64<<10, &rec); err != nil {
				if !errors.Is(err, httpx.ErrBadJSON) {
					httpx.BodyError(w, err)
					return
				}
				httpx.Errorf(w, http.StatusBadRequest, `body must be a record like {"avenger_name": "BlackWidow", "combos_executed": 3, "win": 0} with whole numbers: %v`, err)
				return
			}
			if err := rec.Validate(); err != nil {
				httpx.Error(w, http.StatusBadRequest, err.Error())
				return
			}
			u.Record = &rec
		case "reset":
		case "":
			httpx.Error(w, http.StatusBadRequest, "operation query parameter is required (add or reset)")
			return
		default:
			httpx.Error(w, http.StatusBadRequest, fmt.Sprintf("unknown operation %q (add or reset)", u.Operation))
			return
		}
		httpapi.StartAndRespond(w, r, hub, Orchestrator, u)
	})
}
