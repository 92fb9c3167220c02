package durable

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// OperationHook is implemented by a typed entity's *T that needs to run code before
// every operation, typically to fill in defaults of a state that was just created:
// Go has no constructors, and the zero value is what a new entity starts from.
// Its error fails the operation like a method's error. BeforeOperation is not itself
// an operation.
type OperationHook interface {
	BeforeOperation(ctx EntityContext) error
}

// TypedEntity adapts the Go type T to a function-style Entity, the way Durable
// Functions' class-based entities work, so an entity can be written as plain methods
// instead of a switch over operation names with hand-written JSON handling.
//
// The entity's state is T as JSON (T's zero value while the entity has no state).
// Every exported method of *T is an operation, matched case-insensitively against the
// operation name. A method takes nothing, an input X, an EntityContext, or an
// EntityContext then an input X; it returns nothing, error, a result R, or (R, error).
// The input is decoded from the operation's JSON input (no input gives X's zero
// value); R becomes the result a caller of CallEntity receives; an error fails the
// operation and the engine rolls back its state change. After a successful operation
// the receiver is saved as the new state, even when unchanged (as Durable Functions
// does, so any operation creates the entity), unless the method called
// ctx.DeleteState. If T has no Delete method, the operation "delete" deletes the
// state, as in Durable Functions. MarshalJSON, UnmarshalJSON and BeforeOperation
// (see OperationHook) are not operations.
//
// Shapes are checked once, here: an unsupported method signature, two methods whose
// names differ only in case, or a T without operations panics at start-up naming the
// offending methods, which is where Registry reports registration mistakes.
func TypedEntity[T any]() Entity {
	te := newTypedEntity(reflect.TypeFor[T]())
	return te.run
}

var (
	entityContextType = reflect.TypeFor[EntityContext]()
	errorType         = reflect.TypeFor[error]()
	hookType          = reflect.TypeFor[OperationHook]()
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	unmarshalerType   = reflect.TypeFor[json.Unmarshaler]()
)

// typedEntity is what TypedEntity precomputes from T so operations cost one map lookup
// and one reflective call.
type typedEntity struct {
	typ            reflect.Type
	ops            map[string]*typedOp // by lower-case name
	names          []string            // operation names as declared, sorted, for error messages
	hook           bool
	implicitDelete bool // "delete" is the built-in delete-state operation
}

// typedOp is one method's calling convention.
type typedOp struct {
	name      string
	fn        reflect.Value // method expression: receiver first
	withCtx   bool
	in        reflect.Type // nil when the method takes no input
	hasResult bool
	hasErr    bool
}

func newTypedEntity(t reflect.Type) *typedEntity {
	if t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface {
		panic(fmt.Sprintf("durable: TypedEntity[%s]: the type argument must be the state type itself, not a pointer or interface (its operations are the methods of *T)", t))
	}
	pt := reflect.PointerTo(t)
	te := &typedEntity{typ: t, ops: map[string]*typedOp{}, hook: pt.Implements(hookType)}
	skip := map[string]bool{}
	if te.hook {
		skip["BeforeOperation"] = true
	}
	if pt.Implements(marshalerType) {
		skip["MarshalJSON"] = true
	}
	if pt.Implements(unmarshalerType) {
		skip["UnmarshalJSON"] = true
	}
	var problems []string
	for i := 0; i < pt.NumMethod(); i++ {
		m := pt.Method(i)
		if !m.IsExported() || skip[m.Name] {
			continue
		}
		op, err := typedOpOf(m)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s%s: %v", m.Name, signature(m.Type), err))
			continue
		}
		key := strings.ToLower(m.Name)
		if prev, dup := te.ops[key]; dup {
			problems = append(problems, fmt.Sprintf("%s and %s: operation names are case-insensitive, so they collide", prev.name, m.Name))
			continue
		}
		te.ops[key] = op
		te.names = append(te.names, m.Name)
	}
	if len(problems) > 0 {
		panic(fmt.Sprintf("durable: TypedEntity[%s]: unsupported operation methods (want M(), M(in X), M(ctx durable.EntityContext) or M(ctx durable.EntityContext, in X), returning nothing, error, R or (R, error)):\n\t%s",
			t, strings.Join(problems, "\n\t")))
	}
	if len(te.ops) == 0 {
		panic(fmt.Sprintf("durable: TypedEntity[%s]: *%s has no exported methods, so the entity would have no operations", t, t))
	}
	if _, ok := te.ops["delete"]; !ok {
		te.implicitDelete = true
		te.names = append(te.names, "delete")
	}
	sort.Strings(te.names)
	return te
}

