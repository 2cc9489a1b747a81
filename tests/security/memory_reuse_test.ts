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
 * Outputs `[pages at start, bytes that are not zero]` (one digit each: any
 * count above 9 shows as ":" or later, still not "0").
 */
const SCANNER = wat(`(module
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
    (i32.const 0)))`);

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

  // Guests that declare any_size may get a memory an earlier step grew: still zero throughout.
  const anySize = (bytes: Uint8Array) => runtime.load(withMemoryReuse(bytes, "any_size"), grants);
  const grownScanner = await anySize(SCANNER);
  const grew = await runtime.execute(await anySize(writer(3)), { big: "x".repeat(40_000) });
  assert.equal(grew.metrics.memory_high_water_bytes, 5 * 65536);
  const after = await runtime.execute(grownScanner, { big: "x".repeat(40_000) });
  assert.equal(after.status, "completed", JSON.stringify(after.error));
  const [pages, dirty] = after.result as number[];
  assert.equal(pages, 5, "handed the memory the writer grew (the largest kept)");
  assert.equal(dirty, 0, "not one byte of the grown memory left behind");
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
