/// <reference path="../portable.d.ts" />
/**
 * String helpers with jq 1.6's units: jq strings are UTF-8, so lengths,
 * slices and `explode` count code points, `utf8bytelength` and
 * `indices` on strings count UTF-8 bytes. Portable strings are UTF-16.
 */

/** Whether `s` holds any UTF-16 surrogate (so code points and units differ). */
export function hasSurrogates(s: string): bool {
  for (let i = 0, n = s.length; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return true;
  }
  return false;
}

/**
 * Number of code points in `s` (a surrogate pair counts once).
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { codePointLength } from "./jq_strings.ts";
 * console.assert(codePointLength("é\u{1F600}x") === 3);
 * ```
 */
export function codePointLength(s: string): i32 {
  let n = 0;
  for (let i = 0, len = s.length; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** UTF-16 index of code point number `cp` in `s` (`s.length` past the end). */
export function unitIndex(s: string, cp: i32): i32 {
  let i = 0;
  const len = s.length;
  for (let k = 0; k < cp && i < len; k++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    i++;
  }
  return i;
}

/** The UTF-16 index of every code point of `s`, and `s.length` at the end. */
export function unitIndexes(s: string): Array<i32> {
  const out = new Array<i32>();
  const len = s.length;
  for (let i = 0; i < len; i++) {
    out.push(i);
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  out.push(len);
  return out;
}

/** Code points `[start, end)` of `s` (clamped). */
export function codePointSlice(s: string, start: i32, end: i32): string {
  if (!hasSurrogates(s)) return s.substring(start, end);
  const a = unitIndex(s, start);
  const b = unitIndex(s, end);
  return s.substring(a, b);
}

/** Number of bytes of `s` in UTF-8 (a lone surrogate counts as U+FFFD's 3). */
export function utf8Length(s: string): i32 {
  let n = 0;
  for (let i = 0, len = s.length; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      n += 1;
    } else if (c < 0x800) {
      n += 2;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else {
        n += 3;
      }
    } else {
      n += 3;
    }
  }
  return n;
}

/** The code points of `s`. */
export function explodeString(s: string): Array<i32> {
  const out = new Array<i32>();
  for (let i = 0, len = s.length; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out.push(((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000);
        i++;
        continue;
      }
    }
    out.push(c);
  }
  return out;
}

/** The string of one code point (U+FFFD for values jq cannot encode). */
export function fromCodePoint(cp: i32): string {
  if (cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return "\ufffd";
  if (cp < 0x10000) return String.fromCharCode(cp);
  const v = cp - 0x10000;
  return String.fromCharCode(0xd800 + (v >> 10)) + String.fromCharCode(0xdc00 + (v & 0x3ff));
}

/**
 * UTF-8 byte offsets of the non-overlapping occurrences of `needle` in
 * `hay` (jq 1.6's `_strindices`; `needle` must not be empty).
 */
export function byteIndices(hay: string, needle: string): Array<i32> {
  const out = new Array<i32>();
  let from = 0;
  let bytes = 0;
  let counted = 0;
  while (true) {
    const at = hay.indexOf(needle, from);
    if (at < 0) break;
    bytes += utf8Length(hay.substring(counted, at));
    counted = at;
    out.push(bytes);
    from = at + needle.length;
  }
  return out;
}

/** The UTF-8 bytes of `s` (lone surrogates as U+FFFD). */
export function utf8Bytes(s: string): Array<i32> {
  const out = new Array<i32>();
  for (let i = 0, len = s.length; i < len; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < len ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        i++;
      } else {
        c = 0xfffd;
      }
    }
    if (c < 0x80) {
      out.push(c);
    } else if (c < 0x800) {
      out.push(0xc0 | (c >> 6));
      out.push(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      out.push(0xe0 | (c >> 12));
      out.push(0x80 | ((c >> 6) & 0x3f));
      out.push(0x80 | (c & 0x3f));
    } else {
      out.push(0xf0 | (c >> 18));
      out.push(0x80 | ((c >> 12) & 0x3f));
      out.push(0x80 | ((c >> 6) & 0x3f));
      out.push(0x80 | (c & 0x3f));
    }
  }
  return out;
}

/**
 * Decodes UTF-8 bytes the way jq reads invalid input (`jvp_utf8_next`):
 * each bad sequence — a stray byte, a lead byte with too few continuation
 * bytes (up to the end of input), an overlong or out-of-range code point —
 * becomes one U+FFFD.
 */
export function decodeUtf8(bytes: Array<i32>): string {
  const parts = new Array<string>();
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i];
    if (b < 0x80) {
      parts.push(String.fromCharCode(b));
      i++;
      continue;
    }
    let length = 0;
    let cp = 0;
    let min = 0;
    if (b >= 0xc0 && b <= 0xdf) {
      length = 2;
      cp = b & 0x1f;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      length = 3;
      cp = b & 0x0f;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf7) {
      length = 4;
      cp = b & 0x07;
      min = 0x10000;
    }
    if (length == 0) {
      // A continuation byte out of place, or a byte that never starts UTF-8.
      parts.push("\ufffd");
      i++;
      continue;
    }
    if (i + length > n) {
      parts.push("\ufffd");
      i = n;
      continue;
    }
    let bad = false;
    let used = length;
    for (let j = 1; j < length; j++) {
      const c = bytes[i + j];
      if ((c & 0xc0) != 0x80) {
        bad = true;
        used = j;
        break;
      }
      cp = (cp << 6) | (c & 0x3f);
    }
    if (bad || cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      parts.push("\ufffd");
    } else {
      parts.push(fromCodePoint(cp));
    }
    i += used;
  }
  return parts.join("");
}
