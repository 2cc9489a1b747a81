import assert from "node:assert/strict";
import { releaseStep } from "../src/tasker/report_step.ts";
import { buildResult, FakeWorker, type FakeWorkerOptions } from "./_fake_worker.ts";
import { startTestDatabase } from "../tests/support/database_harness.ts";
import {
  OrchestrationSimulator,
  type OrchestrationSimulatorOptions,
  type SimEvent,
  type TaskReport,
} from "./orchestration_simulator.ts";
import type { TaskTemplateInput } from "./task_template.ts";
import { TaskerDoubleError } from "./tasker_double_error.ts";
import type { SqlClient } from "../src/db/sql_client.ts";

type Step = TaskTemplateInput["steps"][number];

function template(name: string, steps: Step[]): TaskTemplateInput {
  return { name, namespace_name: "catalog", version: "1.0.0", steps };
}

function step(name: string, dependencies: string[] = [], extra: Partial<Step> = {}): Step {
  return {
    name,
    dependencies,
    handler: { callable: "test.echo", initialization: { name } },
    ...extra,
  };
}

interface Harness {
  client: SqlClient;
  sim: OrchestrationSimulator;
  events: SimEvent[];
  worker(options?: Partial<FakeWorkerOptions>): FakeWorker;
  /** Runs the simulator and `workers` until the task ends. */
  finish(taskUuid: string, workers: FakeWorker[], timeoutMs?: number): Promise<TaskReport>;
}

const echo: FakeWorkerOptions["handlers"][string] = (env) => ({
  ok: true,
  result: { step: env.step.name, saw: Object.keys(env.deps).sort() },
});

async function withSim(
  fn: (h: Harness) => Promise<void>,
  options: OrchestrationSimulatorOptions = {},
  kind: "auto" | "pglite" = "auto",
): Promise<void> {
  const db = await startTestDatabase({ kind });
  const events: SimEvent[] = [];
  const sim = new OrchestrationSimulator(db.client, {
    pollMs: 20,
    ...options,
    log: (e) => events.push(e),
  });
  const stop = new AbortController();
  const running = sim.run({ signal: stop.signal });
  const h: Harness = {
    client: db.client,
    sim,
    events,
    worker: (o = {}) => new FakeWorker(db.client, { handlers: { "test.echo": echo }, ...o }),
    async finish(taskUuid, workers, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const report = await sim.taskReport(taskUuid);
        if (report.state === "complete" || report.state === "error") return report;
        if (Date.now() > deadline) {
          throw new Error(`task still ${report.state}: ${JSON.stringify(report)}`);
        }
        let ran = 0;
        for (const w of workers) ran += (await w.poll()).length;
        if (ran === 0) await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
  try {
    await fn(h);
  } finally {
    stop.abort();
    await running;
    await db.close();
  }
}

function stateOf(report: TaskReport, name: string) {
  const s = report.steps.find((x) => x.name === name);
  assert.ok(s, `no step ${name} in ${report.steps.map((x) => x.name).join(", ")}`);
  return s;
}

Deno.test("simulator runs a chain to completion, passing dependency results along", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(
      template("chain", [step("a"), step("b", ["a"]), step("c", ["b"])]),
    );
    const { taskUuid, correlationId } = await h.sim.createTask({
      name: "chain",
      context: { n: 1 },
    });
    const w = h.worker();
    const report = await h.finish(taskUuid, [w]);
    assert.equal(report.state, "complete");
    assert.equal(report.complete, true);
    assert.equal(report.correlationId, correlationId);
    assert.deepEqual(report.steps.map((s) => [s.name, s.state, s.attempts]), [
      ["a", "complete", 1],
      ["b", "complete", 1],
      ["c", "complete", 1],
    ]);
    // Every ancestor's result reaches the step (transitive, keyed by name).
    assert.deepEqual(stateOf(report, "c").result, { step: "c", saw: ["a", "b"] });
    const c = w.envelopes.find((e) => e.stepName === "c")!.envelope;
    assert.deepEqual(c.context, { n: 1 });
    assert.deepEqual(c.config, { name: "c" });
    // Tasker stores handler.initialization as the step's inputs.
    assert.deepEqual(c.step.inputs, { name: "c" });
    assert.deepEqual(h.sim.violations(), []);
    const [{ n }] = await h.client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pgmq.q_orchestration_step_results",
    );
    assert.equal(n, 0, "every result message is archived");
    const [{ done }] = await h.client.query<{ done: boolean }>(
      "SELECT complete AND completed_at IS NOT NULL AS done FROM tasker.tasks WHERE task_uuid = $1",
      [taskUuid],
    );
    assert.equal(done, true);
  });
});

