// Package gen writes the function folders an app's registrations imply (-gen) and
// reports where the folders on disk disagree with them (-gen-check). The Functions
// host discovers functions from those folders, so they must never drift from the code.
package gen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/durablego/durablefunctions/internal/appdef"
)

// Marker is the value of the "generatedBy" property of generated function.json files
// (the host ignores it, as it does the one the .NET SDK writes). A folder that carries
// it but that the registrations no longer imply is stale and -gen removes it; a
// function.json without it is hand-written and left alone unless its name collides.
const Marker = "durablefunctions -gen"

// MaintenanceSchedule is the NCRONTAB schedule of the maintenance timer.
const MaintenanceSchedule = "0 */5 * * * *"

// Binding is one function.json binding, with fields in the order the host documents.
type Binding struct {
	Type        string   `json:"type"`
	Direction   string   `json:"direction"`
	Name        string   `json:"name"`
	AuthLevel   string   `json:"authLevel,omitempty"`
	Methods     []string `json:"methods,omitempty"`
	Route       string   `json:"route,omitempty"`
	QueueName   string   `json:"queueName,omitempty"`
	Connection  string   `json:"connection,omitempty"`
	Schedule    string   `json:"schedule,omitempty"`
	RunOnStart  *bool    `json:"runOnStartup,omitempty"`
	DataTypeRaw string   `json:"dataType,omitempty"`
}

// File is a function.json.
type File struct {
	GeneratedBy string    `json:"generatedBy"`
	Bindings    []Binding `json:"bindings"`
}

func queueFunc(queue string) File {
	return File{GeneratedBy: Marker, Bindings: []Binding{{Type: "queueTrigger", Direction: "in", Name: "msg", QueueName: queue, Connection: "AzureWebJobsStorage"}}}
}

func httpFunc(f appdef.HTTPFunc) File {
	methods := make([]string, 0, len(f.Methods))
	for _, m := range f.Methods {
		methods = append(methods, strings.ToLower(m))
	}
	auth := f.AuthLevel
	if auth == "" {
		auth = "function"
	}
	return File{GeneratedBy: Marker, Bindings: []Binding{
		{Type: "httpTrigger", Direction: "in", Name: "req", AuthLevel: auth, Methods: methods, Route: f.Route},
		{Type: "http", Direction: "out", Name: "res"},
	}}
}

// Functions returns the function folders def implies, by folder name.
func Functions(def *appdef.Def) map[string]File {
	no := false
	out := map[string]File{
		appdef.OrchestratorFunction: queueFunc("%DURABLE_TASK_HUB%-orchestrator"),
		appdef.ActivityFunction:     queueFunc("%DURABLE_TASK_HUB%-activity"),
		appdef.MaintenanceFunction: {GeneratedBy: Marker, Bindings: []Binding{
			{Type: "timerTrigger", Direction: "in", Name: "timer", Schedule: MaintenanceSchedule, RunOnStart: &no},
		}},
	}
	out[appdef.ManagementFunction] = httpFunc(appdef.HTTPFunc{Name: appdef.ManagementFunction, Route: "runtime/webhooks/durabletask/{*path}",
		Methods: []string{"get", "post", "delete"}, AuthLevel: "admin"})
	// Check-status URLs: the link token is the credential (mgmt.LinksHandler).
	out[appdef.LinksFunction] = httpFunc(appdef.HTTPFunc{Name: appdef.LinksFunction, Route: strings.TrimPrefix(appdef.LinksMount, "/") + "/{*path}",
		Methods: []string{"get", "post", "delete"}, AuthLevel: "anonymous"})
	out[appdef.MonitorFunction] = httpFunc(appdef.HTTPFunc{Name: appdef.MonitorFunction, Route: "monitor/{*path}",
		Methods: []string{"get"}, AuthLevel: "admin"})
	for _, name := range def.Registry.EntityNames() {
		out[name] = queueFunc(appdef.EntityQueue(name))
	}
	for _, f := range def.HTTP {
		out[f.Name] = httpFunc(f)
	}
	return out
}

// Encode renders a function.json as -gen writes it.
func Encode(f File) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(f)
	return buf.Bytes()
}

// DefaultHostJSON is the host.json -gen writes when the app has none.
const DefaultHostJSON = `{
  "version": "2.0",
  "logging": { "logLevel": { "default": "Information" } },
  "customHandler": {
    "description": { "defaultExecutablePath": "bin/handler", "workingDirectory": "", "arguments": [] },
    "enableForwardingHttpRequest": false
  },
  "extensions": {
    "http": { "routePrefix": "api" },
    "queues": {
      "maxPollingInterval": "00:00:02",
      "visibilityTimeout": "00:00:01",
      "batchSize": 16,
      "maxDequeueCount": 5,
      "messageEncoding": "none"
    }
  },
  "extensionBundle": { "id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)" }
}
`

