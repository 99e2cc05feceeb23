package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"unicode/utf8"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/internal/jsontext"
	"github.com/hkloudou/lake/v2/merge"
)

// MergeType says how a delta's value combines with the document at its
// field. The zero value is MergeSet.
type MergeType = merge.Type

// The merge types. See the merge package for the exact rules, including what
// happens when a path meets a value of another type.
const (
	// MergeSet creates or overwrites the value at the field, creating
	// parent objects (and replacing a scalar parent with an object).
	MergeSet = merge.Set
	// MergeInsert sets the value only if the field is absent (MySQL JSON_INSERT).
	MergeInsert = merge.Insert
	// MergeReplace sets the value only if the field is present (MySQL JSON_REPLACE).
	MergeReplace = merge.Replace
	// MergeDelete removes the field; the value is ignored.
	MergeDelete = merge.Delete
	// MergePatch applies the value as an RFC 7396 JSON merge patch to the
	// value at the field.
	MergePatch = merge.Patch
	// MergeJSONPatch applies the value, a list of RFC 6902 operations, to the
	// value at the field.
	MergeJSONPatch = merge.JSONPatch
	// MergeScript merges with a registered JavaScript function: the delta's
	// WriteRequest.Script names it. The function is
	//
	//	function merge(current, value, ctx) { return ... }
	//
	// where current is the field's value before the delta (undefined if absent),
	// value is the delta's value and ctx is {catalog, field, version}. Returning
	// undefined removes the field. See PutScript.
	MergeScript = merge.ScriptType
)

// ParseMergeType returns the merge type named "set", "insert", "replace",
// "delete", "patch", "jsonpatch" or "script" (MergeScript, which also needs
// WriteRequest.Script).
func ParseMergeType(name string) (MergeType, error) { return merge.ParseType(name) }

// WriteRequest is one delta: a value for one field of one catalog.
type WriteRequest struct {
	// Catalog names the document (see ValidateCatalog).
	Catalog string
	// Field is the path of the value in the document: dotted
	// ("profile.name"; "a\.b" is the key "a.b"), a JSON Pointer when it starts
	// with "/" ("/profile/name"), or "" for the whole document.
	Field string
	// Value is marshaled with encoding/json; a json.RawMessage or lake.JSON
	// is taken as JSON text as it is. Ignored by MergeDelete.
	Value any
	// MergeType says how Value combines with the document (default MergeSet).
	MergeType MergeType
	// Script names the registered merge script of a MergeScript write.
	Script string
}

// Write stores one delta. When it returns nil the delta is committed: every
// later Read, from any client of the lake, includes it (until a later delta
// overrides it). Invalid input returns an error and writes nothing.
func (c *Client) Write(ctx context.Context, req WriteRequest) error {
	_, err := c.WriteVersion(ctx, req)
	return err
}

// WriteVersion is Write that also returns the version the delta was
// committed at. A Read whose result has Version >= it includes the delta.
func (c *Client) WriteVersion(ctx context.Context, req WriteRequest) (int64, error) {
	d, body, err := c.prepare(req)
	if err != nil {
		return 0, fmt.Errorf("lake: write %q: %w", req.Catalog, err)
	}
	idx, s, err := c.ready(ctx)
	if err != nil {
		return 0, fmt.Errorf("lake: write %q: %w", req.Catalog, err)
	}
	if s.holder != "" && c.opt.RequireDurableStorage {
		return 0, fmt.Errorf("lake: write %q: %w: the body would live only in this process's memory (%s); "+
			"store a config that names durable storage (local, s3, oss)", req.Catalog, ErrNoDurableStorage, c.storageOrigin(s))
	}
	if req.MergeType == MergeScript {
		// The delta records the exact version of the script it was written
		// against, so later registrations never change how it folds.
		hash, err := c.scriptHash(ctx, idx, req.Script)
		if err != nil {
			return 0, fmt.Errorf("lake: write %q: %w", req.Catalog, err)
		}
		d.Script = scriptRef(req.Script, hash)
	}
	// The body goes in the next pack with the bodies of this client's
	// concurrent writes (a delete's part is empty, so that the pack still
	// records the delta), and the log entry is committed after it.
	//
	// A body in this process's memory is marked as such, so that other
	// processes skip it instead of failing on it.
	d.Holder = s.holder
	version, err := s.packs.write(ctx, idx, req.Catalog, d, body)
	if err != nil {
		return 0, fmt.Errorf("lake: write %q: %w", req.Catalog, err)
	}
	if s.holder == "" {
		c.touch(req.Catalog)
	}
	return version, nil
}