Deno.test("simulator enqueues with the most-recent protocol and one message per enqueue", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(
      template("fan", [step("root"), step("l", ["root"]), step("r", ["root"])]),
    );
    const { taskUuid } = await h.sim.createTask({ name: "fan", context: {} });
    const msgs = await h.client.query<{ message: Record<string, string> }>(
      "SELECT message FROM pgmq.q_worker_catalog_queue",
    );
    assert.equal(msgs.length, 1, "only the root is ready");
    assert.deepEqual(Object.keys(msgs[0].message).sort(), [
      "correlation_id",
      "step_uuid",
      "task_uuid",
    ]);
    const [t] = await h.client.query<{ to_state: string; from_state: string; sort_key: number }>(
      `SELECT to_state, from_state, sort_key FROM tasker.workflow_step_transitions
        WHERE workflow_step_uuid = $1 AND most_recent`,
      [msgs[0].message.step_uuid],
    );
    assert.deepEqual(t, { to_state: "enqueued", from_state: "pending", sort_key: 1 });
    const report = await h.finish(taskUuid, [h.worker()]);
    assert.equal(report.state, "complete");
    assert.deepEqual(h.sim.violations(), []);
  });
});

Deno.test("simulator retries a retryable failure until it succeeds, honouring the capped backoff hint", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(template("flaky", [
      step("flaky", [], { retry: { retryable: true, max_attempts: 3 } }),
    ]));
    const { taskUuid } = await h.sim.createTask({ name: "flaky", context: {} });
    let calls = 0;
    const w = h.worker({
      handlers: {
        "test.echo": () =>
          ++calls < 3
            ? {
              ok: false,
              code: "http_status",
              message: "503",
              retryable: true,
              errorType: "retryable_error",
              backoffHint: { backoff_type: "ServiceUnavailable", delay_seconds: 300 },
            }
            : { ok: true, result: { calls } },
      },
    });
    const report = await h.finish(taskUuid, [w]);
    assert.equal(report.state, "complete");
    assert.equal(stateOf(report, "flaky").attempts, 3);
    const retries = h.events.filter((e) => e.type === "step_retrying");
    assert.deepEqual(
      retries.map((e) => e.type === "step_retrying" && [e.attempts, e.delaySeconds, e.errorCode]),
      [
        [1, 0, "http_status"],
        [2, 0, "http_status"],
      ],
    );
    const states = await h.client.query<{ to_state: string }>(
      `SELECT to_state FROM tasker.workflow_step_transitions
        WHERE workflow_step_uuid = $1 ORDER BY sort_key`,
      [stateOf(report, "flaky").stepUuid],
    );
    assert.deepEqual(states.map((s) => s.to_state), [
      "enqueued",
      "in_progress",
      "enqueued_as_error_for_orchestration",
      "waiting_for_retry",
      "pending",
      "enqueued",
      "in_progress",
      "enqueued_as_error_for_orchestration",
      "waiting_for_retry",
      "pending",
      "enqueued",
      "in_progress",
      "enqueued_for_orchestration",
      "complete",
    ]);
    assert.deepEqual(h.sim.violations(), []);
  }, { maxRetryDelaySeconds: 0 });
});

Deno.test("simulator sends a retry with the backoff hint as the message delay", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(template("later", [step("later")]));
    const { taskUuid } = await h.sim.createTask({ name: "later", context: {} });
    const w = h.worker({
      handlers: {
        "test.echo": () => ({
          ok: false,
          code: "approval_pending",
          message: "pending",
          retryable: true,
          backoffHint: { backoff_type: "Custom", delay_seconds: 30 },
        }),
      },
    });
    await w.runUntil(() => h.events.some((e) => e.type === "step_retrying"));
    const retry = h.events.find((e) => e.type === "step_retrying");
    assert.equal(retry?.type === "step_retrying" && retry.delaySeconds, 30);
    // The new message exists but stays invisible for the delay.
    const [{ n, hidden }] = await h.client.query<{ n: number; hidden: boolean }>(
      "SELECT count(*)::int AS n, bool_and(vt > now() + interval '20 seconds') AS hidden FROM pgmq.q_worker_catalog_queue",
    );
    assert.equal(n, 1);
    assert.equal(hidden, true);
    assert.deepEqual(await w.poll(), []);
    const [{ backoff }] = await h.client.query<{ backoff: number }>(
      "SELECT backoff_request_seconds AS backoff FROM tasker.workflow_steps WHERE task_uuid = $1",
      [taskUuid],
    );
    assert.equal(backoff, 30);
  });
});

