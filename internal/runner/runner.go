// Package runner invokes the app's functions the two ways they can be triggered:
// under the Functions host (invocation requests on /<FunctionName>, forwarded HTTP
// requests) and standalone (HTTP routes served and queues polled by this process,
// read from the same host.json and function.json files). Both paths call the same
// function code.
package runner

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/durablego/durablefunctions/internal/auth"
	"github.com/durablego/durablefunctions/internal/funcmeta"
	"github.com/durablego/durablefunctions/internal/httpx"
	"github.com/gorilla/mux"
)

// QueueFunc handles one queue message's text (already decoded from base64 if the app
// uses that encoding). A returned error makes the message retry; wrap ErrPoison to
// send it to the poison queue at once.
type QueueFunc func(ctx context.Context, msg []byte) error

// TimerFunc runs on a timer trigger's schedule.
type TimerFunc func(ctx context.Context) error

// ErrPoison marks a message that can never succeed.
var ErrPoison = errors.New("poison message")

// Functions is the app's code, keyed by function folder name (case-insensitive).
type Functions struct {
	HTTP  map[string]http.Handler
	Queue map[string]QueueFunc
	Timer map[string]TimerFunc
}

func lookup[T any](m map[string]T, name string) (T, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// Check verifies that every function folder has code and every piece of code a folder.
func (fs Functions) Check(app *funcmeta.App) error {
	var errs []error
	for _, f := range app.Functions {
		var ok bool
		switch {
		case f.IsHTTP():
			_, ok = lookup(fs.HTTP, f.Name)
		case f.IsQueue():
			_, ok = lookup(fs.Queue, f.Name)
		case f.IsTimer():
			_, ok = lookup(fs.Timer, f.Name)
		default:
			errs = append(errs, fmt.Errorf("function %s: trigger %q is not supported by this handler", f.Name, f.Trigger.Type))
			continue
		}
		if !ok {
			errs = append(errs, fmt.Errorf("function folder %s (%s) has no Go implementation registered", f.Name, f.Trigger.Type))
		}
	}
	return errors.Join(errs...)
}

// decodeQueueText undoes the message encoding host.json configures.
func decodeQueueText(app *funcmeta.App, text string) ([]byte, error) {
	if strings.EqualFold(app.Host.Queues.MessageEncoding, "none") {
		return []byte(text), nil
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%w: message is not base64 (host.json messageEncoding is base64)", ErrPoison)
	}
	return b, nil
}

// routeOptions decide whether routes check keys (standalone) or trust the host.
type routeOptions struct {
	keys    *auth.Keys // nil: no key checks (the host enforced them)
	log     *slog.Logger
	appOnly bool
}

// appRouter builds the mux router of every HTTP function's routes.
func appRouter(app *funcmeta.App, fs Functions, o routeOptions) (*mux.Router, error) {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		httpx.Errorf(w, http.StatusNotFound, "no route for %s %s", req.Method, req.URL.Path)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		httpx.Errorf(w, http.StatusMethodNotAllowed, "method %s is not allowed on %s", req.Method, req.URL.Path)
	})
	for _, f := range app.Functions {
		if !f.IsHTTP() || f.Disabled {
			continue
		}
		h, ok := lookup(fs.HTTP, f.Name)
		if !ok {
			return nil, fmt.Errorf("function %s has no HTTP implementation", f.Name)
		}
		templates, err := funcmeta.MuxTemplates(app.Host.RoutePrefix, f.Trigger.Route)
		if err != nil {
			return nil, fmt.Errorf("function %s route %q: %w", f.Name, f.Trigger.Route, err)
		}
		level, err := auth.ParseLevel(f.Trigger.AuthLevel)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", f.Name, err)
		}
		handler := h
		if o.keys != nil {
			handler = requireKey(o.keys, f.Name, level, h)
		}
		handler = withRoutePrefix(app.Host.RoutePrefix, handler)
		for _, tpl := range templates {
			route := r.Handle(tpl, handler)
			if len(f.Trigger.Methods) > 0 {
				methods := make([]string, len(f.Trigger.Methods))
				for i, m := range f.Trigger.Methods {
					methods[i] = strings.ToUpper(m)
				}
				route.Methods(methods...)
			}
		}
	}
	return r, nil
}

// requireKey enforces authLevel as the host does.
func requireKey(keys *auth.Keys, function string, level auth.Level, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := keys.Authorize(r, function, level)
		if err != nil || !d.Allowed {
			httpx.Error(w, http.StatusUnauthorized, "a valid function key is required (x-functions-key header or code query parameter)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

type prefixCtxKey struct{}

// withRoutePrefix tells handlers the route prefix they are served under, so that URLs
// they hand out (check-status URLs) point where the app really serves.
func withRoutePrefix(prefix string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), prefixCtxKey{}, prefix)))
	})
}

// RoutePrefix is host.json's extensions.http.routePrefix of the app serving r
// (funcmeta.DefaultRoutePrefix outside an app route).
func RoutePrefix(r *http.Request) string {
	if v, ok := r.Context().Value(prefixCtxKey{}).(string); ok {
		return v
	}
	return funcmeta.DefaultRoutePrefix
}

// SettingTrustForwardedHeaders enables X-Forwarded-Host and X-Forwarded-Proto.
const SettingTrustForwardedHeaders = "DURABLE_TRUST_FORWARDED_HEADERS"

type forwardedCtxKey struct{}

// TrustForwardedHeaders marks the requests next serves as coming through a proxy
// whose X-Forwarded-Host and X-Forwarded-Proto headers are to be believed (trust).
// Without it anyone can send those headers, and URLs built from them (check-status
// URLs, which carry the instance's link token) would point to a host of the caller's
// choosing. Under the host, the invocation's request inherits the
// mark through its context.
func TrustForwardedHeaders(trust bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), forwardedCtxKey{}, trust)))
	})
}

// ForwardedHeadersTrusted reports whether r's forwarding headers may be believed.
func ForwardedHeadersTrusted(r *http.Request) bool {
	v, _ := r.Context().Value(forwardedCtxKey{}).(bool)
	return v
}
