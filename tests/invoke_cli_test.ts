/**
 * `deno task invoke` end to end: a real CLI process running guests in real
 * sandbox processes.
 */
import assert from "node:assert/strict";
import { echoGuest } from "./support/test_guests.ts";
import { wat } from "./support/wat.ts";
import { deepRecursion, hostCallFlood } from "./support/hostile_guests.ts";

const CLI = new URL("../src/cli/invoke.ts", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "invoke-test-" });

async function write(name: string, content: Uint8Array | unknown): Promise<string> {
  const path = `${dir}/${name}`;
  if (content instanceof Uint8Array) await Deno.writeFile(path, content);
  else await Deno.writeTextFile(path, JSON.stringify(content));
  return path;
}

async function invoke(...args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "--allow-run", "--allow-net", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  return { code, out, err: new TextDecoder().decode(stderr), json: () => JSON.parse(out) };
}

const echo = await write(
  "echo.wasm",
  echoGuest(),
);
const secretEcho = await write(
  "secret_echo.wasm",
  wat(`(module
    (import "secrets" "get" (func $get (param i32 i32) (result i32)))
    (import "secrets" "read_result" (func $read (param i32 i32) (result i32)))
    (import "io" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "TOKEN")
    (data (i32.const 100) "\\"")
    (func (export "run") (result i32) (local $n i32)
      (local.set $n (call $get (i32.const 0) (i32.const 5)))
      (drop (call $read (i32.const 101) (local.get $n)))
      (i32.store8 (i32.add (i32.const 101) (local.get $n)) (i32.const 34))
      (drop (call $write (i32.const 100) (i32.add (local.get $n) (i32.const 2))))
      (i32.const 0)))`),
);
const spin = await write(
  "spin.wasm",
  wat(
    `(module (memory (export "memory") 1) (func (export "run") (result i32) (loop $l (br $l)) (i32.const 0)))`,
  ),
);
const input = await write("input.json", { context: { id: 7 } });

Deno.test("invoke prints a completed outcome and exits 0", async () => {
  const r = await invoke(echo, "--input", input);
  assert.equal(r.code, 0, r.err);
  const outcome = r.json();
  assert.equal(outcome.status, "completed");
  assert.deepEqual(outcome.result, { context: { id: 7 } });
  assert.equal(outcome.error, null);
  for (
    const key of [
      "compile_ms",
      "instantiate_us",
      "run_ms",
      "memory_high_water_bytes",
      "policy_denials",
    ]
  ) {
    assert.equal(typeof outcome.metrics[key], "number", key);
  }
  assert.equal(outcome.metrics.host_calls["io.read_input"], 1);
  assert.deepEqual(outcome.metrics.log, { records: 0, dropped: 0, truncated: 0 });
});

Deno.test("invoke exits 1 with the error code when the step fails", async () => {
  const r = await invoke(await write("rec.wasm", deepRecursion));
  assert.equal(r.code, 1);
  assert.equal(r.json().error.code, "trap");
});

Deno.test("invoke --timeout-ms kills a spinning guest and reports timeout", async () => {
  const r = await invoke(spin, "--timeout-ms", "300");
  assert.equal(r.code, 1, r.err);
  assert.equal(r.json().error.code, "timeout");
  assert.equal(r.json().error.retryable, true);
});

Deno.test("invoke runs the guest under the default manifest: io and log only", async () => {
  const r = await invoke(secretEcho, "--secret", "TOKEN=abcdefgh12345678");
  assert.equal(r.code, 1);
  assert.equal(r.json().error.code, "unknown_import");
  assert.equal(r.json().error.details.module, "secrets");
});

Deno.test("invoke never prints a secret, and fails a step that leaks it", async () => {
  const manifest = await write("secret_manifest.json", {
    capabilities: { io: {}, secrets: { keys: ["TOKEN"] } },
  });
  const r = await invoke(secretEcho, "--manifest", manifest, "--secret", "TOKEN=abcdefgh12345678");
  assert.equal(r.code, 1, r.err);
  assert.equal(r.json().error.code, "secret_leak");
  assert.ok(!r.out.includes("abcdefgh12345678") && !r.err.includes("abcdefgh12345678"));
});

Deno.test("invoke exits 2 naming every manifest problem", async () => {
  const manifest = await write("bad_manifest.json", {
    capabilities: { io: {}, fs: {} },
    limits: { timeout_ms: 0 },
  });
  const r = await invoke(echo, "--manifest", manifest);
  assert.equal(r.code, 2);
  assert.equal(r.out, "");
  assert.match(r.err, /capabilities\.fs: unknown capability/);
  assert.match(r.err, /limits\.timeout_ms/);
});

Deno.test("invoke exits 2 on usage errors with a message naming the problem", async () => {
  assert.match((await invoke()).err, /exactly one guest/);
  assert.equal((await invoke()).code, 2);
  const missing = await invoke(`${dir}/nope.wasm`);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /Cannot read guest/);
  const badJson = await write("bad.json", "{");
  await Deno.writeTextFile(badJson, "{");
  const r = await invoke(echo, "--input", badJson);
  assert.equal(r.code, 2);
  assert.match(r.err, /Cannot parse input/);
  const bad = await invoke(echo, "--timeout-ms", "soon");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--timeout-ms/);
  assert.equal((await invoke(echo, "--secret", "novalue")).code, 2);
  assert.equal((await invoke(echo, "--bogus")).code, 2);
});

Deno.test("invoke --memory-limit-mb rejects a guest that declares more memory", async () => {
  const big = await write(
    "big.wasm",
    wat(`(module (memory (export "memory") 64) (func (export "run") (result i32) (i32.const 0)))`),
  );
  const r = await invoke(big, "--memory-limit-mb", "1");
  assert.equal(r.code, 1);
  assert.equal(r.json().error.code, "memory_limit");
});

Deno.test("invoke --help explains the command and exits 0", async () => {
  const r = await invoke("--help");
  assert.equal(r.code, 0);
  assert.match(r.out, /Usage: deno task invoke/);
  assert.match(r.out, /--manifest/);
  assert.match(r.out, /Exit status/);
});

Deno.test("invoke fails a host-call flood with host_call_budget", async () => {
  const manifest = await write("flood.json", {
    capabilities: { io: {} },
    limits: { host_calls: { io: 50 } },
  });
  const r = await invoke(await write("flood.wasm", hostCallFlood), "--manifest", manifest);
  assert.equal(r.json().error.code, "host_call_budget");
});
