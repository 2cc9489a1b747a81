/// <reference path="../portable.d.ts" />
/**
 * Scalar type coercion for the `validate` handler's `coerce` option, with
 * ajv's `coerceTypes: true` rules. When a value matches none of a schema's
 * `type`s, each type is tried in the schema's order and the first that
 * applies wins:
 *
 * - string: a number becomes its ECMAScript text, a boolean "true"/"false", null "";
 * - number: a boolean becomes 1/0, null 0, a non-empty string its ECMAScript
 *   `Number(s)` value (so " 12 ", "0x10", "1e3" and "  " (0) coerce);
 * - integer: as number, when the result has no fractional part;
 * - boolean: "true" and 1 become true; "false", 0 and null become false;
 * - null: "", 0 and false become null.
 *
 * Objects and arrays never coerce. One difference from ajv: a string whose
 * number is infinite ("Infinity", "1e400") does not coerce, as JSON cannot
 * hold the result (ajv produces Infinity, which serialises as null).
 * Portable AssemblyScript.
 */
import { JsonValue, Kind } from "../json_value.ts";

/**
 * The value coerced to the first of `typeNames` that applies, or null.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { JsonValue } from "../json_value.ts";
 * import { coerceValue } from "./coerce_type.ts";
 * console.assert(coerceValue(JsonValue.string("0x10"), ["number"])!.num === 16);
 * console.assert(coerceValue(JsonValue.string("1.5"), ["integer"]) === null);
 * console.assert(coerceValue(JsonValue.number(1), ["boolean"])!.isTruthy());
 * ```
 */
export function coerceValue(value: JsonValue, typeNames: Array<string>): JsonValue | null {
  for (let i = 0; i < typeNames.length; i++) {
    const out = coerceTo(value, typeNames[i]);
    if (out != null) return out;
  }
  return null;
}

function coerceTo(v: JsonValue, t: string): JsonValue | null {
  const kind = v.kind;
  if (t == "string") {
    if (kind == Kind.Number) return JsonValue.string(formatF64(v.num));
    if (kind == Kind.True) return JsonValue.string("true");
    if (kind == Kind.False) return JsonValue.string("false");
    if (kind == Kind.Null) return JsonValue.string("");
    return null;
  }
  if (t == "number" || t == "integer") {
    if (kind == Kind.True) return JsonValue.number(1);
    if (kind == Kind.False || kind == Kind.Null) return JsonValue.number(0);
    if (kind == Kind.String && v.str.length > 0) {
      const x = stringToNumber(v.str);
      if (isNaN(x) || !isFinite(x)) return null;
      if (t == "integer" && x != Math.floor(x)) return null;
      return JsonValue.number(x);
    }
    return null;
  }
  if (t == "boolean") {
    if (kind == Kind.Null) return JsonValue.bool(false);
    if (kind == Kind.Number) {
      if (v.num == 0) return JsonValue.bool(false);
      if (v.num == 1) return JsonValue.bool(true);
      return null;
    }
    if (kind == Kind.String) {
      if (v.str == "false") return JsonValue.bool(false);
      if (v.str == "true") return JsonValue.bool(true);
    }
    return null;
  }
  if (t == "null") {
    if (kind == Kind.False) return JsonValue.null();
    if (kind == Kind.Number && v.num == 0) return JsonValue.null();
    if (kind == Kind.String && v.str.length == 0) return JsonValue.null();
    return null;
  }
  return null;
}

/** ECMAScript StrWhiteSpaceChar: WhiteSpace and LineTerminator. */
function isJsSpace(c: i32): bool {
  if (c == 0x20 || (c >= 0x09 && c <= 0x0d)) return true;
  if (c < 0xa0) return false;
  return c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
    c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000 || c == 0xfeff;
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

function digitValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x5a) return c - 0x41 + 10;
  return 99;
}

