// set_union.js: adds items to the array at the field, skipping those already
// in it; the array keeps the order in which items were first seen.
//
// value:   an array of items, or a single item.
// current: an array, or absent/null (starts empty). Anything else fails the
//          delta.
// Items are compared by their JSON text; objects reach the script with their
// keys in sorted order, so equal objects have equal text.
function merge(current, value) {
  var list = current === undefined || current === null ? [] : current;
  if (!Array.isArray(list)) {
    throw new TypeError("set_union: the field holds " + typeof list + ", not an array");
  }
  var items = Array.isArray(value) ? value : [value];
  var seen = new Set();
  var out = [];
  list.concat(items).forEach(function (item) {
    var key = JSON.stringify(item);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(item);
    }
  });
  return out;
}
