// counter.js: adds the delta's value to the number at the field.
//
// current: a number, or absent/null (counts as 0).
// value:   the amount to add; null means 1.
// A current value or amount that is not a number fails the delta.
function merge(current, value, ctx) {
  var base = current === undefined || current === null ? 0 : current;
  var step = value === null ? 1 : value;
  if (typeof base !== "number") {
    throw new TypeError("counter: " + ctx.field + " holds a " + typeof base + ", not a number");
  }
  if (typeof step !== "number") {
    throw new TypeError("counter: the amount must be a number or null, got a " + typeof step);
  }
  return base + step;
}
