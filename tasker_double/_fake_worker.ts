/**
 * Test-only Tasker worker written as plain SQL from the protocol page, so the
 * simulator and the example workflows can be tested without the broker.
 * Private (underscore) test tooling: the real worker is `src/broker/`.
 * Knobs let a test make it misbehave the ways a broken worker would.
 *
 * @module
 */
import { isUniqueViolation, type SqlClient, type SqlExecutor } from "../src/db/sql_client.ts";
import type { TaskTemplate } from "./task_template.ts";

/** The envelope catalog handlers read. */
export interface Envelope {
  context: unknown;
  deps: Record<string, unknown>;
  step: { name: string; attempts: number; max_attempts: number; inputs: Record<string, unknown> };
  config: Record<string, unknown>;
}

/** What a handler returned. */
export type FakeOutcome =
  | { ok: true; result: unknown }
  | {
    ok: false;
    code: string;
    message: string;
    retryable: boolean;
    errorType?: string;
    backoffHint?: { backoff_type: string; delay_seconds: number };
  };

/** A handler the fake worker serves, keyed by callable (without `@version`). */
export type FakeHandler = (envelope: Envelope) => FakeOutcome | Promise<FakeOutcome>;

/** Options for {@link FakeWorker}. */
export interface FakeWorkerOptions {
  namespace?: string;
  handlers: Record<string, FakeHandler>;
  /** Rewrites the StepExecutionResult before it is stored (to test violations). */
  mutateResult?: (result: Record<string, unknown>, stepName: string) => unknown;
  /** Claim and archive, then stop without reporting (a worker killed mid-step). */
  dieAfterClaim?: (stepName: string) => boolean;
  /** Leave `attempts` alone when claiming (a protocol bug). */
  skipAttemptIncrement?: boolean;
  /** Overrides the claim transition's metadata (a protocol bug). */
  claimMetadata?: (base: Record<string, unknown>) => Record<string, unknown>;
  vtSeconds?: number;
}

/** What one {@link FakeWorker.poll} did, per message. */
export type FakeWorkerAction = "ran" | "already_claimed" | "not_claimable" | "not_served" | "died";

/** A Tasker worker in plain SQL, for tests. */
export class FakeWorker {
  readonly workerUuid = crypto.randomUUID();
  readonly envelopes: { stepName: string; envelope: Envelope }[] = [];
  readonly #client: SqlClient;
  readonly #options: FakeWorkerOptions;
  readonly #queue: string;

  constructor(client: SqlClient, options: FakeWorkerOptions) {
    this.#client = client;
    this.#options = options;
    this.#queue = `worker_${options.namespace ?? "catalog"}_queue`;
  }

  /** Reads up to `qty` messages and handles each; returns what happened to each. */
  async poll(qty = 10): Promise<FakeWorkerAction[]> {
    const messages = await this.#client.query<{ msg_id: number; message: Record<string, string> }>(
      "SELECT msg_id, message FROM pgmq.read($1, $2::int, $3::int)",
      [this.#queue, this.#options.vtSeconds ?? 30, qty],
    );
    const actions: FakeWorkerAction[] = [];
    for (const m of messages) actions.push(await this.#handle(m.msg_id, m.message));
    return actions;
  }

  /** Polls until `done()` holds or the deadline passes. */
  async runUntil(done: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error("FakeWorker.runUntil: deadline passed");
      const actions = await this.poll();
      if (actions.length === 0) await new Promise((r) => setTimeout(r, 25));
    }
  }

