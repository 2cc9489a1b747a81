// A small JSON reader and writer for guests. Guests mostly read a few fields
// of their input and write a small object, so a dynamic value tree is enough
// and needs no compiler transform (see docs/sdk.md for the comparison with
// npm `json-as`). Under the default `stub` runtime memory is never freed, so
// the parser avoids quadratic string building: strings without escapes are
// one `substring`, others are joined once.

/** The kind of a {@link JsonValue}. */
export enum JsonKind {
  Null = 0,
  Bool = 1,
  Number = 2,
  String = 3,
  Array = 4,
  Object = 5,
}

/** Nesting deeper than this is refused by {@link parseJson}: recursion must not overflow the stack. */
export const JSON_MAX_DEPTH: i32 = 256;

/**
 * A parsed (or built) JSON value. Object keys keep their order; when a key
 * repeats, {@link get} returns the last one, as `JSON.parse` does.
 *
 * ```ts
 * const parsed = parseJson('{"name":"Ada","tags":["x"]}');
 * const name = parsed.value!.getString("name"); // "Ada"
 * ```
 */
export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  bool: bool = false;
  num: f64 = 0;
  /** A string's value, or a number's source text (kept so integers beyond 2^53 survive a round trip). */
  text: string = "";
  /** Array items, or object values (parallel to {@link keys}). */
  items: JsonValue[] | null = null;
  /** Object keys. */
  keys: string[] | null = null;

  /** `null`. */
  static null(): JsonValue {
    return new JsonValue();
  }

  /** `true` or `false`. */
  static bool(value: bool): JsonValue {
    const v = new JsonValue();
    v.kind = JsonKind.Bool;
    v.bool = value;
    return v;
  }

  /** A number; NaN and infinities serialize as `null`, as `JSON.stringify` does. */
  static number(value: f64): JsonValue {
    const v = new JsonValue();
    v.kind = JsonKind.Number;
    v.num = value;
    v.text = formatNumber(value);
    return v;
  }

  /** A string. */
  static string(value: string): JsonValue {
    const v = new JsonValue();
    v.kind = JsonKind.String;
    v.text = value;
    return v;
  }

  /** An empty array; add items with {@link push}. */
  static array(): JsonValue {
    const v = new JsonValue();
    v.kind = JsonKind.Array;
    v.items = [];
    return v;
  }

  /** An empty object; add fields with {@link set}. */
  static object(): JsonValue {
    const v = new JsonValue();
    v.kind = JsonKind.Object;
    v.items = [];
    v.keys = [];
    return v;
  }

  isNull(): bool {
    return this.kind == JsonKind.Null;
  }

  isBool(): bool {
    return this.kind == JsonKind.Bool;
  }

  isNumber(): bool {
    return this.kind == JsonKind.Number;
  }

  isString(): bool {
    return this.kind == JsonKind.String;
  }

  isArray(): bool {
    return this.kind == JsonKind.Array;
  }

  isObject(): bool {
    return this.kind == JsonKind.Object;
  }

  /** Items of an array or fields of an object; 0 for scalars. */
  get length(): i32 {
    const items = this.items;
    return items ? items.length : 0;
  }

  /** The item at `index` of an array, or null (not an array, or out of range). */
  at(index: i32): JsonValue | null {
    const items = this.items;
    if (this.kind != JsonKind.Array || !items || index < 0 || index >= items.length) return null;
    return items[index];
  }

  /** The value of `key` in an object, or null (not an object, or no such key). */
  get(key: string): JsonValue | null {
    const keys = this.keys;
    const items = this.items;
    if (this.kind != JsonKind.Object || !keys || !items) return null;
    for (let i = keys.length - 1; i >= 0; i--) {
      if (keys[i] == key) return items[i];
    }
    return null;
  }

  /** The key at `index` of an object, or null. */
  keyAt(index: i32): string | null {
    const keys = this.keys;
    if (!keys || index < 0 || index >= keys.length) return null;
    return keys[index];
  }

  /** The string value of `key`, or null when it is missing or not a string. */
  getString(key: string): string | null {
    const v = this.get(key);
    return v && v.kind == JsonKind.String ? v.text : null;
  }

  /** The number value of `key`, or `fallback` when it is missing or not a number. */
  getNumber(key: string, fallback: f64 = NaN): f64 {
    const v = this.get(key);
    return v && v.kind == JsonKind.Number ? v.num : fallback;
  }

  /** The boolean value of `key`, or `fallback` when it is missing or not a boolean. */
  getBool(key: string, fallback: bool = false): bool {
    const v = this.get(key);
    return v && v.kind == JsonKind.Bool ? v.bool : fallback;
  }

  /** Appends an item to an array; aborts when this is not an array. */
  push(value: JsonValue): JsonValue {
    assert(this.kind == JsonKind.Array, "JsonValue.push() needs an array");
    this.items!.push(value);
    return this;
  }

  /** Sets `key` in an object (replacing an earlier value); aborts when this is not an object. */
  set(key: string, value: JsonValue): JsonValue {
    assert(this.kind == JsonKind.Object, "JsonValue.set() needs an object");
    const keys = this.keys!;
    const items = this.items!;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] == key) {
        items[i] = value;
        return this;
      }
    }
    keys.push(key);
    items.push(value);
    return this;
  }

  /** Serializes this value as compact JSON. */
  toString(): string {
    const out = new JsonWriter();
    out.json(this);
    return out.toString();
  }
}