// typedOpOf checks one method's signature against the supported shapes.
func typedOpOf(m reflect.Method) (*typedOp, error) {
	mt := m.Type // includes the receiver as In(0)
	if mt.IsVariadic() {
		return nil, fmt.Errorf("variadic methods are not supported")
	}
	op := &typedOp{name: m.Name, fn: m.Func}
	params := make([]reflect.Type, 0, 2)
	for i := 1; i < mt.NumIn(); i++ {
		params = append(params, mt.In(i))
	}
	switch len(params) {
	case 0:
	case 1:
		if params[0] == entityContextType {
			op.withCtx = true
		} else {
			op.in = params[0]
		}
	case 2:
		if params[0] != entityContextType {
			return nil, fmt.Errorf("with two parameters the first must be durable.EntityContext")
		}
		op.withCtx, op.in = true, params[1]
	default:
		return nil, fmt.Errorf("too many parameters")
	}
	if op.in != nil {
		if op.in == entityContextType {
			return nil, fmt.Errorf("the input cannot be a second durable.EntityContext")
		}
		if err := jsonable(op.in); err != nil {
			return nil, fmt.Errorf("input %w", err)
		}
	}
	switch mt.NumOut() {
	case 0:
	case 1:
		if mt.Out(0) == errorType {
			op.hasErr = true
		} else {
			op.hasResult = true
		}
	case 2:
		if mt.Out(0) == errorType || mt.Out(1) != errorType {
			return nil, fmt.Errorf("with two results they must be (R, error)")
		}
		op.hasResult, op.hasErr = true, true
	default:
		return nil, fmt.Errorf("too many results")
	}
	if op.hasResult {
		if err := jsonable(mt.Out(0)); err != nil {
			return nil, fmt.Errorf("result %w", err)
		}
	}
	return op, nil
}

// signature renders a method type without its receiver, as the method is declared.
func signature(mt reflect.Type) string {
	var in, out []string
	for i := 1; i < mt.NumIn(); i++ {
		in = append(in, mt.In(i).String())
	}
	for i := 0; i < mt.NumOut(); i++ {
		out = append(out, mt.Out(i).String())
	}
	s := "(" + strings.Join(in, ", ") + ")"
	switch len(out) {
	case 0:
	case 1:
		s += " " + out[0]
	default:
		s += " (" + strings.Join(out, ", ") + ")"
	}
	return s
}

// jsonable rejects the types encoding/json can never handle, so the mistake surfaces
// at start-up rather than on the first operation.
func jsonable(t reflect.Type) error {
	switch t.Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return fmt.Errorf("type %s cannot be JSON", t)
	case reflect.Interface:
		if t.NumMethod() > 0 {
			return fmt.Errorf("type %s is a non-empty interface, which JSON cannot decode into", t)
		}
	}
	return nil
}

// typedContext watches for DeleteState so the adapter does not resurrect the state by
// saving the receiver after a method deleted it.
type typedContext struct {
	EntityContext
	deleted bool
}

func (c *typedContext) DeleteState() {
	c.deleted = true
	c.EntityContext.DeleteState()
}

func (c *typedContext) SetState(v any) error {
	c.deleted = false
	return c.EntityContext.SetState(v)
}

func (te *typedEntity) run(ctx EntityContext) error {
	name := ctx.Operation()
	op, ok := te.ops[strings.ToLower(name)]
	if !ok {
		if te.implicitDelete && strings.EqualFold(name, "delete") {
			ctx.DeleteState()
			return nil
		}
		return fmt.Errorf("entity %s has no operation %q (available: %s)", ctx.ID().Name, name, strings.Join(te.names, ", "))
	}
	recv := reflect.New(te.typ)
	if ctx.HasState() {
		if err := ctx.GetState(recv.Interface()); err != nil {
			return fmt.Errorf("entity %s: state does not decode as %s: %w", ctx.ID().Name, te.typ, err)
		}
	}
	tc := &typedContext{EntityContext: ctx}
	if te.hook {
		if err := recv.Interface().(OperationHook).BeforeOperation(tc); err != nil {
			return err
		}
	}
	args := make([]reflect.Value, 1, 3)
	args[0] = recv
	if op.withCtx {
		args = append(args, reflect.ValueOf(EntityContext(tc)))
	}
	if op.in != nil {
		in := reflect.New(op.in)
		if err := ctx.GetInput(in.Interface()); err != nil {
			return fmt.Errorf("operation %q expects an input of type %s: %w", name, op.in, err)
		}
		args = append(args, in.Elem())
	}
	out := op.fn.Call(args)
	if op.hasErr {
		if err, _ := out[len(out)-1].Interface().(error); err != nil {
			return err
		}
	}
	if !tc.deleted {
		if err := ctx.SetState(recv.Interface()); err != nil {
			return err
		}
	}
	if op.hasResult {
		return ctx.SetResult(out[0].Interface())
	}
	return nil
}