Deno.test("simulator fails the step and the task when retries are exhausted", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(template("doomed", [
      step("doomed", [], { retry: { retryable: true, max_attempts: 2 } }),
      step("after", ["doomed"]),
    ]));
    const { taskUuid } = await h.sim.createTask({ name: "doomed", context: {} });
    const w = h.worker({
      handlers: {
        "test.echo": () => ({ ok: false, code: "timeout", message: "slow", retryable: true }),
      },
    });
    const report = await h.finish(taskUuid, [w]);
    assert.equal(report.state, "error");
    assert.equal(report.complete, false);
    const doomed = stateOf(report, "doomed");
    assert.deepEqual([doomed.state, doomed.attempts, doomed.errorCode], ["error", 2, "timeout"]);
    assert.equal(stateOf(report, "after").state, "pending");
    assert.deepEqual(report.failure, { reason: "step_failed", stepName: "doomed" });
    assert.deepEqual(h.sim.violations(), []);
  }, { maxRetryDelaySeconds: 0 });
});

Deno.test("simulator does not retry a non-retryable failure, nor a step whose template says retryable: false", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(template("perm", [step("perm")]));
    await h.sim.registerTemplate(template("noretry", [
      step("noretry", [], { retry: { retryable: false, max_attempts: 5 } }),
    ]));
    const w = h.worker({
      handlers: {
        "test.echo": (env) => ({
          ok: false,
          code: "trap",
          message: "unreachable",
          retryable: env.step.name === "noretry",
          errorType: "permanent_error",
        }),
      },
    });
    for (const name of ["perm", "noretry"]) {
      const { taskUuid } = await h.sim.createTask({ name, context: {} });
      const report = await h.finish(taskUuid, [w]);
      assert.equal(report.state, "error");
      assert.deepEqual([stateOf(report, name).state, stateOf(report, name).attempts], ["error", 1]);
    }
    assert.deepEqual(h.sim.violations(), []);
  });
});

const decisionTemplate = template("route", [
  step("decide", [], {
    type: "decision",
    handler: { callable: "test.decide", initialization: {} },
  }),
  step("small", ["decide"]),
  step("big", ["decide"]),
  step("big_audit", ["big"]),
  step("join", ["small", "big"], { type: "deferred_convergence" }),
  step("final", ["join"]),
]);

Deno.test("simulator creates only the branch a decision names, then its convergence and what follows", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(decisionTemplate);
    const { taskUuid } = await h.sim.createTask({ name: "route", context: { amount: 5 } });
    const created = await h.sim.taskReport(taskUuid);
    assert.deepEqual(created.steps.map((s) => s.name), ["decide"]);
    const w = h.worker({
      handlers: {
        "test.echo": echo,
        "test.decide": (env) => ({
          ok: true,
          result: {
            decision_point_outcome: {
              type: "create_steps",
              step_names: [(env.context as { amount: number }).amount > 100 ? "big" : "small"],
            },
          },
        }),
      },
    });
    const report = await h.finish(taskUuid, [w]);
    assert.equal(report.state, "complete");
    assert.deepEqual(report.steps.map((s) => s.name).sort(), ["decide", "final", "join", "small"]);
    assert.deepEqual(stateOf(report, "join").result, { step: "join", saw: ["decide", "small"] });
    assert.deepEqual(stateOf(report, "final").result, {
      step: "final",
      saw: ["decide", "join", "small"],
    });
    assert.deepEqual(h.sim.violations(), []);
  });
});