/** Result of {@link parseJson}: a value, or an error naming the offset. */
export class JsonResult {
  value: JsonValue | null = null;
  /** E.g. `expected ',' or '}' at offset 12`; null on success. */
  error: string | null = null;

  get ok(): bool {
    return this.error == null;
  }
}

/**
 * Parses JSON text (RFC 8259). Never aborts: malformed input, trailing
 * garbage and nesting deeper than {@link JSON_MAX_DEPTH} become an error.
 */
export function parseJson(text: string): JsonResult {
  const parser = new JsonParser(text);
  const result = new JsonResult();
  parser.skipSpace();
  const value = parser.parseValue(0);
  if (value) {
    parser.skipSpace();
    if (parser.pos < text.length) parser.fail("expected end of input");
  }
  const error = parser.error;
  if (error != null) result.error = error;
  else result.value = value;
  return result;
}

class JsonParser {
  pos: i32 = 0;
  error: string | null = null;

  constructor(public src: string) {}

  fail(what: string): JsonValue | null {
    if (this.error == null) this.error = what + " at offset " + this.pos.toString();
    return null;
  }

  skipSpace(): void {
    const src = this.src;
    while (this.pos < src.length) {
      const c = src.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
      this.pos++;
    }
  }

  peek(): i32 {
    return this.pos < this.src.length ? this.src.charCodeAt(this.pos) : -1;
  }

  parseValue(depth: i32): JsonValue | null {
    const c = this.peek();
    if (c == 0x7b) return this.parseObject(depth); // {
    if (c == 0x5b) return this.parseArray(depth); // [
    if (c == 0x22) { // "
      const s = this.parseString();
      return s == null ? null : JsonValue.string(s);
    }
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.parseNumber();
    if (this.literal("true")) return JsonValue.bool(true);
    if (this.literal("false")) return JsonValue.bool(false);
    if (this.literal("null")) return JsonValue.null();
    return this.fail(c < 0 ? "unexpected end of input" : "unexpected character");
  }

  literal(word: string): bool {
    const end = this.pos + word.length;
    if (end > this.src.length || this.src.substring(this.pos, end) != word) return false;
    this.pos = end;
    return true;
  }

