import assert from "node:assert/strict";
import { CapabilityRegistry } from "../../src/capability/capability_registry.ts";
import { ManifestError } from "../../src/errors.ts";
import { parseManifest } from "../../src/manifest/manifest.ts";
import { prepareGuest } from "../../src/runtime/prepared_guest.ts";
import { runStep } from "../../src/runtime/run_step.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { SandboxPool } from "../../src/sandbox/sandbox_pool.ts";
import { wat } from "../../tests/support/wat.ts";
import { ioPlugin } from "../io/mod.ts";
import { MAX_RANDOM_BYTES, timePlugin } from "./mod.ts";

const step = { stepId: "s-1", handler: "clock", correlationId: "c-1" };
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const registry = new CapabilityRegistry([ioPlugin(), timePlugin()]);
const manifest = parseManifest({ capabilities: { io: {}, time: {} } }, registry);

/** Writes `len` bytes at `src` to the output as a JSON string of lowercase hex. */
const HEX_OUTPUT = `
  (func $hex_out (param $src i32) (param $len i32) (local $i i32) (local $b i32) (local $d i32)
    (i32.store8 (i32.const 4096) (i32.const 34))
    (local.set $d (i32.const 4097))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (local.set $b (i32.load8_u (i32.add (local.get $src) (local.get $i))))
      (i32.store8 (local.get $d) (call $digit (i32.shr_u (local.get $b) (i32.const 4))))
      (i32.store8 offset=1 (local.get $d) (call $digit (i32.and (local.get $b) (i32.const 15))))
      (local.set $d (i32.add (local.get $d) (i32.const 2)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.store8 (local.get $d) (i32.const 34))
    (drop (call $write (i32.const 4096) (i32.sub (i32.add (local.get $d) (i32.const 1)) (i32.const 4096)))))
  (func $digit (param $n i32) (result i32)
    (select (i32.add (local.get $n) (i32.const 48)) (i32.add (local.get $n) (i32.const 87))
      (i32.lt_u (local.get $n) (i32.const 10))))`;

/** Reads every clock once (monotonic twice) and 32 random bytes; outputs them as hex. */
const CLOCKS = wat(`(module
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (import "time" "wall_ms" (func $wall_ms (result f64)))
  (import "time" "wall_ns" (func $wall_ns (result i64)))
  (import "time" "monotonic_ns" (func $monotonic_ns (result i64)))
  (import "time" "random" (func $random (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  ${HEX_OUTPUT}
  (func (export "run") (result i32)
    (f64.store (i32.const 0) (call $wall_ms))
    (i64.store (i32.const 8) (call $wall_ns))
    (i64.store (i32.const 16) (call $monotonic_ns))
    (i64.store (i32.const 24) (call $monotonic_ns))
    (i32.store (i32.const 64) (call $random (i32.const 32) (i32.const 32)))
    (call $hex_out (i32.const 0) (i32.const 68))
    (i32.const 0)))`);

interface Reading {
  wallMs: number;
  wallNs: bigint;
  monotonic: [bigint, bigint];
  random: Uint8Array;
  randomRc: number;
}

function decode(result: unknown): Reading {
  const hex = result as string;
  const bytes = new Uint8Array(hex.match(/../g)!.map((h) => parseInt(h, 16)));
  const view = new DataView(bytes.buffer);
  return {
    wallMs: view.getFloat64(0, true),
    wallNs: view.getBigInt64(8, true),
    monotonic: [view.getBigInt64(16, true), view.getBigInt64(24, true)],
    random: bytes.slice(32, 64),
    randomRc: view.getInt32(64, true),
  };
}

async function run(
  bytes: Uint8Array,
  clock?: { startMs: number; tickNs?: number; seed?: number },
) {
  return await runStep(prepareGuest(bytes, manifest, registry), {
    input: enc({}),
    step,
    clock,
  }, { registry });
}

Deno.test("timePlugin() reads the virtual clock when a step is replayed", async () => {
  const outcome = await run(CLOCKS, { startMs: 1_700_000_000_000, tickNs: 1_500_000, seed: 7 });
  assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
  const reading = decode(outcome.result);
  // Every reading advances the virtual clock by one tick (1.5 ms).
  assert.equal(reading.wallMs, 1_700_000_000_001.5);
  assert.equal(reading.wallNs, 1_700_000_000_000_000_000n + 3_000_000n);
  assert.deepEqual(reading.monotonic, [4_500_000n, 6_000_000n]);
  assert.equal(reading.randomRc, 32);
  assert.notDeepEqual(reading.random, new Uint8Array(32));
});

Deno.test("timePlugin() gives identical output for two runs with the same virtual clock", async () => {
  const clock = { startMs: 1_234_567_890_123, tickNs: 1_000, seed: 99 };
  const first = await run(CLOCKS, clock);
  const second = await run(CLOCKS, clock);
  assert.equal(first.status, "completed");
  assert.equal(first.result, second.result);
  const reseeded = decode((await run(CLOCKS, { ...clock, seed: 100 })).result);
  assert.notDeepEqual(reseeded.random, decode(first.result).random, "the seed drives the bytes");
  assert.equal(reseeded.wallNs, decode(first.result).wallNs, "the seed does not touch time");
});

