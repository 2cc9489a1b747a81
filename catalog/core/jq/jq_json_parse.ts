/// <reference path="../portable.d.ts" />
/**
 * JSON text → value with jq 1.6's parser rules, for `fromjson` and
 * `tonumber` (which accept more than RFC 8259): a literal is any run of
 * characters up to whitespace, a quote or `[,]{:}`; `true`, `false` and
 * `null` must be exact; anything else must be a whole C `strtod` number,
 * so `+1`, `01`, `1.`, `.5`, `NaN`, `Infinity` and `-inf` are numbers.
 * Nesting deeper than 256 is refused, as in jq.
 */
import { JsonValue } from "../json_value.ts";
// deno-lint-ignore verbatim-module-syntax
import { JqState } from "./jq_state.ts";
import { fromCodePoint, utf8Length } from "./jq_strings.ts";

const MAX_DEPTH: i32 = 256;

/**
 * Parses `text` as one JSON value the way jq's `fromjson` does; null after
 * raising the jq error ("… (while parsing '<text>')").
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { JqState } from "./jq_state.ts";
 * import { parseJqJson } from "./jq_json_parse.ts";
 * console.assert(parseJqJson(new JqState(), "[+1, .5]", 0)!.items![1].num === 0.5);
 * console.assert(parseJqJson(new JqState(), "[1,]", 0) === null);
 * ```
 */
export function parseJqJson(st: JqState, text: string, at: i32): JsonValue | null {
  const p = new JqJsonParser(text);
  p.ws();
  if (p.pos >= text.length) return fail(st, "Expected JSON value", text, at);
  const v = p.value(0);
  if (v == null) return fail(st, p.error, text, at);
  p.ws();
  if (p.pos < text.length) {
    // A stray closing bracket is a parse error; another value is "extra".
    const c = text.charCodeAt(p.pos);
    if (c == 0x5d || c == 0x7d) {
      p.failAt("Unmatched '" + String.fromCharCode(c) + "'", p.pos);
      return fail(st, p.error, text, at);
    }
    if (c == 0x2c) {
      p.failAt("Expected value before ','", p.pos);
      return fail(st, p.error, text, at);
    }
    if (c == 0x3a) {
      p.failAt("Expected string key before ':'", p.pos);
      return fail(st, p.error, text, at);
    }
    return fail(st, "Unexpected extra JSON values", text, at);
  }
  return v;
}

function fail(st: JqState, reason: string, text: string, at: i32): JsonValue | null {
  st.fail(reason + " (while parsing '" + text + "')", at);
  return null;
}

function isWs(c: i32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d;
}

