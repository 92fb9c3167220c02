// Package apps gathers the sample apps' registrations: one line per entity,
// orchestrator, activity and HTTP function. Adding a function is a folder with its
// function.json plus a line here.
package apps

import (
	"net/http"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps/asyncjob"
	"github.com/durablego/durablefunctions/handler/apps/bank"
	"github.com/durablego/durablefunctions/handler/apps/circuitbreaker"
	"github.com/durablego/durablefunctions/handler/apps/counter"
	"github.com/durablego/durablefunctions/handler/apps/patterns"
	"github.com/durablego/durablefunctions/handler/apps/scoreboard"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/httpapi"
	"github.com/durablego/durablefunctions/internal/mgmt"
	"github.com/durablego/durablefunctions/internal/monitor"
	"github.com/durablego/durablefunctions/internal/storage"
)

// Deps are what sample code needs from the process.
type Deps struct {
	Account *storage.Account
	Getenv  func(string) string
}

// Register adds every sample's orchestrators, activities and entities.
func Register(reg *durable.Registry, d Deps) {
	counter.Register(reg)
	scoreboard.Register(reg)
	scoreboard.RegisterOrchestration(reg)
	bank.Register(reg)
	circuitbreaker.Register(reg)
	patterns.Register(reg)
	asyncjob.Register(reg, d.Account, d.Getenv("AUDIT_TABLE"))
}

// HTTP returns the HTTP functions by function folder name.
func HTTP(hub *engine.Hub) map[string]http.Handler {
	return map[string]http.Handler{
		"counter_api":     counter.HTTP(hub),
		"http_start":      httpapi.Start(hub),
		"get_status":      httpapi.Status(hub),
		"submit_query":    asyncjob.Submit(hub),
		"scoreboard_api":  scoreboard.HTTP(hub),
		"bank_api":        bank.HTTP(hub),
		"circuit_api":     circuitbreaker.HTTP(hub),
		"durable_mgmt":    mgmt.Handler(hub),
		"durable_monitor": monitor.Handler(nil),
	}
}
