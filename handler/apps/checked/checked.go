// Package checked is integer arithmetic for the sample apps that refuses to overflow:
// a balance or a counter that silently wraps from the largest int64 to the smallest
// is worse than an operation that fails and says why.
package checked

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/durablego/durablefunctions/durable"
)

// ErrOverflow is returned (wrapped) when a result does not fit in an int64.
var ErrOverflow = errors.New("integer overflow")

// Add returns a + b, or an error wrapping ErrOverflow when the sum does not fit in an
// int64. what names the quantity in the error ("balance", "counter").
func Add(what string, a, b int64) (int64, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return a, fmt.Errorf("%w: %s %d + %d does not fit in a 64-bit integer (%d to %d)", ErrOverflow, what, a, b, int64(math.MinInt64), int64(math.MaxInt64))
	}
	return a + b, nil
}

// IsOverflow reports whether err is, or reports, an ErrOverflow. An error that crossed
// a durable boundary (an entity operation's failure seen by its caller) is a
// *durable.FailureDetails that keeps only the message, which starts with the
// sentinel's.
func IsOverflow(err error) bool {
	if errors.Is(err, ErrOverflow) {
		return true
	}
	var d *durable.FailureDetails
	return errors.As(err, &d) && strings.HasPrefix(d.ErrorMessage, ErrOverflow.Error()+":")
}
