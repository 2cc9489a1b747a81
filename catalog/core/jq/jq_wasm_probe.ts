// @ts-nocheck AssemblyScript entry (uses asc builtins: changetype, usize, String.UTF8).
// Test-only wasm build of the jq engine (catalog/core/jq/jq_wasm_test.ts
// builds it): runs a filter on JSON text and reports like runJqText.
//
// Host usage: f = alloc(nf); copy the UTF-8 filter to f; i = alloc(ni);
// copy the UTF-8 input JSON to i; n = run(f, nf, i, ni); read n bytes of
// UTF-8 report at outputPtr().
import { runJqText } from "./run_jq_text.ts";

let output: ArrayBuffer = new ArrayBuffer(0);
const buffers = new Array<ArrayBuffer>(); // keeps alloc'd input alive under any runtime

/** A fresh buffer of `len` bytes for the host to fill. */
export function alloc(len: i32): usize {
  const buf = new ArrayBuffer(len);
  buffers.push(buf);
  return changetype<usize>(buf);
}

/** Runs the filter on the input; returns the byte length of the UTF-8 report. */
export function run(filterPtr: usize, filterLen: i32, inputPtr: usize, inputLen: i32): i32 {
  const filter = String.UTF8.decodeUnsafe(filterPtr, <usize> filterLen);
  const input = String.UTF8.decodeUnsafe(inputPtr, <usize> inputLen);
  output = String.UTF8.encode(runJqText(filter, input));
  return output.byteLength;
}

/** Where the last report is. */
export function outputPtr(): usize {
  return changetype<usize>(output);
}
