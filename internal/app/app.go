// Package app assembles the binary's pieces: it reads the function folders, opens
// storage, builds the task hub with the registered user code, and maps every function
// folder to the code that serves it. main and the end-to-end tests both use it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/appdef"
	"github.com/durablego/durablefunctions/internal/auth"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/funcmeta"
	"github.com/durablego/durablefunctions/internal/hubclient"
	"github.com/durablego/durablefunctions/internal/mgmt"
	"github.com/durablego/durablefunctions/internal/monitor"
	"github.com/durablego/durablefunctions/internal/runner"
	"github.com/durablego/durablefunctions/internal/storage"
)

// Function folders with a fixed role in the engine.
const (
	OrchestratorFunction = appdef.OrchestratorFunction
	ActivityFunction     = appdef.ActivityFunction
	// MaintenanceFunction is the timer that re-wakes stranded work.
	MaintenanceFunction = appdef.MaintenanceFunction
)

// DefaultTaskHub is used when DURABLE_TASK_HUB is not set.
const DefaultTaskHub = "durablego"

// Options configure New.
type Options struct {
	Root   string              // folder holding host.json and the function folders
	Getenv func(string) string // settings; os.Getenv in production
	Logger *slog.Logger
	// Account overrides the storage connection read from AzureWebJobsStorage (tests).
	Account *storage.Account
	// Def is the app: registrations, HTTP functions, start-up hooks.
	Def *appdef.Def
	// Register adds registrations after Def's (tests).
	Register func(*durable.Registry)
}

// App is a loaded, ready-to-serve function app.
type App struct {
	Meta   *funcmeta.App
	Hub    *engine.Hub
	Client *hubclient.Client
	// TrustForwarded: X-Forwarded-Host/-Proto are believed (DURABLE_TRUST_FORWARDED_HEADERS).
	TrustForwarded bool
	Funcs          runner.Functions
	Keys           *auth.Keys
	// Throttle holds host.json's durableTask concurrency limits for this process.
	Throttle *runner.Throttle
	log      *slog.Logger
	acct     *storage.Account
	// created is when this App was made: messages older than it were written by
	// processes before this one (see recoverAtStart).
	created time.Time
}

