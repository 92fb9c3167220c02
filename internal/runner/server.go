package runner

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durablego/durablefunctions/internal/httpx"
)

// Defaults of ServerOptions.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultBodyTimeout lets a 16 MiB body arrive at about 2 Mbit/s.
	DefaultBodyTimeout = 60 * time.Second
	// DefaultIdleTimeout closes keep-alive connections idle this long; Azure's load
	// balancers drop idle flows after 4 minutes, so clients reconnect anyway.
	DefaultIdleTimeout = 90 * time.Second
	// DefaultMaxBodyBytesInFlight bounds the request body bytes all requests together
	// may hold at once: four maximum-size (16 MiB) inputs.
	DefaultMaxBodyBytesInFlight = 64 << 20
	// DefaultSmallBody is the body size below which a request is never refused for
	// memory: every signal, transfer and score update is far smaller.
	DefaultSmallBody = 64 << 10
)

// Settings that override the ServerOptions defaults (ServerOptionsFromSettings).
const (
	SettingBodyTimeout          = "DURABLE_HTTP_BODY_TIMEOUT"
	SettingIdleTimeout          = "DURABLE_HTTP_IDLE_TIMEOUT"
	SettingMaxBodyBytesInFlight = "DURABLE_HTTP_MAX_BODY_BYTES_IN_FLIGHT"
)

// ServerOptions tune NewServer; zero fields take the defaults.
type ServerOptions struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// BodyTimeout bounds reading a request's body, from the moment the handler starts:
	// a client that trickles its body (slow loris) gets 408 and its connection closed.
	// It is not a server-wide ReadTimeout because net/http cancels the request context
	// when that deadline passes, and management requests may wait up to 220 seconds.
	BodyTimeout time.Duration
	// IdleTimeout closes keep-alive connections that carry no request for this long.
	IdleTimeout time.Duration
	// MaxBodyBytesInFlight caps the body bytes held by all requests at once (handlers
	// buffer bodies up to 16 MiB). A request whose body would go over the cap gets 503
	// with Retry-After. Negative: no cap.
	MaxBodyBytesInFlight int64
	// SmallBody: bodies of at most this many bytes are not counted against the cap,
	// so small requests keep working while large uploads wait their turn.
	SmallBody int64
}

// ServerOptionsFromSettings reads the DURABLE_HTTP_* settings (durations like "30s";
// a byte count for the cap). Unset settings keep the defaults.
func ServerOptionsFromSettings(getenv func(string) string) (*ServerOptions, error) {
	o := &ServerOptions{}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{SettingBodyTimeout, &o.BodyTimeout}, {SettingIdleTimeout, &o.IdleTimeout}} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		t, err := time.ParseDuration(v)
		if err != nil || t <= 0 {
			return nil, fmt.Errorf("%s must be a positive duration such as 30s, got %q", d.name, v)
		}
		*d.dst = t
	}
	if v := getenv(SettingMaxBodyBytesInFlight); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%s must be a byte count (negative: no cap), got %q", SettingMaxBodyBytesInFlight, v)
		}
		o.MaxBodyBytesInFlight = n
	}
	return o, nil
}

// Server is the HTTP server of both modes (standalone and under the host), with its
// timeouts and body-memory cap. main and the tests build it with NewServer.
type Server struct {
	*http.Server
	opts   ServerOptions
	budget *bodyBudget // nil: no cap
}

