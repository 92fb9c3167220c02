package checked

import (
	"errors"
	"math"
	"testing"

	"github.com/durablego/durablefunctions/durable"
)

func TestAdd(t *testing.T) {
	cases := []struct {
		a, b     int64
		want     int64
		overflow bool
	}{
		{1, 2, 3, false},
		{math.MaxInt64, 0, math.MaxInt64, false},
		{math.MaxInt64, 1, 0, true},
		{math.MaxInt64, math.MaxInt64, 0, true},
		{math.MaxInt64 - 1, 1, math.MaxInt64, false},
		{math.MinInt64, -1, 0, true},
		{math.MinInt64, math.MinInt64, 0, true},
		{math.MinInt64 + 1, -1, math.MinInt64, false},
		{math.MinInt64, math.MaxInt64, -1, false},
		{math.MaxInt64, math.MinInt64, -1, false},
		{-5, 3, -2, false},
	}
	for _, c := range cases {
		got, err := Add("n", c.a, c.b)
		if c.overflow {
			if !errors.Is(err, ErrOverflow) || got != c.a {
				t.Errorf("Add(%d, %d) = %d, %v; want ErrOverflow and the first operand", c.a, c.b, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Add(%d, %d) = %d, %v; want %d", c.a, c.b, got, err, c.want)
		}
	}
}

func TestIsOverflow(t *testing.T) {
	_, err := Add("n", math.MaxInt64, 1)
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"the error itself", err, true},
		{"across a durable boundary", &durable.FailureDetails{ErrorMessage: err.Error()}, true},
		{"another failure", &durable.FailureDetails{ErrorMessage: "integer overflowing elsewhere"}, false},
		{"nil", nil, false},
	}
	for _, c := range cases {
		if got := IsOverflow(c.err); got != c.want {
			t.Errorf("%s: IsOverflow = %v, want %v", c.name, got, c.want)
		}
	}
}
