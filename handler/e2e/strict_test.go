package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/testenv"
)

// TestStrictInput: bodies with a schema are decoded strictly (no unknown fields, no
// trailing data, numbers as numbers) and management parameters are range-checked;
// each mistake gets a 400 that says what is wrong, and nothing is written.
func TestStrictInput(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL
	const mg = "/api/runtime/webhooks/durabletask"
	cases := []struct {
		name, method, path, body, header, want string
	}{
		{"counter unknown field", "POST", "/api/counter/s/add", `{"valeu":5}`, "", `unknown field "valeu"`},
		{"counter trailing garbage", "POST", "/api/counter/s/add", `{"value":5} garbage`, "", "after the JSON value"},
		{"counter number as string", "POST", "/api/counter/s/add", `{"value":"5"}`, "", "cannot unmarshal string"},
		{"counter two values", "POST", "/api/counter/s/add", `{"value":5}{"value":6}`, "", "after the JSON value"},
		{"bank unknown field", "POST", "/api/bank/transfer", `{"from":"a","to":"b","amount":5,"memo":"x"}`, "", `unknown field "memo"`},
		{"bank trailing garbage", "POST", "/api/bank/transfer", `{"from":"a","to":"b","amount":5} garbage`, "", "after the JSON value"},
		{"bank number as string", "POST", "/api/bank/transfer", `{"from":"a","to":"b","amount":"5"}`, "", "cannot unmarshal string"},
		{"scoreboard unknown field", "POST", "/api/scoreboard?operation=add", `{"avenger_name":"X","combos_executed":3,"win":0,"wins":1}`, "", `unknown field "wins"`},
		{"scoreboard trailing garbage", "POST", "/api/scoreboard?operation=add", `{"avenger_name":"X","combos_executed":3,"win":0} x`, "", "after the JSON value"},
		{"scoreboard number as string", "POST", "/api/scoreboard?operation=add", `{"avenger_name":"X","combos_executed":"3","win":0}`, "", "cannot unmarshal string"},
		{"circuit unknown field", "POST", "/api/circuit/c/configure", `{"treshold":3}`, "", `unknown field "treshold"`},
		{"circuit trailing garbage", "POST", "/api/circuit/c/configure", `{"threshold":3} {}`, "", "after the JSON value"},
		{"circuit number as string", "POST", "/api/circuit/c/configure", `{"threshold":"3"}`, "", "cannot unmarshal string"},
		{"starter trailing garbage", "POST", "/api/orchestrators/chaining", `{"value":5} garbage`, "", "JSON"},
		{"mgmt start trailing garbage", "POST", mg + "/orchestrators/chaining", `{"value":5} garbage`, "", "JSON"},
		{"mgmt timeout 1e308", "POST", mg + "/orchestrators/chaining?timeout=1e308&pollingInterval=1", "", "", "timeout must be a number of seconds"},
		{"mgmt timeout negative", "POST", mg + "/orchestrators/chaining?timeout=-1&pollingInterval=1", "", "", "timeout must be a number of seconds"},
		{"mgmt timeout NaN", "POST", mg + "/orchestrators/chaining?timeout=NaN&pollingInterval=1", "", "", "timeout must be a number of seconds"},
		{"mgmt polling garbage", "POST", mg + "/orchestrators/chaining?timeout=5&pollingInterval=soon", "", "", "pollingInterval must be a number of seconds"},
		{"mgmt list garbage token", "GET", mg + "/instances", "", "garbage", "continuation token"},
		{"mgmt entities garbage token", "GET", mg + "/entities", "", "abcd", "continuation token"},
		{"mgmt top as word", "GET", mg + "/instances?top=ten", "", "", "top must be a positive integer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hdr []string
			if c.header != "" {
				hdr = []string{"x-ms-continuation-token", c.header}
			}
			r := do(t, c.method, base+c.path, c.body, hdr...)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("%s %s %s: %d, want 400 (%s)", c.method, c.path, c.body, r.Status, r.Body)
			}
			if msg := errorMessage(t, c.path, r); !strings.Contains(msg, c.want) {
				t.Fatalf("error %q does not say %q", msg, c.want)
			}
		})
	}
	ctx := testenv.Context(t, 10*time.Second)
	rows, _, err := w.App.Hub.Instances().Query(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 0 {
		var keys []string
		for _, r := range rows {
			keys = append(keys, r.PartitionKey+"/"+r.RowKey)
		}
		t.Fatalf("refused requests wrote %d rows: %v", len(rows), keys)
	}
}
