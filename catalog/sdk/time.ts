// The `time` capability: host-controlled clocks and randomness. When a step
// is replayed the host serves virtual time and seeded randomness, so guests
// take both from here. (AssemblyScript's own Date.now() imports
// `env.Date.now`, which the host does not offer: the import audit refuses it.)
import * as abi from "./abi/time";
// AssemblyScript has no `import type`: type-only names are imported as values.
// deno-lint-ignore verbatim-module-syntax
import { HostError, hostErrorFromJson } from "./host_error";

/** Wall-clock milliseconds since the Unix epoch (fractional). */
export function nowMs(): f64 {
  return abi.wall_ms();
}

/** Wall-clock nanoseconds since the Unix epoch. */
export function nowNs(): i64 {
  return abi.wall_ns();
}

/** Monotonic nanoseconds from an arbitrary origin: subtract two readings to measure a duration. */
export function monotonicNs(): i64 {
  return abi.monotonic_ns();
}

/**
 * Fills `bytes` with random bytes from the host; null on success, the
 * host's error otherwise (e.g. too many bytes at once).
 *
 * ```ts
 * const nonce = new Uint8Array(16);
 * const err = time.fillRandom(nonce);
 * if (err) return fail(err.toString());
 * ```
 */
export function fillRandom(bytes: Uint8Array): HostError | null {
  const rc = abi.random(bytes.dataStart, bytes.length);
  return rc < 0 ? lastError(rc) : null;
}

function lastError(errno: i32): HostError {
  const n = abi.last_error(0, 0);
  const buf = new ArrayBuffer(n);
  abi.last_error(changetype<usize>(buf), n);
  return hostErrorFromJson(errno, String.UTF8.decode(buf));
}
