// 64 x 64 -> 128-bit unsigned multiplication for the number text code.
// Plain AssemblyScript (wasm has no 64-bit multiply-high instruction).

/** The high 64 bits of the product computed by the last {@link ntMul128} call. */
export let ntMulHigh: u64 = 0;

/**
 * Multiplies two u64 values exactly: returns the low 64 bits of the 128-bit
 * product and leaves the high 64 bits in {@link ntMulHigh}.
 */
export function ntMul128(a: u64, b: u64): u64 {
  const aLo = a & 0xFFFFFFFF;
  const aHi = a >> 32;
  const bLo = b & 0xFFFFFFFF;
  const bHi = b >> 32;
  const lowLow = aLo * bLo;
  const highLow = aHi * bLo;
  const lowHigh = aLo * bHi;
  const highHigh = aHi * bHi;
  // Each partial sum stays below 2^64.
  const middle = highLow + (lowLow >> 32);
  const middle2 = lowHigh + (middle & 0xFFFFFFFF);
  ntMulHigh = highHigh + (middle >> 32) + (middle2 >> 32);
  return (middle2 << 32) | (lowLow & 0xFFFFFFFF);
}
