package durable

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// fakeEntityContext is an in-memory EntityContext: state and result as JSON, like the
// engine keeps them, so the tests see exactly what would be committed.
type fakeEntityContext struct {
	id       EntityID
	op       string
	input    json.RawMessage
	state    json.RawMessage
	hasState bool
	result   json.RawMessage
	signals  []string
}

func (c *fakeEntityContext) ID() EntityID         { return c.id }
func (c *fakeEntityContext) Operation() string    { return c.op }
func (c *fakeEntityContext) GetInput(v any) error { return Unmarshal(c.input, v) }
func (c *fakeEntityContext) HasState() bool       { return c.hasState }
func (c *fakeEntityContext) DeleteState()         { c.state, c.hasState = nil, false }
func (c *fakeEntityContext) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }
func (c *fakeEntityContext) GetState(v any) error {
	if !c.hasState {
		return nil
	}
	return json.Unmarshal(c.state, v)
}
func (c *fakeEntityContext) SetState(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.state, c.hasState = b, true
	return nil
}
func (c *fakeEntityContext) SetResult(v any) error {
	b, err := Marshal(v)
	c.result = b
	return err
}
func (c *fakeEntityContext) SignalEntity(id EntityID, op string, _ any) {
	c.signals = append(c.signals, id.String()+":"+op)
}
func (c *fakeEntityContext) SignalEntityAt(id EntityID, op string, in any, _ time.Time) {
	c.SignalEntity(id, op, in)
}
func (c *fakeEntityContext) StartNewOrchestration(string, any, string) string { return "" }

// account exercises every supported method shape.
type account struct {
	Balance int64  `json:"balance"`
	Owner   string `json:"owner,omitempty"`
	Hooked  int    `json:"hooked,omitempty"`
}

type amount struct {
	Amount int64 `json:"amount"`
}

var errOverdrawn = errors.New("insufficient funds")

func (a *account) Close()                                 { a.Balance = 0 }
func (a *account) Deposit(n int64)                        { a.Balance += n }
func (a *account) Notify(ctx EntityContext)               { ctx.SignalEntity(NewEntityID("audit", "k"), "seen", nil) }
func (a *account) Rename(ctx EntityContext, owner string) { a.Owner = owner + "@" + ctx.ID().Key }
func (a *account) Freeze() error                          { return errors.New("frozen") }
func (a *account) Withdraw(in amount) error {
	if in.Amount > a.Balance {
		return errOverdrawn
	}
	a.Balance -= in.Amount
	return nil
}
func (a *account) Get() int64                     { return a.Balance }
func (a *account) Owned(ctx EntityContext) string { return a.Owner + ":" + ctx.Operation() }
func (a *account) Double(n int64) (int64, error) {
	if n < 0 {
		return 0, errors.New("negative")
	}
	a.Balance *= 2
	return a.Balance + n, nil
}
func (a *account) Wipe(ctx EntityContext) error { ctx.DeleteState(); return nil }
func (a *account) Renew(ctx EntityContext) error {
	ctx.DeleteState()
	a.Balance = 100
	return ctx.SetState(a)
}

// hooked counts its operations through OperationHook and defines its own Delete.
type hooked struct {
	Ops   int  `json:"ops"`
	Fresh bool `json:"fresh"`
}

func (h *hooked) BeforeOperation(ctx EntityContext) error {
	if !ctx.HasState() {
		h.Fresh = true
	}
	if ctx.Operation() == "refuse" {
		return errors.New("refused by hook")
	}
	h.Ops++
	return nil
}
func (h *hooked) Refuse()      {}
func (h *hooked) Touch()       {}
func (h *hooked) Delete() bool { h.Ops = -1; return true }

// number shows that T need not be a struct.
type number int

func (n *number) Inc() number { *n++; return *n }

