import assert from "node:assert/strict";
import { ioPlugin } from "../../plugins/io/mod.ts";
import { logPlugin } from "../../plugins/log/mod.ts";
import { mapSecretSource, secretsPlugin } from "../../plugins/secrets/mod.ts";
import { sleepPlugin } from "../../tests/fixtures/plugins/sleep_plugin.ts";
import { sleepThenWriteOne } from "../../tests/support/test_guests.ts";
import { wat } from "../../tests/support/wat.ts";
import { CapabilityRegistry } from "../capability/capability_registry.ts";
import { parseManifest } from "../manifest/manifest.ts";
import { prepareGuest } from "./prepared_guest.ts";
import { runStep } from "./run_step.ts";
import { HOST_CALL_LOG_LIMIT } from "./step_outcome.ts";

const registry = new CapabilityRegistry([ioPlugin(), logPlugin()]);
const manifest = parseManifest({ capabilities: { io: {}, log: {} } }, registry);
const step = { stepId: "s-1", handler: "echo", correlationId: "c-1" };
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

const ECHO = wat(`(module
  (import "io" "input_len" (func $len (result i32)))
  (import "io" "read_input" (func $read (param i32 i32) (result i32)))
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (import "log" "write" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 65000) "hello")
  (func (export "run") (result i32) (local $n i32)
    (local.set $n (call $len))
    (drop (call $read (i32.const 0) (local.get $n)))
    (drop (call $log (i32.const 1) (i32.const 65000) (i32.const 5)))
    (drop (call $write (i32.const 0) (local.get $n)))
    (i32.const 0)))`);

Deno.test("runStep() runs a broker-ABI guest that echoes its input", async () => {
  const guest = prepareGuest(ECHO, manifest, registry);
  const outcome = await runStep(guest, { input: enc({ a: [1, 2] }), step }, { registry });
  assert.equal(outcome.status, "completed");
  assert.deepEqual(outcome.result, { a: [1, 2] });
  assert.equal(outcome.error, null);
  assert.equal(outcome.metrics.host_calls["io.read_input"], 1);
  assert.equal(outcome.metrics.memory_high_water_bytes, 65536);
  assert.equal(outcome.logs[0].message, "hello");
  assert.equal(outcome.logs[0].step_id, "s-1");
});

Deno.test("runStep() times the first host calls in order, and only counts the ones past the limit", async () => {
  const guest = prepareGuest(ECHO, manifest, registry);
  const untimed = await runStep(guest, { input: enc({ a: 1 }), step }, { registry });
  assert.equal("host_call_log" in untimed, false, "timed only when asked");
  const outcome = await runStep(guest, { input: enc({ a: 1 }), step, timeHostCalls: true }, {
    registry,
  });
  const log = outcome.host_call_log!;
  assert.deepEqual(log.map((c) => c.call), [
    "io.input_len",
    "io.read_input",
    "log.write",
    "io.write_output",
  ]);
  for (const [i, c] of log.entries()) {
    assert.ok(Number.isInteger(c.at_us) && Number.isInteger(c.us), "whole µs");
    // Rounding to whole µs may put the end up to 1 µs past the run's.
    assert.ok(c.at_us >= 0 && c.us >= 0 && c.at_us + c.us <= outcome.metrics.run_ms * 1000 + 1);
    if (i > 0) assert.ok(c.at_us >= log[i - 1].at_us, "in call order");
  }
  assert.equal(
    "host_call_log" in outcome.metrics,
    false,
    "not in metrics: metrics are stored with the result",
  );

  // A guest that calls the host more often than the limit: the log stops there, the counts do not.
  const chatty = wat(`(module
    (import "io" "input_len" (func $len (result i32)))
    (import "io" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "1")
    (func (export "run") (result i32) (local $i i32)
      (loop $again
        (drop (call $len))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $again (i32.lt_u (local.get $i) (i32.const ${HOST_CALL_LOG_LIMIT + 10}))))
      (drop (call $write (i32.const 0) (i32.const 1)))
      (i32.const 0)))`);
  const many = await runStep(
    prepareGuest(chatty, manifest, registry),
    { input: enc({}), step, timeHostCalls: true },
    { registry },
  );
  assert.equal(many.status, "completed");
  assert.equal(many.metrics.host_calls["io.input_len"], HOST_CALL_LOG_LIMIT + 10);
  assert.equal(many.host_call_log!.length, HOST_CALL_LOG_LIMIT);
  assert.ok(many.host_call_log!.every((c) => c.call === "io.input_len"));
});

