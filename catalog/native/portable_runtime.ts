/**
 * Defines, in this JavaScript realm, the AssemblyScript builtins and platform
 * primitives the portable code in `catalog/core/` uses (see
 * `catalog/core/portable.d.ts`). Import it before any core module.
 *
 * @module
 */

const scope = globalThis as unknown as Record<string, unknown>;

// The AssemblyScript compiler installs the same builtins when it loads (with
// the same semantics), but only if `ASC_TARGET` is not defined yet: so this
// never defines it (core code does not read it), sets each other name only
// when missing, and compiling and running native code then work in one
// process in either order.
scope.i32 ??= (value: number) => value | 0;
scope.u32 ??= (value: number) => value >>> 0;
scope.u8 ??= (value: number) => value & 0xff;
scope.u16 ??= (value: number) => value & 0xffff;
scope.f64 ??= (value: number) => +value;
scope.formatF64 ??= (value: number) => String(value);
scope.parseF64 ??= parseJsonNumber;

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** The JSON number grammar, correctly rounded by the engine; NaN otherwise. */
function parseJsonNumber(text: string): number {
  return JSON_NUMBER.test(text) ? Number(text) : NaN;
}
