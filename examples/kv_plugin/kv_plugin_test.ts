import assert from "node:assert/strict";
import { ioPlugin } from "../../plugins/io/mod.ts";
import { logPlugin } from "../../plugins/log/mod.ts";
import { mapSecretSource, secretsPlugin } from "../../plugins/secrets/mod.ts";
import { timePlugin } from "../../plugins/time/mod.ts";
import { CapabilityRegistry } from "../../src/capability/capability_registry.ts";
import { ManifestError, UnknownImportError, WasmBrokerError } from "../../src/errors.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { SandboxPool } from "../../src/sandbox/sandbox_pool.ts";
import { wat } from "../../tests/support/wat.ts";
import { KV_ENTRY_OVERHEAD_BYTES, kvPlugin, type KvStore } from "./kv_plugin.ts";

/**
 * Runs a script of kv operations from its raw input. Each operation is
 * [op: "P" | "G" | "D"][ns length][ns][key length][key][value length: u16 LE][value].
 * Outputs a JSON array with one item per operation: the value (as a string)
 * of a successful get, the return code of put and delete, and
 * {"rc": -n, "error": <kv.last_error>} for any error.
 */
const KV_SCRIPT = wat(String.raw`(module
  (import "io" "input_len" (func $input_len (result i32)))
  (import "io" "read_input" (func $read_input (param i32 i32) (result i32)))
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (import "kv" "get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "kv" "put" (func $put (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "kv" "delete" (func $delete (param i32 i32 i32 i32) (result i32)))
  (import "kv" "read_result" (func $read_result (param i32 i32) (result i32)))
  (import "kv" "last_error" (func $last_error (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 65100) "{\"rc\":-")
  (data (i32.const 65120) ",\"error\":")

  (func $out_byte (param $b i32)
    (i32.store8 (i32.const 65000) (local.get $b))
    (drop (call $write (i32.const 65000) (i32.const 1))))

  (func $out_rc (param $rc i32) (local $len i32)
    (if (i32.ge_s (local.get $rc) (i32.const 0)) (then
      (call $out_byte (i32.add (i32.const 48) (local.get $rc)))
      (return)))
    (drop (call $write (i32.const 65100) (i32.const 7)))
    (call $out_byte (i32.sub (i32.const 48) (local.get $rc)))
    (drop (call $write (i32.const 65120) (i32.const 9)))
    (local.set $len (call $last_error (i32.const 49152) (i32.const 4096)))
    (drop (call $write (i32.const 49152) (local.get $len)))
    (call $out_byte (i32.const 125)))

  (func (export "run") (result i32)
    (local $n i32) (local $p i32) (local $op i32) (local $rc i32) (local $first i32)
    (local $ns i32) (local $nsl i32) (local $k i32) (local $kl i32) (local $v i32) (local $vl i32)
    (local.set $n (call $input_len))
    (drop (call $read_input (i32.const 0) (local.get $n)))
    (call $out_byte (i32.const 91))
    (local.set $first (i32.const 1))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $n)))
      (if (i32.eqz (local.get $first)) (then (call $out_byte (i32.const 44))))
      (local.set $first (i32.const 0))
      (local.set $op (i32.load8_u (local.get $p)))
      (local.set $nsl (i32.load8_u offset=1 (local.get $p)))
      (local.set $ns (i32.add (local.get $p) (i32.const 2)))
      (local.set $kl (i32.load8_u (i32.add (local.get $ns) (local.get $nsl))))
      (local.set $k (i32.add (i32.add (local.get $ns) (local.get $nsl)) (i32.const 1)))
      (local.set $vl (i32.load16_u (i32.add (local.get $k) (local.get $kl))))
      (local.set $v (i32.add (i32.add (local.get $k) (local.get $kl)) (i32.const 2)))
      (local.set $p (i32.add (local.get $v) (local.get $vl)))
      (if (i32.eq (local.get $op) (i32.const 80)) (then
        (local.set $rc (call $put (local.get $ns) (local.get $nsl) (local.get $k) (local.get $kl)
          (local.get $v) (local.get $vl)))))
      (if (i32.eq (local.get $op) (i32.const 68)) (then
        (local.set $rc (call $delete (local.get $ns) (local.get $nsl) (local.get $k) (local.get $kl)))))
      (if (i32.eq (local.get $op) (i32.const 71)) (then
        (local.set $rc (call $get (local.get $ns) (local.get $nsl) (local.get $k) (local.get $kl)))
        (if (i32.ge_s (local.get $rc) (i32.const 0)) (then
          (drop (call $read_result (i32.const 32768) (local.get $rc)))
          (call $out_byte (i32.const 34))
          (drop (call $write (i32.const 32768) (local.get $rc)))
          (call $out_byte (i32.const 34))
          (br $next)))))
      (call $out_rc (local.get $rc))
      (br $next)))
    (call $out_byte (i32.const 93))
    (i32.const 0)))`);

type Op = ["P", string, string, string] | ["G" | "D", string, string];

