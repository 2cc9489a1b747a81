import assert from "node:assert/strict";
import { CapabilityRegistry } from "../../src/capability/capability_registry.ts";
import { ManifestError, WasmBrokerError } from "../../src/errors.ts";
import { parseManifest } from "../../src/manifest/manifest.ts";
import { prepareGuest } from "../../src/runtime/prepared_guest.ts";
import { runStep } from "../../src/runtime/run_step.ts";
import { wat } from "../../tests/support/wat.ts";
import { ioPlugin } from "../io/mod.ts";
import {
  DEFAULT_SECRET_ENV_PREFIX,
  mapSecretSource,
  MIN_SECRET_BYTES,
  type SecretSource,
  secretsPlugin,
} from "./mod.ts";

const step = { stepId: "s-1", handler: "probe", correlationId: "c-1" };
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/**
 * Reads the key given as its JSON-string input. Outputs {"value": "..."} on
 * success, else {"rc": <errno>, "error": <secrets.last_error JSON>}.
 */
const PROBE = wat(String.raw`(module
  (import "io" "input_len" (func $input_len (result i32)))
  (import "io" "read_input" (func $read_input (param i32 i32) (result i32)))
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (import "secrets" "get" (func $get (param i32 i32) (result i32)))
  (import "secrets" "read_result" (func $read_result (param i32 i32) (result i32)))
  (import "secrets" "last_error" (func $last_error (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 60000) "{\"value\":\"")
  (data (i32.const 60016) "\"}")
  (data (i32.const 60032) "{\"rc\":-")
  (data (i32.const 60048) ",\"error\":")
  (data (i32.const 60064) "}")
  (func (export "run") (result i32) (local $n i32) (local $rc i32)
    (local.set $n (call $input_len))
    (drop (call $read_input (i32.const 0) (local.get $n)))
    ;; the key is the input without its quotes
    (local.set $rc (call $get (i32.const 1) (i32.sub (local.get $n) (i32.const 2))))
    (if (i32.ge_s (local.get $rc) (i32.const 0))
      (then
        (drop (call $read_result (i32.const 4096) (local.get $rc)))
        (drop (call $write (i32.const 60000) (i32.const 10)))
        (drop (call $write (i32.const 4096) (local.get $rc)))
        (drop (call $write (i32.const 60016) (i32.const 2)))
        (return (i32.const 0))))
    (i32.store8 (i32.const 60080) (i32.sub (i32.const 48) (local.get $rc)))
    (local.set $n (call $last_error (i32.const 1024) (i32.const 2048)))
    (drop (call $write (i32.const 60032) (i32.const 7)))
    (drop (call $write (i32.const 60080) (i32.const 1)))
    (drop (call $write (i32.const 60048) (i32.const 9)))
    (drop (call $write (i32.const 1024) (local.get $n)))
    (drop (call $write (i32.const 60064) (i32.const 1)))
    (i32.const 0)))`);

const VALUES = { API_TOKEN: "tok-0123456789", DB_PASSWORD: "correct horse battery" };

/** Runs PROBE for `key` the way a sandbox would: broker half first, then the guest. */
async function probe(
  key: string,
  keys: string[] = ["API_TOKEN", "UNSET_KEY"],
  source: SecretSource = mapSecretSource(VALUES),
) {
  const plugin = secretsPlugin({ source });
  const registry = new CapabilityRegistry([ioPlugin(), plugin]);
  const manifest = parseManifest({ capabilities: { io: {}, secrets: { keys } } }, registry);
  const prepared = await plugin.prepareStep!(manifest.capabilities.secrets as never, step);
  const guest = prepareGuest(PROBE, manifest, registry);
  return await runStep(guest, { input: enc(key), step, data: { secrets: prepared.data } }, {
    registry,
  });
}

Deno.test("secretsPlugin() gives a guest the value of a declared key", async () => {
  const outcome = await probe("API_TOKEN");
  assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
  assert.deepEqual(outcome.result, { value: VALUES.API_TOKEN });
  assert.equal(outcome.metrics.host_calls["secrets.get"], 1);
  assert.equal(outcome.metrics.policy_denials, 0);
});

