import assert from "node:assert/strict";
import type { SqlClient } from "../db/sql_client.ts";
import {
  createFixtureTask,
  type FixtureStep,
  rivalTransaction,
  stepRow,
  testOnEveryDatabase,
  transitionsOf,
  waitForLockWait,
} from "./_tasker_fixture.ts";
import { START_EVENT } from "./claim_step.ts";
import { interceptQueries } from "../../tests/support/broker_harness.ts";
import { createQueue, sendWithNotify } from "./pgmq_queue.ts";
import { hydrateStep } from "./hydrate_step.ts";
import {
  findReadClaim,
  hydrateOwnClaim,
  readAndClaim,
  type ReadAndClaimResult,
} from "./read_and_claim.ts";
import type { StepDefinition } from "./step_definition.ts";
import { TaskerError } from "./tasker_error.ts";

const WORKER = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9aff";
const AT = new Date("2025-03-01T10:00:00.000Z");
const isObject = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v);

/** A fresh, empty queue; `where(msgId)` says where a message is now. */
async function freshQueue(client: SqlClient) {
  const queue = `rc_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await createQueue(client, queue);
  const where = async (msgId: number) => {
    const [row] = await client.query<{ q: number; a: number; read_ct: number | null }>(
      `SELECT (SELECT count(*)::int FROM pgmq.q_${queue} WHERE msg_id = $1) AS q,
              (SELECT count(*)::int FROM pgmq.a_${queue} WHERE msg_id = $1) AS a,
              (SELECT read_ct FROM pgmq.q_${queue} WHERE msg_id = $1) AS read_ct`,
      [msgId],
    );
    return row.a === 1 ? "archived" : row.q === 1 ? `queue (read ${row.read_ct})` : "gone";
  };
  return { queue, where };
}

/** One task of `steps`; `send(name)` queues a message for its step `name`, `read` reads it. */
async function setUp(client: SqlClient, steps: FixtureStep[], configuration?: unknown) {
  const fixture = await createFixtureTask(client, { steps, configuration, context: { n: 1 } });
  const { queue, where } = await freshQueue(client);
  const send = (name: string, body: Record<string, unknown> = {}) =>
    sendWithNotify(client, queue, {
      task_uuid: fixture.taskUuid,
      step_uuid: fixture.steps[name],
      correlation_id: fixture.correlationId,
      ...body,
    });
  const read = (known: ReadonlyMap<string, StepDefinition> = new Map(), vtSeconds = 30) =>
    readAndClaim(client, { queue, vtSeconds, workerUuid: WORKER, at: AT, known });
  return { fixture, queue, where, send, read };
}

/** The definition the statement reported for the step it hydrated, as `known`. */
function knownFrom(r: ReadAndClaimResult): Map<string, StepDefinition> {
  const result = r.step?.result;
  assert.ok(result?.hydrated.ok, "the step was hydrated");
  assert.match(result.definitionDigest ?? "", /^[0-9a-f]{32}$/);
  return new Map([[result.definitionDigest!, result.hydrated.step.definition]]);
}

/** Waits until at least `count` sessions of this database wait on a lock. */
async function lockWaiters(client: SqlClient, count: number, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const [row] = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (row.n >= count) return;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `known` for the fixture's default one-step template (every such task has the same digest). */
async function learned(client: SqlClient): Promise<Map<string, StepDefinition>> {
  const { send, read } = await setUp(client, [{ name: "a" }]);
  await send("a");
  return knownFrom(await read());
}

function claimedOf(r: ReadAndClaimResult) {
  const claim = r.step?.result.claim;
  assert.ok(claim && claim !== "already_claimed" && "claimed" in claim, JSON.stringify(claim));
  return claim;
}

testOnEveryDatabase("readAndClaim", async (db, t) => {
  const client = db.client;

  await t.step("an empty queue: nothing read, nothing more", async () => {
    const { read } = await setUp(client, [{ name: "a" }]);
    assert.deepEqual(await read(), { more: false });
  });

  await t.step("an unknown definition: read and hydrated, not claimed, not archived", async () => {
    const { fixture, send, read, where } = await setUp(client, [{ name: "a" }]);
    const msgId = await send("a");
    const r = await read(new Map(), 7);
    assert.equal(r.message?.msgId, msgId);
    assert.equal(r.message?.readCount, 1);
    assert.equal(r.more, false);
    assert.equal(r.step?.result.claim, undefined);
    assert.deepEqual(r.step?.message, {
      task_uuid: fixture.taskUuid,
      step_uuid: fixture.steps.a,
      correlation_id: fixture.correlationId,
    });
    // The hydration is hydrateStep's for the same message.
    assert.deepEqual(r.step?.result.hydrated, await hydrateStep(client, r.step!.message));
    assert.match(r.step?.result.definitionDigest ?? "", /^[0-9a-f]{32}$/);
    assert.equal(await where(msgId), "queue (read 1)");
    // Hidden for the visibility timeout it was read with.
    const vtSeconds = (r.message!.vt.getTime() - Date.now()) / 1000;
    assert.ok(vtSeconds > 3 && vtSeconds <= 8, `vt in ${vtSeconds} s`);
    assert.deepEqual(await read(), { more: false }, "invisible now");
    assert.deepEqual((await transitionsOf(client, fixture.steps.a)).map((x) => x.to_state), [
      "enqueued",
    ]);
  });

  await t.step("a known definition: read, claimed and archived in one statement", async () => {
    const known = await learned(client);
    const { fixture, send, read, where } = await setUp(client, [{ name: "a" }]);
    const msgId = await send("a");
    const r = await read(known);
    assert.deepEqual(claimedOf(r), {
      claimed: true,
      attempts: 1,
      sortKey: 2,
      fromState: "enqueued",
      archived: true,
    });
    const hydrated = r.step!.result.hydrated;
    assert.ok(hydrated.ok);
    assert.equal(hydrated.step.step.state, "enqueued", "the snapshot before the claim");
    assert.equal(hydrated.step.definition, [...known.values()][0], "the known definition");
    assert.deepEqual(JSON.parse(hydrated.step.task.contextJson), { n: 1 });
    assert.equal(await where(msgId), "archived");
    const transitions = await transitionsOf(client, fixture.steps.a);
    assert.deepEqual(transitions.map((x) => [x.to_state, x.most_recent]), [
      ["enqueued", false],
      ["in_progress", true],
    ]);
    assert.deepEqual(transitions[1].metadata, {
      event: START_EVENT,
      timestamp: AT.toISOString(),
      worker_uuid: WORKER,
      correlation_id: fixture.correlationId,
    });
    assert.equal((await stepRow(client, fixture.steps.a)).attempts, 1);
  });

  await t.step("uppercase UUIDs in the body: claimed, the correlation id lowercased", async () => {
    const known = await learned(client);
    const { fixture, send, read, where } = await setUp(client, [{ name: "a" }]);
    const msgId = await send("a", {
      step_uuid: fixture.steps.a.toUpperCase(),
      correlation_id: fixture.correlationId.toUpperCase(),
      extra: "ignored",
    });
    const r = await read(known);
    claimedOf(r);
    assert.equal(r.step?.message.step_uuid, fixture.steps.a);
    assert.equal(await where(msgId), "archived");
    const [, claim] = await transitionsOf(client, fixture.steps.a);
    assert.equal(claim.metadata.correlation_id, fixture.correlationId);
  });

  await t.step("more: set while other messages are visible", async () => {
    const { send, read } = await setUp(client, [{ name: "a" }, { name: "b" }]);
    const a = await send("a");
    const b = await send("b");
    const first = await read();
    assert.equal(first.message?.msgId, a, "oldest first");
    assert.equal(first.more, true);
    const second = await read();
    assert.equal(second.message?.msgId, b);
    assert.equal(second.more, false, "the message read itself does not count");
  });

  await t.step("a body that is not a step message: returned, nothing else", async () => {
    const { fixture, queue, where, read } = await setUp(client, [{ name: "a" }]);
    const known = await learned(client);
    const bodies: unknown[] = [
      [1, 2],
      "a string",
      { task_uuid: fixture.taskUuid, step_uuid: fixture.steps.a }, // no correlation_id
      { task_uuid: fixture.taskUuid, step_uuid: 7, correlation_id: fixture.correlationId },
      { task_uuid: "nope", step_uuid: fixture.steps.a, correlation_id: fixture.correlationId },
    ];
    for (const body of bodies) {
      const msgId = await sendWithNotify(client, queue, body);
      const r = await read(known);
      assert.equal(r.message?.msgId, msgId, JSON.stringify(body));
      assert.deepEqual(r.message?.message, body);
      assert.equal(r.step, undefined, JSON.stringify(body));
      assert.equal(await where(msgId), "queue (read 1)", JSON.stringify(body));
    }
    assert.deepEqual((await transitionsOf(client, fixture.steps.a)).map((x) => x.to_state), [
      "enqueued",
    ]);
  });

  await t.step("a known definition, the step not claimable: read, nothing written", async () => {
    const known = await learned(client);
    const { fixture, send, read, where } = await setUp(client, [{ name: "a", state: "complete" }]);
    const msgId = await send("a");
    const r = await read(known);
    assert.equal(r.step?.result.claim, undefined);
    const hydrated = r.step?.result.hydrated;
    assert.equal(hydrated?.ok === false ? hydrated.code : "ok", "not_claimable");
    assert.equal(await where(msgId), "queue (read 1)");
    assert.equal((await transitionsOf(client, fixture.steps.a)).length, 1);
  });

  await t.step("findReadClaim finds the claim whose answer was lost, only that", async () => {
    const known = await learned(client);
    const { fixture, queue, send, read } = await setUp(client, [{ name: "a" }]);
    const msgId = await send("a");
    const claim = claimedOf(await read(known));
    const query = { queue, workerUuid: WORKER, at: AT, sinceSeconds: 1 };
    const found = await findReadClaim(client, query);
    assert.equal(found?.message.msgId, msgId);
    assert.deepEqual((found?.message.message as { step_uuid: string }).step_uuid, fixture.steps.a);
    assert.deepEqual(found?.claim, {
      claimed: true,
      attempts: claim.attempts,
      sortKey: claim.sortKey,
      fromState: claim.fromState,
    });
    const other = new Date(AT.getTime() + 1);
    assert.equal(await findReadClaim(client, { ...query, at: other }), undefined, "another call");
    const stranger = "0190a8b2-1c2d-7e3f-8a4b-000000000000";
    assert.equal(await findReadClaim(client, { ...query, workerUuid: stranger }), undefined);
    // A claim the caller holds already (made on its other path in the same millisecond).
    const held = new Set([fixture.steps.a]);
    assert.equal(await findReadClaim(client, { ...query, exclude: held }), undefined);
    // Poison in the archive does not break the search.
    const poison = await sendWithNotify(client, queue, { step_uuid: "not a uuid" });
    await client.query("SELECT pgmq.archive($1::text, $2::bigint)", [queue, poison]);
    assert.equal((await findReadClaim(client, query))?.message.msgId, msgId);
  });

  await t.step("the template's configuration is sent only for a definition not known", async () => {
    const rows: { configuration?: unknown }[] = [];
    const spy = interceptQueries(client, async <Row>(text: string, params?: readonly unknown[]) => {
      const answer = await client.query<Row>(text, params);
      if (text.includes("definition_md5")) rows.push(...answer as { configuration?: unknown }[]);
      return answer;
    });
    const { send, read } = await setUp(spy, [{ name: "a" }, { name: "b" }]);
    await send("a");
    const known = knownFrom(await read());
    assert.ok(isObject(rows[0].configuration), "unknown: the template came to find the definition");
    await send("a");
    const r = await read(known);
    claimedOf(r);
    assert.equal(rows[1].configuration, null, "known: not sent");
    // Another step of the same template has another definition: sent again.
    await send("b");
    const other = await read(known);
    assert.ok(isObject(rows[2].configuration));
    const hydrated = other.step?.result.hydrated;
    assert.ok(hydrated?.ok);
    assert.equal(hydrated.step.definition.name, "b");
    assert.equal(other.step?.result.claim, undefined);
  });

  await t.step("a step never transitioned (legacy pending) is claimed from pending", async () => {
    const known = await learned(client);
    const { fixture, send, read } = await setUp(client, [{ name: "a", state: null }]);
    await send("a");
    assert.deepEqual(claimedOf(await read(known)), {
      claimed: true,
      attempts: 1,
      sortKey: 1,
      fromState: "pending",
      archived: true,
    });
    assert.deepEqual((await transitionsOf(client, fixture.steps.a)).map((x) => x.to_state), [
      "in_progress",
    ]);
  });

  await t.step("dependency results are hydrated for a claimed step", async () => {
    const steps: FixtureStep[] = [
      { name: "load", state: "complete", processed: true, results: { result: { rows: 2 } } },
      { name: "ship", dependsOn: ["load"] },
    ];
    const first = await setUp(client, steps);
    await first.send("ship");
    const { send, read } = await setUp(client, steps);
    await send("ship");
    const r = await read(knownFrom(await first.read()));
    claimedOf(r);
    const hydrated = r.step?.result.hydrated;
    assert.ok(hydrated?.ok);
    assert.deepEqual(JSON.parse(hydrated.step.depsJson), { load: { rows: 2 } });
  });

  await t.step("a known definition in a state not claimable: read, nothing written", async () => {
    const known = await learned(client);
    for (const state of ["in_progress", "complete", "waiting_for_retry"]) {
      const { fixture, send, read, where } = await setUp(client, [{ name: "a", state }]);
      const msgId = await send("a");
      const r = await read(known);
      assert.equal(r.step?.result.definitionDigest, [...known.keys()][0], "the same definition");
      assert.equal(r.step?.result.claim, undefined, state);
      const hydrated = r.step?.result.hydrated;
      assert.equal(hydrated?.ok === false ? hydrated.code : "ok", "not_claimable", state);
      assert.equal(await where(msgId), "queue (read 1)", state);
      assert.equal((await transitionsOf(client, fixture.steps.a)).length, 1, state);
    }
  });

  await t.step("only the known digest is claimed: another definition is hydrated", async () => {
    const known = await learned(client);
    const { send, read, where } = await setUp(client, [{
      name: "a",
      definition: {
        name: "a",
        handler: { callable: "catalog.transform", initialization: { filter: ".n" } },
      },
    }]);
    const msgId = await send("a");
    const r = await read(known);
    assert.equal(r.step?.result.claim, undefined);
    assert.notEqual(r.step?.result.definitionDigest, [...known.keys()][0]);
    const hydrated = r.step?.result.hydrated;
    assert.ok(hydrated?.ok);
    assert.deepEqual(hydrated.step.definition.handler.initialization, { filter: ".n" });
    assert.equal(await where(msgId), "queue (read 1)");
  });

  await t.step("a message naming another task's step: step_task_mismatch, no claim", async () => {
    const known = await learned(client);
    const a = await setUp(client, [{ name: "a" }]);
    const b = await setUp(client, [{ name: "a" }]);
    const msgId = await a.send("a", { task_uuid: b.fixture.taskUuid });
    const r = await a.read(known);
    assert.equal(r.step?.result.definitionDigest, [...known.keys()][0], "the same definition");
    assert.equal(r.step?.result.claim, undefined);
    const hydrated = r.step?.result.hydrated;
    assert.equal(hydrated?.ok === false ? hydrated.code : "ok", "step_task_mismatch");
    assert.equal(await a.where(msgId), "queue (read 1)");
  });

  await t.step("no digest for a step defined twice or not at all", async () => {
    const twice = await setUp(client, [{ name: "a" }], {
      name: "t",
      steps: [
        { name: "a", handler: { callable: "catalog.transform" } },
        { name: "a", handler: { callable: "catalog.transform" } },
      ],
    });
    await twice.send("a");
    const r1 = (await twice.read()).step?.result;
    assert.equal(r1?.definitionDigest, null);
    assert.equal(r1?.hydrated.ok === false ? r1.hydrated.code : "ok", "bad_template");
    const none = await setUp(client, [{ name: "a" }], { name: "t", steps: [{ name: "b" }] });
    await none.send("a");
    const r2 = (await none.read()).step?.result;
    assert.equal(r2?.definitionDigest, null);
    assert.equal(r2?.hydrated.ok === false ? r2.hydrated.code : "ok", "no_step_definition");
  });

  await t.step("hydrateOwnClaim: a step this worker claimed, with its dependencies", async () => {
    const steps: FixtureStep[] = [
      { name: "load", state: "complete", processed: true, results: { result: { rows: 2 } } },
      { name: "ship", dependsOn: ["load"] },
    ];
    const { fixture, send, read } = await setUp(client, steps);
    const message = {
      task_uuid: fixture.taskUuid,
      step_uuid: fixture.steps.ship,
      correlation_id: fixture.correlationId,
    };
    const before = await hydrateOwnClaim(client, message);
    assert.equal(before.hydrated.ok ? "ok" : before.hydrated.code, "not_claimable");
    await send("ship");
    const first = await read();
    await send("ship"); // a second message for the same step, as after a redelivery
    claimedOf(await read(knownFrom(first)));
    const own = await hydrateOwnClaim(client, message);
    assert.equal(own.definitionDigest, first.step?.result.definitionDigest);
    assert.ok(own.hydrated.ok);
    assert.equal(own.hydrated.step.step.state, "in_progress");
    assert.equal(own.hydrated.step.step.attempts, 1);
    assert.deepEqual(JSON.parse(own.hydrated.step.depsJson), { load: { rows: 2 } });
    assert.equal(own.claim, undefined, "it claims nothing");
    assert.equal((await transitionsOf(client, fixture.steps.ship)).length, 2);
  });

  if (db.kind === "postgres") {
    // PGlite serves one session at a time: no rival can hold a lock while the statement runs.
    await t.step("a rival claiming a never-transitioned step first: nothing read", async () => {
      const known = await learned(client);
      const { fixture, send, read, where } = await setUp(client, [{ name: "a", state: null }]);
      const msgId = await send("a");
      const rival = rivalTransaction(client, async (tx) => {
        await tx.query(
          `INSERT INTO tasker.workflow_step_transitions
             (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent,
              created_at, updated_at)
           VALUES ($1, 'in_progress', 'pending', '{}'::jsonb, 1, true, now(), now())`,
          [fixture.steps.a],
        );
      });
      await rival.holding;
      const ours = read(known);
      await waitForLockWait(client, "readAndClaim to block on the rival's index entry");
      await rival.end();
      assert.deepEqual(await ours, { more: true }, "read again");
      assert.equal(await where(msgId), "queue (read 0)", "the read rolled back with the claim");
      assert.deepEqual((await transitionsOf(client, fixture.steps.a)).map((x) => x.sort_key), [1]);
      assert.equal((await stepRow(client, fixture.steps.a)).attempts, null);
    });

    await t.step(
      "a message that committed after the statement began: read, not hydrated",
      async () => {
        // pgmq.read's query takes a snapshot newer than the statement's. Forced here: the
        // statement begins while the task and its message are not committed, and its read
        // waits (behind a lock request queued after the sender) until they are.
        const known = await learned(client);
        const { queue, where } = await freshQueue(client);
        let fixture: { taskUuid: string; steps: Record<string, string> } | undefined;
        let msgId = 0;
        const sender = rivalTransaction(client, async (tx) => {
          fixture = await createFixtureTask(tx, { steps: [{ name: "a" }], context: { n: 1 } });
          msgId = await sendWithNotify(tx, queue, {
            task_uuid: fixture.taskUuid,
            step_uuid: fixture.steps.a,
            correlation_id: crypto.randomUUID(),
          });
        });
        await sender.holding;
        const blocker = rivalTransaction(client, async (tx) => {
          await tx.query(`LOCK TABLE pgmq.q_${queue} IN SHARE ROW EXCLUSIVE MODE`);
        });
        await lockWaiters(client, 1, "the lock request to queue behind the sender");
        const ours = readAndClaim(client, {
          queue,
          vtSeconds: 30,
          workerUuid: WORKER,
          at: AT,
          known,
        });
        await lockWaiters(client, 2, "the read to queue behind the lock request");
        await sender.end();
        await blocker.holding;
        await blocker.end("rollback");
        const r = await ours;
        assert.equal(r.message?.msgId, msgId, "read");
        assert.equal(r.step, undefined, "not hydrated by a snapshot without its task");
        assert.equal(await where(msgId), "queue (read 1)", "not claimed, not archived");
        assert.equal((await transitionsOf(client, fixture!.steps.a)).length, 1);
      },
    );
  }

  await t.step("bad input is refused before any statement", async () => {
    const known = new Map();
    for (const queue of ["a;drop", "with space", ""]) {
      await assert.rejects(
        readAndClaim(client, { queue, vtSeconds: 1, workerUuid: WORKER, at: AT, known }),
        RangeError,
      );
    }
    await assert.rejects(
      readAndClaim(client, { queue: "q", vtSeconds: 1.5, workerUuid: WORKER, at: AT, known }),
      /vtSeconds 1.5: expected an integer ≥ 0/,
    );
  });

  await t.step("a queue name with capitals: its tables are found as pgmq names them", async () => {
    const known = await learned(client);
    const queue = `RC_Mixed_${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`;
    await createQueue(client, queue);
    const fixture = await createFixtureTask(client, { steps: [{ name: "a" }], context: {} });
    const msgId = await sendWithNotify(client, queue, {
      task_uuid: fixture.taskUuid,
      step_uuid: fixture.steps.a,
      correlation_id: fixture.correlationId,
    });
    await sendWithNotify(client, queue, { other: true });
    const r = await readAndClaim(client, {
      queue,
      vtSeconds: 30,
      workerUuid: WORKER,
      at: AT,
      known,
    });
    assert.equal(r.message?.msgId, msgId);
    assert.equal(r.more, true);
    claimedOf(r);
    const query = { queue, workerUuid: WORKER, at: AT, sinceSeconds: 1 };
    assert.equal((await findReadClaim(client, query))?.message.msgId, msgId);
  });

  await t.step("Tasker's schema not installed: tasker_schema_missing, nothing read", async () => {
    const { queue, send, read, where } = await setUp(client, [{ name: "a" }]);
    const msgId = await send("a");
    await client.query("ALTER SCHEMA tasker RENAME TO tasker_away");
    try {
      await assert.rejects(
        read(),
        (error) =>
          error instanceof TaskerError && error.code === "tasker_schema_missing" &&
          error.message.includes(queue),
      );
    } finally {
      await client.query("ALTER SCHEMA tasker_away RENAME TO tasker");
    }
    assert.equal(await where(msgId), "queue (read 0)");
  });

  await t.step("a queue that does not exist: queue_missing", async () => {
    await assert.rejects(
      readAndClaim(client, {
        queue: "no_such_queue_rc",
        vtSeconds: 1,
        workerUuid: WORKER,
        at: AT,
        known: new Map(),
      }),
      (error) => error instanceof TaskerError && error.code === "queue_missing",
    );
  });
});
