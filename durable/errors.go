package durable

import (
	"errors"
	"reflect"
	"strings"
)

// ErrTaskFailed matches every *TaskFailedError: errors.Is(err, ErrTaskFailed) tells a
// failed activity, sub-orchestration or entity call from other errors.
var ErrTaskFailed = errors.New("durable: task failed")

// Is makes errors.Is(err, ErrTaskFailed) true.
func (e *TaskFailedError) Is(target error) bool { return target == ErrTaskFailed }

// Unwrap exposes the failure: errors.As(err, &details) with a *FailureDetails reads
// its type and message, and errors.Is compares sentinels through it (see
// FailureDetails.Is).
func (e *TaskFailedError) Unwrap() error { return &e.Details }

// Error renders the failure as "Type: message".
func (f *FailureDetails) Error() string {
	if f.ErrorType == "" {
		return f.ErrorMessage
	}
	return f.ErrorType + ": " + f.ErrorMessage
}

// Unwrap is the inner failure (a sub-orchestration's failed task, say), or nil.
func (f *FailureDetails) Unwrap() error {
	if f.Inner == nil {
		return nil
	}
	return f.Inner
}

// Is reports whether the error that failed the task was target. Only a type name and a
// message cross a durable boundary, so a sentinel matches by its message: the failure
// message equals target's, ends with ": " and target's (the activity wrapped it with
// fmt.Errorf("...: %w", target)), or starts with target's and ": " (wrapped with
// fmt.Errorf("%w: ...", target)). So an orchestrator can write
//
//	if errors.Is(err, bank.ErrInsufficientFunds) { ... }
//
// about an activity that returned bank.ErrInsufficientFunds.
func (f *FailureDetails) Is(target error) bool {
	if target == nil {
		return false
	}
	t := target.Error()
	return f.ErrorMessage == t || strings.HasSuffix(f.ErrorMessage, ": "+t) || strings.HasPrefix(f.ErrorMessage, t+": ")
}

// ErrorType names err's type the way failures record it: the Go type name without
// package or pointer ("InsufficientFundsError"). Errors made by errors.New,
// fmt.Errorf or errors.Join are "Error". One spelling everywhere lets retry policies
// and callers match on it.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.PkgPath() + "." + t.Name() {
	case "errors.errorString", "fmt.wrapError", "fmt.wrapErrors", "errors.joinError":
		return "Error"
	}
	if t.Name() != "" {
		return t.Name()
	}
	return t.String()
}
