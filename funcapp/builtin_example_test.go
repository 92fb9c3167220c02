package funcapp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
	"github.com/durablego/durablefunctions/funcapp"
)

func exampleRegistry() *durable.Registry {
	reg := durable.NewRegistry()
	reg.AddOrchestrator("hello", func(ctx durable.OrchestrationContext) (any, error) {
		var name string
		err := ctx.GetInput(&name)
		return "Hello " + name, err
	})
	reg.AddOrchestrator("transfer", func(ctx durable.OrchestrationContext) (any, error) { return nil, nil })
	return reg
}

// The generic starter, tested with durabletest's in-memory client: an http.ServeMux
// pattern supplies the route parameters that funcapp.PathValue reads.
func ExampleStarter() {
	c := durabletest.New(exampleRegistry()).Client()
	mux := http.NewServeMux()
	mux.Handle("POST /api/orchestrators/{name}", funcapp.Starter("hello")(c)) // not "transfer"

	for _, path := range []string{"/api/orchestrators/hello", "/api/orchestrators/transfer"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader(`"Ada"`)))
		if w.Code == http.StatusAccepted {
			fmt.Println(w.Code, w.Header().Get("Location"))
		} else {
			fmt.Print(w.Code, " ", w.Body.String())
		}
	}
	s, _ := c.GetStatus(context.Background(), "instance-1", nil)
	fmt.Println(s.RuntimeStatus, string(s.Output))
	// Output:
	// 202 http://example.com/api/runtime/webhooks/durabletask-links/instances/instance-1?taskHub=TestHubName&connection=Storage
	// 404 {"error":"unknown orchestrator \"transfer\""}
	// Completed "Hello Ada"
}

// PublicStatus shows an instance's id, status and result, and nothing else.
func ExamplePublicStatus() {
	c := durabletest.New(exampleRegistry()).Client()
	id, _ := c.StartNew(context.Background(), "hello", "Grace", nil)
	mux := http.NewServeMux()
	mux.Handle("GET /api/jobs/{id}", funcapp.PublicStatus()(c))

	for _, path := range []string{"/api/jobs/" + id, "/api/jobs/nobody"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Print(w.Code, " ", w.Body.String())
	}
	// Output:
	// 200 {"id":"instance-1","status":"Completed","result":"Hello Grace"}
	// 404 {"error":"Job not found"}
}

// StartAndRespond in an app's own route: a retry with the same Idempotency-Key names
// the same instance instead of starting another.
func ExampleStartAndRespond() {
	c := durabletest.New(exampleRegistry()).Client()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		funcapp.StartAndRespond(c, w, r, "hello", "Linus")
	})
	for range 2 {
		r := httptest.NewRequest(http.MethodPost, "/api/greetings", nil)
		r.Header.Set(funcapp.IdempotencyKeyHeader, "order-42")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, strings.Contains(w.Body.String(), `"id":"instance-1"`))
	}
	p, _ := c.ListInstances(context.Background(), nil)
	fmt.Println(len(p.Instances), "instance")
	// Output:
	// 202 true
	// 202 true
	// 1 instance
}
