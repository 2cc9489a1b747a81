import assert from "node:assert/strict";
import type { SqlClient } from "../db/sql_client.ts";
import { emptyMetrics } from "../runtime/step_outcome.ts";
import {
  createFixtureTask,
  rivalTransaction,
  stepRow,
  testOnEveryDatabase,
  transitionsOf,
  waitForLockWait,
} from "./_tasker_fixture.ts";
import { type Claimed, claimStep } from "./claim_step.ts";
import { archiveMessage, readMessages } from "./pgmq_queue.ts";
import { RESULTS_QUEUE } from "./queue_names.ts";
import { releaseStep, reportStepResult } from "./report_step.ts";
import { type StepExecutionResult, toStepExecutionResult } from "./step_execution_result.ts";
import { parseNotifyPayload } from "./step_message.ts";

const WORKER = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9aff";

async function claimed(client: SqlClient, options: { attempts?: number } = {}) {
  const fixture = await createFixtureTask(client, {
    steps: [{ name: "a", attempts: options.attempts ?? null }],
  });
  const stepUuid = fixture.steps.a;
  const claim = await claimStep(client, {
    stepUuid,
    workerUuid: WORKER,
    correlationId: fixture.correlationId,
  });
  assert.ok(typeof claim === "object" && "claimed" in claim);
  return { fixture, stepUuid, claim: claim as Claimed };
}

function success(stepUuid: string, result: unknown = { ok: 1 }): StepExecutionResult {
  return toStepExecutionResult(
    { status: "completed", result, error: null, metrics: emptyMetrics(), logs: [] },
    { stepUuid, workerId: WORKER, startedAt: new Date(), completedAt: new Date() },
  );
}

function failure(stepUuid: string): StepExecutionResult {
  return toStepExecutionResult(
    {
      status: "failed",
      result: null,
      error: {
        code: "trap",
        message: "unreachable",
        retryable: false,
        details: { kind: "unreachable" },
      },
      metrics: emptyMetrics(),
      logs: [],
    },
    { stepUuid, workerId: WORKER, startedAt: new Date(), completedAt: new Date() },
  );
}

/** Result messages for `stepUuid`, archived as they are read. */
async function takeResultMessages(client: SqlClient, stepUuid: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const m of await readMessages(client, RESULTS_QUEUE, { vtSeconds: 30, qty: 100 })) {
    const body = m.message as { step_uuid?: string };
    if (body.step_uuid === stepUuid) {
      out.push(m.message);
      await archiveMessage(client, RESULTS_QUEUE, m.msgId);
    } else {
      // Another test's message: make it visible again.
      await client.query("SELECT pgmq.set_vt($1::text, $2::bigint, 0)", [RESULTS_QUEUE, m.msgId]);
    }
  }
  return out;
}

function eventOf(metadata: Record<string, unknown>): { type: string; data: unknown } {
  assert.equal(typeof metadata.event, "string", "the event is a JSON string");
  return JSON.parse(metadata.event as string);
}

