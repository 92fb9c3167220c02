package hostproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/durablego/durablefunctions/internal/jsonfold"
)

// InvocationResponse is what the handler answers to an invocation request. The
// host reads Outputs by binding name, copies Logs into its own log stream and
// uses ReturnValue for a "$return" binding.
type InvocationResponse struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// MarshalJSON always writes Outputs as an object and Logs as an array: the host
// tolerates null, but other custom-handler tooling and our own conformance tests
// expect the shape of the official samples, and it costs nothing.
func (r InvocationResponse) MarshalJSON() ([]byte, error) {
	type wire InvocationResponse
	w := wire(r)
	if w.Outputs == nil {
		w.Outputs = map[string]any{}
	}
	if w.Logs == nil {
		w.Logs = []string{}
	}
	return json.Marshal(w)
}

// WriteResponse sends resp as the answer to an invocation. status should be 200
// for success; any non-2xx status makes the host fail the invocation (and retry
// a queue message). A nil resp still produces a JSON body, because the host
// never completes an invocation whose 200 response has an empty body. If resp
// cannot be encoded, a 500 with the encoding error in Logs is sent instead and
// the error is returned.
func WriteResponse(w http.ResponseWriter, status int, resp *InvocationResponse) error {
	if w == nil {
		return errors.New("hostproto: nil ResponseWriter")
	}
	if resp == nil {
		resp = &InvocationResponse{}
	}
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	body, encErr := json.Marshal(resp)
	if encErr != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(InvocationResponse{
			Logs: []string{"hostproto: encoding invocation response: " + encErr.Error()},
		})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("hostproto: writing invocation response: %w", err)
	}
	if encErr != nil {
		return fmt.Errorf("hostproto: encoding invocation response: %w", encErr)
	}
	return nil
}

// HTTPOutput is the value of an "http" output binding: the response the host
// relays to the HTTP client.
//
// StatusCode is written as a decimal string ("201"), the form used by the
// official Go samples and by the host's own test fixtures; the host also
// accepts a number, and UnmarshalJSON accepts both. Zero means 200.
type HTTPOutput struct {
	StatusCode int
	// Body is sent as text. The host relays it as a string, so bodies that are
	// not valid UTF-8 cannot be carried through this binding unchanged.
	Body    string
	Headers map[string]string
}

// MarshalJSON writes the lower-camel-case shape the host expects.
func (o HTTPOutput) MarshalJSON() ([]byte, error) {
	status := o.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w := struct {
		StatusCode string            `json:"statusCode"`
		Body       string            `json:"body"`
		Headers    map[string]string `json:"headers,omitempty"`
	}{strconv.Itoa(status), o.Body, o.Headers}
	return json.Marshal(w)
}

// UnmarshalJSON accepts statusCode as a string or a number, a body that is a
// string or any JSON (kept as its text), and header values that are strings or
// arrays (joined with ", "). Keys match case-insensitively.
func (o *HTTPOutput) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("http output: %w", err)
	}
	if m == nil {
		return errors.New("http output is null")
	}
	out := HTTPOutput{}
	status, err := scalarString(m, "statusCode")
	if err != nil {
		return err
	}
	if status = strings.TrimSpace(status); status != "" {
		n, err := strconv.Atoi(status)
		if err != nil || n < 100 || n > 999 {
			return fmt.Errorf("http output: invalid statusCode %q", status)
		}
		out.StatusCode = n
	}
	if out.Body, err = scalarString(m, "body"); err != nil {
		return err
	}
	headers, err := stringMultiMap(m, "headers")
	if err != nil {
		return err
	}
	if len(headers) > 0 {
		out.Headers = make(map[string]string, len(headers))
		for k, vs := range headers {
			out.Headers[k] = strings.Join(vs, ", ")
		}
	}
	*o = out
	return nil
}

// HTTPOutputFromRecorder converts what an ordinary net/http handler wrote into an
// http output binding value, so the same handlers serve standalone and hosted
// requests. It reads the header snapshot taken when the handler wrote its
// status, as a real server would send it.
func HTTPOutputFromRecorder(rec *httptest.ResponseRecorder) HTTPOutput {
	if rec == nil {
		return HTTPOutput{StatusCode: http.StatusInternalServerError}
	}
	res := rec.Result()
	var body []byte
	if rec.Body != nil {
		body = rec.Body.Bytes()
	}
	return HTTPOutputFrom(res.StatusCode, res.Header, body)
}

// HTTPOutputFrom builds an http output binding value from a status, headers and
// body. The binding carries one string per header, so repeated headers are
// joined with ", " as HTTP allows; Set-Cookie cannot be joined that way, so only
// its first value is kept and the loss is logged.
func HTTPOutputFrom(status int, header http.Header, body []byte) HTTPOutput {
	if status == 0 {
		status = http.StatusOK
	}
	out := HTTPOutput{StatusCode: status, Body: string(body)}
	if len(header) == 0 {
		return out
	}
	out.Headers = make(map[string]string, len(header))
	for k, vs := range header {
		if len(vs) == 0 {
			continue
		}
		if http.CanonicalHeaderKey(k) == "Set-Cookie" {
			if len(vs) > 1 {
				slog.Warn("hostproto: http output binding carries one Set-Cookie header; extra cookies dropped",
					"dropped", len(vs)-1)
			}
			out.Headers[k] = vs[0]
			continue
		}
		out.Headers[k] = strings.Join(vs, ", ")
	}
	return out
}

// DecodeInvocationResponse parses a handler response body, mainly so tests and
// tools can check what a handler sent.
func DecodeInvocationResponse(b []byte) (*InvocationResponse, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(b), &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: response is null", ErrMalformed)
	}
	resp := &InvocationResponse{}
	if raw, ok := jsonfold.Lookup(m, "Outputs"); ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &resp.Outputs); err != nil {
			return nil, fmt.Errorf("%w: Outputs: %v", ErrMalformed, err)
		}
	}
	if raw, ok := jsonfold.Lookup(m, "Logs"); ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &resp.Logs); err != nil {
			return nil, fmt.Errorf("%w: Logs: %v", ErrMalformed, err)
		}
	}
	if raw, ok := jsonfold.Lookup(m, "ReturnValue"); ok {
		if err := json.Unmarshal(raw, &resp.ReturnValue); err != nil {
			return nil, fmt.Errorf("%w: ReturnValue: %v", ErrMalformed, err)
		}
	}
	return resp, nil
}
