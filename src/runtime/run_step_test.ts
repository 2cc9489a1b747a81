import assert from "node:assert/strict";
import { ioPlugin } from "../../plugins/io/mod.ts";
import { logPlugin } from "../../plugins/log/mod.ts";
import { wat } from "../../tests/support/wat.ts";
import { CapabilityRegistry } from "../capability/capability_registry.ts";
import { parseManifest } from "../manifest/manifest.ts";
import { prepareGuest } from "./prepared_guest.ts";
import { runStep } from "./run_step.ts";

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