const encoder = new TextEncoder();

/** Encodes a script for KV_SCRIPT. */
function script(...ops: Op[]): Uint8Array {
  const parts: number[] = [];
  for (const [op, ns, key, value = ""] of ops) {
    const [n, k, v] = [encoder.encode(ns), encoder.encode(key), encoder.encode(value)];
    parts.push(
      op.charCodeAt(0),
      n.length,
      ...n,
      k.length,
      ...k,
      v.length & 0xff,
      v.length >> 8,
      ...v,
    );
  }
  return new Uint8Array(parts);
}

interface KvError {
  rc: number;
  error: { code: string; message: string };
}

/** A runtime with the built-in plugins and kv, none of which is registered by src/. */
function runtimeWith(store: KvStore = new Map()): Runtime {
  return new Runtime({
    plugins: [
      ioPlugin(),
      logPlugin(),
      secretsPlugin({ source: mapSecretSource({}) }),
      timePlugin(),
      kvPlugin({ store }),
    ],
  });
}

const manifest = (kv: Record<string, unknown>) => ({ capabilities: { io: {}, kv } });

Deno.test("kvPlugin() adds a capability to a Runtime next to the built-in plugins", async () => {
  const runtime = runtimeWith();
  try {
    assert.deepEqual(runtime.registry.names(), ["io", "kv", "log", "secrets", "time"]);
    const guest = await runtime.load(KV_SCRIPT, manifest({ namespaces: ["cache"] }));
    const outcome = await runtime.execute(
      guest,
      script(
        ["G", "cache", "k1"],
        ["P", "cache", "k1", "hello"],
        ["G", "cache", "k1"],
        ["P", "cache", "k1", "world"],
        ["G", "cache", "k1"],
        ["D", "cache", "k1"],
        ["D", "cache", "k1"],
      ),
    );
    assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
    const [missing, ...rest] = outcome.result as [KvError, ...unknown[]];
    assert.equal(missing.rc, -2);
    assert.equal(missing.error.code, "key_missing");
    assert.deepEqual(rest, [0, "hello", 0, "world", 1, 0]);
    assert.equal(outcome.metrics.host_calls["kv.put"], 2);
    assert.equal(outcome.metrics.policy_denials, 0);
  } finally {
    await runtime.close();
  }
});

Deno.test("kvPlugin() keeps values across steps of one handler and apart between handlers", async () => {
  const store: KvStore = new Map();
  const runtime = runtimeWith(store);
  try {
    const guest = await runtime.load(KV_SCRIPT, manifest({ namespaces: ["cache"] }));
    const as = (handler: string, ...ops: Op[]) =>
      runtime.execute(guest, script(...ops), { step: { handler } });
    assert.deepEqual((await as("alpha", ["P", "cache", "k", "from-alpha"])).result, [0]);
    assert.deepEqual((await as("alpha", ["G", "cache", "k"])).result, ["from-alpha"]);
    const beta = (await as("beta", ["G", "cache", "k"])).result as KvError[];
    assert.equal(beta[0].error.code, "key_missing", "another handler's namespace is separate");
    assert.deepEqual(
      [...store.get(JSON.stringify(["alpha", "cache"]))!.entries.keys()],
      ["k"],
    );
  } finally {
    await runtime.close();
  }
});

Deno.test("kvPlugin() denies a namespace the manifest does not declare", async () => {
  const runtime = runtimeWith();
  try {
    const guest = await runtime.load(KV_SCRIPT, manifest({ namespaces: ["cache"] }));
    const outcome = await runtime.execute(
      guest,
      script(["P", "other", "k", "v"], ["G", "other", "k"], ["D", "Cache", "k"]),
    );
    const results = outcome.result as KvError[];
    assert.deepEqual(results.map((r) => [r.rc, r.error.code]), [
      [-1, "namespace_undeclared"],
      [-1, "namespace_undeclared"],
      [-1, "namespace_undeclared"],
    ]);
    assert.match(results[0].error.message, /"other"/);
    assert.deepEqual(outcome.metrics.denials_by_code, { "kv.namespace_undeclared": 3 });
  } finally {
    await runtime.close();
  }
});

Deno.test("kvPlugin() makes no namespace usable when the manifest lists none", async () => {
  const runtime = runtimeWith();
  try {
    const guest = await runtime.load(KV_SCRIPT, manifest({}));
    const outcome = await runtime.execute(guest, script(["G", "cache", "k"]));
    const [denied] = outcome.result as KvError[];
    assert.equal(denied.rc, -1);
    assert.match(denied.error.message, /declared: none/);
  } finally {
    await runtime.close();
  }
});

