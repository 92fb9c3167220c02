package storage

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// The Tables SDK's TransactionResponse is an empty placeholder: the ETags a batch gave
// its rows are only in the multipart response body, one changeset response per
// operation, in order. An engine that wants to write a row again without reading it
// first (the instance checkpoint it just committed) needs that ETag, so BatchETags asks
// this policy to keep the body of its one $batch response.

type batchBodyKey struct{}

// batchBody receives the raw body of a $batch response.
type batchBody struct{ b []byte }

// batchBodyPolicy copies the body of $batch responses for callers that asked for it.
type batchBodyPolicy struct{}

func (batchBodyPolicy) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if err != nil || resp == nil || !strings.HasSuffix(req.Raw().URL.Path, "/$batch") {
		return resp, err
	}
	slot, ok := req.Raw().Context().Value(batchBodyKey{}).(*batchBody)
	if !ok {
		return resp, err
	}
	// runtime.Payload leaves the body readable again from the start, as the SDK's
	// own error handling expects (a plain reader would leave it consumed).
	if body, rerr := runtime.Payload(resp); rerr == nil {
		slot.b = bytes.Clone(body)
	}
	return resp, err
}

// batchETags reads the ETag header of each changeset response of a multipart $batch
// response body, in order ("" for an operation whose response has none, a delete).
// It returns nil if the body does not have one response per operation.
func batchETags(body []byte, ops int) []string {
	var etags []string
	parts := strings.Split(string(body), "HTTP/1.1 ")
	for _, p := range parts[1:] {
		etag := ""
		head, _, _ := strings.Cut(p, "\r\n\r\n")
		for _, line := range strings.Split(head, "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "ETag") {
				etag = strings.TrimSpace(v)
			}
		}
		etags = append(etags, etag)
	}
	if len(etags) != ops {
		return nil
	}
	return etags
}

// ETagBatcher is a Table wrapper that keeps BatchETags working through it: it
// implements it by calling BatchETags on the table it wraps.
type ETagBatcher interface {
	BatchETags(ctx context.Context, pk string, ops []Op) ([]string, error)
}

// BatchETags is Batch that also returns the ETag the batch gave each row, in the order
// of ops ("" for deletes). etags is nil if the response could not be read for them
// (the batch still succeeded): the caller must then read the rows to write them again.
func BatchETags(ctx context.Context, t Table, pk string, ops []Op) (etags []string, err error) {
	if w, ok := t.(ETagBatcher); ok {
		return w.BatchETags(ctx, pk, ops) // a wrapper (the engine's completion hook)
	}
	at, ok := t.(*azureTable)
	if !ok {
		return nil, t.Batch(ctx, pk, ops)
	}
	slot := &batchBody{}
	if err := at.Batch(context.WithValue(ctx, batchBodyKey{}, slot), pk, ops); err != nil {
		return nil, err
	}
	return batchETags(slot.b, len(ops)), nil
}
