/**
 * One buffer from several, each byte copied once: the module rewriters
 * (runtime/wasm_limits.ts, runtime/host_memory.ts) assemble their output
 * from slices of the input, the PGlite socket server its protocol messages.
 *
 * @example
 * ```ts
 * import { concatBytes } from "./concat_bytes.ts";
 * console.assert(concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]).length === 3);
 * ```
 *
 * @module
 */

/** The concatenation of `pieces`, in a new buffer. */
export function concatBytes(pieces: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
