/// <reference path="../portable.d.ts" />
/**
 * jq 1.6's `@format` strings: `@text`, `@json`, `@html`, `@uri`, `@csv`,
 * `@tsv`, `@sh`, `@base64`, `@base64d`. Any other name fails when it runs
 * ("<name> is not a valid format"), as in jq.
 */
import { JsonValue, Kind } from "../json_value.ts";
import { dumpJq } from "./jq_dump.ts";
import { typeErrorText } from "./jq_messages.ts";
// deno-lint-ignore verbatim-module-syntax
import { JqState } from "./jq_state.ts";
import { decodeUtf8, utf8Bytes } from "./jq_strings.ts";

const HEX_UPPER = "0123456789ABCDEF";
const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URI_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()";

/**
 * Applies format `name` to `v`; null after raising the jq error.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { JsonValue } from "../json_value.ts";
 * import { JqState } from "./jq_state.ts";
 * import { applyFormat } from "./jq_formats.ts";
 * console.assert(applyFormat(new JqState(), "base64", JsonValue.string("é"), 0) === "w6k=");
 * ```
 */
export function applyFormat(st: JqState, name: string, v: JsonValue, at: i32): string | null {
  if (name == "text") return textOf(v);
  if (name == "json") return dumpJq(v);
  if (name == "html") return html(textOf(v));
  if (name == "uri") return uri(textOf(v));
  if (name == "csv" || name == "tsv") return row(st, name == "csv", v, at);
  if (name == "sh") return shell(st, v, at);
  if (name == "base64") return base64(textOf(v));
  if (name == "base64d") return base64Decode(st, v, at);
  st.fail(name + " is not a valid format", at);
  return null;
}

/** `tostring`: strings as they are, other values as JSON text. */
export function textOf(v: JsonValue): string {
  return v.kind == Kind.String ? v.str : dumpJq(v);
}

function html(s: string): string {
  const parts = new Array<string>();
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep = "";
    if (c == 0x3c) rep = "&lt;";
    else if (c == 0x3e) rep = "&gt;";
    else if (c == 0x26) rep = "&amp;";
    else if (c == 0x27) rep = "&apos;";
    else if (c == 0x22) rep = "&quot;";
    else continue;
    if (i > run) parts.push(s.substring(run, i));
    parts.push(rep);
    run = i + 1;
  }
  if (run == 0) return s;
  if (run < s.length) parts.push(s.substring(run));
  return parts.join("");
}

function uri(s: string): string {
  const bytes = utf8Bytes(s);
  const parts = new Array<string>();
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b < 0x80 && URI_UNRESERVED.indexOf(String.fromCharCode(b)) >= 0) {
      parts.push(String.fromCharCode(b));
    } else {
      parts.push("%" + HEX_UPPER.charAt(b >> 4) + HEX_UPPER.charAt(b & 15));
    }
  }
  return parts.join("");
}

function row(st: JqState, csv: bool, v: JsonValue, at: i32): string | null {
  if (v.kind != Kind.Array) {
    st.fail(
      typeErrorText(v) +
        (csv ? " cannot be csv-formatted, only array" : " cannot be tsv-formatted, only array"),
      at,
    );
    return null;
  }
  const items = v.items!;
  const parts = new Array<string>();
  for (let i = 0; i < items.length; i++) {
    if (i > 0) parts.push(csv ? "," : "\t");
    const x = items[i];
    switch (x.kind) {
      case Kind.Null:
        break;
      case Kind.True:
      case Kind.False:
        parts.push(dumpJq(x));
        break;
      case Kind.Number:
        if (x.num == x.num) parts.push(dumpJq(x));
        break;
      case Kind.String:
        if (csv) {
          parts.push('"');
          parts.push(x.str.split('"').join('""'));
          parts.push('"');
        } else {
          parts.push(tsvEscape(x.str));
        }
        break;
      default:
        st.fail(typeErrorText(x) + " is not valid in a csv row", at);
        return null;
    }
  }
  return parts.join("");
}

function tsvEscape(s: string): string {
  const parts = new Array<string>();
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep = "";
    if (c == 0x09) rep = "\\t";
    else if (c == 0x0d) rep = "\\r";
    else if (c == 0x0a) rep = "\\n";
    else if (c == 0x5c) rep = "\\\\";
    else continue;
    if (i > run) parts.push(s.substring(run, i));
    parts.push(rep);
    run = i + 1;
  }
  if (run == 0) return s;
  if (run < s.length) parts.push(s.substring(run));
  return parts.join("");
}

function shell(st: JqState, v: JsonValue, at: i32): string | null {
  const items = v.kind == Kind.Array ? v.items! : [v];
  const parts = new Array<string>();
  for (let i = 0; i < items.length; i++) {
    if (i > 0) parts.push(" ");
    const x = items[i];
    if (x.kind == Kind.String) {
      parts.push("'");
      parts.push(x.str.split("'").join("'\\''"));
      parts.push("'");
    } else if (x.kind == Kind.Array || x.kind == Kind.Object) {
      st.fail(typeErrorText(x) + " can not be escaped for shell", at);
      return null;
    } else {
      parts.push(dumpJq(x));
    }
  }
  return parts.join("");
}

function base64(s: string): string {
  const bytes = utf8Bytes(s);
  const parts = new Array<string>();
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const x = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    parts.push(BASE64.charAt((x >> 18) & 63));
    parts.push(BASE64.charAt((x >> 12) & 63));
    parts.push(BASE64.charAt((x >> 6) & 63));
    parts.push(BASE64.charAt(x & 63));
  }
  if (n - i == 1) {
    const x = bytes[i] << 16;
    parts.push(BASE64.charAt((x >> 18) & 63));
    parts.push(BASE64.charAt((x >> 12) & 63));
    parts.push("==");
  } else if (n - i == 2) {
    const x = (bytes[i] << 16) | (bytes[i + 1] << 8);
    parts.push(BASE64.charAt((x >> 18) & 63));
    parts.push(BASE64.charAt((x >> 12) & 63));
    parts.push(BASE64.charAt((x >> 6) & 63));
    parts.push("=");
  }
  return parts.join("");
}

function base64Value(c: i32): i32 {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  if (c == 0x2b) return 62;
  if (c == 0x2f) return 63;
  return -1;
}

/** `@base64d`: decodes up to the first "=", refusing other characters; bad UTF-8 becomes U+FFFD. */
function base64Decode(st: JqState, v: JsonValue, at: i32): string | null {
  const s = textOf(v);
  const input = JsonValue.string(s);
  const out = new Array<i32>();
  let code = 0;
  let count = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x3d) break;
    const d = base64Value(c);
    if (d < 0) {
      st.fail(typeErrorText(input) + " is not valid base64 data", at);
      return null;
    }
    code = (code << 6) | d;
    count++;
    if (count == 4) {
      out.push((code >> 16) & 0xff);
      out.push((code >> 8) & 0xff);
      out.push(code & 0xff);
      code = 0;
      count = 0;
    }
  }
  if (count == 3) {
    out.push((code >> 10) & 0xff);
    out.push((code >> 2) & 0xff);
  } else if (count == 2) {
    out.push((code >> 4) & 0xff);
  } else if (count == 1) {
    st.fail(typeErrorText(input) + " trailing base64 byte found", at);
    return null;
  }
  return decodeUtf8(out);
}
