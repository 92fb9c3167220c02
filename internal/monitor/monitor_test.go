package monitor

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	cases := []struct {
		name, method, path string
		rest               string // the route's {*path}
		opts               *Options
		status             int
		mgmt               string
	}{
		{"page", "GET", "/api/monitor", "", nil, 200, "/api/runtime/webhooks/durabletask"},
		{"page with slash", "GET", "/api/monitor/", "", nil, 200, "/api/runtime/webhooks/durabletask"},
		{"index.html", "GET", "/api/monitor/index.html", "index.html", nil, 200, "/api/runtime/webhooks/durabletask"},
		{"head", "HEAD", "/api/monitor", "", nil, 200, ""},
		{"management path option", "GET", "/api/monitor", "", &Options{ManagementPath: "custom/mgmt/"}, 200, "/custom/mgmt"},
		{"no such page", "GET", "/api/monitor/instances/x", "instances/x", nil, 404, ""},
		{"post", "POST", "/api/monitor", "", nil, 405, ""},
		{"delete", "DELETE", "/api/monitor", "", nil, 405, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(c.method, c.path, nil)
			req.SetPathValue("path", c.rest)
			Handler(c.opts).ServeHTTP(rec, req)
			if rec.Code != c.status {
				t.Fatalf("%s %s: %d, want %d (%s)", c.method, c.path, rec.Code, c.status, rec.Body)
			}
			body := rec.Body.String()
			if c.status != 200 {
				if !strings.Contains(body, `"error"`) {
					t.Fatalf("refusal without an error message: %s", body)
				}
				return
			}
			csp := rec.Header().Get("Content-Security-Policy")
			m := regexp.MustCompile(`script-src 'nonce-([^']+)'`).FindStringSubmatch(csp)
			if m == nil || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
				t.Fatalf("CSP %q", csp)
			}
			if rec.Header().Get("Referrer-Policy") != "no-referrer" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("headers %v", rec.Header())
			}
			if c.method == "HEAD" {
				if body != "" {
					t.Fatal("HEAD answered a body")
				}
				return
			}
			// Script and style are inline and carry this response's nonce; the page
			// fetches nothing else.
			if !strings.Contains(body, `<script nonce="`+m[1]+`">`) || !strings.Contains(body, `<style nonce="`+m[1]+`">`) || !strings.Contains(body, "function confirmDialog") {
				t.Fatalf("script or style missing or without the nonce")
			}
			if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(body) {
				t.Fatal("page references an external resource")
			}
			if !strings.Contains(body, `<meta name="mgmt-base" content="`+c.mgmt+`">`) {
				t.Fatalf("management path is not %s", c.mgmt)
			}
		})
	}
	// Each answer has its own nonce.
	a, b := httptest.NewRecorder(), httptest.NewRecorder()
	h := Handler(nil)
	h.ServeHTTP(a, httptest.NewRequest("GET", "/api/monitor", nil))
	h.ServeHTTP(b, httptest.NewRequest("GET", "/api/monitor", nil))
	if a.Header().Get("Content-Security-Policy") == b.Header().Get("Content-Security-Policy") {
		t.Fatal("two answers share a nonce")
	}
}
