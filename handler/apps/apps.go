// Package apps is the sample app: every sample's orchestrators, activities, entities
// and HTTP functions, declared on a funcapp.App. A new function is a line here (or in
// the sample's package) and `go run ./handler -gen`, which writes its function folder.
package apps

import (
	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/funcapp"
	"github.com/durablego/durablefunctions/handler/apps/asyncjob"
	"github.com/durablego/durablefunctions/handler/apps/bank"
	"github.com/durablego/durablefunctions/handler/apps/circuitbreaker"
	"github.com/durablego/durablefunctions/handler/apps/counter"
	"github.com/durablego/durablefunctions/handler/apps/patterns"
	"github.com/durablego/durablefunctions/handler/apps/scoreboard"
)

// App returns the sample app, with a registry of its own.
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

	getPost := []string{"GET", "POST"}
	a.HTTP("counter_api", funcapp.Route{Path: "counter/{*path}", Methods: getPost}, counter.HTTP)
	a.HTTP("scoreboard_api", funcapp.Route{Path: "scoreboard/{key?}", Methods: getPost}, scoreboard.HTTP)
	a.HTTP("bank_api", funcapp.Route{Path: "bank/{*path}", Methods: getPost}, bank.HTTP)
	a.HTTP("circuit_api", funcapp.Route{Path: "circuit/{name}/{action?}", Methods: getPost}, circuitbreaker.HTTP)
	a.HTTP("submit_query", funcapp.Route{Path: "submit/query", Methods: []string{"GET"}}, asyncjob.Submit)
	// Durable Functions' generic starter, for the orchestration patterns only: money
	// moves through bank_api, which checks its input.
	a.HTTP("http_start", funcapp.Route{Path: funcapp.StarterRoute, Methods: []string{"POST"}}, funcapp.Starter(patterns.Startable...))
	a.HTTP("get_status", funcapp.Route{Path: "status/{id}", Methods: []string{"GET"}, Auth: funcapp.Anonymous}, funcapp.PublicStatus())
	return a
}
