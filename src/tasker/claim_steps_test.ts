import assert from "node:assert/strict";
import type { SqlClient } from "../db/sql_client.ts";
import {
  createFixtureTask,
  fulfilled,
  rivalTransaction,
  stepRow,
  testOnEveryDatabase,
  transitionsOf,
  waitForLockWait,
} from "./_tasker_fixture.ts";
import { type ClaimResult, claimSteps, findOwnClaim, START_EVENT } from "./claim_step.ts";
import { createQueue, sendWithNotify } from "./pgmq_queue.ts";
import { TaskerError } from "./tasker_error.ts";

const WORKER = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9aff";
const NOW = new Date("2025-03-01T10:00:00.000Z");

function isClaimed(r: ClaimResult): boolean {
  return typeof r === "object" && "claimed" in r;
}

/** A fresh queue holding `n` messages; `where(msgId)` says where one is now. */
async function queueWithMessages(client: SqlClient, n: number) {
  const queue = `claims_ack_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await createQueue(client, queue);
  const msgIds: number[] = [];
  for (let i = 0; i < n; i++) msgIds.push(await sendWithNotify(client, queue, { i }));
  const where = async (id: number) => {
    const [row] = await client.query<{ q: number; a: number }>(
      `SELECT (SELECT count(*)::int FROM pgmq.q_${queue} WHERE msg_id = $1) AS q,
              (SELECT count(*)::int FROM pgmq.a_${queue} WHERE msg_id = $1) AS a`,
      [id],
    );
    return row.q === 1 ? "queue" : row.a === 1 ? "archive" : "gone";
  };
  return { queue, msgIds, where };
}

testOnEveryDatabase("claimSteps", async (db, t) => {
  const client = db.client;

  await t.step("claims a batch in one statement, each step as claimStep would", async () => {
    const fixture = await createFixtureTask(client, {
      steps: [
        { name: "a" },
        { name: "b", state: null, attempts: 2 },
        { name: "c", state: "complete", attempts: 1 },
        { name: "d", state: "in_progress", attempts: 1 },
      ],
    });
    const names = ["a", "b", "c", "d"];
    const requests = names.map((name) => ({
      stepUuid: fixture.steps[name],
      workerUuid: WORKER,
      correlationId: fixture.correlationId,
      at: NOW,
    }));
    const statements: string[] = [];
    const counting = {
      query: <R>(text: string, params?: unknown[]) => {
        statements.push(text);
        return client.query<R>(text, params);
      },
    };
    const results = fulfilled(await claimSteps(counting, requests));
    assert.equal(statements.length, 1, "one statement for the batch");
    assert.deepEqual(results, [
      { claimed: true, attempts: 1, sortKey: 2, fromState: "enqueued" },
      { claimed: true, attempts: 3, sortKey: 1, fromState: "pending" },
      { notClaimable: "complete" },
      { notClaimable: "in_progress" },
    ]);
    const a = await transitionsOf(client, fixture.steps.a);
    assert.deepEqual(a.map((x) => [x.to_state, x.most_recent]), [
      ["enqueued", false],
      ["in_progress", true],
    ]);
    assert.equal(a[1].from_state, "enqueued");
    assert.deepEqual(a[1].metadata, {
      event: START_EVENT,
      timestamp: NOW.toISOString(),
      worker_uuid: WORKER,
      correlation_id: fixture.correlationId,
    });
    assert.equal((await stepRow(client, fixture.steps.a)).in_process, true);
    // What findOwnClaim looks for after a lost answer is there for every claimed step.
    for (const [k, name] of ["a", "b"].entries()) {
      assert.deepEqual(
        await findOwnClaim(client, { ...requests[k], timestamp: NOW }),
        results[k],
        name,
      );
    }
    // Not claimable: nothing written.
    assert.deepEqual(
      (await transitionsOf(client, fixture.steps.c)).map((x) => x.to_state),
      ["complete"],
    );
    assert.equal((await stepRow(client, fixture.steps.d)).attempts, 1);
  });

  await t.step("with archiveQueue: the claims and the acks are one statement", async () => {
    const fixture = await createFixtureTask(client, {
      steps: [{ name: "a" }, { name: "b", state: "complete" }, { name: "c" }],
    });
    const { queue, msgIds, where } = await queueWithMessages(client, 3);
    await client.query("SELECT pgmq.archive($1::text, $2::bigint)", [queue, msgIds[2]]);
    const results = fulfilled(
      await claimSteps(
        client,
        ["a", "b", "c"].map((name, k) => ({
          stepUuid: fixture.steps[name],
          workerUuid: WORKER,
          correlationId: fixture.correlationId,
          msgId: msgIds[k],
        })),
        { archiveQueue: queue },
      ),
    );
    assert.deepEqual(results, [
      { claimed: true, attempts: 1, sortKey: 2, fromState: "enqueued", archived: true },
      { notClaimable: "complete" },
      // Its message was archived already: the claim goes through all the same.
      { claimed: true, attempts: 1, sortKey: 2, fromState: "enqueued", archived: false },
    ]);
    for (const id of msgIds) assert.equal(await where(id), "archive");
  });

  await t.step("batches racing over the same steps: exactly one claim per step", async () => {
    const fixture = await createFixtureTask(client, {
      steps: Array.from(
        { length: 12 },
        (_, i) => ({ name: `s${i}`, state: i % 2 ? null : "enqueued" }),
      ),
    });
    const stepUuids = Object.values(fixture.steps);
    // Each claimer takes every step, in its own order, in batches of 4.
    const claimers = [0, 1, 2].map(async (c) => {
      const order = stepUuids.map((s, i) => ({ s, k: (i * (c + 5)) % 13 }))
        .sort((x, y) => x.k - y.k).map((x) => x.s);
      const won: string[] = [];
      for (let i = 0; i < order.length; i += 4) {
        const batch = order.slice(i, i + 4);
        const results = fulfilled(
          await claimSteps(
            client,
            batch.map((stepUuid) => ({
              stepUuid,
              workerUuid: crypto.randomUUID(),
              correlationId: fixture.correlationId,
            })),
          ),
        );
        results.forEach((r, k) => isClaimed(r) && won.push(batch[k]));
      }
      return won;
    });
    const won = (await Promise.all(claimers)).flat();
    assert.deepEqual([...won].sort(), [...stepUuids].sort());
    for (const stepUuid of stepUuids) {
      const transitions = await transitionsOf(client, stepUuid);
      assert.equal(transitions.filter((x) => x.to_state === "in_progress").length, 1);
      assert.equal((await stepRow(client, stepUuid)).attempts, 1);
    }
  });

  if (db.kind === "postgres") {
    await t.step(
      "one step lost on the unique index: the others of its batch are still claimed",
      async () => {
        // Deterministic race: a rival inserts the most-recent row of a step that
        // never transitioned and holds it uncommitted; the batch's insert waits
        // on the unique index and, once the rival commits, fails as a whole
        // (23505). Its steps are then claimed one by one.
        const fixture = await createFixtureTask(client, {
          steps: [{ name: "a" }, { name: "b", state: null }, { name: "c", state: null }],
        });
        const rival = rivalTransaction(client, async (tx) => {
          await tx.query(
            `INSERT INTO tasker.workflow_step_transitions
             (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at)
             VALUES ($1, 'in_progress', 'pending', '{}'::jsonb, 99, true, now(), now())`,
            [fixture.steps.b],
          );
        });
        await rival.holding;
        const claims = claimSteps(
          client,
          ["a", "b", "c"].map((name) => ({
            stepUuid: fixture.steps[name],
            workerUuid: WORKER,
            correlationId: fixture.correlationId,
          })),
        );
        await waitForLockWait(client, "the batch to block");
        await rival.end();
        const results = fulfilled(await claims);
        assert.ok(isClaimed(results[0]), JSON.stringify(results[0]));
        // Claimed again on its own after the rival committed: it sees the rival's claim.
        assert.deepEqual(results[1], { notClaimable: "in_progress" });
        assert.ok(isClaimed(results[2]), JSON.stringify(results[2]));
        const b = await transitionsOf(client, fixture.steps.b);
        assert.deepEqual(b.map((x) => [x.sort_key, x.most_recent]), [[99, true]]);
        assert.equal((await stepRow(client, fixture.steps.b)).attempts, null);
        for (const name of ["a", "c"]) {
          assert.equal((await stepRow(client, fixture.steps[name])).attempts, 1, name);
        }
      },
    );
  }

  await t.step("a missing queue fails every claim of the batch and writes nothing", async () => {
    const fixture = await createFixtureTask(client, { steps: [{ name: "a" }, { name: "b" }] });
    const results = await claimSteps(
      client,
      ["a", "b"].map((name, k) => ({
        stepUuid: fixture.steps[name],
        workerUuid: WORKER,
        correlationId: fixture.correlationId,
        msgId: k + 1,
      })),
      { archiveQueue: "no_such_queue_here" },
    );
    for (const r of results) {
      assert.equal(r.status, "rejected");
      const error = (r as PromiseRejectedResult).reason;
      assert.ok(error instanceof TaskerError && error.code === "queue_missing", String(error));
    }
    for (const name of ["a", "b"]) {
      assert.deepEqual(
        (await transitionsOf(client, fixture.steps[name])).map((x) => x.to_state),
        ["enqueued"],
      );
    }
  });

  await t.step("a step whose row is missing fails alone; the others are claimed", async () => {
    const fixture = await createFixtureTask(client, { steps: [{ name: "a" }, { name: "b" }] });
    const results = await claimSteps(
      client,
      [fixture.steps.a, crypto.randomUUID(), fixture.steps.b].map((stepUuid) => ({
        stepUuid,
        workerUuid: WORKER,
        correlationId: fixture.correlationId,
      })),
    );
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
    assert.ok(results.every((r) => r.status === "rejected" || isClaimed(r.value)));
    for (const name of ["a", "b"]) {
      assert.equal((await stepRow(client, fixture.steps[name])).attempts, 1, name);
    }
  });

  await t.step("refuses a step named twice and a message id that is not ≥ 1", async () => {
    const fixture = await createFixtureTask(client, { steps: [{ name: "a" }, { name: "b" }] });
    const req = (name: string, msgId?: number) => ({
      stepUuid: fixture.steps[name],
      workerUuid: WORKER,
      correlationId: fixture.correlationId,
      msgId,
    });
    await assert.rejects(
      claimSteps(client, [req("a"), { ...req("a"), stepUuid: fixture.steps.a.toUpperCase() }]),
      /names the same step twice/,
    );
    await assert.rejects(
      claimSteps(client, [req("a", 1), req("b", 0)], { archiveQueue: "q" }),
      /claim of step .* msgId is not an integer ≥ 1: current value is 0/,
    );
    assert.deepEqual(
      (await transitionsOf(client, fixture.steps.a)).map((x) => x.to_state),
      ["enqueued"],
    );
    assert.deepEqual(await claimSteps(client, []), []);
  });
});
