package storage

import (
	"bytes"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// latencyPolicy delays every storage request (each retry too) by a settable amount,
// so that the benchmark can show how the engine behaves when storage is far away:
// Azurite on the same machine answers in a millisecond, Azure storage from another
// region in tens. The delay is added before the request is sent, which is what a
// longer network round trip looks like to the caller.
type latencyPolicy struct{ d *atomic.Int64 }

func (p latencyPolicy) Do(req *policy.Request) (*http.Response, error) {
	if d := time.Duration(p.d.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-req.Raw().Context().Done():
			t.Stop()
			return nil, req.Raw().Context().Err()
		case <-t.C:
		}
	}
	return req.Next()
}

// SetLatency changes the delay added to every storage request of this account (see
// OpenOptions.Latency); 0 removes it.
func (a *Account) SetLatency(d time.Duration) { a.latency.Store(int64(max(d, 0))) }

// Latency is the delay currently added to every storage request.
func (a *Account) Latency() time.Duration { return time.Duration(a.latency.Load()) }

// Storage error codes counted by ErrorCounts, besides the x-ms-error-code values the
// service returns. A lost conditional write (412, or a batch whose inner operation
// answered 412/409) is what competing workers cost each other.
const (
	ErrCodeConditionFailed = "412"                // If-Match lost: another writer committed first
	ErrCodeConflict        = "409"                // insert of an existing row or entity
	ErrCodePopReceipt      = "PopReceiptMismatch" // a queue message's lease was lost
	ErrCodeMessageNotFound = "MessageNotFound"    // the message was deleted or its lease was taken over
)

// errorCounts counts storage error answers by code.
type errorCounts struct{ m sync.Map } // code -> *atomic.Int64

func (e *errorCounts) add(code string) {
	v, _ := e.m.LoadOrStore(code, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// ErrorCounts is how many storage answers of each error kind this account received:
// "412" and "409" for lost conditional writes (batches included, whose inner status
// only the body tells), and the service's x-ms-error-code for the others
// ("PopReceiptMismatch", "MessageNotFound", ...). Competing workers and lost message
// leases show up here.
func (a *Account) ErrorCounts() map[string]int64 {
	out := map[string]int64{}
	a.errs.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// countErrors records the error an answer carries. A failed batch answers 202 with
// the inner status only in its body, which is small, so it is read and put back.
func (a *Account) countErrors(kind string, resp *http.Response) {
	if resp.StatusCode < 300 && kind != "table.batch" {
		return
	}
	code := resp.Header.Get("x-ms-error-code")
	switch {
	case resp.StatusCode == http.StatusPreconditionFailed:
		a.errs.add(ErrCodeConditionFailed)
		return
	case resp.StatusCode == http.StatusConflict && code != "TableAlreadyExists" && code != "QueueAlreadyExists":
		// (creating a table or queue that exists is start-up, not contention)
		a.errs.add(ErrCodeConflict)
		return
	case kind == "table.batch" && resp.StatusCode == http.StatusAccepted:
		// runtime.Payload keeps the body readable again: the SDK reads a failed batch's
		// body twice (to parse it, then for the error it returns).
		body, err := runtime.Payload(resp)
		if err != nil {
			return
		}
		switch {
		case bytes.Contains(body, []byte("412 Precondition Failed")), bytes.Contains(body, []byte("UpdateConditionNotSatisfied")):
			a.errs.add(ErrCodeConditionFailed)
		case bytes.Contains(body, []byte("409 Conflict")), bytes.Contains(body, []byte("EntityAlreadyExists")):
			a.errs.add(ErrCodeConflict)
		}
		return
	}
	if resp.StatusCode >= 400 {
		if code == "" {
			code = http.StatusText(resp.StatusCode)
		}
		a.errs.add(code)
	}
}

// IsLeaseLost reports whether a queue message operation failed because the caller no
// longer holds the message: it was deleted, or received again by someone else (its
// pop receipt changed).
func IsLeaseLost(err error) bool {
	if errors.Is(err, ErrNotFound) {
		return true
	}
	var re *azcore.ResponseError
	return errors.As(err, &re) && (re.ErrorCode == ErrCodePopReceipt || re.ErrorCode == ErrCodeMessageNotFound)
}
