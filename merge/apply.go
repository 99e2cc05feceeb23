package merge

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Delta is one change to a document: a merge type, the path it applies to,
// and the raw JSON value. Value is ignored for Delete and may be nil there.
// Script and Context are used only by ScriptType.
type Delta struct {
	Type  Type
	Path  Path
	Value []byte
	// Script is the compiled merge script of a ScriptType delta. Check does not
	// need it; Apply does.
	Script *Script
	// Context is passed to the script as its ctx argument.
	Context ScriptContext
}

// Check validates d before it is stored: the type must be known, the path
// within limits, the value valid JSON (except for Delete), an object for
// Set, Replace and Patch at the root, and a well-formed operation list for
// JSONPatch. A ScriptType delta needs only a valid value; its script is not
// checked. Errors wrap ErrUnknownType, ErrInvalidPath or ErrInvalidValue.
func Check(d Delta) error {
	if err := checkTypeAndPath(d); err != nil {
		return err
	}
	if d.Type != Delete && !json.Valid(d.Value) {
		_, err := Decode(d.Value) // for the error's detail
		return err
	}
	return checkShape(d)
}

// CheckValid is Check for a value already known to be valid JSON text (the
// output of json.Marshal, or text that passed json.Valid). It skips the scan
// that dominates Check's cost on large values, and decodes the value only
// where its shape matters: at the root and for JSONPatch.
func CheckValid(d Delta) error {
	if err := checkTypeAndPath(d); err != nil {
		return err
	}
	return checkShape(d)
}

func checkTypeAndPath(d Delta) error {
	if !d.Type.Valid() {
		return fmt.Errorf("%w: %s", ErrUnknownType, d.Type)
	}
	return validatePath(d.Path)
}

// checkShape checks what a valid JSON value must also be: an object for
// Set, Replace and Patch at the root, an operation list for JSONPatch.
func checkShape(d Delta) error {
	if d.Type == Delete || (len(d.Path) > 0 && d.Type != JSONPatch) {
		return nil
	}
	v, err := Decode(d.Value)
	if err != nil {
		return err
	}
	if err := checkRootValue(d, v); err != nil {
		return err
	}
	if d.Type == JSONPatch {
		_, err := decodeJSONPatch(v, d.Value)
		return err
	}
	return nil
}

// checkRootValue enforces that the document root stays an object.
func checkRootValue(d Delta, v any) error {
	if len(d.Path) > 0 {
		return nil
	}
	switch d.Type {
	case Set, Replace, Patch:
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("%w: %s at the document root needs an object, got %s", ErrInvalidValue, d.Type, kind(v))
		}
	}
	return nil
}

// Apply applies d to doc and returns the new document; a nil doc is an empty
// object. doc may be mutated in place, so callers must use the returned
// value. When d does not apply, Apply returns the document unchanged with an
// error wrapping ErrConflict; an invalid value gives ErrInvalidValue and an
// unknown type ErrUnknownType, also without changes. A ScriptType delta without
// a script gives ErrInvalidScript, and a failing script ErrScriptFailed,
// both without changes.
func Apply(doc any, d Delta) (any, error) {
	root, ok := doc.(map[string]any)
	if !ok && doc != nil {
		return doc, fmt.Errorf("%w: the document root is %s, not an object", ErrInvalidValue, kind(doc))
	}
	if root == nil {
		root = map[string]any{}
	}
	switch d.Type {
	case Delete:
		if len(d.Path) == 0 {
			return map[string]any{}, nil
		}
		return remove(root, d.Path), nil
	case Set, Insert, Replace, Patch, JSONPatch, ScriptType:
	default:
		return root, fmt.Errorf("%w: %s", ErrUnknownType, d.Type)
	}

	v, err := Decode(d.Value)
	if err != nil {
		return root, err
	}
	if err := checkRootValue(d, v); err != nil {
		return root, err
	}
	if d.Type == ScriptType {
		return applyScript(root, d, v)
	}
	if len(d.Path) == 0 {
		switch d.Type {
		case Set, Replace:
			return v, nil
		case Insert:
			return root, nil
		}
	}

	switch d.Type {
	case Set:
		return set(root, d.Path, 0, v)
	case Insert:
		return insert(root, d.Path, 0, v)
	case Replace:
		replace(root, d.Path, v)
		return root, nil
	case Patch:
		return applyMergePatch(root, d.Path, v)
	default:
		return applyJSONPatch(root, d.Path, v, d.Value)
	}
}

