package merge

import (
	_ "embed"
	"sync"

	"github.com/dop251/goja"
)

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
//
// Its text is part of the fold's rules: scripts can read the prelude's line
// numbers (in an error's stack) and its functions' source (Date.toString()),
// so any edit to js_prelude.js, comments included, can change results.
//
//go:embed js_prelude.js
var preludeSource string

var preludeProgram = sync.OnceValues(func() (*goja.Program, error) {
	return compileStrict("prelude", preludeSource)
})