Deno.test("Runtime.execute() replays a time-reading step identically from ExecuteOptions.clock", async () => {
  const runtime = new Runtime({ plugins: [ioPlugin(), timePlugin()] });
  try {
    const guest = await runtime.load(CLOCKS, { capabilities: { io: {}, time: {} } });
    const clock = { startMs: 1_000, seed: 5 };
    const a = await runtime.execute(guest, {}, { clock });
    const b = await runtime.execute(guest, {}, { clock });
    assert.equal(a.status, "completed");
    assert.deepEqual(a.result, b.result);
    assert.equal(decode(a.result).wallNs, 1_000_000_000n + 2_000n);
  } finally {
    await runtime.close();
  }
});

Deno.test("timePlugin() reads the real clock when the step is not replayed", async () => {
  const before = Date.now();
  const outcome = await run(CLOCKS);
  const after = Date.now();
  const reading = decode(outcome.result);
  assert.ok(reading.wallMs >= before && reading.wallMs <= after, `${reading.wallMs}`);
  const wallNsAsMs = Number(reading.wallNs / 1_000_000n);
  assert.ok(wallNsAsMs >= before && wallNsAsMs <= after);
  assert.ok(reading.monotonic[1] >= reading.monotonic[0]);
  assert.notDeepEqual(reading.random, new Uint8Array(32));
  const again = decode((await run(CLOCKS)).result);
  assert.notDeepEqual(again.random, reading.random, "real randomness differs between steps");
});

/**
 * Calls time.random(ptr, len) with ptr and len from its 8-byte input.
 * Outputs [0] when it returned len, else [errno, last_error].
 */
const RANDOM_PROBE = wat(String.raw`(module
  (import "io" "read_input" (func $read_input (param i32 i32) (result i32)))
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (import "time" "random" (func $random (param i32 i32) (result i32)))
  (import "time" "last_error" (func $last_error (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 100) "[-")
  (data (i32.const 110) ",")
  (data (i32.const 120) "]")
  (func (export "run") (result i32) (local $rc i32) (local $n i32)
    ;; input is 8 raw bytes: ptr (i32 LE) then len (i32 LE)
    (drop (call $read_input (i32.const 0) (i32.const 8)))
    (local.set $rc (call $random (i32.load (i32.const 0)) (i32.load (i32.const 4))))
    (if (i32.ge_s (local.get $rc) (i32.const 0)) (then
      ;; "0" when the call reported filling exactly len bytes, else "1"
      (i32.store8 (i32.const 130)
        (i32.add (i32.const 48) (i32.ne (local.get $rc) (i32.load (i32.const 4)))))
      (drop (call $write (i32.const 100) (i32.const 1)))
      (drop (call $write (i32.const 130) (i32.const 1)))
      (drop (call $write (i32.const 120) (i32.const 1)))
      (return (i32.const 0))))
    (i32.store8 (i32.const 130) (i32.sub (i32.const 48) (local.get $rc)))
    (local.set $n (call $last_error (i32.const 1024) (i32.const 1024)))
    (drop (call $write (i32.const 100) (i32.const 2)))
    (drop (call $write (i32.const 130) (i32.const 1)))
    (drop (call $write (i32.const 110) (i32.const 1)))
    (drop (call $write (i32.const 1024) (local.get $n)))
    (drop (call $write (i32.const 120) (i32.const 1)))
    (i32.const 0)))`);

async function randomProbe(ptr: number, len: number) {
  const input = new Uint8Array(8);
  new DataView(input.buffer).setInt32(0, ptr, true);
  new DataView(input.buffer).setInt32(4, len, true);
  const probeManifest = parseManifest({ capabilities: { io: {}, time: {} } }, registry);
  return await runStep(prepareGuest(RANDOM_PROBE, probeManifest, registry), { input, step }, {
    registry,
  });
}

Deno.test("timePlugin() fills up to MAX_RANDOM_BYTES and refuses more with too_large", async () => {
  const ok = await randomProbe(4096, MAX_RANDOM_BYTES);
  assert.deepEqual(ok.result, [0]);
  for (const len of [MAX_RANDOM_BYTES + 1, -1]) {
    const outcome = await randomProbe(4096, len);
    assert.equal(outcome.status, "completed");
    const [rc, error] = outcome.result as [number, { code: string }];
    assert.equal(rc, -4);
    assert.equal(error.code, "random_too_large");
  }
});

Deno.test("timePlugin() faults a guest that asks for random bytes outside its memory", async () => {
  const outcome = await randomProbe(2 * 65536 - 10, 11);
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error?.code, "bad_pointer");
});

Deno.test("timePlugin() accepts only an empty manifest section", () => {
  assert.throws(
    () => parseManifest({ capabilities: { time: { resolution_ms: 10 } } }, registry),
    (error: unknown) => {
      assert.ok(error instanceof ManifestError);
      assert.deepEqual(error.issues, [{
        path: "capabilities.time.resolution_ms",
        message: "unknown key",
      }]);
      return true;
    },
  );
});

Deno.test("timePlugin() replays identically in a sandbox process", async () => {
  let pool: SandboxPool | undefined;
  const runtime = new Runtime({
    plugins: [ioPlugin(), timePlugin()],
    executor: (registry) =>
      pool = new SandboxPool({ registry, prewarm: 1, maxProcesses: 1, onLog: () => {} }),
  });
  try {
    await pool!.ready();
    const guest = await runtime.load(CLOCKS, { capabilities: { io: {}, time: {} } });
    const clock = { startMs: 1_000, seed: 5 };
    const inSandbox = await runtime.execute(guest, {}, { clock });
    assert.equal(inSandbox.status, "completed", JSON.stringify(inSandbox.error));
    assert.deepEqual(inSandbox.result, (await run(CLOCKS, clock)).result, "same as in-process");
  } finally {
    await runtime.close();
  }
});
