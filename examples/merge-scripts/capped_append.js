// capped_append.js: appends an item to the array at the field and keeps only
// the last `cap` items (a bounded log, e.g. "recent events").
//
// value:   {"item": X, "cap": N} or just X (cap defaults to 100).
// current: an array, or absent/null (starts empty). Anything else fails the
//          delta, as does a cap that is not a positive integer.
var DEFAULT_CAP = 100;

function merge(current, value) {
  var item = value, cap = DEFAULT_CAP;
  if (value !== null && typeof value === "object" && !Array.isArray(value) && "item" in value) {
    item = value.item;
    if (value.cap !== undefined) cap = value.cap;
  }
  if (typeof cap !== "number" || cap < 1 || Math.floor(cap) !== cap) {
    throw new RangeError("capped_append: cap must be a positive integer, got " + JSON.stringify(cap));
  }
  var list = current === undefined || current === null ? [] : current;
  if (!Array.isArray(list)) {
    throw new TypeError("capped_append: the field holds " + typeof list + ", not an array");
  }
  list.push(item);
  return list.length > cap ? list.slice(list.length - cap) : list;
}
