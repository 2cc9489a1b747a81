/// <reference path="../portable.d.ts" />
/**
 * `format` assertions (used only when compiled with `assertFormats`; by
 * default `format` is an annotation and never fails). Hand-written checks,
 * no regex engine: date-time, date, time (RFC 3339, leap seconds only at
 * 23:59:60 UTC), email (ajv-formats' "full" grammar: dot-atom local part, a
 * dotted host name), ipv4 (no leading zeros), ipv6 (RFC 4291 text forms,
 * no zone id), uri (RFC 3986 absolute URI) and uuid (8-4-4-4-12 hex).
 * Other format names stay annotations. Portable AssemblyScript.
 */

export const FORMAT_NONE: i32 = 0;
export const FORMAT_DATE_TIME: i32 = 1;
export const FORMAT_DATE: i32 = 2;
export const FORMAT_TIME: i32 = 3;
export const FORMAT_EMAIL: i32 = 4;
export const FORMAT_IPV4: i32 = 5;
export const FORMAT_IPV6: i32 = 6;
export const FORMAT_URI: i32 = 7;
export const FORMAT_UUID: i32 = 8;

/**
 * The id of a format this module can assert, or FORMAT_NONE.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { checkFormat, formatIdOf } from "./schema_format.ts";
 * console.assert(checkFormat(formatIdOf("date"), "2024-02-29"));
 * console.assert(!checkFormat(formatIdOf("date"), "2023-02-29"));
 * ```
 */
export function formatIdOf(name: string): i32 {
  if (name == "date-time") return FORMAT_DATE_TIME;
  if (name == "date") return FORMAT_DATE;
  if (name == "time") return FORMAT_TIME;
  if (name == "email") return FORMAT_EMAIL;
  if (name == "ipv4") return FORMAT_IPV4;
  if (name == "ipv6") return FORMAT_IPV6;
  if (name == "uri") return FORMAT_URI;
  if (name == "uuid") return FORMAT_UUID;
  return FORMAT_NONE;
}

