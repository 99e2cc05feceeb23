package merge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
)

// ErrInvalidScript and ErrScriptFailed are the sentinel errors of merge
// scripts; errors from Compile, Run and Apply with a ScriptType delta wrap
// one of them.
var (
	// ErrInvalidScript reports a script that cannot be compiled or used: a
	// bad name, a source that is too large, a syntax error, a source that does
	// not define merge, or a ScriptType delta whose script was not loaded.
	ErrInvalidScript = errors.New("merge: invalid merge script")
	// ErrScriptFailed reports a merge call that did not produce a usable
	// result: an exception, a timeout, a stack overflow, or a result that is
	// too large or not representable as JSON.
	ErrScriptFailed = errors.New("merge: merge script failed")
)

// Limits of scripts. All but the timeout are part of the fold's rules:
// changing them can change the result of stored deltas.
const (
	defaultScriptTimeout          = 50 * time.Millisecond
	defaultScriptMaxCallStackSize = 256
	defaultScriptMaxResultBytes   = 1 << 20
	// maxScriptSourceBytes bounds the length of a script's source.
	maxScriptSourceBytes = 64 << 10
	// maxScriptNameLen bounds a script's name.
	maxScriptNameLen = 64
	// maxResultDepth bounds the nesting of a result; it is the nesting limit
	// of Decode, so every result can be decoded again.
	maxResultDepth = 10000
)

// ScriptOptions are the limits of a ScriptEngine. A zero field takes its
// default. Every reader of a catalog must use the same MaxCallStackSize and
// MaxResultBytes, or they may fold different documents.
type ScriptOptions struct {
	// Timeout bounds the wall time of one merge call; default 50ms. It is a
	// safety net, not a rule: see the package documentation.
	Timeout time.Duration
	// MaxCallStackSize bounds the depth of nested JavaScript calls; default
	// 256.
	MaxCallStackSize int
	// MaxResultBytes bounds the length of a result encoded as by Encode;
	// default 1 MiB.
	MaxResultBytes int
}

// ScriptEngine compiles merge scripts and runs them on a pool of prepared
// JavaScript runtimes. It is safe for concurrent use. At most GOMAXPROCS
// (as when the engine was made) calls run at once; further calls wait for a
// free runtime before their time limit starts, so a busy process does not
// make scripts time out.
type ScriptEngine struct {
	opts ScriptOptions
	// slots holds a token for every runtime in use; its capacity bounds the
	// calls running at once.
	slots chan struct{}
	// idle holds prepared runtimes. It is a bounded list rather than a
	// sync.Pool so that runtimes, which are expensive to prepare, survive
	// garbage collections.
	idle chan *scriptRuntime
}

// NewScriptEngine returns an engine with the limits in opts; zero fields take
// their defaults.
func NewScriptEngine(opts ScriptOptions) *ScriptEngine {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultScriptTimeout
	}
	if opts.MaxCallStackSize <= 0 {
		opts.MaxCallStackSize = defaultScriptMaxCallStackSize
	}
	if opts.MaxResultBytes <= 0 {
		opts.MaxResultBytes = defaultScriptMaxResultBytes
	}
	n := runtime.GOMAXPROCS(0)
	return &ScriptEngine{
		opts:  opts,
		slots: make(chan struct{}, n),
		idle:  make(chan *scriptRuntime, n),
	}
}

// Script is a compiled merge script. It is immutable and safe for concurrent
// use; run it with Run or through Apply with a Script delta.
type Script struct {
	// Name is the name the script was compiled under.
	Name string
	// Hash is ScriptHash(Source), the identity of this version.
	Hash string
	// Source is the JavaScript source.
	Source string

	prog   *goja.Program // the wrapped source; evaluated once per call
	engine *ScriptEngine
	id     string // name@hash12, for messages
}

// ScriptContext is what a merge call learns about the delta besides the
// values; the script sees it as its third argument,
// {catalog, field, version}.
type ScriptContext struct {
	// Catalog names the catalog the document belongs to (ctx.catalog).
	Catalog string
	// Field is the delta's field as written (ctx.field).
	Field string
	// Version is the delta's version (ctx.version); it also appears in
	// errors. Versions beyond 2^53 lose precision in the script.
	Version int64
}

