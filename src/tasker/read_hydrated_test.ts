import assert from "node:assert/strict";
import { createFixtureTask, testOnEveryDatabase } from "./_tasker_fixture.ts";
import { hydrateStep } from "./hydrate_step.ts";
import { createQueue, queueDepth, sendWithNotify } from "./pgmq_queue.ts";
import { READ_HYDRATED_MAX, readHydrated } from "./read_hydrated.ts";
import type { StepMessage } from "./step_message.ts";
import { TaskerError } from "./tasker_error.ts";

async function freshQueue(client: Parameters<typeof createQueue>[0]) {
  const queue = `read_hydrated_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await createQueue(client, queue);
  return queue;
}

testOnEveryDatabase("readHydrated", async (db, t) => {
  const client = db.client;

  await t.step("reads and hydrates in one statement, each as hydrateStep would", async () => {
    const fixture = await createFixtureTask(client, {
      context: { n: 1 },
      steps: [{ name: "a" }, { name: "done", state: "complete" }],
    });
    const msg = (stepUuid: string): StepMessage => ({
      task_uuid: fixture.taskUuid,
      step_uuid: stepUuid,
      correlation_id: fixture.correlationId,
    });
    const bodies: unknown[] = [
      msg(fixture.steps.a),
      { ...msg(fixture.steps.a), step_uuid: "not-a-uuid" },
      "just a string",
      msg(fixture.steps.done),
      msg(crypto.randomUUID()),
      { ...msg(fixture.steps.a), task_uuid: 42 },
      {
        ...msg(fixture.steps.a),
        correlation_id: undefined,
        step_uuid: fixture.steps.a.toUpperCase(),
      },
    ];
    const queue = await freshQueue(client);
    const ids: number[] = [];
    for (const body of bodies) ids.push(await sendWithNotify(client, queue, body));
    let statements = 0;
    const counting = {
      query: <R>(text: string, params?: readonly unknown[]) => {
        statements++;
        return client.query<R>(text, params);
      },
    };
    const read = await readHydrated(counting, queue, { vtSeconds: 30, qty: 10 });
    assert.equal(statements, 1);
    assert.deepEqual(read.map((r) => r.message.msgId), ids, "oldest first");
    assert.deepEqual(read.map((r) => r.message.message), JSON.parse(JSON.stringify(bodies)));
    assert.ok(read.every((r) => r.message.readCount === 1 && r.message.vt > new Date()));
    assert.deepEqual(read[0].hydrated, await hydrateStep(client, msg(fixture.steps.a)));
    assert.ok(read[0].hydrated?.ok);
    assert.deepEqual(read[0].hydrated.step.task.context, { n: 1 });
    // Not step messages: no hydration, as the caller would not hydrate them either.
    for (const k of [1, 2, 5, 6]) assert.equal(read[k].hydrated, undefined, String(k));
    assert.deepEqual(read[3].hydrated, await hydrateStep(client, msg(fixture.steps.done)));
    assert.equal(!read[3].hydrated?.ok && read[3].hydrated?.code, "not_claimable");
    assert.equal(!read[4].hydrated?.ok && read[4].hydrated?.code, "unknown_step");
    // Read means hidden: nothing more to read.
    assert.deepEqual(await readHydrated(client, queue, { vtSeconds: 30, qty: 10 }), []);
    assert.deepEqual(await queueDepth(client, queue), { total: bodies.length, visible: 0 });
  });

  await t.step("reads at most qty, and refuses a qty it cannot serve", async () => {
    const fixture = await createFixtureTask(client, { steps: [{ name: "a" }] });
    const queue = await freshQueue(client);
    for (let i = 0; i < 3; i++) {
      await sendWithNotify(client, queue, {
        task_uuid: fixture.taskUuid,
        step_uuid: fixture.steps.a,
        correlation_id: fixture.correlationId,
      });
    }
    assert.equal((await readHydrated(client, queue, { vtSeconds: 30, qty: 2 })).length, 2);
    await assert.rejects(
      readHydrated(client, queue, { vtSeconds: 30, qty: READ_HYDRATED_MAX + 1 }),
      /more than 20 messages at once: qty is 21/,
    );
    await assert.rejects(readHydrated(client, queue, { vtSeconds: -1, qty: 1 }), RangeError);
    assert.deepEqual(await queueDepth(client, queue), { total: 3, visible: 1 });
  });

  await t.step("a missing queue is queue_missing", async () => {
    const error = await readHydrated(client, "no_such_queue_here", { vtSeconds: 1, qty: 1 })
      .then(() => undefined, (e) => e);
    assert.ok(error instanceof TaskerError && error.code === "queue_missing", String(error));
  });
});
