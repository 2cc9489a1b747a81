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
import { echoGuest } from "../tests/support/test_guests.ts";

const registry = new CapabilityRegistry([ioPlugin()]);
const manifest = parseManifest({ capabilities: { io: {} } }, registry);
const step = { stepId: "s-1", handler: "bench.echo", correlationId: "c-1" };
const guest = prepareGuest(
  echoGuest(),
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
