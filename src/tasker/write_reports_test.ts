import assert from "node:assert/strict";
import type { SqlClient, SqlExecutor } from "../db/sql_client.ts";
import { emptyMetrics } from "../runtime/step_outcome.ts";
import {
  createFixtureTask,
  fulfilled,
  stepRow,
  testOnEveryDatabase,
  transitionsOf,
} from "./_tasker_fixture.ts";
import { type Claimed, claimSteps } from "./claim_step.ts";
import { archiveMessage, readMessages } from "./pgmq_queue.ts";
import { RESULTS_QUEUE } from "./queue_names.ts";
import { prepareReport, sendResultMessages, writeReports } from "./report_step.ts";
import { type StepExecutionResult, toStepExecutionResult } from "./step_execution_result.ts";

const WORKER = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9aff";
const OTHER = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9a00";

function resultOf(stepUuid: string, ok: boolean): StepExecutionResult {
  return toStepExecutionResult(
    ok
      ? {
        status: "completed",
        result: { step: stepUuid },
        error: null,
        metrics: emptyMetrics(),
        logs: [],
      }
      : {
        status: "failed",
        result: null,
        error: { code: "trap", message: "unreachable", retryable: false, details: {} },
        metrics: emptyMetrics(),
        logs: [],
      },
    { stepUuid, workerId: WORKER, startedAt: new Date(), completedAt: new Date() },
  );
}

/** A task with steps `names`, each claimed by `WORKER` except those in `byOther`. */
async function claimedSteps(client: SqlClient, names: string[], byOther: string[] = []) {
  const fixture = await createFixtureTask(client, { steps: names.map((name) => ({ name })) });
  const claims = fulfilled(
    await claimSteps(
      client,
      names.map((name) => ({
        stepUuid: fixture.steps[name],
        workerUuid: byOther.includes(name) ? OTHER : WORKER,
        correlationId: fixture.correlationId,
      })),
    ),
  );
  const sortKeys = Object.fromEntries(names.map((n, k) => [n, (claims[k] as Claimed).sortKey]));
  const report = (name: string, ok = true, revert = false) =>
    prepareReport(
      {
        stepUuid: fixture.steps[name],
        taskUuid: fixture.taskUuid,
        correlationId: fixture.correlationId,
        workerUuid: WORKER,
        result: resultOf(fixture.steps[name], ok),
        claimSortKey: sortKeys[name],
      },
      {},
      revert,
    );
  return { fixture, report };
}

/** Result messages for `stepUuids`, archived as they are read; others made visible again. */
async function takeResultMessages(client: SqlClient, stepUuids: string[]) {
  const out: { step_uuid: string }[] = [];
  for (const m of await readMessages(client, RESULTS_QUEUE, { vtSeconds: 30, qty: 100 })) {
    const body = m.message as { step_uuid: string };
    if (stepUuids.includes(body.step_uuid)) {
      out.push(body);
      await archiveMessage(client, RESULTS_QUEUE, m.msgId);
    } else {
      await client.query("SELECT pgmq.set_vt($1::text, $2::bigint, 0)", [RESULTS_QUEUE, m.msgId]);
    }
  }
  return out;
}

/** Counts statements, and fails the first batch statement with `failWith` when given. */
function watched(client: SqlExecutor, failWith?: string) {
  const statements: string[] = [];
  let failed = false;
  const executor: SqlExecutor = {
    query<R>(text: string, params?: unknown[]) {
      statements.push(text);
      if (failWith && !failed && text.includes("jsonb_to_recordset")) {
        failed = true;
        return Promise.reject(
          Object.assign(new Error(`simulated ${failWith}`), { code: failWith }),
        );
      }
      return client.query<R>(text, params);
    },
  };
  return { executor, statements };
}

