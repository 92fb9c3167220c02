package hostproto

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeInvocationErrors(t *testing.T) {
	cases := []struct {
		name string
		body string
		max  int64
		want error
	}{
		{"malformed", `{"Data":`, 0, ErrMalformed},
		{"not an object", `[1,2]`, 0, ErrMalformed},
		{"null", `null`, 0, ErrMalformed},
		{"missing Data", `{"Metadata":{}}`, 0, ErrMalformed},
		{"null Data", `{"Data":null}`, 0, ErrMalformed},
		{"Data not object", `{"Data":"x"}`, 0, ErrMalformed},
		{"Metadata not object", `{"Data":{},"Metadata":[1]}`, 0, ErrMalformed},
		{"trailing garbage", `{"Data":{}} {}`, 0, ErrMalformed},
		{"oversize", `{"Data":{"a":"0123456789"}}`, 10, ErrTooLarge},
		{"empty", ``, 0, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeInvocation(strings.NewReader(c.body), c.max)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestDecodeInvocationAccepts(t *testing.T) {
	cases := []struct {
		name string
		body string
		max  int64
	}{
		{"exact limit", `{"Data":{}}`, int64(len(`{"Data":{}}`))},
		{"lowercase keys", `{"data":{"a":"1"},"metadata":{"b":"2"}}`, 0},
		{"no metadata", `{"Data":{}}`, 0},
		{"BOM", "\xef\xbb\xbf{\"Data\":{}}", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := DecodeInvocation(strings.NewReader(c.body), c.max)
			if err != nil {
				t.Fatal(err)
			}
			if req.Data == nil || req.Metadata == nil {
				t.Fatalf("nil maps: %+v", req)
			}
		})
	}
	if _, err := DecodeInvocation(nil, 0); err == nil {
		t.Error("nil reader accepted")
	}
}

func TestPayloadUnwrapping(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		want string
		err  bool
	}{
		{"double-encoded string", `"\"hello\""`, `hello`, false},
		{"double-encoded string with escapes", `"\"a\\\"b\\nc\""`, "a\"b\nc", false},
		{"string holding number", `"1"`, `1`, false},
		{"string holding object", `"{\"a\":1}"`, `{"a":1}`, false},
		{"string holding array", `"[1, 2]"`, `[1, 2]`, false},
		{"string holding true", `"true"`, `true`, false},
		{"string that is not JSON", `"{ message: \"x\" }"`, `{ message: "x" }`, false},
		{"plain word", `"hello"`, `hello`, false},
		{"empty string", `""`, ``, false},
		{"object", `{"a": [1, {"b": null}]}`, `{"a": [1, {"b": null}]}`, false},
		{"array", `["x","y"]`, `["x","y"]`, false},
		{"bare number", `42`, `42`, false},
		{"bare bool", `false`, `false`, false},
		{"null", `null`, ``, false},
		{"quoted null text", `"null"`, `null`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := &InvocationRequest{Data: map[string]json.RawMessage{"Item": json.RawMessage(c.raw)}}
			got, err := req.Payload("item")
			if (err != nil) != c.err {
				t.Fatalf("err = %v", err)
			}
			if string(got) != c.want {
				t.Errorf("Payload = %q, want %q", got, c.want)
			}
		})
	}
	req := &InvocationRequest{Data: map[string]json.RawMessage{}}
	if _, err := req.Payload("missing"); !errors.Is(err, ErrNoBinding) {
		t.Errorf("missing binding err = %v", err)
	}
	var nilReq *InvocationRequest
	if _, err := nilReq.Payload("x"); err == nil {
		t.Error("nil request accepted")
	}
}

