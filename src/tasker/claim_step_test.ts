import assert from "node:assert/strict";
import type { SqlClient } from "../db/sql_client.ts";
import {
  createFixtureTask,
  rivalTransaction,
  stepRow,
  testOnEveryDatabase,
  transitionsOf,
  waitForLockWait,
} from "./_tasker_fixture.ts";
import { type ClaimResult, claimStep, findOwnClaim, START_EVENT } from "./claim_step.ts";
import { STEP_STATES } from "./hydrate_step.ts";
import { createQueue, sendWithNotify } from "./pgmq_queue.ts";
import { TaskerError } from "./tasker_error.ts";

const WORKER = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9aff";
const NOW = new Date("2025-03-01T10:00:00.000Z");

async function oneStep(
  client: SqlClient,
  step: Parameters<typeof createFixtureTask>[1]["steps"][0],
) {
  const fixture = await createFixtureTask(client, { steps: [step] });
  return { fixture, stepUuid: fixture.steps[step.name] };
}

function isClaimed(r: ClaimResult): boolean {
  return typeof r === "object" && "claimed" in r;
}

/** A fresh queue holding one message; `where(msgId)` says where the message is now. */
async function queueWithMessage(client: SqlClient) {
  const queue = `claim_ack_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await createQueue(client, queue);
  const msgId = await sendWithNotify(client, queue, { hello: 1 });
  const where = async (id = msgId) => {
    const [q] = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pgmq.q_${queue} WHERE msg_id = $1`,
      [id],
    );
    const [a] = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pgmq.a_${queue} WHERE msg_id = $1`,
      [id],
    );
    return q.n === 1 ? "queue" : a.n === 1 ? "archive" : "gone";
  };
  return { queue, msgId, where };
}

testOnEveryDatabase("claimStep", async (db, t) => {
  const client = db.client;

  await t.step("claims an enqueued step with the transition protocol", async () => {
    const { fixture, stepUuid } = await oneStep(client, { name: "a" });
    const claim = await claimStep(
      client,
      { stepUuid, workerUuid: WORKER, correlationId: fixture.correlationId },
      { now: () => NOW },
    );
    assert.deepEqual(claim, { claimed: true, attempts: 1, sortKey: 2, fromState: "enqueued" });
    const transitions = await transitionsOf(client, stepUuid);
    assert.equal(transitions.length, 2);
    assert.equal(transitions[0].to_state, "enqueued");
    assert.equal(transitions[0].most_recent, false);
    assert.equal(transitions[1].to_state, "in_progress");
    assert.equal(transitions[1].from_state, "enqueued");
    assert.equal(transitions[1].sort_key, 2);
    assert.equal(transitions[1].most_recent, true);
    assert.deepEqual(transitions[1].metadata, {
      event: START_EVENT,
      timestamp: "2025-03-01T10:00:00.000Z",
      worker_uuid: WORKER,
      correlation_id: fixture.correlationId,
    });
    // The event is a JSON string, not an object.
    assert.equal(transitions[1].metadata.event, '{"type":"Start"}');
    const row = await stepRow(client, stepUuid);
    assert.equal(row.in_process, true);
    assert.equal(row.attempts, 1);
    assert.ok(row.last_attempted_at instanceof Date);
  });

  await t.step(
    "claims a legacy pending step with no transition, counting on from attempts",
    async () => {
      const { fixture, stepUuid } = await oneStep(client, { name: "a", state: null, attempts: 2 });
      const claim = await claimStep(client, {
        stepUuid,
        workerUuid: WORKER,
        correlationId: fixture.correlationId,
      });
      assert.deepEqual(claim, { claimed: true, attempts: 3, sortKey: 1, fromState: "pending" });
      const transitions = await transitionsOf(client, stepUuid);
      assert.deepEqual(
        transitions.map((x) => [x.to_state, x.from_state, x.most_recent]),
        [["in_progress", "pending", true]],
      );
    },
  );

  await t.step("refuses every non-claimable state and writes nothing", async () => {
    for (const state of STEP_STATES.filter((s) => s !== "enqueued" && s !== "pending")) {
      const { fixture, stepUuid } = await oneStep(client, { name: "a", state, attempts: 1 });
      const claim = await claimStep(client, {
        stepUuid,
        workerUuid: WORKER,
        correlationId: fixture.correlationId,
      });
      assert.deepEqual(claim, { notClaimable: state });
      const transitions = await transitionsOf(client, stepUuid);
      assert.deepEqual(transitions.map((x) => [x.to_state, x.most_recent]), [[state, true]], state);
      const row = await stepRow(client, stepUuid);
      assert.equal(row.attempts, 1, state);
      assert.equal(row.in_process, false, state);
    }
  });

  await t.step("a second claim after the first sees in_progress", async () => {
    const { fixture, stepUuid } = await oneStep(client, { name: "a" });
    const input = { stepUuid, workerUuid: WORKER, correlationId: fixture.correlationId };
    assert.ok(isClaimed(await claimStep(client, input)));
    assert.deepEqual(await claimStep(client, input), { notClaimable: "in_progress" });
    assert.equal((await stepRow(client, stepUuid)).attempts, 1);
  });

  await t.step("concurrent claims on one step: exactly one wins", async () => {
    for (const state of ["enqueued", null] as const) {
      const { fixture, stepUuid } = await oneStep(client, { name: "a", state });
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          claimStep(client, {
            stepUuid,
            workerUuid: crypto.randomUUID(),
            correlationId: fixture.correlationId,
          }).then((r) => [i, r] as const)),
      );
      const winners = results.filter(([, r]) => isClaimed(r));
      assert.equal(winners.length, 1, JSON.stringify(results));
      for (const [, r] of results) {
        if (isClaimed(r)) continue;
        assert.ok(
          r === "already_claimed" ||
            (typeof r === "object" && "notClaimable" in r && r.notClaimable === "in_progress"),
          JSON.stringify(r),
        );
      }
      const transitions = await transitionsOf(client, stepUuid);
      assert.equal(transitions.filter((x) => x.to_state === "in_progress").length, 1);
      assert.equal(transitions.filter((x) => x.most_recent).length, 1);
      assert.equal((await stepRow(client, stepUuid)).attempts, 1);
    }
  });

  await t.step("many steps, several claimers each: one claim per step", async () => {
    const fixture = await createFixtureTask(client, {
      steps: Array.from({ length: 12 }, (_, i) => ({ name: `s${i}` })),
    });
    const stepUuids = Object.values(fixture.steps);
    const attempts = stepUuids.flatMap((stepUuid) =>
      [0, 1, 2].map(() =>
        claimStep(client, {
          stepUuid,
          workerUuid: crypto.randomUUID(),
          correlationId: fixture.correlationId,
        })
          .then((r) => ({ stepUuid, r }))
      )
    );
    const results = await Promise.all(attempts);
    for (const stepUuid of stepUuids) {
      const won = results.filter((x) => x.stepUuid === stepUuid && isClaimed(x.r));
      assert.equal(won.length, 1, stepUuid);
      const transitions = await transitionsOf(client, stepUuid);
      assert.equal(transitions.filter((x) => x.to_state === "in_progress").length, 1);
    }
  });

  if (db.kind === "postgres") {
    await t.step(
      "a claimer that loses the race on the most-recent index gets already_claimed",
      async () => {
        // Make the race deterministic: a rival transaction clears most_recent
        // and keeps the row locked; claimStep blocks on it; the rival then
        // inserts its own in_progress row and commits. claimStep's UPDATE
        // finds no most-recent row left, its INSERT hits the unique index.
        for (const state of ["enqueued", null] as const) {
          const { fixture, stepUuid } = await oneStep(client, { name: "a", state });
          const rival = rivalTransaction(client, async (tx) => {
            await tx.query(
              `UPDATE tasker.workflow_step_transitions SET most_recent = false
             WHERE workflow_step_uuid = $1 AND most_recent`,
              [stepUuid],
            );
            await tx.query(
              `INSERT INTO tasker.workflow_step_transitions
               (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at)
             VALUES ($1, 'in_progress', 'enqueued', '{}'::jsonb, 99, true, now(), now())`,
              [stepUuid],
            );
          });
          await rival.holding;
          const claim = claimStep(client, {
            stepUuid,
            workerUuid: WORKER,
            correlationId: fixture.correlationId,
          });
          await waitForLockWait(client, "claimStep to block on the rival's lock");
          await rival.end();
          assert.equal(await claim, "already_claimed", String(state));
          const transitions = await transitionsOf(client, stepUuid);
          assert.equal(transitions.filter((x) => x.most_recent).length, 1);
          assert.equal(transitions.find((x) => x.most_recent)?.sort_key, 99);
          const row = await stepRow(client, stepUuid);
          assert.equal(row.attempts, null, "the losing claim changed no attempt count");
          assert.equal(row.in_process, false);
        }
      },
    );

    await t.step("a claimer blocked by a rival that rolls back claims the step", async () => {
      const { fixture, stepUuid } = await oneStep(client, { name: "a" });
      const rival = rivalTransaction(client, async (tx) => {
        await tx.query(
          `UPDATE tasker.workflow_step_transitions SET most_recent = false
           WHERE workflow_step_uuid = $1 AND most_recent`,
          [stepUuid],
        );
      });
      await rival.holding;
      const claim = claimStep(client, {
        stepUuid,
        workerUuid: WORKER,
        correlationId: fixture.correlationId,
      });
      await waitForLockWait(client, "claimStep to block on the rival's lock");
      await rival.end("rollback");
      assert.deepEqual(await claim, {
        claimed: true,
        attempts: 1,
        sortKey: 2,
        fromState: "enqueued",
      });
      const transitions = await transitionsOf(client, stepUuid);
      assert.equal(transitions.filter((x) => x.most_recent).length, 1);
      assert.equal(transitions.find((x) => x.most_recent)?.to_state, "in_progress");
    });

    await t.step(
      "with archive: a claim that loses on the unique index rolls its ack back",
      async () => {
        const { fixture, stepUuid } = await oneStep(client, { name: "a", state: null });
        const { queue, msgId, where } = await queueWithMessage(client);
        const rival = rivalTransaction(client, async (tx) => {
          await tx.query(
            `INSERT INTO tasker.workflow_step_transitions
               (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at)
             VALUES ($1, 'in_progress', 'pending', '{}'::jsonb, 1, true, now(), now())`,
            [stepUuid],
          );
        });
        await rival.holding;
        const claim = claimStep(
          client,
          { stepUuid, workerUuid: WORKER, correlationId: fixture.correlationId },
          { archive: { queue, msgId } },
        );
        await waitForLockWait(client, "claimStep to block on the rival's index entry");
        await rival.end();
        assert.equal(await claim, "already_claimed");
        assert.equal(await where(), "queue", "the ack rolled back with the claim");
        assert.equal((await stepRow(client, stepUuid)).attempts, null);
      },
    );
  }

  await t.step("a missing step is a database error, not a claim", async () => {
    await assert.rejects(
      claimStep(client, {
        stepUuid: crypto.randomUUID(),
        workerUuid: WORKER,
        correlationId: WORKER,
      }),
    );
  });
  await t.step("with archive: the claim and the ack are one statement", async () => {
    const { fixture, stepUuid } = await oneStep(client, { name: "a" });
    const { queue, msgId, where } = await queueWithMessage(client);
    const claim = await claimStep(
      client,
      { stepUuid, workerUuid: WORKER, correlationId: fixture.correlationId },
      { now: () => NOW, archive: { queue, msgId } },
    );
    assert.deepEqual(claim, {
      claimed: true,
      attempts: 1,
      sortKey: 2,
      fromState: "enqueued",
      archived: true,
    });
    assert.equal(await where(), "archive");
    const transitions = await transitionsOf(client, stepUuid);
    assert.deepEqual(transitions.map((x) => [x.to_state, x.most_recent]), [
      ["enqueued", false],
      ["in_progress", true],
    ]);
  });

  await t.step("with archive: a message already gone still lets the claim through", async () => {
    const { fixture, stepUuid } = await oneStep(client, { name: "a" });
    const { queue, msgId, where } = await queueWithMessage(client);
    await client.query("SELECT pgmq.archive($1::text, $2::bigint)", [queue, msgId]);
    const claim = await claimStep(
      client,
      { stepUuid, workerUuid: WORKER, correlationId: fixture.correlationId },
      { archive: { queue, msgId } },
    );
    assert.ok(isClaimed(claim));
    assert.equal((claim as { archived?: boolean }).archived, false);
    assert.equal(await where(), "archive");
  });

  await t.step("with archive: a stale message is archived and nothing else written", async () => {
    const { fixture, stepUuid } = await oneStep(client, { name: "a", state: "complete" });
    const { queue, msgId, where } = await queueWithMessage(client);
    const claim = await claimStep(
      client,
      { stepUuid, workerUuid: WORKER, correlationId: fixture.correlationId },
      { archive: { queue, msgId } },
    );
    assert.deepEqual(claim, { notClaimable: "complete" });
    assert.equal(await where(), "archive");
    assert.deepEqual(
      (await transitionsOf(client, stepUuid)).map((x) => [x.to_state, x.most_recent]),
      [["complete", true]],
    );
  });

  await t.step("with archive: a missing queue fails the claim and writes nothing", async () => {
    const { fixture, stepUuid } = await oneStep(client, { name: "a" });
    const error = await claimStep(
      client,
      { stepUuid, workerUuid: WORKER, correlationId: fixture.correlationId },
      { archive: { queue: "no_such_queue_here", msgId: 1 } },
    ).then(() => undefined, (e) => e);
    assert.ok(error instanceof TaskerError, String(error));
    assert.equal(error.code, "queue_missing");
    assert.deepEqual(
      (await transitionsOf(client, stepUuid)).map((x) => [x.to_state, x.most_recent]),
      [["enqueued", true]],
    );
    assert.equal((await stepRow(client, stepUuid)).attempts, null);
    await assert.rejects(
      claimStep(
        client,
        { stepUuid, workerUuid: WORKER, correlationId: fixture.correlationId },
        { archive: { queue: "no_such_queue_here", msgId: 0 } },
      ),
      RangeError,
    );
  });
});

testOnEveryDatabase("findOwnClaim", async (db, t) => {
  const client = db.client;

  await t.step("finds a claim that committed, with what claimStep returned", async () => {
    const { fixture, stepUuid } = await oneStep(client, { name: "a" });
    const input = { stepUuid, workerUuid: WORKER, correlationId: fixture.correlationId };
    const claim = await claimStep(client, input, { now: () => NOW });
    assert.deepEqual(await findOwnClaim(client, { ...input, timestamp: NOW }), claim);
  });

  await t.step("finds nothing for another claim time, worker or an unclaimed step", async () => {
    const { fixture, stepUuid } = await oneStep(client, { name: "b" });
    const input = { stepUuid, workerUuid: WORKER, correlationId: fixture.correlationId };
    assert.equal(await findOwnClaim(client, { ...input, timestamp: NOW }), undefined);
    await claimStep(client, input, { now: () => NOW });
    const later = new Date(NOW.getTime() + 1);
    assert.equal(await findOwnClaim(client, { ...input, timestamp: later }), undefined);
    const other = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9a00";
    assert.equal(
      await findOwnClaim(client, { ...input, workerUuid: other, timestamp: NOW }),
      undefined,
    );
  });
});
