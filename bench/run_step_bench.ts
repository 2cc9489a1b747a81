/**
 * One step of a small guest run in-process by `runStep` (no sandbox, no
 * database): the runtime's own cost per step, with and without timing the
 * guest's host calls (`timeHostCalls`, asked for when a step's spans are
 * recorded). The guest reads its input and writes it back: three io calls.
 *
 *   deno bench -A bench/run_step_bench.ts
 *
 * @module
 */
import { ioPlugin } from "../plugins/io/mod.ts";
import { CapabilityRegistry } from "../src/capability/capability_registry.ts";
import { parseManifest } from "../src/manifest/manifest.ts";
import { prepareGuest } from "../src/runtime/prepared_guest.ts";
import { runStep } from "../src/runtime/run_step.ts";
import { wat } from "../tests/support/wat.ts";

const registry = new CapabilityRegistry([ioPlugin()]);
const manifest = parseManifest({ capabilities: { io: {} } }, registry);
const step = { stepId: "s-1", handler: "bench.echo", correlationId: "c-1" };
const guest = prepareGuest(
  wat(`(module
    (import "io" "input_len" (func $len (result i32)))
    (import "io" "read_input" (func $read (param i32 i32) (result i32)))
    (import "io" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "run") (result i32) (local $n i32)
      (local.set $n (call $len))
      (drop (call $read (i32.const 0) (local.get $n)))
      (drop (call $write (i32.const 0) (local.get $n)))
      (i32.const 0)))`),
  manifest,
  registry,
);
const input = new TextEncoder().encode('{"order":{"id":"o-1","total":42}}');

Deno.bench("runStep, host calls not timed", { group: "run_step", baseline: true }, async () => {
  await runStep(guest, { input, step }, { registry });
});

Deno.bench("runStep, host calls timed", { group: "run_step" }, async () => {
  await runStep(guest, { input, step, timeHostCalls: true }, { registry });
});
