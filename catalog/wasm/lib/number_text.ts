// Platform primitives for the wasm build of the portable catalog core,
// compiled into every catalog guest with `asc --lib catalog/wasm/lib`.
//
// TEMPORARY: AssemblyScript's own float formatting and parsing differ from
// ECMAScript's (non-shortest digits, a ".0" suffix, wrong exponents past
// 1e38); exact implementations replace these before any catalog guest ships.

// deno-lint-ignore-file

@global
export function formatF64(value: f64): string {
  return value.toString();
}

@global
export function parseF64(text: string): f64 {
  return parseFloat(text);
}
