// Package httpx holds the small HTTP helpers every route shares, so that all errors
// look the same to users: a status code and {"error": "..."}.
package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"response could not be encoded"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Error answers {"error": msg} with status.
func Error(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}

// Errorf is Error with formatting.
func Errorf(w http.ResponseWriter, status int, format string, args ...any) {
	Error(w, status, fmt.Sprintf(format, args...))
}

// MaxBody is the default request body limit of app routes.
const MaxBody = 1 << 20

// ErrTooLarge is returned by ReadBody when the body exceeds the limit.
var ErrTooLarge = errors.New("request body too large")

// ErrBusy is returned by a request body when the server holds as many body bytes as
// it allows (runner.ServerOptions.MaxBodyBytesInFlight): the caller should retry.
var ErrBusy = errors.New("the server is busy with other large requests; retry later")

// ErrBodyTimeout is returned by a request body that did not arrive in time.
var ErrBodyTimeout = errors.New("request body was not received in time")

// RetryAfterBusy is the Retry-After (seconds) of answers to ErrBusy.
const RetryAfterBusy = "2"

// ReadBody reads at most limit bytes of the body.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, r.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// BodyError answers the right status for an error from ReadBody.
func BodyError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrTooLarge):
		Error(w, http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, ErrBusy):
		w.Header().Set("Retry-After", RetryAfterBusy)
		Error(w, http.StatusServiceUnavailable, ErrBusy.Error())
	case errors.Is(err, ErrBodyTimeout):
		w.Header().Set("Connection", "close")
		Error(w, http.StatusRequestTimeout, ErrBodyTimeout.Error())
	default:
		Errorf(w, http.StatusBadRequest, "could not read request body: %v", err)
	}
}

// Recover turns a panic in next into a 500 with a JSON body; the panic is logged
// with its stack, never shown to the caller.
func Recover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				Error(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// ErrBadJSON is returned by DecodeStrict and ReadJSON for bodies that are not the JSON
// the route expects.
var ErrBadJSON = errors.New("bad JSON")

// DecodeStrict reads at most limit bytes and decodes them into v, refusing unknown
// fields, so a typo in a field name is an error rather than a silent zero, and
// anything after the JSON value.
func DecodeStrict(r *http.Request, limit int64, v any) error {
	body, err := ReadBody(r, limit)
	if err != nil {
		return err
	}
	return UnmarshalStrict(body, v)
}

// UnmarshalStrict decodes exactly one JSON value from body into v with no unknown
// fields and nothing but white space after it (ErrBadJSON otherwise).
func UnmarshalStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: the body is empty", ErrBadJSON)
		}
		return fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: unexpected data after the JSON value", ErrBadJSON)
	}
	return nil
}

// ReadJSON reads an optional JSON body (an orchestration input, an event payload):
// nil when empty, ErrBadJSON when not JSON.
func ReadJSON(r *http.Request, limit int64) (json.RawMessage, error) {
	body, err := ReadBody(r, limit)
	if err != nil {
		return nil, err
	}
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return nil, nil
	}
	if !json.Valid(b) {
		return nil, ErrBadJSON
	}
	return b, nil
}
