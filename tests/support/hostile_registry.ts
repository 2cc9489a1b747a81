/**
 * Guests for the broker's reliability tests, published into a registry the
 * way an operator would publish them (`FileRegistry.publish`, a manifest
 * granting only what they need, small limits), so a `deno task broker`
 * subprocess serves them like any catalog handler:
 *
 * - hostile guests, one per way of misbehaving — an infinite loop
 *   (`timeout`), a memory bomb that writes past the memory it was refused
 *   (`trap`, out_of_bounds), a plain trap (`unreachable`) and unbounded
 *   recursion (`trap`, stack_overflow) — each with the outcome the broker must
 *   report for it;
 * - a slow but honest guest that spins on the monotonic clock for a fixed
 *   time, so a test can keep steps in flight while it breaks something else.
 *
 * @example
 * ```ts ignore
 * import { copyRegistry } from "./broker_harness.ts";
 * import { publishHostileGuests } from "./hostile_registry.ts";
 * const dir = await copyRegistry();
 * const hostile = await publishHostileGuests(dir, { timeoutMs: 500 });
 * // hostile.loop.callable === "test.hostile.loop@1.0.0"; its steps fail with code "timeout".
 * ```
 *
 * @module
 */
import { FileRegistry } from "../../src/registry/file_registry.ts";
import { wat } from "./wat.ts";

/** How a hostile guest misbehaves. */
export type HostileKind = "loop" | "memory_bomb" | "trap" | "recursion";

/** Every hostile kind, in a fixed order (tests cycle through it). */
export const HOSTILE_KINDS: readonly HostileKind[] = ["loop", "memory_bomb", "trap", "recursion"];

/** What the broker must report for a step run by a hostile guest. */
export interface HostileExpectation {
  /** The runtime's error code: `metadata.error_code` and `metadata.custom.wasm_broker_code`. */
  code: "timeout" | "trap";
  /** `details.trap` (the trap classifier's kind) for traps. */
  trapKind?: "out_of_bounds" | "unreachable" | "stack_overflow";
  /** Tasker's `error_type` per the outcome mapping (docs/tasker-protocol.md). */
  errorType: "timeout" | "permanent_error";
  /** `metadata.retryable` per the outcome mapping. */
  retryable: boolean;
}

/** A hostile guest as published. */
export interface HostileGuest {
  kind: HostileKind;
  /** Registry name, e.g. `test.hostile.loop`. */
  name: string;
  version: string;
  /** The `handler.callable` that selects exactly this version. */
  callable: string;
  /** The manifest it was published with. */
  manifest: Record<string, unknown>;
  expect: HostileExpectation;
}

const IO_WRITE = `(import "io" "write_output" (func $write (param i32 i32) (result i32)))`;

/** Spins forever without a host call: only the deadline (the sandbox kill) stops it. */
const LOOP_WAT = `(module ${IO_WRITE}
  (memory (export "memory") 1)
  (func (export "run") (result i32) (local $i i32)
    (loop $spin
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $spin))
    (i32.const 0)))`;

/**
 * A naive allocator: grows memory a page at a time and, when `memory.grow`
 * refuses (-1 at the manifest's limit), writes into the page it wanted anyway
 * — what a guest that ignores allocation failure does. Traps out of bounds.
 */
const MEMORY_BOMB_WAT = `(module ${IO_WRITE}
  (memory (export "memory") 1)
  (func (export "run") (result i32) (local $old i32)
    (loop $grow
      (local.set $old (memory.grow (i32.const 1)))
      ;; Touch every page it got, so the memory is really committed.
      (if (i32.ne (local.get $old) (i32.const -1))
        (then
          (i32.store8 (i32.mul (local.get $old) (i32.const 65536)) (i32.const 1))
          (br $grow))))
    ;; Refused: store one byte past the end of memory.
    (i32.store8 (i32.mul (memory.size) (i32.const 65536)) (i32.const 1))
    (drop (call $write (i32.const 0) (i32.const 1)))
    (i32.const 0)))`;

/** Executes \`unreachable\` at once (a panic/abort in a compiled language). */
const TRAP_WAT = `(module ${IO_WRITE}
  (memory (export "memory") 1)
  (func $panic (unreachable))
  (func (export "run") (result i32) (call $panic) (i32.const 0)))`;

/** Recurses without end until the engine's stack limit. */
const RECURSION_WAT = `(module ${IO_WRITE}
  (memory (export "memory") 1)
  (func $down (param i32) (result i32) (call $down (i32.add (local.get 0) (i32.const 1))))
  (func (export "run") (result i32) (call $down (i32.const 0))))`;