func TestTypedEntityOperations(t *testing.T) {
	acct := TypedEntity[account]()
	cases := []struct {
		name      string
		op        string
		input     string
		state     string // "" = no state
		wantErr   string // substring; "" = success
		wantState string // "" = no state afterwards
		wantRes   string
		signals   int
	}{
		{name: "no params no results on zero state", op: "close", wantState: `{"balance":0}`},
		{name: "input", op: "deposit", input: `5`, state: `{"balance":1}`, wantState: `{"balance":6}`},
		{name: "missing input is the zero value", op: "deposit", state: `{"balance":1}`, wantState: `{"balance":1}`},
		{name: "null input is the zero value", op: "deposit", input: `null`, state: `{"balance":1}`, wantState: `{"balance":1}`},
		{name: "context only", op: "notify", state: `{"balance":1}`, wantState: `{"balance":1}`, signals: 1},
		{name: "context and input", op: "rename", input: `"ann"`, wantState: `{"balance":0,"owner":"ann@k1"}`},
		{name: "error only", op: "freeze", state: `{"balance":3}`, wantErr: "frozen"},
		{name: "struct input", op: "withdraw", input: `{"amount":2}`, state: `{"balance":3}`, wantState: `{"balance":1}`},
		{name: "returned error", op: "withdraw", input: `{"amount":9}`, state: `{"balance":3}`, wantErr: "insufficient funds"},
		{name: "result", op: "get", state: `{"balance":7}`, wantState: `{"balance":7}`, wantRes: `7`},
		{name: "context and result", op: "owned", state: `{"balance":0,"owner":"bo"}`, wantState: `{"balance":0,"owner":"bo"}`, wantRes: `"bo:owned"`},
		{name: "result and error", op: "double", input: `1`, state: `{"balance":4}`, wantState: `{"balance":8}`, wantRes: `9`},
		{name: "result and error failing", op: "double", input: `-1`, state: `{"balance":4}`, wantErr: "negative"},
		{name: "case-insensitive", op: "DePoSiT", input: `2`, wantState: `{"balance":2}`},
		{name: "method deleting state", op: "wipe", state: `{"balance":4}`},
		{name: "state set again after a delete is saved", op: "renew", state: `{"balance":4}`, wantState: `{"balance":100}`},
		{name: "implicit delete", op: "delete", state: `{"balance":4}`},
		{name: "implicit delete any case", op: "DELETE", state: `{"balance":4}`},
		{name: "decode error names op and type", op: "deposit", input: `"x"`, state: `{"balance":1}`, wantErr: `operation "deposit" expects an input of type int64`},
		{name: "struct decode error", op: "withdraw", input: `[1]`, wantErr: `operation "withdraw" expects an input of type durable.amount`},
		{name: "unknown op lists the available ones", op: "explode", wantErr: `no operation "explode" (available: Close, Deposit, Double, Freeze, Get, Notify, Owned, Rename, Renew, Wipe, Withdraw, delete)`},
		{name: "corrupt state", op: "get", state: `[]`, wantErr: "state does not decode as durable.account"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := &fakeEntityContext{id: NewEntityID("acct", "k1"), op: c.op, input: json.RawMessage(c.input)}
			if c.state != "" {
				ctx.state, ctx.hasState = json.RawMessage(c.state), true
			}
			err := acct(ctx)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return // the engine rolls the state back; what the adapter left does not matter
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := stateOf(ctx); got != c.wantState {
				t.Errorf("state %s, want %s", got, c.wantState)
			}
			if string(ctx.result) != c.wantRes {
				t.Errorf("result %s, want %s", ctx.result, c.wantRes)
			}
			if len(ctx.signals) != c.signals {
				t.Errorf("signals %v, want %d", ctx.signals, c.signals)
			}
		})
	}
}

func stateOf(c *fakeEntityContext) string {
	if !c.hasState {
		return ""
	}
	return string(c.state)
}

func TestTypedEntityErrorIsReturnedUnwrapped(t *testing.T) {
	ctx := &fakeEntityContext{id: NewEntityID("acct", "k"), op: "withdraw", input: json.RawMessage(`{"amount":1}`)}
	if err := TypedEntity[account]()(ctx); !errors.Is(err, errOverdrawn) || err != errOverdrawn {
		t.Fatalf("error %v, want the method's own error value", err)
	}
}

func TestTypedEntityHookAndOwnDelete(t *testing.T) {
	fn := TypedEntity[hooked]()
	ctx := &fakeEntityContext{id: NewEntityID("h", "k")}
	steps := []struct {
		op        string
		wantErr   string
		wantState string
		wantRes   string
	}{
		{op: "touch", wantState: `{"ops":1,"fresh":true}`},
		{op: "Touch", wantState: `{"ops":2,"fresh":true}`},
		{op: "refuse", wantErr: "refused by hook"},
		{op: "beforeOperation", wantErr: `no operation "beforeOperation" (available: Delete, Refuse, Touch)`},
		{op: "delete", wantState: `{"ops":-1,"fresh":true}`, wantRes: `true`},
	}
	for _, s := range steps {
		ctx.op, ctx.result = s.op, nil
		before, had := ctx.state, ctx.hasState
		err := fn(ctx)
		if s.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Fatalf("%s: error %v, want %q", s.op, err, s.wantErr)
			}
			ctx.state, ctx.hasState = before, had // as the engine's rollback does
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.op, err)
		}
		if got := stateOf(ctx); got != s.wantState {
			t.Fatalf("%s: state %s, want %s", s.op, got, s.wantState)
		}
		if string(ctx.result) != s.wantRes {
			t.Fatalf("%s: result %s, want %s", s.op, ctx.result, s.wantRes)
		}
	}
}

func TestTypedEntityNonStructState(t *testing.T) {
	fn := TypedEntity[number]()
	ctx := &fakeEntityContext{id: NewEntityID("n", "k"), op: "inc"}
	for want := 1; want <= 3; want++ {
		if err := fn(ctx); err != nil {
			t.Fatal(err)
		}
		if got := stateOf(ctx); got != string(rune('0'+want)) || string(ctx.result) != got {
			t.Fatalf("state %s result %s, want %d", got, ctx.result, want)
		}
	}
}