Deno.test("simulator finishes a task whose decision creates no branches", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(decisionTemplate);
    const { taskUuid } = await h.sim.createTask({ name: "route", context: {} });
    const w = h.worker({
      handlers: {
        "test.decide": () => ({
          ok: true,
          result: { decision_point_outcome: { type: "no_branches" } },
        }),
      },
    });
    const report = await h.finish(taskUuid, [w]);
    assert.equal(report.state, "complete");
    assert.deepEqual(report.steps.map((s) => s.name), ["decide"]);
  });
});

Deno.test("simulator fails the task when a decision names a step that is not its descendant", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(decisionTemplate);
    const { taskUuid } = await h.sim.createTask({ name: "route", context: {} });
    const w = h.worker({
      handlers: {
        "test.decide": () => ({
          ok: true,
          result: { decision_point_outcome: { type: "create_steps", step_names: ["decide"] } },
        }),
      },
    });
    const report = await h.finish(taskUuid, [w]);
    assert.equal(report.state, "error");
    assert.equal(report.failure?.reason, "decision_outcome_invalid");
  });
});

Deno.test('simulator reads a decision outcome only from status "completed"', async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(decisionTemplate);
    const { taskUuid } = await h.sim.createTask({ name: "route", context: {} });
    const w = h.worker({
      handlers: {
        "test.decide": () => ({
          ok: true,
          result: { decision_point_outcome: { type: "create_steps", step_names: ["small"] } },
        }),
      },
      mutateResult: (r) => ({ ...r, status: "success" }),
    });
    const report = await h.finish(taskUuid, [w]);
    assert.equal(report.state, "complete");
    assert.deepEqual(report.steps.map((s) => s.name), ["decide"], "no branch was created");
    assert.deepEqual(h.sim.violations().map((v) => v.kind), ["results_mismatch"]);
  });
});

const batchTemplate = template("batch", [
  step("split", [], {
    type: "batchable",
    handler: { callable: "test.split", initialization: { worker_template_name: "work" } },
  }),
  step("work", ["split"], {
    type: "batch_worker",
    handler: { callable: "test.echo", initialization: { mode: "slice" } },
    batch_config: { cursor_field: "index", failure_strategy: "fail_fast" },
  }),
  step("total", ["work"], { type: "deferred_convergence" }),
  step("publish", ["total"]),
]);

Deno.test("simulator creates batch workers with their cursors and the convergence step after them", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(batchTemplate);
    const { taskUuid } = await h.sim.createTask({ name: "batch", context: {} });
    assert.deepEqual((await h.sim.taskReport(taskUuid)).steps.map((s) => s.name), ["split"]);
    const cursors = [
      { batch_id: "001", start_cursor: 0, end_cursor: 2, batch_size: 2 },
      { batch_id: "002", start_cursor: 2, end_cursor: 3, batch_size: 1 },
    ];
    const w = h.worker({
      handlers: {
        "test.echo": echo,
        "test.split": () => ({
          ok: true,
          result: {
            batch_processing_outcome: {
              type: "create_batches",
              worker_template_name: "work",
              worker_count: 2,
              cursor_configs: cursors,
              total_items: 3,
            },
          },
        }),
      },
    });
    const report = await h.finish(taskUuid, [w]);
    assert.equal(report.state, "complete");
    assert.deepEqual(report.steps.map((s) => [s.name, s.templateStepName]), [
      ["split", "split"],
      ["work_001", "work"],
      ["work_002", "work"],
      ["total", "total"],
      ["publish", "publish"],
    ]);
    const worker = w.envelopes.find((e) => e.stepName === "work_002")!.envelope;
    assert.deepEqual(worker.step.inputs, {
      mode: "slice",
      cursor: cursors[1],
      batch_metadata: { cursor_field: "index", failure_strategy: "fail_fast" },
      is_no_op: false,
      __template_step_name: "work",
    });
    assert.deepEqual(worker.config, { mode: "slice" });
    assert.deepEqual(stateOf(report, "total").result, {
      step: "total",
      saw: ["split", "work_001", "work_002"],
    });
    const edges = await h.client.query<{ name: string; n: number }>(
      `SELECT e.name, count(*)::int AS n FROM tasker.workflow_step_edges e
         JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = e.to_step_uuid
        WHERE ws.task_uuid = $1 GROUP BY e.name ORDER BY e.name`,
      [taskUuid],
    );
    assert.deepEqual(edges.map((e) => [e.name, e.n]), [
      ["batch_dependency", 2],
      ["provides", 1],
      ["worker_to_convergence", 2],
    ]);
    assert.deepEqual(h.sim.violations(), []);
  });
});