testOnEveryDatabase("reportStepResult", async (db, t) => {
  const client = db.client;

  await t.step("reports a success: transition, results and the orchestration message", async () => {
    const { fixture, stepUuid, claim } = await claimed(client);
    const payloads: string[] = [];
    const stop = await client.listen("pgmq_message_ready.orchestration", (p) => payloads.push(p));
    try {
      const result = success(stepUuid, { total: 42 });
      const reported = await reportStepResult(client, {
        stepUuid,
        taskUuid: fixture.taskUuid,
        correlationId: fixture.correlationId,
        workerUuid: WORKER,
        result,
        claimSortKey: claim.sortKey,
      }, { now: () => new Date("2025-03-01T10:00:01.000Z") });
      assert.equal(reported, "reported");
      const transitions = await transitionsOf(client, stepUuid);
      assert.deepEqual(
        transitions.map((x) => [x.to_state, x.from_state, x.sort_key, x.most_recent]),
        [
          ["enqueued", null, 1, false],
          ["in_progress", "enqueued", 2, false],
          ["enqueued_for_orchestration", "in_progress", 3, true],
        ],
      );
      const last = transitions[2].metadata;
      assert.deepEqual(eventOf(last), { type: "EnqueueForOrchestration", data: result });
      assert.equal(last.timestamp, "2025-03-01T10:00:01.000Z");
      assert.equal(last.worker_uuid, WORKER);
      assert.equal(last.correlation_id, fixture.correlationId);
      const row = await stepRow(client, stepUuid);
      assert.equal(row.in_process, false);
      assert.deepEqual(row.results, result);
      assert.equal(row.attempts, 1);
      const messages = await takeResultMessages(client, stepUuid);
      assert.deepEqual(messages, [{
        task_uuid: fixture.taskUuid,
        step_uuid: stepUuid,
        correlation_id: fixture.correlationId,
      }]);
      const deadline = Date.now() + 10_000;
      while (!payloads.some((p) => p.includes(stepUuid)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const notify = payloads.map(parseNotifyPayload).find((p) =>
        p.ok && p.event.type === "message_with_payload" &&
        (p.event.message as { step_uuid?: string }).step_uuid === stepUuid
      );
      assert.ok(notify?.ok && notify.event.queueName === RESULTS_QUEUE, JSON.stringify(payloads));
    } finally {
      await stop();
    }
  });

  await t.step("reports a failure as enqueued_as_error_for_orchestration", async () => {
    const { fixture, stepUuid } = await claimed(client);
    const result = failure(stepUuid);
    assert.equal(
      await reportStepResult(client, {
        stepUuid,
        taskUuid: fixture.taskUuid,
        correlationId: fixture.correlationId,
        workerUuid: WORKER,
        result,
      }),
      "reported",
    );
    const transitions = await transitionsOf(client, stepUuid);
    const last = transitions[transitions.length - 1];
    assert.equal(last.to_state, "enqueued_as_error_for_orchestration");
    assert.equal(last.from_state, "in_progress");
    assert.deepEqual(eventOf(last.metadata), {
      type: "EnqueueAsErrorForOrchestration",
      data: result,
    });
    assert.deepEqual((await stepRow(client, stepUuid)).results, result);
    assert.equal((await takeResultMessages(client, stepUuid)).length, 1);
  });

  await t.step("a second report is skipped and writes nothing", async () => {
    const { fixture, stepUuid } = await claimed(client);
    const input = {
      stepUuid,
      taskUuid: fixture.taskUuid,
      correlationId: fixture.correlationId,
      workerUuid: WORKER,
    };
    const first = success(stepUuid, { n: 1 });
    assert.equal(await reportStepResult(client, { ...input, result: first }), "reported");
    assert.deepEqual(
      await reportStepResult(client, { ...input, result: failure(stepUuid) }),
      { skipped: "enqueued_for_orchestration", reason: "not_in_progress" },
    );
    assert.equal((await transitionsOf(client, stepUuid)).length, 3);
    assert.deepEqual((await stepRow(client, stepUuid)).results, first);
    assert.equal((await takeResultMessages(client, stepUuid)).length, 1);
  });

  await t.step("concurrent reports of one claim: exactly one is written", async () => {
    const { fixture, stepUuid } = await claimed(client);
    const input = {
      stepUuid,
      taskUuid: fixture.taskUuid,
      correlationId: fixture.correlationId,
      workerUuid: WORKER,
    };
    const outcomes = await Promise.all(
      Array.from(
        { length: 6 },
        (_, i) => reportStepResult(client, { ...input, result: success(stepUuid, { i }) }),
      ),
    );
    assert.equal(outcomes.filter((o) => o === "reported").length, 1, JSON.stringify(outcomes));
    for (const o of outcomes) {
      if (o !== "reported") {
        assert.equal(o.skipped, "enqueued_for_orchestration", JSON.stringify(o));
      }
    }
    const transitions = await transitionsOf(client, stepUuid);
    assert.equal(transitions.filter((x) => x.to_state === "enqueued_for_orchestration").length, 1);
    assert.equal((await takeResultMessages(client, stepUuid)).length, 1);
  });

  if (db.kind === "postgres") {
    await t.step("a report that waited on a rival's report names the rival's state", async () => {
      // Deterministic: a rival transaction moves the step on and holds the
      // row lock; the report blocks on it and resumes after the commit.
      const { fixture, stepUuid } = await claimed(client);
      const rival = rivalTransaction(client, async (tx) => {
        await tx.query(
          `UPDATE tasker.workflow_step_transitions SET most_recent = false
           WHERE workflow_step_uuid = $1 AND most_recent`,
          [stepUuid],
        );
        await tx.query(
          `INSERT INTO tasker.workflow_step_transitions
             (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at)
           VALUES ($1, 'enqueued_for_orchestration', 'in_progress', '{}'::jsonb, 3, true, now(), now())`,
          [stepUuid],
        );
      });
      await rival.holding;
      const report = reportStepResult(client, {
        stepUuid,
        taskUuid: fixture.taskUuid,
        correlationId: fixture.correlationId,
        workerUuid: WORKER,
        result: success(stepUuid),
      });
      await waitForLockWait(client, "the report to block");
      await rival.end();
      assert.deepEqual(await report, {
        skipped: "enqueued_for_orchestration",
        reason: "not_in_progress",
      });
      assert.equal((await stepRow(client, stepUuid)).results, null);
      assert.equal((await takeResultMessages(client, stepUuid)).length, 0);
    });
  }

  await t.step("a step this worker does not hold is skipped", async () => {
    // Never claimed.
    const unclaimed = await createFixtureTask(client, { steps: [{ name: "a" }] });
    assert.deepEqual(
      await reportStepResult(client, {
        stepUuid: unclaimed.steps.a,
        taskUuid: unclaimed.taskUuid,
        correlationId: unclaimed.correlationId,
        workerUuid: WORKER,
        result: success(unclaimed.steps.a),
      }),
      { skipped: "enqueued", reason: "not_in_progress" },
    );
    // Claimed by another worker.
    const { fixture, stepUuid } = await claimed(client);
    assert.deepEqual(
      await reportStepResult(client, {
        stepUuid,
        taskUuid: fixture.taskUuid,
        correlationId: fixture.correlationId,
        workerUuid: crypto.randomUUID(),
        result: success(stepUuid),
      }),
      { skipped: "in_progress", reason: "claimed_by_other" },
    );
    assert.equal((await transitionsOf(client, stepUuid)).at(-1)?.most_recent, true);
    assert.equal((await stepRow(client, stepUuid)).results, null);
    assert.equal((await takeResultMessages(client, stepUuid)).length, 0);
  });

  await t.step("a lost claim the same worker made again is skipped by its sort key", async () => {
    const { fixture, stepUuid, claim: lost } = await claimed(client);
    // Recovery re-enqueues the step; the same worker claims it again.
    await client.transaction(async (tx) => {
      await tx.query(
        `UPDATE tasker.workflow_step_transitions SET most_recent = false WHERE workflow_step_uuid = $1 AND most_recent`,
        [stepUuid],
      );
      await tx.query(
        `INSERT INTO tasker.workflow_step_transitions
           (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at)
         VALUES ($1, 'enqueued', 'in_progress', '{}'::jsonb, 3, true, now(), now())`,
        [stepUuid],
      );
    });
    const again = await claimStep(client, {
      stepUuid,
      workerUuid: WORKER,
      correlationId: fixture.correlationId,
    });
    assert.ok(typeof again === "object" && "claimed" in again && again.sortKey === 4);
    const input = {
      stepUuid,
      taskUuid: fixture.taskUuid,
      correlationId: fixture.correlationId,
      workerUuid: WORKER,
      result: success(stepUuid),
    };
    assert.deepEqual(
      await reportStepResult(client, { ...input, claimSortKey: lost.sortKey }),
      { skipped: "in_progress", reason: "claimed_by_other" },
    );
    assert.equal(
      await reportStepResult(client, { ...input, claimSortKey: again.sortKey }),
      "reported",
    );
    assert.equal((await takeResultMessages(client, stepUuid)).length, 1);
  });

  await t.step("a result orchestration could not parse is refused before writing", async () => {
    const { fixture, stepUuid } = await claimed(client);
    const input = {
      stepUuid,
      taskUuid: fixture.taskUuid,
      correlationId: fixture.correlationId,
      workerUuid: WORKER,
    };
    const broken = failure(stepUuid) as unknown as { error: Record<string, unknown> };
    delete broken.error.retryable;
    await assert.rejects(
      reportStepResult(client, { ...input, result: broken as unknown as StepExecutionResult }),
      TypeError,
    );
    await assert.rejects(
      reportStepResult(client, { ...input, result: success(crypto.randomUUID()) }),
      TypeError,
    );
    assert.equal((await transitionsOf(client, stepUuid)).at(-1)?.to_state, "in_progress");
    assert.equal((await stepRow(client, stepUuid)).results, null);
  });

  await t.step(
    "releaseStep() hands a claimed step back as a retryable failure without using an attempt",
    async () => {
      const { fixture, stepUuid, claim } = await claimed(client, { attempts: 1 });
      assert.equal(claim.attempts, 2);
      const released = await releaseStep(client, {
        stepUuid,
        taskUuid: fixture.taskUuid,
        correlationId: fixture.correlationId,
        workerUuid: WORKER,
        claimSortKey: claim.sortKey,
      });
      assert.equal(released, "reported");
      const last = (await transitionsOf(client, stepUuid)).at(-1)!;
      assert.equal(last.to_state, "enqueued_as_error_for_orchestration");
      const row = await stepRow(client, stepUuid);
      assert.equal(row.attempts, 1);
      assert.equal(row.in_process, false);
      const result = row.results as StepExecutionResult;
      assert.equal(result.success, false);
      assert.equal(result.metadata.retryable, true);
      assert.equal(result.metadata.error_code, "worker_shutdown");
      assert.equal(result.metadata.error_type, "retryable_error");
      assert.equal((await takeResultMessages(client, stepUuid)).length, 1);
      // Nothing left to hand back.
      assert.deepEqual(
        await releaseStep(client, {
          stepUuid,
          taskUuid: fixture.taskUuid,
          correlationId: fixture.correlationId,
          workerUuid: WORKER,
        }),
        { skipped: "enqueued_as_error_for_orchestration", reason: "not_in_progress" },
      );
      assert.equal((await stepRow(client, stepUuid)).attempts, 1);
    },
  );

  await t.step("when the results message cannot be sent, nothing is written", async () => {
    const { fixture, stepUuid } = await claimed(client);
    await client.query("SELECT pgmq.drop_queue($1::text)", [RESULTS_QUEUE]);
    try {
      await assert.rejects(reportStepResult(client, {
        stepUuid,
        taskUuid: fixture.taskUuid,
        correlationId: fixture.correlationId,
        workerUuid: WORKER,
        result: success(stepUuid),
      }));
      const transitions = await transitionsOf(client, stepUuid);
      assert.deepEqual(transitions.map((x) => [x.to_state, x.most_recent]), [
        ["enqueued", false],
        ["in_progress", true],
      ]);
      const row = await stepRow(client, stepUuid);
      assert.equal(row.results, null);
      assert.equal(row.in_process, true);
    } finally {
      await client.query("SELECT pgmq.create($1::text)", [RESULTS_QUEUE]);
    }
  });
});
