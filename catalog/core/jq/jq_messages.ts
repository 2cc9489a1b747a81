/// <reference path="../portable.d.ts" />
/**
 * The value excerpts jq 1.6 puts in its error messages: JSON text cut to a
 * small buffer with a `...` marker (`jv_dump_string_trunc`), and the
 * `type (excerpt)` form of its type errors.
 */
// deno-lint-ignore verbatim-module-syntax
import { JsonValue } from "../json_value.ts";
import { dumpJq } from "./jq_dump.ts";

/**
 * jq's `jv_dump_string_trunc(value, buf, size)`: the JSON text, and when it
 * is longer than `size - 1` UTF-8 bytes, its first `size - 4` bytes and "...".
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { JsonValue } from "../json_value.ts";
 * import { dumpTruncated } from "./jq_messages.ts";
 * console.assert(dumpTruncated(JsonValue.string("abcdefghijklmnop"), 15) === '"abcdefghij...');
 * ```
 */
export function dumpTruncated(value: JsonValue, size: i32): string {
  return truncateUtf8(dumpJq(value), size);
}

/** Cuts `text` like jq cuts a C buffer of `size` bytes (never inside a character). */
export function truncateUtf8(text: string, size: i32): string {
  const limit = size - 1;
  let bytes = 0;
  let cut = -1;
  const keep = size - 4;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let w = 1;
    if (c >= 0x80) w = c < 0x800 ? 2 : (c >= 0xd800 && c <= 0xdbff ? 4 : 3);
    if (cut < 0 && bytes + w > keep) cut = i;
    bytes += w;
    if (w == 4) i++;
    if (bytes > limit) return text.substring(0, cut) + "...";
  }
  return text;
}

/** `kind (excerpt)`, as in "number (1) and string ("a") cannot be added". */
export function typeErrorText(value: JsonValue): string {
  return value.typeName() + " (" + dumpTruncated(value, 15) + ")";
}
