/**
 * Two `deno task broker` subprocesses on one queue, real PostgreSQL with real
 * pgmq, the Tasker test double and its orchestration simulator: 200 steps
 * (40 tasks × 5 catalog steps with dependencies) each complete exactly once.
 * Each test runs on a real PostgreSQL when there is one, and again on PGlite
 * with pgmq behind the broker's PGlite socket server (the embedded default's
 * engine), which a machine without PostgreSQL still runs.
 *
 * "Exactly once" is read from the database, not from the brokers' logs: per
 * step one claim (`in_progress` transition), one report
 * (`enqueued_for_orchestration`), no error report, `attempts` = 1, one
 * message on `orchestration_step_results`, one step message consumed, and the
 * result written by the broker that claimed the step.
 */
import assert from "node:assert/strict";
import {
  reliabilityKinds,
  startTestDatabase,
  type TestDatabase,
} from "./support/database_harness.ts";
import {
  killBroker,
  QUEUE,
  runSimulator,
  startBroker,
  type StepLedger,
  stepLedgers,
  stopBroker,
  tail,
  type TestBroker,
} from "./support/reliability_harness.ts";

const TASKS = 40;

/** A diamond of five catalog steps: check → (double, square) → total → label. */
const TEMPLATE = {
  name: "diamond",
  namespace_name: "catalog",
  version: "1.0.0",
  steps: [
    {
      name: "check",
      handler: {
        callable: "catalog.validate",
        initialization: {
          schema: {
            type: "object",
            required: ["n"],
            properties: { n: { type: "integer", minimum: 0 } },
          },
        },
      },
    },
    {
      name: "double",
      dependencies: ["check"],
      handler: {
        callable: "catalog.transform",
        initialization: { filter: "{n: (.deps.check.value.n * 2)}" },
      },
    },
    {
      name: "square",
      dependencies: ["check"],
      handler: {
        callable: "catalog.transform",
        initialization: { filter: "{n: (.deps.check.value.n * .deps.check.value.n)}" },
      },
    },
    {
      name: "total",
      dependencies: ["double", "square"],
      handler: {
        callable: "catalog.aggregate",
        initialization: { mode: "sum", steps: ["double", "square"], path: ".n" },
      },
    },
    {
      name: "label",
      dependencies: ["total"],
      handler: {
        callable: "catalog.transform",
        initialization: {
          filter:
            '{label: "n=\\(.context.n) total=\\(.deps.total.result)", total: .deps.total.result}',
        },
      },
    },
  ],
};

/** What one run of {@link runDiamonds} left behind. */
interface DiamondRun {
  brokers: TestBroker[];
  steps: StepLedger[];
}

/**
 * Starts two brokers (concurrency 4 each) and the simulator, runs TASKS
 * diamond tasks to completion and checks each task's result; `prepare` runs
 * after the template is registered (its queue exists) and before any step is
 * enqueued. Returns the brokers (still running) and every step's ledger.
 */
