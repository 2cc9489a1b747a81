/**
 * Hostile guests against the runtime: each proves one limit holds. Guests that
 * spin forever are in tests/sandbox_timeout_test.ts (they need a process to kill).
 */
import assert from "node:assert/strict";
import { ioPlugin } from "../../plugins/io/mod.ts";
import { logPlugin } from "../../plugins/log/mod.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import * as guests from "../support/hostile_guests.ts";

const runtime = new Runtime({ plugins: [ioPlugin(), logPlugin()] });
const grants = { capabilities: { io: {}, log: {} } };

async function run(bytes: Uint8Array, manifest: Record<string, unknown> = grants) {
  const guest = await runtime.load(bytes, manifest);
  return runtime.execute(guest, {});
}

Deno.test("a memory bomb stops at limits.memory and the step still completes", async () => {
  const outcome = await run(guests.memoryBomb, { ...grants, limits: { memory: "4MiB" } });
  assert.equal(outcome.status, "completed");
  assert.equal(outcome.result, 4); // 64 pages % 10
  assert.equal(outcome.metrics.memory_high_water_bytes, 4 * 1024 * 1024);
});

Deno.test("a guest declaring a huge minimum memory is refused at load with memory_limit", async () => {
  await assert.rejects(() => run(guests.hugeDeclaredMemory), { code: "memory_limit" });
});

Deno.test("table growth past limits.table_elements is refused", async () => {
  const outcome = await run(guests.tableGrowth, { ...grants, limits: { table_elements: 100 } });
  assert.equal(outcome.result, 0);
});

Deno.test("deep recursion fails with a stack_overflow trap", async () => {
  const outcome = await run(guests.deepRecursion);
  assert.equal(outcome.error?.code, "trap");
  assert.equal(outcome.error?.details?.trap, "stack_overflow");
});

Deno.test("an import of an undeclared capability is refused at load naming it", async () => {
  await assert.rejects(() => run(guests.undeclaredImport), {
    code: "unknown_import",
    module: "http",
    importName: "request",
  });
});

Deno.test("oversized output fails with output_too_large without buffering past the cap", async () => {
  const outcome = await run(guests.oversizedOutput, {
    ...grants,
    limits: { output_bytes: 200_000 },
  });
  assert.equal(outcome.error?.code, "output_too_large");
  assert.equal(outcome.metrics.host_calls["io.write_output"], 4);
});

Deno.test("invalid UTF-8 output fails with output_invalid", async () => {
  const outcome = await run(guests.invalidUtf8Output);
  assert.equal(outcome.error?.code, "output_invalid");
});

Deno.test("a log flood is capped and counted, and the step completes", async () => {
  const outcome = await run(guests.logFlood, {
    ...grants,
    limits: { log: { lines: 50, line_bytes: 100, bytes: 1_000_000 } },
  });
  assert.equal(outcome.status, "completed");
  assert.equal(outcome.logs.length, 50);
  assert.ok(outcome.logs.every((r) => new TextEncoder().encode(r.message).length <= 100));
  assert.equal(outcome.metrics.log.records, 50);
  assert.equal(outcome.metrics.log.dropped, 100_000 - 50);
});

Deno.test("a host-call flood fails with host_call_budget", async () => {
  const outcome = await run(guests.hostCallFlood, {
    ...grants,
    limits: { host_calls: { io: 1000 } },
  });
  assert.equal(outcome.error?.code, "host_call_budget");
  assert.equal(outcome.metrics.host_calls["io.input_len"], 1000);
});

Deno.test("a wild pointer passed to a host function fails with bad_pointer", async () => {
  const outcome = await run(guests.wildPointer);
  assert.equal(outcome.error?.code, "bad_pointer");
});

Deno.test("traps are reported with their kind", async () => {
  assert.equal((await run(guests.divideByZero)).error?.details?.trap, "divide_by_zero");
  assert.equal((await run(guests.outOfBounds)).error?.details?.trap, "out_of_bounds");
});

Deno.test("invalid and truncated binaries are refused with module_invalid", async () => {
  const truncated = guests.divideByZero.subarray(0, guests.divideByZero.length - 5);
  for (
    const bytes of [truncated, new TextEncoder().encode("#!/bin/sh\nrm -rf /"), new Uint8Array()]
  ) {
    await assert.rejects(() => run(bytes), { code: "module_invalid" });
  }
});

Deno.test("WASI path and socket calls are refused: no preopens (EBADF), no sockets (ENOTCAPABLE)", async () => {
  const outcome = await run(guests.wasiEscape);
  assert.equal(outcome.status, "completed");
  assert.deepEqual(outcome.result, ["08", "76"]);
});

Deno.test("WASI calls that need no capability still count against the core budget", async () => {
  const outcome = await run(guests.wasiEscape, { ...grants, limits: { host_calls: { core: 1 } } });
  assert.equal(outcome.error?.code, "host_call_budget");
  assert.equal(outcome.error?.details?.capability, "core");
});