testOnEveryDatabase("writeReports", async (db, t) => {
  const client = db.client;

  await t.step(
    "writes a batch in one statement, each report as reportStepResult would",
    async () => {
      const { fixture, report } = await claimedSteps(client, ["a", "b", "c"]);
      const { executor, statements } = watched(client);
      const results = fulfilled(
        await writeReports(executor, [
          report("a"),
          report("b", false),
          report("c", true, true),
        ]),
      );
      assert.deepEqual(results, ["reported", "reported", "reported"]);
      assert.equal(statements.length, 1);
      const states = [];
      for (const name of ["a", "b", "c"]) {
        const transitions = await transitionsOf(client, fixture.steps[name]);
        const last = transitions.at(-1)!;
        states.push([last.to_state, last.from_state, last.most_recent, last.sort_key]);
        const event = JSON.parse(last.metadata.event as string);
        const row = await stepRow(client, fixture.steps[name]);
        assert.deepEqual(event.data, row.results, `${name}: the event carries the result`);
        assert.equal(row.in_process, false);
        assert.equal(transitions.filter((x) => x.most_recent).length, 1);
      }
      assert.deepEqual(states, [
        ["enqueued_for_orchestration", "in_progress", true, 3],
        ["enqueued_as_error_for_orchestration", "in_progress", true, 3],
        ["enqueued_for_orchestration", "in_progress", true, 3],
      ]);
      assert.equal((await stepRow(client, fixture.steps.a)).attempts, 1);
      assert.equal((await stepRow(client, fixture.steps.c)).attempts, 0, "revertAttempt");
      const messages = await takeResultMessages(client, Object.values(fixture.steps));
      assert.deepEqual(
        messages.map((m) => m.step_uuid).sort(),
        Object.values(fixture.steps).sort(),
        "one results message per reported step",
      );
    },
  );

  await t.step("a step this worker does not hold is skipped; the rest are written", async () => {
    const { fixture, report } = await claimedSteps(client, ["a", "b", "c"], ["b"]);
    const first = fulfilled(await writeReports(client, [report("a"), report("b"), report("c")]));
    assert.deepEqual(first, [
      "reported",
      { skipped: "in_progress", reason: "claimed_by_other" },
      "reported",
    ]);
    // Reported already (as after a lost answer): a second batch writes nothing at all.
    const again = fulfilled(await writeReports(client, [report("a"), report("c")]));
    assert.deepEqual(again, [
      { skipped: "enqueued_for_orchestration", reason: "already_reported" },
      { skipped: "enqueued_for_orchestration", reason: "already_reported" },
    ]);
    assert.equal((await transitionsOf(client, fixture.steps.a)).length, 3);
    const messages = await takeResultMessages(client, Object.values(fixture.steps));
    assert.deepEqual(
      messages.map((m) => m.step_uuid).sort(),
      [fixture.steps.a, fixture.steps.c].sort(),
    );
  });

  for (const code of ["23505", "40P01"]) {
    await t.step(`a batch failing with ${code} is written again one report at a time`, async () => {
      const { fixture, report } = await claimedSteps(client, ["a", "b"]);
      const { executor, statements } = watched(client, code);
      const results = fulfilled(await writeReports(executor, [report("a"), report("b")]));
      assert.deepEqual(results, ["reported", "reported"]);
      assert.equal(statements.length, 3, "the failed batch, then one statement per report");
      await takeResultMessages(client, Object.values(fixture.steps));
    });
  }

  await t.step(
    "a failure of the whole statement fails every report; nothing is written",
    async () => {
      const { fixture, report } = await claimedSteps(client, ["a", "b"]);
      await client.query("SELECT pgmq.drop_queue($1::text)", [RESULTS_QUEUE]);
      try {
        const results = await writeReports(client, [report("a"), report("b")]);
        assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
        for (const name of ["a", "b"]) {
          const row = await stepRow(client, fixture.steps[name]);
          assert.equal(row.results, null, name);
          assert.equal(row.in_process, true, name);
          assert.equal(
            (await transitionsOf(client, fixture.steps[name])).at(-1)!.to_state,
            "in_progress",
          );
        }
      } finally {
        await client.query("SELECT pgmq.create($1::text)", [RESULTS_QUEUE]);
      }
    },
  );

  await t.step(
    "a result PostgreSQL cannot store fails alone; its batch-mates are written",
    async () => {
      const { fixture, report } = await claimedSteps(client, ["a", "b", "c"]);
      // jsonb cannot hold U+0000 (SQLSTATE 22P05): the batch fails, then each goes on its own.
      const bad = prepareReport({
        stepUuid: fixture.steps.b,
        taskUuid: fixture.taskUuid,
        correlationId: fixture.correlationId,
        workerUuid: WORKER,
        result: toStepExecutionResult(
          {
            status: "completed",
            result: { text: "nul\u0000" },
            error: null,
            metrics: emptyMetrics(),
            logs: [],
          },
          {
            stepUuid: fixture.steps.b,
            workerId: WORKER,
            startedAt: new Date(),
            completedAt: new Date(),
          },
        ),
        claimSortKey: (await transitionsOf(client, fixture.steps.b)).at(-1)!.sort_key,
      });
      const { executor, statements } = watched(client);
      const results = await writeReports(executor, [report("a"), bad, report("c")]);
      assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
      assert.equal(statements.length, 4, "the batch, then one statement per report");
      for (const name of ["a", "c"]) {
        assert.equal((await stepRow(client, fixture.steps[name])).in_process, false, name);
      }
      assert.equal((await stepRow(client, fixture.steps.b)).in_process, true);
      await takeResultMessages(client, Object.values(fixture.steps));
    },
  );

  await t.step("refuses a step named twice", async () => {
    const { report } = await claimedSteps(client, ["a"]);
    await assert.rejects(writeReports(client, [report("a"), report("a")]), /same step twice/);
    assert.deepEqual(await writeReports(client, []), []);
  });

  await t.step(
    "without sending (queues apart) writes the same rows and no results message, alone and in a batch",
    async () => {
      const { fixture, report } = await claimedSteps(client, ["a", "b", "c"]);
      const one = fulfilled(await writeReports(client, [report("a")], { sendMessages: false }));
      const many = fulfilled(
        await writeReports(client, [report("b"), report("c", false)], { sendMessages: false }),
      );
      assert.deepEqual([...one, ...many], ["reported", "reported", "reported"]);
      for (const name of ["a", "b", "c"]) {
        const last = (await transitionsOf(client, fixture.steps[name])).at(-1)!;
        assert.equal(last.from_state, "in_progress", name);
        assert.equal((await stepRow(client, fixture.steps[name])).in_process, false, name);
      }
      assert.deepEqual(await takeResultMessages(client, Object.values(fixture.steps)), []);
    },
  );

  await t.step(
    "a report already written by an earlier try is named as such, alone and in a batch",
    async () => {
      const { fixture, report } = await claimedSteps(client, ["a", "b", "c"], ["c"]);
      fulfilled(await writeReports(client, [report("a"), report("b")], { sendMessages: false }));
      // The answers were lost: the same reports again, and one whose claim is another's.
      const again = fulfilled(
        await writeReports(client, [report("a"), report("b"), report("c")], {
          sendMessages: false,
        }),
      );
      assert.deepEqual(again, [
        { skipped: "enqueued_for_orchestration", reason: "already_reported" },
        { skipped: "enqueued_for_orchestration", reason: "already_reported" },
        { skipped: "in_progress", reason: "claimed_by_other" },
      ]);
      // A different report (a failure) for the step reported above is not "already reported".
      const failure = fulfilled(await writeReports(client, [report("a", false)]));
      assert.deepEqual(failure, [{
        skipped: "enqueued_for_orchestration",
        reason: "not_in_progress",
      }]);
      assert.equal(
        (await transitionsOf(client, fixture.steps.a)).length,
        3,
        "nothing written twice",
      );
    },
  );

  await t.step("sendResultMessages sends each message in order, in one statement", async () => {
    const { fixture, report } = await claimedSteps(client, ["a", "b"]);
    const prepared = [report("a"), report("b")];
    const { executor, statements } = watched(client);
    const ids = fulfilled(await sendResultMessages(executor, prepared.map((r) => r.message)));
    assert.equal(statements.length, 1);
    assert.ok(ids[0] < ids[1], `message ids in order: ${ids}`);
    const messages = await takeResultMessages(client, Object.values(fixture.steps));
    assert.deepEqual(messages.map((m) => m.step_uuid), [fixture.steps.a, fixture.steps.b]);
    assert.deepEqual(await sendResultMessages(client, []), []);
  });

  await t.step("sendResultMessages rejects every message when its statement fails", async () => {
    const { report } = await claimedSteps(client, ["a", "b"]);
    const failing: SqlExecutor = {
      query: () => Promise.reject(Object.assign(new Error("gone"), { code: "42P01" })),
    };
    const settled = await sendResultMessages(failing, [report("a").message, report("b").message]);
    assert.deepEqual(settled.map((s) => s.status), ["rejected", "rejected"]);
  });
});
