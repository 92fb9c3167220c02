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

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps"
	"github.com/durablego/durablefunctions/internal/auth"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/funcmeta"
	"github.com/durablego/durablefunctions/internal/runner"
	"github.com/durablego/durablefunctions/internal/storage"
)

// Function folders with a fixed role in the engine.
const (
	OrchestratorFunction = "orchestrator"
	ActivityFunction     = "activity"
	// MaintenanceFunction is the timer that re-wakes stranded work.
	MaintenanceFunction = "maintenance"
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
	// Register adds user code; nil means the sample apps (apps.Register).
	Register func(*durable.Registry, apps.Deps)
	// HTTP returns HTTP functions by folder name; nil means the sample apps.
	HTTP func(*engine.Hub) map[string]http.Handler
}

// App is a loaded, ready-to-serve function app.
type App struct {
	Meta  *funcmeta.App
	Hub   *engine.Hub
	Funcs runner.Functions
	Keys  *auth.Keys
	// TrustForwarded: X-Forwarded-Host/-Proto are believed (DURABLE_TRUST_FORWARDED_HEADERS).
	TrustForwarded bool
	log            *slog.Logger
	acct           *storage.Account
}

// New loads the app. It creates the hub's tables and queues if needed.
func New(ctx context.Context, o Options) (*App, error) {
	if o.Getenv == nil {
		return nil, errors.New("app: Getenv is required")
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
	reg := durable.NewRegistry()
	if o.Register == nil {
		o.Register = apps.Register
	}
	o.Register(reg, apps.Deps{Account: acct, Getenv: getenv})

	cfg := engine.Config{
		TaskHub:        getenv("DURABLE_TASK_HUB"),
		Registry:       reg,
		Logger:         o.Logger,
		Base64Messages: !strings.EqualFold(meta.Host.Queues.MessageEncoding, "none"),
		EntityQueues:   map[string]string{},
		// Optional: without it the hub keeps a generated secret in storage.
		InstanceIDSecret: getenv(engine.SettingInstanceIDSecret),
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
	a := &App{Meta: meta, Hub: hub, log: o.Logger, acct: acct}
	a.Funcs = runner.Functions{HTTP: map[string]http.Handler{}, Queue: map[string]runner.QueueFunc{}, Timer: map[string]runner.TimerFunc{}}
	if o.HTTP == nil {
		o.HTTP = apps.HTTP
	}
	for name, h := range o.HTTP(hub) {
		a.Funcs.HTTP[name] = h
	}
	wake := poisonOnBad(hub.HandleWakeUp)
	for _, f := range meta.Functions {
		if !f.IsQueue() {
			continue
		}
		switch {
		case strings.EqualFold(f.Name, ActivityFunction):
			a.Funcs.Queue[f.Name] = poisonOnBad(hub.HandleActivityBatch)
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
	h, err := runner.HostHandler(a.Meta, a.Funcs, a.log, a.recordPoison)
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
	o := runner.PollerOptions{}
	if opts != nil {
		o = *opts
	}
	if o.OnPoison == nil {
		o.OnPoison = a.recordPoison
	}
	err := runner.NewPoller(a.Meta, a.Funcs, a.acct, a.log, &o).Run(ctx)
	wg.Wait()
	return err
}

// recordPoison keeps the reason for a poisoned message in the hub's poison table.
func (a *App) recordPoison(ctx context.Context, queue, id, text, reason string) {
	if err := a.Hub.RecordPoison(ctx, engine.PoisonRecord{Queue: queue, MessageID: id, Text: text, Reason: reason}); err != nil {
		a.log.Warn("could not record poison reason", "queue", queue, "message", id, "err", err)
	}
}
