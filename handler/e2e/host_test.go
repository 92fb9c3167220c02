package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func postInvocation(t *testing.T, h http.Handler, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-InvocationId", "5b0f3c2e-0d7a-4a3e-9a55-8f2d7c1e9b10")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type %q, want application/json", path, ct)
	}
	if rec.Body.Len() == 0 {
		t.Fatalf("%s: empty body (the host never completes such an invocation)", path)
	}
	return rec
}
