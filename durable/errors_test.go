package durable_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/durablego/durablefunctions/durable"
)

var errInsufficient = errors.New("insufficient funds")

type declinedError struct{ code int }

func (e *declinedError) Error() string { return fmt.Sprintf("declined (%d)", e.code) }

func TestErrorType(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("x"), "Error"},
		{fmt.Errorf("wrap: %w", errInsufficient), "Error"},
		{fmt.Errorf("two: %w %w", errInsufficient, errInsufficient), "Error"},
		{errors.Join(errInsufficient, errInsufficient), "Error"},
		{&declinedError{1}, "declinedError"},
		{&durable.TaskFailedError{}, "TaskFailedError"},
		{nil, ""},
	} {
		if got := durable.ErrorType(tc.err); got != tc.want {
			t.Errorf("ErrorType(%T) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestTaskFailedErrorIsAndAs(t *testing.T) {
	inner := durable.FailureDetails{ErrorType: "Error", ErrorMessage: "withdraw: insufficient funds"}
	err := fmt.Errorf("transfer: %w", &durable.TaskFailedError{Kind: "suborchestration", Name: "withdraw", Details: durable.FailureDetails{
		ErrorType: "Error", ErrorMessage: "activity failed", Inner: &inner}})
	if !errors.Is(err, durable.ErrTaskFailed) {
		t.Error("errors.Is(err, ErrTaskFailed) = false")
	}
	if !errors.Is(err, errInsufficient) {
		t.Error("sentinel of the inner failure not matched by message")
	}
	lead := &durable.TaskFailedError{Details: durable.FailureDetails{ErrorMessage: "insufficient funds: balance 3, amount 5"}}
	if !errors.Is(lead, errInsufficient) {
		t.Error("sentinel wrapped as \"%w: ...\" not matched")
	}
	if errors.Is(err, errors.New("funds")) {
		t.Error("a message that is only a suffix without ': ' matched")
	}
	var fd *durable.FailureDetails
	if !errors.As(err, &fd) || fd.ErrorMessage != "activity failed" {
		t.Errorf("errors.As FailureDetails = %+v", fd)
	}
	var tfe *durable.TaskFailedError
	if !errors.As(err, &tfe) || tfe.Name != "withdraw" {
		t.Errorf("errors.As TaskFailedError = %+v", tfe)
	}
	if errors.Is(errors.New("other"), durable.ErrTaskFailed) {
		t.Error("plain error is ErrTaskFailed")
	}
}