Deno.test("secretsPlugin() denies an undeclared key, naming the key but no value", async () => {
  const outcome = await probe("DB_PASSWORD");
  assert.equal(outcome.status, "completed");
  const result = outcome.result as { rc: number; error: { code: string; message: string } };
  assert.equal(result.rc, -1);
  assert.equal(result.error.code, "secret_undeclared");
  assert.match(result.error.message, /"DB_PASSWORD"/);
  for (const value of Object.values(VALUES)) {
    assert.equal(JSON.stringify(outcome).includes(value), false);
  }
  assert.equal(outcome.metrics.policy_denials, 1);
  assert.deepEqual(outcome.metrics.denials_by_code, { "secrets.secret_undeclared": 1 });
});

Deno.test("secretsPlugin() answers not_found for a declared key the source lacks", async () => {
  const outcome = await probe("UNSET_KEY");
  const result = outcome.result as { rc: number; error: { code: string; message: string } };
  assert.equal(result.rc, -2);
  assert.equal(result.error.code, "secret_missing");
  assert.match(result.error.message, /"UNSET_KEY"/);
  assert.equal(outcome.metrics.policy_denials, 0, "a missing value is no policy denial");
});

Deno.test("secretsPlugin() reads nothing when the manifest declares no keys", async () => {
  for (const section of [{}, { keys: [] }]) {
    const plugin = secretsPlugin({ source: mapSecretSource(VALUES) });
    const registry = new CapabilityRegistry([ioPlugin(), plugin]);
    const manifest = parseManifest({ capabilities: { io: {}, secrets: section } }, registry);
    const policy = manifest.capabilities.secrets as never;
    assert.deepEqual(await plugin.prepareStep!(policy, step), { data: {}, sensitive: [] });
  }
  const outcome = await probe("API_TOKEN", []);
  assert.equal((outcome.result as { rc: number }).rc, -1);
});

Deno.test("secretsPlugin() denies a key longer than any declarable one without reading it", async () => {
  const outcome = await probe("A".repeat(200));
  const result = outcome.result as { rc: number; error: { code: string } };
  assert.equal(result.rc, -1);
  assert.equal(result.error.code, "secret_undeclared");
});

Deno.test("secretsPlugin() rejects a key that is not UTF-8 with invalid_argument", async () => {
  const guest = wat(`(module
    (import "io" "write_output" (func $write (param i32 i32) (result i32)))
    (import "secrets" "get" (func $get (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "\\ff\\fe")
    (func (export "run") (result i32)
      (i32.store8 (i32.const 16) (i32.sub (i32.const 48) (call $get (i32.const 0) (i32.const 2))))
      (i32.store8 (i32.const 15) (i32.const 45))
      (drop (call $write (i32.const 15) (i32.const 2)))
      (i32.const 0)))`);
  const registry = new CapabilityRegistry([ioPlugin(), secretsPlugin()]);
  const manifest = parseManifest({ capabilities: { io: {}, secrets: { keys: ["A"] } } }, registry);
  const outcome = await runStep(prepareGuest(guest, manifest, registry), {
    input: enc({}),
    step,
  }, { registry });
  assert.equal(outcome.result, -3);
});

Deno.test("secretsPlugin() faults a guest that passes a key outside its memory", async () => {
  const guest = wat(`(module
    (import "secrets" "get" (func $get (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "run") (result i32) (drop (call $get (i32.const 65530) (i32.const 100))) (i32.const 0)))`);
  const registry = new CapabilityRegistry([ioPlugin(), secretsPlugin()]);
  const manifest = parseManifest({ capabilities: { secrets: { keys: ["A"] } } }, registry);
  const outcome = await runStep(prepareGuest(guest, manifest, registry), {
    input: enc({}),
    step,
  }, { registry });
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error?.code, "bad_pointer");
});

Deno.test("secretsPlugin() prepareStep resolves declared keys and marks their values sensitive", async () => {
  const asked: string[] = [];
  const plugin = secretsPlugin({
    source: {
      get(key) {
        asked.push(key);
        return Promise.resolve((VALUES as Record<string, string>)[key]);
      },
    },
  });
  const prepared = await plugin.prepareStep!(
    { keys: ["DB_PASSWORD", "MISSING", "API_TOKEN"] },
    step,
  );
  assert.deepEqual(asked.sort(), ["API_TOKEN", "DB_PASSWORD", "MISSING"]);
  assert.deepEqual(prepared.data, {
    DB_PASSWORD: VALUES.DB_PASSWORD,
    API_TOKEN: VALUES.API_TOKEN,
  });
  assert.deepEqual(prepared.sensitive, [VALUES.DB_PASSWORD, VALUES.API_TOKEN]);
});

