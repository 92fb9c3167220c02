package scoreboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/funcapp"
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
func HTTP(c durable.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := mux.Vars(r)["key"]
		if key == "" {
			key = DefaultKey
		}
		id := durable.NewEntityID(EntityName, key)
		if err := funcapp.ValidateEntityID(id); err != nil {
			funcapp.WriteErrorf(w, http.StatusBadRequest, "%s", err.Error())
			return
		}
		if r.Method == http.MethodGet {
			snap, err := c.ReadEntity(r.Context(), id)
			if err != nil {
				funcapp.WriteError(w, err)
				return
			}
			board := json.RawMessage("{}")
			if snap.Exists {
				board = snap.State
			}
			funcapp.WriteJSON(w, http.StatusOK, board)
			return
		}
		u := Update{Key: key, Operation: strings.ToLower(r.URL.Query().Get("operation"))}
		switch u.Operation {
		case "add":
			var rec Record
			if err := funcapp.DecodeJSON(r, 64<<10, &rec); err != nil {
				if !errors.Is(err, funcapp.ErrBadJSON) {
					funcapp.WriteError(w, err)
					return
				}
				funcapp.WriteErrorf(w, http.StatusBadRequest, `body must be a record like {"avenger_name": "BlackWidow", "combos_executed": 3, "win": 0} with whole numbers: %v`, err)
				return
			}
			if err := rec.Validate(); err != nil {
				funcapp.WriteErrorf(w, http.StatusBadRequest, "%s", err.Error())
				return
			}
			u.Record = &rec
		case "reset":
		case "":
			funcapp.WriteErrorf(w, http.StatusBadRequest, "%s", "operation query parameter is required (add or reset)")
			return
		default:
			funcapp.WriteErrorf(w, http.StatusBadRequest, "%s", fmt.Sprintf("unknown operation %q (add or reset)", u.Operation))
			return
		}
		funcapp.StartAndRespond(c, w, r, Orchestrator, u)
	})
}
