// Platform primitives for the wasm build of the portable catalog core,
// compiled into every catalog guest with `asc --lib catalog/wasm/lib`.
//
// Exact, like the native build's engine: formatF64 prints what ECMAScript's
// String(x) prints (shortest round-trip digits, Ryu), parseF64 returns what
// Number(text) returns for JSON number text (correctly rounded: Clinger,
// Eisel-Lemire, big-decimal fallback) and NaN for anything else. The code
// lives in ./number_text/ (a subfolder, which asc does not load as extra
// libraries; as with all AssemblyScript code, a guest that never calls these
// globals gets none of it compiled, tables included) and is tested against
// V8 by catalog/wasm/number_text_test.ts; this file only publishes it as
// globals. Plain AssemblyScript: excluded from deno fmt, which deletes
// decorators.

// deno-lint-ignore-file

import { ntFormatF64 } from "./number_text/format_f64.ts";
import { ntParseF64 } from "./number_text/parse_f64.ts";

/** `String(value)` for a double; allocates only the result string. */
@global
export function formatF64(value: f64): string {
  return ntFormatF64(value);
}

/** `Number(text)` for JSON number text, NaN for anything else; allocates nothing. */
@global
export function parseF64(text: string): f64 {
  return ntParseF64(text);
}
