/**
 * Ambient declarations that let the portable AssemblyScript in `catalog/core/`
 * type-check as TypeScript under Deno. In a wasm build these names are
 * AssemblyScript builtins; in the native build `catalog/native/portable_runtime.ts`
 * defines them at runtime. Core files reference this file with a triple-slash
 * directive, which AssemblyScript reads as a comment.
 *
 * Portability rules for core code: integer division and overflow must be
 * explicit (`i32(a / b)`), no i64/u64, no closures that capture locals, no
 * union types other than `T | null`, no `Map.keys()` (an array in
 * AssemblyScript, an iterator in JS), and numbers cross text only through
 * `formatF64`/`parseF64`.
 */

declare type bool = boolean;
declare type i8 = number;
declare type i16 = number;
declare type i32 = number;
declare type u8 = number;
declare type u16 = number;
declare type u32 = number;
declare type f64 = number;

/** Truncates to a signed 32-bit integer (`x | 0`). */
declare function i32(value: f64): i32;
/** Truncates to an unsigned 32-bit integer (`x >>> 0`). */
declare function u32(value: f64): u32;
/** Truncates to an unsigned 8-bit integer. */
declare function u8(value: f64): u8;
/** Truncates to an unsigned 16-bit integer. */
declare function u16(value: f64): u16;
/** Converts to a 64-bit float. */
declare function f64(value: f64): f64;

/**
 * Formats a double exactly like ECMAScript `Number.prototype.toString()`
 * (shortest round-trip digits). Platform primitive: each build implements it.
 */
declare function formatF64(value: f64): string;
/**
 * Parses the JSON number grammar into the nearest double (correctly rounded,
 * like `JSON.parse`); NaN when `text` is not a JSON number. Platform primitive.
 */
declare function parseF64(text: string): f64;
