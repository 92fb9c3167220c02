package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/httpx"
)

// serve starts NewServer(h, o) on a local port.
func serve(t *testing.T, h http.Handler, o *ServerOptions) (*Server, string) {
	t.Helper()
	s := NewServer(h, o)
	srv := httptest.NewUnstartedServer(h)
	srv.Config = s.Server
	srv.Start()
	t.Cleanup(srv.Close)
	return s, srv.Listener.Addr().String()
}

// echoLen reads the body as the app routes do and answers its length.
var echoLen = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := httpx.ReadBody(r, 16<<20)
	if err != nil {
		httpx.BodyError(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]int{"len": len(b)})
})

// readUntilClosed reads conn until the server closes it and returns what it sent;
// it fails the test if the connection is still open after within.
func readUntilClosed(t *testing.T, conn net.Conn, within time.Duration) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(within))
	var got bytes.Buffer
	_, err := io.Copy(&got, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s; received %q", within, got.String())
	}
	return got.String()
}

func TestServerClosesSlowBody(t *testing.T) {
	_, addr := serve(t, echoLen, &ServerOptions{BodyTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	// Announce 1,000 bytes, send 10, then trickle nothing.
	fmt.Fprintf(conn, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789")
	got := readUntilClosed(t, conn, 3*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 408") || !strings.Contains(got, `"error"`) {
		t.Fatalf("slow body answered %q, want 408 with a JSON error", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("slow body held for %s", d)
	}
}

func TestServerClosesIdleKeepAlive(t *testing.T) {
	_, addr := serve(t, echoLen, &ServerOptions{IdleTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("first request: %d (close %v), want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read returned %v after %s, want EOF (closed by the server)", err, time.Since(start))
	}
}

func TestServerBodyDeadlineDoesNotCancelSlowHandlers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := httpx.ReadBody(r, 1<<10); err != nil {
			httpx.BodyError(w, err)
			return
		}
		select { // a management wait: longer than the body timeout
		case <-time.After(600 * time.Millisecond):
			httpx.WriteJSON(w, http.StatusOK, map[string]string{"ok": "waited"})
		case <-r.Context().Done():
			httpx.Error(w, http.StatusServiceUnavailable, "cancelled")
		}
	})
	_, addr := serve(t, h, &ServerOptions{BodyTimeout: 200 * time.Millisecond})
	resp, err := http.Post("http://"+addr+"/", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("slow handler: %d %s", resp.StatusCode, b)
	}
}

func TestServerCapsBodyBytesInFlight(t *testing.T) {
	const (
		capBytes = 4 << 20
		bodySize = 1 << 20
		n        = 10
	)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			release := make(chan struct{})
			var once sync.Once
			unblock := func() { once.Do(func() { close(release) }) }
			defer unblock() // a failing test must not leave handlers blocked
			var admitted atomic.Int32
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := httpx.ReadBody(r, 16<<20)
				if err != nil {
					httpx.BodyError(w, err)
					return
				}
				if len(b) >= bodySize {
					admitted.Add(1)
					<-release // hold the buffered body, as a handler calling storage does
				}
				httpx.WriteJSON(w, http.StatusOK, map[string]int{"len": len(b)})
			})
			s, addr := serve(t, h, &ServerOptions{MaxBodyBytesInFlight: capBytes, SmallBody: 64 << 10})
			url := "http://" + addr + "/"
			big := bytes.Repeat([]byte("x"), bodySize)
			type result struct {
				status int
				retry  string
				body   string
			}
			results := make(chan result, n)
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var body io.Reader = bytes.NewReader(big)
					if chunked {
						body = io.MultiReader(bytes.NewReader(big)) // unknown length: sent chunked
					}
					req, _ := http.NewRequest("POST", url, body)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						results <- result{status: -1, body: err.Error()}
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					results <- result{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
				}()
			}
			// Every request either holds its body or has been refused.
			refused := 0
			deadline := time.After(20 * time.Second)
			for refused+int(admitted.Load()) < n {
				select {
				case res := <-results:
					var e struct{ Error string }
					if res.status != http.StatusServiceUnavailable || res.retry == "" || json.Unmarshal([]byte(res.body), &e) != nil || e.Error == "" {
						t.Fatalf("refused large body: %d Retry-After %q %s, want 503 with Retry-After and a JSON error", res.status, res.retry, res.body)
					}
					refused++
				case <-time.After(10 * time.Millisecond):
				case <-deadline:
					t.Fatalf("admitted %d, refused %d of %d", admitted.Load(), refused, n)
				}
			}
			if refused == 0 || admitted.Load() == 0 {
				t.Fatalf("admitted %d, refused %d: the cap should admit some and refuse the rest", admitted.Load(), refused)
			}
			if got := s.BodyBytesInFlight(); got > capBytes || got < int64(admitted.Load())*bodySize {
				t.Fatalf("in flight %d bytes with %d bodies held, cap %d", got, admitted.Load(), capBytes)
			}
			// Small requests still pass while the cap is reached.
			for i := range 5 {
				resp, err := http.Post(url, "application/json", strings.NewReader(`{"value": 5}`))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("small request %d during the cap: %d %s", i, resp.StatusCode, b)
				}
			}
			unblock()
			wg.Wait()
			close(results)
			for res := range results {
				if res.status != http.StatusOK {
					t.Fatalf("held request: %d %s", res.status, res.body)
				}
			}
			if peak := s.PeakBodyBytesInFlight(); peak > capBytes {
				t.Fatalf("peak %d body bytes in flight, cap %d", peak, capBytes)
			}
			if got := s.BodyBytesInFlight(); got != 0 {
				t.Fatalf("%d body bytes still counted after every request ended", got)
			}
		})
	}
}
