/// <reference path="../portable.d.ts" />
/**
 * Compact JSON text exactly as jq 1.6 writes it (`tojson`, `tostring`,
 * `@json`, `@text`, error messages): numbers through
 * {@link formatJqNumber}, DEL escaped as `\u007f`, other non-ASCII
 * characters written as they are, objects in insertion order.
 */
import { JsonValue, Kind } from "../json_value.ts";
import { formatJqNumber } from "./jq_number_text.ts";

const HEX = "0123456789abcdef";

/**
 * jq 1.6's compact JSON text for `value`.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { fromJs } from "../../native/js_bridge.ts";
 * import { dumpJq } from "./jq_dump.ts";
 * console.assert(dumpJq(fromJs({ a: [1e-5, "\x7f"] })) === '{"a":[1e-05,"\\u007f"]}');
 * ```
 */
export function dumpJq(value: JsonValue): string {
  const parts = new Array<string>();
  dumpInto(value, parts);
  return parts.join("");
}

/**
 * Appends jq's text for `value` to `parts`. Iterative (an explicit stack of
 * open containers), so nesting depth is bounded only by memory.
 */
export function dumpInto(value: JsonValue, parts: Array<string>): void {
  const stack = new Array<JsonValue>();
  const next = new Array<i32>();
  let v = value;
  while (true) {
    // Write v (scalars whole; containers opened and pushed).
    switch (v.kind) {
      case Kind.Null:
        parts.push("null");
        break;
      case Kind.False:
        parts.push("false");
        break;
      case Kind.True:
        parts.push("true");
        break;
      case Kind.Number:
        parts.push(formatJqNumber(v.num));
        break;
      case Kind.String:
        quoteInto(v.str, parts);
        break;
      case Kind.Array:
        parts.push("[");
        stack.push(v);
        next.push(0);
        break;
      default:
        parts.push("{");
        stack.push(v);
        next.push(0);
    }
    // Find the next value to write, closing finished containers.
    let found = false;
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const i = next[next.length - 1];
      if (i < top.size()) {
        next[next.length - 1] = i + 1;
        if (i > 0) parts.push(",");
        if (top.kind == Kind.Array) {
          v = top.items![i];
        } else {
          quoteInto(top.keys![i], parts);
          parts.push(":");
          v = top.vals![i];
        }
        found = true;
        break;
      }
      parts.push(top.kind == Kind.Array ? "]" : "}");
      stack.pop();
      next.pop();
    }
    if (!found) return;
  }
}

/** Appends `text` as a jq string literal (quotes included). */
export function quoteInto(text: string, parts: Array<string>): void {
  parts.push('"');
  const n = text.length;
  let run = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    let esc = "";
    if (c == 0x22) {
      esc = '\\"';
    } else if (c == 0x5c) {
      esc = "\\\\";
    } else if (c < 0x20 || c == 0x7f) {
      if (c == 0x08) esc = "\\b";
      else if (c == 0x09) esc = "\\t";
      else if (c == 0x0a) esc = "\\n";
      else if (c == 0x0c) esc = "\\f";
      else if (c == 0x0d) esc = "\\r";
      else esc = unicodeEscape(c);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      // A well-formed surrogate pair is written as is; a lone surrogate
      // (which jq strings cannot hold) is escaped to keep the text valid.
      const pair = c <= 0xdbff && i + 1 < n && text.charCodeAt(i + 1) >= 0xdc00 &&
        text.charCodeAt(i + 1) <= 0xdfff;
      if (pair) {
        i++;
        continue;
      }
      esc = unicodeEscape(c);
    } else {
      continue;
    }
    if (i > run) parts.push(text.substring(run, i));
    parts.push(esc);
    run = i + 1;
  }
  if (run == 0) parts.push(text);
  else if (run < n) parts.push(text.substring(run));
  parts.push('"');
}

function unicodeEscape(c: i32): string {
  return "\\u" + HEX.charAt((c >> 12) & 15) + HEX.charAt((c >> 8) & 15) +
    HEX.charAt((c >> 4) & 15) + HEX.charAt(c & 15);
}
