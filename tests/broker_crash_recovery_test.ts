/**
 * A broker killed (SIGKILL) or stopped (SIGTERM) in each window of a step's
 * life, on real PostgreSQL with real pgmq, the Tasker test double and its
 * simulator, with `deno task broker` subprocesses.
 *
 * How a window is hit deterministically: either a step that is slow on
 * purpose (`test.spin`, a guest that keeps a core busy for a fixed
 * wall-clock time; the test waits until its sandbox burns CPU), or a lock
 * held by the test on its own connection that makes the broker's next
 * statement wait (the test sees the broker's backend waiting on that lock in
 * `pg_stat_activity`, so it knows which statement the broker is in):
 *
 * | window                  | how the test holds the broker there                               |
 * |-------------------------|-------------------------------------------------------------------|
 * | read ahead, not claimed | the only slot (`--concurrency 1`) held by a running `test.spin`    |
 * | claim not committed     | `FOR UPDATE` on the step's most recent transition → claim waits   |
 * | claim-and-ack statement | `FOR UPDATE` on the step's row → the claim (and its ack) waits    |
 * | running                 | `test.spin` running in its sandbox                                |
 * | report not committed    | `FOR UPDATE` on the `in_progress` transition → report waits       |
 *
 * A statement already sent when its broker dies still runs on the server
 * once the lock goes (a lone statement then commits). For "the broker died
 * before the statement took effect" the test ends that backend
 * (`pg_terminate_backend`) before releasing the lock; the "report sent but
 * not acknowledged" test leaves it alone and accepts either all or nothing.
 *
 * The windows held by a running `test.spin`, and the hung (SIGSTOP) and
 * SIGTERM tests, run on a real PostgreSQL when there is one and again on
 * PGlite behind the broker's PGlite socket server (names marked
 * "(PGlite)"); the ones held by a lock need a real server (PGlite has one
 * session for all connections, so a lock would not make anyone wait).
 *
 * What the database must show afterwards is asserted from its rows: claims
 * (`in_progress` transitions and who wrote them), reports, `attempts`,
 * results and the messages on both queues. See docs/broker.md, "Reliability
 * and recovery".
 */
import assert from "node:assert/strict";
import { copyRegistry } from "./support/broker_harness.ts";
import {
  canStartPostgres,
  reliabilityKinds,
  startTestDatabase,
} from "./support/database_harness.ts";
import {
  allDead,
  backendAlive,
  brokerBackendsWaiting,
  busySandbox,
  descendants,
  type HeldLock,
  holdLock,
  killBroker,
  onlyStep,
  publishSpinGuest,
  queuedMessage,
  runSimulator,
  sandboxPids,
  SPIN_GUEST,
  startBroker,
  stepEventually,
  type StepLedger,
  stopBroker,
  tail,
  terminateBackend,
  type TestBroker,
} from "./support/reliability_harness.ts";
import { eventually } from "./support/broker_harness.ts";
import type { TestDatabase } from "./support/database_harness.ts";

/**
 * How long `test.spin` keeps its core busy: long enough for the test to see
 * it running and act (kill, stop, signal) before it ends, on a loaded machine.
 */
const SPIN_MS = 8000;
/**
 * How long `test.spin` holds the only slot in the read-ahead tests: through
 * several visibility timeouts before a kill, or until a SIGTERM's hand-back
 * has been seen (the broker then waits for the spin, within its 30 s grace).
 */
const SPIN_HOLD_MS = 40_000;
const SPIN_HOLD_STOP_MS = 20_000;
/**
 * The simulator's staleness threshold: a step `in_progress` this long is
 * reset and re-enqueued. Far above SPIN_MS plus a sandbox start, so the
 * second broker's live run is never reset.
 */
const STALE_AFTER_S = 25;
/** Visibility timeout of the brokers in the tests that rely on it. */
const VT_S = 4;
/**
 * The visibility timeout where a live broker must hold a message through
 * several of them: it extends every half timeout, so a stall of the broker
 * (or, on PGlite, of the test process serving every query) longer than half
 * of it would let the other broker read the message.
 */
const HOLD_VT_S = 8;

const TRANSFORM_TEMPLATE = {
  name: "one_transform",
  namespace_name: "catalog",
  version: "1.0.0",
  steps: [{
    name: "reshape",
    handler: {
      callable: "catalog.transform",
      initialization: { filter: "{doubled: (.context.n * 2)}" },
    },
  }],
};

const SPIN_TEMPLATE = {
  name: "one_spin",
  namespace_name: "catalog",
  version: "1.0.0",
  steps: [{ name: "spin", handler: { callable: SPIN_GUEST } }],
};

