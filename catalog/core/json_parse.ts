/// <reference path="./portable.d.ts" />
/**
 * Strict RFC 8259 JSON text → {@link JsonValue}. Portable AssemblyScript: the
 * same source runs natively and in the wasm build, so both accept and refuse
 * exactly the same texts with the same messages and offsets.
 *
 * Behaviour matches `JSON.parse` (and jq for key order):
 * - no trailing commas, comments, NaN/Infinity, leading zeros, single quotes
 *   or byte order mark; only space, tab, LF and CR are whitespace;
 * - control characters (U+0000..U+001F) inside strings must be escaped;
 * - `\uD800`-style escapes of lone surrogates are kept as code units;
 * - a repeated object key keeps its first position and takes the last value;
 * - numbers are correctly rounded (`parseF64`); too large ones become ±Infinity.
 *
 * The parser is iterative (an explicit container stack), so deep nesting
 * ends in an error at `maxDepth`, never in a stack overflow.
 */
import { JsonValue } from "./json_value.ts";

/** Default nesting limit of {@link parseJson}: arrays and objects open at once. */
export const JSON_MAX_DEPTH: i32 = 10000;

/** The outcome of {@link parseJson}: a value, or an error and where it was found. */
export class ParseResult {
  /** The parsed value; null when `error` is set. */
  value: JsonValue | null;
  /** What was expected and where, e.g. `expected ':' after an object key at offset 4, found '1'`. */
  error: string | null;
  /** UTF-16 code unit offset of the error in the text; -1 on success. */
  offset: i32;

  constructor(value: JsonValue | null, error: string | null, offset: i32) {
    this.value = value;
    this.error = error;
    this.offset = offset;
  }
}

/**
 * Parses JSON text strictly (RFC 8259). Never throws: check `error` first.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { parseJson } from "./json_parse.ts";
 *
 * const ok = parseJson('{"a":[1,2],"b":null}');
 * console.assert(ok.error === null && ok.value!.get("a")!.size() === 2);
 *
 * const bad = parseJson('{"a":1,}');
 * console.assert(bad.value === null && bad.offset === 7);
 * // bad.error: "expected a string key after ',' in an object at offset 7, found '}'"
 * ```
 */
export function parseJson(text: string, maxDepth: i32 = JSON_MAX_DEPTH): ParseResult {
  const parser = new JsonParser(text, maxDepth);
  const value = parser.parse();
  if (value == null) return new ParseResult(null, parser.error, parser.errorOffset);
  return new ParseResult(value, null, -1);
}

// Character codes.
const QUOTE: i32 = 0x22;
const BACKSLASH: i32 = 0x5c;
const SLASH: i32 = 0x2f;
const COMMA: i32 = 0x2c;
const COLON: i32 = 0x3a;
const MINUS: i32 = 0x2d;
const PLUS: i32 = 0x2b;
const DOT: i32 = 0x2e;
const ZERO: i32 = 0x30;
const NINE: i32 = 0x39;
const OPEN_BRACKET: i32 = 0x5b;
const CLOSE_BRACKET: i32 = 0x5d;
const OPEN_BRACE: i32 = 0x7b;
const CLOSE_BRACE: i32 = 0x7d;

/** Slots of the object key cache (a power of two) and the longest key it holds. */
const KEY_CACHE_SIZE: i32 = 256;
const KEY_CACHE_MAX_LENGTH: i32 = 32;
/** Distinct key lists remembered for sharing (a power of two). */
const SHAPE_CACHE_SIZE: i32 = 8;
/** Objects get built with `JsonValue.set` past this many members (its index threshold). */
const INDEX_AFTER: i32 = 32;

/** Exact powers of ten: every 10^k with k <= 22 is a double. */
const POW10: Array<f64> = [
  1e0,
  1e1,
  1e2,
  1e3,
  1e4,
  1e5,
  1e6,
  1e7,
  1e8,
  1e9,
  1e10,
  1e11,
  1e12,
  1e13,
  1e14,
  1e15,
  1e16,
  1e17,
  1e18,
  1e19,
  1e20,
  1e21,
  1e22,
];