Deno.test("simulator answers no_batches with one no-op placeholder worker, as Tasker does", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(batchTemplate);
    const { taskUuid } = await h.sim.createTask({ name: "batch", context: {} });
    const w = h.worker({
      handlers: {
        "test.echo": echo,
        "test.split": () => ({
          ok: true,
          result: { batch_processing_outcome: { type: "no_batches" } },
        }),
      },
    });
    const report = await h.finish(taskUuid, [w]);
    assert.equal(report.state, "complete");
    assert.deepEqual(report.steps.map((s) => s.name), ["split", "work_000", "total", "publish"]);
    const inputs = w.envelopes.find((e) => e.stepName === "work_000")!.envelope.step.inputs;
    assert.equal(inputs.is_no_op, true);
    assert.deepEqual(inputs.cursor, {
      batch_id: "000",
      start_cursor: 0,
      end_cursor: 0,
      batch_size: 0,
    });
  });
});

Deno.test("simulator fails no_batches when the batchable step has no worker_template_name", async () => {
  await withSim(async (h) => {
    const t = structuredClone(batchTemplate);
    t.steps[0].handler.initialization = { worker_template: "work" };
    await h.sim.registerTemplate(t);
    const { taskUuid } = await h.sim.createTask({ name: "batch", context: {} });
    const w = h.worker({
      handlers: {
        "test.split": () => ({
          ok: true,
          result: { batch_processing_outcome: { type: "no_batches" } },
        }),
      },
    });
    const report = await h.finish(taskUuid, [w]);
    assert.equal(report.state, "error");
    assert.equal(report.failure?.reason, "batch_processing_failed");
    assert.match(report.failure?.detail ?? "", /worker_template_name/);
  });
});

Deno.test("simulator records results that break Tasker's parsing rules and leaves the message unacked", async () => {
  const cases: [string, (r: Record<string, unknown>) => unknown, RegExp][] = [
    [
      "error without retryable",
      (r) => ({ ...r, success: false, status: "failed", error: { message: "boom" } }),
      /error\.retryable: required boolean is missing/,
    ],
    [
      "error without message",
      (r) => ({ ...r, success: false, status: "failed", error: { retryable: false } }),
      /error\.message: required string is missing/,
    ],
    [
      "metadata without retryable",
      (r) => ({ ...r, metadata: { ...(r.metadata as object), retryable: undefined } }),
      /metadata\.retryable: required boolean is missing/,
    ],
  ];
  for (const [label, mutate, expected] of cases) {
    await withSim(async (h) => {
      await h.sim.registerTemplate(template("bad", [step("bad")]));
      const { taskUuid } = await h.sim.createTask({ name: "bad", context: {} });
      const w = h.worker({ mutateResult: (r) => JSON.parse(JSON.stringify(mutate(r))) });
      await w.runUntil(() => h.sim.violations().length > 0);
      const [v] = h.sim.violations();
      assert.equal(v.kind, "results_invalid", label);
      assert.ok(v.problems.some((p) => expected.test(p)), `${label}: ${v.problems.join("; ")}`);
      const [{ n }] = await h.client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pgmq.q_orchestration_step_results",
      );
      assert.equal(n, 1, `${label}: the message stays in the queue`);
      const report = await h.sim.taskReport(taskUuid);
      assert.equal(report.state, "steps_in_process");
      assert.ok(stateOf(report, "bad").state.startsWith("enqueued_"));
    });
  }
});

Deno.test("simulator records a result message for a step that is not in a reportable state", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(template("early", [step("early")]));
    const { taskUuid, correlationId } = await h.sim.createTask({ name: "early", context: {} });
    const [s] = (await h.sim.taskReport(taskUuid)).steps;
    await h.client.query(
      "SELECT tasker.pgmq_send_with_notify('orchestration_step_results', $1::jsonb, 0)",
      [
        JSON.stringify({
          task_uuid: taskUuid,
          step_uuid: s.stepUuid,
          correlation_id: correlationId,
        }),
      ],
    );
    await h.client.query(
      "SELECT tasker.pgmq_send_with_notify('orchestration_step_results', $1::jsonb, 0)",
      [
        JSON.stringify({ step_uuid: "nope" }),
      ],
    );
    const deadline = Date.now() + 10_000;
    while (h.sim.violations().length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(h.sim.violations().map((v) => [v.kind, v.state]).sort(), [
      ["message_invalid", undefined],
      ["step_not_reportable", "enqueued"],
    ]);
    assert.equal((await h.sim.taskReport(taskUuid)).steps[0].state, "enqueued");
  });
});

