package gen

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/appdef"
)

func testDef() *appdef.Def {
	reg := durable.NewRegistry()
	reg.AddEntity("my_counter", func(durable.EntityContext) error { return nil })
	return &appdef.Def{Registry: reg, HTTP: []appdef.HTTPFunc{{Name: "api", Route: "things/{id}", Methods: []string{"GET"}, AuthLevel: "function",
		Handler: func(durable.Client) http.Handler { return http.NotFoundHandler() }}}}
}

func TestWriteThenCheck(t *testing.T) {
	dir := t.TempDir()
	changed, err := Write(dir, testDef())
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 9 { // host.json + orchestrator, activity, maintenance, durable_mgmt, durable_links, durable_monitor, my_counter, api
		t.Errorf("changed %v", changed)
	}
	if err := Check(dir, testDef()); err != nil {
		t.Fatalf("check after write: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "my_counter", "function.json"))
	if !strings.Contains(string(b), `"%DURABLE_TASK_HUB%-my-counter"`) {
		t.Errorf("entity queue name:\n%s", b)
	}
	if again, _ := Write(dir, testDef()); len(again) != 0 {
		t.Errorf("second write changed %v", again)
	}
}

func TestCheckNamesFolderAndField(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   string
	}{
		{"missing folder", func(t *testing.T, dir string) { must(t, os.RemoveAll(filepath.Join(dir, "my_counter"))) },
			"my_counter/function.json: missing"},
		{"edited queue name", func(t *testing.T, dir string) { edit(t, dir, "my_counter", "-my-counter", "-other") },
			`my_counter/function.json: bindings[0].queueName is "%DURABLE_TASK_HUB%-other", want "%DURABLE_TASK_HUB%-my-counter"`},
		{"edited route", func(t *testing.T, dir string) { edit(t, dir, "api", "things/{id}", "stuff/{id}") },
			`api/function.json: bindings[0].route is "stuff/{id}", want "things/{id}"`},
		{"edited auth level", func(t *testing.T, dir string) { edit(t, dir, "api", `"function"`, `"anonymous"`) },
			`api/function.json: bindings[0].authLevel is "anonymous", want "function"`},
		{"extra generated folder", func(t *testing.T, dir string) {
			must(t, os.MkdirAll(filepath.Join(dir, "old"), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, "old", "function.json"), Encode(queueFunc("%DURABLE_TASK_HUB%-old")), 0o644))
		}, "old/function.json: generated folder for a function the app does not register"},
		{"no host.json", func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, "host.json"))) }, "host.json: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Write(dir, testDef()); err != nil {
				t.Fatal(err)
			}
			tc.mutate(t, dir)
			err := Check(dir, testDef())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want it to contain %q", err, tc.want)
			}
			if _, err := Write(dir, testDef()); err != nil {
				t.Fatal(err)
			}
			if err := Check(dir, testDef()); err != nil {
				t.Fatalf("after -gen: %v", err)
			}
		})
	}
}

// A hand-written function.json the generator does not know is left alone.
func TestHandWrittenFunctionKept(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "custom"), 0o755))
	hand := []byte(`{"bindings":[{"type":"queueTrigger","direction":"in","name":"msg","queueName":"mine","connection":"AzureWebJobsStorage"}]}`)
	must(t, os.WriteFile(filepath.Join(dir, "custom", "function.json"), hand, 0o644))
	if _, err := Write(dir, testDef()); err != nil {
		t.Fatal(err)
	}
	if err := Check(dir, testDef()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "custom", "function.json")); string(b) != string(hand) {
		t.Fatalf("hand-written function.json changed: %s", b)
	}
}

func edit(t *testing.T, dir, fn, old, new string) {
	t.Helper()
	p := filepath.Join(dir, fn, "function.json")
	b, err := os.ReadFile(p)
	must(t, err)
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %q", p, old)
	}
	must(t, os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
