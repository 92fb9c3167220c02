package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/hostproto"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// payloadDir holds the host payloads (copied from shared/host-payloads).
func payloadDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), "internal", "hostproto", "testdata", "host-payloads")
}

// TestHostPayloadsThroughHandler feeds every request payload file to the handler's
// host endpoint, as the Functions host would, and checks every answer is a JSON
// invocation response (never an empty body, never a crash) with the right outcome.
func TestHostPayloadsThroughHandler(t *testing.T) {
	h := newHarness(t, nil)
	a := h.newApp()
	host, err := a.HostHandler()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(payloadDir(t))
	if err != nil {
		t.Fatal(err)
	}
	// Which function each request file is sent to, and the invocation status expected.
	// Queue payloads whose binding name is not the function's, or whose message is not
	// a wake-up, must fail (non-2xx) so the host retries and finally poisons them.
	cases := map[string]struct {
		function string
		status   int
		res      int // expected HTTP output status for HTTP functions
	}{
		"queue_trigger_request.captured.json":                            {"counter_entity", 500, 0},
		"queue_trigger_request.docs_example_INACCURATE.json":             {"counter_entity", 500, 0},
		"queue_trigger_request_datatype_binary.derived.json":             {"counter_entity", 500, 0},
		"host_unit_test_fixture.default_invocation_request.derived.json": {"orchestrator", 500, 0},
		"timer_trigger_request.captured.json":                            {"maintenance", 200, 0},
		"http_trigger_request.docs_example.json":                         {"counter_api", 200, 404},
	}
	seen := 0
	for _, e := range entries {
		name := e.Name()
		body, err := os.ReadFile(filepath.Join(payloadDir(t), name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".http") {
			seen++
			t.Run(name, func(t *testing.T) { forwardedRequest(t, host, body) })
			continue
		}
		if strings.HasPrefix(name, "response_") || strings.Contains(name, "responses") || strings.HasPrefix(name, "http_trigger_response") || name == "README.md" {
			continue // answers, not requests: covered by the hostproto decoder tests
		}
		c, ok := cases[name]
		if !ok {
			t.Errorf("payload %s has no expectation in this test", name)
			continue
		}
		seen++
		t.Run(name, func(t *testing.T) {
			rec := postInvocation(t, host, "/"+c.function, string(body))
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			resp, err := hostproto.DecodeInvocationResponse(rec.Body.Bytes())
			if err != nil {
				t.Fatalf("answer is not an invocation response: %v", err)
			}
			if c.res != 0 {
				res, _ := json.Marshal(resp.Outputs["res"])
				var out hostproto.HTTPOutput
				if err := json.Unmarshal(res, &out); err != nil || out.StatusCode != c.res {
					t.Fatalf("res output %s, want status %d", res, c.res)
				}
			}
		})
	}
	if seen < 7 {
		t.Fatalf("only %d request payloads found", seen)
	}

	// The captured queue payload with its binding renamed to ours and a wake-up as the
	// message text: processed, 200.
	ctx := testenv.Context(t, 20*time.Second)
	id := durable.NewEntityID("counter_entity", "hosted")
	if err := a.Hub.SignalEntity(ctx, id, "add", json.RawMessage("4"), nil); err != nil {
		t.Fatal(err)
	}
	captured, _ := os.ReadFile(filepath.Join(payloadDir(t), "queue_trigger_request.captured.json"))
	wake, _ := json.Marshal(fmt.Sprintf(`{"w":%q}`, id.String()))
	msg := strings.Replace(string(captured), `"queue": "\"hello!!\""`, `"msg": `+string(mustJSON(string(wake))), 1)
	if msg == string(captured) {
		t.Fatal("could not rewrite the captured payload")
	}
	if rec := postInvocation(t, host, "/counter_entity", msg); rec.Code != 200 {
		t.Fatalf("wake-up through host path: %d %s", rec.Code, rec.Body)
	}
	snap, err := a.Hub.ReadEntity(ctx, id)
	if err != nil || string(snap.State) != "4" {
		t.Fatalf("state %s %v, want 4", snap.State, err)
	}

	// An HTTP invocation as current hosts send it (Query as an object).
	inv := `{"Data":{"req":{"Url":"http://localhost:7071/api/counter/hosted/add?value=6","Method":"POST","Query":{"value":"6"},"Headers":{"Content-Type":["application/json"]},"Params":{"path":"hosted/add"},"Body":""}},"Metadata":{}}`
	rec := postInvocation(t, host, "/counter_api", inv)
	resp, err := hostproto.DecodeInvocationResponse(rec.Body.Bytes())
	if rec.Code != 200 || err != nil {
		t.Fatalf("http invocation: %d %v", rec.Code, err)
	}
	res, _ := json.Marshal(resp.Outputs["res"])
	var out hostproto.HTTPOutput
	if err := json.Unmarshal(res, &out); err != nil || out.StatusCode != http.StatusAccepted {
		t.Fatalf("res %s, want 202", res)
	}
}

func mustJSON(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// forwardedRequest replays the raw request the host forwards with
// enableForwardingHttpRequest: it reaches the app routes directly.
func forwardedRequest(t *testing.T, host http.Handler, raw []byte) {
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "#") || strings.HasPrefix(l, "(all other") {
			continue
		}
		lines = append(lines, strings.TrimRight(l, "\r"))
	}
	text := strings.TrimLeft(strings.Join(lines, "\r\n"), "\r\n")
	text = strings.Replace(text, "http://127.0.0.1:<FUNCTIONS_CUSTOMHANDLER_PORT>", "", 1)
	text = strings.Replace(text, "Content-Length: 11", "Content-Length: 9", 1)
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(text)))
	if err != nil {
		t.Fatalf("parse forwarded request: %v", err)
	}
	req.RequestURI = ""
	rec := httptest.NewRecorder()
	host.ServeHTTP(rec, req.WithContext(t.Context()))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Fatalf("forwarded request to an unknown route: %d %s", rec.Code, rec.Body)
	}
}