/**
 * ECMAScript StringToNumber (`Number(s)`): trims JS white space, "" is 0,
 * "Infinity", decimal literals with optional sign, leading/trailing "." and
 * exponent, and unsigned 0x/0o/0b integers; NaN otherwise. Decimal text is
 * rounded by `parseF64`; binary, octal and hex round to nearest-even.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { stringToNumber } from "./coerce_type.ts";
 * console.assert(stringToNumber(" .5e1 ") === 5 && stringToNumber("0b101") === 5);
 * console.assert(Number.isNaN(stringToNumber("1_000")) && stringToNumber("") === 0);
 * ```
 */
export function stringToNumber(text: string): f64 {
  let from = 0;
  let to = text.length;
  while (from < to && isJsSpace(text.charCodeAt(from))) from++;
  while (to > from && isJsSpace(text.charCodeAt(to - 1))) to--;
  if (from == to) return 0;
  const s = text.substring(from, to);
  const n = s.length;
  if (n > 2 && s.charCodeAt(0) == 0x30) {
    const p = s.charCodeAt(1) | 0x20;
    if (p == 0x78) return radixToNumber(s, 4);
    if (p == 0x6f) return radixToNumber(s, 3);
    if (p == 0x62) return radixToNumber(s, 1);
  }
  let i = 0;
  let negative = false;
  const sign = s.charCodeAt(0);
  if (sign == 0x2b || sign == 0x2d) {
    negative = sign == 0x2d;
    i = 1;
  }
  if (s.substring(i) == "Infinity") return negative ? -Infinity : Infinity;
  const intStart = i;
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  const intDigits = s.substring(intStart, i);
  let fracDigits = "";
  if (i < n && s.charCodeAt(i) == 0x2e) {
    i++;
    const fracStart = i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    fracDigits = s.substring(fracStart, i);
  }
  if (intDigits.length == 0 && fracDigits.length == 0) return NaN;
  let exponent = "";
  if (i < n && (s.charCodeAt(i) | 0x20) == 0x65) {
    i++;
    const expStart = i;
    if (i < n && (s.charCodeAt(i) == 0x2b || s.charCodeAt(i) == 0x2d)) i++;
    const digitStart = i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    if (i == digitStart) return NaN;
    exponent = "e" + s.substring(expStart, i);
  }
  if (i != n) return NaN;
  // Rewrite in the JSON number grammar, which parseF64 rounds correctly.
  let k = 0;
  while (k < intDigits.length - 1 && intDigits.charCodeAt(k) == 0x30) k++;
  const intPart = intDigits.length == 0 ? "0" : intDigits.substring(k);
  const json = (negative ? "-" : "") + intPart + (fracDigits.length > 0 ? "." + fracDigits : "") +
    exponent;
  return parseF64(json);
}

/** An unsigned 0x/0o/0b literal (`bits` per digit), correctly rounded; NaN on a bad digit. */
function radixToNumber(s: string, bits: i32): f64 {
  const radix = 1 << bits;
  const n = s.length;
  const bitList = new Array<i32>();
  for (let i = 2; i < n; i++) {
    const d = digitValue(s.charCodeAt(i));
    if (d >= radix) return NaN;
    for (let b = bits - 1; b >= 0; b--) {
      const bit = (d >> b) & 1;
      if (bitList.length == 0 && bit == 0) continue;
      bitList.push(bit);
    }
  }
  const len = bitList.length;
  if (len == 0) return 0;
  let mantissa: f64 = 0;
  const keep = len < 53 ? len : 53;
  for (let i = 0; i < keep; i++) mantissa = mantissa * 2 + f64(bitList[i]);
  if (len <= 53) return mantissa;
  const round = bitList[53];
  let sticky = false;
  for (let i = 54; i < len; i++) {
    if (bitList[i] != 0) {
      sticky = true;
      break;
    }
  }
  if (round == 1 && (sticky || mantissa % 2 == 1)) mantissa += 1;
  return mantissa * Math.pow(2, f64(len - 53));
}
