import assert from "node:assert/strict";
import { parseStepDefinition, STEP_TYPES } from "./step_definition.ts";

Deno.test("parseStepDefinition() reads a full Tasker step definition and keeps unknown keys", () => {
  const parsed = parseStepDefinition({
    name: "notify",
    description: "tell the customer",
    handler: {
      callable: "catalog.notify@1.0.0",
      method: "call",
      resolver: null,
      initialization: { url: "https://hooks.example" },
    },
    system_dependency: "hooks",
    dependencies: ["ship"],
    retry: { retryable: true, max_attempts: 4, backoff: "exponential", backoff_base_ms: 500 },
    timeout_seconds: 20,
    publishes_events: [],
    type: "standard",
  });
  assert.ok(parsed.ok, JSON.stringify(parsed));
  const d = parsed.definition;
  assert.equal(d.handler.callable, "catalog.notify@1.0.0");
  assert.equal(d.handler.method, "call");
  assert.deepEqual(d.handler.initialization, { url: "https://hooks.example" });
  assert.deepEqual(d.dependencies, ["ship"]);
  assert.equal(d.retry?.max_attempts, 4);
  assert.equal(d.retry?.backoff_base_ms, 500);
  assert.equal(d.timeout_seconds, 20);
  assert.equal(d.system_dependency, "hooks");
});

Deno.test("parseStepDefinition() fills Tasker's defaults", () => {
  const parsed = parseStepDefinition({
    name: "a",
    handler: { callable: "c", initialization: null },
    type: null,
    retry: null,
    timeout_seconds: null,
  });
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.definition.handler.initialization, {});
  assert.equal(parsed.definition.type, "standard");
  assert.equal(parsed.definition.retry, undefined);
  assert.equal(parsed.definition.timeout_seconds, undefined);
  assert.deepEqual(parsed.definition.dependencies, []);
});

Deno.test("parseStepDefinition() accepts every Tasker step type", () => {
  for (const type of STEP_TYPES) {
    const parsed = parseStepDefinition({ name: "a", handler: { callable: "c" }, type });
    assert.ok(parsed.ok && parsed.definition.type === type, type);
  }
});

Deno.test("parseStepDefinition() lists every problem with its path", () => {
  const parsed = parseStepDefinition({
    name: "",
    handler: { callable: 5, initialization: "x" },
    type: "Decision",
    retry: { max_attempts: 1.5 },
    timeout_seconds: -1,
  });
  assert.ok(!parsed.ok);
  const paths = parsed.issues.map((i) => i.split(":")[0]).sort();
  assert.deepEqual(paths, [
    "handler.callable",
    "handler.initialization",
    "name",
    "retry.max_attempts",
    "timeout_seconds",
    "type",
  ]);
  for (const value of [null, [], "step", 1]) {
    const r = parseStepDefinition(value);
    assert.ok(!r.ok && r.issues[0].startsWith("(root)"), JSON.stringify(value));
  }
});
