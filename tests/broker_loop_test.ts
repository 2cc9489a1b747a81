/**
 * The broker loop against a real database (PostgreSQL when available, and
 * PGlite) with real pgmq, Tasker's schema (test double), the orchestration
 * simulator and the catalog in sandbox processes.
 */
import assert from "node:assert/strict";
import { OrchestrationSimulator } from "../tasker_double/orchestration_simulator.ts";
import type { Broker } from "../src/broker/broker.ts";
import { HandlerResolver, type Resolution } from "../src/broker/handler_resolver.ts";
import { sendWithNotify } from "../src/tasker/pgmq_queue.ts";
import { startTestDatabase, type TestDatabase } from "./support/database_harness.ts";
import { waitFor } from "./support/sql_client_conformance.ts";
import {
  copyRegistry,
  eventually,
  type InProcessBrokerOptions,
  interceptQueries,
  type RecordedEvents,
  recordingObserver,
  RESHAPE_TEMPLATE,
  startInProcessBroker,
} from "./support/broker_harness.ts";
import { publishSlowGuest } from "./support/hostile_registry.ts";

/** One step, one trivial transform: a task that is one message. */
const ONE_STEP = {
  name: "one_step",
  namespace_name: "catalog",
  version: "1.0.0",
  steps: [{
    name: "only",
    handler: { callable: "catalog.transform", initialization: { filter: "{ok: true}" } },
  }],
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

/**
 * A database (of `kind`) with an in-process broker serving the catalog and
 * recording its events; stopped and closed when `fn` ends.
 */
async function withBroker(
  fn: (db: TestDatabase, events: ReturnType<typeof recordingObserver>["events"]) => Promise<void>,
  kind: "auto" | "pglite" = "auto",
  observed: { tracing?: boolean } = {},
): Promise<void> {
  const db = await startTestDatabase({ kind });
  const { observer, events } = recordingObserver(observed);
  const broker = await startInProcessBroker(db.client, { observer });
  try {
    await fn(db, events);
  } finally {
    await broker.stop();
    await db.close();
  }
}

for (const kind of ["auto", "pglite"] as const) {
  Deno.test(`broker runs a two-step catalog workflow to completion (${kind})`, async () => {
    await withBroker(async (db, events) => {
      await withSimulator(db, async (sim) => {
        await sim.registerTemplate(RESHAPE_TEMPLATE);
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
    }, kind);
  });
}

Deno.test("broker asks the sandbox to time host calls only for steps whose spans are recorded", async () => {
  for (const tracing of [false, true]) {
    await withBroker(
      async (db, events) => {
        await withSimulator(db, async (sim) => {
          await sim.registerTemplate(RESHAPE_TEMPLATE);
          const { taskUuid } = await sim.createTask({ name: "reshape", context: { items: [] } });
          const report = await sim.waitForTask(taskUuid, { timeoutMs: 60_000 });
          assert.equal(report.state, "complete", JSON.stringify(report));
        });
        assert.equal(events.ran.length, 2);
        for (const ran of events.ran) {
          if (tracing) assert.ok((ran.timedCalls ?? 0) > 0, JSON.stringify(ran));
          else assert.equal(ran.timedCalls, undefined, JSON.stringify(ran));
        }
      },
      "auto",
      { tracing },
    );
  }
});

Deno.test("broker archives poison messages and keeps serving", async () => {
  await withBroker(async (db, events) => {
    await withSimulator(db, async (sim) => {
      const queue = "worker_catalog_queue";
      await sendWithNotify(db.client, queue, "not an object");
      await sendWithNotify(db.client, queue, { task_uuid: "nope" });
      await sendWithNotify(db.client, queue, {
        task_uuid: crypto.randomUUID(),
        step_uuid: crypto.randomUUID(),
        correlation_id: crypto.randomUUID(),
      });
      await sim.registerTemplate(RESHAPE_TEMPLATE);
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
  });
});

Deno.test("broker leaves steps whose callable it does not serve for other workers", async () => {
  await withBroker(async (db, events) => {
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
  });
});

Deno.test("read-ahead holds at most 2 × concurrency messages, and stop() hands them back at once", async () => {
  const db = await startTestDatabase();
  const registryDir = await copyRegistry();
  const slow = await publishSlowGuest(registryDir, { ms: 3_000 });
  const { observer, events } = recordingObserver();
  const broker = await startInProcessBroker(db.client, {
    observer,
    registryDir,
    settings: { concurrency: 1, batchSize: 20 },
  });
  const queueState = async () => {
    const [row] = await db.client.query<{ visible: number; hidden: number }>(
      `SELECT count(*) FILTER (WHERE vt <= clock_timestamp())::int AS visible,
              count(*) FILTER (WHERE vt > clock_timestamp())::int AS hidden
         FROM pgmq.q_worker_catalog_queue`,
    );
    return row;
  };
  let stopped = false;
  try {
    await withSimulator(db, async (sim) => {
      await sim.registerTemplate({
        name: "slow_fan",
        namespace_name: "catalog",
        version: "1.0.0",
        steps: Array.from({ length: 8 }, (_, i) => ({
          name: `s${i}`,
          handler: { callable: slow.callable },
        })),
      });
      await sim.createTask({ name: "slow_fan", context: {} });
      await eventually(() => events.claimed.length > 0 ? true : undefined, "the first claim");
      // One step runs (its message archived at the claim); at most 2 more wait read ahead.
      const seen = await eventually(async () => {
        const state = await queueState();
        const all = state.visible + state.hidden + events.claimed.length === 8;
        return all && state.hidden === 2 ? state : undefined;
      }, "all 8 messages queued, two of them read ahead");
      assert.equal(
        seen.visible,
        8 - 2 - events.claimed.length,
        "beyond the buffer, messages stay for other workers",
      );
      await broker.stop();
      stopped = true;
      const after = await queueState();
      assert.equal(after.hidden, 0, "stop() made the read-ahead messages visible again");
      assert.equal(after.visible + events.claimed.length, 8, "nothing lost, nothing claimed twice");
    });
  } finally {
    if (!stopped) await broker.stop();
    await db.close();
    await Deno.remove(registryDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("a batch hydration that fails while messages wait read ahead neither crashes the broker nor loses them", async () => {
  const db = await startTestDatabase();
  const registryDir = await copyRegistry();
  const slow = await publishSlowGuest(registryDir, { ms: 300 });
  let hydrations = 0;
  // The second hydration query fails, as with a connection reset, while the first step runs.
  const tasker = interceptQueries(db.client, (text, params) => {
    if (text.includes("get_step_transitive_dependencies") && ++hydrations === 2) {
      return Promise.reject(new Error("simulated connection reset during hydration"));
    }
    return db.client.query(text, params);
  });
  const { observer, events } = recordingObserver();
  let broker: Awaited<ReturnType<typeof startInProcessBroker>> | undefined;
  try {
    await withSimulator(db, async (sim) => {
      await sim.registerTemplate({
        name: "slow_four",
        namespace_name: "catalog",
        version: "1.0.0",
        steps: Array.from({ length: 4 }, (_, i) => ({
          name: `s${i}`,
          handler: { callable: slow.callable },
        })),
      });
      const { taskUuid } = await sim.createTask({ name: "slow_four", context: {} });
      broker = await startInProcessBroker(tasker, {
        queue: db.client,
        observer,
        registryDir,
        settings: { concurrency: 1, batchSize: 1, visibilityTimeoutSeconds: 2 },
      });
      await eventually(
        () => events.databaseErrors.length > 0 ? true : undefined,
        "the failed hydration",
      );
      // The failed message comes back after its visibility timeout and runs like the others.
      await eventually(async () => {
        const report = await sim.taskReport(taskUuid);
        return report.state === "complete" ? report : undefined;
      }, "every step complete");
    });
  } finally {
    await broker?.stop();
    await db.close();
    await Deno.remove(registryDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("a step gives its slot back while its result is written, up to concurrency results at once", async () => {
  const db = await startTestDatabase();
  // Reports (the only statements that set in_process = false) wait until the gate opens. The
  // queues go through the same client: one database, the results message in the report.
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => openGate = resolve);
  let waitingReports = 0;
  const tasker = interceptQueries(
    db.client,
    async <Row>(text: string, params?: readonly unknown[]) => {
      if (text.includes("SET in_process = false")) {
        waitingReports++;
        await gate;
      }
      return await db.client.query<Row>(text, params);
    },
  );
  const { observer, events } = recordingObserver();
  let broker: Awaited<ReturnType<typeof startInProcessBroker>> | undefined;
  try {
    await withSimulator(db, async (sim) => {
      await sim.registerTemplate(ONE_STEP);
      const tasks = [];
      for (let i = 0; i < 3; i++) {
        tasks.push(await sim.createTask({ name: "one_step", context: {} }));
      }
      broker = await startInProcessBroker(tasker, {
        queue: tasker,
        observer,
        settings: { concurrency: 1 },
      });
      // The first step's report waits; its slot is free, so a second step is claimed and run.
      await eventually(() => {
        const s = broker!.status();
        return events.claimed.length === 2 && s.inFlight === 1 && s.reporting === 1
          ? true
          : undefined;
      }, "a second step claimed while the first one's report waits");
      // One result is being written already (its statement is out; the second report waits
      // behind it in the batching), so the second step keeps its slot: no third claim.
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(events.claimed.length, 2);
      assert.equal(waitingReports, 1);
      const status = broker.status();
      assert.deepEqual([status.inFlight, status.reporting], [1, 1]);
      openGate();
      for (const { taskUuid } of tasks) {
        const report = await sim.waitForTask(taskUuid, { timeoutMs: 60_000 });
        assert.equal(report.state, "complete", JSON.stringify(report));
      }
      assert.equal(events.claimed.length, 3);
      await eventually(() => {
        const s = broker!.status();
        return s.inFlight === 0 && s.reporting === 0 ? true : undefined;
      }, "every slot and report settled");
    });
    assert.deepEqual(events.internalErrors, []);
  } finally {
    openGate(); // a failed assertion must not leave reports waiting through stop()
    await broker?.stop();
    await db.close();
  }
});

Deno.test("a result PostgreSQL cannot store fails its step once, permanently, instead of retrying forever", async () => {
  await withBroker(async (db, events) => {
    await withSimulator(db, async (sim) => {
      await sim.registerTemplate({
        name: "nul_output",
        namespace_name: "catalog",
        version: "1.0.0",
        steps: [{
          name: "nul",
          // A string with U+0000: valid JSON, but jsonb cannot hold it (SQLSTATE 22P05).
          handler: {
            callable: "catalog.transform",
            initialization: { filter: '{text: "a\\u0000b"}' },
          },
        }],
      });
      const { taskUuid } = await sim.createTask({ name: "nul_output", context: {} });
      const report = await sim.waitForTask(taskUuid, { timeoutMs: 60_000 });
      const step = report.steps[0];
      assert.equal(report.state, "error", JSON.stringify(report));
      assert.equal(step.errorCode, "output_invalid", JSON.stringify(step));
      assert.equal(step.errorType, "validation_error");
      assert.match(step.errorMessage ?? "", /PostgreSQL refused a value in it \(SQLSTATE 22P05\)/);
      assert.equal(step.attempts, 1, "not retried: no retry could store it");
    });
    assert.deepEqual(events.internalErrors, []);
  });
});

/**
 * Which of the broker's statements a query is: the idle path's read-hydrate-and-claim, a
 * claim alone, or other.
 */
type StatementKind = "read_claim" | "claim" | "other";

function statementKind(text: string): StatementKind {
  if (!text.includes("last_attempted_at")) return "other";
  return text.includes("pgmq.read(") ? "read_claim" : "claim";
}

/** Messages a read would return now. */
async function visibleMessages(db: TestDatabase): Promise<number> {
  const [row] = await db.client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pgmq.q_worker_catalog_queue WHERE vt <= clock_timestamp()`,
  );
  return row.n;
}

/** Creates `count` one_step tasks one after the other; each completes at its first attempt. */
async function completeOneStepTasks(sim: OrchestrationSimulator, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const { taskUuid } = await sim.createTask({ name: "one_step", context: { i } });
    const report = await sim.waitForTask(taskUuid, { timeoutMs: 60_000 });
    assert.equal(report.state, "complete", JSON.stringify(report));
    assert.deepEqual(report.steps.map((s) => s.attempts), [1]);
  }
}

/** What a {@link withOneStepBroker} test works with. */
interface OneStepRun {
  db: TestDatabase;
  sim: OrchestrationSimulator;
  broker: Broker;
  events: RecordedEvents;
  /** The broker's statements so far that succeeded, by kind (a read that found nothing: other). */
  counts: Record<StatementKind, number>;
}

/**
 * A database with the one_step template and an in-process broker that uses one client for
 * Tasker's tables and the queues (so the ack may ride with the claim), every statement
 * counted and then passed to `query` (default: run as it is); `fn` runs while the
 * orchestration simulator does. Resolutions are reused for 10 minutes unless `broker` says
 * otherwise: the tests must not depend on how fast this machine is.
 */
async function withOneStepBroker(
  options: {
    query?: (db: TestDatabase, text: string, params?: readonly unknown[]) => Promise<unknown[]>;
    broker?: InProcessBrokerOptions;
  },
  fn: (run: OneStepRun) => Promise<void>,
): Promise<void> {
  const db = await startTestDatabase();
  const counts: Record<StatementKind, number> = { read_claim: 0, claim: 0, other: 0 };
  const query = options.query ?? ((db, text, params) => db.client.query(text, params));
  const tasker = interceptQueries(
    db.client,
    async <Row>(text: string, params?: readonly unknown[]) => {
      const rows = await query(db, text, params) as Row[];
      const kind = statementKind(text);
      counts[kind === "read_claim" && rows.length === 0 ? "other" : kind]++;
      return rows;
    },
  );
  const { observer, events } = recordingObserver();
  let broker: Broker | undefined;
  try {
    await withSimulator(db, async (sim) => {
      await sim.registerTemplate(ONE_STEP);
      broker = await startInProcessBroker(tasker, {
        observer,
        resolveTtlMs: 600_000,
        ...options.broker,
      });
      await fn({ db, sim, broker, events, counts });
    });
  } finally {
    await broker?.stop();
    await db.close();
  }
}

/**
 * Settings for a test that counts how each message was claimed: reads only on NOTIFY, no
 * poller. A poller's read whose statement is out as a message commits can lock that message
 * without seeing its step (pgmq's read takes a newer snapshot than the statement's joins):
 * the broker then hydrates and claims it on its own, correctly, but not in the one statement.
 */
const NOTIFY_ONLY = { pollIntervalMs: 3_600_000 };

/** How many claim transitions were written. */
async function claimTransitions(db: TestDatabase): Promise<number> {
  const [row] = await db.client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM tasker.workflow_step_transitions WHERE to_state = 'in_progress'`,
  );
  return row.n;
}

Deno.test("an idle broker reads, hydrates and claims a message in one statement once its definition is known", async () => {
  await withOneStepBroker(
    { broker: { settings: NOTIFY_ONLY } },
    async ({ db, sim, events, counts }) => {
      await completeOneStepTasks(sim, 3);
      // Each message came to an idle broker, so each was read by the one statement. The
      // first taught it the definition (validated, resolved, then claimed on its own); the
      // next two were claimed in that statement.
      assert.deepEqual([counts.read_claim, counts.claim], [3, 1]);
      assert.equal(events.claimed.length, 3);
      assert.equal(await claimTransitions(db), 3);
      assert.deepEqual(events.lostClaims, []);
      assert.deepEqual(events.internalErrors, []);
    },
  );
});

Deno.test("a definition claimed in the one statement counts as used: the least recently used one is forgotten instead", async () => {
  // One template per definition; the broker keeps the 32 most recently used definitions.
  const template = (i: number) => ({
    ...ONE_STEP,
    name: `known_${i}`,
    steps: [{
      ...ONE_STEP.steps[0],
      handler: { ...ONE_STEP.steps[0].handler, initialization: { filter: `{ok: ${i}}` } },
    }],
  });
  await withOneStepBroker({ broker: { settings: NOTIFY_ONLY } }, async ({ sim, counts }) => {
    for (let i = 0; i <= 32; i++) await sim.registerTemplate(template(i));
    const run = async (i: number) => {
      const { taskUuid } = await sim.createTask({ name: `known_${i}`, context: {} });
      const report = await sim.waitForTask(taskUuid, { timeoutMs: 60_000 });
      assert.equal(report.state, "complete", JSON.stringify(report));
    };
    // known_0 to known_31 learned (each claimed on its own), known_0 the least recent.
    for (let i = 0; i <= 31; i++) await run(i);
    assert.equal(counts.claim, 32);
    await run(0); // claimed in the one statement: now the most recent
    assert.equal(counts.claim, 32);
    await run(32); // a 33rd definition: the least recently used (known_1) goes
    assert.equal(counts.claim, 33);
    await run(0);
    assert.equal(counts.claim, 33, "known_0 was kept: claimed in the one statement again");
    await run(1);
    assert.equal(counts.claim, 34, "known_1 was forgotten: learned again with a claim of its own");
  });
});

for (const committed of [true, false]) {
  Deno.test(`a read-and-claim statement that fails ${committed ? "after" : "before"} it committed still runs its step, once`, async () => {
    let armed = false;
    let failed = 0;
    // Once armed, the statement that would read the next message fails: its answer lost
    // after it read and claimed the step, or the connection gone before it ran (held until
    // the message waits, so that a poller's statement sent just before it came fails too).
    const query = async (db: TestDatabase, text: string, params?: readonly unknown[]) => {
      if (!armed || statementKind(text) !== "read_claim") {
        return await db.client.query(text, params);
      }
      if (!committed) {
        armed = false;
        failed++;
        await eventually(
          async () => await visibleMessages(db) > 0 || undefined,
          "the next message",
        );
        throw new Error("simulated connection reset before the statement ran");
      }
      const rows = await db.client.query(text, params);
      if (committed && rows.length > 0) {
        armed = false;
        failed++;
        throw new Error("simulated connection reset after the statement committed");
      }
      return rows;
    };
    // A claim that committed is found in the queue's archive, so the step must not need the
    // queue again (it would stay hidden for 600 s); before a commit nothing was read, and the
    // poller's tick after the back-off is what reads the message again.
    const settings = { visibilityTimeoutSeconds: 600, ...(committed ? NOTIFY_ONLY : {}) };
    await withOneStepBroker(
      { query, broker: { settings } },
      async ({ db, sim, events, counts }) => {
        await completeOneStepTasks(sim, 1); // the definition learned
        armed = true;
        await completeOneStepTasks(sim, 1);
        assert.equal(failed, 1);
        assert.ok(events.databaseErrors.includes("read"), JSON.stringify(events.databaseErrors));
        assert.ok(!events.databaseErrors.includes("claim_lookup"), "the look-up answered");
        // After a commit the claim was found, not read again; before one, a batch read took
        // the message at once and its step was claimed on its own.
        assert.deepEqual([counts.read_claim, counts.claim], committed ? [1, 1] : [1, 2]);
        assert.equal(events.claimed.length, 2);
        assert.deepEqual(events.internalErrors, []);
        assert.equal(await claimTransitions(db), 2, "one claim per step");
      },
    );
  });
}

Deno.test("a read-and-claim statement that keeps failing does not hold the queue: a batch read takes the message", async () => {
  let failures = 0;
  // Every idle-path statement on the catalog queue fails as a statement tied to one message
  // might (say, a data error): without a batch read of that queue after it, the message would
  // be the idle read's first message, and fail, every time. A second, empty namespace's reads
  // come between (they must not undo it).
  const query = async (db: TestDatabase, text: string, params?: readonly unknown[]) => {
    if (statementKind(text) === "read_claim" && params?.[0] === "worker_catalog_queue") {
      failures++;
      throw Object.assign(new Error("simulated data error"), { code: "22P02" });
    }
    return await db.client.query(text, params);
  };
  const settings = { namespaces: ["catalog", "spare"] };
  await withOneStepBroker({ query, broker: { settings } }, async ({ db, sim, events, counts }) => {
    await completeOneStepTasks(sim, 2);
    assert.ok(failures >= 2, `the idle path was tried (${failures} failures)`);
    assert.equal(counts.read_claim, 0);
    assert.equal(counts.claim, 2, "claimed after batch reads");
    assert.ok(events.databaseErrors.includes("read"), JSON.stringify(events.databaseErrors));
    assert.equal(await claimTransitions(db), 2);
  });
});

Deno.test("before Tasker's schema exists the idle path rests: no database error, batch reads serve", async () => {
  let failures = 0;
  // The idle statement fails as it does before Tasker (or the double) is installed.
  const query = async (db: TestDatabase, text: string, params?: readonly unknown[]) => {
    if (statementKind(text) === "read_claim") {
      failures++;
      throw Object.assign(new Error('relation "tasker.named_tasks" does not exist'), {
        code: "42P01",
      });
    }
    return await db.client.query(text, params);
  };
  await withOneStepBroker({ query }, async ({ db, sim, events, counts }) => {
    await completeOneStepTasks(sim, 2);
    assert.ok(failures >= 1, "the idle path was tried");
    assert.ok(failures <= 3, `it rested after finding the schema missing (${failures} tries)`);
    assert.deepEqual(events.databaseErrors, [], "the database is up: no error, no outage");
    assert.equal(counts.claim, 2, "claimed after batch reads");
    assert.equal(await claimTransitions(db), 2);
  });
});

Deno.test("a poison message read by the idle path is archived, and nothing keeps extending it", async () => {
  let extensions = 0;
  const query = (db: TestDatabase, text: string, params?: readonly unknown[]) => {
    if (text.includes("pgmq.set_vt(")) extensions++;
    return db.client.query(text, params);
  };
  // A 1 s visibility timeout: a message waiting for its claim is extended every 500 ms.
  const settings = { visibilityTimeoutSeconds: 1 };
  await withOneStepBroker({ query, broker: { settings } }, async ({ db, events }) => {
    await sendWithNotify(db.client, "worker_catalog_queue", "not an object");
    await eventually(() => events.poison.length > 0 || undefined, "the poison report");
    await new Promise((r) => setTimeout(r, 1600));
    assert.equal(extensions, 0, "no extension of an archived message");
    assert.equal(await visibleMessages(db), 0);
  });
});

Deno.test("a step claimed by a statement whose answer was lost, and that cannot be hydrated again, is logged and left to Tasker's recovery", async () => {
  let armed = false;
  let failed = 0;
  // Once armed, the statement that reads the next message commits its claim, then its
  // template loses the step's definition (a redeploy, say) and the answer is lost: the
  // claim is found, the step cannot be hydrated again.
  const query = async (db: TestDatabase, text: string, params?: readonly unknown[]) => {
    const rows = await db.client.query(text, params);
    if (armed && statementKind(text) === "read_claim" && rows.length > 0) {
      armed = false;
      failed++;
      const [row] = rows as { task_uuid: string }[];
      await db.client.query(
        `UPDATE tasker.named_tasks SET configuration = jsonb_set(configuration, '{steps}', '[]')
         WHERE named_task_uuid = (SELECT named_task_uuid FROM tasker.tasks WHERE task_uuid = $1)`,
        [row.task_uuid],
      );
      throw new Error("simulated connection reset after the statement committed");
    }
    return rows;
  };
  const settings = { visibilityTimeoutSeconds: 600, ...NOTIFY_ONLY };
  await withOneStepBroker({ query, broker: { settings } }, async ({ db, sim, events }) => {
    await completeOneStepTasks(sim, 1);
    armed = true;
    const { taskUuid } = await sim.createTask({ name: "one_step", context: {} });
    await waitFor(() => events.internalErrors.length > 0, "the internal error", 30_000);
    assert.equal(failed, 1);
    assert.deepEqual(events.internalErrors.map((e) => e.where), ["claimed_step_unhydrated"]);
    assert.match(String(events.internalErrors[0].error), /cannot be hydrated again/);
    // Claimed once, never run or reported: in_progress until Tasker's staleness recovery.
    const [step] = await db.client.query<{ to_state: string; claims: number }>(
      `SELECT (SELECT to_state FROM tasker.workflow_step_transitions t
               WHERE t.workflow_step_uuid = ws.workflow_step_uuid AND most_recent) AS to_state,
              (SELECT count(*)::int FROM tasker.workflow_step_transitions t
               WHERE t.workflow_step_uuid = ws.workflow_step_uuid AND to_state = 'in_progress') AS claims
       FROM tasker.workflow_steps ws WHERE ws.task_uuid = $1`,
      [taskUuid],
    );
    assert.deepEqual(step, { to_state: "in_progress", claims: 1 });
    assert.equal(events.claimed.length, 1, "only the first task's step ran");
  });
});

Deno.test("stop() beginning while an idle read waits for its look-ups: nothing is read or claimed", async () => {
  let gate:
    | { entered: PromiseWithResolvers<void>; release: PromiseWithResolvers<void> }
    | undefined;
  // Every resolution counts as stale, so each idle read first looks its known callables up.
  // Once the gate is set, look-ups wait at it: the idle read holding them cannot have sent
  // its statement, whenever the message arrives (a poller tick's read that checked for a
  // visible message before it was sent would otherwise read it).
  class StopDuringLookup extends HandlerResolver {
    override servedNow() {
      return undefined;
    }
    override async resolve(callable: string): Promise<Resolution> {
      const held = gate;
      if (held) {
        held.entered.resolve();
        await held.release.promise;
      }
      return await super.resolve(callable);
    }
  }
  await withOneStepBroker(
    { broker: { Resolver: StopDuringLookup } },
    async ({ db, sim, broker, events, counts }) => {
      // The first task teaches the broker the definition: the next one could be claimed at once.
      await completeOneStepTasks(sim, 1);
      const held = {
        entered: Promise.withResolvers<void>(),
        release: Promise.withResolvers<void>(),
      };
      gate = held;
      await held.entered.promise; // the next idle read (a poller tick) waits for its look-up
      const { taskUuid } = await sim.createTask({ name: "one_step", context: {} });
      assert.equal(await visibleMessages(db), 1, "the message waits while the read looks up");
      const stopping = broker.stop();
      held.release.resolve();
      await stopping;
      const report = await sim.taskReport(taskUuid);
      assert.deepEqual(report.steps.map((s) => s.attempts), [0], JSON.stringify(report));
      // Only the first message was read: the statement for the second was never sent.
      assert.deepEqual([counts.read_claim, counts.claim], [1, 1]);
      assert.equal(events.claimed.length, 1, "only the first task's step was claimed");
      assert.equal(await claimTransitions(db), 1);
      const [waiting] = await db.client.query<{ n: number; read_ct: number }>(
        `SELECT count(*)::int AS n, max(read_ct)::int AS read_ct FROM pgmq.q_worker_catalog_queue
         WHERE vt <= clock_timestamp()`,
      );
      assert.deepEqual(waiting, { n: 1, read_ct: 0 }, "the message visible, never read");
    },
  );
});
