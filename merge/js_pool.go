package merge

import (
	"errors"
	"fmt"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
)

// errTimeout is the value a timed-out runtime is interrupted with.
var errTimeout = errors.New("merge script timeout")

// scriptRuntime is a prepared runtime: builtins made deterministic and
// frozen, limits set. It runs one call at a time.
type scriptRuntime struct {
	vm    *goja.Runtime
	timer *time.Timer   // interrupts vm; stopped while idle
	armed bool          // timer was reset and not yet stopped
	fired chan struct{} // receives once each time timer's function ran
}

// get waits for a free slot and returns an idle or new runtime; every get
// must be followed by one put.
func (e *ScriptEngine) get() (*scriptRuntime, error) {
	e.slots <- struct{}{}
	select {
	case rt := <-e.idle:
		return rt, nil
	default:
	}
	rt, err := e.newRuntime()
	if err != nil {
		<-e.slots
		return nil, err
	}
	return rt, nil
}

// put returns rt to the idle list, or drops it if discard is set, and frees
// its slot.
func (e *ScriptEngine) put(rt *scriptRuntime, discard bool) {
	if !discard {
		select {
		case e.idle <- rt:
		default:
		}
	}
	<-e.slots
}

func (e *ScriptEngine) newRuntime() (*scriptRuntime, error) {
	prelude, err := preludeProgram()
	if err != nil {
		return nil, err
	}
	vm := goja.New()
	// Backstops: the prelude hides the clock and Math.random, but if some
	// builtin still reads them it gets a constant.
	vm.SetTimeSource(func() time.Time { return time.Unix(0, 0) })
	vm.SetRandSource(func() float64 { return 0 })
	// eval and Function must not read source map files either.
	vm.SetParserOptions(parser.WithDisableSourceMaps)
	if _, err := vm.RunProgram(prelude); err != nil {
		return nil, fmt.Errorf("preparing a runtime: %v", err)
	}
	vm.SetMaxCallStackSize(e.opts.MaxCallStackSize)
	rt := &scriptRuntime{vm: vm, fired: make(chan struct{}, 1)}
	rt.timer = time.AfterFunc(time.Hour, func() {
		vm.Interrupt(errTimeout)
		rt.fired <- struct{}{}
	})
	rt.timer.Stop()
	return rt, nil
}

func (rt *scriptRuntime) arm(d time.Duration) {
	rt.armed = true
	rt.timer.Reset(d)
}

// disarm stops the timer and reports whether it fired, in which case the
// runtime may hold a pending interrupt and must be discarded. It is a no-op
// on a disarmed runtime.
func (rt *scriptRuntime) disarm() bool {
	if !rt.armed {
		return false
	}
	rt.armed = false
	if rt.timer.Stop() {
		return false
	}
	<-rt.fired // wait until the interrupt is set, so nothing races with reuse
	return true
}

func isUncatchable(err error) bool {
	var ie *goja.InterruptedError
	var so *goja.StackOverflowError
	return errors.As(err, &ie) || errors.As(err, &so)
}

// call runs one merge call. discard reports that the runtime must not be
// reused.
func (rt *scriptRuntime) call(s *Script, current any, present bool, value any, sc ScriptContext) (result any, keep, discard bool, err error) {
	vm := rt.vm
	e := s.engine
	args := [3]goja.Value{goja.Undefined(), nil, nil}
	if present {
		if args[0], err = toJS(vm, current); err != nil {
			return nil, false, false, s.failed(sc, "current value: "+err.Error())
		}
	}
	if args[1], err = toJS(vm, value); err != nil {
		return nil, false, false, s.failed(sc, "delta value: "+err.Error())
	}
	ctx := vm.NewObject()
	ctx.Set("catalog", sc.Catalog)
	ctx.Set("field", sc.Field)
	ctx.Set("version", sc.Version)
	args[2] = ctx

	rt.arm(e.opts.Timeout)
	// Everything that can run script code happens while the timer is armed:
	// evaluating the body, the call, reading the result (getters, toJSON) and
	// formatting an exception (toString).
	var msg string
	result, keep, msg, discard = rt.run(s, args)
	if rt.disarm() {
		// The interrupt may be pending even if the call finished first.
		discard = true
	}
	if msg != "" {
		return nil, false, discard, s.failed(sc, msg)
	}
	return result, keep, discard, nil
}

// run evaluates the script body, calls merge and converts its result. A
// non-empty msg is the failure. broken reports an interrupt, a stack
// overflow or a panic, after which the runtime is not reused; after an
// ordinary exception it is.
func (rt *scriptRuntime) run(s *Script, args [3]goja.Value) (result any, keep bool, msg string, broken bool) {
	vm := rt.vm
	opts := s.engine.opts
	defer func() {
		if x := recover(); x != nil {
			result, keep, broken = nil, false, true
			if err, ok := x.(error); ok {
				msg = s.describe(vm, err, opts)
			} else {
				msg = fmt.Sprintf("internal error: %v", x)
			}
		}
	}()
	fail := func(err error) (any, bool, string, bool) {
		return nil, false, s.describe(vm, err, opts), isUncatchable(err)
	}
	fv, err := vm.RunProgram(s.prog)
	if err != nil {
		return fail(err)
	}
	fn, ok := goja.AssertFunction(fv)
	if !ok {
		return nil, false, "merge is " + jsKind(fv) + ", not a function", false
	}
	out, err := fn(goja.Undefined(), args[:]...)
	if err != nil {
		return fail(err)
	}
	if goja.IsUndefined(out) {
		return nil, false, "", false
	}
	// Reading the result may run getters and toJSON; Try turns their
	// exceptions into errors (an interrupt still panics, into the recover).
	c := fromJS{vm: vm, max: opts.MaxResultBytes}
	var v any
	var present bool
	if ex := vm.Try(func() { v, present, err = c.value(out, "") }); ex != nil {
		return fail(ex)
	}
	if err != nil {
		return fail(err)
	}
	if !present {
		return nil, false, "", false
	}
	return v, true, "", false
}