Deno.test("runStep() times an async host call until its promise settles", async () => {
  const withSleep = new CapabilityRegistry([ioPlugin(), sleepPlugin()]);
  const sleepy = parseManifest({ capabilities: { io: {}, sleep: {} } }, withSleep);
  const guest = prepareGuest(
    sleepThenWriteOne(30),
    sleepy,
    withSleep,
  );
  const outcome = await runStep(guest, { input: enc({}), step, timeHostCalls: true }, {
    registry: withSleep,
  });
  assert.equal(outcome.status, "completed");
  const [sleep, write] = outcome.host_call_log!;
  assert.equal(sleep.call, "sleep.ms");
  // A lower bound only (a timer never fires much early): the wait is inside the call's time.
  assert.ok(sleep.us >= 20_000, `sleep.ms took ${sleep.us} µs`);
  assert.equal(write.call, "io.write_output");
  assert.ok(write.at_us >= sleep.at_us + sleep.us - 1, "the write came after the sleep ended");
});

Deno.test("runStep() marks a timed host call the policy denied", async () => {
  const withSecrets = new CapabilityRegistry([
    ioPlugin(),
    secretsPlugin({ source: mapSecretSource({}) }),
  ]);
  const declared = parseManifest(
    { capabilities: { io: {}, secrets: { keys: ["A"] } } },
    withSecrets,
  );
  const guest = prepareGuest(
    wat(`(module
      (import "secrets" "get" (func $get (param i32 i32) (result i32)))
      (import "io" "write_output" (func $write (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "1NOPE")
      (func (export "run") (result i32)
        (drop (call $get (i32.const 1) (i32.const 4)))
        (drop (call $write (i32.const 0) (i32.const 1)))
        (i32.const 0)))`),
    declared,
    withSecrets,
  );
  const outcome = await runStep(guest, { input: enc({}), step, timeHostCalls: true }, {
    registry: withSecrets,
  });
  assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
  assert.equal(outcome.metrics.policy_denials, 1);
  assert.deepEqual(outcome.host_call_log!.map((c) => [c.call, c.denied]), [
    ["secrets.get", true],
    ["io.write_output", undefined],
  ]);
});

Deno.test("runStep() gives each step a fresh instance", async () => {
  const counter = wat(`(module
    (import "io" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (global $g (mut i32) (i32.const 48))
    (func (export "run") (result i32)
      (i32.store8 (i32.const 0) (global.get $g))
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (drop (call $write (i32.const 0) (i32.const 1)))
      (i32.const 0)))`);
  const guest = prepareGuest(counter, manifest, registry);
  for (let i = 0; i < 3; i++) {
    const outcome = await runStep(guest, { input: enc({}), step }, { registry });
    assert.equal(outcome.result, 0);
  }
});

Deno.test("runStep() fails a guest that writes invalid JSON with output_invalid", async () => {
  const bad = wat(`(module
    (import "io" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "{nope")
    (func (export "run") (result i32) (drop (call $write (i32.const 0) (i32.const 5))) (i32.const 0)))`);
  const outcome = await runStep(prepareGuest(bad, manifest, registry), { input: enc({}), step }, {
    registry,
  });
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error?.code, "output_invalid");
});

Deno.test("runStep() reports a trap with its kind and function name", async () => {
  const trapping = wat(`(module
    (memory (export "memory") 1)
    (func $boom (result i32) unreachable)
    (func (export "run") (result i32) (call $boom)))`);
  const outcome = await runStep(prepareGuest(trapping, manifest, registry), {
    input: enc({}),
    step,
  }, {
    registry,
  });
  assert.equal(outcome.error?.code, "trap");
  assert.equal(outcome.error?.details?.trap, "unreachable");
  assert.equal(outcome.error?.details?.function, "boom");
});
