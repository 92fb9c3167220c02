package hostproto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/durablego/durablefunctions/internal/jsonfold"
)

// HTTPTriggerData is the httpTrigger binding value inside Data. The host has
// changed its shape over time (Query was the string "{}" before Sept 2020, an
// object since), so UnmarshalJSON accepts every form seen on the wire.
type HTTPTriggerData struct {
	URL     string
	Method  string
	Query   url.Values
	Headers http.Header
	// Params are the route parameters the host matched, e.g. {"id":"42"}.
	Params map[string]string
	// Body is the request body text. The host sends a string; a JSON object or
	// array is accepted and kept as its JSON text.
	Body string
	// Identities is the App Service authentication payload, left raw because
	// its shape belongs to that feature, not to this protocol.
	Identities json.RawMessage
}

// UnmarshalJSON accepts the current and historical host encodings.
func (d *HTTPTriggerData) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("http trigger data: %w", err)
	}
	if m == nil {
		return errors.New("http trigger data is null")
	}
	out := HTTPTriggerData{}
	var err error
	if out.URL, err = scalarString(m, "Url"); err != nil {
		return err
	}
	if out.Method, err = scalarString(m, "Method"); err != nil {
		return err
	}
	if out.Body, err = scalarString(m, "Body"); err != nil {
		return err
	}
	query, err := stringMultiMap(m, "Query")
	if err != nil {
		return err
	}
	out.Query = url.Values(query)
	headers, err := stringMultiMap(m, "Headers")
	if err != nil {
		return err
	}
	out.Headers = http.Header{}
	for _, k := range sortedKeys(headers) {
		for _, v := range headers[k] {
			out.Headers.Add(k, v)
		}
	}
	params, err := stringMultiMap(m, "Params")
	if err != nil {
		return err
	}
	out.Params = make(map[string]string, len(params))
	for k, vs := range params {
		out.Params[k] = strings.Join(vs, ",")
	}
	if id, ok := jsonfold.Lookup(m, "Identities"); ok && !isNull(id) {
		out.Identities = append(json.RawMessage(nil), bytes.TrimSpace(id)...)
	}
	*d = out
	return nil
}

// scalarString reads field key as text: strings as is, other JSON as its text.
func scalarString(m map[string]json.RawMessage, key string) (string, error) {
	raw, ok := jsonfold.Lookup(m, key)
	if !ok || isNull(raw) {
		return "", nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("http trigger %s: %w", key, err)
		}
		return s, nil
	}
	return string(raw), nil
}

// stringMultiMap reads field key as an object whose values are strings, arrays
// of strings or other JSON (kept as text). A string field is parsed as the JSON
// text of such an object, which is how old hosts sent Query ("{}").
func stringMultiMap(m map[string]json.RawMessage, key string) (map[string][]string, error) {
	raw, ok := jsonfold.Lookup(m, key)
	if !ok || isNull(raw) {
		return map[string][]string{}, nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("http trigger %s: %w", key, err)
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return map[string][]string{}, nil
		}
		raw = json.RawMessage(s)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("http trigger %s: not an object: %w", key, err)
	}
	out := make(map[string][]string, len(obj))
	for k, v := range obj {
		v = bytes.TrimSpace(v)
		switch {
		case isNull(v):
			continue
		case len(v) > 0 && v[0] == '[':
			var items []json.RawMessage
			if err := json.Unmarshal(v, &items); err != nil {
				return nil, fmt.Errorf("http trigger %s[%q]: %w", key, k, err)
			}
			for _, it := range items {
				s, err := rawText(it)
				if err != nil {
					return nil, fmt.Errorf("http trigger %s[%q]: %w", key, k, err)
				}
				out[k] = append(out[k], s)
			}
		default:
			s, err := rawText(v)
			if err != nil {
				return nil, fmt.Errorf("http trigger %s[%q]: %w", key, k, err)
			}
			out[k] = append(out[k], s)
		}
	}
	return out, nil
}

func rawText(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	}
	return string(v), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// HTTPTrigger decodes the httpTrigger binding called binding.
func (r *InvocationRequest) HTTPTrigger(binding string) (*HTTPTriggerData, error) {
	raw, ok := r.Raw(binding)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoBinding, binding)
	}
	// A value that arrived as a JSON string holding the object is unwrapped
	// like any other value, so a host that double-encodes it still works.
	b, err := unwrapValue(raw)
	if err != nil {
		return nil, fmt.Errorf("hostproto: binding %q: %w", binding, err)
	}
	if b == nil {
		return nil, fmt.Errorf("hostproto: binding %q is null", binding)
	}
	var d HTTPTriggerData
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("hostproto: binding %q: %w", binding, err)
	}
	return &d, nil
}

type routeParamsKey struct{}

// HTTPRequest rebuilds the client's request from the httpTrigger binding so the
// application's ordinary net/http handlers can serve host invocations unchanged.
// The URL keeps the host's query string; when it has none, Query's entries are
// added. Route parameters are available from RouteParams and r.PathValue.
func (r *InvocationRequest) HTTPRequest(ctx context.Context, binding string) (*http.Request, error) {
	d, err := r.HTTPTrigger(binding)
	if err != nil {
		return nil, err
	}
	return d.Request(ctx)
}

// Request builds the *http.Request described by d. It is separate from
// HTTPRequest so trigger data obtained elsewhere can be turned into a request.
func (d *HTTPTriggerData) Request(ctx context.Context) (*http.Request, error) {
	if ctx == nil {
		return nil, errors.New("hostproto: nil context")
	}
	if d == nil {
		return nil, errors.New("hostproto: nil http trigger data")
	}
	rawURL := strings.TrimSpace(d.URL)
	if rawURL == "" {
		return nil, errors.New("hostproto: http trigger has no Url")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("hostproto: http trigger Url: %w", err)
	}
	if u.RawQuery == "" && len(d.Query) > 0 {
		u.RawQuery = d.Query.Encode()
	}
	method := strings.ToUpper(strings.TrimSpace(d.Method))
	if method == "" {
		method = http.MethodGet
	}
	params := make(map[string]string, len(d.Params))
	for k, v := range d.Params {
		params[k] = v
	}
	ctx = context.WithValue(ctx, routeParamsKey{}, params)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), strings.NewReader(d.Body))
	if err != nil {
		return nil, fmt.Errorf("hostproto: rebuilding http request: %w", err)
	}
	req.Header = d.Headers.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	// Mirror what net/http's server does with an incoming request so handlers
	// see the same shape: Host moves out of the header map, RequestURI is set.
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}
	req.Header.Del("Host")
	req.RequestURI = u.RequestURI()
	for _, k := range sortedKeys(params) {
		req.SetPathValue(k, params[k])
	}
	return req, nil
}

// RouteParams returns the route parameters the host matched for a request built
// by HTTPRequest, or nil for any other request. The map is a copy.
func RouteParams(r *http.Request) map[string]string {
	if r == nil {
		return nil
	}
	p, ok := r.Context().Value(routeParamsKey{}).(map[string]string)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}
