import assert from "node:assert/strict";
import { z } from "zod";
import { WasmBrokerError } from "../errors.ts";
import type { CapabilityPlugin } from "./capability_plugin.ts";
import { CapabilityRegistry } from "./capability_registry.ts";

function plugin(name: string, functions: CapabilityPlugin["functions"] = {}): CapabilityPlugin {
  return {
    name,
    description: "test",
    schema: z.strictObject({}),
    functions,
    instantiate: () => ({}),
  };
}

Deno.test("CapabilityRegistry lists registered plugins by name", () => {
  const registry = new CapabilityRegistry([plugin("log"), plugin("io")]);
  assert.deepEqual(registry.names(), ["io", "log"]);
  assert.equal(registry.get("io")?.name, "io");
  assert.equal(registry.get("http"), undefined);
});

Deno.test("CapabilityRegistry refuses a second plugin for the same name with plugin_conflict", () => {
  const registry = new CapabilityRegistry([plugin("kv")]);
  assert.throws(() => registry.register(plugin("kv")), (error: unknown) => {
    assert.ok(error instanceof WasmBrokerError);
    assert.equal(error.code, "plugin_conflict");
    assert.equal(error.details.name, "kv");
    return true;
  });
});

Deno.test("CapabilityRegistry refuses the namespaces the core owns", () => {
  for (const name of ["env", "wasi_snapshot_preview1"]) {
    assert.throws(() => new CapabilityRegistry([plugin(name)]), { code: "plugin_conflict" });
  }
});

Deno.test("CapabilityRegistry refuses invalid names and core function names", () => {
  for (const name of ["", "Http", "1x", "a-b", "x".repeat(40)]) {
    assert.throws(() => new CapabilityRegistry([plugin(name)]), TypeError, name);
  }
  assert.throws(
    () => new CapabilityRegistry([plugin("kv", { last_error: { params: [], results: ["i32"] } })]),
    TypeError,
  );
  assert.throws(
    () => new CapabilityRegistry([plugin("kv", { two: { params: [], results: ["i32", "i32"] } })]),
    TypeError,
  );
});
