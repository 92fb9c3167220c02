package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/storage"
)

// storageFailure builds the error the Azure SDK returns for a failed table request:
// its text holds the request URL (account, table, keys) and the raw response.
func storageFailure(t *testing.T, status int) error {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://secretacct.table.core.windows.net/myhubInstances(PartitionKey='x',RowKey='!')", nil)
	resp := &http.Response{StatusCode: status, Status: http.StatusText(status), Request: req, Header: http.Header{"x-ms-error-code": {"InvalidInput"}},
		Body: io.NopCloser(strings.NewReader(`{"odata.error":{"code":"InvalidInput","message":{"value":"0:raw batch response"}}}`))}
	return runtime.NewResponseError(resp)
}

func TestWriteErrorHidesStorageDetails(t *testing.T) {
	for _, c := range []struct {
		name       string
		err        error
		status     int
		retryAfter bool
	}{
		{"storage 503", fmt.Errorf("read: %w", storageFailure(t, http.StatusServiceUnavailable)), http.StatusServiceUnavailable, true},
		{"storage throttled", storageFailure(t, http.StatusTooManyRequests), http.StatusServiceUnavailable, true},
		{"failed batch (202)", &storage.BatchError{Index: 0, Err: storageFailure(t, http.StatusAccepted)}, http.StatusInternalServerError, false},
		{"storage 400", storageFailure(t, http.StatusBadRequest), http.StatusInternalServerError, false},
		{"network", &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 10002}, Err: errors.New("connection refused")}, http.StatusServiceUnavailable, true},
		{"lost every conditional write", fmt.Errorf("commit: %w", storage.ErrConflict), http.StatusServiceUnavailable, true},
		{"bug", errors.New("decode checkpoint of secretacct: unexpected end"), http.StatusInternalServerError, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, httptest.NewRequest("GET", "/api/status/x", nil), c.err)
			body := rec.Body.String()
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, c.status, body)
			}
			if got := rec.Header().Get("Retry-After") != ""; got != c.retryAfter {
				t.Fatalf("Retry-After set %v, want %v", got, c.retryAfter)
			}
			if !strings.HasPrefix(body, `{"error":`) {
				t.Fatalf("body %s is not a JSON error", body)
			}
			for _, leak := range []string{"secretacct", "core.windows.net", "Instances", "raw batch", "10.1.2.3", "InvalidInput"} {
				if strings.Contains(body, leak) {
					t.Fatalf("answer leaks %q: %s", leak, body)
				}
			}
		})
	}
	// The caller's own mistakes keep their reason.
	rec := httptest.NewRecorder()
	WriteError(rec, httptest.NewRequest("GET", "/", nil), fmt.Errorf("%w: instance id is not valid UTF-8", engine.ErrInvalidInstanceID))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "UTF-8") {
		t.Fatalf("invalid id: %d %s", rec.Code, rec.Body)
	}
}