Deno.test("simulator records a worker that does not count attempts or writes bad claim metadata", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(template("sloppy", [step("sloppy")]));
    const { taskUuid } = await h.sim.createTask({ name: "sloppy", context: {} });
    const w = h.worker({
      skipAttemptIncrement: true,
      claimMetadata: (base) => ({ ...base, event: { type: "Start" }, worker_uuid: undefined }),
    });
    const report = await h.finish(taskUuid, [w]);
    assert.equal(report.state, "complete");
    const kinds = h.sim.violations().map((v) => v.kind).sort();
    assert.deepEqual(kinds, ["step_row_invalid", "transition_invalid"]);
    const t = h.sim.violations().find((v) => v.kind === "transition_invalid")!;
    assert.ok(t.problems.some((p) => p.includes("claim transition metadata.event")));
    assert.ok(t.problems.some((p) => p.includes("claim transition metadata.worker_uuid")));
  });
});

Deno.test("simulator accepts a step handed back before its handler started (releaseStep), retries it and counts attempts without it", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(template("handed", [step("handed")]));
    const { taskUuid } = await h.sim.createTask({ name: "handed", context: {} });
    // A worker claims the step, then stops before starting it and hands it back.
    const leaving = h.worker({ dieAfterClaim: () => true });
    await leaving.runUntil(async () => {
      const [row] = await h.client.query<{ state: string }>(
        `SELECT t.to_state AS state FROM tasker.workflow_steps ws
           JOIN tasker.workflow_step_transitions t
             ON t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent
          WHERE ws.task_uuid = $1`,
        [taskUuid],
      );
      return row?.state === "in_progress";
    });
    const [claimed] = await h.client.query<
      { step_uuid: string; correlation_id: string; attempts: number }
    >(
      `SELECT ws.workflow_step_uuid AS step_uuid, tk.correlation_id, ws.attempts
         FROM tasker.workflow_steps ws JOIN tasker.tasks tk ON tk.task_uuid = ws.task_uuid
        WHERE ws.task_uuid = $1`,
      [taskUuid],
    );
    assert.equal(claimed.attempts, 1);
    assert.equal(
      await releaseStep(h.client, {
        stepUuid: claimed.step_uuid,
        taskUuid,
        correlationId: claimed.correlation_id,
        workerUuid: leaving.workerUuid,
      }),
      "reported",
    );
    const report = await h.finish(taskUuid, [h.worker()]);
    assert.equal(report.state, "complete");
    const [after] = await h.client.query<{ attempts: number; claims: number }>(
      `SELECT ws.attempts, (SELECT count(*)::int FROM tasker.workflow_step_transitions t
                             WHERE t.workflow_step_uuid = ws.workflow_step_uuid
                               AND t.to_state = 'in_progress') AS claims
         FROM tasker.workflow_steps ws WHERE ws.task_uuid = $1`,
      [taskUuid],
    );
    assert.deepEqual(after, { attempts: 1, claims: 2 }, "the hand-back took its attempt back");
    assert.deepEqual(h.sim.violations(), []);
  });
});

