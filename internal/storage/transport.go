package storage

import (
	"net"
	"net/http"
	"time"
)

// transport is the HTTP client of every account this process opens.
//
// The SDK's default keeps only 10 idle connections per host. A worker with a hundred
// requests in flight then closes most connections after each burst and dials new
// ones for the next (the benchmark saw over a thousand sockets in TIME_WAIT), and a
// dial that hangs waits out the 30 s dial timeout. So: keep enough idle connections
// for the concurrency the engine uses, give up on a dial after 5 seconds (the SDK
// retries on a fresh connection), and close idle connections before Azurite's
// 5-second keep-alive does, so that a request is not sent on a connection the server
// is closing.
var transport = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	ForceAttemptHTTP2:     true,
	MaxIdleConns:          1024,
	MaxIdleConnsPerHost:   256,
	IdleConnTimeout:       4 * time.Second,
	TLSHandshakeTimeout:   10 * time.Second,
	ExpectContinueTimeout: time.Second,
}}
