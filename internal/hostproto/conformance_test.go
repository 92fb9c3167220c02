package hostproto

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

const payloadDir = "testdata/host-payloads"

// payloadCoverage names every file in payloadDir and the test that checks it.
// A file added to the directory without an entry here fails
// TestEveryPayloadFileIsCovered, so new captures cannot go untested.
var payloadCoverage = map[string]string{
	"README.md":                           "documentation, not a payload",
	"forwarded_http_request.derived.http": "TestForwardedHTTPRequest",
	"host_unit_test_fixture.default_invocation_request.derived.json": "TestDefaultInvocationFixture",
	"host_unit_test_fixture.responses.derived.json":                  "TestResponsePayloads",
	"http_trigger_request.docs_example.json":                         "TestHTTPTriggerDocsExample",
	"http_trigger_response.docs_example.json":                        "TestResponsePayloads",
	"queue_trigger_request.captured.json":                            "TestCapturedQueueTrigger",
	"queue_trigger_request.docs_example_INACCURATE.json":             "TestDocsQueueTriggerInaccurate",
	"queue_trigger_request_datatype_binary.derived.json":             "TestBinaryQueueTrigger",
	"response_http_res_status_headers.azure_samples.json":            "TestResponsePayloads",
	"response_multi_output.docs_example.json":                        "TestResponsePayloads",
	"response_queue_trigger_with_outputs.azure_samples.json":         "TestResponsePayloads",
	"timer_trigger_request.captured.json":                            "TestTimerTrigger",
}

func TestEveryPayloadFileIsCovered(t *testing.T) {
	entries, err := os.ReadDir(payloadDir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		seen[e.Name()] = true
		if _, ok := payloadCoverage[e.Name()]; !ok {
			t.Errorf("payload file %s is not covered by any test: add a test and list it in payloadCoverage", e.Name())
		}
	}
	for name := range payloadCoverage {
		if !seen[name] {
			t.Errorf("payloadCoverage lists %s but it is missing from %s", name, payloadDir)
		}
	}
}

