import assert from "node:assert/strict";
import type { HydratedStep } from "./hydrate_step.ts";
import { buildEnvelope } from "./step_envelope.ts";
import { parseStepDefinition } from "./step_definition.ts";

function hydrated(overrides: Partial<HydratedStep> = {}): HydratedStep {
  const definition = parseStepDefinition({
    name: "ship",
    handler: { callable: "catalog.transform", initialization: { filter: ".deps.load.rows" } },
  });
  assert.ok(definition.ok);
  return {
    task: {
      uuid: crypto.randomUUID(),
      namedTaskUuid: crypto.randomUUID(),
      context: { order: { id: 7 } },
      correlationId: crypto.randomUUID(),
      parentCorrelationId: null,
      namespace: "catalog",
      name: "order",
      version: "1.0.0",
    },
    step: {
      uuid: crypto.randomUUID(),
      name: "ship",
      templateStepName: "ship",
      attempts: 0,
      maxAttempts: 3,
      retryable: true,
      inputs: { region: "eu" },
      checkpoint: null,
      state: "enqueued",
      inProcess: false,
      processed: false,
    },
    definition: definition.definition,
    dependencies: {
      load: { step_uuid: "x", success: true, status: "completed", result: { rows: [1, 2] } },
      check: { success: true, status: "completed", result: null },
      legacy: { raw: "not a StepExecutionResult" },
      scalar: 5,
    },
    ...overrides,
  };
}

Deno.test("buildEnvelope() builds the catalog envelope from a hydrated step", () => {
  const envelope = buildEnvelope(hydrated(), { attempts: 1 });
  assert.deepEqual(envelope, {
    context: { order: { id: 7 } },
    deps: { load: { rows: [1, 2] }, check: null, legacy: null, scalar: null },
    step: { name: "ship", attempts: 1, max_attempts: 3, inputs: { region: "eu" } },
    config: { filter: ".deps.load.rows" },
  });
});

Deno.test("buildEnvelope() takes attempts from the claim, else the hydrated count plus one", () => {
  const h = hydrated({
    step: { ...hydrated().step, attempts: 2, maxAttempts: 5 },
  });
  assert.equal(buildEnvelope(h).step.attempts, 3);
  assert.equal(buildEnvelope(h, { attempts: 7 }).step.attempts, 7);
  assert.equal(buildEnvelope(h).step.max_attempts, 5);
});

Deno.test("buildEnvelope() gives a task without context null and no deps {}", () => {
  const envelope = buildEnvelope(
    hydrated({ task: { ...hydrated().task, context: null }, dependencies: {} }),
    { attempts: 1 },
  );
  assert.equal(envelope.context, null);
  assert.deepEqual(envelope.deps, {});
  // The envelope is plain JSON.
  assert.deepEqual(JSON.parse(JSON.stringify(envelope)), envelope);
});
