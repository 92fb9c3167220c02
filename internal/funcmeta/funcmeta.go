// Package funcmeta reads an Azure Functions app's host.json and function.json
// files the way the Functions host does, so that standalone mode serves the
// same routes, polls the same queues and runs the same timers as the host
// would for the same app folder.
package funcmeta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/internal/jsonfold"
)

// App is a loaded function app.
type App struct {
	Root string
	Host HostConfig
	// Functions are sorted by name.
	Functions []*Function
}

// Function returns the function called name, matched case-insensitively as the
// host matches function names, or nil.
func (a *App) Function(name string) *Function {
	if a == nil {
		return nil
	}
	for _, f := range a.Functions {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

// HostConfig is the part of host.json that changes how functions are invoked.
type HostConfig struct {
	Version       string
	CustomHandler CustomHandlerConfig
	// RoutePrefix is extensions.http.routePrefix without slashes: "api" when
	// unset, possibly "" (routes at the root).
	RoutePrefix string
	Queues      QueuesConfig
	// FunctionTimeout is 0 when unset (the host's plan default applies) and
	// negative for "-1", which means no timeout.
	FunctionTimeout time.Duration
	// DurableTask is extensions.durableTask: orchestration versioning and the
	// per-process concurrency throttles.
	DurableTask DurableTaskConfig
}

// DurableTaskConfig is host.json extensions.durableTask, the versioning settings of
// Durable Functions. Strategies are normalised to DF's spelling; empty when unset, which
// means DF's defaults.
type DurableTaskConfig struct {
	DefaultVersion string
	// VersionMatchStrategy is "None", "Strict" or "CurrentOrOlder" (the default).
	VersionMatchStrategy string
	// VersionFailureStrategy is "Reject" (the default) or "Fail".
	VersionFailureStrategy string

	// The concurrency throttles, with Durable Functions' defaults for Dedicated and
	// Premium plans (10 times the number of processors) filled in: a standalone
	// process is a dedicated machine. (On the Consumption plan DF defaults to 10
	// activities and 5 orchestrators.)

	// MaxConcurrentActivityFunctions bounds the activity functions running at once.
	MaxConcurrentActivityFunctions int
	// MaxConcurrentOrchestratorFunctions bounds the orchestration episodes (instance
	// wake-ups being processed) running at once.
	MaxConcurrentOrchestratorFunctions int
	// MaxConcurrentEntityFunctions bounds the entity episodes running at once, over
	// all entity queues. (DF on Azure Storage counts entities against the
	// orchestrator limit; its Durable Task Scheduler backend honours this one, and so
	// do we.)
	MaxConcurrentEntityFunctions int
}

// CustomHandlerConfig is host.json customHandler.
type CustomHandlerConfig struct {
	DefaultExecutablePath string
	WorkingDirectory      string
	Arguments             []string
	// EnableForwardingHTTPRequest makes the host forward an HTTP-only function's
	// original request instead of an invocation request.
	EnableForwardingHTTPRequest bool
}

// QueuesConfig is host.json extensions.queues, with the queue extension's
// defaults filled in.
type QueuesConfig struct {
	// MaxPollingInterval caps the back-off between polls of an empty queue
	// (default 1 minute).
	MaxPollingInterval time.Duration
	// VisibilityTimeout is the delay before a failed message is retried
	// (default 0).
	VisibilityTimeout time.Duration
	// BatchSize is how many messages one poll fetches (default 16, max 32).
	BatchSize int
	// NewBatchThreshold is how few in-flight messages trigger the next poll.
	// Unset, it is BatchSize/2; the host multiplies that default by the number
	// of CPUs, which callers may do too.
	NewBatchThreshold int
	// MaxDequeueCount is how many attempts a message gets before it moves to
	// the <queue>-poison queue (default 5).
	MaxDequeueCount int
	// MessageEncoding is "base64" (default) or "none".
	MessageEncoding string
}

// DefaultMaxConcurrentFunctions is DF's default for each of the three throttles on
// Dedicated and Premium plans: 10 times the number of processors.
func DefaultMaxConcurrentFunctions() int { return 10 * runtime.NumCPU() }

// Queue extension defaults, as documented for the Functions host.
const (
	DefaultRoutePrefix        = "api"
	DefaultMaxPollingInterval = time.Minute
	DefaultBatchSize          = 16
	DefaultMaxDequeueCount    = 5
	DefaultConnection         = "AzureWebJobsStorage"
	maxBatchSize              = 32
	minPollingInterval        = 100 * time.Millisecond
)

// Binding types this package understands; others are kept but not validated.
const (
	TypeHTTPTrigger  = "httpTrigger"
	TypeHTTP         = "http"
	TypeQueueTrigger = "queueTrigger"
	TypeQueue        = "queue"
	TypeTimerTrigger = "timerTrigger"
)

// Auth levels of an httpTrigger, spelled as in function.json.
const (
	AuthAnonymous = "anonymous"
	AuthFunction  = "function"
	AuthAdmin     = "admin"
)

// Function is one function folder.
type Function struct {
	Name string
	// Dir is the absolute path of the function's folder.
	Dir string
	// Disabled is set by "disabled": true in function.json or by the app
	// setting AzureWebJobs.<Name>.Disabled; the host loads but never triggers
	// such a function, and callers should do the same.
	Disabled bool
	Trigger  Binding
	// Bindings are all bindings in file order, the trigger included.
	Bindings []Binding
}

// IsHTTP reports whether the function is HTTP-triggered.
func (f *Function) IsHTTP() bool { return f != nil && f.Trigger.Type == TypeHTTPTrigger }

// IsQueue reports whether the function is queue-triggered.
func (f *Function) IsQueue() bool { return f != nil && f.Trigger.Type == TypeQueueTrigger }

// IsTimer reports whether the function is timer-triggered.
func (f *Function) IsTimer() bool { return f != nil && f.Trigger.Type == TypeTimerTrigger }

// Outputs returns the bindings with direction out or inout, which are the
// names the handler may set in its invocation response.
func (f *Function) Outputs() []Binding {
	if f == nil {
		return nil
	}
	var out []Binding
	for _, b := range f.Bindings {
		if b.Direction == "out" || b.Direction == "inout" {
			out = append(out, b)
		}
	}
	return out
}

// Binding is one entry of function.json "bindings". Fields that do not apply to
// the binding's type are zero.
type Binding struct {
	// Type uses the canonical spelling for known types (TypeHTTPTrigger...),
	// otherwise the spelling in the file.
	Type      string
	Direction string // "in", "out" or "inout"
	Name      string

	// httpTrigger
	AuthLevel string   // AuthAnonymous, AuthFunction (default) or AuthAdmin
	Methods   []string // lower case; empty means every method
	Route     string   // settings resolved; defaults to the function name

	// queueTrigger and queue
	QueueName  string // settings resolved and lower-cased, as the host does
	Connection string // app setting name; defaults to DefaultConnection
	DataType   string // lower case: "", "string", "binary" or "stream"

	// timerTrigger
	Schedule     string // settings resolved
	RunOnStartup bool
	UseMonitor   bool // defaults to true
	// ParsedSchedule is Schedule parsed; nil for other binding types.
	ParsedSchedule *Schedule

	// Properties holds every property as written, for binding types and
	// options this package does not model.
	Properties map[string]json.RawMessage
}

// IsTrigger reports whether the binding is a trigger, which the host decides by
// the type name's suffix.
func (b Binding) IsTrigger() bool {
	return len(b.Type) > len("trigger") && strings.EqualFold(b.Type[len(b.Type)-len("trigger"):], "trigger")
}

var (
	// The host's function and binding name rules (FunctionMetadataManager).
	functionNameRE = regexp.MustCompile(`(?i)^[a-z][a-z0-9_\-]{0,127}$`)
	bindingNameRE  = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9_]{0,127}|\$return)$`)
	methodRE       = regexp.MustCompile(`^[a-z][a-z0-9\-]*$`)
	// Azure queue names: 3-63 chars, lower-case letters, digits and single
	// hyphens, starting and ending with a letter or digit.
	queueNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9]|-[a-z0-9])+$`)
)