// The tests that pause a broker on a lock held from another connection need a real PostgreSQL
// (DATABASE_URL or Debian's binaries): PGlite has one session for every connection. The others
// run on a real PostgreSQL when there is one and on PGlite behind its socket server always.
const ignore = !canStartPostgres();

/** A test name's mark for the engine it runs on. */
function onEngine(kind: "postgres" | "pglite"): string {
  return kind === "pglite" ? " (PGlite)" : "";
}

/** Runs `fn` with a fresh database, a registry with `test.spin`, and cleanup of every broker. */
async function withSetup(
  kind: "postgres" | "pglite",
  fn: (env: {
    db: TestDatabase;
    registryDir: string;
    brokers: TestBroker[];
  }) => Promise<void>,
  spinMs = SPIN_MS,
): Promise<void> {
  const db = await startTestDatabase({ kind, served: true });
  const registryDir = await copyRegistry();
  await publishSpinGuest(registryDir, spinMs);
  const brokers: TestBroker[] = [];
  try {
    await fn({ db, registryDir, brokers });
  } finally {
    for (const broker of brokers) await killBroker(broker);
    await Deno.remove(registryDir, { recursive: true }).catch(() => {});
    await db.close();
  }
}

/** SIGKILL; returns the descendants the broker had just before, for the pdeathsig check. */
async function kill9(broker: TestBroker): Promise<number[]> {
  const children = descendants(broker.child.pid);
  broker.child.kill("SIGKILL");
  const status = await broker.exited;
  assert.equal(status.signal, "SIGKILL", JSON.stringify(status));
  return children;
}

/** A clean SIGTERM stop. */
async function stopCleanly(broker: TestBroker): Promise<void> {
  const status = await stopBroker(broker);
  assert.equal(status.code, 0, `exit ${JSON.stringify(status)}:\n${tail(broker.logs)}`);
}

function describe(step: StepLedger): string {
  return JSON.stringify(step);
}

for (const kind of reliabilityKinds()) {
  Deno.test({
    name:
      `SIGKILL while a step runs: its sandbox dies too, Tasker's staleness recovery re-enqueues it and another broker completes it, result written once${
        onEngine(kind)
      }`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () =>
      withSetup(kind, async ({ db, registryDir, brokers }) => {
        const sim = runSimulator(db.client, { staleness: { afterSeconds: STALE_AFTER_S } });
        try {
          await sim.sim.registerTemplate(SPIN_TEMPLATE);
          const a = await startBroker(db, { registryDir });
          brokers.push(a);
          const { taskUuid } = await sim.sim.createTask({ name: "one_spin", context: {} });

          // Claimed by A, message archived, and the guest burning CPU in A's sandbox.
          await stepEventually(
            db.client,
            taskUuid,
            (s) => s.state === "in_progress" && s.claimedBy[0] === a.workerId,
            "A to claim the step",
          );
          const spinning = await busySandbox(a.child.pid);
          const before = await onlyStep(db.client, taskUuid);
          assert.equal(before.state, "in_progress", describe(before));
          assert.equal(await queuedMessage(db.client, before.stepUuid), undefined, "archived");
          assert.ok(sandboxPids(a.child.pid).includes(spinning));

          const orphans = await kill9(a);
          assert.ok(orphans.includes(spinning), `descendants ${orphans} lack sandbox ${spinning}`);
          // pdeathsig: the kernel kills the sandboxes with their broker, even the spinning one.
          await allDead(orphans);

          // A never reported: the step is still A's claim, with no result and no result message.
          const orphaned = await onlyStep(db.client, taskUuid);
          assert.equal(orphaned.state, "in_progress", describe(orphaned));
          assert.deepEqual(orphaned.claimedBy, [a.workerId]);
          assert.deepEqual(orphaned.reportedBy, []);
          assert.equal(orphaned.resultSuccess, null);
          assert.equal(orphaned.resultMessages, 0);
          assert.equal(orphaned.attempts, 1);

          const b = await startBroker(db, { registryDir });
          brokers.push(b);
          const report = await sim.sim.waitForTask(taskUuid, { timeoutMs: 180_000 });
          assert.equal(report.state, "complete", JSON.stringify(report));
          assert.deepEqual(report.steps[0].result, { spun: true });

          const step = await onlyStep(db.client, taskUuid);
          const where = describe(step);
          // Claimed twice (A, then B after the staleness reset), reported once, by B.
          assert.deepEqual(step.claimedBy, [a.workerId, b.workerId], where);
          assert.deepEqual(step.reportedBy, [b.workerId], where);
          assert.equal(step.resultWorker, b.workerId, where);
          assert.equal(step.resultMessages, 1, where);
          assert.equal(step.attempts, 2, where);
          assert.deepEqual(step.transitions, {
            enqueued: 2,
            in_progress: 2,
            error: 1, // the staleness reset: in_progress → error → pending → enqueued
            pending: 1,
            enqueued_for_orchestration: 1,
            complete: 1,
          }, where);
          assert.equal(step.mostRecent, 1, where);
          assert.equal(step.stepMessages, 2, where);
          assert.deepEqual(sim.sim.violations(), []);
          await stopCleanly(b);
        } finally {
          await sim.stop();
        }
      }),
  });
}