// Types with unsupported operation shapes; each must panic at construction.
type (
	tooManyParams   struct{}
	ctxNotFirst     struct{}
	twoContexts     struct{}
	errorFirst      struct{}
	threeResults    struct{}
	variadicOp      struct{}
	funcInput       struct{}
	chanResult      struct{}
	ifaceInput      struct{}
	caseCollision   struct{}
	noMethods       struct{ X int }
	twoBadOps       struct{}
	valueMethodsBad struct{}
)

func (tooManyParams) M(int, int, int)                           {}
func (ctxNotFirst) M(int, EntityContext)                        {}
func (twoContexts) M(EntityContext, EntityContext)              {}
func (errorFirst) M() (error, int)                              { return nil, 0 }
func (threeResults) M() (int, int, error)                       { return 0, 0, nil }
func (variadicOp) M(xs ...int)                                  {}
func (funcInput) M(f func())                                    {}
func (chanResult) M() chan int                                  { return nil }
func (ifaceInput) M(s interface{ String() string })             {}
func (caseCollision) Get()                                      {}
func (caseCollision) GET()                                      {}
func (twoBadOps) A(int, int, int)                               {}
func (twoBadOps) B() (error, error)                             { return nil, nil }
func (twoBadOps) C()                                            {}
func (valueMethodsBad) M(EntityContext, int, string) (int, int) { return 0, 0 }

func TestTypedEntityRejectsUnsupportedShapes(t *testing.T) {
	cases := []struct {
		name  string
		build func() Entity
		want  []string
	}{
		{"too many params", TypedEntity[tooManyParams], []string{"tooManyParams", "M(int, int, int)", "too many parameters"}},
		{"context not first", TypedEntity[ctxNotFirst], []string{"M(int, durable.EntityContext)", "first must be durable.EntityContext"}},
		{"two contexts", TypedEntity[twoContexts], []string{"second durable.EntityContext"}},
		{"error first", TypedEntity[errorFirst], []string{"M() (error, int)", "(R, error)"}},
		{"three results", TypedEntity[threeResults], []string{"too many results"}},
		{"variadic", TypedEntity[variadicOp], []string{"variadic"}},
		{"func input", TypedEntity[funcInput], []string{"input type func()"}},
		{"chan result", TypedEntity[chanResult], []string{"result type chan int"}},
		{"non-empty interface input", TypedEntity[ifaceInput], []string{"non-empty interface"}},
		{"case collision", TypedEntity[caseCollision], []string{"GET and Get", "collide"}},
		{"no methods", TypedEntity[noMethods], []string{"no exported methods"}},
		{"every bad method listed", TypedEntity[twoBadOps], []string{"A(int, int, int)", "B() (error, error)"}},
		{"value receiver methods count", TypedEntity[valueMethodsBad], []string{"M(durable.EntityContext, int, string) (int, int)"}},
		{"pointer type argument", TypedEntity[*account], []string{"not a pointer"}},
		{"interface type argument", TypedEntity[error], []string{"not a pointer or interface"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if r == nil {
					t.Fatal("no panic")
				}
				for _, w := range c.want {
					if !strings.Contains(msg, w) {
						t.Errorf("panic %q does not mention %q", msg, w)
					}
				}
			}()
			c.build()
		})
	}
}

// jsonHooks has JSON methods, which are serialisation, not operations.
type jsonHooks struct{ V int }

func (j jsonHooks) MarshalJSON() ([]byte, error) { return json.Marshal(map[string]int{"v": j.V}) }
func (j *jsonHooks) UnmarshalJSON(b []byte) error {
	var m map[string]int
	err := json.Unmarshal(b, &m)
	j.V = m["v"]
	return err
}
func (j *jsonHooks) Bump() { j.V++ }

func TestTypedEntityJSONMethodsAreNotOperations(t *testing.T) {
	fn := TypedEntity[jsonHooks]()
	ctx := &fakeEntityContext{id: NewEntityID("j", "k"), op: "bump", state: json.RawMessage(`{"v":4}`), hasState: true}
	if err := fn(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stateOf(ctx); got != `{"v":5}` {
		t.Fatalf("state %s", got)
	}
	ctx.op = "unmarshalJSON"
	if err := fn(ctx); err == nil || !strings.Contains(err.Error(), "available: Bump, delete") {
		t.Fatalf("unmarshalJSON was treated as an operation: %v", err)
	}
}

func TestTypedEntityWorksInRegistry(t *testing.T) {
	reg := NewRegistry()
	reg.AddEntity("Acct", TypedEntity[account]())
	fn, ok := reg.Entity("acct")
	if !ok {
		t.Fatal("not registered")
	}
	ctx := &fakeEntityContext{id: NewEntityID("acct", "k"), op: "deposit", input: json.RawMessage(`3`)}
	if err := fn(ctx); err != nil || stateOf(ctx) != `{"balance":3}` {
		t.Fatalf("state %s err %v", ctx.state, err)
	}
}
