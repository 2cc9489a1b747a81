/**
 * Hostile guests in WAT, each trying to get out of one limit. Shared by the
 * containment tests (tests/security/) so each guest is written once.
 *
 * @module
 */
import { wat } from "./wat.ts";

const IO = `
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))`;

/** Writes `{"ok":1}` and returns: appended to guests that must still finish. */
const WRITE_OK = `
  (data (i32.const 0) "{\\"ok\\":1}")
  (func $ok (drop (call $write (i32.const 0) (i32.const 8))))`;

/** Grows memory one page at a time until refused, then reports the page count reached. */
export const memoryBomb = wat(`(module ${IO}
  (memory (export "memory") 1)
  (func (export "run") (result i32) (local $pages i32)
    (block $done (loop $grow
      (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
      (br $grow)))
    ;; Touch the last byte to prove the memory is real.
    (i32.store8 (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)) (i32.const 1))
    (i32.store8 (i32.const 0) (i32.add (i32.const 48) (i32.rem_u (memory.size) (i32.const 10))))
    (drop (call $write (i32.const 0) (i32.const 1)))
    (i32.const 0)))`);

/** Declares a 3 GiB minimum memory. */
export const hugeDeclaredMemory = wat(`(module
  (memory (export "memory") 49152)
  (func (export "run") (result i32) (i32.const 0)))`);

/** Tries to grow its table by a million elements; writes 0 when refused, 1 when it grew. */
export const tableGrowth = wat(`(module ${IO}
  (memory (export "memory") 1)
  (table 1 funcref)
  (func (export "run") (result i32)
    (if (i32.eq (table.grow (ref.null func) (i32.const 1000000)) (i32.const -1))
      (then (i32.store8 (i32.const 0) (i32.const 48)) (drop (call $write (i32.const 0) (i32.const 1))))
      (else (i32.store8 (i32.const 0) (i32.const 49)) (drop (call $write (i32.const 0) (i32.const 1)))))
    (i32.const 0)))`);

/** Recurses without end. */
export const deepRecursion = wat(`(module
  (memory (export "memory") 1)
  (func $down (param i32) (result i32) (call $down (i32.add (local.get 0) (i32.const 1))))
  (func (export "run") (result i32) (call $down (i32.const 0))))`);

/** Imports a capability its manifest does not grant. */
export const undeclaredImport = wat(`(module
  (import "http" "request" (func (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32) (i32.const 0)))`);

/**
 * Opens /etc/passwd through the first preopen slot (fd 3) and accepts on
 * stdin as a socket through WASI; writes the two errnos as JSON strings.
 */
export const wasiEscape = wat(`(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func $accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "[\\"..\\",\\"..\\"]")
  (data (i32.const 100) "/etc/passwd")
  (func $digits (param $at i32) (param $n i32)
    (i32.store8 (local.get $at) (i32.add (i32.const 48) (i32.div_u (local.get $n) (i32.const 10))))
    (i32.store8 (i32.add (local.get $at) (i32.const 1)) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10)))))
  (func (export "_start")
    (call $digits (i32.const 2) (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 11)
      (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 200)))
    (call $digits (i32.const 7) (call $accept (i32.const 0) (i32.const 0) (i32.const 200)))
    ;; iovec at 300: {buf 0, len 11}
    (i32.store (i32.const 300) (i32.const 0))
    (i32.store (i32.const 304) (i32.const 11))
    (drop (call $fd_write (i32.const 1) (i32.const 300) (i32.const 1) (i32.const 400)))))`);

/** Writes 64 KiB of output per call, forever. */
export const oversizedOutput = wat(`(module ${IO}
  (memory (export "memory") 2)
  (func (export "run") (result i32)
    (loop $more (drop (call $write (i32.const 0) (i32.const 65536))) (br $more))
    (i32.const 0)))`);

/** Writes bytes that are not UTF-8. */
export const invalidUtf8Output = wat(`(module ${IO}
  (memory (export "memory") 1)
  (data (i32.const 0) "\\22\\ff\\fe\\22")
  (func (export "run") (result i32) (drop (call $write (i32.const 0) (i32.const 4))) (i32.const 0)))`);

/** Logs 100,000 long lines, then writes {"ok":1}. */
export const logFlood = wat(`(module ${IO}
  (import "log" "write" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1) ${WRITE_OK}
  (func (export "run") (result i32) (local $i i32)
    (loop $more
      (drop (call $log (i32.const 1) (i32.const 1024) (i32.const 8192)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 100000))))
    (call $ok)
    (i32.const 0)))`);

/** Calls a cheap host function without end. */
export const hostCallFlood = wat(`(module
  (import "io" "input_len" (func $len (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (loop $more (drop (call $len)) (br $more))
    (i32.const 0)))`);

/** Passes a pointer far outside its memory to a host function. */
export const wildPointer = wat(`(module ${IO}
  (memory (export "memory") 1)
  (func (export "run") (result i32) (call $write (i32.const 0x7ffffff0) (i32.const 64))))`);

/** Divides by zero. */
export const divideByZero = wat(`(module
  (memory (export "memory") 1)
  (func (export "run") (result i32) (i32.div_s (i32.const 1) (i32.const 0))))`);

/** Loads far out of bounds. */
export const outOfBounds = wat(`(module
  (memory (export "memory") 1)
  (func (export "run") (result i32) (i32.load (i32.const 0x7fffffff))))`);
