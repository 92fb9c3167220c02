package funcapp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/funcapp"
)

// An app with one entity and two HTTP functions: a signal route and a read route.
// main would end with app.Main(); `go run . -gen` then writes counter/,
// counter_add/ and counter_get/ (plus the framework's own folders).
func Example() {
	reg := durable.NewRegistry()
	reg.AddEntity("counter", func(ctx durable.EntityContext) error {
		var n int
		if err := ctx.GetState(&n); err != nil {
			return err
		}
		var d int
		if err := ctx.GetInput(&d); err != nil {
			return err
		}
		return ctx.SetState(n + d)
	})
	app := funcapp.New(reg)
	app.HTTP("counter_add", funcapp.Route{Path: "counter/{key}/add", Methods: []string{"POST"}}, func(c durable.Client) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := durable.NewEntityID("counter", funcapp.PathValue(r, "key"))
			if funcapp.Signal(c, w, r, id, "add", 1) { // honours Idempotency-Key
				w.WriteHeader(http.StatusAccepted)
			}
		})
	})
	app.HTTP("counter_get", funcapp.Route{Path: "counter/{key}", Methods: []string{"GET"}, Auth: funcapp.Anonymous}, func(c durable.Client) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := c.ReadEntity(r.Context(), durable.NewEntityID("counter", funcapp.PathValue(r, "key")))
			if err != nil {
				funcapp.WriteError(w, err)
				return
			}
			funcapp.WriteJSON(w, http.StatusOK, map[string]json.RawMessage{"value": s.State})
		})
	})
	fmt.Println(app.Registry().EntityNames())
	// Output: [counter]
}

// WriteError picks the status Durable Functions' HTTP API uses for an error.
func ExampleWriteError() {
	for _, err := range []error{
		fmt.Errorf("start: %w", durable.ErrInstanceExists),
		fmt.Errorf("%w: no such orchestrator", durable.ErrUnknownOrchestrator),
		fmt.Errorf("read body: %w", funcapp.ErrTooLarge),
	} {
		rec := httptest.NewRecorder()
		funcapp.WriteError(rec, err)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 409 {"error":"start: an instance with this id is already running"}
	// 404 {"error":"unknown orchestrator: no such orchestrator"}
	// 413 {"error":"read body: request body too large"}
}
