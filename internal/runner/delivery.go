package runner

import (
	"context"
	"sync"
)

// Delivery describes the queue message a queue function is invoked for, in both modes.
type Delivery struct {
	Queue     string
	MessageID string
	// DequeueCount is 1 on the first delivery; more means earlier attempts failed or
	// did not finish (the worker died, or the invocation timed out).
	DequeueCount int64
	// MaxDequeueCount is host.json's maxDequeueCount: after a failed attempt with
	// DequeueCount at or above it the message goes to <queue>-poison.
	MaxDequeueCount int64
	// LastError is the error of this message's previous failed attempt if this process
	// saw it; "" when the attempt was elsewhere or did not return (a crash).
	LastError string
}

// Final reports whether this is the last attempt before the poison queue: a worker
// that dies now has the message poisoned without any code of the app hearing of it.
func (d Delivery) Final() bool {
	return d.MaxDequeueCount > 0 && d.DequeueCount >= d.MaxDequeueCount
}

type deliveryKey struct{}

// DeliveryFrom returns the delivery a queue function's ctx carries.
func DeliveryFrom(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(Delivery)
	return d, ok
}

func withDelivery(ctx context.Context, d Delivery) context.Context {
	return context.WithValue(ctx, deliveryKey{}, d)
}

// lastErrors remembers the last error of messages that failed, until they succeed or
// are poisoned, so a poison reason can say what went wrong. Bounded: forgetting only
// makes a reason less specific.
type lastErrors struct {
	mu sync.Mutex
	m  map[string]string
}

func (l *lastErrors) get(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[id]
}

func (l *lastErrors) set(id string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) > 10000 {
		l.m = map[string]string{}
	}
	if err == nil {
		delete(l.m, id)
		return
	}
	l.m[id] = err.Error()
}