func TestPayloadBinary(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		want string
		err  bool
	}{
		{"plain base64", `"aGVsbG8="`, "hello", false},
		{"unpadded", `"aGVsbG8"`, "hello", false},
		{"double-encoded", `"\"aGVsbG8=\""`, "hello", false},
		{"empty", `""`, "", false},
		{"null", `null`, "", false},
		{"not base64", `"!!!"`, "", true},
		{"not a string", `{"a":1}`, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := &InvocationRequest{Data: map[string]json.RawMessage{"b": json.RawMessage(c.raw)}}
			got, err := req.PayloadBinary("B")
			if (err != nil) != c.err {
				t.Fatalf("err = %v", err)
			}
			if string(got) != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestMetadataAccessors(t *testing.T) {
	req := &InvocationRequest{Metadata: map[string]json.RawMessage{
		"dequeueCount": json.RawMessage(`"7"`),
		"Count2":       json.RawMessage(`3`),
		"BadCount":     json.RawMessage(`"x"`),
		"Id":           json.RawMessage(`"\"abc\""`),
		"When":         json.RawMessage(`"2025-02-18T03:06:19+01:00"`),
		"NoZone":       json.RawMessage(`"2019-10-01T00:00:00.1234567"`),
		"Nothing":      json.RawMessage(`null`),
	}}
	intCases := []struct {
		key  string
		want int64
		ok   bool
	}{
		{"DequeueCount", 7, true}, {"count2", 3, true}, {"BadCount", 0, false}, {"Nothing", 0, false}, {"Absent", 0, false},
	}
	for _, c := range intCases {
		if got, ok := req.MetaInt(c.key); got != c.want || ok != c.ok {
			t.Errorf("MetaInt(%s) = %d,%v want %d,%v", c.key, got, ok, c.want, c.ok)
		}
	}
	if s, ok := req.MetaString("ID"); !ok || s != "abc" {
		t.Errorf("MetaString(ID) = %q,%v", s, ok)
	}
	timeCases := []struct {
		key  string
		want time.Time
		ok   bool
	}{
		{"when", time.Date(2025, 2, 18, 2, 6, 19, 0, time.UTC), true},
		{"NoZone", time.Date(2019, 10, 1, 0, 0, 0, 123456700, time.UTC), true},
		{"Id", time.Time{}, false},
		{"Absent", time.Time{}, false},
	}
	for _, c := range timeCases {
		got, ok := req.MetaTime(c.key)
		if ok != c.ok || !got.Equal(c.want) || (ok && got.Location() != time.UTC) {
			t.Errorf("MetaTime(%s) = %v,%v want %v,%v", c.key, got, ok, c.want, c.ok)
		}
	}
	var nilReq *InvocationRequest
	if q := nilReq.QueueInfo(); q != (QueueMessageInfo{}) {
		t.Errorf("nil QueueInfo = %+v", q)
	}
}

func TestHTTPRequestRebuild(t *testing.T) {
	cases := []struct {
		name      string
		data      string
		method    string
		url       string
		headers   map[string]string
		host      string
		body      string
		params    map[string]string
		expectErr bool
	}{
		{
			name:    "current host shape",
			data:    `{"Url":"https://app.azurewebsites.net/api/items/42?x=1","Method":"put","Query":{"x":"1"},"Headers":{"Content-Type":["text/plain"],"X-Multi":["a","b"],"Host":["app.azurewebsites.net"]},"Params":{"id":"42"},"Body":"hi","Identities":[]}`,
			method:  "PUT",
			url:     "https://app.azurewebsites.net/api/items/42?x=1",
			headers: map[string]string{"Content-Type": "text/plain", "X-Multi": "a"},
			host:    "app.azurewebsites.net",
			body:    "hi",
			params:  map[string]string{"id": "42"},
		},
		{
			name:    "url without query gets Query entries",
			data:    `{"Url":"http://localhost:7071/api/order","Method":"GET","Query":{"b":"2","a":"1"},"Headers":{"accept":"text/html"},"Params":{},"Body":null}`,
			method:  "GET",
			url:     "http://localhost:7071/api/order?a=1&b=2",
			headers: map[string]string{"Accept": "text/html"},
			host:    "localhost:7071",
			params:  map[string]string{},
		},
		{
			name:   "old string Query with entries",
			data:   `{"Url":"http://h/api/x","Method":"GET","Query":"{\"q\":\"v w\"}","Headers":{},"Body":""}`,
			method: "GET",
			url:    "http://h/api/x?q=v+w",
			host:   "h",
			params: map[string]string{},
		},
		{
			name:   "object body becomes JSON text",
			data:   `{"Url":"http://h/api/x","Method":"POST","Body":{"a":[1,2]}}`,
			method: "POST",
			url:    "http://h/api/x",
			host:   "h",
			body:   `{"a":[1,2]}`,
			params: map[string]string{},
		},
		{
			name:   "double-encoded binding value",
			data:   `"{\"Url\":\"http://h/p\",\"Method\":\"DELETE\"}"`,
			method: "DELETE",
			url:    "http://h/p",
			host:   "h",
			params: map[string]string{},
		},
		{
			name:   "missing method defaults to GET",
			data:   `{"Url":"/relative"}`,
			method: "GET",
			url:    "/relative",
			params: map[string]string{},
		},
		{name: "no url", data: `{"Method":"GET"}`, expectErr: true},
		{name: "bad url", data: `{"Url":"http://[::1","Method":"GET"}`, expectErr: true},
		{name: "bad method", data: `{"Url":"/","Method":"G E T"}`, expectErr: true},
		{name: "headers not object", data: `{"Url":"/","Headers":[1]}`, expectErr: true},
		{name: "not an object", data: `42`, expectErr: true},
		{name: "null", data: `null`, expectErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := &InvocationRequest{Data: map[string]json.RawMessage{"req": json.RawMessage(c.data)}}
			hr, err := req.HTTPRequest(context.Background(), "Req")
			if c.expectErr {
				if err == nil {
					t.Fatal("expected error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if hr.Method != c.method {
				t.Errorf("Method = %s, want %s", hr.Method, c.method)
			}
			if hr.URL.String() != c.url {
				t.Errorf("URL = %s, want %s", hr.URL, c.url)
			}
			if hr.Host != c.host {
				t.Errorf("Host = %q, want %q", hr.Host, c.host)
			}
			if hr.Header.Get("Host") != "" {
				t.Error("Host left in header map")
			}
			for k, v := range c.headers {
				if got := hr.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			b, _ := io.ReadAll(hr.Body)
			if string(b) != c.body {
				t.Errorf("body = %q, want %q", b, c.body)
			}
			if got := RouteParams(hr); !reflect.DeepEqual(got, c.params) {
				t.Errorf("RouteParams = %v, want %v", got, c.params)
			}
			for k, v := range c.params {
				if got := hr.PathValue(k); got != v {
					t.Errorf("PathValue(%s) = %q, want %q", k, got, v)
				}
			}
		})
	}
	req := &InvocationRequest{Data: map[string]json.RawMessage{}}
	if _, err := req.HTTPRequest(context.Background(), "req"); !errors.Is(err, ErrNoBinding) {
		t.Errorf("missing binding err = %v", err)
	}
	if RouteParams(httptest.NewRequest("GET", "/", nil)) != nil {
		t.Error("RouteParams on a foreign request should be nil")
	}
}

func TestHTTPTriggerHeaderForms(t *testing.T) {
	var d HTTPTriggerData
	err := json.Unmarshal([]byte(`{"Url":"/","Headers":{"x-one":"single","X-Two":["a","b"],"X-Num":5,"X-Null":null}}`), &d)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Headers.Values("X-One"); !reflect.DeepEqual(got, []string{"single"}) {
		t.Errorf("X-One = %v", got)
	}
	if got := d.Headers.Values("X-Two"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("X-Two = %v", got)
	}
	if got := d.Headers.Get("X-Num"); got != "5" {
		t.Errorf("X-Num = %q", got)
	}
	if _, ok := d.Headers["X-Null"]; ok {
		t.Error("null header kept")
	}
	var nilCtx context.Context
	if _, err := d.Request(nilCtx); err == nil {
		t.Error("nil context accepted")
	}
}

func TestInvocationResponseEncoding(t *testing.T) {
	cases := []struct {
		name string
		resp InvocationResponse
		want string
	}{
		{"zero", InvocationResponse{}, `{"Outputs":{},"Logs":[],"ReturnValue":null}`},
		{"values", InvocationResponse{
			Outputs:     map[string]any{"res": HTTPOutput{StatusCode: 201, Body: "ok", Headers: map[string]string{"A": "b"}}},
			Logs:        []string{"l"},
			ReturnValue: 100,
		}, `{"Outputs":{"res":{"statusCode":"201","body":"ok","headers":{"A":"b"}}},"Logs":["l"],"ReturnValue":100}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, v := range []any{c.resp, &c.resp} {
				b, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != c.want {
					t.Errorf("got %s, want %s", b, c.want)
				}
			}
		})
	}
}

func TestWriteResponse(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		resp       *InvocationResponse
		wantStatus int
		wantBody   string
		wantErr    bool
	}{
		{"nil response is never an empty body", 200, nil, 200, `{"Outputs":{},"Logs":[],"ReturnValue":null}`, false},
		{"failure status", 500, &InvocationResponse{Logs: []string{"boom"}}, 500, `{"Outputs":{},"Logs":["boom"],"ReturnValue":null}`, false},
		{"invalid status", 0, nil, 500, `{"Outputs":{},"Logs":[],"ReturnValue":null}`, false},
		{"unencodable", 200, &InvocationResponse{ReturnValue: make(chan int)}, 500, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			err := WriteResponse(rec, c.status, c.resp)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v", err)
			}
			if rec.Code != c.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, c.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if rec.Body.Len() == 0 {
				t.Fatal("empty body")
			}
			if c.wantBody != "" && rec.Body.String() != c.wantBody {
				t.Errorf("body = %s, want %s", rec.Body, c.wantBody)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Errorf("body is not JSON: %s", rec.Body)
			}
		})
	}
	if err := WriteResponse(nil, 200, nil); err == nil {
		t.Error("nil writer accepted")
	}
}

func TestHTTPOutputJSON(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want HTTPOutput
		err  bool
	}{
		{"string status", `{"statusCode":"201","body":"x"}`, HTTPOutput{StatusCode: 201, Body: "x"}, false},
		{"number status", `{"statusCode":404,"body":""}`, HTTPOutput{StatusCode: 404}, false},
		{"no status", `{"body":"Order enqueued"}`, HTTPOutput{Body: "Order enqueued"}, false},
		{"pascal case keys", `{"StatusCode":"202","Body":"b","Headers":{"K":"v"}}`, HTTPOutput{StatusCode: 202, Body: "b", Headers: map[string]string{"K": "v"}}, false},
		{"object body", `{"body":{"a":1}}`, HTTPOutput{Body: `{"a":1}`}, false},
		{"array header", `{"headers":{"Vary":["a","b"]}}`, HTTPOutput{Headers: map[string]string{"Vary": "a, b"}}, false},
		{"bad status", `{"statusCode":"abc"}`, HTTPOutput{}, true},
		{"status out of range", `{"statusCode":42}`, HTTPOutput{}, true},
		{"not object", `"x"`, HTTPOutput{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got HTTPOutput
			err := json.Unmarshal([]byte(c.in), &got)
			if (err != nil) != c.err {
				t.Fatalf("err = %v", err)
			}
			if !c.err && !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
	b, _ := json.Marshal(HTTPOutput{})
	if string(b) != `{"statusCode":"200","body":""}` {
		t.Errorf("zero HTTPOutput = %s", b)
	}
}

func TestHTTPOutputFromRecorder(t *testing.T) {
	rec := httptest.NewRecorder()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("Vary", "A")
		w.Header().Add("Vary", "B")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"id":"x"}`))
		w.Header().Set("X-Late", "ignored")
	})
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	got := HTTPOutputFromRecorder(rec)
	want := HTTPOutput{
		StatusCode: 202,
		Body:       `{"id":"x"}`,
		Headers:    map[string]string{"Content-Type": "application/json", "Vary": "A, B", "Set-Cookie": "a=1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// A handler that only writes a body gets 200 and a sniffed content type.
	rec = httptest.NewRecorder()
	_, _ = rec.WriteString("hello")
	got = HTTPOutputFromRecorder(rec)
	if got.StatusCode != 200 || got.Body != "hello" || !strings.HasPrefix(got.Headers["Content-Type"], "text/plain") {
		t.Errorf("body-only = %+v", got)
	}
	if got := HTTPOutputFromRecorder(nil); got.StatusCode != 500 {
		t.Errorf("nil recorder = %+v", got)
	}
}

func TestTimerInfoForms(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		pastDue bool
		status  bool
		next    time.Time
		err     bool
	}{
		{"no monitor", `{"Schedule":{},"ScheduleStatus":null,"IsPastDue":true}`, true, false, time.Time{}, false},
		{"string bool", `{"isPastDue":"true"}`, true, false, time.Time{}, false},
		{"camel case", `{"scheduleStatus":{"next":"2024-01-01T00:00:00Z"}}`, false, true, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"bad time", `{"ScheduleStatus":{"Next":"soon"}}`, false, false, time.Time{}, true},
		{"bad bool", `{"IsPastDue":"maybe"}`, false, false, time.Time{}, true},
		{"not object", `[]`, false, false, time.Time{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ti, err := DecodeTimerInfo([]byte(c.in))
			if (err != nil) != c.err {
				t.Fatalf("err = %v", err)
			}
			if c.err {
				return
			}
			if ti.IsPastDue != c.pastDue || (ti.ScheduleStatus != nil) != c.status {
				t.Errorf("got %+v", ti)
			}
			if c.status && !ti.ScheduleStatus.Next.Equal(c.next) {
				t.Errorf("Next = %v, want %v", ti.ScheduleStatus.Next, c.next)
			}
		})
	}
}
