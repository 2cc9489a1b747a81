/**
 * 1,000 steps through a `deno task broker` subprocess, 10% of them run by
 * hostile guests (infinite loops, memory bombs, traps, unbounded recursion):
 * every honest step completes with the right result, every hostile one fails
 * with the code the outcome mapping gives it, and the broker stays up (live,
 * ready, counting what happened in `/metrics`), then stops with exit 0.
 *
 * Layout: 100 tasks of 10 independent steps — 9 honest `catalog.transform`
 * steps and 1 hostile step, the hostile kind cycling over the tasks (25
 * tasks per kind). Hostile guests are published with a manifest granting only
 * `io`, `limits.memory` 16 MiB and small deadlines. Hostile steps are
 * retryable up to 3 attempts with no backoff: a loop's `timeout` is
 * retryable, so it is retried to exhaustion; a trap is permanent, so it ends
 * the step at once.
 *
 * Every hostile guest has a 500 ms deadline, and the test is strict: a trap
 * guest traps at its first execution and a loop is killed while it runs,
 * never timed out while it waits. A step's deadline counts from when it
 * reaches a sandbox process (src/sandbox/sandbox_pool.ts), so the evictions
 * and spawns between the 16 MiB hostile profile and the 256 MiB catalog
 * profile never eat a guest's time.
 *
 * Real everything: PostgreSQL (DATABASE_URL or a throwaway cluster) when
 * there is one, and again PGlite behind the broker's PGlite socket server
 * (the embedded default's engine); pgmq, the Tasker double and its orchestration simulator, the broker as a
 * subprocess with sandbox processes, guests published into a registry copy.
 */
import assert from "node:assert/strict";
import { OrchestrationSimulator } from "../tasker_double/orchestration_simulator.ts";
import type { TaskTemplateInput } from "../tasker_double/task_template.ts";
import { reliabilityKinds, startTestDatabase } from "./support/database_harness.ts";
import { copyRegistry, eventually, spawnBroker, waitUntilReady } from "./support/broker_harness.ts";
import {
  HOSTILE_KINDS,
  type HostileGuest,
  type HostileKind,
  publishHostileGuests,
} from "./support/hostile_registry.ts";

const TASKS = 100;
const HONEST_PER_TASK = 9;
const HOSTILE_ATTEMPTS = 3;
const LOOP_TIMEOUT_MS = 500;

function honestFilter(j: number): string {
  return `{task: .context.n, step: ${j}, value: (.context.n * 10 + ${j})}`;
}

function template(kind: HostileKind, guest: HostileGuest): TaskTemplateInput {
  const steps: TaskTemplateInput["steps"] = [];
  for (let j = 0; j < HONEST_PER_TASK; j++) {
    steps.push({
      name: `honest_${j}`,
      handler: { callable: "catalog.transform", initialization: { filter: honestFilter(j) } },
    });
  }
  steps.push({
    name: "hostile",
    handler: { callable: guest.callable, initialization: {} },
    retry: { retryable: true, max_attempts: HOSTILE_ATTEMPTS, backoff: "none" },
  });
  return { name: `mixed_${kind}`, namespace_name: "catalog", version: "1.0.0", steps };
}

/** Sums the samples of `name` whose label set contains every `labels` pair. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

interface StepRow {
  workflow_step_uuid: string;
  task_uuid: string;
  name: string;
  state: string | null;
  attempts: number;
  results: {
    success: boolean;
    status: string;
    result: unknown;
    error: { retryable: boolean; error_type: string; context?: Record<string, unknown> } | null;
    metadata: {
      error_code?: string;
      error_type?: string;
      retryable?: boolean;
      custom?: {
        wasm_broker_code?: string;
        wasm_broker_metrics?: { memory_high_water_bytes?: number };
      };
    };
  } | null;
}

/** How {@link hostileLoad} runs. */
interface HostileLoadOptions {
  /** `limits.timeout_ms` of the guests that trap at once (loops always get 500 ms). */
  trapTimeoutMs: number;
  /**
   * Every hostile execution must end its own way: a trap guest traps at its
   * first execution, a loop is killed running (never timed out while queued).
   */
  strict: boolean;
  /** The database the broker runs on. */
  kind: "postgres" | "pglite";
}

