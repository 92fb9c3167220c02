package mgmt

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/httpapi"
	"github.com/durablego/durablefunctions/internal/httpx"
)

// EntityPayload is one entity in DF's entity listing (DurableEntityStatus).
type EntityPayload struct {
	EntityID          durable.EntityID `json:"entityId"`
	LastOperationTime string           `json:"lastOperationTime"`
	State             json.RawMessage  `json:"state,omitempty"`
	LockedBy          string           `json:"lockedBy,omitempty"`
}

// entities routes entities[/{name}[/{key}]].
func (a *api) entities(w http.ResponseWriter, r *http.Request, segs []string) {
	switch len(segs) {
	case 0, 1:
		if !allow(w, r, http.MethodGet) {
			return
		}
		name := ""
		if len(segs) == 1 {
			name = segs[0]
		}
		a.listEntities(w, r, name)
	case 2:
		id := durable.EntityID{Name: segs[0], Key: segs[1]} // validated before NewEntityID folds the name
		if err := engine.ValidateEntityID(id); err != nil {
			dfError(w, http.StatusBadRequest, err.Error())
			return
		}
		id = durable.NewEntityID(id.Name, id.Key)
		if !allow(w, r, http.MethodGet, http.MethodPost, http.MethodDelete) {
			return
		}
		switch r.Method {
		case http.MethodGet:
			a.readEntity(w, r, id)
		case http.MethodPost:
			a.signal(w, r, id)
		case http.MethodDelete:
			a.deleteEntity(w, r, id)
		}
	default:
		notFound(w, r)
	}
}

// readEntity serves GET entities/{name}/{key}: the committed state, 404 without state.
func (a *api) readEntity(w http.ResponseWriter, r *http.Request, id durable.EntityID) {
	snap, err := a.hub.ReadEntity(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if !snap.Exists {
		dfErrorf(w, http.StatusNotFound, "entity %s has no state", id)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(bytes.Clone(snap.State), '\n'))
}

// signal serves POST entities/{name}/{key}?op=: a one-way operation, 202. As in DF, a
// body declared application/json must be JSON; a body of another media type is passed
// as a JSON string; an undeclared body is JSON when it parses, else a string. An
// Idempotency-Key header makes a retried signal apply once.
func (a *api) signal(w http.ResponseWriter, r *http.Request, id durable.EntityID) {
	body, err := httpx.ReadBody(r, httpapi.MaxInput)
	if err != nil {
		bodyError(w, err)
		return
	}
	var input json.RawMessage
	if len(bytes.TrimSpace(body)) > 0 {
		isJSON := json.Valid(body)
		ct := r.Header.Get("Content-Type")
		mt := ""
		if ct != "" {
			mt, _, _ = mime.ParseMediaType(ct)
		}
		switch {
		case strings.EqualFold(mt, "application/json") && !isJSON:
			dfError(w, http.StatusBadRequest, "Could not parse JSON content: the request body is not valid JSON")
			return
		case isJSON && (mt == "" || strings.EqualFold(mt, "application/json")):
			input = bytes.TrimSpace(body)
		default:
			input, _ = json.Marshal(string(body))
		}
	}
	key, err := httpapi.IdempotencyKey(r)
	if err != nil {
		dfError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := a.hub.SignalEntity(r.Context(), id, r.URL.Query().Get("op"), input, &engine.SignalOptions{IdempotencyKey: key}); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// deleteEntity serves DELETE entities/{name}/{key}. DF signals a "delete" operation;
// here the state is removed directly (engine.Hub.DeleteEntity), which works for every
// entity whether or not its code implements "delete". 202 as in DF; 409 while a
// critical section holds the entity.
func (a *api) deleteEntity(w http.ResponseWriter, r *http.Request, id durable.EntityID) {
	if _, err := a.hub.DeleteEntity(r.Context(), id); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// listEntities serves GET entities[/{name}] with fetchState, top,
// lastOperationTimeFrom/To, includeDeleted and x-ms-continuation-token paging.
func (a *api) listEntities(w http.ResponseWriter, r *http.Request, name string) {
	q := &engine.EntityQuery{Name: name, Continuation: r.Header.Get(ContinuationHeader)}
	var err error
	if q.IncludeState, err = queryBool(r, "fetchState", false); err == nil {
		if q.IncludeDeleted, err = queryBool(r, "includeDeleted", false); err == nil {
			if q.Top, err = queryInt(r, "top"); err == nil {
				if q.LastModifiedFrom, err = queryTime(r, "lastOperationTimeFrom"); err == nil {
					q.LastModifiedTo, err = queryTime(r, "lastOperationTimeTo")
				}
			}
		}
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	page, err := a.hub.ListEntities(r.Context(), q)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]*EntityPayload, 0, len(page.Entities))
	for _, e := range page.Entities {
		p := &EntityPayload{EntityID: e.ID, LastOperationTime: e.LastModified.UTC().Format(time.RFC3339Nano), LockedBy: e.LockedBy}
		if q.IncludeState {
			p.State = e.State
			if p.State == nil {
				p.State = json.RawMessage("null")
			}
		}
		out = append(out, p)
	}
	if page.Continuation != "" {
		w.Header().Set(ContinuationHeader, page.Continuation)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// cleanEntityStorage serves POST cleanEntityStorage?removeEmptyEntities=&releaseOrphanedLocks=
// (both default true): DF's CleanEntityStorageAsync, which DF offers only as a client
// API.
func (a *api) cleanEntityStorage(w http.ResponseWriter, r *http.Request) {
	removeEmpty, err := queryBool(r, "removeEmptyEntities", true)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	release, err := queryBool(r, "releaseOrphanedLocks", true)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	res, err := a.hub.CleanEntityStorage(r.Context(), &engine.CleanOptions{RemoveEmptyEntities: removeEmpty, ReleaseOrphanedLocks: release})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}
