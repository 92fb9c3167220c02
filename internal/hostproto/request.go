// Package hostproto is the wire protocol between the Azure Functions host and a
// custom handler: the invocation request the host POSTs to /<FunctionName> and the
// invocation response it expects back.
//
// The host's encoding has quirks that the official documentation does not show
// (see testdata/host-payloads/README.md): strings, numbers and booleans inside Data
// and Metadata are JSON-encoded a second time, DateTimes are plain ISO strings,
// objects are plain objects, and metadata key case varies between bindings. This
// package hides those quirks so callers see the bytes and values that were sent.
package hostproto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/internal/jsonfold"
)

// DefaultMaxBytes bounds an invocation body when DecodeInvocation is given no
// limit. The host itself caps HTTP request bodies at 100 MB, and a queue message is
// at most 64 KiB, so 100 MiB never rejects a request the host would send.
const DefaultMaxBytes int64 = 100 << 20

// Errors returned (wrapped) by this package, so callers can map them to statuses.
var (
	// ErrTooLarge means the body exceeded the limit given to DecodeInvocation.
	ErrTooLarge = errors.New("hostproto: invocation body too large")
	// ErrMalformed means the body is not an invocation request at all.
	ErrMalformed = errors.New("hostproto: malformed invocation request")
	// ErrNoBinding means the requested binding or metadata key is absent.
	ErrNoBinding = errors.New("hostproto: no such binding")
)

// InvocationRequest is the body the host POSTs for every non-forwarded invocation.
// Values are kept raw because their encoding depends on the binding; use Payload,
// the Meta* accessors, QueueInfo, HTTPRequest or Timer to read them.
type InvocationRequest struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// DecodeInvocation reads one invocation request from r. maxBytes <= 0 means
// DefaultMaxBytes. The whole body must be a single JSON object with a non-null
// Data object; Metadata may be absent (the docs examples omit it).
func DecodeInvocation(r io.Reader, maxBytes int64) (*InvocationRequest, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil body", ErrMalformed)
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	body, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("hostproto: reading invocation body: %w", err)
	}
	if int64(len(body)) > maxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxBytes)
	}
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	// Decode into a key map first: encoding/json would silently accept a
	// top-level array or scalar as "no fields", and we want case-insensitive
	// top-level keys without depending on struct-field folding rules.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if top == nil {
		return nil, fmt.Errorf("%w: body is null", ErrMalformed)
	}
	req := &InvocationRequest{}
	data, ok := jsonfold.Lookup(top, "Data")
	if !ok || isNull(data) {
		return nil, fmt.Errorf("%w: missing Data", ErrMalformed)
	}
	if err := json.Unmarshal(data, &req.Data); err != nil {
		return nil, fmt.Errorf("%w: Data is not an object: %v", ErrMalformed, err)
	}
	if meta, ok := jsonfold.Lookup(top, "Metadata"); ok && !isNull(meta) {
		if err := json.Unmarshal(meta, &req.Metadata); err != nil {
			return nil, fmt.Errorf("%w: Metadata is not an object: %v", ErrMalformed, err)
		}
	}
	if req.Data == nil {
		req.Data = map[string]json.RawMessage{}
	}
	if req.Metadata == nil {
		req.Metadata = map[string]json.RawMessage{}
	}
	return req, nil
}

// Raw returns binding name's value exactly as it was on the wire, for callers
// that need an encoding this package does not know.
func (r *InvocationRequest) Raw(name string) (json.RawMessage, bool) {
	if r == nil {
		return nil, false
	}
	return jsonfold.Lookup(r.Data, name)
}

// Payload returns the bytes the binding carried, undoing the host's second JSON
// encoding: a queue message "hello" (wire "\"hello\"") yields hello, a JSON
// message yields its JSON text, an object value yields its JSON text, and a
// string that is not JSON at all (the hand-written docs examples) is returned as
// is. A JSON null yields nil. The binding name is matched case-insensitively
// because function.json names and host casing do not always agree.
func (r *InvocationRequest) Payload(name string) ([]byte, error) {
	raw, ok := r.Raw(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoBinding, name)
	}
	b, err := unwrapValue(raw)
	if err != nil {
		return nil, fmt.Errorf("hostproto: binding %q: %w", name, err)
	}
	return b, nil
}