async function runDiamonds(
  db: TestDatabase,
  brokers: TestBroker[],
  prepare?: () => Promise<void>,
): Promise<StepLedger[]> {
  const sim = runSimulator(db.client);
  try {
    await sim.sim.registerTemplate(TEMPLATE);
    await prepare?.();
    // Both brokers are up before any step is enqueued, so both compete from the first message.
    brokers.push(
      ...await Promise.all([0, 1].map(() => startBroker(db, { args: ["--concurrency", "4"] }))),
    );
    const tasks = [];
    for (let i = 0; i < TASKS; i++) {
      tasks.push({ n: i, ...await sim.sim.createTask({ name: "diamond", context: { n: i } }) });
    }
    for (const task of tasks) {
      const report = await sim.sim.waitForTask(task.taskUuid, { timeoutMs: 300_000 });
      assert.equal(report.state, "complete", JSON.stringify(report));
      const expected = task.n * 2 + task.n * task.n;
      const label = report.steps.find((s) => s.name === "label");
      assert.deepEqual(label?.result, { label: `n=${task.n} total=${expected}`, total: expected });
    }
    assert.deepEqual(sim.sim.violations(), []);
  } finally {
    await sim.stop();
  }
  const steps = await stepLedgers(db.client);
  assert.equal(steps.length, TASKS * 5);
  const [queued] = await db.client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pgmq.q_${QUEUE}`,
  );
  assert.equal(queued.n, 0, "every step message is archived");
  return steps;
}

/** One claim, one report, by one of `brokers`, one result message, `attempts` = 1. */
function assertOnce(step: StepLedger, brokers: TestBroker[]): void {
  const where = `${step.name} ${step.stepUuid}: ${JSON.stringify(step)}`;
  assert.equal(step.state, "complete", where);
  // One claim, one successful report, no error report, the orchestration's completion.
  assert.deepEqual(step.transitions, {
    enqueued: 1,
    in_progress: 1,
    enqueued_for_orchestration: 1,
    complete: 1,
  }, where);
  assert.equal(step.mostRecent, 1, where);
  assert.equal(step.attempts, 1, where);
  assert.equal(step.inProcess, false, where);
  assert.equal(step.resultSuccess, true, where);
  // The broker that claimed the step is the one that reported it and wrote its result.
  assert.equal(step.claimedBy.length, 1, where);
  assert.ok(brokers.some((b) => b.workerId === step.claimedBy[0]), where);
  assert.deepEqual(step.reportedBy, step.claimedBy, where);
  assert.equal(step.resultWorker, step.claimedBy[0], where);
  // One result message for orchestration.
  assert.equal(step.resultMessages, 1, where);
}

/** Both brokers stop with exit 0, and had claimed steps, logged a completion for each and no error. */
async function assertBothWorkedAndStop(steps: StepLedger[], brokers: TestBroker[]): Promise<void> {
  // Stopped first: a broker's last log lines may still be on their way until it exits.
  for (const broker of brokers) {
    const status = await stopBroker(broker);
    assert.equal(status.code, 0, `exit status ${JSON.stringify(status)}: ${tail(broker.logs)}`);
    assert.ok(broker.logs.some((l) => l.msg === "broker.stopped"));
  }
  for (const broker of brokers) {
    const claimed = steps.filter((s) => s.claimedBy[0] === broker.workerId).length;
    assert.ok(claimed > 0, `broker ${broker.workerId} claimed no step`);
    const completed = broker.logs.filter((l) => l.msg === "step completed");
    assert.equal(completed.length, claimed, `broker ${broker.workerId}: ${tail(broker.logs)}`);
    const errors = broker.logs.filter((l) => l.level === "error");
    assert.deepEqual(errors, [], `broker ${broker.workerId} logged errors`);
  }
}

// On a real PostgreSQL when there is one, and on PGlite behind its socket server (the embedded
// default's engine) always.
for (const kind of reliabilityKinds()) {
  const on = kind === "pglite" ? " (PGlite)" : "";

  Deno.test({
    name: `two brokers on one queue complete every one of 200 steps exactly once${on}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const db = await startTestDatabase({ kind, served: true });
      const brokers: TestBroker[] = [];
      try {
        const steps = await runDiamonds(db, brokers);
        for (const step of steps) {
          assertOnce(step, brokers);
          // One step message, read once: no broker read a message another one held.
          assert.deepEqual(step.stepMessageReads, [1], JSON.stringify(step));
        }
        await assertBothWorkedAndStop(steps, [...brokers]);
        brokers.length = 0;
      } finally {
        for (const broker of brokers) await killBroker(broker);
        await db.close();
      }
    },
  });

  Deno.test({
    name:
      `two brokers claim each step once even when every step message is delivered twice at the same moment${on}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const db = await startTestDatabase({ kind, served: true });
      const brokers: TestBroker[] = [];
      try {
        // A redelivery stand-in: a trigger sends a copy of every step message in the same
        // transaction, so both copies become visible together and the brokers race for the
        // claim (pgmq alone no longer keeps them apart; the transition protocol must).
        const steps = await runDiamonds(db, brokers, async () => {
          await db.client.query(`
          CREATE FUNCTION public.wb_test_duplicate_step_message() RETURNS trigger
          LANGUAGE plpgsql AS $$
          BEGIN
            IF pg_trigger_depth() = 1 THEN
              PERFORM pgmq.send('${QUEUE}', NEW.message);
            END IF;
            RETURN NULL;
          END $$`);
          await db.client.query(`
          CREATE TRIGGER wb_test_duplicate AFTER INSERT ON pgmq.q_${QUEUE}
          FOR EACH ROW EXECUTE FUNCTION public.wb_test_duplicate_step_message()`);
        });
        for (const step of steps) {
          assertOnce(step, brokers);
          assert.equal(step.stepMessages, 2, JSON.stringify(step));
        }
        // Counted once both have exited: a broker's last log lines may still be on their way.
        const both = [...brokers];
        await assertBothWorkedAndStop(steps, [...brokers]);
        brokers.length = 0;
        // Every copy that did not lead to the claim was dropped by a broker: it lost the claim
        // race, or found the step already past `enqueued`.
        let lost = 0, notClaimable = 0;
        for (const broker of both) {
          lost += broker.logs.filter((l) => String(l.msg).startsWith("step not claimed")).length;
          notClaimable += broker.logs.filter((l) =>
            l.msg === "message archived without running a step" && l.reason === "not_claimable"
          ).length;
        }
        assert.equal(
          lost + notClaimable,
          steps.length,
          `lost ${lost}, not claimable ${notClaimable}`,
        );
      } finally {
        for (const broker of brokers) await killBroker(broker);
        await db.close();
      }
    },
  });
}