  async #handle(msgId: number, message: Record<string, string>): Promise<FakeWorkerAction> {
    const archive = () =>
      this.#client.query("SELECT pgmq.archive($1, $2::bigint)", [this.#queue, msgId]);
    const [row] = await this.#client.query<{
      name: string;
      template_step_name: string;
      state: string;
      attempts: number | null;
      max_attempts: number | null;
      inputs: Record<string, unknown> | null;
      context: unknown;
      configuration: TaskTemplate;
      correlation_id: string;
    }>(
      `SELECT ns.name, COALESCE(ws.inputs->>'__template_step_name', ns.name) AS template_step_name,
              COALESCE(t.to_state, 'pending') AS state, ws.attempts, ws.max_attempts, ws.inputs,
              tk.context, nt.configuration, tk.correlation_id
         FROM tasker.workflow_steps ws
         JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
         JOIN tasker.tasks tk ON tk.task_uuid = ws.task_uuid
         JOIN tasker.named_tasks nt ON nt.named_task_uuid = tk.named_task_uuid
         LEFT JOIN tasker.workflow_step_transitions t
           ON t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent
        WHERE ws.workflow_step_uuid = $1`,
      [message.step_uuid],
    );
    if (!row) {
      await archive();
      return "not_claimable";
    }
    const def = row.configuration.steps.find((s) => s.name === row.template_step_name);
    const callable = def?.handler.callable.replace(/@.*$/, "");
    const handler = callable ? this.#options.handlers[callable] : undefined;
    if (!def || !handler) return "not_served";
    if (row.state !== "enqueued" && row.state !== "pending") {
      await archive();
      return "not_claimable";
    }
    const claimed = await this.#claim(message.step_uuid, row.state, row.correlation_id);
    if (claimed !== "claimed") {
      await archive();
      return claimed;
    }
    await archive();
    if (this.#options.dieAfterClaim?.(row.name)) return "died";

    const deps: Record<string, unknown> = {};
    const ancestors = await this.#client.query<
      { step_name: string; results: { result?: unknown } | null; processed: boolean }
    >(
      "SELECT step_name, results, processed FROM tasker.get_step_transitive_dependencies($1)",
      [message.step_uuid],
    );
    for (const a of ancestors) if (a.processed && a.results) deps[a.step_name] = a.results.result;
    const attempts = (row.attempts ?? 0) + (this.#options.skipAttemptIncrement ? 0 : 1);
    const envelope: Envelope = {
      context: row.context,
      deps,
      step: {
        name: row.name,
        attempts,
        max_attempts: row.max_attempts ?? 3,
        inputs: row.inputs ?? {},
      },
      config: def.handler.initialization,
    };
    this.envelopes.push({ stepName: row.name, envelope });
    const started = new Date();
    let outcome: FakeOutcome;
    try {
      outcome = await handler(envelope);
    } catch (error) {
      outcome = {
        ok: false,
        code: "internal",
        message: String(error),
        retryable: true,
        errorType: "retryable_error",
      };
    }
    const result = buildResult(message.step_uuid, outcome, started, this.workerUuid);
    const stored = this.#options.mutateResult
      ? this.#options.mutateResult(result, row.name)
      : result;
    await this.#report(message, outcome.ok, stored);
    return "ran";
  }

  async #claim(
    stepUuid: string,
    state: string,
    correlationId: string,
  ): Promise<"claimed" | "already_claimed" | "not_claimable"> {
    try {
      return await this.#client.transaction(async (tx) => {
        const base = {
          event: JSON.stringify({ type: "Start" }),
          timestamp: new Date().toISOString(),
          worker_uuid: this.workerUuid,
          correlation_id: correlationId,
        };
        const moved = await transition(
          tx,
          stepUuid,
          state,
          "in_progress",
          this.#options.claimMetadata?.(base) ?? base,
        );
        if (!moved) return "not_claimable" as const;
        await tx.query(
          `UPDATE tasker.workflow_steps SET in_process = true,
                  attempts = COALESCE(attempts, 0) + $2, last_attempted_at = now(), updated_at = now()
            WHERE workflow_step_uuid = $1`,
          [stepUuid, this.#options.skipAttemptIncrement ? 0 : 1],
        );
        return "claimed" as const;
      });
    } catch (error) {
      if (isUniqueViolation(error)) return "already_claimed";
      throw error;
    }
  }

  async #report(message: Record<string, string>, ok: boolean, result: unknown): Promise<void> {
    await this.#client.transaction(async (tx) => {
      const to = ok ? "enqueued_for_orchestration" : "enqueued_as_error_for_orchestration";
      const moved = await transition(tx, message.step_uuid, "in_progress", to, {
        event: JSON.stringify({
          type: ok ? "EnqueueForOrchestration" : "EnqueueAsErrorForOrchestration",
          data: result,
        }),
        timestamp: new Date().toISOString(),
        worker_uuid: this.workerUuid,
        correlation_id: message.correlation_id,
      });
      // The step moved on meanwhile (a staleness reset): a late result is dropped, not written.
      if (!moved) return;
      await tx.query(
        `UPDATE tasker.workflow_steps SET in_process = false, results = $2::jsonb, updated_at = now()
          WHERE workflow_step_uuid = $1`,
        [message.step_uuid, JSON.stringify(result)],
      );
      await tx.query(
        "SELECT tasker.pgmq_send_with_notify('orchestration_step_results', $1::jsonb, 0)",
        [JSON.stringify({
          task_uuid: message.task_uuid,
          step_uuid: message.step_uuid,
          correlation_id: message.correlation_id,
        })],
      );
    });
  }
}

