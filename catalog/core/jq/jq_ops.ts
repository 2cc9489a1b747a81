/// <reference path="../portable.d.ts" />
/**
 * jq 1.6's value operations: indexing and slicing (`jv_get`), arithmetic
 * with its rules for each pair of types, `length`, `keys`, `has`. Each
 * returns the result, or null after raising the jq error on `st`.
 */
import { JsonValue, Kind } from "../json_value.ts";
import { BinOp } from "./jq_ast.ts";
import { jqCompare, jqEqual } from "./jq_compare.ts";
import { typeErrorText } from "./jq_messages.ts";
// deno-lint-ignore verbatim-module-syntax
import { JqState } from "./jq_state.ts";
import { codePointLength, codePointSlice, hasSurrogates, unitIndexes } from "./jq_strings.ts";

const INT_MAX: f64 = 2147483647;
const INT_MIN: f64 = -2147483648;

/** C's `(int)x` on x86-64: truncation, INT_MIN for NaN and out-of-range values. */
export function cInt(x: f64): i32 {
  if (x != x || x >= 2147483648.0 || x <= -2147483649.0) return i32(INT_MIN);
  return i32(x);
}

/** C's `(intmax_t)x` on x86-64, as an exact double (INT64_MIN when out of range). */
function cInt64(x: f64): f64 {
  if (x != x || x >= 9223372036854775808.0 || x < -9223372036854775808.0) {
    return -9223372036854775808.0;
  }
  return Math.trunc(x);
}

function isInteger(x: f64): bool {
  return x == x && x <= INT_MAX && x >= INT_MIN && x == Math.trunc(x);
}

/** jq's `kind (excerpt) and kind (excerpt) <what>` error. */
export function typeError2(
  st: JqState,
  a: JsonValue,
  b: JsonValue,
  what: string,
  at: i32,
): JsonValue | null {
  st.fail(typeErrorText(a) + " and " + typeErrorText(b) + " " + what, at);
  return null;
}

/** jq's `kind (excerpt) <what>` error. */
export function typeError(st: JqState, a: JsonValue, what: string, at: i32): JsonValue | null {
  st.fail(typeErrorText(a) + " " + what, at);
  return null;
}

/** The "Cannot index T with K" error of `jv_get`. */
export function indexError(st: JqState, t: JsonValue, k: JsonValue, at: i32): JsonValue | null {
  let msg: string;
  if (k.kind == Kind.String && utf8Short(k.str, 30)) {
    msg = "Cannot index " + t.typeName() + ' with string "' + k.str + '"';
  } else {
    msg = "Cannot index " + t.typeName() + " with " + k.typeName();
  }
  st.fail(msg, at);
  return null;
}

function utf8Short(s: string, limit: i32): bool {
  if (s.length >= limit) return false;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : (c >= 0xd800 && c <= 0xdbff) ? 2 : 3;
  }
  return n < limit;
}

/** Start and end (code points or elements) of a slice, or false for non-numbers. */
export class SliceBounds {
  start: i32 = 0;
  end: i32 = 0;
  ok: bool = false;
}

/** jq's `parse_slice`: `from`/`to` (null = open end) against length `len`. */
export function sliceBounds(len: i32, from: JsonValue, to: JsonValue): SliceBounds {
  const r = new SliceBounds();
  const f = from.kind == Kind.Null ? JsonValue.number(0) : from;
  const t = to.kind == Kind.Null ? JsonValue.number(f64(len)) : to;
  if (f.kind != Kind.Number || t.kind != Kind.Number) return r;
  let ds = f.num;
  let de = t.num;
  if (ds != ds || de != de) return r; // jq 1.6 aborts on NaN bounds
  const dlen = f64(len);
  if (ds < 0) ds += dlen;
  if (de < 0) de += dlen;
  if (ds < 0) ds = 0;
  if (ds > dlen) ds = dlen;
  if (de > dlen) de = dlen;
  if (de < ds) de = ds;
  r.start = i32(ds);
  const ie = i32(de);
  r.end = de > f64(ie) ? ie + 1 : ie;
  if (r.end > len) r.end = len;
  r.ok = true;
  return r;
}

