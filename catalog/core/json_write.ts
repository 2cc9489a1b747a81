/// <reference path="./portable.d.ts" />
/**
 * {@link JsonValue} → JSON text, exactly as `JSON.stringify` writes the
 * equivalent JavaScript value (objects in insertion order). Portable
 * AssemblyScript: both builds produce the same bytes.
 *
 * Output is collected as pieces (keys and strings that need no escaping are
 * pushed as they are), joined into a chunk every 4096 pieces and the chunks
 * once at the end: string concatenation in a loop would be quadratic in the
 * wasm build, whose allocator never frees, and one huge piece array would
 * cost as much memory again as the text. The writer is iterative, so
 * nesting depth is bounded only by memory.
 */
// AssemblyScript has no `import type`: type-only names are imported as values.
// deno-lint-ignore verbatim-module-syntax
import { JsonValue, Kind } from "./json_value.ts";

/**
 * Compact JSON text, like `JSON.stringify(value)`: strings escape `"` `\`
 * and control characters (`\b \f \n \r \t`, others `\u00xx`) and lone
 * surrogates (`\udxxx`); -0 is `0`; NaN and ±Infinity are `null`.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { JsonValue } from "./json_value.ts";
 * import { writeJson } from "./json_write.ts";
 *
 * const v = JsonValue.object().set("a", JsonValue.string("x\n")).set("b", JsonValue.number(-0));
 * console.assert(writeJson(v) === '{"a":"x\\n","b":0}');
 * ```
 */
export function writeJson(value: JsonValue): string {
  return writeJsonPretty(value, 0);
}

/**
 * Indented JSON text, like `JSON.stringify(value, null, indent)`: `indent`
 * spaces per level, clamped to 10; 0 or less gives compact text.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { JsonValue } from "./json_value.ts";
 * import { writeJsonPretty } from "./json_write.ts";
 *
 * const v = JsonValue.object().set("a", JsonValue.array([JsonValue.number(1)]));
 * console.assert(writeJsonPretty(v, 2) === '{\n  "a": [\n    1\n  ]\n}');
 * ```
 */
export function writeJsonPretty(value: JsonValue, indent: i32): string {
  const writer = new JsonWriter(indent < 0 ? 0 : indent > 10 ? 10 : indent);
  writer.write(value);
  return writer.text();
}

/**
 * A JSON string literal for `text`, quotes included, escaped like
 * `JSON.stringify(text)`.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { quoteJsonString } from "./json_write.ts";
 * console.assert(quoteJsonString('say "hi"') === '"say \\"hi\\""');
 * ```
 */
export function quoteJsonString(text: string): string {
  const parts = new Array<string>();
  parts.push('"');
  pushEscaped(parts, text);
  parts.push('"');
  return parts.join("");
}

/**
 * Number text as `JSON.stringify` writes it: integers below 2^53 directly,
 * others through the platform's `formatF64`; non-finite values as `null`.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { formatJsonNumber } from "./json_write.ts";
 * console.assert(formatJsonNumber(-0) === "0" && formatJsonNumber(1e21) === "1e+21");
 * ```
 */
export function formatJsonNumber(x: f64): string {
  if (x != x || x == Infinity || x == -Infinity) return "null";
  if (x == 0) return "0"; // and -0
  if (x >= -2147483648 && x <= 2147483647 && x == Math.floor(x)) return i32(x).toString();
  const magnitude = x < 0 ? -x : x;
  if (magnitude < 9007199254740992 && magnitude == Math.floor(magnitude)) {
    // Exact integer below 2^53: its decimal digits are the shortest form. Split
    // in two i32-sized halves (no i64 in portable code).
    const high = Math.floor(magnitude / 1e9);
    const low = i32(magnitude - high * 1e9);
    const lowText = low.toString();
    return (x < 0 ? "-" : "") + i32(high).toString() + ZEROS.substring(0, 9 - lowText.length) +
      lowText;
  }
  return formatF64(x);
}

const ZEROS = "000000000";
const HEX = "0123456789abcdef";

/** `\u00xx` and the short escapes for U+0000..U+001F, as `JSON.stringify` writes them. */
const CONTROL_ESCAPES: Array<string> = [
  "\\u0000",
  "\\u0001",
  "\\u0002",
  "\\u0003",
  "\\u0004",
  "\\u0005",
  "\\u0006",
  "\\u0007",
  "\\b",
  "\\t",
  "\\n",
  "\\u000b",
  "\\f",
  "\\r",
  "\\u000e",
  "\\u000f",
  "\\u0010",
  "\\u0011",
  "\\u0012",
  "\\u0013",
  "\\u0014",
  "\\u0015",
  "\\u0016",
  "\\u0017",
  "\\u0018",
  "\\u0019",
  "\\u001a",
  "\\u001b",
  "\\u001c",
  "\\u001d",
  "\\u001e",
  "\\u001f",
];

