// Package funcapp runs durable functions as an Azure Functions app: under the
// Functions host (func start, Azure), which starts the built binary as a custom
// handler, or standalone from the same host.json and function.json files (make run,
// containers).
//
// An app is a durable.Registry of orchestrators, activities and entities plus the
// HTTP functions that start and query them:
//
//	reg := durable.NewRegistry()
//	reg.AddEntity("counter", counter)
//	app := funcapp.New(reg)
//	app.HTTP("counter_api", funcapp.Route{Path: "counter/{op?}", Methods: []string{"GET", "POST"}}, counterAPI)
//	app.Main()
//
// Main also understands -gen (write the function folders the registrations imply) and
// -gen-check (fail when the folders on disk disagree), so function.json files are
// generated from code instead of written by hand.
package funcapp

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/appdef"
)

func init() {
	appdef.Of = func(a any) *appdef.Def { return a.(*App).def }
}

// AuthLevel is an HTTP function's authorization level, as function.json spells it.
type AuthLevel string

// The authorization levels of Azure Functions.
const (
	// Anonymous needs no key.
	Anonymous AuthLevel = "anonymous"
	// Function needs a function key or a host key (the default).
	Function AuthLevel = "function"
	// Admin needs the master key.
	Admin AuthLevel = "admin"
)

// Route declares how an HTTP function is reached.
type Route struct {
	// Path is the route template below the route prefix (api/), with the host's
	// syntax: "counter/{key}", optional "{id?}", catch-all "{*path}".
	Path string
	// Methods lists the HTTP methods (GET, POST, ...); none means GET and POST.
	Methods []string
	// Auth is the authorization level; empty means Function.
	Auth AuthLevel
}

// App is a function app under construction. Configure it, then call Main.
type App struct {
	def *appdef.Def
}

// New returns an app serving reg's orchestrators, activities and entities.
func New(reg *durable.Registry) *App {
	return &App{def: &appdef.Def{Registry: reg}}
}

// Registry is the app's registry.
func (a *App) Registry() *durable.Registry { return a.def.Registry }

var functionName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,127}$`)

// HTTP adds an HTTP function. name is its function folder (letters, digits, _ and -);
// handler builds the function's http.Handler once the app has a client. Declaring the
// same name twice, or a name the framework uses itself, panics: that mistake belongs
// at start-up.
func (a *App) HTTP(name string, route Route, handler func(durable.Client) http.Handler) {
	if !functionName.MatchString(name) {
		panic(fmt.Sprintf("funcapp: HTTP function name %q must be letters, digits, _ and - (it names a folder)", name))
	}
	switch strings.ToLower(name) {
	case appdef.OrchestratorFunction, appdef.ActivityFunction, appdef.MaintenanceFunction, appdef.ManagementFunction, appdef.LinksFunction, appdef.MonitorFunction:
		panic(fmt.Sprintf("funcapp: %q is a function folder of the framework", name))
	}
	if _, dup := a.def.HTTPFunc(name); dup {
		panic(fmt.Sprintf("funcapp: HTTP function %q declared twice", name))
	}
	if _, ok := a.def.Registry.Entity(name); ok {
		panic(fmt.Sprintf("funcapp: HTTP function %q has the name of an entity (its queue function folder)", name))
	}
	methods := route.Methods
	if len(methods) == 0 {
		methods = []string{"GET", "POST"}
	}
	auth := route.Auth
	if auth == "" {
		auth = Function
	}
	a.def.HTTP = append(a.def.HTTP, appdef.HTTPFunc{Name: name, Route: strings.Trim(route.Path, "/"), Methods: methods, AuthLevel: string(auth), Handler: handler})
}

// Env is what start-up hooks get from the running app.
type Env interface {
	// Getenv reads an app setting (environment, local.settings.json Values).
	Getenv(key string) string
	// Table is a client for one table of the app's storage account (AzureWebJobsStorage),
	// with the app's credentials. The table is not created.
	Table(name string) *aztables.Client
}

// OnStart adds a hook that runs once the app's storage is known and before it serves
// anything: the place to open clients that activities use.
func (a *App) OnStart(fn func(ctx context.Context, env Env) error) {
	a.def.Setup = append(a.def.Setup, func(ctx context.Context, env appdef.Env) error { return fn(ctx, env) })
}