// Load reads appRoot/host.json and every appRoot/<name>/function.json.
// getenv resolves %Setting% tokens and app settings; nil means os.Getenv. All
// problems in all files are reported together, each naming its file.
func Load(appRoot string, getenv func(string) string) (*App, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	root, err := filepath.Abs(appRoot)
	if err != nil {
		return nil, fmt.Errorf("funcmeta: %w", err)
	}
	app := &App{Root: root}
	hostPath := filepath.Join(root, "host.json")
	allow, err := loadHost(hostPath, &app.Host)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("funcmeta: reading app root: %w", err)
	}
	var errs []error
	byName := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		dir := filepath.Join(root, name)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		fjPath := filepath.Join(dir, "function.json")
		if _, err := os.Stat(fjPath); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if allow != nil && !allow[strings.ToLower(name)] {
			continue
		}
		fn, err := loadFunction(name, dir, fjPath, getenv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if fn == nil {
			continue
		}
		if prev, dup := byName[strings.ToLower(name)]; dup {
			errs = append(errs, fmt.Errorf("%s: function name %q duplicates %q (names are case-insensitive)", fjPath, name, prev))
			continue
		}
		byName[strings.ToLower(name)] = name
		app.Functions = append(app.Functions, fn)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(app.Functions, func(i, j int) bool { return app.Functions[i].Name < app.Functions[j].Name })
	return app, nil
}

