package merge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Type is how a delta combines its value with the document at its path.
type Type uint8

// The merge types. The numeric values are stored with deltas, so they must
// never be reordered.
const (
	// Set creates or overwrites the value at the path, creating parents.
	// It is the zero value.
	Set Type = iota
	// Insert writes the value only if the target is absent, like MySQL
	// JSON_INSERT.
	Insert
	// Replace writes the value only if the target is present, like MySQL
	// JSON_REPLACE.
	Replace
	// Delete removes the target if it is present.
	Delete
	// Patch applies an RFC 7396 JSON merge patch to the value at the path.
	Patch
	// JSONPatch applies RFC 6902 JSON Patch operations to the value at the
	// path.
	JSONPatch
	// ScriptType runs a registered JavaScript merge function, given the
	// value at the path and the delta's value, and stores what it returns.
	// (Its name is "script"; the identifier Script is the compiled script.)
	ScriptType
)

// ErrUnknownType, ErrInvalidPath, ErrInvalidValue and ErrConflict are the
// sentinel errors of this package; returned errors wrap one of them.
var (
	// ErrUnknownType reports a merge type that is not one of the seven.
	ErrUnknownType = errors.New("merge: unknown merge type")
	// ErrInvalidPath reports a field path that breaks the path grammar.
	ErrInvalidPath = errors.New("merge: invalid field path")
	// ErrInvalidValue reports a value that is not valid JSON or not valid
	// for the merge type.
	ErrInvalidValue = errors.New("merge: invalid value")
	// ErrConflict reports a delta that does not apply to the document; the
	// document is left unchanged.
	ErrConflict = errors.New("merge: delta does not apply to the document")
)

var typeNames = [...]string{
	Set:        "set",
	Insert:     "insert",
	Replace:    "replace",
	Delete:     "delete",
	Patch:      "patch",
	JSONPatch:  "jsonpatch",
	ScriptType: "script",
}

// TypeNames returns the names of all merge types in their constant order,
// as Type.String spells them. The slice is fresh on every call.
func TypeNames() []string {
	return append([]string(nil), typeNames[:]...)
}

// String returns the lowercase name of t, or "Type(N)" if t is unknown.
func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the defined merge types.
func (t Type) Valid() bool {
	return int(t) < len(typeNames)
}

// ParseType returns the merge type named name. Only the exact lowercase
// names returned by Type.String are accepted.
func ParseType(name string) (Type, error) {
	for t, n := range typeNames {
		if n == name {
			return Type(t), nil
		}
	}
	return 0, fmt.Errorf("%w %q (valid: %s)", ErrUnknownType, name, strings.Join(typeNames[:], ", "))
}