/** Whether `text` is valid for format `id` (true for FORMAT_NONE). */
export function checkFormat(id: i32, text: string): bool {
  if (id == FORMAT_DATE_TIME) return isDateTime(text);
  if (id == FORMAT_DATE) return isDate(text, 0, text.length);
  if (id == FORMAT_TIME) return isTime(text, 0, text.length);
  if (id == FORMAT_EMAIL) return isEmail(text);
  if (id == FORMAT_IPV4) return isIpv4(text, 0, text.length);
  if (id == FORMAT_IPV6) return isIpv6(text, 0, text.length);
  if (id == FORMAT_URI) return isUri(text);
  if (id == FORMAT_UUID) return isUuid(text);
  return true;
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: i32): bool {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function isAlpha(c: i32): bool {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** The value of `count` decimal digits at `at`, or -1. */
function digits(s: string, at: i32, count: i32): i32 {
  if (at + count > s.length) return -1;
  let v = 0;
  for (let i = 0; i < count; i++) {
    const c = s.charCodeAt(at + i);
    if (!isDigit(c)) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

function daysInMonth(year: i32, month: i32): i32 {
  if (month == 2) {
    const leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  if (month == 4 || month == 6 || month == 9 || month == 11) return 30;
  return 31;
}

/** RFC 3339 full-date in s[from, to). */
function isDate(s: string, from: i32, to: i32): bool {
  if (to - from != 10) return false;
  if (s.charCodeAt(from + 4) != 0x2d || s.charCodeAt(from + 7) != 0x2d) return false;
  const year = digits(s, from, 4);
  const month = digits(s, from + 5, 2);
  const day = digits(s, from + 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1) return false;
  return day <= daysInMonth(year, month);
}

/** RFC 3339 full-time in s[from, to): HH:MM:SS[.frac](Z|±HH:MM). */
function isTime(s: string, from: i32, to: i32): bool {
  if (to - from < 9) return false;
  if (s.charCodeAt(from + 2) != 0x3a || s.charCodeAt(from + 5) != 0x3a) return false;
  const hour = digits(s, from, 2);
  const minute = digits(s, from + 3, 2);
  const second = digits(s, from + 6, 2);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return false;
  let i = from + 8;
  if (i < to && s.charCodeAt(i) == 0x2e) {
    i++;
    const start = i;
    while (i < to && isDigit(s.charCodeAt(i))) i++;
    if (i == start) return false;
  }
  if (i >= to) return false;
  const z = s.charCodeAt(i);
  let offset = 0;
  if (z == 0x5a || z == 0x7a) {
    if (i + 1 != to) return false;
  } else if (z == 0x2b || z == 0x2d) {
    if (to - i != 6 || s.charCodeAt(i + 3) != 0x3a) return false;
    const oh = digits(s, i + 1, 2);
    const om = digits(s, i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return false;
    offset = (oh * 60 + om) * (z == 0x2b ? 1 : -1);
  } else {
    return false;
  }
  if (second == 60) {
    // A leap second exists only as 23:59:60 in UTC.
    let utc = hour * 60 + minute - offset;
    utc = ((utc % 1440) + 1440) % 1440;
    if (utc != 23 * 60 + 59) return false;
  }
  return true;
}

function isDateTime(s: string): bool {
  if (s.length < 20) return false;
  const t = s.charCodeAt(10);
  if (t != 0x54 && t != 0x74) return false;
  return isDate(s, 0, 10) && isTime(s, 11, s.length);
}

/** Characters of an RFC 5322 atom (atext). */
function isAtext(c: i32): bool {
  if (isAlpha(c) || isDigit(c)) return true;
  // ! # $ % & ' * + - / = ? ^ _ ` { | } ~
  return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a || c == 0x2b || c == 0x2d ||
    c == 0x2f || c == 0x3d || c == 0x3f || (c >= 0x5e && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

function isEmail(s: string): bool {
  const at = s.lastIndexOf("@");
  if (at <= 0) return false;
  // Local part: atoms joined by single dots.
  let prevDot = true;
  for (let i = 0; i < at; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x2e) {
      if (prevDot) return false;
      prevDot = true;
    } else if (isAtext(c)) {
      prevDot = false;
    } else {
      return false;
    }
  }
  if (prevDot) return false;
  // Domain: at least two labels of letters, digits and inner hyphens.
  const labels = s.substring(at + 1).split(".");
  if (labels.length < 2) return false;
  for (let k = 0; k < labels.length; k++) {
    if (!isHostLabel(labels[k])) return false;
  }
  return true;
}

function isHostLabel(label: string): bool {
  const n = label.length;
  if (n == 0) return false;
  for (let i = 0; i < n; i++) {
    const c = label.charCodeAt(i);
    if (isAlpha(c) || isDigit(c)) continue;
    if (c == 0x2d && i > 0 && i < n - 1) continue;
    return false;
  }
  return true;
}

/** Dotted-decimal IPv4 in s[from, to), octets without leading zeros. */
function isIpv4(s: string, from: i32, to: i32): bool {
  let parts = 0;
  let i = from;
  while (true) {
    const start = i;
    let v = 0;
    while (i < to && isDigit(s.charCodeAt(i))) {
      v = v * 10 + (s.charCodeAt(i) - 0x30);
      i++;
      if (i - start > 3) return false;
    }
    const len = i - start;
    if (len == 0 || v > 255) return false;
    if (len > 1 && s.charCodeAt(start) == 0x30) return false;
    parts++;
    if (i == to) break;
    if (s.charCodeAt(i) != 0x2e || parts == 4) return false;
    i++;
  }
  return parts == 4;
}

/** RFC 4291 IPv6 text in s[from, to) (with "::" and an embedded IPv4 tail). */
function isIpv6(s: string, from: i32, to: i32): bool {
  if (to - from < 2) return false;
  let groups = 0;
  let compressed = false;
  let i = from;
  if (s.charCodeAt(i) == 0x3a) {
    if (s.charCodeAt(i + 1) != 0x3a) return false;
    compressed = true;
    i += 2;
    if (i == to) return true;
  }
  while (i < to) {
    // An IPv4 tail counts as two groups and must end the address.
    let j = i;
    while (j < to && isHex(s.charCodeAt(j))) j++;
    if (j < to && s.charCodeAt(j) == 0x2e) {
      if (!isIpv4(s, i, to)) return false;
      groups += 2;
      i = to;
      break;
    }
    const len = j - i;
    if (len == 0 || len > 4) return false;
    groups++;
    i = j;
    if (i == to) break;
    if (s.charCodeAt(i) != 0x3a) return false;
    i++;
    if (i < to && s.charCodeAt(i) == 0x3a) {
      if (compressed) return false;
      compressed = true;
      i++;
      if (i == to) break;
    } else if (i == to) {
      return false;
    }
  }
  return compressed ? groups <= 7 : groups == 8;
}

function isUuid(s: string): bool {
  if (s.length != 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != 0x2d) return false;
    } else if (!isHex(c)) {
      return false;
    }
  }
  return true;
}

/** RFC 3986 sub-delims: ! $ & ' ( ) * + , ; = */
function isSubDelim(c: i32): bool {
  return c == 0x21 || c == 0x24 || (c >= 0x26 && c <= 0x2c) || c == 0x3b || c == 0x3d;
}

function isUnreservedUri(c: i32): bool {
  return isAlpha(c) || isDigit(c) || c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e;
}

/**
 * Whether s[from, to) consists of unreserved, sub-delims, pct-encoded and the
 * characters in `extra` (each one of ":", "@", "/", "?").
 */
function isUriChars(s: string, from: i32, to: i32, extra: string): bool {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (isUnreservedUri(c) || isSubDelim(c)) continue;
    if (c == 0x25) {
      if (i + 2 >= to || !isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) return false;
      i += 2;
      continue;
    }
    if (extra.indexOf(String.fromCharCode(c)) >= 0) continue;
    return false;
  }
  return true;
}

/** RFC 3986 IP-literal without the brackets: IPv6address / IPvFuture. */
function isIpLiteral(s: string, from: i32, to: i32): bool {
  if (to > from && (s.charCodeAt(from) == 0x76 || s.charCodeAt(from) == 0x56)) {
    let i = from + 1;
    const hexStart = i;
    while (i < to && isHex(s.charCodeAt(i))) i++;
    if (i == hexStart || i >= to || s.charCodeAt(i) != 0x2e) return false;
    i++;
    if (i >= to) return false;
    for (; i < to; i++) {
      const c = s.charCodeAt(i);
      if (!(isUnreservedUri(c) || isSubDelim(c) || c == 0x3a)) return false;
    }
    return true;
  }
  return isIpv6(s, from, to);
}

function isAuthority(s: string, from: i32, to: i32): bool {
  let hostStart = from;
  const at = s.lastIndexOf("@", to - 1);
  if (at >= from) {
    if (!isUriChars(s, from, at, ":")) return false;
    hostStart = at + 1;
  }
  let hostEnd = to;
  if (hostStart < to && s.charCodeAt(hostStart) == 0x5b) {
    const close = s.indexOf("]", hostStart);
    if (close < 0 || close >= to) return false;
    if (!isIpLiteral(s, hostStart + 1, close)) return false;
    hostEnd = close + 1;
    if (hostEnd < to && s.charCodeAt(hostEnd) != 0x3a) return false;
  } else {
    const colon = s.indexOf(":", hostStart);
    if (colon >= 0 && colon < to) hostEnd = colon;
    if (!isUriChars(s, hostStart, hostEnd, "")) return false;
  }
  if (hostEnd < to) {
    // ":" port
    for (let i = hostEnd + 1; i < to; i++) {
      if (!isDigit(s.charCodeAt(i))) return false;
    }
  }
  return true;
}

/** RFC 3986 URI: scheme ":" hier-part [ "?" query ] [ "#" fragment ]. */
function isUri(s: string): bool {
  const n = s.length;
  if (n == 0 || !isAlpha(s.charCodeAt(0))) return false;
  let i = 1;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (isAlpha(c) || isDigit(c) || c == 0x2b || c == 0x2d || c == 0x2e) {
      i++;
      continue;
    }
    break;
  }
  if (i >= n || s.charCodeAt(i) != 0x3a) return false;
  i++;
  let end = n;
  const hash = s.indexOf("#", i);
  if (hash >= 0) {
    if (!isUriChars(s, hash + 1, n, ":@/?")) return false;
    end = hash;
  }
  const q = s.indexOf("?", i);
  if (q >= 0 && q < end) {
    if (!isUriChars(s, q + 1, end, ":@/?")) return false;
    end = q;
  }
  if (end - i >= 2 && s.charCodeAt(i) == 0x2f && s.charCodeAt(i + 1) == 0x2f) {
    let slash = s.indexOf("/", i + 2);
    if (slash < 0 || slash > end) slash = end;
    if (!isAuthority(s, i + 2, slash)) return false;
    i = slash;
  }
  return isUriChars(s, i, end, ":@/");
}