Deno.test("kvPlugin() denies values above max_value_bytes and namespaces above max_bytes", async () => {
  const store: KvStore = new Map();
  const runtime = runtimeWith(store);
  try {
    const entry = (key: string, value: string) =>
      key.length + value.length + KV_ENTRY_OVERHEAD_BYTES;
    const guest = await runtime.load(
      KV_SCRIPT,
      manifest({
        namespaces: ["cache"],
        max_value_bytes: 8,
        max_bytes: 2 * entry("a", "12345678"),
      }),
    );
    const outcome = await runtime.execute(
      guest,
      script(
        ["P", "cache", "a", "123456789"], // 9 bytes > max_value_bytes
        ["P", "cache", "a", "12345678"],
        ["P", "cache", "b", "12345678"],
        ["P", "cache", "c", "1"], // a third entry does not fit
        ["P", "cache", "a", "1234"], // overwriting within the budget does
        ["D", "cache", "b"],
        ["P", "cache", "c", "1"], // and deleting frees room
      ),
    );
    const results = outcome.result as (number | KvError)[];
    assert.deepEqual(
      results.map((r) => typeof r === "number" ? r : `${r.rc} ${r.error.code}`),
      ["-4 value_too_large", 0, 0, "-4 namespace_full", 0, 1, 0],
    );
    // The handler name defaults to the guest's name, "guest" for a manifest without one.
    const ns = store.get(JSON.stringify(["guest", "cache"]))!;
    assert.equal(ns.bytes, entry("a", "1234") + entry("c", "1"));
  } finally {
    await runtime.close();
  }
});

Deno.test("kvPlugin() rejects an empty or oversized key with invalid_argument", async () => {
  const runtime = runtimeWith();
  try {
    const guest = await runtime.load(KV_SCRIPT, manifest({ namespaces: ["cache"] }));
    const outcome = await runtime.execute(
      guest,
      script(["G", "cache", ""], ["P", "cache", "", "v"]),
    );
    const results = outcome.result as KvError[];
    assert.deepEqual(results.map((r) => [r.rc, r.error.code]), [[-3, "invalid_key"], [
      -3,
      "invalid_key",
    ]]);
    assert.equal(outcome.metrics.policy_denials, 0);
  } finally {
    await runtime.close();
  }
});

Deno.test("kvPlugin() manifest section rejects bad namespaces and unknown keys", () => {
  const runtime = runtimeWith();
  assert.throws(
    () =>
      runtime.parseManifest({
        capabilities: { kv: { namespaces: ["ok", "Bad", "ok"], max_value_bytes: 0, ttl: 5 } },
      }),
    (error: unknown) => {
      assert.ok(error instanceof ManifestError);
      assert.deepEqual(error.issues.map((i) => i.path).sort(), [
        "capabilities.kv.max_value_bytes",
        "capabilities.kv.namespaces[1]",
        "capabilities.kv.namespaces[2]",
        "capabilities.kv.ttl",
      ]);
      return true;
    },
  );
});

Deno.test("Runtime.load() refuses a guest that imports kv without a grant", async () => {
  const runtime = runtimeWith();
  try {
    await assert.rejects(
      runtime.load(KV_SCRIPT, { capabilities: { io: {} } }),
      (error: unknown) => {
        assert.ok(error instanceof UnknownImportError);
        assert.equal(error.module, "kv");
        assert.equal(error.reason, "undeclared_capability");
        return true;
      },
    );
  } finally {
    await runtime.close();
  }
});

Deno.test("registering two capability plugins with the same name throws plugin_conflict", () => {
  const conflict = (error: unknown) => {
    assert.ok(error instanceof WasmBrokerError);
    assert.equal(error.code, "plugin_conflict");
    return true;
  };
  assert.throws(() => new Runtime({ plugins: [ioPlugin(), kvPlugin(), kvPlugin()] }), (error) => {
    conflict(error);
    assert.equal((error as WasmBrokerError).details.name, "kv");
    return true;
  });
  // An extension cannot take over a built-in capability's name either.
  assert.throws(
    () => new CapabilityRegistry([ioPlugin()]).register({ ...kvPlugin(), name: "io" }),
    conflict,
  );
});

Deno.test("kvPlugin() runs in a sandbox process, whose store is its own", async () => {
  const brokerStore: KvStore = new Map();
  let pool: SandboxPool | undefined;
  const runtime = new Runtime({
    plugins: [ioPlugin(), logPlugin(), kvPlugin({ store: brokerStore })],
    executor: (registry) =>
      pool = new SandboxPool({ registry, prewarm: 1, maxProcesses: 1, onLog: () => {} }),
  });
  try {
    await pool!.ready();
    const guest = await runtime.load(KV_SCRIPT, manifest({ namespaces: ["cache"] }));
    const put = await runtime.execute(guest, script(["P", "cache", "k", "in-the-sandbox"]));
    assert.deepEqual(put.result, [0], JSON.stringify(put.error));
    const get = await runtime.execute(guest, script(["G", "cache", "k"]));
    assert.deepEqual(get.result, ["in-the-sandbox"], "the sandbox process kept the value");
    assert.equal(brokerStore.size, 0, "the broker's store was never touched");
  } finally {
    await runtime.close();
  }
});