  parseObject(depth: i32): JsonValue | null {
    if (depth >= JSON_MAX_DEPTH) {
      return this.fail("nesting deeper than " + JSON_MAX_DEPTH.toString());
    }
    this.pos++; // {
    const obj = JsonValue.object();
    const keys = obj.keys!;
    const items = obj.items!;
    this.skipSpace();
    if (this.peek() == 0x7d) {
      this.pos++;
      return obj;
    }
    while (true) {
      if (this.peek() != 0x22) return this.fail("expected a string key");
      const key = this.parseString();
      if (key == null) return null;
      this.skipSpace();
      if (this.peek() != 0x3a) return this.fail("expected ':'");
      this.pos++;
      this.skipSpace();
      const value = this.parseValue(depth + 1);
      if (!value) return null;
      keys.push(key);
      items.push(value);
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c == 0x7d) return obj;
      if (c != 0x2c) {
        this.pos--;
        return this.fail("expected ',' or '}'");
      }
      this.skipSpace();
    }
  }

  parseArray(depth: i32): JsonValue | null {
    if (depth >= JSON_MAX_DEPTH) {
      return this.fail("nesting deeper than " + JSON_MAX_DEPTH.toString());
    }
    this.pos++; // [
    const arr = JsonValue.array();
    const items = arr.items!;
    this.skipSpace();
    if (this.peek() == 0x5d) {
      this.pos++;
      return arr;
    }
    while (true) {
      const value = this.parseValue(depth + 1);
      if (!value) return null;
      items.push(value);
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c == 0x5d) return arr;
      if (c != 0x2c) {
        this.pos--;
        return this.fail("expected ',' or ']'");
      }
      this.skipSpace();
    }
  }

  parseString(): string | null {
    const src = this.src;
    this.pos++; // opening quote
    let start = this.pos;
    let parts: string[] | null = null;
    while (true) {
      if (this.pos >= src.length) {
        this.fail("unterminated string");
        return null;
      }
      const c = src.charCodeAt(this.pos);
      if (c == 0x22) {
        const tail = src.substring(start, this.pos);
        this.pos++;
        if (!parts) return tail;
        parts.push(tail);
        return parts.join("");
      }
      if (c < 0x20) {
        this.fail("unescaped control character in string");
        return null;
      }
      if (c != 0x5c) {
        this.pos++;
        continue;
      }
      if (!parts) parts = [];
      parts.push(src.substring(start, this.pos));
      this.pos++; // backslash
      const unit = this.parseEscape();
      if (unit < 0) return null;
      parts.push(String.fromCharCode(unit));
      start = this.pos;
    }
  }

  /** Decodes the escape after a backslash to one UTF-16 code unit, or -1. */
  parseEscape(): i32 {
    const c = this.peek();
    this.pos++;
    switch (c) {
      case 0x22:
        return 0x22;
      case 0x5c:
        return 0x5c;
      case 0x2f:
        return 0x2f;
      case 0x62:
        return 0x08; // \b
      case 0x66:
        return 0x0c; // \f
      case 0x6e:
        return 0x0a; // \n
      case 0x72:
        return 0x0d; // \r
      case 0x74:
        return 0x09; // \t
      case 0x75: { // \uXXXX; surrogate pairs arrive as two escapes, which UTF-16 keeps as is
        let unit = 0;
        for (let i = 0; i < 4; i++) {
          const h = hexValue(this.peek());
          if (h < 0) {
            this.fail("expected 4 hex digits after \\u");
            return -1;
          }
          unit = (unit << 4) | h;
          this.pos++;
        }
        return unit;
      }
    }
    this.pos--;
    this.fail("invalid escape");
    return -1;
  }

  parseNumber(): JsonValue | null {
    const src = this.src;
    const start = this.pos;
    if (this.peek() == 0x2d) this.pos++;
    const first = this.peek();
    if (first == 0x30) {
      this.pos++;
    } else if (first >= 0x31 && first <= 0x39) {
      this.skipDigits();
    } else {
      return this.fail("expected a digit");
    }
    if (this.peek() == 0x2e) {
      this.pos++;
      if (!isDigit(this.peek())) return this.fail("expected a digit after '.'");
      this.skipDigits();
    }
    const e = this.peek();
    if (e == 0x65 || e == 0x45) {
      this.pos++;
      const sign = this.peek();
      if (sign == 0x2b || sign == 0x2d) this.pos++;
      if (!isDigit(this.peek())) return this.fail("expected a digit in the exponent");
      this.skipDigits();
    }
    const text = src.substring(start, this.pos);
    const v = new JsonValue();
    v.kind = JsonKind.Number;
    v.num = parseFloat(text);
    v.text = text;
    return v;
  }

  skipDigits(): void {
    while (isDigit(this.peek())) this.pos++;
  }
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Formats a number as JSON: integers without ".0", NaN and infinities as `null`. */
export function formatNumber(value: f64): string {
  if (!isFinite(value)) return "null";
  if (value == Math.trunc(value) && Math.abs(value) < 9007199254740992.0) {
    return (<i64> value).toString();
  }
  return value.toString();
}

const HEX = "0123456789abcdef";

/**
 * Quotes a string as a JSON string literal. Control characters and lone
 * surrogates are escaped, so the result encodes to valid UTF-8.
 */
export function quoteJson(value: string): string {
  const n = value.length;
  let i = nextEscape(value, 0);
  if (i == n) return '"' + value + '"';
  const parts: string[] = ['"'];
  let start = 0;
  while (i < n) {
    parts.push(value.substring(start, i));
    parts.push(escapeUnit(value.charCodeAt(i)));
    start = i + 1;
    i = nextEscape(value, start);
  }
  parts.push(value.substring(start, n));
  parts.push('"');
  return parts.join("");
}

/** Index of the next code unit at or after `from` that needs escaping, or the length. */
function nextEscape(value: string, from: i32): i32 {
  const n = value.length;
  let i = from;
  while (i < n) {
    const c = value.charCodeAt(i);
    if (c == 0x22 || c == 0x5c || c < 0x20) return i;
    if (c >= 0xd800 && c <= 0xdfff) {
      // A high surrogate followed by a low one is a valid pair; anything else is lone.
      if (c <= 0xdbff && i + 1 < n && (value.charCodeAt(i + 1) & 0xfc00) == 0xdc00) {
        i += 2;
        continue;
      }
      return i;
    }
    i++;
  }
  return n;
}

