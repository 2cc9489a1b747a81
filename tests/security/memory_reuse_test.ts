/**
 * Memory reuse across steps (src/runtime/memory_pool.ts) must leave nothing
 * of one step for the next: a guest that fills its memory with a marker is
 * followed by a guest that scans every byte of its own memory. Run in
 * process (where the pool is inspectable) and in a sandbox process (where
 * the broker runs guests).
 */
import assert from "node:assert/strict";
import { ioPlugin } from "../../plugins/io/mod.ts";
import { logPlugin } from "../../plugins/log/mod.ts";
import { withMemoryReuse } from "../../src/runtime/host_memory.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { SandboxPool } from "../../src/sandbox/sandbox_pool.ts";
import { wat } from "../support/wat.ts";

const grants = { capabilities: { io: {}, log: {} }, limits: { memory: "1MiB" } };

/** Writes 0xAA over its whole memory, grown by `grow` pages first; outputs `1`. */
function writer(grow: number): Uint8Array {
  return wat(`(module
    (import "io" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 2)
    (func (export "run") (result i32)
      (drop (memory.grow (i32.const ${grow})))
      (memory.fill (i32.const 0) (i32.const 0xAA) (i32.mul (memory.size) (i32.const 65536)))
      (i32.store8 (i32.const 0) (i32.const 0x31))
      (drop (call $write (i32.const 0) (i32.const 1)))
      (i32.const 0)))`);
}

/**
 * A guest that outputs `[pages at start, bytes that are not zero]` (one digit
 * each: any count above 9 shows as ":" or later, still not "0"), then runs
 * `afterwards`.
 */
function scanner(afterwards = ""): Uint8Array {
  return wat(`(module
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "run") (result i32) (local $i i32) (local $dirty i32) (local $pages i32)
    (local.set $pages (memory.size))
    (block $done (loop $scan
      (br_if $done (i32.ge_u (local.get $i) (i32.mul (local.get $pages) (i32.const 65536))))
      (if (i32.load8_u (local.get $i)) (then (local.set $dirty (i32.add (local.get $dirty) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $scan)))
    (if (i32.gt_u (local.get $dirty) (i32.const 9)) (then (local.set $dirty (i32.const 9))))
    ;; "[p,d]" at the end of memory's first page
    (i32.store8 (i32.const 60000) (i32.const 0x5b))
    (i32.store8 (i32.const 60001) (i32.add (i32.const 0x30) (local.get $pages)))
    (i32.store8 (i32.const 60002) (i32.const 0x2c))
    (i32.store8 (i32.const 60003) (i32.add (i32.const 0x30) (local.get $dirty)))
    (i32.store8 (i32.const 60004) (i32.const 0x5d))
    (drop (call $write (i32.const 60000) (i32.const 5)))
    ${afterwards}
    (i32.const 0)))`);
}

const SCANNER = scanner();

/**
 * Scans like SCANNER, then grows to 5 pages and fills everything with 0xAA:
 * its next step shows whether any of that survived.
 */
const SCAN_THEN_DIRTY = scanner(`
    (if (i32.lt_u (memory.size) (i32.const 5))
      (then (drop (memory.grow (i32.sub (i32.const 5) (memory.size))))))
    (memory.fill (i32.const 0) (i32.const 0xAA) (i32.mul (memory.size) (i32.const 65536)))`);

async function scenario(runtime: Runtime): Promise<void> {
  const scanner = await runtime.load(SCANNER, grants);
  for (const grow of [0, 1]) {
    const written = await runtime.execute(await runtime.load(writer(grow), grants), {});
    assert.equal(written.status, "completed", JSON.stringify(written.error));
    assert.equal(written.metrics.memory_high_water_bytes, (2 + grow) * 65536);
    const scanned = await runtime.execute(scanner, {});
    assert.equal(scanned.status, "completed", JSON.stringify(scanned.error));
    assert.deepEqual(
      scanned.result,
      [2, 0],
      `after a writer that grew by ${grow}: the declared size and not one byte left behind`,
    );
  }
  // A trap mid-write leaves a dirty memory behind too.
  const trapping = wat(`(module
    (memory (export "memory") 2)
    (func (export "run") (result i32)
      (memory.fill (i32.const 0) (i32.const 0xAA) (i32.const 131072))
      unreachable))`);
  const trapped = await runtime.execute(await runtime.load(trapping, grants), {});
  assert.equal(trapped.error?.code, "trap");
  assert.deepEqual((await runtime.execute(scanner, {})).result, [2, 0]);

  // An any_size guest may get back a memory one of its own earlier steps grew: zero throughout.
  const selfScanner = await runtime.load(withMemoryReuse(SCAN_THEN_DIRTY, "any_size"), grants);
  const big = { big: "x".repeat(40_000) }; // expects more than the declared 2 pages
  const firstRun = await runtime.execute(selfScanner, big);
  assert.deepEqual(firstRun.result, [2, 0], JSON.stringify(firstRun.error));
  assert.equal(
    firstRun.metrics.memory_high_water_bytes,
    5 * 65536,
    "it grew to 5 pages and dirtied them",
  );
  const secondRun = await runtime.execute(selfScanner, big);
  assert.deepEqual(secondRun.result, [5, 0], "its own grown memory, handed back all zero");
  // Another any_size guest never gets that memory: its size would tell how far the first grew it.
  // Other bytes (a custom section "x" added), so another guest with a pool of its own.
  const otherBytes = new Uint8Array([...SCAN_THEN_DIRTY, 0, 2, 1, 0x78]);
  const other = await runtime.load(withMemoryReuse(otherBytes, "any_size"), grants);
  assert.deepEqual((await runtime.execute(other, big)).result, [2, 0]);
}

Deno.test("a reused memory holds nothing of the step before, in process", async () => {
  const runtime = new Runtime({ plugins: [ioPlugin(), logPlugin()] });
  const { processMemoryPool } = await import("../../src/runtime/memory_pool.ts");
  const reusedBefore = processMemoryPool.reused;
  try {
    await scenario(runtime);
    assert.ok(processMemoryPool.reused > reusedBefore, "memories were in fact reused");
  } finally {
    await runtime.close();
  }
});

Deno.test("a reused memory holds nothing of the step before, in a sandbox process", async () => {
  let pool: SandboxPool | undefined;
  const runtime = new Runtime({
    plugins: [ioPlugin(), logPlugin()],
    executor: (registry) =>
      pool = new SandboxPool({ registry, prewarm: 1, maxProcesses: 1, onLog: () => {} }),
  });
  try {
    await pool!.ready();
    await scenario(runtime);
  } finally {
    await runtime.close();
  }
});