// readJSONFile reads a JSON object, tolerating the UTF-8 byte order mark that
// Windows editors add and the host ignores.
func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
}

// rawHostJSON mirrors host.json. encoding/json matches keys case-insensitively,
// which is what the host (Microsoft.Extensions.Configuration) does.
type rawHostJSON struct {
	Version       *optString `json:"version"`
	CustomHandler *struct {
		Description *struct {
			DefaultExecutablePath optString `json:"defaultExecutablePath"`
			WorkingDirectory      optString `json:"workingDirectory"`
			Arguments             []string  `json:"arguments"`
		} `json:"description"`
		EnableForwardingHTTPRequest optBool `json:"enableForwardingHttpRequest"`
	} `json:"customHandler"`
	Extensions *struct {
		HTTP *struct {
			RoutePrefix *optString `json:"routePrefix"`
		} `json:"http"`
		Queues *struct {
			MaxPollingInterval optSpan   `json:"maxPollingInterval"`
			VisibilityTimeout  optSpan   `json:"visibilityTimeout"`
			BatchSize          optInt    `json:"batchSize"`
			NewBatchThreshold  optInt    `json:"newBatchThreshold"`
			MaxDequeueCount    optInt    `json:"maxDequeueCount"`
			MessageEncoding    optString `json:"messageEncoding"`
		} `json:"queues"`
		DurableTask *struct {
			DefaultVersion         optString `json:"defaultVersion"`
			VersionMatchStrategy   optString `json:"versionMatchStrategy"`
			VersionFailureStrategy optString `json:"versionFailureStrategy"`

			MaxConcurrentActivityFunctions     optInt `json:"maxConcurrentActivityFunctions"`
			MaxConcurrentOrchestratorFunctions optInt `json:"maxConcurrentOrchestratorFunctions"`
			MaxConcurrentEntityFunctions       optInt `json:"maxConcurrentEntityFunctions"`
		} `json:"durableTask"`
	} `json:"extensions"`
	FunctionTimeout optSpan  `json:"functionTimeout"`
	Functions       []string `json:"functions"`
}

