/**
 * The broker loop against a real database (PostgreSQL when available, and
 * PGlite) with real pgmq, Tasker's schema (test double), the orchestration
 * simulator and the catalog in sandbox processes.
 */
import assert from "node:assert/strict";
import { OrchestrationSimulator } from "../tasker_double/orchestration_simulator.ts";
import { sendWithNotify } from "../src/tasker/pgmq_queue.ts";
import { startTestDatabase, type TestDatabase } from "./support/database_harness.ts";
import { eventually, recordingObserver, startInProcessBroker } from "./support/broker_harness.ts";

const TEMPLATE = {
  name: "reshape",
  namespace_name: "catalog",
  version: "1.0.0",
  steps: [
    {
      name: "total",
      handler: {
        callable: "catalog.transform",
        initialization: { filter: "{total: (.context.items | map(.price) | add)}" },
      },
    },
    {
      name: "label",
      dependencies: ["total"],
      handler: {
        callable: "catalog.transform@^1",
        initialization: { filter: '{label: "total=\\(.deps.total.total)"}' },
      },
    },
  ],
};

async function withSimulator(
  db: TestDatabase,
  fn: (sim: OrchestrationSimulator) => Promise<void>,
): Promise<void> {
  const sim = new OrchestrationSimulator(db.client, { pollMs: 50 });
  const stop = new AbortController();
  const running = sim.run({ signal: stop.signal });
  try {
    await fn(sim);
    assert.deepEqual(sim.violations(), []);
  } finally {
    stop.abort();
    await running;
  }
}

for (const kind of ["auto", "pglite"] as const) {
  Deno.test(`broker runs a two-step catalog workflow to completion (${kind})`, async () => {
    const db = await startTestDatabase({ kind });
    const { observer, events } = recordingObserver();
    const broker = await startInProcessBroker(db.client, { observer });
    try {
      await withSimulator(db, async (sim) => {
        await sim.registerTemplate(TEMPLATE);
        const { taskUuid } = await sim.createTask({
          name: "reshape",
          context: { items: [{ price: 2 }, { price: 3.5 }] },
        });
        const report = await sim.waitForTask(taskUuid, { timeoutMs: 60_000 });
        assert.equal(report.state, "complete", JSON.stringify(report));
        const label = report.steps.find((s) => s.name === "label");
        assert.deepEqual(label?.result, { label: "total=5.5" });
        assert.ok(report.steps.every((s) => s.attempts === 1));
      });
      assert.equal(events.claimed.length, 2);
      assert.deepEqual(events.internalErrors, []);
      // One transition per state change and exactly one most-recent row per step.
      const rows = await db.client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM tasker.workflow_step_transitions
          WHERE to_state = 'in_progress'`,
      );
      assert.equal(rows[0].n, 2);
    } finally {
      await broker.stop();
      await db.close();
    }
  });
}

Deno.test("broker archives poison messages and keeps serving", async () => {
  const db = await startTestDatabase();
  const { observer, events } = recordingObserver();
  const broker = await startInProcessBroker(db.client, { observer });
  try {
    await withSimulator(db, async (sim) => {
      const queue = "worker_catalog_queue";
      await sendWithNotify(db.client, queue, "not an object");
      await sendWithNotify(db.client, queue, { task_uuid: "nope" });
      await sendWithNotify(db.client, queue, {
        task_uuid: crypto.randomUUID(),
        step_uuid: crypto.randomUUID(),
        correlation_id: crypto.randomUUID(),
      });
      await sim.registerTemplate(TEMPLATE);
      const { taskUuid } = await sim.createTask({ name: "reshape", context: { items: [] } });
      const report = await sim.waitForTask(taskUuid, { timeoutMs: 60_000 });
      assert.equal(report.state, "complete");
    });
    await eventually(() => events.poison.length >= 3 ? true : undefined, "three poison reports");
    assert.deepEqual(events.poison.map((p) => p.reason).sort(), [
      "bad_message",
      "bad_message",
      "bad_step",
    ]);
    const [left] = await db.client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pgmq.q_worker_catalog_queue",
    );
    assert.equal(left.n, 0, "every poison message is archived");
  } finally {
    await broker.stop();
    await db.close();
  }
});

Deno.test("broker leaves steps whose callable it does not serve for other workers", async () => {
  const db = await startTestDatabase();
  const { observer, events } = recordingObserver();
  const broker = await startInProcessBroker(db.client, { observer });
  try {
    await withSimulator(db, async (sim) => {
      await sim.registerTemplate({
        name: "foreign",
        namespace_name: "catalog",
        version: "1.0.0",
        steps: [{ name: "ruby", handler: { callable: "MyApp::Handlers::Charge" } }],
      });
      const { taskUuid } = await sim.createTask({ name: "foreign", context: {} });
      await eventually(
        () => events.notServed.length > 0 ? true : undefined,
        "the broker to see the message",
      );
      const report = await sim.taskReport(taskUuid);
      assert.equal(report.steps[0].state, "enqueued");
      assert.equal(report.steps[0].attempts, 0);
      const [msgs] = await db.client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pgmq.q_worker_catalog_queue",
      );
      assert.equal(msgs.n, 1, "the message stays in the queue");
    });
    assert.deepEqual(events.claimed, []);
  } finally {
    await broker.stop();
    await db.close();
  }
});