// The walkers below share one discipline that keeps a failed Apply from
// changing anything: a conflict can only be detected on the way down through
// existing containers, and every write happens on the way back up, after the
// deeper levels succeeded. Each returns the node to store in its parent's
// slot, because appending to or shrinking an array changes its slice header.

// set stores v at p[i:] below node, following Set's rules.
func set(node any, p Path, i int, v any) (any, error) {
	if i == len(p) {
		return v, nil
	}
	seg := p[i]
	switch n := node.(type) {
	case map[string]any:
		if n == nil {
			n = map[string]any{}
		}
		child, err := set(n[seg], p, i+1, v)
		if err != nil {
			return node, err
		}
		n[seg] = child
		return n, nil
	case []any:
		idx, err := arrayIndex(n, p, i)
		if err != nil {
			return node, err
		}
		if idx < len(n) {
			child, err := set(n[idx], p, i+1, v)
			if err != nil {
				return node, err
			}
			n[idx] = child
			return n, nil
		}
		if i == len(p)-1 && idx == len(n) {
			return append(n, v), nil
		}
		return node, outOfRange(n, p, i)
	default:
		// Absent, null or a scalar: "set wins" and replaces it with objects.
		return build(p[i:], v), nil
	}
}

// insert stores v at p[i:] below node unless something is already there,
// following Insert's rules. A node that is not a container is a present
// scalar or null parent, which Insert never overwrites.
func insert(node any, p Path, i int, v any) (any, error) {
	seg := p[i]
	last := i == len(p)-1
	switch n := node.(type) {
	case map[string]any:
		child, present := n[seg]
		switch {
		case last && present:
			return n, nil
		case !present:
			if n == nil {
				n = map[string]any{}
			}
			n[seg] = build(p[i+1:], v)
			return n, nil
		}
		child, err := insert(child, p, i+1, v)
		if err != nil {
			return node, err
		}
		n[seg] = child
		return n, nil
	case []any:
		idx, err := arrayIndex(n, p, i)
		if err != nil {
			return node, err
		}
		if last && idx <= len(n) {
			return slices.Insert(n, idx, v), nil
		}
		if idx >= len(n) {
			return node, outOfRange(n, p, i)
		}
		child, err := insert(n[idx], p, i+1, v)
		if err != nil {
			return node, err
		}
		n[idx] = child
		return n, nil
	default:
		return node, nil
	}
}

// replace overwrites the value at p (not the root) if it is present.
// It never changes a slice header, so no parent needs updating.
func replace(root map[string]any, p Path, v any) {
	parent, ok := lookup(root, p[:len(p)-1])
	if !ok {
		return
	}
	seg := p[len(p)-1]
	switch n := parent.(type) {
	case map[string]any:
		if _, ok := n[seg]; ok {
			n[seg] = v
		}
	case []any:
		if idx, ok := parseIndex(seg, len(n)); ok && idx < len(n) {
			n[idx] = v
		}
	}
}

// remove deletes the value at p (not empty) below node if it is present.
func remove(node any, p Path) any {
	seg := p[0]
	switch n := node.(type) {
	case map[string]any:
		child, ok := n[seg]
		switch {
		case !ok:
		case len(p) == 1:
			delete(n, seg)
		default:
			n[seg] = remove(child, p[1:])
		}
	case []any:
		idx, ok := parseIndex(seg, len(n))
		switch {
		case !ok || idx >= len(n):
		case len(p) == 1:
			return slices.Delete(n, idx, idx+1)
		default:
			n[idx] = remove(n[idx], p[1:])
		}
	}
	return node
}

