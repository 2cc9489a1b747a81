/// <reference path="../portable.d.ts" />
/**
 * Number text exactly as jq 1.6 prints it (`tostring`, `tojson`, string
 * interpolation, output): the shortest round-trip digits laid out by jq's
 * `jvp_dtoa_fmt` — exponent form when the decimal exponent is below -4 or
 * more than 15 past the last digit, a signed exponent of at least two digits
 * (`1e-05`, `1e+17`), `-0` kept, NaN as `null` and ±Infinity as ±DBL_MAX.
 */

const DBL_MAX_TEXT = "1.7976931348623157e+308";

/**
 * Formats `x` the way jq 1.6 does.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { formatJqNumber } from "./jq_number_text.ts";
 * console.assert(formatJqNumber(1e-5) === "1e-05");
 * console.assert(formatJqNumber(1e17) === "1e+17");
 * console.assert(formatJqNumber(12345678901234567890) === "12345678901234567000");
 * ```
 */
export function formatJqNumber(x: f64): string {
  if (x != x) return "null";
  if (x == Infinity) return DBL_MAX_TEXT;
  if (x == -Infinity) return "-" + DBL_MAX_TEXT;
  if (x == 0) return 1 / x < 0 ? "-0" : "0";
  // Small integers: their digits are their shortest form and jq prints them plainly.
  if (x == Math.floor(x) && x > -1e15 && x < 1e15) {
    if (x >= -2147483648 && x <= 2147483647) return i32(x).toString();
  }
  const text = formatF64(x < 0 ? -x : x);
  // Split ECMAScript's shortest text into digits and a decimal point position
  // (value = 0.DIGITS × 10^decpt, like dtoa).
  let mantissaEnd = text.indexOf("e");
  let exp = 0;
  if (mantissaEnd >= 0) {
    let sign = 1;
    let p = mantissaEnd + 1;
    if (text.charCodeAt(p) == 0x2b) {
      p++;
    } else if (text.charCodeAt(p) == 0x2d) {
      sign = -1;
      p++;
    }
    for (; p < text.length; p++) exp = exp * 10 + (text.charCodeAt(p) - 0x30);
    exp *= sign;
  } else {
    mantissaEnd = text.length;
  }
  const mantissa = text.substring(0, mantissaEnd);
  const dot = mantissa.indexOf(".");
  const intPart = dot >= 0 ? mantissa.substring(0, dot) : mantissa;
  const fracPart = dot >= 0 ? mantissa.substring(dot + 1) : "";
  let digits = intPart + fracPart;
  let decpt = intPart.length + exp;
  let lead = 0;
  while (lead < digits.length - 1 && digits.charCodeAt(lead) == 0x30) lead++;
  digits = digits.substring(lead);
  decpt -= lead;
  let trail = digits.length;
  while (trail > 1 && digits.charCodeAt(trail - 1) == 0x30) trail--;
  digits = digits.substring(0, trail);
  const nd = digits.length;
  const parts = new Array<string>();
  if (x < 0) parts.push("-");
  if (decpt <= -4 || decpt > nd + 15) {
    parts.push(digits.substring(0, 1));
    if (nd > 1) {
      parts.push(".");
      parts.push(digits.substring(1));
    }
    parts.push("e");
    let e = decpt - 1;
    if (e < 0) {
      parts.push("-");
      e = -e;
    } else {
      parts.push("+");
    }
    if (e < 10) parts.push("0");
    parts.push(e.toString());
  } else if (decpt <= 0) {
    parts.push("0.");
    for (let i = decpt; i < 0; i++) parts.push("0");
    parts.push(digits);
  } else if (decpt >= nd) {
    parts.push(digits);
    for (let i = nd; i < decpt; i++) parts.push("0");
  } else {
    parts.push(digits.substring(0, decpt));
    parts.push(".");
    parts.push(digits.substring(decpt));
  }
  return parts.join("");
}
