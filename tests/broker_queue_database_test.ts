/**
 * The broker with its queues in a database of their own (`PGMQ_DATABASE_URL`),
 * as Tasker's split deployment has them: Tasker's tables in one database
 * (here without pgmq at all), pgmq and Tasker's queue functions in the other.
 * Results messages must reach the queue database — orchestration reads them
 * there — and only after the report committed.
 */
import assert from "node:assert/strict";
import {
  installTaskerDouble,
  installTaskerDoubleQueues,
} from "../tasker_double/install_tasker_double.ts";
import { OrchestrationSimulator } from "../tasker_double/orchestration_simulator.ts";
import type { Broker } from "../src/broker/broker.ts";
import type { SqlClient } from "../src/db/sql_client.ts";
import { startTestDatabase, type TestDatabase } from "./support/database_harness.ts";
import {
  eventually,
  interceptQueries,
  type RecordedEvents,
  recordingObserver,
  RESHAPE_TEMPLATE,
  startInProcessBroker,
} from "./support/broker_harness.ts";

interface Apart {
  tasker: TestDatabase;
  queue: TestDatabase;
  sim: OrchestrationSimulator;
  broker: Broker;
  events: RecordedEvents;
}

/**
 * Two databases, the simulator on both, a broker on both (its Tasker client
 * through `intercept` when given); torn down in order.
 */
async function withQueuesApart(
  fn: (apart: Apart) => Promise<void>,
  intercept?: (client: SqlClient) => SqlClient,
): Promise<void> {
  // Tasker's database without pgmq: nothing may reach a queue through it.
  const tasker = await startTestDatabase({ bare: true });
  let queue: TestDatabase | undefined;
  const stopSim = new AbortController();
  let running: Promise<void> | undefined;
  try {
    queue = await startTestDatabase({ skipTaskerDouble: true });
    await installTaskerDouble(tasker.client, { queues: false });
    await installTaskerDoubleQueues(queue.client);
    const sim = new OrchestrationSimulator(tasker.client, {
      queue: queue.client,
      pollMs: 50,
      maxRetryDelaySeconds: 1,
    });
    await sim.registerTemplate(RESHAPE_TEMPLATE);
    running = sim.run({ signal: stopSim.signal });
    const { observer, events } = recordingObserver();
    const broker = await startInProcessBroker(intercept?.(tasker.client) ?? tasker.client, {
      queue: queue.client,
      observer,
      settings: { pollIntervalMs: 100, concurrency: 2, shutdownGraceMs: 500 },
    });
    try {
      await fn({ tasker, queue, sim, broker, events });
    } finally {
      await broker.stop();
    }
    assert.deepEqual(sim.violations(), []);
  } finally {
    stopSim.abort();
    await running;
    await queue?.close();
    await tasker.close();
  }
}

async function resultMessages(queue: SqlClient): Promise<string[]> {
  const rows = await queue.query<{ step_uuid: string }>(
    `SELECT message->>'step_uuid' AS step_uuid FROM pgmq.q_orchestration_step_results
     UNION ALL
     SELECT message->>'step_uuid' FROM pgmq.a_orchestration_step_results`,
  );
  return rows.map((r) => r.step_uuid).sort();
}

Deno.test("queues apart: steps complete and each results message is sent once, on the queue database", async () => {
  await withQueuesApart(async ({ tasker, queue, sim, events }) => {
    const tasks = await Promise.all(
      [1, 2, 3].map((n) =>
        sim.createTask({
          name: RESHAPE_TEMPLATE.name,
          context: { items: [{ price: n }, { price: 10 }] },
        })
      ),
    );
    const reports = await Promise.all(
      tasks.map((t) => sim.waitForTask(t.taskUuid, { timeoutMs: 60_000 })),
    );
    assert.deepEqual(reports.map((r) => r.state), ["complete", "complete", "complete"]);
    assert.deepEqual(
      reports.map((r) => r.steps.find((s) => s.name === "label")?.result),
      [{ label: "total=11" }, { label: "total=12" }, { label: "total=13" }],
    );
    const steps = await tasker.client.query<{ uuid: string }>(
      "SELECT workflow_step_uuid::text AS uuid FROM tasker.workflow_steps",
    );
    assert.deepEqual(await resultMessages(queue.client), steps.map((s) => s.uuid).sort());
    assert.equal(events.reported.length, 6);
    assert.deepEqual(events.messagesNotSent, []);
  });
});

