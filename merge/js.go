package merge

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
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