/**
 * Holds broker `a` (started with `--concurrency 1`) between the read and the
 * claim of a transform step: a spin step takes its only slot, then the
 * transform step's message is read ahead and waits in its buffer. Returns
 * the transform task and step.
 */
async function readAheadBehindSpin(
  db: TestDatabase,
  sim: ReturnType<typeof runSimulator>,
  a: TestBroker,
): Promise<{ taskUuid: string; stepUuid: string }> {
  const spin = await sim.sim.createTask({ name: "one_spin", context: {} });
  await stepEventually(
    db.client,
    spin.taskUuid,
    (s) => s.state === "in_progress",
    "the spin claim",
  );
  await busySandbox(a.child.pid);
  const { taskUuid } = await sim.sim.createTask({ name: "one_transform", context: { n: 21 } });
  const { stepUuid } = await onlyStep(db.client, taskUuid);
  await eventually(
    async () => ((await queuedMessage(db.client, stepUuid))?.readCt === 1 ? true : undefined),
    "A to read the transform step's message ahead",
  );
  return { taskUuid, stepUuid };
}

for (const kind of reliabilityKinds()) {
  Deno.test({
    name:
      `SIGKILL between read and claim: the extension dies with the broker, the message comes back after its visibility timeout and another broker completes it${
        onEngine(kind)
      }`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () =>
      withSetup(kind, async ({ db, registryDir, brokers }) => {
        // No staleness recovery: the visibility timeout alone must bring the step back.
        const sim = runSimulator(db.client);
        try {
          await sim.sim.registerTemplate(TRANSFORM_TEMPLATE);
          await sim.sim.registerTemplate(SPIN_TEMPLATE);
          const vtArgs = ["--visibility-timeout-s", String(HOLD_VT_S)];
          const a = await startBroker(db, { registryDir, args: [...vtArgs, "--concurrency", "1"] });
          brokers.push(a);
          const { taskUuid, stepUuid } = await readAheadBehindSpin(db, sim, a);

          // While A lives, it keeps extending the message's visibility: B, polling all along,
          // never sees it, even after several visibility timeouts.
          const b = await startBroker(db, { registryDir, args: vtArgs });
          brokers.push(b);
          await new Promise((r) => setTimeout(r, 2 * HOLD_VT_S * 1000));
          const held = await queuedMessage(db.client, stepUuid);
          assert.equal(held?.readCt, 1, "only A read the message");
          assert.ok(held!.invisibleForS > 0, `still invisible: ${JSON.stringify(held)}`);
          const unclaimed = await onlyStep(db.client, taskUuid);
          assert.equal(unclaimed.state, "enqueued", describe(unclaimed));

          const orphans = await kill9(a);
          assert.ok(orphans.length > 0, "A had a sandbox process");
          await allDead(orphans);

          const report = await sim.sim.waitForTask(taskUuid, { timeoutMs: 120_000 });
          assert.equal(report.state, "complete", JSON.stringify(report));
          assert.deepEqual(report.steps[0].result, { doubled: 42 });
          const step = await onlyStep(db.client, taskUuid);
          const where = describe(step);
          assert.deepEqual(step.claimedBy, [b.workerId], where);
          assert.deepEqual(step.reportedBy, [b.workerId], where);
          assert.equal(step.attempts, 1, where);
          assert.equal(step.resultMessages, 1, where);
          // One message, read by A then (after its visibility timeout) by B.
          assert.deepEqual(step.stepMessageReads, [2], where);
          assert.deepEqual(step.transitions, {
            enqueued: 1,
            in_progress: 1,
            enqueued_for_orchestration: 1,
            complete: 1,
          }, where);
          assert.deepEqual(sim.sim.violations(), []);
          await stopCleanly(b);
        } finally {
          await sim.stop();
        }
      }, SPIN_HOLD_MS),
  });
}

