import assert from "node:assert/strict";
import type { HydratedStep } from "./hydrate_step.ts";
import { buildEnvelope, type StepEnvelope } from "./step_envelope.ts";
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
      contextJson: '{"order": {"id": 7.0}, "big": 12345678901234567890}',
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
    depsJson: '{"load": {"rows": [1, 2]}, "check": null}',
    ...overrides,
  };
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const parse = (bytes: Uint8Array): StepEnvelope => JSON.parse(text(bytes));

Deno.test("buildEnvelope() builds the catalog envelope from a hydrated step", () => {
  const envelope = parse(buildEnvelope(hydrated(), { attempts: 1 }));
  assert.deepEqual(envelope, {
    context: { order: { id: 7 }, big: 12345678901234567890 },
    deps: { load: { rows: [1, 2] }, check: null },
    step: { name: "ship", attempts: 1, max_attempts: 3, inputs: { region: "eu" } },
    config: { filter: ".deps.load.rows" },
  });
});

Deno.test("buildEnvelope() passes the stored context and deps on as text", () => {
  const envelope = text(buildEnvelope(hydrated(), { attempts: 1 }));
  assert.ok(
    envelope.startsWith('{"context":{"order": {"id": 7.0}, "big": 12345678901234567890},'),
  );
  assert.ok(envelope.includes('"deps":{"load": {"rows": [1, 2]}, "check": null},'));
});

Deno.test("buildEnvelope() takes attempts from the claim, else the hydrated count plus one", () => {
  const h = hydrated({
    step: { ...hydrated().step, attempts: 2, maxAttempts: 5 },
  });
  assert.equal(parse(buildEnvelope(h)).step.attempts, 3);
  assert.equal(parse(buildEnvelope(h, { attempts: 7 })).step.attempts, 7);
  assert.equal(parse(buildEnvelope(h)).step.max_attempts, 5);
});

Deno.test("buildEnvelope() gives a task without context null and no deps {}", () => {
  const envelope = parse(buildEnvelope(
    hydrated({ task: { ...hydrated().task, contextJson: "null" }, depsJson: "{}" }),
    { attempts: 1 },
  ));
  assert.equal(envelope.context, null);
  assert.deepEqual(envelope.deps, {});
});
