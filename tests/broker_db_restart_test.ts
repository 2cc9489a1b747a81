/**
 * PostgreSQL goes away under a running `deno task broker` and comes back:
 * the broker process stays up, reports the outage on `/health/ready` (503
 * naming the database check) while `/health/live` stays 200, keeps the
 * results of steps that finished during the outage and writes them once the
 * server is back, and every task created before and after the outage
 * completes with exactly one result per step. Then SIGTERM stops it with
 * exit 0.
 *
 * Real everything: a dedicated throwaway PostgreSQL cluster (stopped with
 * `pg_ctl stop -m fast`, which terminates every connection), pgmq, the Tasker
 * double and its orchestration simulator, the broker as a subprocess with
 * sandbox processes. Again on PGlite served by the broker's PGlite socket
 * server (the embedded default's engine), whose stop closes the server and
 * the database and whose start opens them again from disk on the same port.
 */
import assert from "node:assert/strict";
import {
  OrchestrationSimulator,
  type SimEvent,
  type TaskReport,
} from "../tasker_double/orchestration_simulator.ts";
import { canStartCluster, startTestDatabase } from "./support/database_harness.ts";
import { copyRegistry, eventually, spawnBroker } from "./support/broker_harness.ts";
import { publishSlowGuest } from "./support/hostile_registry.ts";

/** A restartable PostgreSQL needs its binaries (a throwaway cluster); PGlite always is. */
const KINDS = canStartCluster() ? ["postgres", "pglite"] as const : ["pglite"] as const;

/** Two chained transforms: b = 2n + 1. */
const QUICK = {
  name: "quick",
  namespace_name: "catalog",
  version: "1.0.0",
  steps: [
    {
      name: "a",
      handler: {
        callable: "catalog.transform",
        initialization: { filter: "{n: .context.n, doubled: (.context.n * 2)}" },
      },
    },
    {
      name: "b",
      dependencies: ["a"],
      handler: {
        callable: "catalog.transform",
        initialization: { filter: ".deps.a.doubled + 1" },
      },
    },
  ],
};

/** How long each slow step spins: long enough to still run when the server stops. */
const SLOW_MS = 4000;

function slowTemplate(callable: string) {
  return {
    name: "slow",
    namespace_name: "catalog",
    version: "1.0.0",
    steps: [
      { name: "spin", handler: { callable, initialization: {} } },
      {
        name: "after",
        dependencies: ["spin"],
        handler: {
          callable: "catalog.transform",
          initialization: { filter: ".deps.spin.slept_ms + .context.n" },
        },
      },
    ],
  };
}

interface ReadyBody {
  status: string;
  failing?: string[];
  checks: Record<string, { ok: boolean; message?: string }>;
}

async function getJson(url: string): Promise<{ status: number; body: ReadyBody }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