Deno.test({
  name:
    "SIGKILL before the claim committed: nothing of the claim is kept and the visibility timeout brings the step back",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withSetup("postgres", async ({ db, registryDir, brokers }) => {
      const sim = runSimulator(db.client);
      let lock;
      try {
        await sim.sim.registerTemplate(TRANSFORM_TEMPLATE);
        const { taskUuid } = await sim.sim.createTask({ name: "one_transform", context: { n: 5 } });
        const { stepUuid } = await onlyStep(db.client, taskUuid);
        lock = await holdLock(db.url!, [{
          text: `SELECT 1 FROM tasker.workflow_step_transitions
                  WHERE workflow_step_uuid = $1 AND most_recent FOR UPDATE`,
          params: [stepUuid],
        }]);
        const a = await startBroker(db, {
          registryDir,
          args: ["--visibility-timeout-s", String(VT_S)],
        });
        brokers.push(a);
        const [waiting] = await eventually(async () => {
          const w = await brokerBackendsWaiting(db.client, "SET most_recent = false");
          return w.length ? w : undefined;
        }, "A's claim to wait on the lock");
        await kill9(a);
        // The claim reached the server but waits on the lock; ending its backend cancels it,
        // as if the broker had died before sending it (or the connection broke mid-claim).
        await terminateBackend(db.client, waiting.pid);
        await lock.release();
        // Nothing of the claim is kept: no in_progress row, most_recent intact, attempts not counted.
        const untouched = await onlyStep(db.client, taskUuid);
        const where0 = describe(untouched);
        assert.equal(untouched.state, "enqueued", where0);
        assert.deepEqual(untouched.transitions, { enqueued: 1 }, where0);
        assert.equal(untouched.mostRecent, 1, where0);
        assert.equal(untouched.attempts, 0, where0);
        assert.equal(untouched.inProcess, false, where0);
        assert.equal((await queuedMessage(db.client, stepUuid))?.readCt, 1);

        const b = await startBroker(db, { registryDir });
        brokers.push(b);
        const report = await sim.sim.waitForTask(taskUuid, { timeoutMs: 120_000 });
        assert.equal(report.state, "complete", JSON.stringify(report));
        const step = await onlyStep(db.client, taskUuid);
        const where = describe(step);
        assert.deepEqual(step.claimedBy, [b.workerId], where);
        assert.deepEqual(step.reportedBy, [b.workerId], where);
        assert.equal(step.attempts, 1, where);
        assert.equal(step.resultMessages, 1, where);
        assert.deepEqual(step.stepMessageReads, [2], where);
        assert.deepEqual(sim.sim.violations(), []);
        await stopCleanly(b);
      } finally {
        await lock?.release();
        await sim.stop();
      }
    }),
});

Deno.test({
  name:
    "SIGKILL in the claim-and-ack statement: the claim and the archive are one statement, so neither is kept and the visibility timeout brings the step back",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withSetup("postgres", async ({ db, registryDir, brokers }) => {
      const sim = runSimulator(db.client);
      let archiveLock;
      try {
        await sim.sim.registerTemplate(TRANSFORM_TEMPLATE);
        const { taskUuid } = await sim.sim.createTask({ name: "one_transform", context: { n: 8 } });
        const { stepUuid } = await onlyStep(db.client, taskUuid);
        const message = await queuedMessage(db.client, stepUuid);
        assert.ok(message, "the message is queued");
        // Hold the step's row (not the message's: pgmq.read skips locked messages). A's
        // claim-and-ack statement waits on it with its transition written but nothing
        // committed, the archive still to come.
        archiveLock = await holdLock(db.url!, [{
          text: "SELECT 1 FROM tasker.workflow_steps WHERE workflow_step_uuid = $1 FOR UPDATE",
          params: [stepUuid],
        }]);
        const a = await startBroker(db, {
          registryDir,
          args: ["--visibility-timeout-s", String(VT_S)],
        });
        brokers.push(a);
        // (pg_stat_activity cuts the statement's text at 1 KiB, before its archive part.)
        const [claiming] = await eventually(async () => {
          const w = await brokerBackendsWaiting(db.client, "SET most_recent = false");
          return w.length ? w : undefined;
        }, "A's claim-and-ack statement to wait on the lock");
        const waiting = await onlyStep(db.client, taskUuid);
        assert.equal(waiting.state, "enqueued", "the claim is not visible before it commits");

        await allDead(await kill9(a));
        // The statement already reached the server: left alone it would commit once the
        // lock goes. End that backend first — as when the broker dies before sending it.
        await terminateBackend(db.client, claiming.pid);
        await archiveLock.release();
        const after = await onlyStep(db.client, taskUuid);
        assert.equal(after.state, "enqueued", describe(after));
        assert.deepEqual(after.claimedBy, [], "nothing of the claim is kept");
        assert.ok(await queuedMessage(db.client, stepUuid), "the message was not archived");

        // B reads the message once its visibility timeout is over and runs the step.
        const b = await startBroker(db, { registryDir });
        brokers.push(b);
        const report = await sim.sim.waitForTask(taskUuid, { timeoutMs: 180_000 });
        assert.equal(report.state, "complete", JSON.stringify(report));
        const step = await onlyStep(db.client, taskUuid);
        const where = describe(step);
        assert.deepEqual(step.claimedBy, [b.workerId], where);
        assert.deepEqual(step.reportedBy, [b.workerId], where);
        assert.equal(step.attempts, 1, where);
        assert.equal(step.resultMessages, 1, where);
        assert.deepEqual(sim.sim.violations(), []);
        await stopCleanly(b);
      } finally {
        await archiveLock?.release();
        await sim.stop();
      }
    }),
});