/** Drops the results queue (every send to it fails) and creates a task whose step then runs. */
async function runWithResultsQueueGone(
  { tasker, queue, sim, events }: Apart,
): Promise<{ taskUuid: string; stepUuid: string }> {
  await queue.client.query("SELECT pgmq.drop_queue('orchestration_step_results')");
  const { taskUuid } = await sim.createTask({
    name: RESHAPE_TEMPLATE.name,
    context: { items: [{ price: 1 }] },
  });
  await eventually(
    () => events.databaseErrors.includes("result_message") || undefined,
    "a failed results message send",
    30_000,
  );
  // The report committed before its message was due: the step waits for orchestration.
  const [step] = await tasker.client.query<{ uuid: string; state: string }>(
    `SELECT ws.workflow_step_uuid::text AS uuid, t.to_state AS state
     FROM tasker.workflow_steps ws
     JOIN tasker.workflow_step_transitions t
       ON t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent
     WHERE ws.task_uuid = $1::uuid`,
    [taskUuid],
  );
  assert.equal(step.state, "enqueued_for_orchestration");
  return { taskUuid, stepUuid: step.uuid };
}

Deno.test("queues apart: a results message that cannot be sent is sent again until the queue database takes it", async () => {
  await withQueuesApart(async (apart) => {
    const { taskUuid, stepUuid } = await runWithResultsQueueGone(apart);
    await apart.queue.client.query("SELECT pgmq.create('orchestration_step_results')");
    const report = await apart.sim.waitForTask(taskUuid, { timeoutMs: 60_000 });
    assert.equal(report.state, "complete");
    assert.ok((await resultMessages(apart.queue.client)).includes(stepUuid));
    assert.deepEqual(apart.events.messagesNotSent, []);
  });
});

Deno.test("queues apart: a results message still unsent at the hard stop is reported as such", async () => {
  await withQueuesApart(async (apart) => {
    const { stepUuid } = await runWithResultsQueueGone(apart);
    // stop() waits for the report (grace, then the final wait) and then gives up on the send.
    await apart.broker.stop();
    await eventually(
      () => apart.events.messagesNotSent.length > 0 || undefined,
      "the send given up",
    );
    assert.deepEqual(apart.events.messagesNotSent, [stepUuid]);
    assert.deepEqual(
      apart.events.reported,
      [],
      "a step whose message was not sent is not reported",
    );
    // The result stays written: orchestration's staleness recovery is what finds it.
    const [row] = await apart.tasker.client.query<{ state: string }>(
      `SELECT to_state AS state FROM tasker.workflow_step_transitions
       WHERE workflow_step_uuid = $1::uuid AND most_recent`,
      [stepUuid],
    );
    assert.equal(row.state, "enqueued_for_orchestration");
  });
});

Deno.test("queues apart: a report whose answer was lost is found written, and its message is sent once", async () => {
  let lost = false;
  await withQueuesApart(
    async ({ queue, sim, events }) => {
      const { taskUuid } = await sim.createTask({
        name: RESHAPE_TEMPLATE.name,
        context: { items: [{ price: 2 }] },
      });
      const report = await sim.waitForTask(taskUuid, { timeoutMs: 60_000 });
      assert.equal(report.state, "complete");
      assert.ok(lost, "a report's answer was lost");
      assert.ok(events.databaseErrors.includes("report"));
      // Counted once, and one message per step: the retry found "already_reported".
      assert.deepEqual(events.reported.map((r) => r.stepName).sort(), ["label", "total"]);
      assert.equal(events.skipped.length, 0);
      const stepUuids = report.steps.map((s) => s.stepUuid).sort();
      assert.deepEqual(await resultMessages(queue.client), stepUuids);
    },
    (client) =>
      interceptQueries(client, async <Row>(text: string, params?: readonly unknown[]) => {
        const rows = await client.query<Row>(text, params);
        // The first report commits, and its answer never arrives.
        if (text.includes("SET in_process = false") && !lost) {
          lost = true;
          throw Object.assign(new Error("simulated connection reset after the commit"), {
            code: "ECONNRESET",
          });
        }
        return rows;
      }),
  );
});