async function metricSum(adminUrl: string, name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels && !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

for (const kind of KINDS) {
  Deno.test({
    name:
      `a broker subprocess rides out a database outage: ready 503 then 200, results kept and written once, every task completes${
        kind === "pglite" ? " (PGlite)" : ""
      }`,
    async fn() {
      const db = await startTestDatabase({ kind, controllable: true });
      const dataDir = await Deno.makeTempDir({ prefix: "wb-dbrestart-" });
      const registryDir = await copyRegistry();
      const slow = await publishSlowGuest(registryDir, { ms: SLOW_MS });
      const broker = spawnBroker({
        echo: Deno.env.get("WB_ECHO") === "1",
        env: { DATABASE_URL: db.url!, WASM_BROKER_DATA_DIR: dataDir },
        args: [
          "--registry",
          registryDir,
          "--no-catalog-publish",
          "--concurrency",
          "4",
          // A message whose hydration or claim failed in the outage comes back after this.
          "--visibility-timeout-s",
          "5",
          "--poll-interval-ms",
          "200",
        ],
      });
      let exitedEarly: Deno.CommandStatus | undefined;
      broker.exited.then((status) => exitedEarly ??= status);

      const simErrors: string[] = [];
      const simEvents: SimEvent[] = [];
      const sim = new OrchestrationSimulator(db.client, {
        pollMs: 50,
        maxRetryDelaySeconds: 1,
        log: (event) => {
          simEvents.push(event);
          if (event.type === "error") simErrors.push(event.message);
        },
      });
      const stopSim = new AbortController();
      let simDied: unknown;
      const simRunning = sim.run({ signal: stopSim.signal }).catch((error) => {
        simDied = error;
      });

      const taskStates = async (uuids: string[]) => {
        const rows = await db.client.query<{ task_uuid: string; state: string | null }>(
          `SELECT t.task_uuid, tt.to_state AS state FROM tasker.tasks t
           LEFT JOIN tasker.task_transitions tt ON tt.task_uuid = t.task_uuid AND tt.most_recent
          WHERE t.task_uuid IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)`,
          [JSON.stringify(uuids)],
        );
        return new Map(rows.map((r) => [r.task_uuid, r.state]));
      };
      /** Waits (through database errors) until every task is terminal. */
      const waitForTasks = (uuids: string[], what: string, timeoutMs: number) =>
        eventually(
          async () => {
            const states = await taskStates(uuids);
            const open = uuids.filter((u) => !["complete", "error"].includes(states.get(u) ?? ""));
            return open.length === 0 ? states : undefined;
          },
          what,
          timeoutMs,
        );
      const createQuick = async (from: number, count: number) => {
        const out: { taskUuid: string; n: number }[] = [];
        for (let n = from; n < from + count; n++) {
          const { taskUuid } = await sim.createTask({ name: "quick", context: { n } });
          out.push({ taskUuid, n });
        }
        return out;
      };

      try {
        const adminUrl = await broker.adminUrl;
        await eventually(
          async () => (await getJson(`${adminUrl}/health/ready`)).status === 200 || undefined,
          "the broker to be ready",
          120_000,
        );
        await sim.registerTemplate(QUICK);
        await sim.registerTemplate(slowTemplate(slow.callable));

        // Before: tasks complete normally.
        const before = await createQuick(0, 6);
        await waitForTasks(before.map((t) => t.taskUuid), "the tasks created before", 120_000);

        // Steps in flight when the server stops: slow steps claimed and running,
        // quick tasks queued behind them.
        const slowTasks: { taskUuid: string; n: number }[] = [];
        for (let n = 100; n < 104; n++) {
          slowTasks.push({
            taskUuid: (await sim.createTask({ name: "slow", context: { n } })).taskUuid,
            n,
          });
        }
        const during = await createQuick(200, 6);
        const running = await eventually(
          async () => {
            const rows = await db.client.query<{ workflow_step_uuid: string }>(
              `SELECT ws.workflow_step_uuid FROM tasker.workflow_steps ws
             JOIN tasker.workflow_step_transitions t
               ON t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent
            WHERE ws.task_uuid IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid) AND t.to_state = 'in_progress'`,
              [JSON.stringify(slowTasks.map((t) => t.taskUuid))],
            );
            return rows.length >= 2 ? rows.map((r) => r.workflow_step_uuid) : undefined;
          },
          "slow steps to be claimed",
          60_000,
        );

        const outageStarted = performance.now();
        await db.server!.stop();

        // Readiness reports the outage, naming the database check; liveness does not.
        const notReady = await eventually(
          async () => {
            const { status, body } = await getJson(`${adminUrl}/health/ready`);
            return status === 503 ? body : undefined;
          },
          "/health/ready to answer 503",
          30_000,
        );
        assert.equal(notReady.status, "not_ready");
        assert.ok(notReady.failing?.includes("database"), JSON.stringify(notReady));
        assert.equal(notReady.checks.database.ok, false);
        assert.ok(notReady.checks.database.message, "the failing check says why");
        assert.equal(notReady.checks.sandboxes.ok, true);
        const liveAtStart = await fetch(`${adminUrl}/health/live`);
        assert.equal(liveAtStart.status, 200);
        await liveAtStart.body?.cancel();

        // Steps that were running finish in the outage: their results cannot be written yet.
        const pendingReports = await eventually(
          () => {
            const failed = broker.logs.filter((l) =>
              l.msg === "reporting the result failed; retrying" &&
              running.includes(String(l.step_uuid))
            );
            return failed.length > 0 ? failed : undefined;
          },
          "a finished step's report to fail in the outage",
          60_000,
        );
        // Stay down a little longer: reads and reports back off meanwhile.
        await new Promise((r) => setTimeout(r, 3000));
        for (let i = 0; i < 3; i++) {
          const live = await fetch(`${adminUrl}/health/live`);
          assert.equal(live.status, 200, "alive throughout the outage");
          await live.body?.cancel();
        }
        const dbErrorsInOutage = await metricSum(adminUrl, "wasm_broker_db_errors_total");
        assert.ok(dbErrorsInOutage > 0, "database errors are counted");
        assert.ok(
          await metricSum(adminUrl, "wasm_broker_db_errors_total", 'operation="report"') > 0,
          "failed reports are counted",
        );
        assert.equal(exitedEarly, undefined, "the broker is still running");

        await db.server!.start();
        const restarted = performance.now();
        const outageMs = restarted - outageStarted;
        const ready = await eventually(
          async () => {
            const { status, body } = await getJson(`${adminUrl}/health/ready`);
            return status === 200 ? body : undefined;
          },
          "/health/ready to answer 200 again",
          60_000,
        );
        assert.equal(ready.checks.database.ok, true);
        const readyAfterMs = performance.now() - restarted;

        // Everything in flight before the restart finishes first.
        const beforeRestart = [...before, ...during, ...slowTasks];
        await waitForTasks(beforeRestart.map((t) => t.taskUuid), "the tasks in flight", 180_000);
        const drainedAfterMs = performance.now() - restarted;

        // The broker LISTENs again: its listener connection (the session whose last statement is
        // the LISTEN) is back. postgres.js delays reconnecting after repeated connection failures
        // (its default backoff grows to 10-20 s), so this can take a while after a long outage.
        // (PGlite has one session for every connection: its pg_stat_activity cannot tell; the
        // NOTIFY claims below show the LISTEN is back there.)
        const relistenedAfterMs = kind === "pglite" ? NaN : await eventually(
          async () => {
            const [{ n }] = await db.client.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = 'wasm-broker'
                AND query LIKE 'LISTEN %'`,
            );
            return n > 0 ? performance.now() - restarted : undefined;
          },
          "the broker to LISTEN again",
          120_000,
        );

        // After: new tasks complete, and the broker is woken by NOTIFY again, not only by its
        // poller.
        const eventClaims = () =>
          metricSum(adminUrl, "tasker_steps_claimed_total", 'claim_method="event"');
        const eventClaimsBefore = await eventClaims();
        const after = await createQuick(300, 6);
        await waitForTasks(after.map((t) => t.taskUuid), "the tasks created after", 120_000);
        // A NOTIFY sent while the listener is still waiting out postgres.js's backoff wakes
        // nobody, and the poller claims that step. Nothing on PGlite tells when the LISTEN is
        // back, and on PostgreSQL it may have been back only just, so until a step is claimed
        // on NOTIFY, send one more task at a time.
        const probes: { taskUuid: string; n: number }[] = [];
        const eventClaimsAfter = await eventually(
          async () => {
            const claimsSoFar = await eventClaims();
            if (claimsSoFar > eventClaimsBefore) return claimsSoFar;
            const [probe] = await createQuick(400 + probes.length, 1);
            probes.push(probe);
            await waitForTasks([probe.taskUuid], `probe task n=${probe.n}`, 60_000);
            const claims = await eventClaims();
            return claims > eventClaimsBefore ? claims : undefined;
          },
          `a step claimed on NOTIFY after the restart (NOTIFY claims before: ${eventClaimsBefore})`,
          120_000,
        );
        const notifyClaimedAfterMs = performance.now() - restarted;
        const all = [...beforeRestart, ...after, ...probes];

        const reports = new Map<string, TaskReport>();
        for (const t of all) reports.set(t.taskUuid, await sim.taskReport(t.taskUuid));
        for (const t of [...before, ...during, ...after, ...probes]) {
          const report = reports.get(t.taskUuid)!;
          assert.equal(report.state, "complete", `quick task n=${t.n}: ${JSON.stringify(report)}`);
          const b = report.steps.find((s) => s.name === "b")!;
          assert.equal(b.result, 2 * t.n + 1);
        }
        for (const t of slowTasks) {
          const report = reports.get(t.taskUuid)!;
          assert.equal(report.state, "complete", `slow task n=${t.n}: ${JSON.stringify(report)}`);
          assert.deepEqual(report.steps.find((s) => s.name === "spin")!.result, {
            slept_ms: SLOW_MS,
          });
          assert.equal(report.steps.find((s) => s.name === "after")!.result, SLOW_MS + t.n);
        }
        // The steps whose reports failed in the outage landed afterwards.
        for (const line of pendingReports) {
          const step = [...reports.values()].flatMap((r) => r.steps).find((s) =>
            s.stepUuid === line.step_uuid
          );
          assert.equal(step?.state, "complete", `step ${line.step_uuid} reported after the outage`);
        }

        // Exactly one claim, one result and one result message per step.
        const taskUuids = all.map((t) => t.taskUuid);
        const perStep = await db.client.query<{
          workflow_step_uuid: string;
          claims: number;
          reports: number;
          completes: number;
          attempts: number;
        }>(
          `SELECT ws.workflow_step_uuid, ws.attempts,
                count(*) FILTER (WHERE t.to_state = 'in_progress')::int AS claims,
                count(*) FILTER (WHERE t.to_state IN ('enqueued_for_orchestration',
                                 'enqueued_as_error_for_orchestration'))::int AS reports,
                count(*) FILTER (WHERE t.to_state = 'complete')::int AS completes
           FROM tasker.workflow_steps ws
           JOIN tasker.workflow_step_transitions t ON t.workflow_step_uuid = ws.workflow_step_uuid
          WHERE ws.task_uuid IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)
          GROUP BY ws.workflow_step_uuid, ws.attempts`,
          [JSON.stringify(taskUuids)],
        );
        assert.equal(perStep.length, all.length * 2);
        for (const s of perStep) {
          assert.deepEqual(
            { claims: s.claims, reports: s.reports, completes: s.completes, attempts: s.attempts },
            { claims: 1, reports: 1, completes: 1, attempts: 1 },
            `step ${s.workflow_step_uuid}`,
          );
        }
        const messages = await db.client.query<{ step_uuid: string; n: number }>(
          `SELECT message->>'step_uuid' AS step_uuid, count(*)::int AS n FROM (
           SELECT message FROM pgmq.q_orchestration_step_results
           UNION ALL SELECT message FROM pgmq.a_orchestration_step_results) m
          GROUP BY 1`,
        );
        const stepUuids = new Set(perStep.map((s) => s.workflow_step_uuid));
        const ours = messages.filter((m) => stepUuids.has(m.step_uuid));
        assert.equal(ours.length, stepUuids.size, "one result message per step");
        assert.ok(ours.every((m) => m.n === 1), JSON.stringify(ours.filter((m) => m.n !== 1)));
        assert.deepEqual(sim.violations(), []);

        // The simulator kept running through the outage (its errors were retried).
        assert.equal(simDied, undefined, `simulator run loop died: ${simDied}`);

        // What the operator saw: the outage and the recovery in the logs.
        assert.ok(broker.logs.some((l) => l.msg === "database call failed; retrying"));
        assert.ok(broker.logs.some((l) => l.msg === "database reachable again"));
        assert.equal(exitedEarly, undefined, "the broker never exited");
        assert.ok(!broker.logs.some((l) => l.msg === "broker.stopping"), "never began stopping");
        const reportRetries = broker.logs.filter((l) =>
          l.msg === "reporting the result failed; retrying"
        );
        console.log(
          `outage ${Math.round(outageMs)} ms; ready again ${Math.round(readyAfterMs)} ms and ` +
            `every task in flight complete ${Math.round(drainedAfterMs)} ms and LISTEN back ` +
            `${
              kind === "pglite" ? "(not seen on PGlite)" : `${Math.round(relistenedAfterMs)} ms`
            } after the restart; ` +
            `${
              new Set(reportRetries.map((l) => l.step_uuid)).size
            } steps finished in the outage, ` +
            `${reportRetries.length} report retries logged; ${dbErrorsInOutage} database errors ` +
            `counted during the outage; NOTIFY claims ${eventClaimsBefore} → ${eventClaimsAfter}, ` +
            `the first ${Math.round(notifyClaimedAfterMs)} ms after the restart, ` +
            `${probes.length} probe tasks; ` +
            `simulator logged ${simErrors.length} errors and kept running\n` +
            `/health/ready in the outage: ${JSON.stringify(notReady)}\n` +
            `errors by operation: ${
              JSON.stringify(
                broker.logs.filter((l) => l.msg === "database call failed; retrying").map((l) =>
                  `${l.operation}: ${l.error}`
                ),
              )
            }`,
        );

        broker.child.kill("SIGTERM");
        const status = await broker.exited;
        assert.equal(status.code, 0);
        assert.ok(broker.logs.some((l) => l.msg === "stopped"));
      } finally {
        stopSim.abort();
        await simRunning;
        await broker.kill();
        await db.close();
        await Deno.remove(dataDir, { recursive: true }).catch(() => {});
        await Deno.remove(registryDir, { recursive: true }).catch(() => {});
      }
    },
  });
}
