package durable_test

import (
	"errors"
	"fmt"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
)

// An orchestration chains two activities; durabletest runs it in memory.
func ExampleRegistry_AddOrchestrator() {
	reg := durable.NewRegistry()
	reg.AddActivity("double", func(ctx durable.ActivityContext) (any, error) {
		var n int
		err := ctx.GetInput(&n)
		return 2 * n, err
	})
	reg.AddOrchestrator("quadruple", func(ctx durable.OrchestrationContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		for i := 0; i < 2; i++ {
			if err := ctx.CallActivity("double", n, nil).Await(&n); err != nil {
				return nil, err
			}
		}
		return n, nil
	})

	res, _ := durabletest.New(reg).Run("quadruple", 5)
	var out int
	_ = res.GetOutput(&out)
	fmt.Println(res.Status, out)
	// Output: Completed 20
}

// Account is a typed entity: its exported methods are the operations.
type Account struct{ Balance int64 }

var errInsufficientFunds = errors.New("insufficient funds")

func (a *Account) Deposit(n int64) { a.Balance += n }

func (a *Account) Withdraw(n int64) error {
	if n > a.Balance {
		return errInsufficientFunds
	}
	a.Balance -= n
	return nil
}

func (a *Account) Get() int64 { return a.Balance }

func ExampleTypedEntity() {
	run, _ := durabletest.RunEntity(durable.TypedEntity[Account](), durable.NewEntityID("account", "alice"), nil,
		durabletest.Op{Name: "deposit", Input: 100},
		durabletest.Op{Name: "withdraw", Input: 150},
		durabletest.Op{Name: "get"})
	for _, r := range run.Ops {
		fmt.Printf("%s: result %s, error %v\n", r.Operation, r.Result, r.Err)
	}
	// Output:
	// deposit: result , error <nil>
	// withdraw: result , error entity "account@alice:withdraw" (task -1) failed: insufficient funds
	// get: result 100, error <nil>
}

// A sentinel error returned by an activity is recognised by the orchestrator with
// errors.Is, although only its message crossed the durable boundary.
func ExampleFailureDetails_Is() {
	err := error(&durable.TaskFailedError{Kind: "activity", Name: "withdraw", Details: durable.FailureDetails{
		ErrorType: "Error", ErrorMessage: "withdraw 150: insufficient funds"}})
	fmt.Println(errors.Is(err, durable.ErrTaskFailed), errors.Is(err, errInsufficientFunds))
	// Output: true true
}
