// Package mgmt serves the Durable Functions HTTP management API (the routes DF exposes
// under /runtime/webhooks/durabletask/) on top of the engine, so that DF's check-status
// URLs, tools and habits work against this handler: instance status, queries, events,
// terminate/suspend/resume/restart, purge, starting orchestrations, and entity signal,
// read and list; plus, beyond DF, the task hub's queue depths and poison messages.
//
// The routes are served by one catch-all HTTP function (folder durable_mgmt, route
// runtime/webhooks/durabletask/{*path}, authLevel admin) and parse the part of the path
// below that mount point, so the handler works under any route prefix.
package mgmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/httpapi"
	"github.com/durablego/durablefunctions/internal/httpx"
	"github.com/gorilla/mux"
)

// MountPath is where DF serves this API; the handler finds its own path below it
// through the route's {path} variable, or this marker when there is none.
const MountPath = "/runtime/webhooks/durabletask"

// ContinuationHeader carries paging tokens in both directions, as in DF.
const ContinuationHeader = "x-ms-continuation-token"

// MaxWait bounds the timeout of start/restart requests that wait for completion: the
// Functions host answers 502 to requests running longer than 230 seconds.
const MaxWait = 220 * time.Second

// retryAfterRunning is DF's Retry-After on 202 status answers: clients that ignore it
// otherwise poll in a tight loop.
const retryAfterRunning = "5"

type api struct {
	hub   *engine.Hub
	log   *slog.Logger
	mount string // MountPath or httpapi.LinksMount
}

// Handler serves the management API for hub.
func Handler(hub *engine.Hub) http.Handler {
	return &api{hub: hub, log: slog.Default().With("component", "mgmt"), mount: MountPath}
}

// LinksHandler serves the URLs of check-status bodies (httpapi.LinksMount): the
// instance routes of this API (status, raiseEvent, terminate, suspend, resume,
// restart, rewind, purge) for a request whose sig parameter is that instance's link
// token, and nothing else. It is meant for a function at authLevel anonymous: the
// token is the credential, so a caller who was handed the URLs can follow them
// without a key, as DF's URLs (which embed its system key) can be followed.
func LinksHandler(hub *engine.Hub) http.Handler {
	a := &api{hub: hub, log: slog.Default().With("component", "mgmt-links"), mount: httpapi.LinksMount}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		segs := a.pathSegments(r)
		if len(segs) < 2 || !strings.EqualFold(segs[0], "instances") {
			notFound(w, r)
			return
		}
		ok, err := hub.CheckInstanceLinkToken(r.Context(), segs[1], r.URL.Query().Get(httpapi.LinkTokenParam))
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if !ok {
			dfErrorf(w, http.StatusUnauthorized, "this URL needs the %s parameter of the check-status URLs of instance %q (or use the management API with the master key)", httpapi.LinkTokenParam, segs[1])
			return
		}
		if a.checkHubParams(w, r) {
			a.instances(w, r, segs[1:])
		}
	})
}

// checkHubParams accepts DF's taskHub and connection query parameters when they name
// what this app serves (case-insensitively, as DF's task hub names are): another task
// hub gets 404, as its instances are not here; another connection 400. Absent is fine.
func (a *api) checkHubParams(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	if h := strings.TrimSpace(q.Get("taskHub")); h != "" && !strings.EqualFold(h, a.hub.TaskHubName()) {
		dfErrorf(w, http.StatusNotFound, "task hub %q is not served here: this app's task hub is %q", h, a.hub.TaskHubName())
		return false
	}
	if c := strings.TrimSpace(q.Get("connection")); c != "" && !strings.EqualFold(c, httpapi.ConnectionName) && !strings.EqualFold(c, "AzureWebJobsStorage") {
		dfErrorf(w, http.StatusBadRequest, "connection %q is not configured: this app's task hub uses the connection %q", c, httpapi.ConnectionName)
		return false
	}
	return true
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs := a.pathSegments(r)
	if !a.checkHubParams(w, r) {
		return
	}
	if len(segs) == 0 {
		dfErrorf(w, http.StatusNotFound, "no management route for %s %s: use instances, orchestrators, entities, taskhub or poison", r.Method, r.URL.Path)
		return
	}
	switch strings.ToLower(segs[0]) {
	case "instances":
		a.instances(w, r, segs[1:])
	case "orchestrators":
		if len(segs) < 2 || len(segs) > 3 {
			notFound(w, r)
			return
		}
		if !allow(w, r, http.MethodPost) {
			return
		}
		id := ""
		if len(segs) == 3 {
			id = segs[2]
		}
		a.start(w, r, segs[1], id)
	case "entities":
		a.entities(w, r, segs[1:])
	case "taskhub":
		a.taskHub(w, r, segs[1:])
	case "poison":
		a.poison(w, r, segs[1:])
	case "cleanentitystorage":
		if len(segs) != 1 {
			notFound(w, r)
			return
		}
		if !allow(w, r, http.MethodPost) {
			return
		}
		a.cleanEntityStorage(w, r)
	default:
		notFound(w, r)
	}
}