function isDelimiter(c: i32): bool {
  return isWs(c) || c == 0x22 || c == 0x5b || c == 0x5d || c == 0x7b || c == 0x7d ||
    c == 0x2c || c == 0x3a;
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

class JqJsonParser {
  text: string;
  pos: i32 = 0;
  error: string = "";

  constructor(text: string) {
    this.text = text;
  }

  ws(): void {
    const t = this.text;
    while (this.pos < t.length && isWs(t.charCodeAt(this.pos))) this.pos++;
  }

  /**
   * Records `reason` at character `at` the way jq reports it: "at line L,
   * column C" (UTF-8 bytes, the character included), or "at EOF at …".
   */
  failAt(reason: string, at: i32): JsonValue | null {
    if (this.error.length > 0) return null;
    const t = this.text;
    const eof = at >= t.length;
    const end = eof ? t.length : at;
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < end; i++) {
      if (t.charCodeAt(i) == 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    let column = utf8Length(t.substring(lineStart, end));
    if (!eof) column++;
    this.error = reason + (eof ? " at EOF" : "") + " at line " + line.toString() + ", column " +
      column.toString();
    return null;
  }

  /** Where jq sees the value token starting at `start`: a literal's end, a string's closing quote. */
  delivery(start: i32): i32 {
    const t = this.text;
    if (start >= t.length) return t.length;
    const c = t.charCodeAt(start);
    if (c == 0x5b || c == 0x7b) return start;
    if (c == 0x22) return closingQuote(t, start);
    let p = start;
    while (p < t.length && !isDelimiter(t.charCodeAt(p))) p++;
    return p;
  }

  value(depth: i32): JsonValue | null {
    const t = this.text;
    if (this.pos >= t.length) return this.failAt("Unfinished JSON term", t.length);
    const c = t.charCodeAt(this.pos);
    if (c == 0x5b || c == 0x7b) {
      if (depth >= MAX_DEPTH) return this.failAt("Exceeds depth limit for parsing", this.pos);
      return c == 0x5b ? this.array(depth + 1) : this.object(depth + 1);
    }
    if (c == 0x22) return this.string();
    if (c == 0x2c) return this.failAt("Expected value before ','", this.pos);
    if (c == 0x5d || c == 0x7d) {
      return this.failAt("Unmatched '" + String.fromCharCode(c) + "'", this.pos);
    }
    if (c == 0x3a) return this.failAt("Expected string key before ':'", this.pos);
    return this.literal();
  }

  /** After a complete value inside an array or object: what jq says about `c` at `pos`. */
  separatorError(c: i32, inObject: bool): JsonValue | null {
    if (c == 0x3a) return this.failAt("':' not as part of an object", this.pos);
    if (c == 0x7d && !inObject) {
      return this.failAt("Objects must consist of key:value pairs", this.pos);
    }
    if (c == 0x5d && inObject) return this.failAt("Unmatched ']'", this.pos);
    return this.failAt("Expected separator between values", this.delivery(this.pos));
  }

  array(depth: i32): JsonValue | null {
    const t = this.text;
    this.pos++;
    const items = new Array<JsonValue>();
    this.ws();
    if (this.pos < t.length && t.charCodeAt(this.pos) == 0x5d) {
      this.pos++;
      return JsonValue.array(items);
    }
    while (true) {
      this.ws();
      if (this.pos < t.length && t.charCodeAt(this.pos) == 0x5d) {
        return this.failAt("Expected another array element", this.pos);
      }
      const v = this.value(depth);
      if (v == null) return null;
      items.push(v);
      this.ws();
      if (this.pos >= t.length) return this.failAt("Unfinished JSON term", t.length);
      const c = t.charCodeAt(this.pos);
      if (c == 0x2c) {
        this.pos++;
        continue;
      }
      if (c == 0x5d) {
        this.pos++;
        return JsonValue.array(items);
      }
      return this.separatorError(c, false);
    }
  }

  object(depth: i32): JsonValue | null {
    const t = this.text;
    this.pos++;
    const out = JsonValue.object();
    this.ws();
    if (this.pos < t.length && t.charCodeAt(this.pos) == 0x7d) {
      this.pos++;
      return out;
    }
    while (true) {
      this.ws();
      if (this.pos >= t.length) return this.failAt("Unfinished JSON term", t.length);
      const c0 = t.charCodeAt(this.pos);
      if (c0 == 0x7d) return this.failAt("Expected another key-value pair", this.pos);
      if (c0 != 0x22) {
        if (c0 == 0x3a) return this.failAt("Expected string key before ':'", this.pos);
        const v = this.value(depth);
        if (v == null) return null;
        this.ws();
        if (this.pos >= t.length) return this.failAt("Unfinished JSON term", t.length);
        if (t.charCodeAt(this.pos) == 0x3a) {
          return this.failAt("Object keys must be strings", this.pos);
        }
        return this.failAt("Objects must consist of key:value pairs", this.pos);
      }
      const key = this.string();
      if (key == null) return null;
      this.ws();
      if (this.pos >= t.length) return this.failAt("Unfinished JSON term", t.length);
      const colon = t.charCodeAt(this.pos);
      if (colon != 0x3a) {
        if (colon == 0x7d || colon == 0x2c) {
          return this.failAt("Objects must consist of key:value pairs", this.pos);
        }
        return this.separatorError(colon, true);
      }
      this.pos++;
      this.ws();
      if (this.pos < t.length && t.charCodeAt(this.pos) == 0x7d) {
        return this.failAt("Unmatched '}'", this.pos);
      }
      const v = this.value(depth);
      if (v == null) return null;
      out.set(key.str, v);
      this.ws();
      if (this.pos >= t.length) return this.failAt("Unfinished JSON term", t.length);
      const c = t.charCodeAt(this.pos);
      if (c == 0x2c) {
        this.pos++;
        continue;
      }
      if (c == 0x7d) {
        this.pos++;
        return out;
      }
      return this.separatorError(c, true);
    }
  }

  string(): JsonValue | null {
    const t = this.text;
    const open = this.pos;
    const close = closingQuote(t, open);
    if (close >= t.length) return this.failAt("Unfinished string", t.length);
    this.pos++;
    const parts = new Array<string>();
    let run = this.pos;
    while (true) {
      const c = t.charCodeAt(this.pos);
      if (this.pos == close) {
        if (this.pos > run) parts.push(t.substring(run, this.pos));
        this.pos++;
        return JsonValue.string(parts.join(""));
      }
      if (c < 0x20) {
        return this.failAt(
          "Invalid string: control characters from U+0000 through U+001F must be escaped",
          close,
        );
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        const pair = c <= 0xdbff && this.pos + 1 < t.length &&
          t.charCodeAt(this.pos + 1) >= 0xdc00 && t.charCodeAt(this.pos + 1) <= 0xdfff;
        if (pair) {
          this.pos += 2;
          continue;
        }
        // Not valid UTF-8 for jq: it reads a replacement character.
        if (this.pos > run) parts.push(t.substring(run, this.pos));
        parts.push("\ufffd");
        this.pos++;
        run = this.pos;
        continue;
      }
      if (c != 0x5c) {
        this.pos++;
        continue;
      }
      if (this.pos > run) parts.push(t.substring(run, this.pos));
      this.pos++;
      const e = t.charCodeAt(this.pos);
      this.pos++;
      if (e == 0x22) parts.push('"');
      else if (e == 0x5c) parts.push("\\");
      else if (e == 0x2f) parts.push("/");
      else if (e == 0x62) parts.push("\b");
      else if (e == 0x66) parts.push("\f");
      else if (e == 0x6e) parts.push("\n");
      else if (e == 0x72) parts.push("\r");
      else if (e == 0x74) parts.push("\t");
      else if (e == 0x75) {
        const cp = this.pos + 4 <= close ? this.hex4(this.pos) : -2;
        if (cp == -2) return this.failAt("Invalid \\uXXXX escape", close);
        if (cp < 0) return this.failAt("Invalid characters in \\uXXXX escape", close);
        this.pos += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          const ok = this.pos + 6 <= close && t.charCodeAt(this.pos) == 0x5c &&
            t.charCodeAt(this.pos + 1) == 0x75;
          const low = ok ? this.hex4(this.pos + 2) : -1;
          if (low < 0xdc00 || low > 0xdfff) {
            return this.failAt("Invalid \\uXXXX\\uXXXX surrogate pair escape", close);
          }
          this.pos += 6;
          parts.push(String.fromCharCode(cp) + String.fromCharCode(low));
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
          parts.push("\ufffd");
        } else {
          parts.push(fromCodePoint(cp));
        }
      } else {
        return this.failAt("Invalid escape", close);
      }
      run = this.pos;
    }
  }

  /** Four hex digits at `at`: the value, or -1 for a bad digit. */
  hex4(at: i32): i32 {
    const t = this.text;
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = t.charCodeAt(at + i);
      let d = -1;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  }

  literal(): JsonValue | null {
    const t = this.text;
    const start = this.pos;
    while (this.pos < t.length && !isDelimiter(t.charCodeAt(this.pos))) this.pos++;
    const tok = t.substring(start, this.pos);
    const c0 = tok.charCodeAt(0);
    if (c0 == 0x74 || c0 == 0x66 || c0 == 0x6e) {
      if (tok == "true") return JsonValue.bool(true);
      if (tok == "false") return JsonValue.bool(false);
      if (tok == "null") return JsonValue.null();
      return this.failAt("Invalid literal", this.pos);
    }
    const n = strtodWhole(tok);
    if (n == null) return this.failAt("Invalid numeric literal", this.pos);
    return n;
  }
}

/** Index of the quote closing the string that opens at `open` (text length if none). */
function closingQuote(t: string, open: i32): i32 {
  let p = open + 1;
  while (p < t.length) {
    const c = t.charCodeAt(p);
    if (c == 0x5c) {
      p += 2;
      continue;
    }
    if (c == 0x22) return p;
    p++;
  }
  return t.length;
}

/** C `strtod` of the whole token (leading \v \f skipped, inf/nan words), or null. */
function strtodWhole(tok: string): JsonValue | null {
  let i = 0;
  while (i < tok.length && (tok.charCodeAt(i) == 0x0b || tok.charCodeAt(i) == 0x0c)) i++;
  let negative = false;
  if (i < tok.length && (tok.charCodeAt(i) == 0x2b || tok.charCodeAt(i) == 0x2d)) {
    negative = tok.charCodeAt(i) == 0x2d;
    i++;
  }
  const rest = tok.substring(i).toLowerCase();
  if (rest == "inf" || rest == "infinity") return JsonValue.number(negative ? -Infinity : Infinity);
  if (rest == "nan") return JsonValue.number(NaN);
  const n = tok.length;
  const intStart = i;
  while (i < n && isDigit(tok.charCodeAt(i))) i++;
  const intEnd = i;
  let fracStart = i;
  let fracEnd = i;
  if (i < n && tok.charCodeAt(i) == 0x2e) {
    i++;
    fracStart = i;
    while (i < n && isDigit(tok.charCodeAt(i))) i++;
    fracEnd = i;
  }
  if (intEnd == intStart && fracEnd == fracStart) return null;
  let exp = "";
  if (i < n && (tok.charCodeAt(i) == 0x65 || tok.charCodeAt(i) == 0x45)) {
    let j = i + 1;
    let sign = "";
    if (j < n && (tok.charCodeAt(j) == 0x2b || tok.charCodeAt(j) == 0x2d)) {
      sign = tok.charAt(j);
      j++;
    }
    const digits = j;
    while (j < n && isDigit(tok.charCodeAt(j))) j++;
    if (j > digits) {
      exp = "e" + sign + tok.substring(digits, j);
      i = j;
    }
  }
  if (i != n) return null;
  let intText = tok.substring(intStart, intEnd);
  let z = 0;
  while (z < intText.length - 1 && intText.charCodeAt(z) == 0x30) z++;
  intText = intText.substring(z);
  if (intText.length == 0) intText = "0";
  const frac = tok.substring(fracStart, fracEnd);
  const value = parseF64(intText + (frac.length > 0 ? "." + frac : "") + exp);
  return JsonValue.number(negative ? -value : value);
}