/** `t[from:to]` for arrays, strings and null. */
export function jqSlice(
  st: JqState,
  t: JsonValue,
  from: JsonValue,
  to: JsonValue,
  at: i32,
): JsonValue | null {
  if (t.kind == Kind.Null) return t;
  if (t.kind == Kind.Array) {
    const items = t.items!;
    const b = sliceBounds(items.length, from, to);
    if (!b.ok) {
      st.fail("Start and end indices of an array slice must be numbers", at);
      return null;
    }
    return JsonValue.array(items.slice(b.start, b.end));
  }
  if (t.kind == Kind.String) {
    const s = t.str;
    if (s.length < 64) {
      const b = sliceBounds(hasSurrogates(s) ? codePointLength(s) : s.length, from, to);
      if (!b.ok) {
        st.fail("Start and end indices of an string slice must be numbers", at);
        return null;
      }
      return JsonValue.string(codePointSlice(s, b.start, b.end));
    }
    if (st.sliced !== t) {
      st.sliced = t;
      st.slicedUnits = hasSurrogates(s) ? unitIndexes(s) : null;
      st.slicedLength = st.slicedUnits == null ? s.length : st.slicedUnits!.length - 1;
    }
    const b = sliceBounds(st.slicedLength, from, to);
    if (!b.ok) {
      st.fail("Start and end indices of an string slice must be numbers", at);
      return null;
    }
    const units = st.slicedUnits;
    if (units == null) return JsonValue.string(s.substring(b.start, b.end));
    return JsonValue.string(s.substring(units[b.start], units[b.end]));
  }
  st.fail("Cannot index " + t.typeName() + " with object", at);
  return null;
}

/** jq's `.[k]` (`jv_get`). */
export function jqIndex(st: JqState, t: JsonValue, k: JsonValue, at: i32): JsonValue | null {
  const tk = t.kind;
  const kk = k.kind;
  if (tk == Kind.Object && kk == Kind.String) {
    const v = t.get(k.str);
    return v == null ? JsonValue.null() : v;
  }
  if (tk == Kind.Array && kk == Kind.Number) {
    if (!isInteger(k.num)) return JsonValue.null();
    let idx = i32(k.num);
    const items = t.items!;
    if (idx < 0) idx += items.length;
    if (idx < 0 || idx >= items.length) return JsonValue.null();
    return items[idx];
  }
  if ((tk == Kind.Array || tk == Kind.String) && kk == Kind.Object) {
    const start = k.get("start");
    const end = k.get("end");
    if (start == null || end == null) {
      st.fail(
        tk == Kind.Array
          ? "Start and end indices of an array slice must be numbers"
          : "Start and end indices of an string slice must be numbers",
        at,
      );
      return null;
    }
    return jqSlice(st, t, start, end, at);
  }
  if (tk == Kind.Array && kk == Kind.Array) return arrayIndexes(t.items!, k.items!);
  if (tk == Kind.Null && (kk == Kind.String || kk == Kind.Number || kk == Kind.Object)) {
    return JsonValue.null();
  }
  return indexError(st, t, k, at);
}

/** jq's `jv_array_indexes`: where `b` occurs in `a` as a sub-array (overlapping). */
export function arrayIndexes(a: Array<JsonValue>, b: Array<JsonValue>): JsonValue {
  const out = new Array<JsonValue>();
  if (b.length == 0) return JsonValue.array(out);
  for (let i = 0; i < a.length; i++) {
    if (i + b.length > a.length) break;
    let match = true;
    for (let j = 0; j < b.length; j++) {
      if (!jqEqual(a[i + j], b[j])) {
        match = false;
        break;
      }
    }
    if (match) out.push(JsonValue.number(f64(i)));
  }
  return JsonValue.array(out);
}

/** `a op b` for arithmetic and comparison operators. */
export function jqBinary(
  st: JqState,
  op: i32,
  a: JsonValue,
  b: JsonValue,
  at: i32,
): JsonValue | null {
  switch (op) {
    case BinOp.Add:
      return jqAdd(st, a, b, at);
    case BinOp.Sub:
      return jqSubtract(st, a, b, at);
    case BinOp.Mul:
      return jqMultiply(st, a, b, at);
    case BinOp.Div:
      return jqDivide(st, a, b, at);
    case BinOp.Mod:
      return jqModulo(st, a, b, at);
    case BinOp.Eq:
      return JsonValue.bool(jqEqual(a, b));
    case BinOp.Ne:
      return JsonValue.bool(!jqEqual(a, b));
    case BinOp.Lt:
      return JsonValue.bool(jqCompare(a, b) < 0);
    case BinOp.Le:
      return JsonValue.bool(jqCompare(a, b) <= 0);
    case BinOp.Gt:
      return JsonValue.bool(jqCompare(a, b) > 0);
    default:
      return JsonValue.bool(jqCompare(a, b) >= 0);
  }
}

