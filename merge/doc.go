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
package merge