// lookup returns the value at p below node and whether it is present.
func lookup(node any, p Path) (any, bool) {
	for _, seg := range p {
		switch n := node.(type) {
		case map[string]any:
			child, ok := n[seg]
			if !ok {
				return nil, false
			}
			node = child
		case []any:
			idx, ok := parseIndex(seg, len(n))
			if !ok || idx >= len(n) {
				return nil, false
			}
			node = n[idx]
		default:
			return nil, false
		}
	}
	return node, true
}

// build nests v in fresh objects, one per segment of p.
func build(p Path, v any) any {
	for i := len(p) - 1; i >= 0; i-- {
		v = map[string]any{p[i]: v}
	}
	return v
}

// applyMergePatch applies the RFC 7396 merge patch v to the value at p.
func applyMergePatch(root map[string]any, p Path, v any) (any, error) {
	target, present := lookup(root, p)
	if !present {
		target = nil
	}
	// mergePatch may already have changed a present target in place before
	// set runs. That is safe: set walks exactly the containers lookup found,
	// so it cannot conflict. An absent target means mergePatch built only
	// fresh values, and a conflicting set leaves nothing behind.
	return set(root, p, 0, mergePatch(target, v))
}

// mergePatch implements the MergePatch function of RFC 7396 section 2,
// updating target in place where it is an object. Members are independent,
// so the random map order does not affect the result.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok || tm == nil {
		tm = make(map[string]any, len(pm))
	}
	for k, pv := range pm {
		if pv == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], pv)
	}
	return tm
}

// applyScript runs d's script on the value at d.Path and stores the result
// with Set's rules, or removes the target when the script returns undefined.
// The script works on copies, so a failure leaves root unchanged.
func applyScript(root map[string]any, d Delta, v any) (any, error) {
	if d.Script == nil {
		return root, fmt.Errorf("%w: script not loaded for the script delta at %q", ErrInvalidScript, d.Path.String())
	}
	current, present := lookup(root, d.Path)
	result, keep, err := d.Script.Run(current, present, v, d.Context)
	if err != nil {
		return root, err
	}
	if len(d.Path) == 0 {
		if !keep {
			return map[string]any{}, nil
		}
		if _, ok := result.(map[string]any); !ok {
			return root, d.Script.failed(d.Context, "result at the document root must be an object, got "+kind(result))
		}
		return result, nil
	}
	if !keep {
		return remove(root, d.Path), nil
	}
	return set(root, d.Path, 0, result)
}

// parseIndex resolves seg as an index into an array of length n. "-" is n;
// otherwise seg must be decimal digits without a leading zero. An index too
// large for int resolves to math.MaxInt, which is out of range anyway.
func parseIndex(seg string, n int) (int, bool) {
	if seg == "-" {
		return n, true
	}
	if seg == "" || (len(seg) > 1 && seg[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return 0, false
		}
	}
	idx, err := strconv.Atoi(seg)
	if err != nil {
		return math.MaxInt, true
	}
	return idx, true
}

// arrayIndex resolves p[i] against the array n, or returns a conflict.
func arrayIndex(n []any, p Path, i int) (int, error) {
	idx, ok := parseIndex(p[i], len(n))
	if !ok {
		return 0, conflict(p[:i+1], "%q is not an array index (length %d)", p[i], len(n))
	}
	return idx, nil
}

func outOfRange(n []any, p Path, i int) error {
	if p[i] == "-" {
		return conflict(p[:i+1], `"-" names no element (length %d)`, len(n))
	}
	return conflict(p[:i+1], "index %s out of range (length %d)", p[i], len(n))
}

// conflict returns an ErrConflict located at the pointer of at.
func conflict(at Path, format string, args ...any) error {
	loc := at.String()
	if loc == "" {
		loc = "(root)"
	}
	return fmt.Errorf("%w: %s: %s", ErrConflict, loc, fmt.Sprintf(format, args...))
}
