// Package appdef is the definition of a function app as the public funcapp package
// builds it: registrations, HTTP functions and start-up hooks. The loader, the
// runner and the function.json generator read it; keeping it here lets them do so
// without importing funcapp (which imports them).
package appdef

import (
	"context"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/durablego/durablefunctions/durable"
)

// Function folders with a fixed role in every app.
const (
	OrchestratorFunction = "orchestrator"
	ActivityFunction     = "activity"
	MaintenanceFunction  = "maintenance"
	ManagementFunction   = "durable_mgmt"
	LinksFunction        = "durable_links"
	MonitorFunction      = "durable_monitor"
)

// LinksMount is the path (below the route prefix) of the LinksFunction, which serves
// the URLs of check-status bodies: beside the management API's catch-all route, not
// below it, so that no router has to choose between the two.
const LinksMount = "/runtime/webhooks/durabletask-links"

// HTTPFunc is one HTTP-triggered function.
type HTTPFunc struct {
	Name      string
	Route     string
	Methods   []string
	AuthLevel string
	Handler   func(durable.Client) http.Handler
}

// Env is what start-up hooks get from the running app.
type Env interface {
	Getenv(key string) string
	Table(name string) *aztables.Client
}

// Def is a function app.
type Def struct {
	Registry *durable.Registry
	HTTP     []HTTPFunc
	Setup    []func(ctx context.Context, env Env) error
}

// HTTPFunc looks up an HTTP function by folder name (case-insensitive, as the host).
func (d *Def) HTTPFunc(name string) (HTTPFunc, bool) {
	for _, f := range d.HTTP {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return HTTPFunc{}, false
}

// EntityQueue is the queue an entity's function folder is triggered by. Queue names
// allow lower-case letters, digits and dashes only.
func EntityQueue(entity string) string {
	return "%DURABLE_TASK_HUB%-" + strings.ReplaceAll(strings.ToLower(entity), "_", "-")
}

// Of returns the definition behind a *funcapp.App; funcapp sets it, so that code in
// this module (tests, the benchmark) can load an app without widening its public API.
var Of func(app any) *Def