// ScriptHash returns the hex SHA-256 of source, the identity of a script
// version.
func ScriptHash(source string) string {
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:])
}

// The source is evaluated inside a strict function so that every call gets
// fresh top-level bindings. The prefix stays on the source's first line, so
// line numbers match the source; only columns on line 1 shift.
const (
	scriptPrefix = `(function(){"use strict";`
	scriptSuffix = "\n;return typeof merge === \"undefined\" ? undefined : merge;})()"
)

// Compile checks and compiles source as the script name. The source must be
// at most 64 KiB of JavaScript (strict mode) that defines a function
// merge(current, value, ctx); its top-level code is run once, in a scratch
// runtime, to check that. The name must be 1 to 64 of [A-Za-z0-9_.-].
// Errors wrap ErrInvalidScript.
func (e *ScriptEngine) Compile(name, source string) (*Script, error) {
	if !validScriptName(name) {
		return nil, fmt.Errorf("%w: name %q must be 1 to %d of [A-Za-z0-9_.-]", ErrInvalidScript, name, maxScriptNameLen)
	}
	if len(source) > maxScriptSourceBytes {
		return nil, fmt.Errorf("%w: %s: source is %d bytes, more than %d", ErrInvalidScript, name, len(source), maxScriptSourceBytes)
	}
	if !utf8.ValidString(source) {
		return nil, fmt.Errorf("%w: %s: source is not valid UTF-8", ErrInvalidScript, name)
	}
	// The source alone must be a valid strict program: that gives exact
	// positions for syntax errors, and it keeps the source from closing the
	// wrapper function early.
	if _, err := compileStrict(name, source); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalidScript, name, syntaxMessage(err, 0))
	}
	prog, err := compileStrict(name, scriptPrefix+source+scriptSuffix)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalidScript, name, syntaxMessage(err, len(scriptPrefix)))
	}
	hash := ScriptHash(source)
	s := &Script{Name: name, Hash: hash, Source: source, prog: prog, engine: e, id: name + "@" + hash[:12]}
	if err := e.checkDefinesMerge(s); err != nil {
		return nil, err
	}
	return s, nil
}

func validScriptName(name string) bool {
	if name == "" || len(name) > maxScriptNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// compileStrict compiles src in strict mode. Source maps are disabled: a
// sourceMappingURL comment would otherwise make the parser read a file.
func compileStrict(name, src string) (*goja.Program, error) {
	ast, err := parser.ParseFile(nil, name, src, 0, parser.WithDisableSourceMaps)
	if err != nil {
		return nil, err
	}
	return goja.CompileAST(ast, true)
}

// syntaxMessage formats a parse or compile error with its line and column;
// shift is the length of the wrapper prefix on line 1.
func syntaxMessage(err error, shift int) string {
	var list parser.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		p := list[0].Position
		return fmt.Sprintf("SyntaxError at line %d, column %d: %s", p.Line, column(p.Line, p.Column, shift), list[0].Message)
	}
	var ce *goja.CompilerSyntaxError
	if errors.As(err, &ce) && ce.File != nil {
		p := ce.File.Position(ce.Offset)
		return fmt.Sprintf("SyntaxError at line %d, column %d: %s", p.Line, column(p.Line, p.Column, shift), ce.Message)
	}
	return err.Error()
}

func column(line, col, shift int) int {
	if line == 1 && col > shift {
		return col - shift
	}
	return col
}

// checkDefinesMerge evaluates the script once and checks that it leaves a
// function named merge.
func (e *ScriptEngine) checkDefinesMerge(s *Script) (err error) {
	rt, err := e.get()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidScript, s.Name, err)
	}
	var discard bool
	defer func() {
		if x := recover(); x != nil {
			discard = true
			err = fmt.Errorf("%w: %s: panic while evaluating the script: %v", ErrInvalidScript, s.Name, x)
		}
		if rt.disarm() {
			discard = true
		}
		e.put(rt, discard)
	}()
	rt.arm(e.opts.Timeout)
	v, runErr := rt.vm.RunProgram(s.prog)
	var msg string
	if runErr != nil {
		msg = s.describe(rt.vm, runErr, e.opts)
	}
	discard = rt.disarm() || isUncatchable(runErr)
	switch {
	case runErr != nil:
		return fmt.Errorf("%w: %s: evaluating the script: %s", ErrInvalidScript, s.Name, msg)
	case goja.IsUndefined(v):
		return fmt.Errorf("%w: %s: does not define function merge(current, value, ctx)", ErrInvalidScript, s.Name)
	}
	if _, ok := goja.AssertFunction(v); !ok {
		return fmt.Errorf("%w: %s: merge is %s, not a function", ErrInvalidScript, s.Name, jsKind(v))
	}
	return nil
}