/**
 * Compare-and-swap transition: flips the most recent row only while it is
 * still `from`, so a worker that read the state before another claimed the
 * step cannot claim it too; `false` when the step moved on. With no row yet
 * (legacy `pending`), two racing inserts collide on the unique index instead.
 */
async function transition(
  tx: SqlExecutor,
  stepUuid: string,
  from: string,
  to: string,
  metadata: Record<string, unknown>,
): Promise<boolean> {
  const [{ next, rows }] = await tx.query<{ next: number; rows: number }>(
    `SELECT COALESCE(MAX(sort_key), 0) + 1 AS next, count(*)::int AS rows
       FROM tasker.workflow_step_transitions WHERE workflow_step_uuid = $1`,
    [stepUuid],
  );
  const flipped = await tx.query(
    `UPDATE tasker.workflow_step_transitions SET most_recent = false
      WHERE workflow_step_uuid = $1 AND most_recent AND to_state = $2 RETURNING 1`,
    [stepUuid, from],
  );
  if (flipped.length === 0 && !(rows === 0 && from === "pending")) return false;
  await tx.query(
    `INSERT INTO tasker.workflow_step_transitions
       (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at)
     VALUES ($1, $2, $3, $4::jsonb, $5, true, now(), now())`,
    [stepUuid, to, from, JSON.stringify(metadata), next],
  );
  return true;
}

/** A StepExecutionResult as BROKER.md's outcome mapping builds it. */
export function buildResult(
  stepUuid: string,
  outcome: FakeOutcome,
  started: Date,
  workerUuid: string,
): Record<string, unknown> {
  const completed = new Date();
  const metadata: Record<string, unknown> = {
    execution_time_ms: Math.max(0, completed.getTime() - started.getTime()),
    completed_at: completed.toISOString(),
    started_at: started.toISOString(),
    worker_id: workerUuid,
    retryable: outcome.ok ? false : outcome.retryable,
    custom: {},
    context: {},
  };
  if (outcome.ok) {
    return {
      step_uuid: stepUuid,
      success: true,
      status: "completed",
      result: outcome.result,
      metadata,
      error: null,
      orchestration_metadata: null,
    };
  }
  metadata.error_type = outcome.errorType ?? "handler_error";
  metadata.error_code = outcome.code;
  return {
    step_uuid: stepUuid,
    success: false,
    status: "failed",
    result: {},
    metadata,
    error: {
      message: outcome.message,
      retryable: outcome.retryable,
      error_type: outcome.errorType ?? "handler_error",
      context: {},
    },
    orchestration_metadata: outcome.backoffHint
      ? { headers: {}, custom: {}, backoff_hint: outcome.backoffHint }
      : null,
  };
}
