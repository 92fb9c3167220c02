// Package apps gathers the sample apps' registrations: one line per entity,
// orchestrator, activity and HTTP function. Adding a function is a folder with its
// function.json plus a line here.
package apps

import (
	"net/http"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/funcapp"
	"github.com/durablego/durablefunctions/handler/apps/asyncjob"
	"github.com/durablego/durablefunctions/handler/apps/bank"
	"github.com/durablego/durablefunctions/handler/apps/circuitbreaker"
	"github.com/durablego/durablefunctions/handler/apps/counter"
	"github.com/durablego/durablefunctions/handler/apps/patterns"
	"github.com/durablego/durablefunctions/handler/apps/scoreboard"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/httpapi"
)

// App is the sample app: every sample's orchestrators, activities, entities and
// HTTP functions.
func App() *funcapp.App {
	reg := durable.NewRegistry()
	counter.Register(reg)
	scoreboard.Register(reg)
	scoreboard.RegisterOrchestration(reg)
	bank.Register(reg)
	circuitbreaker.Register(reg)
	patterns.Register(reg)
	a := funcapp.New(reg)
	asyncjob.Register(a)
	hubHTTP := func(f func(*engine.Hub) http.Handler) func(durable.Client) http.Handler {
		return func(c durable.Client) http.Handler { return f(c.(interface{ Hub() *engine.Hub }).Hub()) }
	}
	fn := funcapp.Function
	a.HTTP("counter_api", funcapp.Route{Path: "counter/{*path}", Methods: []string{"get", "post"}, Auth: fn}, hubHTTP(counter.HTTP))
	a.HTTP("http_start", funcapp.Route{Path: "orchestrators/{name}/{instanceId?}", Methods: []string{"post"}, Auth: fn}, hubHTTP(func(hub *engine.Hub) http.Handler {
		return httpapi.Start(hub, &httpapi.StarterOptions{Orchestrators: patterns.Startable})
	}))
	a.HTTP("get_status", funcapp.Route{Path: "status/{id}", Methods: []string{"get"}, Auth: funcapp.Anonymous}, hubHTTP(httpapi.Status))
	a.HTTP("submit_query", funcapp.Route{Path: "submit/query", Methods: []string{"get"}, Auth: fn}, hubHTTP(asyncjob.Submit))
	a.HTTP("scoreboard_api", funcapp.Route{Path: "scoreboard/{key?}", Methods: []string{"get", "post"}, Auth: fn}, hubHTTP(scoreboard.HTTP))
	a.HTTP("bank_api", funcapp.Route{Path: "bank/{*path}", Methods: []string{"get", "post"}, Auth: fn}, hubHTTP(bank.HTTP))
	a.HTTP("circuit_api", funcapp.Route{Path: "circuit/{name}/{action?}", Methods: []string{"get", "post"}, Auth: fn}, hubHTTP(circuitbreaker.HTTP))
	return a
}
