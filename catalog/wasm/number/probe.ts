// Test and bench entry for the number text primitives (catalog/wasm/lib):
// compiled with `--lib catalog/wasm/lib`, driven by
// catalog/wasm/number_text_test.ts and bench/number_text_bench.ts.
// Plain AssemblyScript.

/** formatF64(x) as a string the host reads from memory. */
export function fmt(x: f64): string {
  return formatF64(x);
}

/** parseF64(s). */
export function parse(s: string): f64 {
  return parseF64(s);
}

/** Drops every allocation (stub runtime); static data stays. */
export function reset(): void {
  __reset();
}

// Room for 8192 doubles that survive reset(), for formatAll.
const INPUT: usize = memory.data(8192 << 3);

/** Where the host writes the doubles for formatAll. */
export function input(): usize {
  return INPUT;
}

/** Resets the heap, formats the first `count` doubles at input() and sums the lengths. */
export function formatAll(count: i32): i32 {
  __reset();
  let total = 0;
  for (let i: usize = 0; i < usize(count); i++) {
    total += formatF64(load<f64>(INPUT + (i << 3))).length;
  }
  return total;
}

/** Parses `count` strings whose pointers are the u32s at `list`; returns the sum. */
export function parseAll(list: usize, count: i32): f64 {
  let total: f64 = 0;
  for (let i: usize = 0; i < usize(count); i++) {
    total += parseF64(changetype<string>(load<u32>(list + (i << 2))));
  }
  return total;
}
