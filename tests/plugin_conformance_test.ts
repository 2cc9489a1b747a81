/**
 * One conformance suite run against every capability plugin: the built-in
 * ones and the kv example added from outside the core. A new plugin gets
 * these checks by being added to PLUGINS.
 */
import assert from "node:assert/strict";
import { kvPlugin } from "../examples/kv_plugin/kv_plugin.ts";
import { builtinPlugins } from "../plugins/builtin_plugins.ts";
import type { CapabilityPlugin } from "../src/capability/capability_plugin.ts";
import { CapabilityRegistry } from "../src/capability/capability_registry.ts";
import { GuestMemory } from "../src/capability/guest_memory.ts";
import { createStepClock } from "../src/capability/step_clock.ts";
import { StepIo } from "../src/capability/step_io.ts";
import { StepLog } from "../src/capability/step_log.ts";
import { CORE_NAMESPACE_FUNCTIONS } from "../src/runtime/import_audit.ts";

const PLUGINS: CapabilityPlugin[] = [...builtinPlugins(), kvPlugin() as CapabilityPlugin];
const step = { stepId: "conf-1", handler: "conformance", correlationId: "c" };

function context(plugin: CapabilityPlugin, policy: unknown) {
  return {
    policy,
    step,
    memory: new GuestMemory(),
    io: new StepIo(new Uint8Array(), 1024),
    log: new StepLog(step, { lineBytes: 100, lines: 10, bytes: 1000, minLevel: "debug" }, () => 0),
    clock: createStepClock({ startMs: 0 }),
    data: undefined,
    signal: new AbortController().signal,
    deny: () => -1,
    fail: () => -1,
    stage: (b: Uint8Array) => b.length,
    callBroker: () =>
      Promise.reject(new Error(`no broker half in conformance test of ${plugin.name}`)),
  };
}

for (const plugin of PLUGINS) {
  Deno.test(`${plugin.name}: registers and documents itself`, () => {
    new CapabilityRegistry([plugin]);
    assert.ok(plugin.description.length > 10);
    for (const [name, spec] of Object.entries(plugin.functions)) {
      assert.ok(!(name in CORE_NAMESPACE_FUNCTIONS), `${name} is a core function`);
      assert.ok(spec.results.length <= 1, name);
      assert.ok(spec.doc && spec.doc.length > 5, `${plugin.name}.${name} has no doc`);
    }
    if (plugin.defaultBudget !== undefined) assert.ok(plugin.defaultBudget > 0);
  });

  Deno.test(`${plugin.name}: its manifest section rejects unknown keys`, () => {
    const result = plugin.schema.safeParse({ no_such_knob: true });
    assert.equal(result.success, false);
  });

  Deno.test(`${plugin.name}: its manifest section has safe defaults (absent lists deny)`, () => {
    const result = plugin.schema.safeParse({});
    if (!result.success) return; // a section with required fields cannot be empty: also safe
    // Lists that name what may be reached (allowlists, secret keys, kv namespaces) must
    // default to empty; other lists (e.g. http methods) only narrow what a grant allows.
    for (const [key, value] of Object.entries(result.data as Record<string, unknown>)) {
      if (/^(allow|keys|namespaces|hosts)/.test(key)) {
        assert.deepEqual(value, [], `${plugin.name}.${key} must not grant anything by default`);
      }
    }
  });

  Deno.test(`${plugin.name}: implements every function it declares`, () => {
    const parsed = plugin.schema.safeParse({});
    const policy = parsed.success ? parsed.data : {};
    const implementations = plugin.instantiate(context(plugin, policy) as never);
    assert.deepEqual(Object.keys(implementations).sort(), Object.keys(plugin.functions).sort());
    for (const fn of Object.values(implementations)) assert.equal(typeof fn, "function");
  });

  Deno.test(`${plugin.name}: a sandbox process can re-create it from its source`, async () => {
    assert.ok(plugin.source, "plugins need a source to run in sandboxes");
    assert.ok(plugin.source.module.startsWith("file:"), plugin.source.module);
    const module = await import(plugin.source.module);
    const factory = module[plugin.source.factory];
    assert.equal(typeof factory, "function", `${plugin.source.factory} is not exported`);
    const recreated = factory(plugin.source.options) as CapabilityPlugin;
    assert.equal(recreated.name, plugin.name);
    assert.deepEqual(recreated.functions, plugin.functions);
    assert.doesNotThrow(() => JSON.stringify(plugin.source));
  });
}
