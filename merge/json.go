package merge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
)

// Decode parses data as exactly one JSON value. Numbers are kept as
// json.Number so they are never rounded. Errors wrap ErrInvalidValue.
func Decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty input", ErrInvalidValue)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidValue, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: unexpected data after the JSON value at offset %d", ErrInvalidValue, dec.InputOffset())
	}
	return v, nil
}

// Encode returns v as compact JSON without HTML escaping and without a
// trailing newline. Object keys are sorted, so equal trees encode to equal
// bytes. Errors wrap ErrInvalidValue.
func Encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidValue, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Clone returns a deep copy of a decoded value. Maps and slices are copied;
// strings, json.Number, bool and nil are immutable and shared. Nil maps and
// slices stay nil so the copy encodes identically.
func Clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = Clone(e)
		}
		return m
	case []any:
		if x == nil {
			return x
		}
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = Clone(e)
		}
		return s
	default:
		return v
	}
}

// kind names the JSON type of a decoded value for error messages.
func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// Members is an object's JSON text (as Encode makes it) together with where
// each top-level member lies in it, so that the next version of the object
// re-encodes only the members that changed (EncodeMembers).
type Members struct {
	// Text is read-only: later encodings copy from it.
	Text    []byte
	members map[string][]byte // name -> `"name":value`, a slice of Text
}

// EncodeMembers returns the encoding of obj; its Text equals Encode(obj).
// With prev, the encoding of an earlier version of obj, every member not in
// changed is copied from prev instead of being encoded again: changed must
// name every top-level member that may differ between the two versions
// (added, changed or removed). A large document that changes a few members
// at a time then costs a copy, not an encode.
func EncodeMembers(obj map[string]any, prev *Members, changed map[string]bool) (*Members, error) {
	names := slices.Sorted(maps.Keys(obj))
	size := 2
	if prev != nil {
		size = len(prev.Text) + 64
	}
	text := append(make([]byte, 0, size), '{')
	ends := make([]int, len(names)) // where each member ends in text
	for i, name := range names {
		if i > 0 {
			text = append(text, ',')
		}
		member, reused := []byte(nil), false
		if prev != nil && !changed[name] {
			member, reused = prev.members[name]
		}
		if reused {
			text = append(text, member...)
		} else {
			key, err := Encode(name)
			if err != nil {
				return nil, err
			}
			value, err := Encode(obj[name])
			if err != nil {
				return nil, err
			}
			text = append(append(append(text, key...), ':'), value...)
		}
		ends[i] = len(text)
	}
	// Clipped, so that appending to Text never writes into shared memory.
	m := &Members{Text: slices.Clip(append(text, '}')), members: make(map[string][]byte, len(names))}
	start := 1
	for i, name := range names {
		m.members[name] = m.Text[start:ends[i]:ends[i]]
		start = ends[i] + 1
	}
	return m, nil
}
