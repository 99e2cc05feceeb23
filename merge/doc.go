// Package merge holds the pure rules Lake uses to build a document: the merge
// types, the field path syntax, the JSON value codec, and how one delta is
// applied to a document tree.
//
// Every reader folds the same deltas in the same order, so every rule here is
// deterministic and the encoded result is byte-identical for all readers.
//
// # Documents
//
// A document is a JSON object. Decoded values use only map[string]any, []any,
// string, json.Number, bool and nil; numbers stay json.Number so they
// round-trip exactly. Encode writes compact JSON with object keys sorted and
// without HTML escaping.
//
// # Field paths
//
// A field names a location from the document root; "" is the root itself.
//
//   - A field starting with "/" is an RFC 6901 JSON Pointer: "~1" stands for
//     "/" and "~0" for "~"; any other "~" is invalid. Empty reference tokens
//     are the empty key, so "/" names the key "".
//   - Any other field is dotted, "a.b.c": "\." is a literal dot and "\\" a
//     literal backslash; any other backslash is invalid, and so are empty
//     segments ("a..b", ".a", "a.").
//   - A field is valid UTF-8, at most 1024 bytes and 128 segments, and
//     contains no NUL.
//
// A segment met at an object is a key. A segment met at an array must be a
// decimal index without sign or leading zeros, or "-", which means one past
// the last element.
//
// # Merge types
//
//   - Set writes the value at the path. Missing parents are created as
//     objects, and a parent that is a scalar or null is replaced by an object,
//     so after a set the path holds the value. Through an array the index
//     must exist. At an array as the last step, an existing index is
//     overwritten and the length or "-" appends. At the root the value must be
//     an object and becomes the document.
//   - Insert writes only where nothing is present: an existing target, or a
//     scalar or null parent, makes it a no-op. Missing parents are created as
//     objects. At an array as the last step it inserts at the index, shifting
//     later elements, and the length or "-" appends. At the root it is a
//     no-op.
//   - Replace overwrites the target only if it is present; otherwise it is a
//     no-op. It never creates anything. At the root the value must be an
//     object and becomes the document.
//   - Delete removes the target if it is present; later array elements shift
//     down. At the root the document becomes {}. Its value is ignored.
//   - Patch applies the value as an RFC 7396 JSON merge patch to the value at
//     the path (an absent target counts as null) and stores the result with
//     Set's rules. At the root the value must be an object.
//   - JSONPatch applies the value, an RFC 6902 JSON Patch, to the value at
//     the path, which must be present and be an object or array, and stores
//     the result with Set's rules. The patch is atomic: if any operation
//     fails, including a "test", nothing changes. At the root the result must
//     be an object. Pointers inside the patch may not contain empty
//     reference tokens, and "copy" operations may add at most 16 MiB in
//     total.
//
// # Conflicts
//
// A delta that cannot apply returns an error wrapping ErrConflict and leaves
// the document unchanged. That happens only when Set, Insert or Patch meet an
// array at a segment that is not an index or at an index out of range
// (through an array the index must be below the length; as the last step it
// may also equal it, and Insert may use any index up to it), and when a
// JSONPatch target is absent or not a container, an operation fails, or the
// root would stop being an object. No-ops are not errors. Replace and Delete
// never conflict.
//
// # Scripts
//
// A delta of type ScriptType ("script") names a JavaScript merge function
// that computes the new value. A ScriptEngine compiles the source once into a
// Script, whose version identity is ScriptHash(source), the hex SHA-256. The
// source (at most 64 KiB, strict mode, ECMAScript 5.1 with most of ES6+ as
// goja supports it) must define
//
//	function merge(current, value, ctx) { ... }
//
// current is the value at the path, or undefined when nothing is there (a
// path through a scalar, or an array index that does not exist, reads as
// undefined); value is the delta's value; ctx is {catalog, field, version}.
// The result is stored with Set's rules, conflicts included; returning
// undefined removes the target as Delete does. At the root the result must
// be an object, and undefined empties the document. Any failure leaves the
// document unchanged and returns an error wrapping ErrScriptFailed.
//
// Values cross into and out of the script as copies: current and value are
// fresh JavaScript values (object keys in sorted order), and the result is
// read into a fresh tree, so a script cannot change the document except
// through its result. The result is read as JSON.stringify would read it
// (toJSON is called, boxed primitives unwrap, undefined members are left out,
// undefined array elements become null, only own enumerable string keys
// count), except that NaN, Infinity, functions, symbols, BigInts and cycles
// anywhere fail the delta instead of being dropped or nulled. Numbers are
// float64 inside scripts, so integers beyond 2^53 lose precision; results are
// written as JavaScript writes numbers (integers below 1e21 without fraction
// or exponent, -0 as 0).
//
// Every reader must compute the same result, so scripts see no clock, no
// randomness and no I/O. Math.random, Date.now(), Date() and new Date()
// without arguments throw. Dates with explicit values work, in UTC: local-time
// getters and setters behave as their UTC forms, getTimezoneOffset is 0,
// new Date(y, m, ...) means Date.UTC(y, m, ...), and only ISO 8601 strings
// parse (a date-time without an offset is UTC; other formats give an invalid
// date). There is no console, require, timer or module loader: calling
// console.log is a ReferenceError, so a stray debug line fails loudly in tests
// rather than logging nowhere. Math's transcendental functions (sin, exp,
// pow...) come from Go's math package and may differ in the last bit between
// CPU architectures; readers on mixed architectures should avoid them
// (arithmetic, Math.floor, round, abs, min, max and sqrt are exact).
//
// Calls cannot leave state behind: the global object and every builtin
// object and prototype are frozen, and the script's top-level code runs again
// on every call, so top-level variables start fresh each time. Assigning to a
// frozen builtin throws a TypeError in strict mode; one consequence is that
// assigning a property that a frozen prototype already has, such as
// obj.toString = f, throws too (use Object.defineProperty or a class).
//
// Limits: a call may nest at most ScriptOptions.MaxCallStackSize calls
// (default 256), its result may encode to at most MaxResultBytes (default
// 1 MiB) and nest at most 10000 deep, and a call is interrupted after Timeout
// (default 50ms). The limits other than Timeout are rules: all readers must
// use the same values. The timeout depends on machine speed and load, so it
// is only a safety net against runaway scripts; scripts must stay far below
// it (microseconds, not milliseconds), or readers may disagree about which
// deltas failed. It is checked only while script code runs: a single builtin
// call, such as "x".repeat(1e8), finishes before the interrupt is seen.
// There is no memory limit beyond what the time and result limits imply.
//
// # Files
//
//   - type.go: the merge types, their names and the sentinel errors.
//   - path.go: field paths, dotted and JSON Pointer.
//   - json.go: Decode, Encode, Clone and the member encoding of objects.
//   - apply.go: Delta, Check and Apply, the rules of each merge type.
//   - jsonpatch.go: RFC 6902 JSON Patch, checked and limited.
//   - js.go: the JavaScript merge engine: ScriptEngine, Compile, Script.Run
//     and the messages of script errors.
//   - js_pool.go: the pool of prepared runtimes, and one call on a runtime
//     under the time and stack limits.
//   - js_convert.go: values into and out of scripts (toJS, fromJS) under
//     the result limits.
//   - js_prelude.go, js_prelude.js: the start-up code that makes a runtime
//     deterministic and frozen, embedded.
package merge