Deno.test("two workers racing on one queue complete every step exactly once", async () => {
  await withSim(async (h) => {
    const steps = Array.from({ length: 12 }, (_, i) => step(`s${i}`));
    await h.sim.registerTemplate(template("wide", steps));
    const { taskUuid } = await h.sim.createTask({ name: "wide", context: {} });
    // Visibility timeout 0 and one message per read: both workers keep reading the same
    // messages, so claims collide (unique violation or "no longer claimable").
    const a = h.worker({ vtSeconds: 0 });
    const b = h.worker({ vtSeconds: 0 });
    const actions: string[] = [];
    let done = false;
    const loop = async (w: FakeWorker) => {
      while (!done) {
        const x = await w.poll(1);
        actions.push(...x);
        if (x.length === 0) await new Promise((r) => setTimeout(r, 5));
      }
    };
    const loops = [loop(a), loop(b)];
    try {
      await h.sim.waitForTask(taskUuid, { timeoutMs: 20_000 });
    } finally {
      done = true;
      await Promise.all(loops);
    }
    const report = await h.sim.taskReport(taskUuid);
    assert.ok(report.steps.every((s) => s.state === "complete" && s.attempts === 1));
    assert.equal(actions.filter((x) => x === "ran").length, 12);
    const [{ n }] = await h.client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM tasker.workflow_step_transitions t
         JOIN tasker.workflow_steps ws USING (workflow_step_uuid)
        WHERE ws.task_uuid = $1 AND t.to_state = 'in_progress'`,
      [taskUuid],
    );
    assert.equal(n, 12);
    assert.deepEqual(h.sim.violations(), []);
  });
});

Deno.test("simulator detects a double claim by workers that do not compare-and-swap", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(template("twice", [step("twice")]));
    const { taskUuid, correlationId } = await h.sim.createTask({ name: "twice", context: {} });
    const [s] = (await h.sim.taskReport(taskUuid)).steps;
    const naive = async (to: string, from: string, event: string) => {
      await h.client.query(
        "UPDATE tasker.workflow_step_transitions SET most_recent = false WHERE workflow_step_uuid = $1 AND most_recent",
        [s.stepUuid],
      );
      await h.client.query(
        `INSERT INTO tasker.workflow_step_transitions
           (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at)
         SELECT $1, $2, $3, $4::jsonb, max(sort_key) + 1, true, now(), now()
           FROM tasker.workflow_step_transitions WHERE workflow_step_uuid = $1`,
        [
          s.stepUuid,
          to,
          from,
          JSON.stringify({
            event: JSON.stringify({ type: event }),
            timestamp: new Date().toISOString(),
            worker_uuid: crypto.randomUUID(),
            correlation_id: correlationId,
          }),
        ],
      );
    };
    // Two workers read "enqueued", then each flips whatever row is most recent.
    await naive("in_progress", "enqueued", "Start");
    await naive("in_progress", "enqueued", "Start");
    await h.client.query(
      "UPDATE tasker.workflow_steps SET attempts = 2 WHERE workflow_step_uuid = $1",
      [s.stepUuid],
    );
    await naive("enqueued_for_orchestration", "in_progress", "EnqueueForOrchestration");
    await h.client.query(
      "UPDATE tasker.workflow_steps SET results = $2::jsonb, in_process = false WHERE workflow_step_uuid = $1",
      [
        s.stepUuid,
        JSON.stringify(
          buildResult(s.stepUuid, { ok: true, result: {} }, new Date(), crypto.randomUUID()),
        ),
      ],
    );
    await h.client.query(
      "SELECT tasker.pgmq_send_with_notify('orchestration_step_results', $1::jsonb, 0)",
      [
        JSON.stringify({
          task_uuid: taskUuid,
          step_uuid: s.stepUuid,
          correlation_id: correlationId,
        }),
      ],
    );
    const report = await h.sim.waitForTask(taskUuid, { timeoutMs: 10_000 });
    assert.equal(report.state, "complete");
    const [v] = h.sim.violations();
    assert.equal(v?.kind, "transition_invalid");
    assert.ok(v.problems.some((p) => p.includes("claimed 2 times")), v.problems.join("; "));
  });
});

Deno.test("staleness recovery resets a step whose worker died after claiming and archiving", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(template("lost", [step("lost")]));
    const { taskUuid } = await h.sim.createTask({ name: "lost", context: {} });
    const dead = h.worker({ dieAfterClaim: () => true });
    assert.deepEqual(await dead.poll(), ["died"]);
    // (Its claim left the step in_progress; the reset below says so. Checking it here would
    // race the 1 s staleness threshold.)
    const report = await h.finish(taskUuid, [h.worker()]);
    assert.equal(report.state, "complete");
    assert.equal(report.steps[0].attempts, 2);
    assert.ok(h.events.some((e) => e.type === "step_reset" && e.from === "in_progress"));
    assert.deepEqual(h.sim.violations(), []);
  }, { staleness: { afterSeconds: 1, checkEveryMs: 100 } });
});

Deno.test("staleness recovery with action error fails the task, as Tasker's detector does", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(template("lost", [step("lost")]));
    const { taskUuid } = await h.sim.createTask({ name: "lost", context: {} });
    assert.deepEqual(await h.worker({ dieAfterClaim: () => true }).poll(), ["died"]);
    const report = await h.sim.waitForTask(taskUuid, { timeoutMs: 15_000 });
    assert.equal(report.state, "error");
    assert.equal(report.failure?.reason, "staleness_timeout");
    assert.equal(report.steps[0].state, "in_progress");
  }, { staleness: { afterSeconds: 1, action: "error", checkEveryMs: 100 } });
});

Deno.test("staleness recovery waits for a step's own timeout_seconds when it is longer", async () => {
  await withSim(async (h) => {
    await h.sim.registerTemplate(template("slow", [step("slow", [], { timeout_seconds: 3600 })]));
    const { taskUuid } = await h.sim.createTask({ name: "slow", context: {} });
    assert.deepEqual(await h.worker({ dieAfterClaim: () => true }).poll(), ["died"]);
    await new Promise((r) => setTimeout(r, 1800));
    assert.equal((await h.sim.taskReport(taskUuid)).steps[0].state, "in_progress");
    assert.ok(!h.events.some((e) => e.type === "step_reset"));
  }, { staleness: { afterSeconds: 1, checkEveryMs: 100 } });
});

Deno.test("createTask refuses unknown templates and bad input; waitForTask times out with a report", async () => {
  await withSim(async (h) => {
    await assert.rejects(
      () => h.sim.createTask({ name: "missing", context: {} }),
      (e: unknown) => e instanceof TaskerDoubleError && e.code === "template_not_found",
    );
    await h.sim.registerTemplate(template("idle", [step("idle")]));
    await assert.rejects(
      () => h.sim.createTask({ name: "idle", context: {}, correlationId: "x" }),
      (e: unknown) => e instanceof TaskerDoubleError && e.code === "input_invalid",
    );
    const { taskUuid } = await h.sim.createTask({ name: "idle", context: {} });
    await assert.rejects(
      () => h.sim.waitForTask(taskUuid, { timeoutMs: 200 }),
      (e: unknown) =>
        e instanceof TaskerDoubleError && e.code === "task_timeout" &&
        (e.details.report as TaskReport).steps[0].state === "enqueued",
    );
    await assert.rejects(
      () => h.sim.taskReport(crypto.randomUUID()),
      (e: unknown) => e instanceof TaskerDoubleError && e.code === "task_not_found",
    );
  });
});

Deno.test("simulator runs decisions, batches and retries on PGlite too (the embedded default)", async () => {
  await withSim(
    async (h) => {
      await h.sim.registerTemplate(decisionTemplate);
      await h.sim.registerTemplate(batchTemplate);
      let calls = 0;
      const w = h.worker({
        handlers: {
          "test.echo": (env) =>
            env.step.name === "small" && ++calls === 1
              ? { ok: false, code: "timeout", message: "slow", retryable: true }
              : echo(env),
          "test.decide": () => ({
            ok: true,
            result: { decision_point_outcome: { type: "create_steps", step_names: ["small"] } },
          }),
          "test.split": () => ({
            ok: true,
            result: {
              batch_processing_outcome: {
                type: "create_batches",
                worker_template_name: "work",
                worker_count: 1,
                cursor_configs: [{
                  batch_id: "001",
                  start_cursor: 0,
                  end_cursor: 1,
                  batch_size: 1,
                }],
                total_items: 1,
              },
            },
          }),
        },
      });
      const route = await h.sim.createTask({ name: "route", context: {} });
      const batch = await h.sim.createTask({ name: "batch", context: {} });
      const r1 = await h.finish(route.taskUuid, [w]);
      const r2 = await h.finish(batch.taskUuid, [w]);
      assert.equal(r1.state, "complete");
      assert.equal(stateOf(r1, "small").attempts, 2);
      assert.equal(r2.state, "complete");
      assert.deepEqual(r2.steps.map((s) => s.name), ["split", "work_001", "total", "publish"]);
      assert.deepEqual(h.sim.violations(), []);
    },
    { maxRetryDelaySeconds: 0 },
    "pglite",
  );
});
