/**
 * Small hand-written guests that many tests (and a bench) run: the same
 * bytes everywhere, built here once from WAT.
 *
 * @module
 */
import { wat } from "./wat.ts";

/** Echoes its input as its output (manifest: `{ io: {} }`). Fresh bytes on each call. */
export function echoGuest(): Uint8Array<ArrayBuffer> {
  return wat(`(module
    (import "io" "input_len" (func $len (result i32)))
    (import "io" "read_input" (func $read (param i32 i32) (result i32)))
    (import "io" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "run") (result i32) (local $n i32)
      (local.set $n (call $len))
      (drop (call $read (i32.const 0) (local.get $n)))
      (drop (call $write (i32.const 0) (local.get $n)))
      (i32.const 0)))`);
}

/**
 * Waits `ms` milliseconds in the `sleep` fixture plugin's async host call
 * (`tests/fixtures/plugins/sleep_plugin.ts`), then writes the output `1`: a
 * step that holds its sandbox for a known time (manifest:
 * `{ io: {}, sleep: {} }`).
 */
export function sleepThenWriteOne(ms: number): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > 0x7fffffff) {
    throw new RangeError(
      `Cannot build a sleepy guest as ms is not an i32 ≥ 0: current value is ${ms}`,
    );
  }
  return wat(`(module
    (import "sleep" "ms" (func $sleep (param i32) (result i32)))
    (import "io" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "1")
    (func (export "run") (result i32)
      (drop (call $sleep (i32.const ${ms})))
      (drop (call $write (i32.const 0) (i32.const 1)))
      (i32.const 0)))`);
}
