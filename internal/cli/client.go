package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// continuationHeader carries paging tokens in both directions (DF's header).
const continuationHeader = "x-ms-continuation-token"

// maxResponse bounds what the tool reads of one answer; status answers with history
// are the largest.
const maxResponse = 64 << 20

// client talks to one app's management API.
type client struct {
	base   string // .../runtime/webhooks/durabletask
	origin string // scheme://host, for messages
	key    string
	http   *http.Client
}

// request is one call to the API.
type request struct {
	method       string
	path         []string // segments below the mount point, escaped here
	query        url.Values
	body         []byte // JSON when not nil
	continuation string
}

// response is the API's answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *client) do(ctx context.Context, req request) (*response, error) {
	u := c.base
	for _, s := range req.path {
		u += "/" + url.PathEscape(s)
	}
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("bad request URL %s: %v", u, err)
	}
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Accept", "application/json")
	if c.key != "" {
		hr.Header.Set("x-functions-key", c.key)
	}
	if req.continuation != "" {
		hr.Header.Set(continuationHeader, req.continuation)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("interrupted: %v", ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach the app at %s: %v (is it running? pass --url or set %s)", c.origin, err, EnvURL)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s %s: %v", req.method, u, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// serverMessage is what the API's error body says: DF's {"Message"} (with its
// ExceptionMessage, the specific reason, when there is one) or bare JSON string, an
// app route's {"error"}, or else the body itself.
func (r *response) serverMessage() string {
	var e struct {
		Error            string `json:"error"`
		Message          string `json:"Message"`
		ExceptionMessage string `json:"ExceptionMessage"`
	}
	var str string
	switch {
	case json.Unmarshal(r.body, &e) == nil && e.ExceptionMessage != "":
		return e.ExceptionMessage
	case e.Message != "":
		return e.Message
	case e.Error != "":
		return e.Error
	case json.Unmarshal(r.body, &str) == nil && str != "":
		return str
	}
	s := strings.TrimSpace(string(r.body))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	if s == "" {
		s = http.StatusText(r.status)
	}
	return s
}

// noRoute reports a 404 that names a missing route rather than a missing instance or
// entity: the URL or route prefix is wrong, or the app is older than the tool.
func (r *response) noRoute() bool {
	m := strings.ToLower(r.serverMessage())
	return r.status == http.StatusNotFound && (strings.HasPrefix(m, "no route") || strings.HasPrefix(m, "no management route") || !json.Valid(r.body))
}

// failure turns an unsuccessful answer into the tool's one-line error. subject names
// what the request was about ("instance abc"), for 404s and conflicts.
func (c *client) failure(r *response, what, subject string) error {
	switch r.status {
	case http.StatusUnauthorized, http.StatusForbidden:
		if c.key == "" {
			return fmt.Errorf("the app requires a key (HTTP %d): pass the master key with --key KEY or set %s", r.status, EnvKey)
		}
		return fmt.Errorf("the app refused the key (HTTP %d): management routes need the master key (FUNCTIONS_MASTER_KEY); pass it with --key KEY or set %s", r.status, EnvKey)
	case http.StatusNotFound:
		if r.noRoute() {
			return fmt.Errorf("the app has no route for %s (HTTP 404: %s): check --url and --route-prefix, or the app is older than this tool", what, r.serverMessage())
		}
		if subject != "" {
			return fmt.Errorf("%s not found", subject)
		}
	case http.StatusGone:
		if subject != "" {
			return fmt.Errorf("%s has already finished", subject)
		}
	case http.StatusPreconditionFailed:
		if subject != "" {
			return fmt.Errorf("%s has not finished: %s", subject, r.serverMessage())
		}
	}
	return fmt.Errorf("%s: %s (HTTP %d)", what, r.serverMessage(), r.status)
}

// call sends req and returns the answer when its status is one of ok.
func (c *client) call(ctx context.Context, req request, what, subject string, ok ...int) (*response, error) {
	r, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, s := range ok {
		if r.status == s {
			return r, nil
		}
	}
	return nil, c.failure(r, what, subject)
}