Deno.test("secretsPlugin() refuses a value shorter than MIN_SECRET_BYTES with a coded error", async () => {
  const plugin = secretsPlugin({ source: mapSecretSource({ PIN: "4711", EMPTY: "" }) });
  for (const key of ["PIN", "EMPTY"]) {
    await assert.rejects(
      async () => await plugin.prepareStep!({ keys: [key] }, step),
      (error: unknown) => {
        assert.ok(error instanceof WasmBrokerError);
        assert.equal(error.code, "policy_fault");
        assert.deepEqual(error.details, {
          capability: "secrets",
          key,
          reason: "secret_too_short",
          min_bytes: MIN_SECRET_BYTES,
        });
        assert.equal(key === "PIN" && error.message.includes("4711"), false);
        return true;
      },
    );
  }
  // Eight bytes is enough, counted in UTF-8 bytes rather than characters.
  const ok = secretsPlugin({ source: mapSecretSource({ A: "12345678", B: "ééé€" }) });
  assert.deepEqual((await ok.prepareStep!({ keys: ["A", "B"] }, step)).sensitive, [
    "12345678",
    "ééé€",
  ]);
});

Deno.test("secretsPlugin() turns a failing source into a retryable coded error without its text", async () => {
  const plugin = secretsPlugin({
    source: { get: () => Promise.reject(new Error("vault said: value was tok-0123456789")) },
  });
  await assert.rejects(
    async () => await plugin.prepareStep!({ keys: ["API_TOKEN"] }, step),
    (error: unknown) => {
      assert.ok(error instanceof WasmBrokerError);
      assert.equal(error.code, "internal");
      assert.equal(error.retryable, true);
      assert.equal(error.details.key, "API_TOKEN");
      assert.equal(error.message.includes("tok-0123456789"), false);
      return true;
    },
  );
});

Deno.test("secretsPlugin() rejects a source that returns something other than a string", async () => {
  const plugin = secretsPlugin({ source: { get: () => 42 as unknown as string } });
  await assert.rejects(
    async () => await plugin.prepareStep!({ keys: ["API_TOKEN"] }, step),
    TypeError,
  );
});

Deno.test("secretsPlugin() reads WASM_BROKER_SECRET_<KEY> from the environment by default", async () => {
  const name = `${DEFAULT_SECRET_ENV_PREFIX}PLUGIN_TEST_TOKEN`;
  Deno.env.set(name, "env-secret-value");
  Deno.env.set("PLUGIN_TEST_TOKEN", "unprefixed-value");
  try {
    const prepared = await secretsPlugin().prepareStep!({ keys: ["PLUGIN_TEST_TOKEN"] }, step);
    assert.deepEqual(prepared.data, { PLUGIN_TEST_TOKEN: "env-secret-value" });
  } finally {
    Deno.env.delete(name);
    Deno.env.delete("PLUGIN_TEST_TOKEN");
  }
});

Deno.test("secretsPlugin() schema rejects bad and duplicate key names with their paths", () => {
  const registry = new CapabilityRegistry([secretsPlugin()]);
  const parse = (secrets: unknown) => () => parseManifest({ capabilities: { secrets } }, registry);
  assert.throws(parse({ keys: ["OK", "lower", "9LIVES", "OK", "A-B"] }), (error) => {
    assert.ok(error instanceof ManifestError);
    assert.deepEqual(error.issues.map((i) => i.path), [
      "capabilities.secrets.keys[1]",
      "capabilities.secrets.keys[2]",
      "capabilities.secrets.keys[4]",
      "capabilities.secrets.keys[3]",
    ]);
    assert.match(error.issues[0].message, /got "lower"/);
    assert.match(error.issues[3].message, /duplicate key "OK"/);
    return true;
  });
  assert.throws(parse({ keys: ["A"], extra: true }), (error) => {
    assert.ok(error instanceof ManifestError);
    assert.deepEqual(error.issues, [{
      path: "capabilities.secrets.extra",
      message: "unknown key",
    }]);
    return true;
  });
  assert.throws(parse({ keys: ["K".repeat(129)] }), ManifestError);
  assert.throws(parse({ keys: Array.from({ length: 101 }, (_, i) => `K${i}`) }), ManifestError);
  assert.throws(parse({ keys: "API_TOKEN" }), ManifestError);
});