function escapeUnit(c: i32): string {
  if (c == 0x22) return '\\"';
  if (c == 0x5c) return "\\\\";
  if (c == 0x0a) return "\\n";
  if (c == 0x0d) return "\\r";
  if (c == 0x09) return "\\t";
  if (c == 0x08) return "\\b";
  if (c == 0x0c) return "\\f";
  return "\\u" + HEX.charAt((c >> 12) & 15) + HEX.charAt((c >> 8) & 15) +
    HEX.charAt((c >> 4) & 15) + HEX.charAt(c & 15);
}

/**
 * Builds compact JSON text; commas are placed for you. Values take any
 * AssemblyScript type that maps to JSON: bool, integers, floats, strings
 * (null → `null`) and {@link JsonValue}.
 *
 * ```ts
 * const json = new JsonWriter().beginObject().field("greeting", "hi").field("n", 2).endObject();
 * writeOutput(json.toString()); // {"greeting":"hi","n":2}
 * ```
 */
export class JsonWriter {
  private parts: string[] = [];
  // One entry per open container: true once it holds an item (the next needs a comma).
  private filled: bool[] = [];
  private afterKey: bool = false;

  beginObject(): JsonWriter {
    this.separate();
    this.parts.push("{");
    this.filled.push(false);
    return this;
  }

  endObject(): JsonWriter {
    assert(
      this.filled.length > 0 && !this.afterKey,
      "JsonWriter.endObject() without an open object",
    );
    this.filled.pop();
    this.parts.push("}");
    return this;
  }

  beginArray(): JsonWriter {
    this.separate();
    this.parts.push("[");
    this.filled.push(false);
    return this;
  }

  endArray(): JsonWriter {
    assert(this.filled.length > 0 && !this.afterKey, "JsonWriter.endArray() without an open array");
    this.filled.pop();
    this.parts.push("]");
    return this;
  }

  /** Writes an object key; the next call writes its value. */
  key(name: string): JsonWriter {
    this.separate();
    this.parts.push(quoteJson(name));
    this.parts.push(":");
    this.afterKey = true;
    return this;
  }

  /** Writes `"name": value` in the open object. */
  field<T>(name: string, value: T): JsonWriter {
    return this.key(name).value<T>(value);
  }

  /** Writes one value (bool, integer, float, string, null string or JsonValue). */
  value<T>(value: T): JsonWriter {
    if (isBoolean<T>()) {
      this.separate();
      this.parts.push(value ? "true" : "false");
    } else if (isInteger<T>()) {
      this.separate();
      this.parts.push(value.toString());
    } else if (isFloat<T>()) {
      this.separate();
      this.parts.push(formatNumber(<f64> value));
    } else if (isString<T>()) {
      this.separate();
      if (isNullable<T>() && changetype<usize>(value) == 0) this.parts.push("null");
      else this.parts.push(quoteJson(changetype<string>(value)));
    } else if (isReference<T>()) {
      if (changetype<usize>(value) == 0) return this.null();
      assert(
        value instanceof JsonValue,
        "JsonWriter.value() takes bool, numbers, strings or JsonValue",
      );
      this.json(changetype<JsonValue>(value));
    } else {
      ERROR("JsonWriter.value() takes bool, numbers, strings or JsonValue");
    }
    return this;
  }

  /** Writes `null`. */
  null(): JsonWriter {
    this.separate();
    this.parts.push("null");
    return this;
  }

  /** Writes JSON text as is; the caller vouches that it is valid JSON. */
  raw(json: string): JsonWriter {
    this.separate();
    this.parts.push(json);
    return this;
  }

  /** Writes a {@link JsonValue} (null → `null`). */
  json(value: JsonValue | null): JsonWriter {
    if (!value) return this.null();
    switch (value.kind) {
      case JsonKind.Bool:
        return this.value<bool>(value.bool);
      case JsonKind.Number:
        return this.raw(value.text.length ? value.text : formatNumber(value.num));
      case JsonKind.String:
        return this.value<string>(value.text);
      case JsonKind.Array: {
        this.beginArray();
        const items = value.items!;
        for (let i = 0; i < items.length; i++) this.json(items[i]);
        return this.endArray();
      }
      case JsonKind.Object: {
        this.beginObject();
        const keys = value.keys!;
        const items = value.items!;
        for (let i = 0; i < keys.length; i++) this.key(keys[i]).json(items[i]);
        return this.endObject();
      }
    }
    return this.null();
  }

  /** The JSON text written so far. */
  toString(): string {
    return this.parts.join("");
  }

  private separate(): void {
    if (this.afterKey) {
      this.afterKey = false;
      return;
    }
    const depth = this.filled.length;
    if (depth == 0) return;
    if (this.filled[depth - 1]) this.parts.push(",");
    else this.filled[depth - 1] = true;
  }
}
