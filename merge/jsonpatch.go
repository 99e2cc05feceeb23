package merge

import (
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// maxCopyBytes bounds how much "copy" operations may add in one patch; without
// it a short patch could double the document again and again. It is part of
// the fold's rules: changing it changes the result of stored deltas.
const maxCopyBytes = 16 << 20

// patchOptions makes the library follow RFC 6902 strictly: no negative
// indexes, no implicit parents on "add", and "remove" of a missing path fails.
func patchOptions() *jsonpatch.ApplyOptions {
	return &jsonpatch.ApplyOptions{
		SupportNegativeIndices:   false,
		AccumulatedCopySizeLimit: maxCopyBytes,
		AllowMissingPathOnRemove: false,
		EnsurePathExistsOnAdd:    false,
		EscapeHTML:               false,
	}
}

// decodeJSONPatch validates the decoded patch v and returns raw parsed by the
// library. The library's own validation lets through operations it would
// later fail on (or crash on: "test" without "value"), so the shape is
// checked here first. Errors wrap ErrInvalidValue.
func decodeJSONPatch(v any, raw []byte) (jsonpatch.Patch, error) {
	ops, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: a json patch must be an array of operations, got %s", ErrInvalidValue, kind(v))
	}
	for i, o := range ops {
		if err := checkOperation(o); err != nil {
			return nil, fmt.Errorf("%w: json patch operation %d: %s", ErrInvalidValue, i, err)
		}
	}
	patch, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: json patch: %v", ErrInvalidValue, err)
	}
	return patch, nil
}

func checkOperation(o any) error {
	op, ok := o.(map[string]any)
	if !ok {
		return fmt.Errorf("must be an object, got %s", kind(o))
	}
	name, ok := op["op"].(string)
	if !ok {
		return fmt.Errorf(`"op" must be a string`)
	}
	var needs string
	switch name {
	case "add", "replace", "test":
		needs = "value"
	case "move", "copy":
		needs = "from"
	case "remove":
	default:
		return fmt.Errorf(`unknown "op" %q (valid: add, remove, replace, move, copy, test)`, name)
	}
	if err := checkPointerMember(op, "path"); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	switch needs {
	case "value":
		if _, ok := op["value"]; !ok {
			return fmt.Errorf(`%s: missing "value"`, name)
		}
	case "from":
		if err := checkPointerMember(op, "from"); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// checkPointerMember checks that op[member] is an RFC 6901 pointer the
// library handles correctly. The library resolves an empty reference token
// to the container itself instead of the member named "", so such pointers
// are refused rather than given a non-standard meaning.
func checkPointerMember(op map[string]any, member string) error {
	ptr, ok := op[member].(string)
	if !ok {
		return fmt.Errorf("%q must be a string", member)
	}
	if ptr == "" {
		return nil
	}
	if ptr[0] != '/' {
		return fmt.Errorf("%q %q is not a JSON pointer: it must be empty or start with \"/\"", member, ptr)
	}
	p, reason := parsePointer(ptr)
	if reason != "" {
		return fmt.Errorf("%q %q: %s", member, ptr, reason)
	}
	for _, tok := range p {
		if tok == "" {
			return fmt.Errorf("%q %q: empty reference tokens are not supported", member, ptr)
		}
	}
	return nil
}

// applyJSONPatch applies the RFC 6902 patch v (raw being its bytes) to the
// value at p. The library works on a copy of the target, so a failing
// operation leaves the document untouched.
func applyJSONPatch(root map[string]any, p Path, v any, raw []byte) (any, error) {
	patch, err := decodeJSONPatch(v, raw)
	if err != nil {
		return root, err
	}
	target, present := lookup(root, p)
	if !present {
		return root, conflict(p, "json patch target absent")
	}
	switch target.(type) {
	case map[string]any, []any:
	default:
		return root, conflict(p, "json patch target is %s, not an object or array", kind(target))
	}
	src, err := Encode(target)
	if err != nil {
		return root, conflict(p, "json patch target cannot be encoded: %v", err)
	}
	out, err := runPatch(patch, src)
	if err != nil {
		return root, conflict(p, "json patch failed: %v", err)
	}
	result, err := Decode(out)
	if err != nil {
		return root, conflict(p, "json patch result cannot be decoded: %v", err)
	}
	if len(p) == 0 {
		obj, ok := result.(map[string]any)
		if !ok {
			return root, conflict(p, "json patch made the document root %s", kind(result))
		}
		return obj, nil
	}
	// The target is present, so set cannot conflict.
	return set(root, p, 0, result)
}

// runPatch applies patch to doc, turning a panic inside the library into an
// error so that Apply never panics on stored input.
func runPatch(patch jsonpatch.Patch, doc []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("internal error in json patch library: %v", r)
		}
	}()
	return patch.ApplyWithOptions(doc, patchOptions())
}
