/// <reference path="./portable.d.ts" />
/**
 * JSON Pointer (RFC 6901): parse, build and resolve pointers such as
 * `/items/0/name`. Tokens escape `~` as `~0` and `/` as `~1`. Portable
 * AssemblyScript (both builds).
 */
// AssemblyScript has no `import type`: type-only names are imported as values.
// deno-lint-ignore verbatim-module-syntax
import { JsonValue } from "./json_value.ts";

/**
 * The value `pointer` refers to in `root`, or null when the pointer is
 * malformed or names nothing (a missing key, an index out of range, `-`,
 * an index with leading zeros, or a step into a scalar). `""` is the root.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { fromJs } from "../native/js_bridge.ts";
 * import { pointerGet } from "./json_pointer.ts";
 *
 * const doc = fromJs({ "a/b": [10, 20], "m~n": true });
 * console.assert(pointerGet(doc, "/a~1b/1")!.num === 20);
 * console.assert(pointerGet(doc, "/m~0n")!.isTruthy());
 * console.assert(pointerGet(doc, "/a~1b/2") === null);
 * ```
 */
export function pointerGet(root: JsonValue, pointer: string): JsonValue | null {
  const tokens = parsePointer(pointer);
  if (tokens == null) return null;
  let current: JsonValue = root;
  for (let t = 0, n = tokens.length; t < n; t++) {
    const token = tokens[t];
    let next: JsonValue | null = null;
    if (current.isObject()) {
      next = current.get(token);
    } else if (current.isArray()) {
      const index = arrayIndex(token);
      if (index >= 0 && index < current.size()) next = current.items![index];
    }
    if (next == null) return null;
    current = next;
  }
  return current;
}

/**
 * The unescaped reference tokens of `pointer` (`[]` for `""`), or null when it
 * is not a JSON Pointer: it must be empty or start with `/`, and every `~`
 * must be followed by `0` or `1`.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { parsePointer } from "./json_pointer.ts";
 * console.assert(parsePointer("/a~1b/~0/")!.join("|") === "a/b|~|");
 * console.assert(parsePointer("a") === null && parsePointer("/~2") === null);
 * ```
 */
export function parsePointer(pointer: string): Array<string> | null {
  const tokens = new Array<string>();
  const n = pointer.length;
  if (n == 0) return tokens;
  if (pointer.charCodeAt(0) != 0x2f) return null;
  let start = 1;
  let escaped = false;
  for (let i = 1; i <= n; i++) {
    const c = i < n ? pointer.charCodeAt(i) : 0x2f;
    if (c == 0x7e) {
      const d = i + 1 < n ? pointer.charCodeAt(i + 1) : -1;
      if (d != 0x30 && d != 0x31) return null;
      escaped = true;
      i++;
    } else if (c == 0x2f) {
      const raw = pointer.substring(start, i);
      tokens.push(escaped ? unescapeToken(raw) : raw);
      start = i + 1;
      escaped = false;
    }
  }
  return tokens;
}

/**
 * `pointer` extended by one reference token (escaped).
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { pointerAppend } from "./json_pointer.ts";
 * console.assert(pointerAppend("/paths", "/users/{id}") === "/paths/~1users~1{id}");
 * console.assert(pointerAppend("", "a~b") === "/a~0b");
 * ```
 */
export function pointerAppend(pointer: string, token: string): string {
  return pointer + "/" + escapePointerToken(token);
}

/**
 * `pointer` extended by an array index.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { pointerAppendIndex } from "./json_pointer.ts";
 * console.assert(pointerAppendIndex("/items", 3) === "/items/3");
 * ```
 */
export function pointerAppendIndex(pointer: string, index: i32): string {
  return pointer + "/" + index.toString();
}

/**
 * The pointer made of `tokens` (the inverse of {@link parsePointer}).
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { formatPointer } from "./json_pointer.ts";
 * console.assert(formatPointer(["a/b", "0"]) === "/a~1b/0" && formatPointer([]) === "");
 * ```
 */
export function formatPointer(tokens: Array<string>): string {
  const parts = new Array<string>();
  for (let i = 0, n = tokens.length; i < n; i++) {
    parts.push("/");
    parts.push(escapePointerToken(tokens[i]));
  }
  return parts.join("");
}

/**
 * A reference token with `~` written as `~0` and `/` as `~1`.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { escapePointerToken } from "./json_pointer.ts";
 * console.assert(escapePointerToken("~/") === "~0~1");
 * ```
 */
export function escapePointerToken(token: string): string {
  const n = token.length;
  let i = 0;
  while (i < n) {
    const c = token.charCodeAt(i);
    if (c == 0x7e || c == 0x2f) break;
    i++;
  }
  if (i == n) return token;
  const parts = new Array<string>();
  let from = 0;
  for (; i < n; i++) {
    const c = token.charCodeAt(i);
    if (c != 0x7e && c != 0x2f) continue;
    if (from < i) parts.push(token.substring(from, i));
    parts.push(c == 0x7e ? "~0" : "~1");
    from = i + 1;
  }
  if (from < n) parts.push(token.substring(from, n));
  return parts.join("");
}

/** Decodes `~1` then `~0` (RFC 6901 §4 order); the caller checked every `~`. */
function unescapeToken(raw: string): string {
  const parts = new Array<string>();
  let from = 0;
  const n = raw.length;
  for (let i = 0; i < n; i++) {
    if (raw.charCodeAt(i) != 0x7e) continue;
    if (from < i) parts.push(raw.substring(from, i));
    parts.push(raw.charCodeAt(i + 1) == 0x31 ? "/" : "~");
    i++;
    from = i + 1;
  }
  if (from < n) parts.push(raw.substring(from, n));
  return parts.join("");
}

/** An RFC 6901 array index (`0` or digits without a leading zero), or -1. */
function arrayIndex(token: string): i32 {
  const n = token.length;
  if (n == 0 || n > 9) return -1; // nine digits stay below 2^31
  if (n > 1 && token.charCodeAt(0) == 0x30) return -1;
  let index: i32 = 0;
  for (let i = 0; i < n; i++) {
    const c = token.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    index = index * 10 + (c - 0x30);
  }
  return index;
}
