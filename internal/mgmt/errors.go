package mgmt

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/durablego/durablefunctions/internal/httpapi"
	"github.com/durablego/durablefunctions/internal/httpx"
)

// The management API answers errors in the shapes DF's HttpApiHandler uses, so the DF
// clients (JS, Python, .NET) read them as they read DF's: {"Message": "..."} (DF's
// CreateErrorResponse), with ExceptionMessage and ExceptionType where DF reports an
// exception (the Python client raises a failed start's ExceptionMessage), and a bare
// JSON string where DF answers one (purge by filter without createdTimeFrom). Where DF
// answers an empty body (404, 410) this API still says what is wrong in Message. App
// routes keep their own {"error": "..."}.

// ErrorBody is DF's error answer (HttpRequestMessageExtensions.CreateErrorResponse).
type ErrorBody struct {
	Message          string `json:"Message"`
	ExceptionMessage string `json:"ExceptionMessage,omitempty"`
	ExceptionType    string `json:"ExceptionType,omitempty"`
}

// Messages DF answers on its generic paths.
const (
	msgBadArguments = "One or more of the arguments submitted is incorrect"
	msgSomethingBad = "Something went wrong while processing your request"
	msgInvalidJSON  = "Invalid JSON content"
	msgNoInstance   = "InstanceId does not match a valid orchestration instance."
)

// dfError answers {"Message": msg}.
func dfError(w http.ResponseWriter, status int, msg string) {
	httpx.WriteJSON(w, status, ErrorBody{Message: msg})
}

func dfErrorf(w http.ResponseWriter, status int, format string, args ...any) {
	dfError(w, status, fmt.Sprintf(format, args...))
}

// dfException answers DF's error with an exception: its generic message, and what
// went wrong as ExceptionMessage (typ is the .NET exception DF would name).
func dfException(w http.ResponseWriter, status int, msg, typ string, err error) {
	httpx.WriteJSON(w, status, ErrorBody{Message: msg, ExceptionMessage: err.Error(), ExceptionType: typ})
}

// bodyError answers a failure to read the request body (httpx.BodyError in DF's shape).
func bodyError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, httpx.ErrTooLarge):
		dfError(w, http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, httpx.ErrBusy):
		w.Header().Set("Retry-After", httpx.RetryAfterBusy)
		dfError(w, http.StatusServiceUnavailable, httpx.ErrBusy.Error())
	case errors.Is(err, httpx.ErrBodyTimeout):
		w.Header().Set("Connection", "close")
		dfError(w, http.StatusRequestTimeout, httpx.ErrBodyTimeout.Error())
	default:
		dfErrorf(w, http.StatusBadRequest, "could not read request body: %v", err)
	}
}

// writeError maps engine errors onto DF's status codes. Storage failures get a
// generic answer (503 + Retry-After when transient, else DF's 500 message) and are
// logged: storage URLs, account and table names never reach the caller.
func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errBadRequest):
		dfError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, httpx.ErrTooLarge):
		bodyError(w, err)
	case httpapi.StatusOf(err) == 0 && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		w.Header().Set("Retry-After", httpapi.RetryAfterStorage)
		dfError(w, http.StatusServiceUnavailable, "request cancelled or timed out")
	default:
		code, msg, retry := httpapi.Classify(r, err)
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		if code == http.StatusInternalServerError {
			msg = msgSomethingBad
		}
		dfError(w, code, msg)
	}
}