/** `a + b`: null is the identity; numbers, strings, arrays, objects (right wins). */
export function jqAdd(st: JqState, a: JsonValue, b: JsonValue, at: i32): JsonValue | null {
  if (a.kind == Kind.Null) return b;
  if (b.kind == Kind.Null) return a;
  if (a.kind == Kind.Number && b.kind == Kind.Number) return JsonValue.number(a.num + b.num);
  if (a.kind == Kind.String && b.kind == Kind.String) return JsonValue.string(a.str + b.str);
  if (a.kind == Kind.Array && b.kind == Kind.Array) {
    return JsonValue.array(a.items!.concat(b.items!));
  }
  if (a.kind == Kind.Object && b.kind == Kind.Object) {
    const out = a.copy();
    const keys = b.keys!;
    const vals = b.vals!;
    for (let i = 0; i < keys.length; i++) out.set(keys[i], vals[i]);
    return out;
  }
  return typeError2(st, a, b, "cannot be added", at);
}

function jqSubtract(st: JqState, a: JsonValue, b: JsonValue, at: i32): JsonValue | null {
  if (a.kind == Kind.Number && b.kind == Kind.Number) return JsonValue.number(a.num - b.num);
  if (a.kind == Kind.Array && b.kind == Kind.Array) {
    const x = a.items!;
    const y = b.items!;
    const out = new Array<JsonValue>();
    for (let i = 0; i < x.length; i++) {
      let keep = true;
      for (let j = 0; j < y.length; j++) {
        if (jqEqual(x[i], y[j])) {
          keep = false;
          break;
        }
      }
      if (keep) out.push(x[i]);
    }
    return JsonValue.array(out);
  }
  return typeError2(st, a, b, "cannot be subtracted", at);
}

/** Strings longer than this (UTF-16 units) are refused by repetition. */
const MAX_REPEAT_UNITS: f64 = 268435456;

function jqMultiply(st: JqState, a: JsonValue, b: JsonValue, at: i32): JsonValue | null {
  if (a.kind == Kind.Number && b.kind == Kind.Number) return JsonValue.number(a.num * b.num);
  if (
    (a.kind == Kind.String && b.kind == Kind.Number) ||
    (a.kind == Kind.Number && b.kind == Kind.String)
  ) {
    const s = a.kind == Kind.String ? a : b;
    const num = a.kind == Kind.String ? b.num : a.num;
    // jq 1.6: `for (n = num - 1; n > 0; n--) append` with an int n; n < 0 gives null.
    const n = cInt(num - 1);
    if (n < 0) return JsonValue.null();
    if (n == 0) return s;
    if (f64(s.str.length) * (f64(n) + 1) > MAX_REPEAT_UNITS) {
      st.fail(
        "Cannot repeat a string " + (n + 1).toString() +
          " times as the result would be too large: current length is " +
          s.str.length.toString(),
        at,
      );
      return null;
    }
    return JsonValue.string(s.str.repeat(n + 1));
  }
  if (a.kind == Kind.Object && b.kind == Kind.Object) return deepMerge(st, a, b, at);
  return typeError2(st, a, b, "cannot be multiplied", at);
}

function deepMerge(st: JqState, a: JsonValue, b: JsonValue, at: i32): JsonValue | null {
  if (!st.enter(at)) return null;
  const out = a.copy();
  const keys = b.keys!;
  const vals = b.vals!;
  for (let i = 0; i < keys.length; i++) {
    const mine = out.get(keys[i]);
    const theirs = vals[i];
    if (mine != null && mine.kind == Kind.Object && theirs.kind == Kind.Object) {
      const merged = deepMerge(st, mine, theirs, at);
      if (merged == null) {
        st.leave();
        return null;
      }
      out.set(keys[i], merged);
    } else {
      out.set(keys[i], theirs);
    }
  }
  st.leave();
  return out;
}

