package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/durablego/durablefunctions/durable"
)

// maxHTTPResponseBody bounds the body a CallHTTP response may carry into history
// (large ones go out of line, like any result, but are not unbounded).
const maxHTTPResponseBody = 16 << 20

// httpClient sends CallHTTP requests. Redirects are followed as net/http does; the
// 202 polling of DF is the orchestration's business (durable timers), not this one's.
var httpClient = &http.Client{}

// httpActivity is the built-in activity behind OrchestrationContext.CallHTTP. It sends
// one request and reports the response, whatever its status; transport failures
// (connection refused, timeout, a token that cannot be had) fail the task.
func httpActivity(ctx durable.ActivityContext) (any, error) {
	var req durable.HTTPRequest
	if err := ctx.GetInput(&req); err != nil {
		return nil, fmt.Errorf("CallHTTP: decoding the request: %w", err)
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = durable.DefaultHTTPTimeout
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if req.Body != "" {
		body = strings.NewReader(req.Body)
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(rctx, method, req.URL, body)
	if err != nil {
		return nil, fmt.Errorf("CallHTTP: %w", err)
	}
	for k, vs := range req.Headers {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	if req.TokenSource != nil {
		tok, err := req.TokenSource.Token(rctx)
		if err != nil {
			return nil, fmt.Errorf("CallHTTP: token from %s: %w", req.TokenSource.TokenSourceKind(), err)
		}
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := httpClient.Do(hr)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // *url.Error repeats the URL, with its query
		}
		return nil, fmt.Errorf("CallHTTP %s %s: %w", method, hr.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPResponseBody+1))
	if err != nil {
		return nil, fmt.Errorf("CallHTTP %s %s: reading the response: %w", method, hr.URL.Redacted(), err)
	}
	if len(b) > maxHTTPResponseBody {
		return nil, fmt.Errorf("CallHTTP %s %s: response body over %d bytes", method, hr.URL.Redacted(), maxHTTPResponseBody)
	}
	return durable.HTTPResponse{StatusCode: resp.StatusCode, Headers: resp.Header, Body: string(b)}, nil
}
