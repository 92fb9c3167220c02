// Package counter is the Durable Functions counter recipe: an entity holding a number
// (operations add, reset, get, delete; add and reset answer the new value, get the
// current one, and any other operation the result {"error": "Unsupported operation:
// X"}) and its HTTP API:
//
//	POST /api/counter/add?value=3   (or body {"value": 3}; default 1)
//	POST /api/counter/reset
//	POST /api/counter/{operation}   signals any operation (a JSON body is its input)
//	GET  /api/counter               -> {"value": 5}
//	and the same under /api/counter/{key}/... for any entity key.
package counter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/funcapp"
	"github.com/durablego/durablefunctions/handler/apps/checked"
)

// EntityName is the entity's name: its function folder's name.
const EntityName = "counter_entity"

// DefaultKey is the entity key the routes without a key address.
const DefaultKey = "counter"

// Entity is the counter's operations.
func Entity(ctx durable.EntityContext) error {
	var value int64
	if err := ctx.GetState(&value); err != nil {
		return fmt.Errorf("counter state: %w", err)
	}
	switch strings.ToLower(ctx.Operation()) {
	case "add":
		// No input, or null, adds 1 (as the recipe's amount defaults), whoever signals.
		var n *int64
		if err := ctx.GetInput(&n); err != nil {
			return fmt.Errorf("add needs an integer input: %w", err)
		}
		amount := int64(1)
		if n != nil {
			amount = *n
		}
		sum, err := checked.Add("counter", value, amount)
		if err != nil {
			return err
		}
		return setAndAnswer(ctx, sum)
	case "reset":
		return setAndAnswer(ctx, 0)
	case "get":
		return ctx.SetResult(value)
	case "delete":
		ctx.DeleteState()
		return nil
	default:
		// The recipe's answer, not a failure: the state is left as it is.
		return ctx.SetResult(map[string]string{"error": "Unsupported operation: " + ctx.Operation()})
	}
}

// setAndAnswer stores v and makes it the operation's result.
func setAndAnswer(ctx durable.EntityContext, v int64) error {
	if err := ctx.SetState(v); err != nil {
		return err
	}
	return ctx.SetResult(v)
}

// Register adds the entity to reg.
func Register(reg *durable.Registry) { reg.AddEntity(EntityName, Entity) }

// HTTP serves the counter routes (function folder counter_api, route counter/{*path}).
func HTTP(c durable.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		segs := funcapp.PathSegments(r, "path")
		key, op := DefaultKey, ""
		switch r.Method {
		case http.MethodGet:
			switch len(segs) {
			case 0:
			case 1:
				key = segs[0]
			default:
				funcapp.WriteErrorf(w, http.StatusNotFound, "no route for GET %s: use /api/counter or /api/counter/{key}", r.URL.Path)
				return
			}
			read(w, r, c, key)
			return
		case http.MethodPost:
			switch len(segs) {
			case 1:
				op = segs[0]
			case 2:
				key, op = segs[0], segs[1]
			default:
				funcapp.WriteErrorf(w, http.StatusNotFound, "no route for POST %s: use /api/counter/{add|reset} or /api/counter/{key}/{add|reset}", r.URL.Path)
				return
			}
		default:
			funcapp.WriteErrorf(w, http.StatusMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path)
			return
		}
		var input json.RawMessage
		var err error
		switch strings.ToLower(op) {
		case "add":
			op = "add"
			input, err = addValue(r)
		case "reset":
			op = "reset"
		default:
			// Any other operation goes to the entity as it is, as in the recipe; the
			// entity answers what it does not support.
			input, err = opInput(r)
		}
		if err != nil {
			if errors.Is(err, funcapp.ErrTooLarge) {
				funcapp.WriteError(w, err)
				return
			}
			funcapp.WriteErrorf(w, http.StatusBadRequest, "%v", err)
			return
		}
		id := durable.NewEntityID(EntityName, key)
		if !funcapp.Signal(c, w, r, id, op, input) {
			return
		}
		resp := map[string]any{"entity": id.String(), "key": key, "operation": op, "status": "accepted",
			"message": fmt.Sprintf("Signaled '%s' operation for durable entity '%s'.", op, EntityName)}
		if input != nil {
			resp["value"] = input
		}
		funcapp.WriteJSON(w, http.StatusAccepted, resp)
	})
}

// addValue reads the amount to add, JSON-encoded: ?value=, else {"value": n}, else
// none (the entity then adds 1).
func addValue(r *http.Request) (json.RawMessage, error) {
	if q, ok := r.URL.Query()["value"]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(q[0]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("value must be an integer, got %q", q[0])
		}
		return json.Marshal(n)
	}
	body, err := funcapp.ReadBody(r, 64<<10)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	// Strict: {"valeu": 5} or {"value": "5"} is a mistake to report, not an add of 1.
	var in struct {
		Value *int64 `json:"value"`
	}
	if err := funcapp.UnmarshalJSON(body, &in); err != nil {
		return nil, fmt.Errorf(`body must be JSON like {"value": 3} with a whole number: %v`, err)
	}
	if in.Value == nil {
		return nil, nil
	}
	return json.Marshal(*in.Value)
}

// opInput is the input of another operation: the body when there is one, which must
// be JSON.
func opInput(r *http.Request) (json.RawMessage, error) {
	body, err := funcapp.ReadBody(r, 64<<10)
	if err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	if !json.Valid(body) {
		return nil, errors.New("the body must be JSON (it becomes the operation's input)")
	}
	return body, nil
}

func read(w http.ResponseWriter, r *http.Request, c durable.Client, key string) {
	snap, err := c.ReadEntity(r.Context(), durable.NewEntityID(EntityName, key))
	if err != nil {
		funcapp.WriteError(w, err)
		return
	}
	var value int64
	if snap.Exists {
		if err := json.Unmarshal(snap.State, &value); err != nil {
			funcapp.WriteErrorf(w, http.StatusInternalServerError, "counter state is corrupt: %v", err)
			return
		}
	}
	funcapp.WriteJSON(w, http.StatusOK, map[string]int64{"value": value})
}
