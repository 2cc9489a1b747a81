/**
 * A test guest that waits in the `sleep` fixture plugin's async host call
 * (`tests/fixtures/plugins/sleep_plugin.ts`), then writes the output `1`:
 * a step that holds its sandbox for a known time. Its manifest needs
 * `{ io: {}, sleep: {} }`.
 *
 * @module
 */
import { wat } from "./wat.ts";

/** The guest's bytes: sleeps `ms` milliseconds, then writes `1`. */
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
