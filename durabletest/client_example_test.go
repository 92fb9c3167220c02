package durabletest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
	"github.com/durablego/durablefunctions/funcapp"
)

// greetHandler is an app's own HTTP function, the factory it passes to
// funcapp.App.HTTP: it starts "greet" and waits for the result.
func greetHandler(c durable.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := c.StartNew(r.Context(), "greet", nil, nil)
		if err != nil {
			funcapp.WriteError(w, err)
			return
		}
		s, err := c.WaitForCompletion(r.Context(), id)
		if err != nil {
			funcapp.WriteError(w, err)
			return
		}
		funcapp.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "status": s.RuntimeStatus, "output": s.Output})
	})
}

// Env.Client stands in for the app's durable client: the handler runs under httptest
// with no storage, and the orchestration runs in the Env.
func ExampleEnv_Client() {
	reg := durable.NewRegistry()
	reg.AddOrchestrator("greet", greet)
	reg.AddActivity("Hello", func(ctx durable.ActivityContext) (any, error) {
		var name string
		err := ctx.GetInput(&name)
		return "Hello " + name, err
	})
	env := durabletest.New(reg)
	h := greetHandler(env.Client())

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/greet", nil))
	fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))

	// The instance is the Env's too.
	res, _ := env.Status("instance-1")
	fmt.Println(res.History.Activities())
	// Output:
	// 200 {"id":"instance-1","output":["Hello Tokyo","Hello Seattle"],"status":"Completed"}
	// [Hello Hello]
}