function jqDivide(st: JqState, a: JsonValue, b: JsonValue, at: i32): JsonValue | null {
  if (a.kind == Kind.Number && b.kind == Kind.Number) {
    if (b.num == 0) {
      return typeError2(st, a, b, "cannot be divided because the divisor is zero", at);
    }
    return JsonValue.number(a.num / b.num);
  }
  if (a.kind == Kind.String && b.kind == Kind.String) return splitString(a.str, b.str);
  return typeError2(st, a, b, "cannot be divided", at);
}

function jqModulo(st: JqState, a: JsonValue, b: JsonValue, at: i32): JsonValue | null {
  if (a.kind == Kind.Number && b.kind == Kind.Number) {
    const y = cInt64(b.num);
    if (y == 0) {
      return typeError2(st, a, b, "cannot be divided (remainder) because the divisor is zero", at);
    }
    const x = cInt64(a.num);
    // fmod is exact on these integers; `+ 0` turns C's integer 0 back into +0.
    return JsonValue.number((x % y) + 0);
  }
  return typeError2(st, a, b, "cannot be divided (remainder)", at);
}

/** jq's `jv_string_split`: "" splits into code points; a trailing separator yields "". */
export function splitString(s: string, sep: string): JsonValue {
  const out = new Array<JsonValue>();
  if (sep.length == 0) {
    for (let i = 0, n = s.length; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          out.push(JsonValue.string(s.substring(i, i + 2)));
          i++;
          continue;
        }
      }
      out.push(JsonValue.string(s.charAt(i)));
    }
    return JsonValue.array(out);
  }
  let p = 0;
  const n = s.length;
  while (p < n) {
    let at = s.indexOf(sep, p);
    if (at < 0) at = n;
    out.push(JsonValue.string(s.substring(p, at)));
    if (at + sep.length == n) out.push(JsonValue.string(""));
    p = at + sep.length;
  }
  return JsonValue.array(out);
}

/** `-x` */
export function jqNegate(st: JqState, v: JsonValue, at: i32): JsonValue | null {
  if (v.kind != Kind.Number) return typeError(st, v, "cannot be negated", at);
  return JsonValue.number(-v.num);
}

/** `length` */
export function jqLength(st: JqState, v: JsonValue, at: i32): JsonValue | null {
  switch (v.kind) {
    case Kind.Null:
      return JsonValue.number(0);
    case Kind.Number:
      return JsonValue.number(Math.abs(v.num));
    case Kind.String:
      return JsonValue.number(f64(codePointLength(v.str)));
    case Kind.Array:
    case Kind.Object:
      return JsonValue.number(f64(v.size()));
    default:
      return typeError(st, v, "has no length", at);
  }
}

/** `keys` (sorted) and `keys_unsorted`. */
export function jqKeys(st: JqState, v: JsonValue, sorted: bool, at: i32): JsonValue | null {
  if (v.kind == Kind.Object) {
    const keys = sorted ? v.sortedKeys() : v.keys!;
    const out = new Array<JsonValue>(keys.length);
    for (let i = 0; i < keys.length; i++) out[i] = JsonValue.string(keys[i]);
    return JsonValue.array(out);
  }
  if (v.kind == Kind.Array) {
    const n = v.items!.length;
    const out = new Array<JsonValue>(n);
    for (let i = 0; i < n; i++) out[i] = JsonValue.number(f64(i));
    return JsonValue.array(out);
  }
  return typeError(st, v, "has no keys", at);
}

/** `has(k)` */
export function jqHas(st: JqState, t: JsonValue, k: JsonValue, at: i32): JsonValue | null {
  if (t.kind == Kind.Null) return JsonValue.bool(false);
  if (t.kind == Kind.Object && k.kind == Kind.String) return JsonValue.bool(t.has(k.str));
  if (t.kind == Kind.Array && k.kind == Kind.Number) {
    const i = cInt(k.num);
    return JsonValue.bool(i >= 0 && i < t.items!.length);
  }
  st.fail(
    "Cannot check whether " + t.typeName() + " has a " + k.typeName() + " key",
    at,
  );
  return null;
}
