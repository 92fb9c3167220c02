package main

import (
	"testing"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
)

// The orchestration and the entity, in memory: no storage, no host.
func TestHello(t *testing.T) {
	env := durabletest.New(App().Registry())
	res, err := env.Run("hello", "Ada")
	if err != nil {
		t.Fatal(err)
	}
	var greeting string
	if err := res.GetOutput(&greeting); err != nil || greeting != "Hello, Ada!" {
		t.Fatalf("output %q, %v (status %s, err %v)", greeting, err, res.Status, res.Err())
	}
	var visits int
	if ok, err := env.EntityState(durable.NewEntityID("visits", "Ada"), &visits); !ok || err != nil || visits != 1 {
		t.Fatalf("visits = %d (has state %v), %v", visits, ok, err)
	}
}

// A mocked activity: the orchestration's own logic under test.
func TestHelloWithMock(t *testing.T) {
	env := durabletest.New(App().Registry())
	env.OnActivity("greet", func(ctx durable.ActivityContext) (any, error) { return "hi", nil })
	res, err := env.Run("hello", "Bob")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.History.Activities(); len(got) != 1 || got[0] != "greet" {
		t.Fatalf("activities %v", got)
	}
	var out string
	if _ = res.GetOutput(&out); out != "hi" {
		t.Fatalf("output %q", out)
	}
}