func readPayload(t testing.TB, name string) []byte {
	t.Helper()
	if _, ok := payloadCoverage[name]; !ok {
		t.Fatalf("%s is not listed in payloadCoverage", name)
	}
	b, err := os.ReadFile(filepath.Join(payloadDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodePayload(t *testing.T, name string) *InvocationRequest {
	t.Helper()
	req, err := DecodeInvocation(bytes.NewReader(readPayload(t, name)), 0)
	if err != nil {
		t.Fatalf("DecodeInvocation(%s): %v", name, err)
	}
	return req
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UTC()
}

func payloadString(t *testing.T, req *InvocationRequest, name string) string {
	t.Helper()
	b, err := req.Payload(name)
	if err != nil {
		t.Fatalf("Payload(%q): %v", name, err)
	}
	return string(b)
}

func TestCapturedQueueTrigger(t *testing.T) {
	req := decodePayload(t, "queue_trigger_request.captured.json")
	for _, name := range []string{"queue", "QUEUE"} {
		if got := payloadString(t, req, name); got != "hello!!" {
			t.Errorf("Payload(%q) = %q, want %q", name, got, "hello!!")
		}
	}
	want := QueueMessageInfo{
		ID:              "52d53c5f-e212-487e-998b-abbe3b9d51e4",
		PopReceipt:      "MThGZWIyMDI1MDM6MDY6MjA3NjM1",
		DequeueCount:    1,
		InsertionTime:   mustTime(t, "2025-02-18T03:06:19Z"),
		ExpirationTime:  mustTime(t, "2025-02-25T03:06:19Z"),
		NextVisibleTime: mustTime(t, "2025-02-18T03:16:20Z"),
	}
	if got := req.QueueInfo(); !reflect.DeepEqual(got, want) {
		t.Errorf("QueueInfo() = %+v, want %+v", got, want)
	}
	sys, ok := req.MetaString("sys")
	if !ok {
		t.Fatal("MetaString(sys) missing")
	}
	var s struct{ MethodName string }
	if err := json.Unmarshal([]byte(sys), &s); err != nil || s.MethodName != "queue" {
		t.Errorf("sys = %s (%v), want MethodName queue", sys, err)
	}
}

func TestDocsQueueTriggerInaccurate(t *testing.T) {
	req := decodePayload(t, "queue_trigger_request.docs_example_INACCURATE.json")
	if got, want := payloadString(t, req, "myQueueItem"), `{ message: "Message sent" }`; got != want {
		t.Errorf("Payload = %q, want %q", got, want)
	}
	q := req.QueueInfo()
	if q.DequeueCount != 1 || q.ID != "800ae4b3-bdd2-4c08-badd-f08e5a34b865" || q.PopReceipt != "AgAAAAMAAAAAAAAAAgtnj8x+1QE=" {
		t.Errorf("QueueInfo() = %+v", q)
	}
	if !q.NextVisibleTime.Equal(mustTime(t, "2019-10-09T18:08:32Z")) {
		t.Errorf("NextVisibleTime = %v", q.NextVisibleTime)
	}
}

func TestDefaultInvocationFixture(t *testing.T) {
	req := decodePayload(t, "host_unit_test_fixture.default_invocation_request.derived.json")
	if got := payloadString(t, req, "myqueueItem"); got != "HelloWorld" {
		t.Errorf("myqueueItem = %q, want HelloWorld", got)
	}
	if n, ok := req.MetaInt("DequeueCount"); !ok || n != 4 {
		t.Errorf("MetaInt(DequeueCount) = %d, %v; want 4", n, ok)
	}
	if q := req.QueueInfo(); q.DequeueCount != 4 {
		t.Errorf("QueueInfo().DequeueCount = %d, want 4", q.DequeueCount)
	}
	if s, _ := req.MetaString("helloString"); s != "helloMetadata" {
		t.Errorf("helloString = %q", s)
	}
	want := mustTime(t, "2019-10-01T00:00:00Z")
	for _, key := range []string{"VisibleTime", "visibletimeoffset"} {
		if tm, ok := req.MetaTime(key); !ok || !tm.Equal(want) {
			t.Errorf("MetaTime(%s) = %v, %v; want %v", key, tm, ok, want)
		}
	}
}

func TestBinaryQueueTrigger(t *testing.T) {
	req := decodePayload(t, "queue_trigger_request_datatype_binary.derived.json")
	b, err := req.PayloadBinary("myQueueItem")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"instanceId":"abc123","id":"evt-1","attempt":3,"ok":true,"payload":{"n":1},"tags":["a","b"]}`
	if string(b) != want {
		t.Errorf("PayloadBinary = %s, want %s", b, want)
	}
	if q := req.QueueInfo(); q.DequeueCount != 1 || q.ID != "52d53c5f-e212-487e-998b-abbe3b9d51e4" {
		t.Errorf("QueueInfo() = %+v", q)
	}
}

func TestTimerTrigger(t *testing.T) {
	req := decodePayload(t, "timer_trigger_request.captured.json")
	ti, err := req.Timer("myTimer")
	if err != nil {
		t.Fatal(err)
	}
	if ti.IsPastDue {
		t.Error("IsPastDue = true, want false")
	}
	if !ti.Schedule.AdjustForDST {
		t.Error("AdjustForDST = false, want true")
	}
	if ti.ScheduleStatus == nil {
		t.Fatal("ScheduleStatus missing")
	}
	if got, want := ti.ScheduleStatus.Next, mustTime(t, "2024-11-30T14:45:51Z"); !got.Equal(want) {
		t.Errorf("Next = %v, want %v", got, want)
	}
	if !ti.ScheduleStatus.Last.IsZero() {
		t.Errorf("Last = %v, want zero (never fired)", ti.ScheduleStatus.Last)
	}
	if got, want := ti.ScheduleStatus.LastUpdated, mustTime(t, "2024-11-30T14:43:50.403838Z"); !got.Equal(want) {
		t.Errorf("LastUpdated = %v, want %v", got, want)
	}
}

func TestHTTPTriggerDocsExample(t *testing.T) {
	req := decodePayload(t, "http_trigger_request.docs_example.json")
	hr, err := req.HTTPRequest(context.Background(), "req")
	if err != nil {
		t.Fatal(err)
	}
	if hr.Method != http.MethodPost {
		t.Errorf("Method = %s", hr.Method)
	}
	if got := hr.URL.String(); got != "http://localhost:7071/api/order" {
		t.Errorf("URL = %s", got)
	}
	if got := hr.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	body, _ := io.ReadAll(hr.Body)
	if string(body) != `{"id":1005,"quantity":2,"color":"black"}` {
		t.Errorf("body = %s", body)
	}
	if hr.ContentLength != int64(len(body)) {
		t.Errorf("ContentLength = %d, want %d", hr.ContentLength, len(body))
	}
	if p := RouteParams(hr); p == nil || len(p) != 0 {
		t.Errorf("RouteParams = %v, want empty map", p)
	}
}

func TestResponsePayloads(t *testing.T) {
	type respCase struct {
		name string
		raw  json.RawMessage
	}
	var cases []respCase
	for _, f := range []string{
		"http_trigger_response.docs_example.json",
		"response_http_res_status_headers.azure_samples.json",
		"response_multi_output.docs_example.json",
		"response_queue_trigger_with_outputs.azure_samples.json",
	} {
		cases = append(cases, respCase{f, readPayload(t, f)})
	}
	var fixtures map[string]json.RawMessage
	if err := json.Unmarshal(readPayload(t, "host_unit_test_fixture.responses.derived.json"), &fixtures); err != nil {
		t.Fatal(err)
	}
	for _, k := range sortedKeys(fixtures) {
		cases = append(cases, respCase{"fixture " + k, fixtures[k]})
	}
	if len(cases) != 7 {
		t.Fatalf("expected 7 response cases, got %d", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := DecodeInvocationResponse(c.raw)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			var shape map[string]json.RawMessage
			if err := json.Unmarshal(enc, &shape); err != nil {
				t.Fatal(err)
			}
			keys := sortedKeys(shape)
			if !reflect.DeepEqual(keys, []string{"Logs", "Outputs", "ReturnValue"}) {
				t.Errorf("keys = %v", keys)
			}
			if b := bytes.TrimSpace(shape["Logs"]); len(b) == 0 || b[0] != '[' {
				t.Errorf("Logs = %s, want an array", b)
			}
			if b := bytes.TrimSpace(shape["Outputs"]); len(b) == 0 || b[0] != '{' {
				t.Errorf("Outputs = %s, want an object", b)
			}
			// Outputs and ReturnValue survive the round trip unchanged.
			var orig, again map[string]any
			_ = json.Unmarshal(c.raw, &orig)
			_ = json.Unmarshal(enc, &again)
			if !reflect.DeepEqual(orig["Outputs"], again["Outputs"]) || !reflect.DeepEqual(orig["ReturnValue"], again["ReturnValue"]) {
				t.Errorf("round trip changed values:\n orig  %v\n again %v", orig, again)
			}
			if res, ok := resp.Outputs["res"]; ok {
				rb, _ := json.Marshal(res)
				var out HTTPOutput
				if err := json.Unmarshal(rb, &out); err != nil {
					t.Fatalf("res as HTTPOutput: %v", err)
				}
				if out.Body == "" {
					t.Errorf("res body empty: %s", rb)
				}
			}
		})
	}

	// Specific fields of the sample with status and headers.
	resp, err := DecodeInvocationResponse(readPayload(t, "response_http_res_status_headers.azure_samples.json"))
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := json.Marshal(resp.Outputs["res"])
	var out HTTPOutput
	if err := json.Unmarshal(rb, &out); err != nil {
		t.Fatal(err)
	}
	want := HTTPOutput{StatusCode: 201, Body: "my world", Headers: map[string]string{"header1": "header1Val", "header2": "header2Val"}}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("res = %+v, want %+v", out, want)
	}
	if resp.ReturnValue != "Hello,World" || !reflect.DeepEqual(resp.Logs, []string{"test log1", "test log2"}) {
		t.Errorf("ReturnValue/Logs = %v / %v", resp.ReturnValue, resp.Logs)
	}
	// The docs example has "Logs": null; we re-encode it as [].
	resp, err = DecodeInvocationResponse(readPayload(t, "http_trigger_response.docs_example.json"))
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := json.Marshal(resp)
	if !bytes.Contains(enc, []byte(`"Logs":[]`)) {
		t.Errorf("encoded = %s, want Logs []", enc)
	}
}

// readForwardedRequest turns the annotated .http file into a raw request: the
// comment lines and the "(all other ...)" note are documentation, and the port
// placeholder is replaced so the request line parses.
func readForwardedRequest(t *testing.T) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(readPayload(t, "forwarded_http_request.derived.http")))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "(all other") {
			continue
		}
		line = strings.ReplaceAll(line, "<FUNCTIONS_CUSTOMHANDLER_PORT>", "40123")
		if buf.Len() == 0 {
			// The file shows the request line in absolute form for clarity; the
			// host's HttpClient sends origin form plus the client's Host header,
			// and Go gives an absolute-form URL precedence over Host.
			if f := strings.Fields(line); len(f) == 3 {
				if u, err := url.Parse(f[1]); err == nil && u.IsAbs() {
					line = f[0] + " " + u.RequestURI() + " " + f[2]
				}
			}
		}
		buf.WriteString(line + "\r\n")
	}
	hr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	return hr
}

func TestForwardedHTTPRequest(t *testing.T) {
	hr := readForwardedRequest(t)
	if hr.Method != http.MethodPost {
		t.Errorf("Method = %s", hr.Method)
	}
	if hr.URL.Path != "/api/items/42" {
		t.Errorf("Path = %s", hr.URL.Path)
	}
	if hr.URL.RawQuery != "code=abc&x=1" {
		t.Errorf("RawQuery = %s", hr.URL.RawQuery)
	}
	if hr.Host != "localhost:7071" {
		t.Errorf("Host = %s", hr.Host)
	}
	if got := hr.Header.Get("X-Azure-Functions-InvocationId"); got == "" {
		t.Error("missing X-Azure-Functions-InvocationId")
	}
	body, err := io.ReadAll(hr.Body)
	if err != nil {
		t.Fatal(err)
	}
	// The file's Content-Length (11) counts the line break after the 9-byte
	// JSON body, so the body read here ends with CRLF; the JSON is what counts.
	if got := strings.TrimRight(string(body), "\r\n"); got != `{"a":"b"}` {
		t.Errorf("body = %q", body)
	}
}

// allPayloadFiles returns every payload file name, for fuzz seeding.
func allPayloadFiles(t testing.TB) []string {
	entries, err := os.ReadDir(payloadDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

func FuzzDecodeInvocation(f *testing.F) {
	for _, name := range allPayloadFiles(f) {
		b, err := os.ReadFile(filepath.Join(payloadDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Data":{"req":{"Url":"http://x/a?b=c","Method":"GET","Query":{"q":"1"},"Headers":{"A":"b"},"Params":{"id":"1"},"Body":{"k":[1]}}},"Metadata":{}}`))
	f.Add([]byte(`{"Data":{"req":"{\"Url\":\"/a\",\"Method\":\"\"}"}}`))
	f.Add([]byte(`{"Data":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeInvocation(bytes.NewReader(b), 1<<20)
		if err != nil {
			return
		}
		_ = req.QueueInfo()
		for name := range req.Data {
			_, _ = req.Payload(name)
			_, _ = req.PayloadBinary(name)
			_, _ = req.Timer(name)
			if hr, err := req.HTTPRequest(context.Background(), name); err == nil {
				_, _ = io.ReadAll(hr.Body)
				_ = RouteParams(hr)
			}
		}
		for key := range req.Metadata {
			_, _ = req.MetaString(key)
			_, _ = req.MetaInt(key)
			_, _ = req.MetaTime(key)
		}
		_ = WriteResponse(discardWriter{}, http.StatusOK, &InvocationResponse{ReturnValue: req.Data})
	})
}

// discardWriter is a ResponseWriter that drops everything, for the fuzz target.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}