// Run calls merge(current, value, ctx) and returns its result as a decoded
// value. current is undefined in the script when present is false. The
// script gets deep copies of current and value, so it cannot change them.
// keep is false when merge returns undefined, which removes the field.
//
// Errors wrap ErrScriptFailed and name the script and sc.Version: an
// exception, a timeout, a stack overflow, a result larger than
// MaxResultBytes, or a result that is not representable as JSON. Run never
// panics.
func (s *Script) Run(current any, present bool, value any, sc ScriptContext) (result any, keep bool, err error) {
	if s == nil || s.engine == nil || s.prog == nil {
		return nil, false, fmt.Errorf("%w: script not compiled (use ScriptEngine.Compile)", ErrInvalidScript)
	}
	e := s.engine
	rt, err := e.get()
	if err != nil {
		return nil, false, s.failed(sc, err.Error())
	}
	discard := true
	defer func() {
		if x := recover(); x != nil {
			rt.disarm()
			result, keep, err = nil, false, s.failed(sc, fmt.Sprintf("internal error: %v", x))
			discard = true
		}
		e.put(rt, discard)
	}()
	result, keep, discard, err = rt.call(s, current, present, value, sc)
	return result, keep, err
}

func (s *Script) failed(sc ScriptContext, msg string) error {
	return fmt.Errorf("%w: %s at version %d: %s", ErrScriptFailed, s.id, sc.Version, msg)
}

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

// describe turns an error from goja into a message with the script position.
// Rendering a thrown object runs its toString in vm; an interrupt there
// panics.
func (s *Script) describe(vm *goja.Runtime, err error, opts ScriptOptions) string {
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		return fmt.Sprintf("interrupted after %v%s", opts.Timeout, s.where(ie.Stack()))
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		return fmt.Sprintf("stack overflow: more than %d nested calls%s", opts.MaxCallStackSize, s.where(so.Stack()))
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return exceptionText(vm, ex) + s.where(ex.Stack())
	}
	return err.Error()
}

// exceptionText renders a thrown value; it may run script code (toString).
func exceptionText(vm *goja.Runtime, ex *goja.Exception) string {
	v := ex.Value()
	if v == nil {
		return "uncaught exception"
	}
	var text string
	if vm.Try(func() { text = v.String() }) != nil {
		return "uncaught exception (converting it to a string threw)"
	}
	return text
}

// where returns " at line L, column C" for the innermost frame in the script.
func (s *Script) where(stack []goja.StackFrame) string {
	for i := range stack {
		f := &stack[i]
		if f.SrcName() != s.Name {
			continue
		}
		p := f.Position()
		if p.Line == 0 {
			continue
		}
		return fmt.Sprintf(" (line %d, column %d)", p.Line, column(p.Line, p.Column, len(scriptPrefix)))
	}
	return ""
}

func jsKind(v goja.Value) string {
	switch {
	case v == nil || goja.IsUndefined(v):
		return "undefined"
	case goja.IsNull(v):
		return "null"
	}
	if o, ok := v.(*goja.Object); ok {
		if _, ok := goja.AssertFunction(o); ok {
			return "a function"
		}
		return "an object"
	}
	if _, ok := v.(*goja.Symbol); ok {
		return "a symbol"
	}
	switch v.ExportType() {
	case typeInt64, typeFloat64:
		return "a number"
	case typeString:
		return "a string"
	case typeBool:
		return "a boolean"
	}
	return "a " + v.ExportType().String()
}