/**
 * Starts broker A on a spin step and pauses it in its report: the test holds
 * the claim's transition row, so the report statement waits on it once the
 * guest has finished. Returns A, the waiting backend's pid and the held lock.
 */
async function pauseInReport(
  db: TestDatabase,
  registryDir: string,
  brokers: TestBroker[],
  createTask: () => Promise<string>,
): Promise<{ a: TestBroker; backendPid: number; lock: HeldLock; taskUuid: string }> {
  const a = await startBroker(db, { registryDir });
  brokers.push(a);
  const taskUuid = await createTask();
  const running = await stepEventually(
    db.client,
    taskUuid,
    (s) => s.state === "in_progress",
    "A to claim the step",
  );
  // The claim has committed; hold its transition row so the report must wait.
  const lock = await holdLock(db.url!, [{
    text: `SELECT 1 FROM tasker.workflow_step_transitions
            WHERE workflow_step_uuid = $1 AND most_recent AND to_state = 'in_progress' FOR UPDATE`,
    params: [running.stepUuid],
  }]);
  try {
    const [waiting] = await eventually(
      async () => {
        const w = await brokerBackendsWaiting(db.client, "worker_uuid");
        return w.length ? w : undefined;
      },
      "A's report to wait on the lock",
      120_000,
    );
    assert.ok(a.logs.some((l) => l.msg === "step completed"), "A ran the step to its end");
    return { a, backendPid: waiting.pid, lock, taskUuid };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

Deno.test({
  name:
    "SIGKILL before the report committed: no result, transition or result message is kept; staleness recovery reruns the step once",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withSetup("postgres", async ({ db, registryDir, brokers }) => {
      const sim = runSimulator(db.client, { staleness: { afterSeconds: STALE_AFTER_S } });
      let lock: HeldLock | undefined;
      try {
        await sim.sim.registerTemplate(SPIN_TEMPLATE);
        const paused = await pauseInReport(db, registryDir, brokers, async () =>
          (await sim.sim.createTask({ name: "one_spin", context: {} })).taskUuid);
        const { a, taskUuid } = paused;
        lock = paused.lock;

        await allDead(await kill9(a));
        // Cancel the report that waits on the lock: the broker died before it committed.
        await terminateBackend(db.client, paused.backendPid);
        await lock.release();
        const orphaned = await onlyStep(db.client, taskUuid);
        const where0 = describe(orphaned);
        assert.equal(orphaned.state, "in_progress", where0);
        assert.equal(orphaned.mostRecent, 1, where0);
        assert.deepEqual(orphaned.reportedBy, [], where0);
        assert.equal(orphaned.resultSuccess, null, where0);
        assert.equal(orphaned.resultMessages, 0, where0);
        assert.equal(orphaned.inProcess, true, where0);

        const b = await startBroker(db, { registryDir });
        brokers.push(b);
        const report = await sim.sim.waitForTask(taskUuid, { timeoutMs: 180_000 });
        assert.equal(report.state, "complete", JSON.stringify(report));
        const step = await onlyStep(db.client, taskUuid);
        const where = describe(step);
        assert.deepEqual(step.claimedBy, [a.workerId, b.workerId], where);
        assert.deepEqual(step.reportedBy, [b.workerId], where);
        assert.equal(step.resultWorker, b.workerId, where);
        assert.equal(step.resultMessages, 1, where);
        assert.equal(step.attempts, 2, where);
        assert.deepEqual(sim.sim.violations(), []);
        await stopCleanly(b);
      } finally {
        await lock?.release();
        await sim.stop();
      }
    }),
});

Deno.test({
  name:
    "SIGKILL with the report sent but not acknowledged: the report lands whole or not at all, and the step ends complete with one result",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withSetup("postgres", async ({ db, registryDir, brokers }) => {
      const sim = runSimulator(db.client, { staleness: { afterSeconds: STALE_AFTER_S } });
      let lock: HeldLock | undefined;
      try {
        await sim.sim.registerTemplate(SPIN_TEMPLATE);
        const paused = await pauseInReport(db, registryDir, brokers, async () =>
          (await sim.sim.createTask({ name: "one_spin", context: {} })).taskUuid);
        const { a, taskUuid } = paused;
        lock = paused.lock;

        await allDead(await kill9(a));
        // Left alone, the backend goes on with what A sent once the lock goes. Whether that
        // commits depends on how the report is sent (one statement commits on its own; a
        // transaction whose COMMIT never came is rolled back): either is correct as long as
        // it is all or nothing.
        await lock.release();
        await eventually(
          async () =>
            (await backendAlive(db.client, paused.backendPid)) ? undefined : true,
          "A's backend to finish",
        );
        const after = await onlyStep(db.client, taskUuid);
        const where0 = describe(after);
        assert.equal(after.mostRecent, 1, where0);
        const landed = after.reportedBy.length > 0;
        if (landed) {
          assert.notEqual(after.state, "in_progress", where0);
          assert.deepEqual(after.reportedBy, [a.workerId], where0);
          assert.equal(after.resultWorker, a.workerId, where0);
          assert.equal(after.resultMessages, 1, where0);
          assert.equal(after.inProcess, false, where0);
        } else {
          assert.equal(after.state, "in_progress", where0);
          assert.equal(after.resultSuccess, null, where0);
          assert.equal(after.resultMessages, 0, where0);
          assert.equal(after.inProcess, true, where0);
        }

        const b = await startBroker(db, { registryDir });
        brokers.push(b);
        const report = await sim.sim.waitForTask(taskUuid, { timeoutMs: 180_000 });
        assert.equal(report.state, "complete", JSON.stringify(report));
        const step = await onlyStep(db.client, taskUuid);
        const where = describe(step);
        // One result either way: A's when its report landed, else B's after the staleness reset.
        const claims = landed ? [a.workerId] : [a.workerId, b.workerId];
        assert.deepEqual(step.claimedBy, claims, where);
        assert.deepEqual(step.reportedBy, [claims.at(-1)], where);
        assert.equal(step.resultWorker, claims.at(-1), where);
        assert.equal(step.resultMessages, 1, where);
        assert.equal(step.attempts, claims.length, where);
        assert.deepEqual(sim.sim.violations(), []);
        await stopCleanly(b);
      } finally {
        await lock?.release();
        await sim.stop();
      }
    }),
});

for (const kind of reliabilityKinds()) {
  Deno.test({
    name:
      `a hung broker (SIGSTOP) whose step was taken over: when it resumes, its late result is refused and the step keeps one result${
        onEngine(kind)
      }`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () =>
      withSetup(kind, async ({ db, registryDir, brokers }) => {
        const sim = runSimulator(db.client, { staleness: { afterSeconds: STALE_AFTER_S } });
        try {
          await sim.sim.registerTemplate(SPIN_TEMPLATE);
          const a = await startBroker(db, { registryDir });
          brokers.push(a);
          const { taskUuid } = await sim.sim.createTask({ name: "one_spin", context: {} });
          await stepEventually(db.client, taskUuid, (s) => s.state === "in_progress", "the claim");
          await busySandbox(a.child.pid);
          // Frozen, not dead: its connections stay open, its sandbox goes on spinning.
          a.child.kill("SIGSTOP");
          try {
            const b = await startBroker(db, { registryDir });
            brokers.push(b);
            // Staleness recovery resets A's claim; B claims the step again and completes it.
            const report = await sim.sim.waitForTask(taskUuid, { timeoutMs: 180_000 });
            assert.equal(report.state, "complete", JSON.stringify(report));
            const done = await onlyStep(db.client, taskUuid);
            assert.deepEqual(done.claimedBy, [a.workerId, b.workerId], describe(done));
            assert.deepEqual(done.reportedBy, [b.workerId], describe(done));
            await stopCleanly(b);
          } finally {
            a.child.kill("SIGCONT");
          }
          // A wakes up with its finished step and tries to report it: refused.
          await a.waitForLog((l) =>
            l.msg === "result not written: the step is no longer this worker's claim"
          );
          await stopCleanly(a);
          const step = await onlyStep(db.client, taskUuid);
          const where = describe(step);
          assert.equal(step.state, "complete", where);
          assert.deepEqual(step.reportedBy, [step.claimedBy[1]], where);
          assert.equal(step.resultWorker, step.claimedBy[1], where);
          assert.equal(step.resultMessages, 1, where);
          assert.equal(step.attempts, 2, where);
          assert.equal(step.mostRecent, 1, where);
          assert.deepEqual(sim.sim.violations(), []);
        } finally {
          await sim.stop();
        }
      }),
  });
}

for (const kind of reliabilityKinds()) {
  Deno.test({
    name:
      `SIGTERM while a step runs: the broker finishes it within the grace period, reports it once and exits 0${
        onEngine(kind)
      }`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () =>
      withSetup(kind, async ({ db, registryDir, brokers }) => {
        const sim = runSimulator(db.client);
        try {
          await sim.sim.registerTemplate(SPIN_TEMPLATE);
          const a = await startBroker(db, { registryDir });
          brokers.push(a);
          const { taskUuid } = await sim.sim.createTask({ name: "one_spin", context: {} });
          await stepEventually(db.client, taskUuid, (s) => s.state === "in_progress", "the claim");
          await busySandbox(a.child.pid);
          const before = await onlyStep(db.client, taskUuid);
          assert.deepEqual(before.reportedBy, [], "still running when the signal is sent");

          await stopCleanly(a);
          const stopping = a.logs.find((l) => l.msg === "broker.stopping");
          assert.equal(stopping?.in_flight, 1, tail(a.logs));
          assert.ok(!a.logs.some((l) => l.msg === "broker.grace_expired"), tail(a.logs));

          const reported = await onlyStep(db.client, taskUuid);
          const where = describe(reported);
          assert.deepEqual(reported.claimedBy, [a.workerId], where);
          assert.deepEqual(reported.reportedBy, [a.workerId], where);
          assert.equal(reported.resultSuccess, true, where);
          assert.equal(reported.resultMessages, 1, where);
          assert.equal(reported.attempts, 1, where);
          const report = await sim.sim.waitForTask(taskUuid, { timeoutMs: 60_000 });
          assert.equal(report.state, "complete", JSON.stringify(report));
          assert.deepEqual(report.steps[0].result, { spun: true });
          assert.deepEqual(sim.sim.violations(), []);
        } finally {
          await sim.stop();
        }
      }),
  });
}

for (const kind of reliabilityKinds()) {
  Deno.test({
    name:
      `SIGTERM with a step that outlasts the grace period: the step fails retryable (sandbox_crashed), is reported once, orchestration re-enqueues it, exit 0${
        onEngine(kind)
      }`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () =>
      withSetup(kind, async ({ db, registryDir, brokers }) => {
        const sim = runSimulator(db.client, { maxRetryDelaySeconds: 1 });
        try {
          await sim.sim.registerTemplate(SPIN_TEMPLATE);
          const a = await startBroker(db, { registryDir, config: { shutdown_grace_ms: 1000 } });
          brokers.push(a);
          const { taskUuid } = await sim.sim.createTask({ name: "one_spin", context: {} });
          await stepEventually(db.client, taskUuid, (s) => s.state === "in_progress", "the claim");
          await busySandbox(a.child.pid);
          const children = descendants(a.child.pid);

          await stopCleanly(a);
          assert.ok(a.logs.some((l) => l.msg === "broker.grace_expired"), tail(a.logs));
          await allDead(children);

          // Reported once, as a retryable failure; orchestration put it back in the queue.
          const step = await stepEventually(
            db.client,
            taskUuid,
            (s) => s.state === "enqueued",
            "the retry to be enqueued",
          );
          const where = describe(step);
          assert.deepEqual(step.claimedBy, [a.workerId], where);
          assert.deepEqual(step.reportedBy, [a.workerId], where);
          assert.equal(step.resultSuccess, false, where);
          assert.equal(step.resultMessages, 1, where);
          assert.equal(step.attempts, 1, where);
          assert.equal(step.transitions.enqueued_as_error_for_orchestration, 1, where);
          assert.equal(step.transitions.enqueued_for_orchestration, undefined, where);
          assert.equal(step.stepMessages, 2, where);
          const [failure] = await db.client.query<{ retryable: boolean; code: string }>(
            `SELECT (results->'metadata'->>'retryable')::boolean AS retryable,
                  results->'metadata'->'custom'->>'wasm_broker_code' AS code
             FROM tasker.workflow_steps WHERE workflow_step_uuid = $1`,
            [step.stepUuid],
          );
          assert.deepEqual(failure, { retryable: true, code: "sandbox_crashed" }, where);
          assert.deepEqual(sim.sim.violations(), []);
        } finally {
          await sim.stop();
        }
      }, 120_000),
  });
}

for (const kind of reliabilityKinds()) {
  Deno.test({
    name:
      `SIGTERM with a claimed step still waiting for a sandbox when the grace period ends: it is handed back (worker_shutdown) with its attempt, exit 0${
        onEngine(kind)
      }`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () =>
      withSetup(kind, async ({ db, registryDir, brokers }) => {
        const sim = runSimulator(db.client, { maxRetryDelaySeconds: 1 });
        try {
          await sim.sim.registerTemplate(SPIN_TEMPLATE);
          // Two slots, one sandbox: the second claimed step waits for the first one's process.
          const a = await startBroker(db, {
            registryDir,
            config: { shutdown_grace_ms: 1000, concurrency: 2, max_sandboxes: 1 },
          });
          brokers.push(a);
          const tasks = [
            (await sim.sim.createTask({ name: "one_spin", context: {} })).taskUuid,
            (await sim.sim.createTask({ name: "one_spin", context: {} })).taskUuid,
          ];
          for (const taskUuid of tasks) {
            await stepEventually(db.client, taskUuid, (s) => s.state === "in_progress", "claims");
          }
          await busySandbox(a.child.pid);

          await stopCleanly(a);
          assert.ok(a.logs.some((l) => l.msg === "broker.grace_expired"), tail(a.logs));
          // Logged as what it was: a hand-back, not a failure of the step's handler.
          const handedBack = a.logs.filter((l) =>
            String(l.msg).startsWith("step handed back before it started")
          );
          assert.equal(handedBack.length, 1, tail(a.logs));
          assert.equal(a.logs.filter((l) => l.msg === "step failed").length, 1, "the running one");

          // Both reported once as retryable failures and put back in the queue by orchestration;
          // the one that ran counts its attempt, the one that never started does not.
          const codes = new Map<string, { attempts: number; step: string }>();
          for (const taskUuid of tasks) {
            const step = await stepEventually(
              db.client,
              taskUuid,
              (s) => s.state === "enqueued",
              "the retry to be enqueued",
            );
            const where = describe(step);
            assert.deepEqual(step.claimedBy, [a.workerId], where);
            assert.deepEqual(step.reportedBy, [a.workerId], where);
            assert.equal(step.resultSuccess, false, where);
            assert.equal(step.resultMessages, 1, where);
            assert.equal(step.transitions.enqueued_as_error_for_orchestration, 1, where);
            const [failure] = await db.client.query<{ retryable: boolean; code: string }>(
              `SELECT (results->'metadata'->>'retryable')::boolean AS retryable,
                    COALESCE(results->'metadata'->'custom'->>'wasm_broker_code',
                             results->'metadata'->>'error_code') AS code
               FROM tasker.workflow_steps WHERE workflow_step_uuid = $1`,
              [step.stepUuid],
            );
            assert.equal(failure.retryable, true, where);
            codes.set(failure.code, { attempts: step.attempts, step: where });
          }
          assert.deepEqual(
            [...codes.entries()].map(([code, { attempts }]) => ({ code, attempts })).sort((x, y) =>
              x.code.localeCompare(y.code)
            ),
            [{ code: "sandbox_crashed", attempts: 1 }, { code: "worker_shutdown", attempts: 0 }],
            JSON.stringify([...codes.values()]),
          );
          assert.deepEqual(sim.sim.violations(), []);
        } finally {
          await sim.stop();
        }
      }, 120_000),
  });
}

for (const kind of reliabilityKinds()) {
  Deno.test({
    name:
      `SIGTERM between read and claim: the broker hands the message back at once and exits 0; another broker completes the step${
        onEngine(kind)
      }`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () =>
      withSetup(kind, async ({ db, registryDir, brokers }) => {
        const sim = runSimulator(db.client);
        try {
          await sim.sim.registerTemplate(TRANSFORM_TEMPLATE);
          await sim.sim.registerTemplate(SPIN_TEMPLATE);
          // A visibility timeout far beyond the test's deadlines: only a hand-back makes the
          // message visible again in time.
          const a = await startBroker(db, {
            registryDir,
            args: ["--visibility-timeout-s", "600", "--concurrency", "1"],
          });
          brokers.push(a);
          const { taskUuid, stepUuid } = await readAheadBehindSpin(db, sim, a);
          const read = await queuedMessage(db.client, stepUuid);
          assert.ok(read!.invisibleForS > 500, JSON.stringify(read));

          a.child.kill("SIGTERM");
          await a.waitForLog((l) => l.msg === "broker.stopping");
          // Handed back while A still finishes its spin step.
          await eventually(async () => {
            const back = await queuedMessage(db.client, stepUuid);
            return back && back.invisibleForS <= 0 ? back : undefined;
          }, "the message to be handed back");
          const status = await a.exited;
          assert.equal(status.code, 0, `exit ${JSON.stringify(status)}:\n${tail(a.logs)}`);
          const untouched = await onlyStep(db.client, taskUuid);
          assert.equal(untouched.state, "enqueued", describe(untouched));
          assert.equal(untouched.attempts, 0);

          const b = await startBroker(db, { registryDir });
          brokers.push(b);
          const report = await sim.sim.waitForTask(taskUuid, { timeoutMs: 120_000 });
          assert.equal(report.state, "complete", JSON.stringify(report));
          const step = await onlyStep(db.client, taskUuid);
          const where = describe(step);
          assert.deepEqual(step.claimedBy, [b.workerId], where);
          assert.deepEqual(step.reportedBy, [b.workerId], where);
          assert.equal(step.attempts, 1, where);
          assert.deepEqual(step.stepMessageReads, [2], where);
          assert.deepEqual(sim.sim.violations(), []);
          await stopCleanly(b);
        } finally {
          await sim.stop();
        }
      }, SPIN_HOLD_STOP_MS),
  });
}
