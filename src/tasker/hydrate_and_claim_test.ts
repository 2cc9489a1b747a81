import assert from "node:assert/strict";
import type { SqlClient } from "../db/sql_client.ts";
import { interceptQueries } from "../../tests/support/broker_harness.ts";
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
import {
  hydrateAndClaim,
  type HydrateAndClaimResult,
  hydrateOwnClaim,
} from "./hydrate_and_claim.ts";
import { hydrateStep } from "./hydrate_step.ts";
import { createQueue, sendWithNotify } from "./pgmq_queue.ts";
import type { StepDefinition } from "./step_definition.ts";
import type { StepMessage } from "./step_message.ts";

const WORKER = "0190a8b2-1c2d-7e3f-8a4b-5c6d7e8f9aff";

const isObject = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v);
const AT = new Date("2025-03-01T10:00:00.000Z");

/** A fresh queue with one message; `where()` says where the message is now. */
async function queueWithMessage(client: SqlClient) {
  const queue = `hc_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await createQueue(client, queue);
  const msgId = await sendWithNotify(client, queue, { hello: 1 });
  const where = async () => {
    const [q] = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pgmq.q_${queue} WHERE msg_id = $1`,
      [msgId],
    );
    return q.n === 1 ? "queue" : "archived";
  };
  return { archive: { queue, msgId }, where };
}

/** One task; `run(step, known)` hydrates-and-claims its step `step` with a fresh message. */
async function setUp(client: SqlClient, steps: FixtureStep[], configuration?: unknown) {
  const fixture = await createFixtureTask(client, { steps, configuration, context: { n: 1 } });
  const run = async (
    name: string,
    known: ReadonlyMap<string, StepDefinition> = new Map(),
    message: Partial<StepMessage> = {},
  ) => {
    const q = await queueWithMessage(client);
    const result = await hydrateAndClaim(client, {
      message: {
        task_uuid: fixture.taskUuid,
        step_uuid: fixture.steps[name],
        correlation_id: fixture.correlationId,
        ...message,
      },
      workerUuid: WORKER,
      at: AT,
      archive: q.archive,
      known,
    });
    return { result, where: q.where };
  };
  return { fixture, run };
}

/** `known` holding the definition a first, unclaimed call reported for the step. */
function knownFrom(first: HydrateAndClaimResult): Map<string, StepDefinition> {
  assert.ok(first.hydrated.ok, "the first call hydrated the step");
  assert.match(first.definitionDigest ?? "", /^[0-9a-f]{32}$/);
  return new Map([[first.definitionDigest!, first.hydrated.step.definition]]);
}