// loadHost fills h from host.json and returns the host.json "functions" allow
// list (lower-cased), or nil when every function is loaded.
func loadHost(path string, h *HostConfig) (map[string]bool, error) {
	var raw rawHostJSON
	if err := readJSONFile(path, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fail := func(format string, args ...any) (map[string]bool, error) {
		return nil, fmt.Errorf("%s: "+format, append([]any{path}, args...)...)
	}
	if raw.Version == nil || raw.Version.v == "" {
		return fail(`missing "version" (the host requires "2.0")`)
	}
	h.Version = raw.Version.v
	if h.Version != "2.0" {
		return fail(`"version" is %q; the host requires "2.0"`, h.Version)
	}
	if ch := raw.CustomHandler; ch != nil {
		if d := ch.Description; d != nil {
			h.CustomHandler.DefaultExecutablePath = d.DefaultExecutablePath.v
			h.CustomHandler.WorkingDirectory = d.WorkingDirectory.v
			h.CustomHandler.Arguments = d.Arguments
		}
		h.CustomHandler.EnableForwardingHTTPRequest = ch.EnableForwardingHTTPRequest.v
	}
	h.RoutePrefix = DefaultRoutePrefix
	q := QueuesConfig{
		MaxPollingInterval: DefaultMaxPollingInterval,
		BatchSize:          DefaultBatchSize,
		MaxDequeueCount:    DefaultMaxDequeueCount,
		MessageEncoding:    "base64",
	}
	newBatchSet := false
	def := DefaultMaxConcurrentFunctions()
	h.DurableTask = DurableTaskConfig{MaxConcurrentActivityFunctions: def, MaxConcurrentOrchestratorFunctions: def, MaxConcurrentEntityFunctions: def}
	if ext := raw.Extensions; ext != nil {
		if dt := ext.DurableTask; dt != nil {
			for _, s := range []struct {
				name string
				in   optInt
				out  *int
			}{
				{"maxConcurrentActivityFunctions", dt.MaxConcurrentActivityFunctions, &h.DurableTask.MaxConcurrentActivityFunctions},
				{"maxConcurrentOrchestratorFunctions", dt.MaxConcurrentOrchestratorFunctions, &h.DurableTask.MaxConcurrentOrchestratorFunctions},
				{"maxConcurrentEntityFunctions", dt.MaxConcurrentEntityFunctions, &h.DurableTask.MaxConcurrentEntityFunctions},
			} {
				if !s.in.set {
					continue
				}
				if s.in.v < 1 {
					return fail("extensions.durableTask.%s must be at least 1, got %d", s.name, s.in.v)
				}
				*s.out = s.in.v
			}
		}
		if ext.HTTP != nil && ext.HTTP.RoutePrefix != nil {
			h.RoutePrefix = strings.Trim(strings.TrimSpace(ext.HTTP.RoutePrefix.v), "/")
			if strings.ContainsAny(h.RoutePrefix, "{}?") {
				return fail("extensions.http.routePrefix %q must be a literal path", h.RoutePrefix)
			}
		}
		if rq := ext.Queues; rq != nil {
			if rq.MaxPollingInterval.set {
				if rq.MaxPollingInterval.v < minPollingInterval {
					return fail("extensions.queues.maxPollingInterval must be at least %v", minPollingInterval)
				}
				q.MaxPollingInterval = rq.MaxPollingInterval.v
			}
			if rq.VisibilityTimeout.set {
				if rq.VisibilityTimeout.v < 0 {
					return fail("extensions.queues.visibilityTimeout must not be negative")
				}
				q.VisibilityTimeout = rq.VisibilityTimeout.v
			}
			if rq.BatchSize.set {
				if rq.BatchSize.v < 1 || rq.BatchSize.v > maxBatchSize {
					return fail("extensions.queues.batchSize must be 1-%d, got %d", maxBatchSize, rq.BatchSize.v)
				}
				q.BatchSize = rq.BatchSize.v
			}
			if rq.NewBatchThreshold.set {
				if rq.NewBatchThreshold.v < 0 {
					return fail("extensions.queues.newBatchThreshold must not be negative")
				}
				q.NewBatchThreshold, newBatchSet = rq.NewBatchThreshold.v, true
			}
			if rq.MaxDequeueCount.set {
				if rq.MaxDequeueCount.v < 1 {
					return fail("extensions.queues.maxDequeueCount must be at least 1")
				}
				q.MaxDequeueCount = rq.MaxDequeueCount.v
			}
			if rq.MessageEncoding.set {
				switch enc := strings.ToLower(strings.TrimSpace(rq.MessageEncoding.v)); enc {
				case "base64", "none":
					q.MessageEncoding = enc
				default:
					return fail(`extensions.queues.messageEncoding must be "base64" or "none", got %q`, rq.MessageEncoding.v)
				}
			}
		}
	}
	if ext := raw.Extensions; ext != nil && ext.DurableTask != nil {
		dt := ext.DurableTask
		h.DurableTask.DefaultVersion = strings.TrimSpace(dt.DefaultVersion.v)
		if dt.VersionMatchStrategy.set {
			v, ok := oneOf(dt.VersionMatchStrategy.v, "None", "Strict", "CurrentOrOlder")
			if !ok {
				return fail(`extensions.durableTask.versionMatchStrategy must be "None", "Strict" or "CurrentOrOlder", got %q`, dt.VersionMatchStrategy.v)
			}
			h.DurableTask.VersionMatchStrategy = v
		}
		if dt.VersionFailureStrategy.set {
			v, ok := oneOf(dt.VersionFailureStrategy.v, "Reject", "Fail")
			if !ok {
				return fail(`extensions.durableTask.versionFailureStrategy must be "Reject" or "Fail", got %q`, dt.VersionFailureStrategy.v)
			}
			h.DurableTask.VersionFailureStrategy = v
		}
	}
	if !newBatchSet {
		q.NewBatchThreshold = q.BatchSize / 2
	}
	h.Queues = q
	if raw.FunctionTimeout.set {
		h.FunctionTimeout = raw.FunctionTimeout.v
		if h.FunctionTimeout < 0 {
			h.FunctionTimeout = -1
		}
	}
	if raw.Functions == nil {
		return nil, nil
	}
	allow := map[string]bool{}
	for _, n := range raw.Functions {
		allow[strings.ToLower(n)] = true
	}
	return allow, nil
}

type rawFunctionJSON struct {
	Bindings []map[string]json.RawMessage `json:"bindings"`
	Disabled json.RawMessage              `json:"disabled"`
	Excluded optBool                      `json:"excluded"`
}

func loadFunction(name, dir, path string, getenv func(string) string) (*Function, error) {
	var raw rawFunctionJSON
	if err := readJSONFile(path, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if raw.Excluded.v {
		return nil, nil
	}
	if !functionNameRE.MatchString(name) {
		return nil, fmt.Errorf("%s: function name %q is invalid: it must start with a letter and contain only letters, digits, '_' and '-' (at most 128)", path, name)
	}
	fn := &Function{Name: name, Dir: dir}
	disabled, err := disabledFlag(raw.Disabled, getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fn.Disabled = disabled || settingTrue(getenv("AzureWebJobs."+name+".Disabled")) ||
		settingTrue(getenv("AzureWebJobs_"+name+"_Disabled"))

	var errs []error
	var triggers []string
	seen := map[string]bool{}
	for i, props := range raw.Bindings {
		b, err := parseBinding(props, name, getenv)
		if err != nil {
			label := fmt.Sprintf("binding %d", i)
			if b.Name != "" {
				label = fmt.Sprintf("binding %q", b.Name)
			}
			errs = append(errs, fmt.Errorf("%s: %s: %w", path, label, err))
			continue
		}
		if key := strings.ToLower(b.Name); seen[key] {
			errs = append(errs, fmt.Errorf("%s: more than one binding is named %q", path, b.Name))
		} else {
			seen[key] = true
		}
		if b.IsTrigger() {
			triggers = append(triggers, b.Name)
			fn.Trigger = b
		}
		fn.Bindings = append(fn.Bindings, b)
	}
	if len(errs) == 0 && len(triggers) != 1 {
		errs = append(errs, fmt.Errorf("%s: a function needs exactly one trigger binding, found %d %v", path, len(triggers), triggers))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return fn, nil
}

// disabledFlag reads function.json "disabled", which may be a boolean or the
// name of an app setting holding one.
func disabledFlag(raw json.RawMessage, getenv func(string) string) (bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return false, nil
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return false, fmt.Errorf(`"disabled" must be a boolean or an app setting name`)
	}
	if v, err := strconv.ParseBool(s); err == nil {
		return v, nil
	}
	return settingTrue(getenv(s)), nil
}

func settingTrue(v string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	return err == nil && b
}

func parseBinding(props map[string]json.RawMessage, funcName string, getenv func(string) string) (Binding, error) {
	b := Binding{Properties: props}
	if props == nil {
		return b, errors.New("binding is null")
	}
	str := func(key string) (string, error) {
		raw, ok := jsonfold.Lookup(props, key)
		if !ok {
			return "", nil
		}
		var o optString
		if err := json.Unmarshal(raw, &o); err != nil {
			return "", fmt.Errorf("%q: %w", key, err)
		}
		return strings.TrimSpace(o.v), nil
	}
	boolean := func(key string, def bool) (bool, error) {
		raw, ok := jsonfold.Lookup(props, key)
		if !ok {
			return def, nil
		}
		var o optBool
		if err := json.Unmarshal(raw, &o); err != nil {
			return false, fmt.Errorf("%q: %w", key, err)
		}
		if !o.set {
			return def, nil
		}
		return o.v, nil
	}
	var err error
	if b.Name, err = str("name"); err != nil {
		return b, err
	}
	if b.Type, err = str("type"); err != nil {
		return b, err
	}
	dir, err := str("direction")
	if err != nil {
		return b, err
	}
	b.Direction = strings.ToLower(dir)
	if b.Type == "" {
		return b, errors.New(`missing "type"`)
	}
	if !bindingNameRE.MatchString(b.Name) {
		return b, fmt.Errorf(`"name" %q is invalid: use a letter followed by letters, digits or '_', or "$return"`, b.Name)
	}
	for _, known := range []string{TypeHTTPTrigger, TypeHTTP, TypeQueueTrigger, TypeQueue, TypeTimerTrigger} {
		if strings.EqualFold(b.Type, known) {
			b.Type = known
		}
	}
	switch b.Direction {
	case "in", "out", "inout":
	case "":
		return b, errors.New(`missing "direction"`)
	default:
		return b, fmt.Errorf(`"direction" must be "in", "out" or "inout", got %q`, dir)
	}
	if b.IsTrigger() && b.Direction != "in" {
		return b, fmt.Errorf(`trigger %q must have direction "in"`, b.Type)
	}

	switch b.Type {
	case TypeHTTPTrigger:
		level, err := str("authLevel")
		if err != nil {
			return b, err
		}
		switch level = strings.ToLower(level); level {
		case "":
			b.AuthLevel = AuthFunction
		case AuthAnonymous, AuthFunction, AuthAdmin:
			b.AuthLevel = level
		default:
			return b, fmt.Errorf(`"authLevel" must be anonymous, function or admin, got %q`, level)
		}
		if raw, ok := jsonfold.Lookup(props, "methods"); ok && string(bytes.TrimSpace(raw)) != "null" {
			var methods []string
			if err := json.Unmarshal(raw, &methods); err != nil {
				return b, fmt.Errorf(`"methods" must be a list of strings: %w`, err)
			}
			for _, m := range methods {
				m = strings.ToLower(strings.TrimSpace(m))
				if !methodRE.MatchString(m) {
					return b, fmt.Errorf(`"methods" has invalid method %q`, m)
				}
				b.Methods = append(b.Methods, m)
			}
		}
		route, err := str("route")
		if err != nil {
			return b, err
		}
		if route, err = ResolveSettings(route, getenv); err != nil {
			return b, fmt.Errorf(`"route": %w`, err)
		}
		if strings.Trim(route, "/") == "" {
			route = funcName
		}
		if _, err := ParseRoute(route); err != nil {
			return b, err
		}
		b.Route = route

	case TypeQueueTrigger, TypeQueue:
		qn, err := str("queueName")
		if err != nil {
			return b, err
		}
		if qn == "" {
			return b, errors.New(`missing "queueName"`)
		}
		if qn, err = ResolveSettings(qn, getenv); err != nil {
			return b, fmt.Errorf(`"queueName": %w`, err)
		}
		// The queue extension lower-cases names before validating them.
		qn = strings.ToLower(strings.TrimSpace(qn))
		// An output binding may use a binding expression such as
		// "out-{id}", resolved per invocation; only literal names are checked.
		if b.Type == TypeQueueTrigger || !strings.ContainsAny(qn, "{}") {
			if err := ValidateQueueName(qn); err != nil {
				return b, err
			}
		}
		b.QueueName = qn
		if b.Connection, err = str("connection"); err != nil {
			return b, err
		}
		if b.Connection == "" {
			b.Connection = DefaultConnection
		}
		dt, err := str("dataType")
		if err != nil {
			return b, err
		}
		b.DataType = strings.ToLower(dt)
		switch b.DataType {
		case "", "string", "binary", "stream":
		default:
			return b, fmt.Errorf(`"dataType" must be string, binary or stream, got %q`, dt)
		}

	case TypeTimerTrigger:
		sched, err := str("schedule")
		if err != nil {
			return b, err
		}
		if sched == "" {
			return b, errors.New(`missing "schedule"`)
		}
		if sched, err = ResolveSettings(sched, getenv); err != nil {
			return b, fmt.Errorf(`"schedule": %w`, err)
		}
		if b.ParsedSchedule, err = ParseSchedule(sched); err != nil {
			return b, err
		}
		b.Schedule = sched
		if b.RunOnStartup, err = boolean("runOnStartup", false); err != nil {
			return b, err
		}
		if b.UseMonitor, err = boolean("useMonitor", true); err != nil {
			return b, err
		}
	}
	return b, nil
}

// ValidateQueueName applies Azure Storage's queue naming rules, so a typo
// fails at load time with the file named instead of at the first poll.
func ValidateQueueName(name string) error {
	if len(name) < 3 || len(name) > 63 || !queueNameRE.MatchString(name) {
		return fmt.Errorf("invalid queue name %q: use 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit", name)
	}
	return nil
}

// ResolveSettings replaces every %Name% in s with getenv(Name), as the host does
// for binding properties. An unset (empty) setting is an error naming it, since
// the host refuses to start such a function too.
func ResolveSettings(s string, getenv func(string) string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.IndexByte(rest, '%')
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		j := strings.IndexByte(rest[i+1:], '%')
		if j < 0 {
			return "", fmt.Errorf("unterminated %%setting%% in %q", s)
		}
		name := rest[i+1 : i+1+j]
		if name == "" {
			return "", fmt.Errorf("empty %%%% setting reference in %q", s)
		}
		val := getenv(name)
		if val == "" {
			return "", fmt.Errorf("app setting %q (referenced as %%%s%% in %q) is not set", name, name, s)
		}
		b.WriteString(rest[:i])
		b.WriteString(val)
		rest = rest[i+2+j:]
	}
}

// optString accepts a string, number or boolean, as the host's configuration
// binder does, and remembers whether the key was present.
type optString struct {
	v   string
	set bool
}

// UnmarshalJSON implements json.Unmarshaler; see the type comment.
func (o *optString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &o.v); err != nil {
			return err
		}
		o.set = true
		return nil
	}
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		return errors.New("expected a string")
	}
	o.v, o.set = string(b), true
	return nil
}

