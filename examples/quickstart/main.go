// Command quickstart is the smallest complete durable functions app: an entity, an
// orchestration that calls an activity and signals the entity, and two HTTP functions.
package main

import (
	"net/http"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/funcapp"
)

func main() { App().Main() }

// App declares everything the app runs; `go run . -gen` writes its function folders.
func App() *funcapp.App {
	reg := durable.NewRegistry()
	reg.AddEntity("visits", func(ctx durable.EntityContext) error {
		var n int
		if err := ctx.GetState(&n); err != nil {
			return err
		}
		if ctx.Operation() == "add" {
			n++
		}
		return ctx.SetState(n)
	})
	reg.AddActivity("greet", func(ctx durable.ActivityContext) (any, error) {
		var name string
		err := ctx.GetInput(&name)
		return "Hello, " + name + "!", err
	})
	reg.AddOrchestrator("hello", func(ctx durable.OrchestrationContext) (any, error) {
		var name, greeting string
		if err := ctx.GetInput(&name); err != nil {
			return nil, err
		}
		if err := ctx.CallActivity("greet", name, nil).Await(&greeting); err != nil {
			return nil, err
		}
		ctx.SignalEntity(durable.NewEntityID("visits", name), "add", nil)
		return greeting, nil
	})

	app := funcapp.New(reg)
	app.HTTP("hello_start", funcapp.Route{Path: "hello/{name}", Methods: []string{"POST"}}, func(c durable.Client) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			funcapp.StartAndRespond(c, w, r, "hello", funcapp.PathValue(r, "name"))
		})
	})
	app.HTTP("visits_get", funcapp.Route{Path: "visits/{name}", Methods: []string{"GET"}}, func(c durable.Client) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := c.ReadEntity(r.Context(), durable.NewEntityID("visits", funcapp.PathValue(r, "name")))
			var n int
			if err == nil {
				err = s.GetState(&n)
			}
			if err != nil {
				funcapp.WriteError(w, err)
				return
			}
			funcapp.WriteJSON(w, http.StatusOK, map[string]int{"visits": n})
		})
	})
	return app
}