// Write makes root's function folders match def: it writes every implied folder,
// removes generated folders nothing implies any more, and writes host.json if absent.
// It returns the paths it changed.
func Write(root string, def *appdef.Def) ([]string, error) {
	var changed []string
	want := Functions(def)
	if _, err := os.Stat(filepath.Join(root, "host.json")); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(filepath.Join(root, "host.json"), []byte(DefaultHostJSON), 0o644); err != nil {
			return changed, err
		}
		changed = append(changed, "host.json")
	}
	for _, name := range sortedKeys(want) {
		p := filepath.Join(root, name, "function.json")
		b := Encode(want[name])
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return changed, err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return changed, err
		}
		changed = append(changed, filepath.Join(name, "function.json"))
	}
	disk, err := readFolders(root)
	if err != nil {
		return changed, err
	}
	for name, f := range disk {
		if _, ok := want[name]; ok || f.GeneratedBy != Marker {
			continue
		}
		if err := os.Remove(filepath.Join(root, name, "function.json")); err != nil {
			return changed, err
		}
		_ = os.Remove(filepath.Join(root, name)) // only if now empty
		changed = append(changed, filepath.Join(name, "function.json")+" (removed)")
	}
	return changed, nil
}

// Check compares root's function folders with def and returns one error per
// disagreement, each naming the folder and the field.
func Check(root string, def *appdef.Def) error {
	var errs []error
	if _, err := os.Stat(filepath.Join(root, "host.json")); err != nil {
		errs = append(errs, fmt.Errorf("host.json: missing in %s", root))
	}
	want := Functions(def)
	disk, err := readFolders(root)
	if err != nil {
		return err
	}
	for _, name := range sortedKeys(want) {
		got, ok := disk[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s/function.json: missing (the app registers %s); run with -gen", name, name))
			continue
		}
		errs = append(errs, compare(name, got, want[name])...)
	}
	for _, name := range sortedKeys(disk) {
		if _, ok := want[name]; !ok && disk[name].GeneratedBy == Marker {
			errs = append(errs, fmt.Errorf("%s/function.json: generated folder for a function the app does not register; run with -gen to remove it", name))
		}
	}
	return errors.Join(errs...)
}

func compare(name string, got, want File) []error {
	var errs []error
	if len(got.Bindings) != len(want.Bindings) {
		return []error{fmt.Errorf("%s/function.json: bindings has %d entries, want %d; run with -gen", name, len(got.Bindings), len(want.Bindings))}
	}
	for i := range want.Bindings {
		g, w := reflect.ValueOf(got.Bindings[i]), reflect.ValueOf(want.Bindings[i])
		t := g.Type()
		for j := 0; j < t.NumField(); j++ {
			gv, wv := g.Field(j).Interface(), w.Field(j).Interface()
			if equalField(gv, wv) {
				continue
			}
			field := strings.Split(t.Field(j).Tag.Get("json"), ",")[0]
			errs = append(errs, fmt.Errorf("%s/function.json: bindings[%d].%s is %s, want %s; run with -gen", name, i, field, show(gv), show(wv)))
		}
	}
	return errs
}

func equalField(a, b any) bool {
	switch av := a.(type) {
	case string:
		return strings.EqualFold(av, b.(string))
	case []string:
		bv := b.([]string)
		if len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !strings.EqualFold(av[i], bv[i]) {
				return false
			}
		}
		return true
	case *bool:
		bv := b.(*bool)
		return (av == nil || !*av) == (bv == nil || !*bv)
	}
	return reflect.DeepEqual(a, b)
}

func show(v any) string {
	if p, ok := v.(*bool); ok {
		if p == nil {
			return "unset"
		}
		return fmt.Sprint(*p)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// readFolders reads every top-level folder's function.json, as the host discovers
// them (hidden folders skipped).
func readFolders(root string) (map[string]File, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	out := map[string]File{}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "function.json"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var f File
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("%s/function.json: %w", e.Name(), err)
		}
		for i := range f.Bindings {
			if f.Bindings[i].Direction == "" && f.Bindings[i].Type != "http" {
				f.Bindings[i].Direction = "in"
			}
		}
		out[e.Name()] = f
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
