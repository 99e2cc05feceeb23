package merge

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// jsKind names the kind of v for messages: "a number", "an object"...
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
			e, present, err := c.member(obj, strconv.FormatInt(i, 10))
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
		e, present, err := c.member(obj, k)
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

// member converts the member k of obj, with k on the path for messages.
func (c *fromJS) member(obj *goja.Object, k string) (any, bool, error) {
	c.path = append(c.path, k)
	v, present, err := c.value(obj.Get(k), k)
	c.path = c.path[:len(c.path)-1]
	return v, present, err
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