testOnEveryDatabase("hydrateAndClaim", async (db, t) => {
  const client = db.client;

  await t.step("an unknown definition: hydrates as hydrateStep does, claims nothing", async () => {
    const { fixture, run } = await setUp(client, [{ name: "a" }]);
    const { result, where } = await run("a");
    assert.equal(result.claim, undefined);
    const message = {
      task_uuid: fixture.taskUuid,
      step_uuid: fixture.steps.a,
      correlation_id: fixture.correlationId,
    };
    assert.deepEqual(result.hydrated, await hydrateStep(client, message));
    assert.match(result.definitionDigest ?? "", /^[0-9a-f]{32}$/);
    assert.equal(await where(), "queue", "no claim, no ack");
    assert.deepEqual((await transitionsOf(client, fixture.steps.a)).map((x) => x.to_state), [
      "enqueued",
    ]);
  });

  await t.step("the template's configuration is sent only for a definition not known", async () => {
    const rows: { configuration?: unknown }[] = [];
    const spy = interceptQueries(client, async <Row>(text: string, params?: readonly unknown[]) => {
      const answer = await client.query<Row>(text, params);
      if (text.includes("definition_md5")) rows.push(...answer as { configuration?: unknown }[]);
      return answer;
    });
    const { run } = await setUp(spy, [{ name: "a" }, { name: "b" }]);
    const known = knownFrom((await run("a")).result);
    assert.ok(isObject(rows[0].configuration), "unknown: the template came to find the definition");
    const { result } = await run("a", known);
    assert.ok(result.claim && result.claim !== "already_claimed" && "claimed" in result.claim);
    assert.equal(rows[1].configuration, null, "known: not sent");
    assert.ok(result.hydrated.ok);
    assert.equal(result.hydrated.step.definition, [...known.values()][0]);
    // Another step of the same template has another definition: sent again.
    const other = await run("b", known);
    assert.ok(isObject(rows[2].configuration));
    assert.ok(other.result.hydrated.ok);
    assert.equal(other.result.hydrated.step.definition.name, "b");
  });

  await t.step("a known definition: claims and acks in the same statement", async () => {
    const { fixture, run } = await setUp(client, [{ name: "a" }]);
    const known = knownFrom((await run("a")).result);
    const { result, where } = await run("a", known);
    assert.deepEqual(result.claim, {
      claimed: true,
      attempts: 1,
      sortKey: 2,
      fromState: "enqueued",
      archived: true,
    });
    assert.ok(result.hydrated.ok);
    // The hydration is the snapshot before the claim, with the known definition as given.
    assert.equal(result.hydrated.step.step.state, "enqueued");
    assert.equal(result.hydrated.step.step.attempts, 0);
    assert.equal(result.hydrated.step.definition, [...known.values()][0]);
    assert.deepEqual(JSON.parse(result.hydrated.step.task.contextJson), { n: 1 });
    assert.equal(await where(), "archived");
    const transitions = await transitionsOf(client, fixture.steps.a);
    assert.deepEqual(transitions.map((x) => [x.to_state, x.from_state, x.most_recent]), [
      ["enqueued", null, false],
      ["in_progress", "enqueued", true],
    ]);
    assert.deepEqual(transitions[1].metadata, {
      event: START_EVENT,
      timestamp: AT.toISOString(),
      worker_uuid: WORKER,
      correlation_id: fixture.correlationId,
    });
    const row = await stepRow(client, fixture.steps.a);
    assert.equal(row.attempts, 1);
    assert.equal(row.in_process, true);
  });

  await t.step("a step never transitioned (legacy pending) is claimed from pending", async () => {
    const { fixture, run } = await setUp(client, [{ name: "a", state: null }]);
    const known = knownFrom((await run("a")).result);
    const { result } = await run("a", known);
    assert.deepEqual(result.claim, {
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
    const { run } = await setUp(client, [
      {
        name: "load",
        state: "complete",
        processed: true,
        results: { success: true, result: { rows: 2 } },
      },
      { name: "ship", dependsOn: ["load"] },
    ]);
    const known = knownFrom((await run("ship")).result);
    const { result } = await run("ship", known);
    assert.ok(result.claim && typeof result.claim === "object" && "claimed" in result.claim);
    assert.ok(result.hydrated.ok);
    assert.deepEqual(JSON.parse(result.hydrated.step.depsJson), { load: { rows: 2 } });
  });

  await t.step("a known definition in a state not claimable: nothing written", async () => {
    for (const state of ["in_progress", "complete", "waiting_for_retry"]) {
      const first = await setUp(client, [{ name: "a" }]);
      const known = knownFrom((await first.run("a")).result);
      // The same generated template, so the same digest; this task's step is not claimable.
      const { fixture, run } = await setUp(client, [{ name: "a", state }]);
      const { result, where } = await run("a", known);
      assert.equal(result.definitionDigest, [...known.keys()][0], "the same definition");
      assert.equal(result.claim, undefined, state);
      assert.equal(result.hydrated.ok ? "ok" : result.hydrated.code, "not_claimable", state);
      assert.equal(await where(), "queue", state);
      assert.equal((await transitionsOf(client, fixture.steps.a)).length, 1, state);
    }
  });

  await t.step("only the known digest is claimed: another definition is hydrated", async () => {
    const { run } = await setUp(client, [{ name: "a" }]);
    const known = knownFrom((await run("a")).result);
    const other = await setUp(client, [{
      name: "a",
      definition: {
        name: "a",
        handler: { callable: "catalog.transform", initialization: { filter: ".n" } },
      },
    }]);
    const { result, where } = await other.run("a", known);
    assert.equal(result.claim, undefined);
    assert.ok(result.hydrated.ok);
    assert.notEqual(result.definitionDigest, [...known.keys()][0]);
    assert.deepEqual(result.hydrated.step.definition.handler.initialization, { filter: ".n" });
    assert.equal(await where(), "queue");
  });

  await t.step("a message naming another task's step: step_task_mismatch, no claim", async () => {
    const a = await setUp(client, [{ name: "a" }]);
    const known = knownFrom((await a.run("a")).result);
    const b = await setUp(client, [{ name: "a" }]);
    const { result, where } = await a.run("a", known, { task_uuid: b.fixture.taskUuid });
    assert.equal(result.definitionDigest, [...known.keys()][0], "the same definition");
    assert.equal(result.claim, undefined);
    assert.equal(result.hydrated.ok ? "ok" : result.hydrated.code, "step_task_mismatch");
    assert.equal(await where(), "queue");
  });

  await t.step("no digest for a step defined twice or not at all", async () => {
    const twice = await setUp(client, [{ name: "a" }], {
      name: "t",
      steps: [
        { name: "a", handler: { callable: "catalog.transform" } },
        { name: "a", handler: { callable: "catalog.transform" } },
      ],
    });
    const r1 = (await twice.run("a")).result;
    assert.equal(r1.definitionDigest, null);
    assert.equal(r1.hydrated.ok ? "ok" : r1.hydrated.code, "bad_template");
    const none = await setUp(client, [{ name: "a" }], { name: "t", steps: [{ name: "b" }] });
    const r2 = (await none.run("a")).result;
    assert.equal(r2.definitionDigest, null);
    assert.equal(r2.hydrated.ok ? "ok" : r2.hydrated.code, "no_step_definition");
  });

  await t.step("a message with a field that is not a UUID: bad_message, no statement", async () => {
    const { run } = await setUp(client, [{ name: "a" }]);
    const { result, where } = await run("a", new Map(), { step_uuid: "nope" });
    assert.equal(result.hydrated.ok ? "ok" : result.hydrated.code, "bad_message");
    assert.equal(result.claim, undefined);
    assert.equal(await where(), "queue");
  });

  await t.step("hydrateOwnClaim: a step this worker claimed, with its dependencies", async () => {
    const { fixture, run } = await setUp(client, [
      {
        name: "load",
        state: "complete",
        processed: true,
        results: { success: true, result: { rows: 2 } },
      },
      { name: "ship", dependsOn: ["load"] },
    ]);
    const message = {
      task_uuid: fixture.taskUuid,
      step_uuid: fixture.steps.ship,
      correlation_id: fixture.correlationId,
    };
    const before = await hydrateOwnClaim(client, message);
    assert.equal(before.hydrated.ok ? "ok" : before.hydrated.code, "not_claimable");
    const first = (await run("ship")).result;
    const { result } = await run("ship", knownFrom(first));
    assert.ok(result.claim && typeof result.claim === "object" && "claimed" in result.claim);
    const own = await hydrateOwnClaim(client, message);
    assert.equal(own.definitionDigest, first.definitionDigest);
    assert.ok(own.hydrated.ok);
    assert.equal(own.hydrated.step.step.state, "in_progress");
    assert.equal(own.hydrated.step.step.attempts, 1);
    assert.deepEqual(JSON.parse(own.hydrated.step.depsJson), { load: { rows: 2 } });
    assert.equal(own.claim, undefined, "it claims nothing");
    assert.equal((await transitionsOf(client, fixture.steps.ship)).length, 2);
  });

  if (db.kind === "postgres") {
    await t.step(
      "a rival claiming a never-transitioned step first: no claim, hydrated again",
      async () => {
        const { fixture, run } = await setUp(client, [{ name: "a", state: null }]);
        const known = knownFrom((await run("a")).result);
        const stepUuid = fixture.steps.a;
        const rival = rivalTransaction(client, async (tx) => {
          await tx.query(
            `INSERT INTO tasker.workflow_step_transitions
               (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent,
                created_at, updated_at)
             VALUES ($1, 'in_progress', 'pending', '{}'::jsonb, 1, true, now(), now())`,
            [stepUuid],
          );
        });
        await rival.holding;
        const ours = run("a", known);
        await waitForLockWait(client, "hydrateAndClaim to block on the rival's index entry");
        await rival.end();
        const { result, where } = await ours;
        assert.equal(result.claim, undefined);
        assert.equal(result.hydrated.ok ? "ok" : result.hydrated.code, "not_claimable");
        assert.equal(await where(), "queue", "the ack rolled back with the claim");
        const transitions = await transitionsOf(client, stepUuid);
        assert.deepEqual(transitions.map((x) => x.sort_key), [1]);
        assert.equal((await stepRow(client, stepUuid)).attempts, null);
      },
    );
  }
});