// prepare validates a request and encodes its body (nil for a delete).
func (c *Client) prepare(req WriteRequest) (index.Delta, []byte, error) {
	if err := ValidateCatalog(req.Catalog); err != nil {
		return index.Delta{}, nil, err
	}
	if !req.MergeType.Valid() {
		return index.Delta{}, nil, fmt.Errorf("%w: %v", ErrUnknownMergeType, req.MergeType)
	}
	switch {
	case req.MergeType == MergeScript && req.Script == "":
		return index.Delta{}, nil, fmt.Errorf("%w: MergeScript needs WriteRequest.Script, the name of a registered script", ErrInvalidScript)
	case req.MergeType != MergeScript && req.Script != "":
		return index.Delta{}, nil, fmt.Errorf("%w: WriteRequest.Script is set but MergeType is %v, not MergeScript", ErrInvalidScript, req.MergeType)
	}
	path, err := merge.ParsePath(req.Field)
	if err != nil {
		return index.Delta{}, nil, err
	}
	var body []byte
	if req.MergeType != MergeDelete {
		if body, err = encodeValue(req.Value); err != nil {
			return index.Delta{}, nil, err
		}
		if len(body) > c.opt.MaxBodySize {
			return index.Delta{}, nil, fmt.Errorf("%w: %d bytes, the limit is %d (Option.MaxBodySize)",
				ErrBodyTooLarge, len(body), c.opt.MaxBodySize)
		}
	}
	// body is valid JSON: json.Marshal made it or validJSON checked it.
	if err := merge.CheckValid(merge.Delta{Type: req.MergeType, Path: path, Value: body}); err != nil {
		return index.Delta{}, nil, err
	}
	return index.Delta{Field: req.Field, Merge: req.MergeType.String()}, body, nil
}

func encodeValue(v any) ([]byte, error) {
	switch raw := v.(type) {
	case json.RawMessage:
		return validJSON(raw)
	case JSON:
		return validJSON(raw)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidValue, err)
	}
	// encoding/json writes invalid UTF-8 in a Go string as the escape
	// \ufffd, silently; a custom MarshalJSON may return any bytes.
	if !jsontext.Valid(data) {
		return nil, fmt.Errorf("%w: not valid UTF-8, or a \\u escape of half a character", ErrInvalidValue)
	}
	if bytes.Contains(data, []byte(`\ufffd`)) && !validStrings(reflect.ValueOf(v), 0) {
		return nil, fmt.Errorf("%w: a string in the value is not valid UTF-8", ErrInvalidValue)
	}
	return data, nil
}

// validJSON checks raw JSON text in one pass; only text that fails is
// scanned again, to say why.
func validJSON(raw []byte) ([]byte, error) {
	if jsontext.Check(raw) {
		return raw, nil
	}
	if !jsontext.Valid(raw) {
		return nil, fmt.Errorf("%w: not valid UTF-8, or a \\u escape of half a character", ErrInvalidValue)
	}
	return nil, fmt.Errorf("%w: not valid JSON text", ErrInvalidValue)
}

// validStrings reports whether every string json.Marshal would encode from
// v (values and map keys) is valid UTF-8. Only a value whose encoding holds
// a replacement character gets here, so the walk is off the fast path.
func validStrings(v reflect.Value, depth int) bool {
	if depth > 1000 || !v.IsValid() {
		return true // json.Marshal already refused a cycle
	}
	switch v.Kind() {
	case reflect.String:
		return utf8.ValidString(v.String())
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || validStrings(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return true // base64 text
		}
		for i := range v.Len() {
			if !validStrings(v.Index(i), depth+1) {
				return false
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if !validStrings(it.Key(), depth+1) || !validStrings(it.Value(), depth+1) {
				return false
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !validStrings(v.Field(i), depth+1) {
				return false
			}
		}
	}
	return true
}
