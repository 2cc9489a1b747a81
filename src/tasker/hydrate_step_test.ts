import assert from "node:assert/strict";
import { createFixtureTask, testOnEveryDatabase } from "./_tasker_fixture.ts";
import { hydrateStep, hydrateSteps, STEP_STATES } from "./hydrate_step.ts";
import type { StepMessage } from "./step_message.ts";

function messageFor(
  fixture: { taskUuid: string; correlationId: string },
  stepUuid: string,
): StepMessage {
  return {
    task_uuid: fixture.taskUuid,
    step_uuid: stepUuid,
    correlation_id: fixture.correlationId,
  };
}

function stored(result: unknown) {
  return { step_uuid: crypto.randomUUID(), success: true, status: "completed", result };
}

testOnEveryDatabase("hydrateStep", async (db, t) => {
  const client = db.client;

  await t.step("reads task, template, step, definition and dependency results", async () => {
    const fixture = await createFixtureTask(client, {
      context: { order_id: 17, items: [1, 2] },
      steps: [
        { name: "load", state: "complete", processed: true, results: stored({ rows: 2 }) },
        {
          name: "enrich",
          dependsOn: ["load"],
          state: "complete",
          processed: true,
          results: stored({ rich: true }),
        },
        // Processed without results, and unprocessed with results: both left out.
        { name: "side", state: "complete", processed: true },
        { name: "stale", state: "error", processed: false, results: stored({ no: 1 }) },
        {
          name: "ship",
          dependsOn: ["enrich", "side", "stale"],
          inputs: { region: "eu" },
          attempts: 1,
          maxAttempts: 5,
          definition: {
            name: "ship",
            description: "ships the order",
            handler: {
              callable: "catalog.http_request@^1",
              initialization: { url: "https://x.example", method: "POST" },
            },
            type: "decision",
            retry: { retryable: true, max_attempts: 5, backoff: "exponential" },
            timeout_seconds: 30,
            dependencies: ["enrich", "side", "stale"],
            publishes_events: [],
          },
        },
      ],
    });
    const hydrated = await hydrateStep(client, messageFor(fixture, fixture.steps.ship));
    assert.ok(hydrated.ok, JSON.stringify(hydrated));
    const { task, step, definition } = hydrated.step;
    const deps = JSON.parse(hydrated.step.depsJson);
    assert.equal(task.uuid, fixture.taskUuid);
    assert.equal(task.correlationId, fixture.correlationId);
    assert.deepEqual(JSON.parse(task.contextJson), { order_id: 17, items: [1, 2] });
    assert.equal(task.namespace, "catalog");
    assert.equal(task.name, fixture.namedTaskName);
    assert.equal(task.version, "1.0.0");
    assert.equal(task.parentCorrelationId, null);
    assert.equal(step.uuid, fixture.steps.ship);
    assert.equal(step.name, "ship");
    assert.equal(step.templateStepName, "ship");
    assert.equal(step.attempts, 1);
    assert.equal(step.maxAttempts, 5);
    assert.equal(step.retryable, true);
    assert.deepEqual(step.inputs, { region: "eu" });
    assert.equal(step.checkpoint, null);
    assert.equal(step.state, "enqueued");
    assert.equal(step.inProcess, false);
    assert.equal(step.processed, false);
    assert.equal(definition.handler.callable, "catalog.http_request@^1");
    assert.deepEqual(definition.handler.initialization, {
      url: "https://x.example",
      method: "POST",
    });
    assert.equal(definition.type, "decision");
    assert.equal(definition.timeout_seconds, 30);
    assert.equal(definition.retry?.max_attempts, 5);
    assert.equal(definition.description, "ships the order");
    // Transitive: load comes through enrich.
    // Each dependency's `result`, as the envelope's deps.
    assert.deepEqual(deps, { enrich: { rich: true }, load: { rows: 2 } });
  });

  await t.step("a diamond's shared ancestor appears once; defaults fill a bare step", async () => {
    const fixture = await createFixtureTask(client, {
      steps: [
        { name: "root", state: "complete", processed: true, results: stored({ r: 1 }) },
        {
          name: "left",
          dependsOn: ["root"],
          state: "complete",
          processed: true,
          results: stored({ l: 1 }),
        },
        {
          name: "right",
          dependsOn: ["root"],
          state: "complete",
          processed: true,
          results: stored({ x: 1 }),
        },
        {
          name: "join",
          dependsOn: ["left", "right"],
          state: null,
          attempts: null,
          maxAttempts: null,
          inputs: null,
          definition: { name: "join", handler: { callable: "catalog.aggregate" } },
        },
      ],
    });
    const hydrated = await hydrateStep(client, messageFor(fixture, fixture.steps.join));
    assert.ok(hydrated.ok, JSON.stringify(hydrated));
    assert.deepEqual(Object.keys(JSON.parse(hydrated.step.depsJson)).sort(), [
      "left",
      "right",
      "root",
    ]);
    // No transition at all: legacy pending, claimable.
    assert.equal(hydrated.step.step.state, "pending");
    assert.equal(hydrated.step.step.attempts, 0);
    assert.equal(hydrated.step.step.maxAttempts, 3);
    assert.deepEqual(hydrated.step.step.inputs, {});
    assert.deepEqual(hydrated.step.definition.handler.initialization, {});
    assert.equal(hydrated.step.definition.type, "standard");
    assert.equal(hydrated.step.definition.timeout_seconds, undefined);
  });

  await t.step(
    "passes context and dependency results on as stored, each result's `result`",
    async () => {
      const fixture = await createFixtureTask(client, {
        steps: [
          { name: "full", state: "complete", processed: true, results: stored({ rows: 2 }) },
          { name: "empty", state: "complete", processed: true, results: stored(null) },
          { name: "legacy", state: "complete", processed: true, results: { raw: "no result" } },
          { name: "scalar", state: "complete", processed: true, results: 5 },
          { name: "use", dependsOn: ["full", "empty", "legacy", "scalar"] },
        ],
      });
      // Numbers as PostgreSQL keeps them: JSON.parse would make 1.0 into 1 and round the integer.
      await client.query(
        `UPDATE tasker.tasks SET context = '{"price": 1.0, "big": 12345678901234567890}' WHERE task_uuid = $1`,
        [fixture.taskUuid],
      );
      const hydrated = await hydrateStep(client, messageFor(fixture, fixture.steps.use));
      assert.ok(hydrated.ok, JSON.stringify(hydrated));
      assert.match(hydrated.step.task.contextJson, /"price": 1\.0\b/);
      assert.match(hydrated.step.task.contextJson, /"big": 12345678901234567890\b/);
      assert.deepEqual(JSON.parse(hydrated.step.depsJson), {
        full: { rows: 2 },
        empty: null,
        legacy: null,
        scalar: null,
      });
    },
  );

  await t.step("a task without context and a step without dependencies: null and {}", async () => {
    const fixture = await createFixtureTask(client, { steps: [{ name: "alone" }] });
    await client.query(`UPDATE tasker.tasks SET context = NULL WHERE task_uuid = $1`, [
      fixture.taskUuid,
    ]);
    const hydrated = await hydrateStep(client, messageFor(fixture, fixture.steps.alone));
    assert.ok(hydrated.ok, JSON.stringify(hydrated));
    assert.equal(hydrated.step.task.contextJson, "null");
    assert.equal(hydrated.step.depsJson, "{}");
  });

  await t.step("the template step name comes from inputs.__template_step_name", async () => {
    const fixture = await createFixtureTask(client, {
      configuration: {
        name: "batches",
        steps: [
          {
            name: "process_batch",
            type: "batch_worker",
            handler: { callable: "catalog.transform", initialization: { filter: ".x" } },
          },
        ],
      },
      steps: [
        {
          name: "process_batch_001",
          inputs: { __template_step_name: "process_batch", cursor: 0 },
          definition: null,
        },
      ],
    });
    const hydrated = await hydrateStep(
      client,
      messageFor(fixture, fixture.steps.process_batch_001),
    );
    assert.ok(hydrated.ok, JSON.stringify(hydrated));
    assert.equal(hydrated.step.step.name, "process_batch_001");
    assert.equal(hydrated.step.step.templateStepName, "process_batch");
    assert.equal(hydrated.step.definition.type, "batch_worker");
    assert.deepEqual(hydrated.step.definition.handler.initialization, { filter: ".x" });
  });

  await t.step("unknown task, unknown step, mismatched task", async () => {
    const fixture = await createFixtureTask(client, { steps: [{ name: "a" }] });
    const other = await createFixtureTask(client, { steps: [{ name: "b" }] });
    const unknownTask = await hydrateStep(client, {
      ...messageFor(fixture, fixture.steps.a),
      task_uuid: crypto.randomUUID(),
    });
    assert.equal(!unknownTask.ok && unknownTask.code, "unknown_task");
    const unknownStep = await hydrateStep(client, messageFor(fixture, crypto.randomUUID()));
    assert.equal(!unknownStep.ok && unknownStep.code, "unknown_step");
    const mismatch = await hydrateStep(client, messageFor(fixture, other.steps.b));
    assert.equal(!mismatch.ok && mismatch.code, "step_task_mismatch");
    const bad = await hydrateStep(client, {
      ...messageFor(fixture, fixture.steps.a),
      step_uuid: "nope",
    });
    assert.equal(!bad.ok && bad.code, "bad_message");
    for (const r of [unknownTask, unknownStep, mismatch, bad]) {
      assert.ok(!r.ok && r.reason.startsWith("Cannot "), JSON.stringify(r));
    }
  });

  await t.step(
    "every state but enqueued and pending is not_claimable, with the state",
    async () => {
      for (const state of STEP_STATES) {
        const fixture = await createFixtureTask(client, { steps: [{ name: "s", state }] });
        const r = await hydrateStep(client, messageFor(fixture, fixture.steps.s));
        if (state === "enqueued" || state === "pending") {
          assert.ok(r.ok, state);
          assert.equal(r.step.step.state, state);
        } else {
          assert.ok(!r.ok, state);
          assert.equal(r.code, "not_claimable");
          assert.equal(r.state, state);
        }
      }
    },
  );

  await t.step("template and definition failures", async () => {
    const noSteps = await createFixtureTask(client, {
      configuration: { name: "x" },
      steps: [{ name: "a" }],
    });
    const r1 = await hydrateStep(client, messageFor(noSteps, noSteps.steps.a));
    assert.equal(!r1.ok && r1.code, "bad_template");

    const nullConfig = await createFixtureTask(client, {
      configuration: null,
      steps: [{ name: "a" }],
    });
    const r2 = await hydrateStep(client, messageFor(nullConfig, nullConfig.steps.a));
    assert.equal(!r2.ok && r2.code, "bad_template");

    const twice = await createFixtureTask(client, {
      configuration: {
        steps: [
          { name: "a", handler: { callable: "catalog.transform" } },
          { name: "a", handler: { callable: "catalog.validate" } },
        ],
      },
      steps: [{ name: "a" }],
    });
    const r3 = await hydrateStep(client, messageFor(twice, twice.steps.a));
    assert.equal(!r3.ok && r3.code, "bad_template");

    const missing = await createFixtureTask(client, { steps: [{ name: "a", definition: null }] });
    const r4 = await hydrateStep(client, messageFor(missing, missing.steps.a));
    assert.equal(!r4.ok && r4.code, "no_step_definition");

    const cases: [Record<string, unknown>, string][] = [
      [{ name: "a", handler: {} }, "handler.callable"],
      [{ name: "a", handler: { callable: "" } }, "handler.callable"],
      [{ name: "a" }, "handler"],
      [{ name: "a", handler: { callable: "c", initialization: [1] } }, "handler.initialization"],
      [{ name: "a", handler: { callable: "c" }, type: "sometimes" }, "type"],
      [
        { name: "a", handler: { callable: "c" }, retry: { max_attempts: -1 } },
        "retry.max_attempts",
      ],
      [{ name: "a", handler: { callable: "c" }, retry: { retryable: "yes" } }, "retry.retryable"],
      [{ name: "a", handler: { callable: "c" }, timeout_seconds: 0 }, "timeout_seconds"],
      [{ name: "a", handler: { callable: "c" }, timeout_seconds: "30" }, "timeout_seconds"],
    ];
    for (const [definition, path] of cases) {
      const fixture = await createFixtureTask(client, { steps: [{ name: "a", definition }] });
      const r = await hydrateStep(client, messageFor(fixture, fixture.steps.a));
      assert.ok(!r.ok, JSON.stringify(definition));
      assert.equal(r.code, "bad_step_definition", JSON.stringify(definition));
      assert.ok(
        r.issues?.some((i) => i.startsWith(`${path}:`)),
        `${path} in ${JSON.stringify(r.issues)}`,
      );
    }
  });

  await t.step("a step not claimable is reported before its template is judged", async () => {
    const fixture = await createFixtureTask(client, {
      configuration: { nothing: true },
      steps: [{ name: "a", state: "complete" }],
    });
    const r = await hydrateStep(client, messageFor(fixture, fixture.steps.a));
    assert.equal(!r.ok && r.code, "not_claimable");
  });

  await t.step("hydrateSteps() answers a batch in one query, as hydrateStep() would", async () => {
    const fixture = await createFixtureTask(client, {
      context: { n: 1 },
      steps: [
        { name: "load", state: "complete", processed: true, results: stored({ rows: 2 }) },
        { name: "use", dependsOn: ["load"], inputs: { k: "v" } },
        { name: "done", state: "complete" },
        { name: "other" },
      ],
    });
    const other = await createFixtureTask(client, { context: { n: 2 }, steps: [{ name: "x" }] });
    const messages: StepMessage[] = [
      messageFor(fixture, fixture.steps.use),
      messageFor(other, other.steps.x),
      { ...messageFor(fixture, fixture.steps.use), step_uuid: "not-a-uuid" },
      messageFor(fixture, fixture.steps.done),
      messageFor(fixture, crypto.randomUUID()),
      { ...messageFor(fixture, fixture.steps.other), task_uuid: crypto.randomUUID() },
      messageFor(fixture, other.steps.x),
      messageFor(fixture, fixture.steps.use),
    ];
    let queries = 0;
    const counting = {
      query: <Row>(text: string, params?: readonly unknown[]) => {
        queries++;
        return client.query<Row>(text, params);
      },
    };
    const batch = await hydrateSteps(counting, messages);
    assert.equal(queries, 1);
    const alone: Awaited<ReturnType<typeof hydrateStep>>[] = [];
    for (const m of messages) alone.push(await hydrateStep(client, m));
    assert.deepEqual(batch, alone);
    assert.deepEqual(
      batch.map((r) => r.ok ? "ok" : r.code),
      [
        "ok",
        "ok",
        "bad_message",
        "not_claimable",
        "unknown_step",
        "unknown_task",
        "step_task_mismatch",
        "ok",
      ],
    );
    assert.ok(batch[0].ok && batch[1].ok);
    assert.deepEqual(JSON.parse(batch[0].step.depsJson), { load: { rows: 2 } });
    assert.deepEqual(JSON.parse(batch[0].step.task.contextJson), { n: 1 });
    assert.deepEqual(JSON.parse(batch[1].step.task.contextJson), { n: 2 });
    assert.deepEqual(await hydrateSteps(counting, [messages[1]]), [alone[1]]);
    assert.equal(queries, 2, "a batch of one is one query");
    assert.deepEqual(await hydrateSteps(counting, []), []);
    assert.equal(queries, 2, "an empty batch sends nothing");
    const onlyBad = await hydrateSteps(counting, [{ ...messages[0], task_uuid: "x" }]);
    assert.equal(!onlyBad[0].ok && onlyBad[0].code, "bad_message");
    assert.equal(queries, 2, "a batch of malformed messages sends nothing");
    // More than one statement's worth: in order, at most 20 keys per statement.
    const many = Array.from({ length: 45 }, (_, i) => messages[i % messages.length]);
    const manyBatch = await hydrateSteps(counting, many);
    assert.deepEqual(manyBatch, many.map((_, i) => alone[i % messages.length]));
    // 39 of them well-formed (every 8th is not a UUID): 20 + 19.
    assert.equal(queries, 2 + 2, "20 keys per statement");
  });
});