/** Pushes `text` escaped (without quotes) onto `parts`: unescaped runs as they are. */
function pushEscaped(parts: Array<string>, text: string): void {
  const n = text.length;
  let from = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    let escape = "";
    if (c < 0x20) {
      escape = CONTROL_ESCAPES[c];
    } else if (c == 0x22) {
      escape = '\\"';
    } else if (c == 0x5c) {
      escape = "\\\\";
    } else if (c >= 0xd800 && c <= 0xdfff) {
      // A high surrogate followed by a low one is a pair, written as is.
      if (c <= 0xdbff && i + 1 < n) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          i++;
          continue;
        }
      }
      escape = "\\u" + HEX.charAt((c >> 12) & 15) + HEX.charAt((c >> 8) & 15) +
        HEX.charAt((c >> 4) & 15) + HEX.charAt(c & 15);
    } else {
      continue;
    }
    if (from < i) parts.push(text.substring(from, i));
    parts.push(escape);
    from = i + 1;
  }
  if (from == 0) {
    if (n > 0) parts.push(text);
  } else if (from < n) {
    parts.push(text.substring(from, n));
  }
}

/** Pieces joined into one chunk at a time, so the piece array stays small. */
const CHUNK_PIECES: i32 = 4096;

/** The iterative writer: a stack of open containers and the next index in each. */
class JsonWriter {
  parts: Array<string> = new Array<string>();
  chunks: Array<string> = new Array<string>();
  indent: i32;
  /** `"\n"` plus the indentation of each depth, built on first use. */
  newlines: Array<string> = new Array<string>();
  /** The same with a leading `,`. */
  commaNewlines: Array<string> = new Array<string>();

  constructor(indent: i32) {
    this.indent = indent;
  }

  /** The text written so far. */
  text(): string {
    this.flush();
    const chunks = this.chunks;
    return chunks.length == 1 ? chunks[0] : chunks.join("");
  }

  flush(): void {
    if (this.parts.length == 0) return;
    this.chunks.push(this.parts.join(""));
    this.parts.length = 0;
  }

  /** What goes before element `i` of a container at `depth` (pretty text only). */
  separator(depth: i32, i: i32): string {
    const newlines = this.newlines;
    while (newlines.length <= depth) {
      const d = newlines.length;
      const line = d == 0 ? "\n" : newlines[d - 1] + " ".repeat(this.indent);
      newlines.push(line);
      this.commaNewlines.push("," + line);
    }
    return i > 0 ? this.commaNewlines[depth] : newlines[depth];
  }

  write(root: JsonValue): void {
    const parts = this.parts;
    const pretty = this.indent > 0;
    const stack = new Array<JsonValue>();
    const next = new Array<i32>();
    let value = root;
    for (;;) {
      if (parts.length >= CHUNK_PIECES) this.flush();
      // Write `value`; a non-empty container is opened and its children follow.
      const kind = value.kind;
      if (kind == Kind.String) {
        parts.push('"');
        pushEscaped(parts, value.str);
        parts.push('"');
      } else if (kind == Kind.Number) {
        parts.push(formatJsonNumber(value.num));
      } else if (kind == Kind.Array || kind == Kind.Object) {
        if (value.size() == 0) {
          parts.push(kind == Kind.Array ? "[]" : "{}");
        } else {
          parts.push(kind == Kind.Array ? "[" : "{");
          stack.push(value);
          next.push(0);
        }
      } else {
        parts.push(kind == Kind.Null ? "null" : kind == Kind.True ? "true" : "false");
      }

      // Find the next value to write, closing finished containers.
      let found = false;
      while (stack.length > 0) {
        const depth = stack.length;
        const top = stack[depth - 1];
        const i = next[depth - 1];
        if (i < top.size()) {
          next[depth - 1] = i + 1;
          if (top.kind == Kind.Array) {
            if (pretty) parts.push(this.separator(depth, i));
            else if (i > 0) parts.push(",");
            value = top.items![i];
          } else {
            if (pretty) {
              parts.push(this.separator(depth, i));
              parts.push('"');
            } else {
              parts.push(i > 0 ? ',"' : '"');
            }
            pushEscaped(parts, top.keys![i]);
            parts.push(pretty ? '": ' : '":');
            value = top.vals![i];
          }
          found = true;
          break;
        }
        stack.pop();
        next.pop();
        if (pretty) parts.push(this.separator(depth - 1, 0));
        parts.push(top.kind == Kind.Array ? "]" : "}");
      }
      if (!found) return;
    }
  }
}
