(function (g) {
"use strict";
var D = g.Date, P = D.prototype, UTC = D.UTC, dateParse = D.parse;
var getTime = P.getTime, construct = Reflect.construct, apply = Reflect.apply;
function clock(what) {
	throw new Error(what + " is not available in merge scripts: it reads the clock; pass explicit time values");
}
var iso = /^(?:[+-]\d{6}|\d{4})(?:-\d\d(?:-\d\d)?)?(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:\d\d)?)?$/;
function parse(s) {
	s = String(s);
	var m = iso.exec(s);
	if (m === null) return NaN;
	if (m[1] !== undefined && m[2] === undefined) s += "Z";
	return dateParse(s);
}
function Date(year, month, date, hours, minutes, seconds, ms) {
	if (new.target === undefined) clock("Date()");
	var t;
	switch (arguments.length) {
	case 0:
		clock("new Date()");
	case 1:
		t = year;
		if (t !== null && typeof t === "object" && !(t instanceof D)) {
			var p = t.valueOf();
			t = p !== null && (typeof p === "object" || typeof p === "function") ? String(t) : p;
		}
		if (typeof t === "string") t = parse(t);
		break;
	default:
		t = apply(UTC, undefined, arguments);
	}
	return construct(D, [t], new.target);
}
Date.prototype = P;
Object.defineProperty(P, "constructor", {value: Date, writable: true, enumerable: false, configurable: true});
Date.UTC = UTC;
Date.parse = parse;
Date.now = function now() { clock("Date.now()"); };
["FullYear", "Month", "Date", "Day", "Hours", "Minutes", "Seconds", "Milliseconds"].forEach(function (n) {
	P["get" + n] = P["getUTC" + n];
	if (n !== "Day") P["set" + n] = P["setUTC" + n];
});
function valid(d) { var t = apply(getTime, d, []); return t === t; }
P.getTimezoneOffset = function getTimezoneOffset() { return valid(this) ? 0 : NaN; };
if (typeof P.getYear === "function") {
	P.getYear = function getYear() { return this.getUTCFullYear() - 1900; };
}
var days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
function pad(n, w) { var s = String(Math.abs(n)); while (s.length < w) s = "0" + s; return s; }
function dateString(d) {
	var y = d.getUTCFullYear();
	return days[d.getUTCDay()] + " " + months[d.getUTCMonth()] + " " + pad(d.getUTCDate(), 2) + " " + (y < 0 ? "-" : "") + pad(y, 4);
}
function timeString(d) {
	return pad(d.getUTCHours(), 2) + ":" + pad(d.getUTCMinutes(), 2) + ":" + pad(d.getUTCSeconds(), 2) + " GMT+0000 (Coordinated Universal Time)";
}
P.toString = function toString() { return valid(this) ? dateString(this) + " " + timeString(this) : "Invalid Date"; };
P.toDateString = function toDateString() { return valid(this) ? dateString(this) : "Invalid Date"; };
P.toTimeString = function toTimeString() { return valid(this) ? timeString(this) : "Invalid Date"; };
P.toLocaleString = function toLocaleString() { return this.toString(); };
P.toLocaleDateString = function toLocaleDateString() { return this.toDateString(); };
P.toLocaleTimeString = function toLocaleTimeString() { return this.toTimeString(); };
g.Date = Date;
g.Math.random = function random() {
	throw new Error("Math.random is not available in merge scripts: they must be deterministic");
};

var seeds = [g];
["[][Symbol.iterator]()", "new Map().entries()", "new Set().values()", "''[Symbol.iterator]()",
 "'a'.matchAll(/a/g)", "(function*(){})", "(function*(){})()", "(async function(){})",
 "(async function*(){})", "(async function*(){})()", "Promise.resolve()", "(function(){return arguments})()",
 "new Int8Array(0)", "new WeakMap()", "new WeakSet()", "new WeakRef({})"].forEach(function (src) {
	try { seeds.push((0, g.eval)(src)); } catch (e) {}
});
var seen = new Set(), todo = seeds;
while (todo.length > 0) {
	var o = todo.pop();
	if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) continue;
	seen.add(o);
	Reflect.ownKeys(o).forEach(function (k) {
		var d = Reflect.getOwnPropertyDescriptor(o, k);
		if (d === undefined) return;
		if ("value" in d) todo.push(d.value); else todo.push(d.get, d.set);
	});
	todo.push(Reflect.getPrototypeOf(o));
	Object.freeze(o);
}
})(globalThis);