const SOURCES: Record<HostileKind, { source: string; expect: HostileExpectation }> = {
  loop: {
    source: LOOP_WAT,
    expect: { code: "timeout", errorType: "timeout", retryable: true },
  },
  memory_bomb: {
    source: MEMORY_BOMB_WAT,
    expect: {
      code: "trap",
      trapKind: "out_of_bounds",
      errorType: "permanent_error",
      retryable: false,
    },
  },
  trap: {
    source: TRAP_WAT,
    expect: {
      code: "trap",
      trapKind: "unreachable",
      errorType: "permanent_error",
      retryable: false,
    },
  },
  recursion: {
    source: RECURSION_WAT,
    expect: {
      code: "trap",
      trapKind: "stack_overflow",
      errorType: "permanent_error",
      retryable: false,
    },
  },
};

/** Options for {@link publishHostileGuests}. */
export interface PublishHostileOptions {
  /** `limits.timeout_ms` of every hostile guest. Default 500. */
  timeoutMs?: number;
  /** `limits.timeout_ms` per kind, over `timeoutMs` (e.g. a longer one for guests that trap at once). */
  timeoutMsByKind?: Partial<Record<HostileKind, number>>;
  /** `limits.memory` of every hostile guest. Default `16MiB`. */
  memory?: string;
  /** Version to publish. Default `1.0.0`. */
  version?: string;
}

/**
 * Publishes one guest per {@link HostileKind} as `test.hostile.<kind>` into
 * the registry at `registryDir`, each under a manifest granting only `io`
 * with small limits. Publishing the same content again is a no-op.
 */
export async function publishHostileGuests(
  registryDir: string,
  options: PublishHostileOptions = {},
): Promise<Record<HostileKind, HostileGuest>> {
  const registry = new FileRegistry(registryDir);
  const version = options.version ?? "1.0.0";
  const out = {} as Record<HostileKind, HostileGuest>;
  for (const kind of HOSTILE_KINDS) {
    const name = `test.hostile.${kind}`;
    const manifest = {
      name,
      description: `Hostile test guest: ${kind}`,
      capabilities: { io: {} },
      limits: {
        timeout_ms: options.timeoutMsByKind?.[kind] ?? options.timeoutMs ?? 500,
        memory: options.memory ?? "16MiB",
      },
    };
    await registry.publish({
      name,
      version,
      module: wat(SOURCES[kind].source),
      manifest,
      description: `Misbehaves on purpose (${kind}); for the broker's reliability tests`,
    });
    out[kind] = {
      kind,
      name,
      version,
      callable: `${name}@${version}`,
      manifest,
      expect: SOURCES[kind].expect,
    };
  }
  return out;
}

/**
 * A guest that spins on `time.monotonic_ns` for `ms` milliseconds (reading
 * the clock every 2^20 iterations, well within the time budget), then writes
 * `{"slept_ms":<ms>}`. Honest, just slow.
 */
export function slowGuest(ms: number): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(ms) || ms < 1 || ms > 600_000) {
    throw new RangeError(`Cannot build a slow guest as ms is not 1-600000: current value is ${ms}`);
  }
  const output = `{"slept_ms":${ms}}`;
  const escaped = output.replaceAll('"', '\\"');
  return wat(`(module ${IO_WRITE}
    (import "time" "monotonic_ns" (func $now (result i64)))
    (memory (export "memory") 1)
    (data (i32.const 0) "${escaped}")
    (func (export "run") (result i32) (local $until i64) (local $i i32)
      (local.set $until (i64.add (call $now) (i64.const ${BigInt(ms) * 1_000_000n})))
      (block $done (loop $wait
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $wait (i32.and (local.get $i) (i32.const 0xfffff)))
        (br_if $done (i64.ge_s (call $now) (local.get $until)))
        (br $wait)))
      (drop (call $write (i32.const 0) (i32.const ${output.length})))
      (i32.const 0)))`);
}

/** A published slow guest. */
export interface SlowGuest {
  name: string;
  version: string;
  callable: string;
  ms: number;
}

/**
 * Publishes {@link slowGuest} as `test.slow` (`io` and `time`, a timeout well
 * above `ms`) into the registry at `registryDir`.
 */
export async function publishSlowGuest(
  registryDir: string,
  options: { ms: number; version?: string },
): Promise<SlowGuest> {
  const name = "test.slow";
  const version = options.version ?? "1.0.0";
  await new FileRegistry(registryDir).publish({
    name,
    version,
    module: slowGuest(options.ms),
    manifest: {
      name,
      capabilities: { io: {}, time: {} },
      limits: { timeout_ms: options.ms * 4 + 10_000, memory: "16MiB" },
    },
    description: "Spins on the monotonic clock, then answers; for the broker's reliability tests",
  });
  return { name, version, callable: `${name}@${version}`, ms: options.ms };
}
