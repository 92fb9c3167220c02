package runner

import (
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/storage"
)

// TestLeaseRenewalTiming: a renewal starts once a third of the lease has passed, and
// earlier when renewals have been slow (three of the slowest must still fit).
func TestLeaseRenewalTiming(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		lease, slowest, want time.Duration // want: renewal start after the lease began
	}{
		{30 * time.Second, 0, 10 * time.Second},
		{30 * time.Second, time.Second, 10 * time.Second},
		{30 * time.Second, 8 * time.Second, 6 * time.Second},
		{30 * time.Second, time.Minute, time.Second / 4}, // never later than just after the start
		{4 * time.Second, 0, 4 * time.Second / 3},
	}
	for _, c := range cases {
		l := newLease(&storage.Message{}, c.lease, start)
		l.slowest = c.slowest
		if got := l.renewAt().Sub(start); got.Round(time.Millisecond) != c.want.Round(time.Millisecond) {
			t.Errorf("lease %s, slowest renewal %s: renewal at +%s, want +%s", c.lease, c.slowest, got, c.want)
		}
	}
}

// TestLeaseAdaptsToSlowStorage: once storage round trips are slow, receives and
// renewals ask for at least four of them (whole seconds, at most 10 minutes), and the
// lease shrinks back as round trips recover.
func TestLeaseAdaptsToSlowStorage(t *testing.T) {
	p := NewPoller(nil, Functions{}, nil, nil, &PollerOptions{Lease: 30 * time.Second})
	if got := p.leaseFor(p.opts.Lease); got != 30*time.Second {
		t.Fatalf("fast storage: lease %s", got)
	}
	p.observe(20500 * time.Millisecond)
	if got := p.leaseFor(p.opts.Lease); got != 82*time.Second {
		t.Fatalf("after a 20.5 s round trip: lease %s, want 82s", got)
	}
	p.observe(time.Hour)
	if got := p.leaseFor(p.opts.Lease); got != maxAdaptiveLease {
		t.Fatalf("after an hour-long round trip: lease %s, want the cap", got)
	}
	p.rtt.v.Store(int64(20 * time.Second))
	for range 100 {
		p.observe(10 * time.Millisecond)
	}
	if got := p.leaseFor(p.opts.Lease); got != 30*time.Second {
		t.Fatalf("after round trips recovered: lease %s, want 30s", got)
	}
}