// toJS builds a fresh JavaScript value from a decoded value. Object keys are
// added in sorted order, so scripts see a deterministic key order.
func toJS(vm *goja.Runtime, v any) (goja.Value, error) {
	switch x := v.(type) {
	case nil:
		return goja.Null(), nil
	case bool, string:
		return vm.ToValue(x), nil
	case json.Number:
		return numberToJS(vm, string(x)), nil
	case float64:
		return vm.ToValue(x), nil
	case int:
		return vm.ToValue(float64(x)), nil
	case int64:
		return vm.ToValue(float64(x)), nil
	case map[string]any:
		obj := vm.NewObject()
		if len(x) == 0 {
			return obj, nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			e, err := toJS(vm, x[k])
			if err != nil {
				return nil, err
			}
			obj.Set(k, e)
		}
		return obj, nil
	case []any:
		items := make([]any, len(x))
		for i, e := range x {
			jv, err := toJS(vm, e)
			if err != nil {
				return nil, err
			}
			items[i] = jv
		}
		return vm.NewArray(items...), nil
	default:
		return nil, fmt.Errorf("cannot pass a Go %T to a script", v)
	}
}

// numberToJS converts a JSON number like JSON.parse: to the nearest float64,
// ±Infinity beyond its range. Integers in ±2^53 take a faster path.
func numberToJS(vm *goja.Runtime, s string) goja.Value {
	if len(s) < 17 && !strings.ContainsAny(s, ".eE") && s != "-0" {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return vm.ToValue(i)
		}
	}
	f, _ := strconv.ParseFloat(s, 64)
	return vm.ToValue(f)
}

// The export types of JavaScript primitives.
var (
	typeInt64   = reflect.TypeFor[int64]()
	typeFloat64 = reflect.TypeFor[float64]()
	typeString  = reflect.TypeFor[string]()
	typeBool    = reflect.TypeFor[bool]()
	typeBigInt  = reflect.TypeFor[*big.Int]()
)

// fromJS converts a script result to a decoded value the way JSON.stringify
// would (toJSON, boxed primitives, undefined members dropped and undefined
// array elements null), except that it fails on NaN, ±Infinity, functions,
// symbols, BigInts and cycles instead of dropping or nulling them. It counts
// the length the result will have when encoded with Encode and stops as soon
// as that exceeds max.
type fromJS struct {
	vm    *goja.Runtime
	max   int
	size  int
	stack []*goja.Object // objects being converted, for cycle detection
	path  []string       // location, for messages
}

// resultError is a result that cannot be stored, as opposed to an error
// raised by script code while the result is read.
type resultError string

func (e resultError) Error() string { return string(e) }

func (c *fromJS) fail(format string, args ...any) error {
	loc := Path(c.path).String()
	if loc == "" {
		loc = "(root)"
	}
	return resultError(fmt.Sprintf("result is not representable as JSON: %s at %s", fmt.Sprintf(format, args...), loc))
}

func (c *fromJS) grow(n int) error {
	c.size += n
	if c.size > c.max {
		return resultError(fmt.Sprintf("result is larger than %d bytes", c.max))
	}
	return nil
}

// value converts v, the member key of its holder; present is false for
// values JSON.stringify leaves out (undefined).
func (c *fromJS) value(v goja.Value, key string) (any, bool, error) {
	obj, isObj := v.(*goja.Object)
	if isObj {
		if f, ok := goja.AssertFunction(obj.Get("toJSON")); ok {
			r, err := f(obj, c.vm.ToValue(key))
			if err != nil {
				return nil, false, err
			}
			v = r
			obj, isObj = v.(*goja.Object)
		}
	}
	if isObj {
		switch obj.ClassName() {
		case "Number":
			v, isObj = obj.ToNumber(), false
		case "String":
			v, isObj = obj.ToString(), false
		case "Boolean":
			v, isObj = c.vm.ToValue(obj.Export()), false
		case "BigInt":
			return nil, false, c.fail("a BigInt")
		}
	}
	if isObj {
		if _, ok := goja.AssertFunction(obj); ok {
			return nil, false, c.fail("a function")
		}
		return c.object(obj)
	}
	switch {
	case v == nil || goja.IsUndefined(v):
		return nil, false, nil
	case goja.IsNull(v):
		return nil, true, c.grow(4)
	}
	if _, ok := v.(*goja.Symbol); ok {
		return nil, false, c.fail("a symbol")
	}
	switch v.ExportType() {
	case typeInt64:
		n := json.Number(strconv.FormatInt(v.ToInteger(), 10))
		return n, true, c.grow(len(n))
	case typeFloat64:
		f := v.ToFloat()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false, c.fail("%s", v.String())
		}
		// JavaScript's own formatting: integers below 1e21 without
		// exponent or fraction, -0 as 0, shortest round-trip digits.
		n := json.Number(v.String())
		return n, true, c.grow(len(n))
	case typeString:
		s := v.String()
		return s, true, c.grow(encodedStringLen(s))
	case typeBool:
		if v.ToBoolean() {
			return true, true, c.grow(4)
		}
		return false, true, c.grow(5)
	case typeBigInt:
		return nil, false, c.fail("a BigInt")
	}
	return nil, false, c.fail("a %s", v.ExportType())
}