// NewServer wraps h in the timeouts and memory cap of o (nil: defaults).
func NewServer(h http.Handler, o *ServerOptions) *Server {
	s := &Server{}
	if o != nil {
		s.opts = *o
	}
	if s.opts.ReadHeaderTimeout <= 0 {
		s.opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if s.opts.BodyTimeout <= 0 {
		s.opts.BodyTimeout = DefaultBodyTimeout
	}
	if s.opts.IdleTimeout <= 0 {
		s.opts.IdleTimeout = DefaultIdleTimeout
	}
	if s.opts.MaxBodyBytesInFlight == 0 {
		s.opts.MaxBodyBytesInFlight = DefaultMaxBodyBytesInFlight
	}
	if s.opts.SmallBody <= 0 {
		s.opts.SmallBody = DefaultSmallBody
	}
	if s.opts.MaxBodyBytesInFlight > 0 {
		s.budget = &bodyBudget{max: s.opts.MaxBodyBytesInFlight}
	}
	s.Server = &http.Server{
		Handler:           s.guardBodies(h),
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		// No WriteTimeout: management requests may legitimately wait for an instance
		// (up to 220 s) before they write anything.
	}
	return s
}

// BodyBytesInFlight is the body bytes currently counted against the cap.
func (s *Server) BodyBytesInFlight() int64 {
	if s.budget == nil {
		return 0
	}
	return s.budget.used.Load()
}

// PeakBodyBytesInFlight is the most body bytes ever counted at once.
func (s *Server) PeakBodyBytesInFlight() int64 {
	if s.budget == nil {
		return 0
	}
	return s.budget.peak.Load()
}

// guardBodies gives every request body a read deadline and counts its bytes against
// the cap until the handler returns (handlers hold what they read until then).
func (s *Server) guardBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		b := &guardedBody{body: r.Body, budget: s.budget, small: s.opts.SmallBody, length: r.ContentLength}
		b.rc = http.NewResponseController(w)
		if err := b.rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout)); err == nil {
			b.deadline = true
		}
		r.Body = b
		defer b.release()
		next.ServeHTTP(w, r)
	})
}

// bodyBudget is a non-blocking byte semaphore: waiting for memory would hold the
// connection (and its bytes) anyway, so a request that does not fit is refused.
type bodyBudget struct {
	max  int64
	used atomic.Int64
	peak atomic.Int64
}

func (b *bodyBudget) acquire(n int64) bool {
	for {
		cur := b.used.Load()
		if cur+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(cur, cur+n) {
			for {
				p := b.peak.Load()
				if cur+n <= p || b.peak.CompareAndSwap(p, cur+n) {
					return true
				}
			}
		}
	}
}

func (b *bodyBudget) release(n int64) { b.used.Add(-n) }

// guardedBody is a request body under a deadline and the cap. A body announced
// larger than SmallBody reserves its whole length before the first byte is read; a
// chunked one is counted as it arrives once it passes SmallBody.
type guardedBody struct {
	body     io.ReadCloser
	rc       *http.ResponseController
	deadline bool
	budget   *bodyBudget
	small    int64
	length   int64 // Content-Length, -1 unknown

	mu   sync.Mutex
	read int64
	held int64
	err  error
}

func (b *guardedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.budget != nil && b.held == 0 && b.length > b.small {
		if !b.budget.acquire(b.length) {
			b.err = fmt.Errorf("%w (a %d-byte body does not fit now)", httpx.ErrBusy, b.length)
			return 0, b.err
		}
		b.held = b.length
	}
	n, err := b.body.Read(p)
	b.read += int64(n)
	if b.budget != nil && b.read > b.small && b.read > b.held {
		if !b.budget.acquire(b.read - b.held) {
			b.err = fmt.Errorf("%w (more than %d bytes of body do not fit now)", httpx.ErrBusy, b.read)
			return n, b.err
		}
		b.held = b.read
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		if b.deadline {
			// The server now reads ahead for the next request or a closed
			// connection; that read must not inherit the body deadline.
			_ = b.rc.SetReadDeadline(time.Time{})
			b.deadline = false
		}
	case errors.As(err, &ne) && ne.Timeout():
		b.err = fmt.Errorf("%w: %v", httpx.ErrBodyTimeout, err)
		return n, b.err
	}
	return n, err
}

func (b *guardedBody) Close() error { return b.body.Close() }

func (b *guardedBody) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.budget != nil && b.held > 0 {
		b.budget.release(b.held)
		b.held = 0
	}
	b.err = errors.New("request body read after its handler returned")
}
