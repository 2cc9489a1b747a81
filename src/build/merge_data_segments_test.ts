import assert from "node:assert/strict";
import { wat } from "../../tests/support/wat.ts";
import { mergeDataSegments } from "./merge_data_segments.ts";

/** The first `n` bytes of a fresh instance's memory. */
function memoryOf(binary: Uint8Array<ArrayBuffer>, n: number): number[] {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(binary));
  return [...new Uint8Array((instance.exports.memory as WebAssembly.Memory).buffer, 0, n)];
}

function segmentCount(binary: Uint8Array<ArrayBuffer>): number {
  return mergeDataSegments(binary, { maxGap: 0 }).segmentsBefore;
}

Deno.test("mergeDataSegments() joins close segments and memory starts out the same", () => {
  const input = wat(`(module (memory (export "memory") 1)
    (data (i32.const 8) "ab") (data (i32.const 16) "\\00c") (data (i32.const 40) "d")
    (data (i32.const 5000) "far"))`);
  const merged = mergeDataSegments(input, { maxGap: 100 });
  assert.equal(merged.skipped, undefined);
  assert.equal(merged.segmentsBefore, 4);
  assert.equal(merged.segmentsAfter, 2);
  assert.equal(segmentCount(merged.binary), 2);
  assert.deepEqual(memoryOf(merged.binary, 6000), memoryOf(input, 6000));
});

Deno.test("mergeDataSegments() keeps segments further apart than maxGap separate", () => {
  const input = wat(`(module (memory (export "memory") 1)
    (data (i32.const 0) "a") (data (i32.const 10) "b") (data (i32.const 21) "c"))`);
  const merged = mergeDataSegments(input, { maxGap: 9 });
  assert.equal(merged.segmentsAfter, 2); // 0..10 merge (gap 9), 10..21 do not (gap 10)
  assert.deepEqual(memoryOf(merged.binary, 32), memoryOf(input, 32));
});

Deno.test("mergeDataSegments() by default merges across gaps below one page only", () => {
  const input = wat(`(module (memory (export "memory") 1)
    (data (i32.const 0) "a") (data (i32.const 4096) "b") (data (i32.const 12288) "c"))`);
  const merged = mergeDataSegments(input);
  assert.equal(merged.segmentsAfter, 2); // a gap of 4095 bytes merges, one of 8191 does not
  assert.deepEqual(memoryOf(merged.binary, 12289), memoryOf(input, 12289));
});

Deno.test("mergeDataSegments() leaves a module with a passive segment unchanged", () => {
  const input = wat(`(module (memory 1) (data (i32.const 0) "a") (data "passive")
    (func (memory.init 1 (i32.const 0) (i32.const 0) (i32.const 1))))`);
  const merged = mergeDataSegments(input);
  assert.match(merged.skipped ?? "", /passive/);
  assert.deepEqual(merged.binary, input);
});

Deno.test("mergeDataSegments() leaves a module whose code names segments unchanged", () => {
  // data.drop on an active segment is valid, and renumbering would break it.
  const input = wat(`(module (memory 1) (data (i32.const 0) "a") (data (i32.const 2) "b")
    (func (data.drop 1)))`);
  const merged = mergeDataSegments(input);
  assert.equal(merged.skipped, "the code refers to segments by index");
  assert.deepEqual(merged.binary, input);
  assert.equal(merged.segmentsAfter, 2);
});

Deno.test("mergeDataSegments() leaves a module without data, or not wasm, unchanged", () => {
  const empty = wat(`(module (memory 1))`);
  assert.equal(mergeDataSegments(empty).skipped, "no data section");
  const junk = new Uint8Array([1, 2, 3]);
  assert.equal(mergeDataSegments(junk).skipped, "not a WebAssembly 1.0 binary");
});

Deno.test("mergeDataSegments() is deterministic", () => {
  const input = wat(`(module (memory 1) (data (i32.const 3) "x") (data (i32.const 9) "y"))`);
  assert.deepEqual(mergeDataSegments(input).binary, mergeDataSegments(input).binary);
});

Deno.test("mergeDataSegments() refuses a negative or fractional maxGap", () => {
  const input = wat(`(module (memory 1))`);
  assert.throws(() => mergeDataSegments(input, { maxGap: -1 }), RangeError);
  assert.throws(() => mergeDataSegments(input, { maxGap: 1.5 }), RangeError);
});
