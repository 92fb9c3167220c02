// Package circuitbreaker is the Durable Functions circuit breaker sample: an entity per
// circuit that functions report failures to, which opens once enough failures fall
// within a sliding window so callers can stop hammering a broken dependency, and is
// closed again by hand. It is written as a typed entity (durable.TypedEntity) to show
// that style next to the function-style counter. Its HTTP API:
//
//	POST /api/circuit/{name}/failure     optional body {"at": "2024-05-01T10:00:00Z"}
//	POST /api/circuit/{name}/success     clears the failures of a closed circuit
//	POST /api/circuit/{name}/configure   body {"threshold": 3, "windowSeconds": 60}
//	POST /api/circuit/{name}/reset       closes the circuit
//	GET  /api/circuit/{name}             -> {"name", "state", "failures", "threshold", "windowSeconds"}
package circuitbreaker

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/durablego/durablefunctions/durable"
)

// EntityName is the entity's name: its function folder's name.
const EntityName = "circuitbreaker_entity"

// The states of a circuit, spelled as they appear in the entity's JSON state.
const (
	StateClosed = "closed"
	StateOpen   = "open"
)

// Defaults apply to a circuit that was never configured, so reporting failures works
// without a configure step.
const (
	DefaultThreshold     = 5
	DefaultWindowSeconds = 60
)

// Upper bounds of configure. The state keeps up to threshold timestamps, so the
// threshold bounds the state's size; the window bound keeps the window far from
// time.Duration's range.
const (
	MaxThreshold     = 1000
	MaxWindowSeconds = 30 * 24 * 60 * 60
)

// now is the clock of failures reported without a time; tests replace it. Entity
// operations are not replayed, so reading the clock in one is safe.
var now = time.Now

// Circuit is the entity's state. Its exported methods are the entity's operations.
type Circuit struct {
	State string `json:"state"`
	// Failures are the times of the most recent failures, oldest first: only those
	// within the window ending at the latest one, and at most Threshold of them,
	// since more could not change the decision to open.
	Failures      []time.Time `json:"failures"`
	Threshold     int         `json:"threshold"`
	WindowSeconds int         `json:"windowSeconds"`
	// OpenedAt is the time of the failure that opened the circuit; nil when closed.
	OpenedAt *time.Time `json:"openedAt,omitempty"`
}

// FailureReport is the input of reportFailure. At is when the failure happened;
// without it the entity's clock is used, which is later by the queueing delay.
type FailureReport struct {
	At *time.Time `json:"at,omitempty"`
}

// Config is the input of configure. An absent field keeps its current value, so a
// caller can change one setting without knowing the other.
type Config struct {
	Threshold     *int `json:"threshold,omitempty"`
	WindowSeconds *int `json:"windowSeconds,omitempty"`
}

// Validate rejects settings that would make the breaker never or always open; the
// HTTP API calls it too so a bad request is refused before it is queued.
func (c Config) Validate() error {
	var errs []error
	if c.Threshold == nil && c.WindowSeconds == nil {
		errs = append(errs, errors.New("configure needs threshold and/or windowSeconds"))
	}
	if c.Threshold != nil && (*c.Threshold <= 0 || *c.Threshold > MaxThreshold) {
		errs = append(errs, fmt.Errorf("threshold must be between 1 and %d, got %d", MaxThreshold, *c.Threshold))
	}
	if c.WindowSeconds != nil && (*c.WindowSeconds <= 0 || *c.WindowSeconds > MaxWindowSeconds) {
		errs = append(errs, fmt.Errorf("windowSeconds must be between 1 and %d, got %d", MaxWindowSeconds, *c.WindowSeconds))
	}
	return errors.Join(errs...)
}

// BeforeOperation gives a new circuit its defaults: a typed entity starts from the
// zero value, which would mean a threshold of 0.
func (c *Circuit) BeforeOperation(durable.EntityContext) error {
	c.applyDefaults()
	return nil
}

func (c *Circuit) applyDefaults() {
	if c.State == "" {
		c.State = StateClosed
	}
	if c.Threshold <= 0 {
		c.Threshold = DefaultThreshold
	}
	if c.WindowSeconds <= 0 {
		c.WindowSeconds = DefaultWindowSeconds
	}
	if c.Failures == nil {
		c.Failures = []time.Time{}
	}
}

func (c *Circuit) window() time.Duration { return time.Duration(c.WindowSeconds) * time.Second }

// ReportFailure records a failure and opens the circuit when the failures within the
// window reach the threshold. An open circuit keeps counting, so its state still
// shows how recent the trouble is. It returns the new state so a caller (CallEntity)
// learns at once whether it tripped the breaker.
func (c *Circuit) ReportFailure(in FailureReport) Circuit {
	at := now()
	if in.At != nil {
		at = *in.At
	}
	at = at.UTC()
	c.Failures = append(c.Failures, at)
	// Reports can arrive out of order: keep the list sorted and measure the window
	// back from the latest failure, not from this one.
	sort.Slice(c.Failures, func(i, j int) bool { return c.Failures[i].Before(c.Failures[j]) })
	latest := c.Failures[len(c.Failures)-1]
	kept := c.Failures[:0]
	for _, f := range c.Failures {
		if latest.Sub(f) < c.window() {
			kept = append(kept, f)
		}
	}
	if len(kept) > c.Threshold {
		kept = kept[len(kept)-c.Threshold:]
	}
	c.Failures = append([]time.Time{}, kept...)
	if c.State == StateClosed && len(c.Failures) >= c.Threshold {
		c.State = StateOpen
		c.OpenedAt = &at
	}
	return c.snapshot()
}

// ReportSuccess clears the failures of a closed circuit: the failures were not
// consecutive, so they should not add up to opening it. An open circuit stays open
// until reset, because one success through it proves little.
func (c *Circuit) ReportSuccess() Circuit {
	if c.State == StateClosed {
		c.Failures = []time.Time{}
	}
	return c.snapshot()
}

// Configure changes the threshold and/or window. It judges the next failure by the
// new settings rather than re-judging past ones, so configuring never opens or
// closes a circuit by itself.
func (c *Circuit) Configure(in Config) error {
	if err := in.Validate(); err != nil {
		return err
	}
	if in.Threshold != nil {
		c.Threshold = *in.Threshold
	}
	if in.WindowSeconds != nil {
		c.WindowSeconds = *in.WindowSeconds
	}
	return nil
}

// Reset closes the circuit and forgets its failures, keeping its configuration.
func (c *Circuit) Reset() {
	c.State, c.Failures, c.OpenedAt = StateClosed, []time.Time{}, nil
}

// Get returns the state, defaults filled in.
func (c *Circuit) Get() Circuit { return c.snapshot() }

// snapshot copies the state so a result shares nothing with the receiver.
func (c *Circuit) snapshot() Circuit {
	s := *c
	s.Failures = append([]time.Time{}, c.Failures...)
	return s
}

// Entity is the circuit breaker's operations: reportFailure, reportSuccess,
// configure, reset, get and delete.
var Entity = durable.TypedEntity[Circuit]()

// Register adds the entity to reg.
func Register(reg *durable.Registry) { reg.AddEntity(EntityName, Entity) }
