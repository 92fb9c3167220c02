package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/httpx"
	"github.com/durablego/durablefunctions/internal/storage"
)

// RetryAfterStorage is the Retry-After (seconds) of answers to transient storage
// failures.
const RetryAfterStorage = "5"

// Generic messages of failures that are not the caller's: storage URLs, account and
// table names and raw service responses go to the log, never into an answer.
const (
	msgUnavailable = "storage is temporarily unavailable; retry later"
	msgInternal    = "internal error"
)

// StatusOf maps an engine error the caller caused to its HTTP status, or 0 when the
// error is not the caller's (storage trouble, a bug).
func StatusOf(err error) int {
	switch {
	case errors.Is(err, engine.ErrInvalidInstanceID), errors.Is(err, engine.ErrInvalidKey), errors.Is(err, engine.ErrInvalidQuery):
		return http.StatusBadRequest
	case errors.Is(err, engine.ErrInstanceNotFound), errors.Is(err, engine.ErrUnknownOrchestrator), errors.Is(err, engine.ErrUnknownEntity):
		return http.StatusNotFound
	case errors.Is(err, engine.ErrInstanceExists), errors.Is(err, engine.ErrEntityLocked):
		return http.StatusConflict
	case errors.Is(err, engine.ErrInstanceFinished):
		return http.StatusGone
	case errors.Is(err, engine.ErrInstanceNotFinished), errors.Is(err, engine.ErrInstanceNotFailed):
		return http.StatusPreconditionFailed
	case errors.Is(err, engine.ErrPayloadTooLarge), errors.Is(err, httpx.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return 0
}

// Transient reports whether err is worth retrying: the storage service was busy or
// failing (5xx, 408, 429), the network broke, a conditional write kept losing, or the
// request ran out of time.
func Transient(err error) bool {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode >= 500 || re.StatusCode == http.StatusRequestTimeout || re.StatusCode == http.StatusTooManyRequests
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, storage.ErrConflict) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// WriteError answers err: the caller's mistakes (StatusOf) with the engine's message;
// anything else with a generic JSON error, 503 + Retry-After when Transient, else 500,
// and the details logged with slog.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if code := StatusOf(err); code == http.StatusRequestEntityTooLarge && errors.Is(err, httpx.ErrTooLarge) {
		httpx.BodyError(w, err)
		return
	}
	code, msg, retry := Classify(r, err)
	if retry != "" {
		w.Header().Set("Retry-After", retry)
	}
	httpx.Error(w, code, msg)
}

// WriteInternalError answers a failure that is not the caller's, without its details
// (r, used for the log, may be nil).
func WriteInternalError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg, retry := classifyInternal(r, err)
	if retry != "" {
		w.Header().Set("Retry-After", retry)
	}
	httpx.Error(w, code, msg)
}

// Classify is what WriteError answers for err, for handlers that write errors in
// another shape (the management API writes DF's): the status, the message and the
// Retry-After (or ""). Failures that are not the caller's are logged here, and their
// message says nothing of storage.
func Classify(r *http.Request, err error) (status int, msg, retryAfter string) {
	if code := StatusOf(err); code != 0 {
		return code, err.Error(), ""
	}
	return classifyInternal(r, err)
}

func classifyInternal(r *http.Request, err error) (status int, msg, retryAfter string) {
	attrs := []any{"err", err}
	if r != nil {
		attrs = append(attrs, "method", r.Method, "path", r.URL.Path)
	}
	if Transient(err) {
		slog.Warn("request failed in storage; answered 503", attrs...)
		return http.StatusServiceUnavailable, msgUnavailable, RetryAfterStorage
	}
	slog.Error("request failed; answered 500", attrs...)
	return http.StatusInternalServerError, msgInternal, ""
}
