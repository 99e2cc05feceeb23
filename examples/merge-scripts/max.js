// max.js: keeps the larger of the number at the field and the delta's value
// (a high-water mark).
//
// value:   a number.
// current: a number, or absent/null (the value is taken as is). A value or
//          current value that is not a number fails the delta.
function merge(current, value) {
  if (typeof value !== "number") {
    throw new TypeError("max: the value must be a number, got " + JSON.stringify(value));
  }
  if (current === undefined || current === null) {
    return value;
  }
  if (typeof current !== "number") {
    throw new TypeError("max: the field holds a " + typeof current + ", not a number");
  }
  return Math.max(current, value);
}
