package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/durablego/durablefunctions/internal/funcmeta"
	"github.com/durablego/durablefunctions/internal/hostproto"
	"github.com/durablego/durablefunctions/internal/httpx"
)

// maxInvocationBytes bounds an invocation request: queue messages are at most 64 KiB
// and HTTP bodies are limited by the app routes, so 16 MiB is generous.
const maxInvocationBytes = 16 << 20

// HostHandler serves the Functions host: POST /<FunctionName> invocation requests for
// every trigger, and forwarded HTTP requests (enableForwardingHttpRequest) on the app
// routes. Keys are not checked here: the host has already enforced authLevel. onPoison
// (optional) records the reason when a queue message fails its last attempt, since
// the host moves it to the poison queue without one.
func HostHandler(app *funcmeta.App, fs Functions, log *slog.Logger, onPoison PoisonFunc) (http.Handler, error) {
	routes, err := appRouter(app, fs, routeOptions{log: log})
	if err != nil {
		return nil, err
	}
	names := map[string]*funcmeta.Function{}
	for _, f := range app.Functions {
		names[strings.ToLower(f.Name)] = f
	}
	errs := &lastErrors{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.Trim(r.URL.Path, "/")
		f, isInvocation := names[strings.ToLower(name)]
		if !isInvocation || r.Method != http.MethodPost || r.Header.Get("X-Azure-Functions-InvocationId") == "" && !looksLikeInvocation(r) {
			routes.ServeHTTP(w, r) // a forwarded HTTP request
			return
		}
		invokeFromHost(w, r, app, f, fs, routes, log, onPoison, errs)
	})
	return httpx.Recover(log, h), nil
}

// looksLikeInvocation accepts invocations without the host's header (tests, tools)
// when the path names a function and the body is JSON.
func looksLikeInvocation(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}

func invokeFromHost(w http.ResponseWriter, r *http.Request, app *funcmeta.App, f *funcmeta.Function, fs Functions, routes http.Handler, log *slog.Logger, onPoison PoisonFunc, errs *lastErrors) {
	req, err := hostproto.DecodeInvocation(r.Body, maxInvocationBytes)
	if err != nil {
		// A non-2xx answer fails the invocation; the host retries it.
		_ = hostproto.WriteResponse(w, http.StatusBadRequest, &hostproto.InvocationResponse{Logs: []string{"bad invocation request: " + err.Error()}})
		return
	}
	ctx := r.Context()
	resp := &hostproto.InvocationResponse{Outputs: map[string]any{}}
	switch {
	case f.IsHTTP():
		hreq, err := req.HTTPRequest(ctx, f.Trigger.Name)
		if err != nil {
			out := hostproto.HTTPOutputFrom(http.StatusBadRequest, http.Header{"Content-Type": {"application/json"}}, []byte(fmt.Sprintf(`{"error":%q}`, err.Error())))
			resp.Outputs[httpOutputName(f)] = out
			_ = hostproto.WriteResponse(w, http.StatusOK, resp)
			return
		}
		rec := httptest.NewRecorder()
		routes.ServeHTTP(rec, hreq)
		resp.Outputs[httpOutputName(f)] = hostproto.HTTPOutputFromRecorder(rec)
		_ = hostproto.WriteResponse(w, http.StatusOK, resp)
	case f.IsQueue():
		fn, _ := lookup(fs.Queue, f.Name)
		var body []byte
		if f.Trigger.DataType == "binary" {
			body, err = req.PayloadBinary(f.Trigger.Name)
		} else {
			body, err = req.Payload(f.Trigger.Name)
		}
		info := req.QueueInfo()
		maxDequeue := int64(app.Host.Queues.MaxDequeueCount)
		if maxDequeue <= 0 {
			maxDequeue = funcmeta.DefaultMaxDequeueCount
		}
		if err == nil {
			err = fn(withDelivery(ctx, Delivery{Queue: f.Trigger.QueueName, MessageID: info.ID, DequeueCount: info.DequeueCount,
				MaxDequeueCount: maxDequeue, LastError: errs.get(info.ID)}), body)
		}
		errs.set(info.ID, err)
		if err != nil {
			log.Warn("queue invocation failed", "function", f.Name, "message", info.ID, "dequeueCount", info.DequeueCount, "err", err)
			if onPoison != nil && info.DequeueCount >= maxDequeue {
				reason := fmt.Sprintf("failed %d times (maxDequeueCount %d), last error: %v", info.DequeueCount, maxDequeue, err)
				if errors.Is(err, ErrPoison) {
					reason = poisonReason(err)
				}
				errs.set(info.ID, nil)
				onPoison(ctx, f.Trigger.QueueName, info.ID, string(body), reason)
			}
			// The host retries the message, and moves it to <queue>-poison after
			// maxDequeueCount attempts; a poison error cannot do better than that here.
			_ = hostproto.WriteResponse(w, http.StatusInternalServerError, &hostproto.InvocationResponse{Logs: []string{err.Error()}})
			return
		}
		_ = hostproto.WriteResponse(w, http.StatusOK, resp)
	case f.IsTimer():
		fn, _ := lookup(fs.Timer, f.Name)
		if err := fn(ctx); err != nil {
			_ = hostproto.WriteResponse(w, http.StatusInternalServerError, &hostproto.InvocationResponse{Logs: []string{err.Error()}})
			return
		}
		_ = hostproto.WriteResponse(w, http.StatusOK, resp)
	default:
		_ = hostproto.WriteResponse(w, http.StatusNotImplemented, &hostproto.InvocationResponse{Logs: []string{"unsupported trigger " + f.Trigger.Type}})
	}
}

func httpOutputName(f *funcmeta.Function) string {
	for _, b := range f.Outputs() {
		if strings.EqualFold(b.Type, funcmeta.TypeHTTP) {
			return b.Name
		}
	}
	return "res"
}

// invokeQueue is the standalone path's entry into a queue function (shared with the
// poller so both paths run the same decode and dispatch).
func invokeQueue(ctx context.Context, app *funcmeta.App, f *funcmeta.Function, fs Functions, text string, d Delivery) error {
	ctx = withDelivery(ctx, d)
	fn, ok := lookup(fs.Queue, f.Name)
	if !ok {
		return fmt.Errorf("%w: no implementation for %s", ErrPoison, f.Name)
	}
	body, err := decodeQueueText(app, text)
	if err != nil {
		return err
	}
	if f.Trigger.DataType != "binary" {
		body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	}
	return fn(ctx, body)
}

// poisonReason is the reason an ErrPoison error gives, without the sentinel's prefix.
func poisonReason(err error) string {
	return strings.TrimPrefix(err.Error(), ErrPoison.Error()+": ")
}
