package circuitbreaker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/funcapp"
	"github.com/gorilla/mux"
)

// maxBody bounds request bodies: every valid one is a few dozen bytes.
const maxBody = 16 << 10

// Status is the GET answer: the state without the timestamps, which callers deciding
// whether to call a dependency do not need.
type Status struct {
	Name          string     `json:"name"`
	State         string     `json:"state"`
	Failures      int        `json:"failures"`
	Threshold     int        `json:"threshold"`
	WindowSeconds int        `json:"windowSeconds"`
	OpenedAt      *time.Time `json:"openedAt,omitempty"`
}

// action is one POST route: the operation it signals and how it turns the request
// body into the operation's input, so bad input is refused before it is queued.
type action struct {
	operation string
	input     func(body []byte, at time.Time) (json.RawMessage, error)
}

var actions = map[string]action{
	"failure":   {"reportFailure", failureInput},
	"success":   {"reportSuccess", noInput},
	"configure": {"configure", configInput},
	"reset":     {"reset", noInput},
}

const actionList = "failure, success, configure or reset"

// HTTP serves the circuit routes (function folder circuit_api, route
// circuit/{name}/{action?}).
func HTTP(c durable.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vars := mux.Vars(r)
		name, verb := vars["name"], strings.ToLower(vars["action"])
		if err := funcapp.ValidateEntityID(durable.NewEntityID(EntityName, name)); err != nil {
			funcapp.WriteErrorf(w, http.StatusBadRequest, "circuit name: %v", err)
			return
		}
		if verb == "" {
			if r.Method != http.MethodGet {
				w.Header().Set("Allow", http.MethodGet)
				funcapp.WriteErrorf(w, http.StatusMethodNotAllowed, "POST needs an action: /api/circuit/%s/{%s}", name, strings.ReplaceAll(actionList, " or ", ", "))
				return
			}
			read(w, r, c, name)
			return
		}
		act, ok := actions[verb]
		if !ok {
			funcapp.WriteErrorf(w, http.StatusNotFound, "circuit has no action %q (POST %s)", vars["action"], actionList)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			funcapp.WriteErrorf(w, http.StatusMethodNotAllowed, "%s /api/circuit/{name}/%s is not allowed: use POST", r.Method, verb)
			return
		}
		body, err := funcapp.ReadBody(r, maxBody)
		if err != nil {
			funcapp.WriteError(w, err)
			return
		}
		input, err := act.input(body, now().UTC())
		if err != nil {
			funcapp.WriteErrorf(w, http.StatusBadRequest, "%s", err.Error())
			return
		}
		id := durable.NewEntityID(EntityName, name)
		if !funcapp.Signal(c, w, r, id, act.operation, json.RawMessage(input)) {
			return
		}
		resp := map[string]any{"name": name, "entity": id.String(), "operation": act.operation, "status": "accepted"}
		if input != nil {
			resp["input"] = input
		}
		funcapp.WriteJSON(w, http.StatusAccepted, resp)
	})
}

func read(w http.ResponseWriter, r *http.Request, c durable.Client, name string) {
	snap, err := c.ReadEntity(r.Context(), durable.NewEntityID(EntityName, name))
	if err != nil {
		funcapp.WriteError(w, err)
		return
	}
	st, err := statusOf(name, snap.Exists, snap.State)
	if err != nil {
		funcapp.WriteErrorf(w, http.StatusInternalServerError, "%s", err.Error())
		return
	}
	funcapp.WriteJSON(w, http.StatusOK, st)
}

// statusOf turns the committed state into the GET answer; a circuit never written to
// is a closed one with the defaults.
func statusOf(name string, exists bool, state json.RawMessage) (Status, error) {
	var c Circuit
	if exists {
		if err := json.Unmarshal(state, &c); err != nil {
			return Status{}, fmt.Errorf("circuit %q state is corrupt: %v", name, err)
		}
	}
	c.applyDefaults()
	return Status{Name: name, State: c.State, Failures: len(c.Failures), Threshold: c.Threshold, WindowSeconds: c.WindowSeconds, OpenedAt: c.OpenedAt}, nil
}

// failureInput stamps a failure without a time with the time of the request, which is
// nearer the failure than the time the entity gets to it.
func failureInput(body []byte, at time.Time) (json.RawMessage, error) {
	var in FailureReport
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeStrict(body, &in); err != nil {
			return nil, fmt.Errorf(`body must be empty or {"at": "<RFC 3339 time>"}: %v`, err)
		}
	}
	if in.At == nil {
		in.At = &at
	}
	return json.Marshal(in)
}

func configInput(body []byte, _ time.Time) (json.RawMessage, error) {
	const want = `body must be {"threshold": 3, "windowSeconds": 60} with positive whole numbers`
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New(want)
	}
	var in Config
	if err := decodeStrict(body, &in); err != nil {
		return nil, fmt.Errorf("%s: %v", want, err)
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(in)
}

// noInput ignores the body of actions that take no input.
func noInput([]byte, time.Time) (json.RawMessage, error) { return nil, nil }

// decodeStrict decodes exactly one JSON value with no unknown fields, so typos such
// as "treshold" are reported instead of silently keeping the old setting.
func decodeStrict(body []byte, v any) error { return funcapp.UnmarshalJSON(body, v) }