func (c *fromJS) object(obj *goja.Object) (any, bool, error) {
	if slices.Contains(c.stack, obj) {
		return nil, false, c.fail("a cycle")
	}
	if len(c.stack) >= maxResultDepth {
		return nil, false, c.fail("nesting deeper than %d", maxResultDepth)
	}
	c.stack = append(c.stack, obj)
	defer func() { c.stack = c.stack[:len(c.stack)-1] }()
	if err := c.grow(2); err != nil {
		return nil, false, err
	}
	if obj.ClassName() == "Array" {
		n := obj.Get("length").ToInteger()
		if n > 0 {
			if err := c.grow(int(min(n-1, int64(c.max)))); err != nil { // commas
				return nil, false, err
			}
		}
		arr := make([]any, 0, n)
		for i := int64(0); i < n; i++ {
			k := strconv.FormatInt(i, 10)
			c.path = append(c.path, k)
			e, present, err := c.value(obj.Get(k), k)
			c.path = c.path[:len(c.path)-1]
			if err != nil {
				return nil, false, err
			}
			if !present {
				if err := c.grow(4); err != nil {
					return nil, false, err
				}
			}
			arr = append(arr, e)
		}
		return arr, true, nil
	}
	keys := obj.Keys()
	m := make(map[string]any, len(keys))
	for _, k := range keys {
		c.path = append(c.path, k)
		e, present, err := c.value(obj.Get(k), k)
		c.path = c.path[:len(c.path)-1]
		if err != nil {
			return nil, false, err
		}
		if !present {
			continue
		}
		sep := 1 // ':'
		if len(m) > 0 {
			sep++ // ','
		}
		if err := c.grow(encodedStringLen(k) + sep); err != nil {
			return nil, false, err
		}
		m[k] = e
	}
	return m, true, nil
}

