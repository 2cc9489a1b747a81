/**
 * A test guest for the `http` capability, shared by the plugin's unit tests
 * and tests/http_policy_test.ts. Private to tests: never re-exported.
 *
 * @module
 */
import { wat } from "../../tests/support/wat.ts";

/** WAT of a guest that calls `http.request` with `args` (two i32 expressions). */
function guestSource(args: string): string {
  return `(module
  (import "io" "input_len" (func $input_len (result i32)))
  (import "io" "read_input" (func $read_input (param i32 i32) (result i32)))
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (import "http" "request" (func $request (param i32 i32) (result i32)))
  (import "http" "read_result" (func $read_result (param i32 i32) (result i32)))
  (import "http" "last_error" (func $last_error (param i32 i32) (result i32)))
  (memory (export "memory") 64)
  (data (i32.const 0) "{\\"errno\\":-")
  (data (i32.const 16) ",\\"error\\":")
  (data (i32.const 32) "}")
  (data (i32.const 48) "{\\"response\\":")
  (func (export "run") (result i32)
    (local $n i32) (local $rc i32) (local $m i32)
    (local.set $n (call $input_len))
    (drop (call $read_input (i32.const 1024) (local.get $n)))
    (local.set $rc (call $request ${args}))
    (if (i32.ge_s (local.get $rc) (i32.const 0))
      (then
        (local.set $m (call $read_result (i32.const 131072) (local.get $rc)))
        (drop (call $write (i32.const 48) (i32.const 12)))
        (drop (call $write (i32.const 131072) (local.get $m)))
        (drop (call $write (i32.const 32) (i32.const 1)))
        (return (i32.const 0))))
    (i32.store8 (i32.const 64) (i32.sub (i32.const 48) (local.get $rc)))
    (drop (call $write (i32.const 0) (i32.const 10)))
    (drop (call $write (i32.const 64) (i32.const 1)))
    (drop (call $write (i32.const 16) (i32.const 9)))
    (local.set $m (call $last_error (i32.const 65536) (i32.const 65536)))
    (drop (call $write (i32.const 65536) (local.get $m)))
    (drop (call $write (i32.const 32) (i32.const 1)))
    (i32.const 0)))`;
}

/**
 * Reads the step input as the request JSON, calls http.request once and
 * writes `{"response": <response JSON>}` or `{"errno": -N, "error": <last_error JSON>}`.
 */
export const FETCH_GUEST: Uint8Array<ArrayBuffer> = wat(
  guestSource("(i32.const 1024) (local.get $n)"),
);

/** Like {@link FETCH_GUEST}, but passes a fixed pointer and length to http.request. */
export function rawRequestGuest(ptr: number, len: number): Uint8Array<ArrayBuffer> {
  return wat(guestSource(`(i32.const ${ptr | 0}) (i32.const ${len | 0})`));
}

/** The response JSON `http.request` stages. */
export interface GuestResponse {
  status: number;
  headers: Record<string, string>;
  body?: string;
  body_base64?: string;
  url: string;
}
/** What {@link FETCH_GUEST} writes as its output. */
export type GuestResult =
  | { response: GuestResponse }
  | { errno: number; error: { code: string; message: string } };
