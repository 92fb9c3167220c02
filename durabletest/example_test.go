package durabletest_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
)

// greet calls an activity per name and collects the greetings.
func greet(ctx durable.OrchestrationContext) (any, error) {
	var out []string
	for _, name := range []string{"Tokyo", "Seattle"} {
		var s string
		if err := ctx.CallActivity("Hello", name, nil).Await(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func Example() {
	reg := durable.NewRegistry()
	reg.AddOrchestrator("greet", greet)
	reg.AddActivity("Hello", func(ctx durable.ActivityContext) (any, error) {
		var name string
		err := ctx.GetInput(&name)
		return "Hello " + name, err
	})

	env := durabletest.New(reg)
	res, err := env.Run("greet", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	var out []string
	_ = res.GetOutput(&out)
	fmt.Println(res.Status, out)
	fmt.Println(res.History.Activities())
	// Output:
	// Completed [Hello Tokyo Hello Seattle]
	// [Hello Hello]
}

func ExampleEnv_OnActivity() {
	reg := durable.NewRegistry()
	reg.AddOrchestrator("greet", greet)
	env := durabletest.New(reg) // no real activity registered: the mock stands in
	env.OnActivity("Hello", func(ctx durable.ActivityContext) (any, error) {
		return nil, errors.New("service unavailable")
	})
	res, _ := env.Run("greet", nil)
	var tfe *durable.TaskFailedError
	fmt.Println(res.Status, errors.As(res.Err(), &tfe), tfe.Details.ErrorMessage)
	// Output:
	// Failed true activity "Hello" (task 0) failed: service unavailable
}

// deadline waits a day for an "approve" event.
func deadline(ctx durable.OrchestrationContext) (any, error) {
	err := ctx.WaitForExternalEvent("approve", 24*time.Hour).Await(nil)
	if errors.Is(err, durable.ErrTimeout) {
		return "expired at " + ctx.CurrentUTCDateTime().Format(time.RFC3339), nil
	}
	return "approved at " + ctx.CurrentUTCDateTime().Format(time.RFC3339), err
}

func ExampleEnv_RaiseEventAfter() {
	reg := durable.NewRegistry()
	reg.AddOrchestrator("deadline", deadline)

	env := durabletest.New(reg)
	_ = env.RaiseEventAfter(3*time.Hour, "instance-1", "approve", nil)
	res, _ := env.Run("deadline", nil)
	fmt.Println(string(res.Output))

	// Nobody approves: the clock jumps to the timer.
	res, _ = durabletest.New(reg).Run("deadline", nil)
	fmt.Println(string(res.Output))
	// Output:
	// "approved at 2024-01-01T03:00:00Z"
	// "expired at 2024-01-02T00:00:00Z"
}

func ExampleEnv_Advance() {
	reg := durable.NewRegistry()
	reg.AddOrchestrator("deadline", deadline)

	env := durabletest.New(reg)
	id, _ := env.Start("deadline", nil, nil)
	_ = env.Advance(23 * time.Hour)
	st, _ := env.Status(id)
	fmt.Println(st.Status)
	_ = env.Advance(time.Hour)
	st, _ = env.Status(id)
	fmt.Println(st.Status, string(st.Output))
	// Output:
	// Running
	// Completed "expired at 2024-01-02T00:00:00Z"
}

// Cart is a typed entity: its exported methods are its operations.
type Cart struct {
	Items []string `json:"items"`
}

func (c *Cart) Add(item string) int { c.Items = append(c.Items, item); return len(c.Items) }

func (c *Cart) Checkout(ctx durable.EntityContext) error {
	if len(c.Items) == 0 {
		return errors.New("cart is empty")
	}
	ctx.StartNewOrchestration("ship", c.Items, "")
	c.Items = nil
	return nil
}

func ExampleRunEntity() {
	run, err := durabletest.RunEntity(durable.TypedEntity[Cart](), durable.NewEntityID("cart", "ann"), nil,
		durabletest.Op{Name: "checkout"},
		durabletest.Op{Name: "add", Input: "book"},
		durabletest.Op{Name: "checkout"},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, op := range run.Ops {
		fmt.Printf("%s: result %s, err %v, starts %d\n", op.Operation, op.Result, op.Err != nil, len(op.Starts))
	}
	fmt.Println(string(run.Ops[2].Starts[0].Input), string(run.State))
	// Output:
	// checkout: result , err true, starts 0
	// add: result 1, err false, starts 0
	// checkout: result , err false, starts 1
	// ["book"] {"items":null}
}

func ExampleReplay() {
	// The history of a chaining run, as the management API returned it.
	recorded, err := os.ReadFile("testdata/chaining_history.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	// Today's code calls F2 under a new name.
	reg := durable.NewRegistry()
	reg.AddOrchestrator("chaining", func(ctx durable.OrchestrationContext) (any, error) {
		var x int
		_ = ctx.CallActivity("F1", nil, nil).Await(&x)
		_ = ctx.CallActivity("AddOne", x, nil).Await(&x)
		return x, ctx.CallActivity("F3", x, nil).Await(&x)
	})
	err = durabletest.Replay(reg, "", recorded)
	var nde *durable.NonDeterminismError
	if errors.As(err, &nde) {
		fmt.Printf("history: %s\ncode:    %s\n", nde.Expected, nde.Actual)
	}
	// Output:
	// history: TaskScheduled "F2"
	// code:    TaskScheduled "AddOne"
}