func notFound(w http.ResponseWriter, r *http.Request) {
	dfErrorf(w, http.StatusNotFound, "no management route for %s %s", r.Method, r.URL.Path)
}

// allow answers 405 unless r uses one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	dfErrorf(w, http.StatusMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path)
	return false
}

// pathSegments returns the request path below the mount point, one decoded element
// per segment. Segments are cut on the escaped path, so an instance id or entity key
// holding an escaped '/' (%2F) stays one segment: the route's {path} variable is
// decoded and cannot tell those apart.
func (a *api) pathSegments(r *http.Request) []string {
	esc := r.URL.EscapedPath()
	rel, ok := mux.Vars(r)["path"]
	if !ok {
		i := strings.Index(strings.ToLower(esc), a.mount+"/")
		if i < 0 {
			if !strings.HasSuffix(strings.ToLower(esc), a.mount) {
				return nil
			}
			i = len(esc) - len(a.mount)
		}
		return splitEscaped(esc[i+len(a.mount):])
	}
	rel = strings.Trim(rel, "/")
	if rel == "" {
		return nil
	}
	escSegs := strings.Split(strings.Trim(esc, "/"), "/")
	var decoded, raw []string
	for i := len(escSegs) - 1; i >= 0; i-- {
		d, err := url.PathUnescape(escSegs[i])
		if err != nil {
			d = escSegs[i]
		}
		decoded = append([]string{d}, decoded...)
		raw = append([]string{escSegs[i]}, raw...)
		if j := strings.Join(decoded, "/"); j == rel || strings.Join(raw, "/") == rel {
			return decoded
		} else if len(j) > len(rel) {
			break
		}
	}
	return strings.Split(rel, "/")
}

func splitEscaped(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(p, "/") {
		d, err := url.PathUnescape(s)
		if err != nil {
			d = s
		}
		out = append(out, d)
	}
	return out
}

// errBadRequest marks request parsing errors.
var errBadRequest = errors.New("bad request")

func badRequestf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// queryBool reads a boolean query parameter; absent means def.
func queryBool(r *http.Request, name string, def bool) (bool, error) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequestf("query parameter %s must be true or false, got %q", name, v)
	}
	return b, nil
}

// queryInt reads a positive integer query parameter; absent means 0.
func queryInt(r *http.Request, name string) (int, error) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, badRequestf("query parameter %s must be a positive integer, got %q", name, v)
	}
	return n, nil
}

// timeLayouts are the forms DF clients send: ISO 8601 with or without zone (no zone
// means UTC, as the task hub stores UTC), or a date alone.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

// parseTime reads a DF date-time parameter.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, candidate := range []string{s, strings.ReplaceAll(s, " ", "+")} {
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, candidate); err == nil {
				return t.UTC(), nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("not an ISO 8601 date-time: %q", s)
}

// queryTime reads a date-time query parameter; absent means the zero time.
func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if strings.TrimSpace(v) == "" {
		return time.Time{}, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, badRequestf("query parameter %s: %v", name, err)
	}
	return t, nil
}

// queryStatuses reads runtimeStatus: comma-separated, repeatable, case-insensitive.
// "Canceled" is accepted and ignored: DF still lists it but no instance has it.
func queryStatuses(r *http.Request) ([]durable.RuntimeStatus, error) {
	var out []durable.RuntimeStatus
	for _, v := range r.URL.Query()["runtimeStatus"] {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" || strings.EqualFold(s, "Canceled") {
				continue
			}
			st, ok := parseStatus(s)
			if !ok {
				return nil, badRequestf("unknown runtimeStatus %q (want Pending, Running, Completed, ContinuedAsNew, Failed, Terminated or Suspended)", s)
			}
			out = append(out, st)
		}
	}
	return out, nil
}

var allStatuses = []durable.RuntimeStatus{durable.StatusPending, durable.StatusRunning, durable.StatusCompleted,
	durable.StatusContinuedAsNew, durable.StatusFailed, durable.StatusTerminated, durable.StatusSuspended}

func parseStatus(s string) (durable.RuntimeStatus, bool) {
	for _, st := range allStatuses {
		if strings.EqualFold(s, string(st)) {
			return st, true
		}
	}
	return "", false
}

// readJSONBody reads a request body that must be JSON when present. Bodies of another
// declared media type are refused, as DF refuses them for events.
func readJSONBody(r *http.Request) (json.RawMessage, error) {
	body, err := httpx.ReadBody(r, httpapi.MaxInput)
	if err != nil {
		if errors.Is(err, httpx.ErrTooLarge) {
			return nil, err
		}
		return nil, badRequestf("could not read request body: %v", err)
	}
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return nil, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || !strings.EqualFold(mt, "application/json") {
			return nil, badRequestf("only application/json request content is supported, got %q", ct)
		}
	}
	if !json.Valid(b) {
		return nil, badRequestf("request body is not valid JSON")
	}
	return b, nil
}

// formatTime is DF's status time format: seconds, UTC, "Z".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// requestURL is the absolute URL the caller used (DF's Location on 202 status answers).
func requestURL(r *http.Request) string {
	return httpapi.BaseURL(r) + r.URL.RequestURI()
}