// optBool accepts true/false or their string forms.
type optBool struct {
	v   bool
	set bool
}

// UnmarshalJSON implements json.Unmarshaler; see the type comment.
func (o *optBool) UnmarshalJSON(b []byte) error {
	var s optString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if !s.set {
		return nil
	}
	v, err := strconv.ParseBool(strings.TrimSpace(s.v))
	if err != nil {
		return fmt.Errorf("expected a boolean, got %q", s.v)
	}
	o.v, o.set = v, true
	return nil
}

// optInt accepts a number or a numeric string.
type optInt struct {
	v   int
	set bool
}

// UnmarshalJSON implements json.Unmarshaler; see the type comment.
func (o *optInt) UnmarshalJSON(b []byte) error {
	var s optString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if !s.set {
		return nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(s.v))
	if err != nil {
		return fmt.Errorf("expected an integer, got %q", s.v)
	}
	o.v, o.set = v, true
	return nil
}

// optSpan accepts a TimeSpan string, or a number of milliseconds, which is how
// version 1 of the queue extension wrote maxPollingInterval.
type optSpan struct {
	v   time.Duration
	set bool
}

// UnmarshalJSON implements json.Unmarshaler; see the type comment.
func (o *optSpan) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] != '"' {
		var ms int64
		if err := json.Unmarshal(b, &ms); err != nil {
			return fmt.Errorf("expected a TimeSpan string or milliseconds: %w", err)
		}
		o.v, o.set = time.Duration(ms)*time.Millisecond, true
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := ParseTimeSpan(s)
	if err != nil {
		return err
	}
	o.v, o.set = d, true
	return nil
}

// oneOf returns the choice equal to v ignoring case and surrounding space.
func oneOf(v string, choices ...string) (string, bool) {
	for _, c := range choices {
		if strings.EqualFold(strings.TrimSpace(v), c) {
			return c, true
		}
	}
	return "", false
}