// PayloadBinary returns the bytes of a binding declared with "dataType":
// "binary", which the host sends as plain base64 (a byte[] serialized by
// Json.NET). A value that was additionally JSON-quoted is unwrapped first so a
// host change towards double encoding does not break callers.
func (r *InvocationRequest) PayloadBinary(name string) ([]byte, error) {
	raw, ok := r.Raw(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoBinding, name)
	}
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("hostproto: binding %q: binary data must be a base64 JSON string", name)
	}
	b, err := decodeBase64(s)
	if err == nil {
		return b, nil
	}
	var inner string
	if json.Unmarshal([]byte(s), &inner) == nil {
		if b, err2 := decodeBase64(inner); err2 == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("hostproto: binding %q: invalid base64: %w", name, err)
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// MetaString returns metadata key as text with the second JSON encoding removed
// (Id "\"52d5...\"" -> 52d5...; DequeueCount "1" -> 1). Objects yield their JSON
// text. Missing keys and nulls report false. Keys are matched case-insensitively
// because the host spells them differently per binding (dequeueCount vs
// DequeueCount).
func (r *InvocationRequest) MetaString(key string) (string, bool) {
	if r == nil {
		return "", false
	}
	raw, ok := jsonfold.Lookup(r.Metadata, key)
	if !ok || isNull(raw) {
		return "", false
	}
	b, err := unwrapValue(raw)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// MetaInt returns metadata key as an integer, accepting the double-encoded string
// form the host sends and the bare number the docs show.
func (r *InvocationRequest) MetaInt(key string) (int64, bool) {
	s, ok := r.MetaString(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// MetaTime returns metadata key as a UTC time. The host writes DateTimes without
// a second encoding and sometimes without an offset (which .NET means as UTC in
// these payloads), so both forms are accepted.
func (r *InvocationRequest) MetaTime(key string) (time.Time, bool) {
	s, ok := r.MetaString(key)
	if !ok {
		return time.Time{}, false
	}
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// QueueMessageInfo is the queue-trigger metadata a handler needs for retry and
// poison decisions and for logging.
type QueueMessageInfo struct {
	ID              string
	PopReceipt      string
	DequeueCount    int64
	InsertionTime   time.Time
	ExpirationTime  time.Time
	NextVisibleTime time.Time
}

// QueueInfo collects the queue-trigger metadata. Absent fields stay zero rather
// than failing, because a handler can still process a message whose metadata
// is incomplete (the binary data type, for example, adds no extra properties).
func (r *InvocationRequest) QueueInfo() QueueMessageInfo {
	var q QueueMessageInfo
	q.ID, _ = r.MetaString("Id")
	q.PopReceipt, _ = r.MetaString("PopReceipt")
	q.DequeueCount, _ = r.MetaInt("DequeueCount")
	q.InsertionTime, _ = r.MetaTime("InsertionTime")
	q.ExpirationTime, _ = r.MetaTime("ExpirationTime")
	q.NextVisibleTime, _ = r.MetaTime("NextVisibleTime")
	return q
}

// timeLayouts are the forms .NET emits for DateTime and DateTimeOffset. Fractional
// seconds need no layout: time.Parse accepts them after the seconds field.
var timeLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
}

// ParseTime parses a DateTime the way the host serializes it, returning UTC.
// A value without an offset is taken as UTC, which is what the host means for
// queue and timer times.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("hostproto: unrecognised time %q", s)
}

// unwrapValue undoes the host's per-value encoding. See Payload.
func unwrapValue(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	if raw[0] != '"' {
		if !json.Valid(raw) {
			return nil, errors.New("invalid JSON value")
		}
		return []byte(raw), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	inner := strings.TrimSpace(s)
	if inner == "" || !json.Valid([]byte(inner)) {
		return []byte(s), nil
	}
	if inner[0] == '"' {
		var innerStr string
		if err := json.Unmarshal([]byte(inner), &innerStr); err != nil {
			return []byte(s), nil
		}
		return []byte(innerStr), nil
	}
	return []byte(s), nil
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