// encodedStringLen is the length of s as a JSON string written by Encode
// (encoding/json without HTML escaping), quotes included.
func encodedStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\' || b == '\b' || b == '\f' || b == '\n' || b == '\r' || b == '\t':
				n += 2
			case b < 0x20:
				n += 6 // \u00XX
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// preludeSource makes a fresh runtime deterministic and closed, then freezes
// everything reachable from the global object and the hidden intrinsics.
//
//   - Math.random throws.
//   - Date never reads the clock: Date(), new Date() and Date.now() throw.
//     The time zone is UTC: local getters and setters are the UTC ones,
//     getTimezoneOffset is 0, toString and friends format in UTC,
//     new Date(y, m, ...) means Date.UTC(y, m, ...). Strings are parsed only
//     in the ISO 8601 format, a date-time without an offset as UTC; any other
//     format is an invalid date.
const preludeSource = `(function (g) {
"use strict";
var D = g.Date, P = D.prototype, UTC = D.UTC, dateParse = D.parse;
var getTime = P.getTime, construct = Reflect.construct, apply = Reflect.apply;
function clock(what) {
	throw new Error(what + " is not available in merge scripts: it reads the clock; pass explicit time values");
}
var iso = /^(?:[+-]\d{6}|\d{4})(?:-\d\d(?:-\d\d)?)?(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:\d\d)?)?$/;
function parse(s) {
	s = String(s);
	var m = iso.exec(s);
	if (m === null) return NaN;
	if (m[1] !== undefined && m[2] === undefined) s += "Z";
	return dateParse(s);
}
function Date(year, month, date, hours, minutes, seconds, ms) {
	if (new.target === undefined) clock("Date()");
	var t;
	switch (arguments.length) {
	case 0:
		clock("new Date()");
	case 1:
		t = year;
		if (t !== null && typeof t === "object" && !(t instanceof D)) {
			var p = t.valueOf();
			t = p !== null && (typeof p === "object" || typeof p === "function") ? String(t) : p;
		}
		if (typeof t === "string") t = parse(t);
		break;
	default:
		t = apply(UTC, undefined, arguments);
	}
	return construct(D, [t], new.target);
}
Date.prototype = P;
Object.defineProperty(P, "constructor", {value: Date, writable: true, enumerable: false, configurable: true});
Date.UTC = UTC;
Date.parse = parse;
Date.now = function now() { clock("Date.now()"); };
["FullYear", "Month", "Date", "Day", "Hours", "Minutes", "Seconds", "Milliseconds"].forEach(function (n) {
	P["get" + n] = P["getUTC" + n];
	if (n !== "Day") P["set" + n] = P["setUTC" + n];
});
function valid(d) { var t = apply(getTime, d, []); return t === t; }
P.getTimezoneOffset = function getTimezoneOffset() { return valid(this) ? 0 : NaN; };
if (typeof P.getYear === "function") {
	P.getYear = function getYear() { return this.getUTCFullYear() - 1900; };
}
var days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
function pad(n, w) { var s = String(Math.abs(n)); while (s.length < w) s = "0" + s; return s; }
function dateString(d) {
	var y = d.getUTCFullYear();
	return days[d.getUTCDay()] + " " + months[d.getUTCMonth()] + " " + pad(d.getUTCDate(), 2) + " " + (y < 0 ? "-" : "") + pad(y, 4);
}
function timeString(d) {
	return pad(d.getUTCHours(), 2) + ":" + pad(d.getUTCMinutes(), 2) + ":" + pad(d.getUTCSeconds(), 2) + " GMT+0000 (Coordinated Universal Time)";
}
P.toString = function toString() { return valid(this) ? dateString(this) + " " + timeString(this) : "Invalid Date"; };
P.toDateString = function toDateString() { return valid(this) ? dateString(this) : "Invalid Date"; };
P.toTimeString = function toTimeString() { return valid(this) ? timeString(this) : "Invalid Date"; };
P.toLocaleString = function toLocaleString() { return this.toString(); };
P.toLocaleDateString = function toLocaleDateString() { return this.toDateString(); };
P.toLocaleTimeString = function toLocaleTimeString() { return this.toTimeString(); };
g.Date = Date;
g.Math.random = function random() {
	throw new Error("Math.random is not available in merge scripts: they must be deterministic");
};

var seeds = [g];
["[][Symbol.iterator]()", "new Map().entries()", "new Set().values()", "''[Symbol.iterator]()",
 "'a'.matchAll(/a/g)", "(function*(){})", "(function*(){})()", "(async function(){})",
 "(async function*(){})", "(async function*(){})()", "Promise.resolve()", "(function(){return arguments})()",
 "new Int8Array(0)", "new WeakMap()", "new WeakSet()", "new WeakRef({})"].forEach(function (src) {
	try { seeds.push((0, g.eval)(src)); } catch (e) {}
});
var seen = new Set(), todo = seeds;
while (todo.length > 0) {
	var o = todo.pop();
	if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) continue;
	seen.add(o);
	Reflect.ownKeys(o).forEach(function (k) {
		var d = Reflect.getOwnPropertyDescriptor(o, k);
		if (d === undefined) return;
		if ("value" in d) todo.push(d.value); else todo.push(d.get, d.set);
	});
	todo.push(Reflect.getPrototypeOf(o));
	Object.freeze(o);
}
})(globalThis);`

var preludeProgram = sync.OnceValues(func() (*goja.Program, error) {
	return compileStrict("prelude", preludeSource)
})
