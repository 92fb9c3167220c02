package durable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// HTTPActivityName is the built-in activity that carries out CallHTTP requests, named
// as Durable Functions names its own.
const HTTPActivityName = "BuiltIn::HttpActivity"

// HTTPRequest is a request made by OrchestrationContext.CallHTTP. It is recorded in
// the orchestration's history (headers and body included), so keep secrets out of it:
// use TokenSource for bearer tokens, which are fetched by the activity worker and
// never stored.
type HTTPRequest struct {
	// Method is the HTTP method; GET when empty.
	Method string `json:"method,omitempty"`
	// URL is the absolute http or https URL to call.
	URL     string      `json:"url"`
	Headers http.Header `json:"headers,omitempty"`
	Body    string      `json:"body,omitempty"`
	// Timeout bounds each request (the first and every poll); DefaultHTTPTimeout when 0.
	Timeout time.Duration `json:"timeout,omitempty"`
	// DisableAsyncPolling returns a 202 answer as it is instead of following its
	// Location (DF's asynchronousPatternEnabled=false).
	DisableAsyncPolling bool `json:"disableAsyncPolling,omitempty"`
	// TokenSource, when set, adds "Authorization: Bearer <token>" to every request.
	TokenSource TokenSource `json:"-"`
}

// DefaultHTTPTimeout bounds a CallHTTP request whose Timeout is 0.
const DefaultHTTPTimeout = 90 * time.Second

// HTTPResponse is the result of a CallHTTP task.
type HTTPResponse struct {
	StatusCode int         `json:"statusCode"`
	Headers    http.Header `json:"headers,omitempty"`
	Body       string      `json:"body,omitempty"`
}

// TokenSource supplies the bearer token of a CallHTTP request. The request travels
// through history to an activity worker, so a source is recorded by kind and JSON
// configuration and rebuilt there: implementations are JSON-serialisable values whose
// kind is registered with RegisterTokenSource (ManagedIdentityTokenSource is built in).
type TokenSource interface {
	// TokenSourceKind names the registered kind, e.g. "AzureManagedIdentity".
	TokenSourceKind() string
	// Token returns an access token. It runs on the activity worker.
	Token(ctx context.Context) (string, error)
}

var (
	tokenKindsMu sync.RWMutex
	tokenKinds   = map[string]func() TokenSource{}
)

// RegisterTokenSource makes kind decodable on activity workers: newSource returns a
// pointer to a zero value that the recorded JSON configuration is decoded into.
// Register at start-up, in every process that runs activities.
func RegisterTokenSource(kind string, newSource func() TokenSource) {
	tokenKindsMu.Lock()
	defer tokenKindsMu.Unlock()
	tokenKinds[strings.ToLower(kind)] = newSource
}

func init() {
	RegisterTokenSource(managedIdentityKind, func() TokenSource { return &ManagedIdentityTokenSource{} })
}

const managedIdentityKind = "AzureManagedIdentity"

// ManagedIdentityTokenSource gets tokens from the app's Azure managed identity
// (azidentity.ManagedIdentityCredential), as DF's ManagedIdentityTokenSource does. The
// credential is only constructed when a request using it runs.
type ManagedIdentityTokenSource struct {
	// Resource is the scope to request, e.g. "https://management.core.windows.net/.default"
	// (a resource URI without "/.default" gets it appended).
	Resource string `json:"resource"`
	// ClientID selects a user-assigned identity; empty means the system-assigned one.
	ClientID string `json:"clientId,omitempty"`
}

// TokenSourceKind implements TokenSource.
func (m *ManagedIdentityTokenSource) TokenSourceKind() string { return managedIdentityKind }

// Token implements TokenSource.
func (m *ManagedIdentityTokenSource) Token(ctx context.Context) (string, error) {
	if m.Resource == "" {
		return "", errors.New("durable: ManagedIdentityTokenSource.Resource is empty")
	}
	var opts azidentity.ManagedIdentityCredentialOptions
	if m.ClientID != "" {
		opts.ID = azidentity.ClientID(m.ClientID)
	}
	cred, err := azidentity.NewManagedIdentityCredential(&opts)
	if err != nil {
		return "", fmt.Errorf("durable: managed identity: %w", err)
	}
	scope := m.Resource
	if !strings.HasSuffix(scope, "/.default") {
		scope = strings.TrimSuffix(scope, "/") + "/.default"
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		return "", fmt.Errorf("durable: managed identity token for %s: %w", scope, err)
	}
	return tok.Token, nil
}

// httpRequestJSON is HTTPRequest as recorded: the token source by kind and config.
type httpRequestJSON struct {
	Method              string          `json:"method,omitempty"`
	URL                 string          `json:"url"`
	Headers             http.Header     `json:"headers,omitempty"`
	Body                string          `json:"body,omitempty"`
	Timeout             time.Duration   `json:"timeout,omitempty"`
	DisableAsyncPolling bool            `json:"disableAsyncPolling,omitempty"`
	TokenKind           string          `json:"tokenSourceKind,omitempty"`
	TokenConfig         json.RawMessage `json:"tokenSource,omitempty"`
}

// MarshalJSON records the token source by kind and configuration.
func (r HTTPRequest) MarshalJSON() ([]byte, error) {
	j := httpRequestJSON{Method: r.Method, URL: r.URL, Headers: r.Headers, Body: r.Body, Timeout: r.Timeout, DisableAsyncPolling: r.DisableAsyncPolling}
	if r.TokenSource != nil {
		j.TokenKind = r.TokenSource.TokenSourceKind()
		cfg, err := json.Marshal(r.TokenSource)
		if err != nil {
			return nil, fmt.Errorf("durable: token source %s is not JSON-serialisable: %w", j.TokenKind, err)
		}
		j.TokenConfig = cfg
	}
	return json.Marshal(j)
}

// UnmarshalJSON rebuilds the token source from its registered kind.
func (r *HTTPRequest) UnmarshalJSON(b []byte) error {
	var j httpRequestJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = HTTPRequest{Method: j.Method, URL: j.URL, Headers: j.Headers, Body: j.Body, Timeout: j.Timeout, DisableAsyncPolling: j.DisableAsyncPolling}
	if j.TokenKind == "" {
		return nil
	}
	tokenKindsMu.RLock()
	newSource := tokenKinds[strings.ToLower(j.TokenKind)]
	tokenKindsMu.RUnlock()
	if newSource == nil {
		return fmt.Errorf("durable: token source kind %q is not registered (RegisterTokenSource)", j.TokenKind)
	}
	ts := newSource()
	if len(j.TokenConfig) > 0 {
		if err := json.Unmarshal(j.TokenConfig, ts); err != nil {
			return fmt.Errorf("durable: token source %s: %w", j.TokenKind, err)
		}
	}
	r.TokenSource = ts
	return nil
}