/** Sets `list[i]`, appending when `i` is its length (stacks with an explicit top). */
function put<T>(list: Array<T>, i: i32, value: T): void {
  if (i < list.length) list[i] = value;
  else list.push(value);
}

/** Value of a hex digit, or -1. */
function hexValue(c: i32): i32 {
  if (c >= ZERO && c <= NINE) return c - ZERO;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

function isDigit(c: i32): bool {
  return c >= ZERO && c <= NINE;
}

/** `U+000A` style name of a code unit. */
function unitName(c: i32): string {
  const hex = "0123456789ABCDEF";
  return "U+" + hex.charAt((c >> 12) & 15) + hex.charAt((c >> 8) & 15) +
    hex.charAt((c >> 4) & 15) + hex.charAt(c & 15);
}

/** Holds the parse position; errors are recorded, not thrown (AS has no exceptions). */
class JsonParser {
  text: string;
  len: i32;
  pos: i32 = 0;
  maxDepth: i32;
  /** Set with `error`; a bool because comparing a string with null calls a function in wasm. */
  failed: bool = false;
  error: string | null = null;
  errorOffset: i32 = -1;
  /** Recent object keys by hash (see parseKeyString); "" marks an empty slot. */
  keyCache: Array<string>;
  /**
   * The members of every open container wait on these two stacks (the top
   * is `vTop`/`nTop`; slots above it are reused, never cut off: shortening
   * a JS array reallocates its storage) and become exact-size arrays when it
   * closes: in the wasm build a growing array starts with room for 8 (64
   * bytes for 2 members) and is copied when it outgrows it, and its
   * allocator never frees.
   */
  vals: Array<JsonValue> = new Array<JsonValue>();
  vTop: i32 = 0;
  names: Array<string> = new Array<string>();
  nTop: i32 = 0;
  /** Recent objects' key lists (see shape). */
  shapes: Array<Array<string>> = new Array<Array<string>>();
  nextShape: i32 = 0;

  constructor(text: string, maxDepth: i32) {
    this.text = text;
    this.len = text.length;
    this.maxDepth = maxDepth;
    // Filled in one allocation, not by 256 pushes (the array grows and is
    // copied six times): each step parses the envelope and the config schema.
    this.keyCache = new Array<string>(KEY_CACHE_SIZE).fill("");
  }

  /** Records an error at `offset` naming the character found there; returns null. */
  fail(expected: string, offset: i32): JsonValue | null {
    if (!this.failed) {
      this.failed = true;
      this.error = expected + " at offset " + offset.toString() + ", found " +
        this.describe(offset);
      this.errorOffset = offset;
    }
    return null;
  }

  /** Records an error with a complete message. */
  failWith(message: string, offset: i32): void {
    if (!this.failed) {
      this.failed = true;
      this.error = message;
      this.errorOffset = offset;
    }
  }

  describe(offset: i32): string {
    if (offset >= this.len) return "end of input";
    const c = this.text.charCodeAt(offset);
    if (c < 0x20 || c == 0x7f || (c >= 0xd800 && c <= 0xdfff)) return unitName(c);
    return "'" + this.text.charAt(offset) + "'";
  }

  /** Skips JSON whitespace; returns the next code unit or -1 at the end. */
  skipSpace(): i32 {
    const text = this.text;
    const len = this.len;
    let pos = this.pos;
    while (pos < len) {
      const c = text.charCodeAt(pos);
      if (c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) {
        pos++;
      } else {
        this.pos = pos;
        return c;
      }
    }
    this.pos = pos;
    return -1;
  }

  parse(): JsonValue | null {
    // Per open container (frame): where its members start on the value and
    // name stacks (-1 for an array), and, for an object past INDEX_AFTER
    // members, the object itself, built with `set` from then on (its index
    // keeps repeated keys linear to find).
    const valStart = new Array<i32>();
    const nameStart = new Array<i32>();
    const big = new Array<JsonValue | null>();
    let depth: i32 = 0;
    // Every path out of the loop returns; the condition only satisfies asc's return check.
    while (!this.failed) {
      // A value starts here.
      let c = this.skipSpace();
      let value: JsonValue;
      if (c == OPEN_BRACE || c == OPEN_BRACKET) {
        if (depth >= this.maxDepth) {
          this.failWith(
            "nesting deeper than " + this.maxDepth.toString() + " levels at offset " +
              this.pos.toString(),
            this.pos,
          );
          return null;
        }
        this.pos++;
        const isObject = c == OPEN_BRACE;
        c = this.skipSpace();
        if (c == (isObject ? CLOSE_BRACE : CLOSE_BRACKET)) {
          this.pos++;
          value = isObject
            ? JsonValue.objectOf(this.shape(this.nTop), this.vals.slice(0, 0))
            : JsonValue.array(this.vals.slice(0, 0));
        } else {
          put(valStart, depth, this.vTop);
          put(nameStart, depth, isObject ? this.nTop : -1);
          put(big, depth, null);
          depth++;
          if (isObject) {
            if (c != QUOTE) return this.fail("expected a string key or '}' in an object", this.pos);
            if (!this.parseKey()) return null;
          }
          continue;
        }
      } else {
        const scalar = this.parseScalar(c);
        if (scalar == null) return null;
        value = scalar;
      }

      // A value is complete: attach it to its container, closing finished containers.
      for (;;) {
        if (depth == 0) {
          if (this.skipSpace() != -1) {
            return this.fail("expected the end of input after the JSON value", this.pos);
          }
          return value;
        }
        const v0 = valStart[depth - 1];
        const n0 = nameStart[depth - 1];
        c = this.skipSpace();
        if (n0 < 0) {
          put(this.vals, this.vTop++, value);
          if (c == COMMA) {
            this.pos++;
            break;
          }
          if (c != CLOSE_BRACKET) {
            return this.fail("expected ',' or ']' after an array element", this.pos);
          }
          value = JsonValue.array(this.vals.slice(v0, this.vTop));
        } else {
          this.addMember(v0, n0, big, depth - 1, value);
          if (c == COMMA) {
            this.pos++;
            if (this.skipSpace() != QUOTE) {
              return this.fail("expected a string key after ',' in an object", this.pos);
            }
            if (!this.parseKey()) return null;
            break;
          }
          if (c != CLOSE_BRACE) {
            return this.fail("expected ',' or '}' after an object member", this.pos);
          }
          const built = big[depth - 1];
          value = built != null
            ? built
            : JsonValue.objectOf(this.shape(n0), this.vals.slice(v0, this.vTop));
          this.nTop = n0;
        }
        // Closing bracket or brace: the container is the completed value.
        this.pos++;
        this.vTop = v0;
        depth--;
      }
    }
    return null;
  }

  /**
   * Adds the member whose key is on top of the name stack to the open object
   * of `frame` (members from `v0`/`n0` on the stacks), like `JsonValue.set`:
   * a repeated key keeps its first position and takes the last value. Past
   * INDEX_AFTER members the object is built for real and uses `set`.
   */
  addMember(v0: i32, n0: i32, big: Array<JsonValue | null>, frame: i32, value: JsonValue): void {
    const names = this.names;
    const built = big[frame];
    // The key is on top of the name stack; the members before it are at n0..last-1.
    const last = this.nTop - 1;
    const key = names[last];
    if (built != null) {
      this.nTop = last;
      built.set(key, value);
      return;
    }
    for (let i = n0; i < last; i++) {
      if (names[i] == key) {
        this.vals[v0 + i - n0] = value;
        this.nTop = last;
        return;
      }
    }
    put(this.vals, this.vTop++, value);
    if (last + 1 - n0 > INDEX_AFTER) {
      const object = JsonValue.object();
      for (let i = n0; i <= last; i++) object.set(names[i], this.vals[v0 + i - n0]);
      big[frame] = object;
      this.nTop = n0;
      this.vTop = v0;
    }
  }

  /**
   * The keys `names[from..nTop)` as an array, shared with an earlier object
   * of this document that has the same keys in the same order (arrays of
   * records repeat their keys; `JsonValue.objectOf` marks it shared, so a
   * later `set` copies it first).
   */
  shape(from: i32): Array<string> {
    const names = this.names;
    const n = this.nTop - from;
    const shapes = this.shapes;
    for (let s = 0; s < shapes.length; s++) {
      const keys = shapes[s];
      if (keys.length != n) continue;
      let i = 0;
      while (i < n && keys[i] == names[from + i]) i++;
      if (i == n) return keys;
    }
    const keys = names.slice(from, this.nTop);
    if (shapes.length < SHAPE_CACHE_SIZE) {
      shapes.push(keys);
    } else {
      shapes[this.nextShape] = keys;
      this.nextShape = (this.nextShape + 1) & (SHAPE_CACHE_SIZE - 1);
    }
    return keys;
  }

  /** Parses `"key" :` at the current position onto the name stack. */
  parseKey(): bool {
    const key = this.parseKeyString();
    if (this.failed) return false;
    put(this.names, this.nTop++, key);
    if (this.skipSpace() != COLON) {
      this.fail("expected ':' after an object key", this.pos);
      return false;
    }
    this.pos++;
    return true;
  }

  /** A string, number or literal starting with code unit `c` (-1 at the end). */
  parseScalar(c: i32): JsonValue | null {
    if (c == QUOTE) {
      // Values are not shared through the key cache: that saved no measurable
      // time in the wasm build and cost the native build a tenth of its parse.
      const s = this.parseString();
      return this.failed ? null : JsonValue.string(s);
    }
    if (c == MINUS || isDigit(c)) return this.parseNumber();
    if (c == 0x74) return this.parseLiteral("true", JsonValue.bool(true));
    if (c == 0x66) return this.parseLiteral("false", JsonValue.bool(false));
    if (c == 0x6e) return this.parseLiteral("null", JsonValue.null());
    return this.fail("expected a JSON value", this.pos);
  }

  parseLiteral(word: string, value: JsonValue): JsonValue | null {
    const start = this.pos;
    const n = word.length;
    for (let i = 0; i < n; i++) {
      if (start + i >= this.len || this.text.charCodeAt(start + i) != word.charCodeAt(i)) {
        return this.fail("expected '" + word + "'", start + i);
      }
    }
    this.pos = start + n;
    return value;
  }

  /**
   * An object key. Keys repeat (arrays of records), so short keys without
   * escapes are shared through a small cache instead of being copied again:
   * that saves about a quarter of a parsed document's memory in the wasm
   * build, whose allocator never frees, and makes equal keys one string.
   */
  parseKeyString(): string {
    const text = this.text;
    const len = this.len;
    const start = this.pos + 1;
    let i = start;
    let hash: i32 = 0;
    while (i < len) {
      const c = text.charCodeAt(i);
      if (c == QUOTE) break;
      if (c == BACKSLASH || c < 0x20 || i - start >= KEY_CACHE_MAX_LENGTH) {
        return this.parseString();
      }
      hash = (hash * 31 + c) & 0xffffff; // stays below 2^29: no i32 overflow
      i++;
    }
    if (i >= len) return this.parseString(); // unterminated: report it there
    const n = i - start;
    const slot = hash & (KEY_CACHE_SIZE - 1);
    const cached = this.keyCache[slot];
    this.pos = i + 1;
    if (cached.length == n) {
      let k = 0;
      while (k < n && cached.charCodeAt(k) == text.charCodeAt(start + k)) k++;
      if (k == n) return cached;
    }
    const key = text.substring(start, i);
    this.keyCache[slot] = key;
    return key;
  }

  /**
   * The string starting at the current `"`. Strings without escapes are one
   * `substring`; others are joined from their pieces once. On an error
   * `failed` is set and the result is "".
   */
  parseString(): string {
    const text = this.text;
    const len = this.len;
    const open = this.pos;
    let i = open + 1;
    while (i < len) {
      const c = text.charCodeAt(i);
      if (c == QUOTE) {
        this.pos = i + 1;
        return text.substring(open + 1, i);
      }
      if (c == BACKSLASH || c < 0x20) break;
      i++;
    }
    const parts = new Array<string>();
    let from = open + 1;
    while (i < len) {
      const c = text.charCodeAt(i);
      if (c == QUOTE) {
        if (from < i) parts.push(text.substring(from, i));
        this.pos = i + 1;
        return parts.join("");
      }
      if (c < 0x20) {
        this.failWith(
          "expected an escape for control character " + unitName(c) + " in a string at offset " +
            i.toString(),
          i,
        );
        return "";
      }
      if (c != BACKSLASH) {
        i++;
        continue;
      }
      if (from < i) parts.push(text.substring(from, i));
      if (i + 1 >= len) break;
      const e = text.charCodeAt(i + 1);
      let piece = "";
      let next = i + 2;
      if (e == QUOTE) piece = '"';
      else if (e == BACKSLASH) piece = "\\";
      else if (e == SLASH) piece = "/";
      else if (e == 0x62) piece = "\b";
      else if (e == 0x66) piece = "\f";
      else if (e == 0x6e) piece = "\n";
      else if (e == 0x72) piece = "\r";
      else if (e == 0x74) piece = "\t";
      else if (e == 0x75) {
        let unit = 0;
        for (let k = 0; k < 4; k++) {
          const h = i + 2 + k < len ? hexValue(text.charCodeAt(i + 2 + k)) : -1;
          if (h < 0) {
            this.fail("expected 4 hex digits after '\\u' in a string", i + 2 + k);
            return "";
          }
          unit = unit * 16 + h;
        }
        piece = String.fromCharCode(unit);
        next = i + 6;
      } else {
        this.fail("expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u after '\\'", i + 1);
        return "";
      }
      parts.push(piece);
      i = next;
      from = next;
    }
    this.fail("expected '\"' to end the string (opened at offset " + open.toString() + ")", len);
    return "";
  }

  /**
   * A number per the JSON grammar. Up to 15 significant digits with a
   * decimal exponent within ±22 are converted exactly here (one correctly
   * rounded multiplication or division of exact doubles); the rest go
   * through `parseF64`.
   */
  parseNumber(): JsonValue | null {
    const text = this.text;
    const len = this.len;
    const start = this.pos;
    let i = start;
    let negative = false;
    if (text.charCodeAt(i) == MINUS) {
      negative = true;
      i++;
    }
    let c = i < len ? text.charCodeAt(i) : -1;
    if (!isDigit(c)) return this.fail("expected a digit after '-'", i);
    let mantissa: f64 = 0;
    let digits: i32 = 0;
    if (c == ZERO) {
      i++;
      c = i < len ? text.charCodeAt(i) : -1;
      if (isDigit(c)) {
        return this.fail("expected '.', 'e' or the end of the number after a leading 0", i);
      }
    } else {
      while (isDigit(c)) {
        mantissa = mantissa * 10 + f64(c - ZERO);
        digits++;
        i++;
        c = i < len ? text.charCodeAt(i) : -1;
      }
    }
    let scale: i32 = 0;
    if (c == DOT) {
      i++;
      c = i < len ? text.charCodeAt(i) : -1;
      if (!isDigit(c)) return this.fail("expected a digit after the decimal point", i);
      while (isDigit(c)) {
        // Leading zeros of a fraction (0.001) are not significant digits.
        if (digits > 0 || c != ZERO) {
          mantissa = mantissa * 10 + f64(c - ZERO);
          digits++;
        }
        scale--;
        i++;
        c = i < len ? text.charCodeAt(i) : -1;
      }
    }
    if (c == 0x65 || c == 0x45) {
      i++;
      c = i < len ? text.charCodeAt(i) : -1;
      let expNegative = false;
      if (c == PLUS || c == MINUS) {
        expNegative = c == MINUS;
        i++;
        c = i < len ? text.charCodeAt(i) : -1;
      }
      if (!isDigit(c)) return this.fail("expected a digit in the exponent", i);
      let exp: i32 = 0;
      while (isDigit(c)) {
        // Saturate: beyond this any exponent over- or underflows anyway.
        if (exp < 100000) exp = exp * 10 + (c - ZERO);
        i++;
        c = i < len ? text.charCodeAt(i) : -1;
      }
      scale += expNegative ? -exp : exp;
    }
    this.pos = i;
    let value: f64 = 0;
    if (digits <= 15 && scale >= -22 && scale <= 22) {
      // The mantissa (< 10^15 < 2^53) and 10^|scale| are exact doubles.
      if (scale >= 0) value = mantissa * POW10[scale];
      else value = mantissa / POW10[-scale];
      if (negative) value = -value;
    } else {
      value = parseF64(text.substring(start, i));
    }
    return JsonValue.number(value);
  }
}
