import assert from "node:assert/strict";
import { resolve } from "node:path";
import { defaultDataDir, defaultRegistryDir } from "./default_registry_dir.ts";

Deno.test("defaultRegistryDir() lives under WASM_BROKER_DATA_DIR when it is set", () => {
  const env = (name: string) => (name === "WASM_BROKER_DATA_DIR" ? "/srv/broker-data" : undefined);
  assert.equal(defaultDataDir(env), "/srv/broker-data");
  assert.equal(defaultRegistryDir(env), "/srv/broker-data/registry");
});

Deno.test("defaultRegistryDir() falls back to ./data/registry when the variable is unset or empty", () => {
  assert.equal(defaultRegistryDir(() => undefined), resolve("data", "registry"));
  assert.equal(defaultRegistryDir(() => ""), resolve("data", "registry"));
  assert.equal(
    defaultRegistryDir((n) => (n === "WASM_BROKER_DATA_DIR" ? "rel" : undefined)),
    resolve("rel", "registry"),
  );
});