/** Runs the scenario (see the module doc) and asserts everything. */
async function hostileLoad(
  { trapTimeoutMs, strict, kind }: HostileLoadOptions,
): Promise<void> {
  const db = await startTestDatabase({ kind, served: true });
  const dataDir = await Deno.makeTempDir({ prefix: "wb-hostile-" });
  const registryDir = await copyRegistry();
  const hostile = await publishHostileGuests(registryDir, {
    timeoutMs: LOOP_TIMEOUT_MS,
    timeoutMsByKind: { memory_bomb: trapTimeoutMs, trap: trapTimeoutMs, recursion: trapTimeoutMs },
    memory: "16MiB",
  });
  const broker = spawnBroker({
    echo: Deno.env.get("WB_ECHO") === "1",
    env: { DATABASE_URL: db.url!, WASM_BROKER_DATA_DIR: dataDir },
    args: [
      "--registry",
      registryDir,
      "--no-catalog-publish",
      "--concurrency",
      "4",
      "--poll-interval-ms",
      "200",
    ],
  });
  let exitedEarly: Deno.CommandStatus | undefined;
  broker.exited.then((status) => exitedEarly ??= status);
  const sim = new OrchestrationSimulator(db.client, { pollMs: 50, maxRetryDelaySeconds: 1 });
  const stopSim = new AbortController();
  const simRunning = sim.run({ signal: stopSim.signal });

  try {
    const adminUrl = await broker.adminUrl;
    await waitUntilReady(adminUrl, "the broker to be ready");
    for (const kind of HOSTILE_KINDS) await sim.registerTemplate(template(kind, hostile[kind]));

    const started = performance.now();
    const tasks: { taskUuid: string; n: number; kind: HostileKind }[] = [];
    for (let n = 0; n < TASKS; n++) {
      const kind = HOSTILE_KINDS[n % HOSTILE_KINDS.length];
      const { taskUuid } = await sim.createTask({ name: `mixed_${kind}`, context: { n } });
      tasks.push({ taskUuid, n, kind });
    }
    const taskList = JSON.stringify(tasks.map((t) => t.taskUuid));
    const total = TASKS * (HONEST_PER_TASK + 1);
    const loadStepRows = () =>
      db.client.query<StepRow>(
        `SELECT ws.workflow_step_uuid, ws.task_uuid, ns.name, t.to_state AS state, ws.attempts,
                  ws.results
             FROM tasker.workflow_steps ws
             JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
             LEFT JOIN tasker.workflow_step_transitions t
               ON t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent
            WHERE ws.task_uuid IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)`,
        [taskList],
      );
    await eventually(
      async () => {
        const [{ done }] = await db.client.query<{ done: number }>(
          `SELECT count(*)::int AS done
             FROM tasker.workflow_steps ws
             JOIN tasker.workflow_step_transitions t
               ON t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent
            WHERE ws.task_uuid IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)
              AND t.to_state IN ('complete', 'error')`,
          [taskList],
        );
        return done === total || undefined;
      },
      "every step to finish",
      600_000,
    );
    const elapsedMs = performance.now() - started;
    const rows = await loadStepRows();
    assert.equal(rows.length, total);

    // Every execution, from the broker's log ("step failed" / "step completed" carry the step's
    // uuid and the outcome's code).
    const executions = new Map<string, { code?: string; completed: boolean }[]>();
    for (const line of broker.logs) {
      if (line.msg !== "step failed" && line.msg !== "step completed") continue;
      const list = executions.get(String(line.step_uuid)) ?? [];
      list.push({
        code: line.code as string | undefined,
        completed: line.msg === "step completed",
      });
      executions.set(String(line.step_uuid), list);
    }

    // Honest steps: complete with the right result. Their one execution that ran completed;
    // only a deadline passed while waiting for a sandbox process can come before it.
    const byTask = new Map(tasks.map((t) => [t.taskUuid, t]));
    const honest = rows.filter((r) => r.name.startsWith("honest_"));
    assert.equal(honest.length, TASKS * HONEST_PER_TASK);
    let honestTimeouts = 0;
    for (const row of honest) {
      const j = Number(row.name.slice("honest_".length));
      const n = byTask.get(row.task_uuid)!.n;
      const runs = executions.get(row.workflow_step_uuid) ?? [];
      const where = `${row.name} of task n=${n}: ${JSON.stringify({ row, runs })}`;
      assert.equal(row.state, "complete", where);
      assert.equal(row.results?.success, true, where);
      assert.deepEqual(row.results?.result, { task: n, step: j, value: n * 10 + j }, where);
      assert.equal(runs.length, row.attempts, where);
      assert.equal(runs.at(-1)?.completed, true, where);
      assert.ok(runs.slice(0, -1).every((r) => r.code === "timeout"), where);
      honestTimeouts += row.attempts - 1;
      if (strict) assert.equal(row.attempts, 1, where);
    }

    const hostileRows = rows.filter((r) => r.name === "hostile");
    assert.equal(hostileRows.length, TASKS);
    const attemptsByKind: Record<string, number> = {};
    let trapGuestTimeouts = 0;
    for (const row of hostileRows) {
      const { kind } = byTask.get(row.task_uuid)!;
      attemptsByKind[kind] = (attemptsByKind[kind] ?? 0) + row.attempts;
      const runs = executions.get(row.workflow_step_uuid) ?? [];
      if (kind !== "loop") trapGuestTimeouts += runs.filter((r) => r.code === "timeout").length;
    }
    const kills = broker.logs.filter((l) =>
      typeof l.msg === "string" && l.msg.startsWith("sandbox: killed: step")
    ).length;
    const hostileExecutions = hostileRows.reduce((sum, r) =>
      sum + r.attempts, 0);
    console.log(
      `${total} steps (${TASKS * HONEST_PER_TASK} honest, ${TASKS} hostile; trap guests' ` +
        `deadline ${trapTimeoutMs} ms) in ${(elapsedMs / 1000).toFixed(1)} s ` +
        `(${(total / (elapsedMs / 1000)).toFixed(1)} steps/s); ${hostileExecutions} hostile ` +
        `executions (loop ${attemptsByKind.loop}, memory_bomb ${attemptsByKind.memory_bomb}, ` +
        `trap ${attemptsByKind.trap}, recursion ${attemptsByKind.recursion}); ` +
        `${trapGuestTimeouts} executions of trap guests and ${honestTimeouts} of honest steps ` +
        `timed out before running; ${kills} sandboxes killed at deadlines`,
    );

    // Hostile steps: failed with the mapped code, error_type and retryable.
    for (const row of hostileRows) {
      const { kind, n } = byTask.get(row.task_uuid)!;
      const expect = hostile[kind].expect;
      const runs = executions.get(row.workflow_step_uuid) ?? [];
      const where = `hostile ${kind} step of task n=${n}: ${JSON.stringify({ row, runs })}`;
      assert.equal(row.state, "error", where);
      const results = row.results!;
      assert.equal(results.success, false, where);
      assert.equal(results.metadata.error_code, expect.code, where);
      assert.equal(results.metadata.custom?.wasm_broker_code, expect.code, where);
      assert.equal(results.metadata.error_type, expect.errorType, where);
      assert.equal(results.metadata.retryable, expect.retryable, where);
      assert.equal(results.error?.error_type, expect.errorType, where);
      assert.equal(results.error?.retryable, expect.retryable, where);
      if (expect.trapKind) assert.equal(results.error?.context?.trap, expect.trapKind, where);
      if (kind === "memory_bomb") {
        // It got all of limits.memory (16 MiB) and not a page more.
        assert.equal(
          results.metadata.custom?.wasm_broker_metrics?.memory_high_water_bytes,
          16 * 1024 * 1024,
          where,
        );
      }
      assert.ok(row.attempts >= 1 && row.attempts <= HOSTILE_ATTEMPTS, where);
      const codes = runs.map((r) => r.code);
      assert.equal(codes.length, row.attempts, `every execution logged: ${where}`);
      if (kind === "loop") {
        // Retryable: retried to exhaustion, every execution ending at its deadline.
        assert.equal(row.attempts, HOSTILE_ATTEMPTS, where);
        assert.equal(results.error?.context?.timeout_ms, LOOP_TIMEOUT_MS, where);
        assert.deepEqual(codes, Array(HOSTILE_ATTEMPTS).fill("timeout"), where);
      } else {
        // Permanent: its execution that ran trapped, which ended the step. Only a deadline
        // that passed while it waited for a sandbox process can come before (retryable).
        assert.equal(codes.at(-1), "trap", where);
        assert.ok(codes.slice(0, -1).every((c) => c === "timeout"), where);
        if (strict) assert.equal(row.attempts, 1, where);
      }
    }
    if (strict) {
      assert.equal(trapGuestTimeouts, 0, "no trap guest timed out before it ran");
      assert.equal(kills, attemptsByKind.loop, "every loop execution ran and was killed");
    }

    // The broker is up and ready, and counted what happened.
    const live = await fetch(`${adminUrl}/health/live`);
    assert.equal(live.status, 200);
    await live.body?.cancel();
    const ready = await fetch(`${adminUrl}/health/ready`);
    assert.equal(ready.status, 200, await ready.text());
    assert.equal(exitedEarly, undefined, "the broker never exited");

    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    assert.equal(metric(text, "tasker_steps_successes_total"), TASKS * HONEST_PER_TASK);
    assert.equal(
      metric(text, "tasker_steps_failures_total"),
      hostileExecutions + honestTimeouts,
    );
    assert.equal(
      metric(text, "tasker_steps_failures_total", { error_type: "permanent_error" }),
      TASKS * 3 / 4,
      "one permanent failure per trap step",
    );
    assert.equal(
      metric(text, "tasker_steps_failures_total", { error_type: "timeout" }),
      attemptsByKind.loop + trapGuestTimeouts + honestTimeouts,
    );
    assert.equal(
      metric(text, "tasker_steps_executions_total"),
      TASKS * HONEST_PER_TASK + honestTimeouts + hostileExecutions,
    );
    const trapKinds = {
      memory_bomb: "out_of_bounds",
      trap: "unreachable",
      recursion: "stack_overflow",
    };
    for (const [kind, trap] of Object.entries(trapKinds)) {
      assert.equal(
        metric(text, "wasm_broker_traps_total", { handler: `test.hostile.${kind}`, kind: trap }),
        TASKS / 4,
        `${kind} traps counted`,
      );
    }
    assert.equal(metric(text, "wasm_broker_traps_total"), TASKS * 3 / 4, "no other traps");
    assert.equal(
      metric(text, "wasm_broker_timeouts_total", { handler: "test.hostile.loop" }),
      attemptsByKind.loop,
    );
    assert.equal(
      metric(text, "wasm_broker_timeouts_total"),
      attemptsByKind.loop + trapGuestTimeouts + honestTimeouts,
    );
    // Sandbox processes running a loop are killed at the deadline and replaced (a loop that
    // timed out while still waiting for a process had nothing to kill).
    const timeoutRestarts = metric(text, "wasm_broker_sandbox_restarts_total", {
      reason: "timeout",
    });
    assert.ok(timeoutRestarts > 0, "sandbox processes were killed at deadlines");
    assert.equal(timeoutRestarts, kills, "one restart per kill");
    assert.ok(kills <= attemptsByKind.loop, "only loops are killed");
    assert.equal(metric(text, "tasker_steps_failures_total", { error_type: "handler_error" }), 0);
    assert.deepEqual(sim.violations(), []);

    console.log(
      `sandbox restarts: ${metric(text, "wasm_broker_sandbox_restarts_total")} in all, ` +
        `${timeoutRestarts} at deadlines, ` +
        `${metric(text, "wasm_broker_sandbox_restarts_total", { reason: "evict" })} evicted ` +
        `for another profile`,
    );

    broker.child.kill("SIGTERM");
    const status = await broker.exited;
    assert.equal(status.code, 0);
  } finally {
    stopSim.abort();
    await simRunning;
    await broker.kill();
    await db.close();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    await Deno.remove(registryDir, { recursive: true }).catch(() => {});
  }
}

for (const kind of reliabilityKinds()) {
  Deno.test({
    name:
      `a broker subprocess runs 1,000 steps with 10% hostile guests (500 ms deadlines): honest ones complete, traps fail at once, loops are killed running, the broker stays up${
        kind === "pglite" ? " (PGlite)" : ""
      }`,
    fn: () => hostileLoad({ trapTimeoutMs: LOOP_TIMEOUT_MS, strict: true, kind }),
  });
}