// New loads the app. It creates the hub's tables and queues if needed.
func New(ctx context.Context, o Options) (*App, error) {
	created := time.Now() // before the hub exists: nothing of this process is written yet
	if o.Getenv == nil {
		return nil, errors.New("app: Getenv is required")
	}
	if o.Def == nil || o.Def.Registry == nil {
		return nil, errors.New("app: Def with a Registry is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	getenv := withDefaults(o.Getenv)
	meta, err := funcmeta.Load(o.Root, getenv)
	if err != nil {
		return nil, err
	}
	acct := o.Account
	if acct == nil {
		s, err := storage.ResolveConnection(funcmeta.DefaultConnection, getenv)
		if err != nil {
			return nil, err
		}
		if acct, err = storage.Open(s, nil); err != nil {
			return nil, err
		}
	}
	reg := o.Def.Registry
	if o.Register != nil {
		o.Register(reg)
	}
	for _, setup := range o.Def.Setup {
		if err := setup(ctx, setupEnv{getenv: getenv, acct: acct}); err != nil {
			return nil, fmt.Errorf("app start-up: %w", err)
		}
	}

	cfg := engine.Config{
		TaskHub:         getenv("DURABLE_TASK_HUB"),
		Registry:        reg,
		Logger:          o.Logger,
		Base64Messages:  !strings.EqualFold(meta.Host.Queues.MessageEncoding, "none"),
		EntityQueues:    map[string]string{},
		MaxDequeueCount: meta.Host.Queues.MaxDequeueCount,
		RedriveAfter:    redriveAfter(getenv),
		// Optional: without it the hub keeps a generated secret in storage.
		InstanceIDSecret:        getenv(engine.SettingInstanceIDSecret),
		MaxConcurrentActivities: meta.Host.DurableTask.MaxConcurrentActivityFunctions,
		Versioning: engine.Versioning{DefaultVersion: meta.Host.DurableTask.DefaultVersion,
			MatchStrategy:   engine.VersionMatch(meta.Host.DurableTask.VersionMatchStrategy),
			FailureStrategy: engine.VersionFailure(meta.Host.DurableTask.VersionFailureStrategy)},
	}
	var errs []error
	for _, f := range meta.Functions {
		if !f.IsQueue() {
			continue
		}
		switch {
		case strings.EqualFold(f.Name, OrchestratorFunction):
			cfg.OrchestratorQueue = f.Trigger.QueueName
		case strings.EqualFold(f.Name, ActivityFunction):
			cfg.ActivityQueue = f.Trigger.QueueName
		default:
			if _, ok := reg.Entity(f.Name); ok {
				cfg.EntityQueues[strings.ToLower(f.Name)] = f.Trigger.QueueName
			}
		}
	}
	for _, name := range reg.EntityNames() {
		if _, ok := cfg.EntityQueues[name]; !ok {
			errs = append(errs, fmt.Errorf("entity %q is registered but there is no queue-triggered function folder %s/function.json for it", name, name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	hub, err := engine.New(ctx, acct, cfg)
	if err != nil {
		return nil, err
	}
	a := &App{Meta: meta, Hub: hub, Client: hubclient.New(hub), log: o.Logger, acct: acct, Throttle: throttle(meta, cfg.EntityQueues), created: created}
	a.Funcs = runner.Functions{HTTP: map[string]http.Handler{}, Queue: map[string]runner.QueueFunc{}, Timer: map[string]runner.TimerFunc{}}
	for _, f := range o.Def.HTTP {
		a.Funcs.HTTP[f.Name] = f.Handler(a.Client)
	}
	a.Funcs.HTTP[appdef.ManagementFunction] = mgmt.Handler(hub)
	a.Funcs.HTTP[appdef.LinksFunction] = mgmt.LinksHandler(hub)
	a.Funcs.HTTP[appdef.MonitorFunction] = monitor.Handler(nil)
	wake := wakeHandler(hub)
	for _, f := range meta.Functions {
		if !f.IsQueue() {
			continue
		}
		switch {
		case strings.EqualFold(f.Name, ActivityFunction):
			a.Funcs.Queue[f.Name] = activityHandler(hub)
		case strings.EqualFold(f.Name, OrchestratorFunction):
			a.Funcs.Queue[f.Name] = wake
		default:
			if _, ok := cfg.EntityQueues[strings.ToLower(f.Name)]; ok {
				a.Funcs.Queue[f.Name] = wake
			}
		}
	}
	for _, f := range meta.Functions {
		if f.IsTimer() && strings.EqualFold(f.Name, MaintenanceFunction) {
			a.Funcs.Timer[f.Name] = func(ctx context.Context) error {
				// Re-wake stranded work, and release locks whose holder ended while a
				// lock request was still travelling (its unlock overtook the request).
				_, err := hub.Sweep(ctx, nil)
				if _, cerr := hub.CleanEntityStorage(ctx, &engine.CleanOptions{ReleaseOrphanedLocks: true}); cerr != nil {
					err = errors.Join(err, cerr)
				}
				return err
			}
		}
	}
	var names []string
	for _, f := range meta.Functions {
		names = append(names, f.Name)
	}
	if a.Keys, err = auth.LoadKeys(getenv, names); err != nil {
		return nil, err
	}
	a.Keys.DevMode = strings.EqualFold(getenv("AZURE_FUNCTIONS_ENVIRONMENT"), "Development")
	if v := getenv(runner.SettingTrustForwardedHeaders); v != "" {
		if a.TrustForwarded, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("%s must be true or false, got %q", runner.SettingTrustForwardedHeaders, v)
		}
	}
	if err := a.Funcs.Check(meta); err != nil {
		return nil, err
	}
	return a, nil
}

func poisonOnBad(fn func(context.Context, []byte) error) runner.QueueFunc {
	return func(ctx context.Context, b []byte) error {
		err := fn(ctx, b)
		if errors.Is(err, engine.ErrBadMessage) {
			return fmt.Errorf("%w: %w", runner.ErrPoison, err)
		}
		return err
	}
}

// withDefaults supplies the settings the function.json files refer to when unset.
func withDefaults(getenv func(string) string) func(string) string {
	return func(k string) string {
		v := getenv(k)
		if v == "" && k == "DURABLE_TASK_HUB" {
			return DefaultTaskHub
		}
		return v
	}
}

// StandaloneHandler serves the HTTP routes with key checks.
func (a *App) StandaloneHandler() (http.Handler, error) {
	h, err := runner.StandaloneHandler(a.Meta, a.Funcs, a.Keys, a.log)
	return runner.TrustForwardedHeaders(a.TrustForwarded, h), err
}

// HostHandler serves the Functions host's invocation protocol.
func (a *App) HostHandler() (http.Handler, error) {
	h, err := runner.HostHandler(a.Meta, a.Funcs, a.log, a.recordPoison, a.Throttle)
	return runner.TrustForwardedHeaders(a.TrustForwarded, h), err
}

// RunWorkers polls the queues and runs timers until ctx ends (standalone mode).
func (a *App) RunWorkers(ctx context.Context, opts *runner.PollerOptions) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runner.RunTimers(ctx, a.Meta, a.Funcs, a.log)
	}()
	a.EnableHandoff(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.recoverAtStart(ctx, a.created)
	}()
	err := a.Poller(opts).Run(ctx)
	wg.Wait()
	return err
}

// recordPoison keeps the reason for a poisoned message in the hub's poison table and
// reports poisoned activities to their orchestrations as failed.
func (a *App) recordPoison(ctx context.Context, queue, id, text, reason string) {
	if err := a.Hub.HandlePoison(ctx, engine.PoisonRecord{Queue: queue, MessageID: id, Text: text, Reason: reason}); err != nil {
		a.log.Warn("could not record or report poisoned message", "queue", queue, "message", id, "err", err)
	}
}

// setupEnv is what start-up hooks see.
type setupEnv struct {
	getenv func(string) string
	acct   *storage.Account
}

func (e setupEnv) Getenv(k string) string             { return e.getenv(k) }
func (e setupEnv) Table(name string) *aztables.Client { return e.acct.TableClient(name) }
