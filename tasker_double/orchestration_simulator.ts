/**
 * A small stand-in for Tasker's orchestration (tasker-core's Rust service),
 * for tests and demos of workers: it registers templates, creates tasks with
 * their steps, enqueues ready steps, consumes `orchestration_step_results`,
 * completes or retries steps, follows decision and batch outcomes, finishes
 * tasks — and checks that what workers write follows Tasker's protocol.
 * TEST AND DEMO TOOLING, NOT PRODUCT CODE. Semantics and deliberate gaps:
 * `tasker_double/README.md`.
 *
 * @module
 */
import type { SqlClient, SqlExecutor } from "../src/db/sql_client.ts";
import { checkStepExecutionResult } from "./check_step_execution_result.ts";
import {
  dependsOn,
  initialStepNames,
  parseTaskTemplate,
  type StepDefinition,
  type TaskTemplate,
  type TaskTemplateInput,
} from "./task_template.ts";
import { TaskerDoubleError } from "./tasker_double_error.ts";

/** Tasker's step states. */
export type StepState =
  | "pending"
  | "enqueued"
  | "in_progress"
  | "enqueued_for_orchestration"
  | "enqueued_as_error_for_orchestration"
  | "waiting_for_retry"
  | "complete"
  | "error"
  | "cancelled"
  | "resolved_manually";

/** Tasker's task states. */
export type TaskState =
  | "pending"
  | "initializing"
  | "enqueuing_steps"
  | "steps_in_process"
  | "evaluating_results"
  | "waiting_for_dependencies"
  | "waiting_for_retry"
  | "blocked_by_failures"
  | "complete"
  | "error"
  | "cancelled"
  | "resolved_manually";

/** What a worker did that Tasker's orchestration would reject or that breaks the protocol. */
export interface ProtocolViolation {
  kind:
    /** The result message is not `{task_uuid, step_uuid, correlation_id}` with UUIDs. */
    | "message_invalid"
    /** The message names a step that does not exist. */
    | "step_unknown"
    /** The message's task_uuid or correlation_id does not match the step's task. */
    | "message_mismatch"
    /** The step is not in `enqueued_for_orchestration`/`enqueued_as_error_for_orchestration`. */
    | "step_not_reportable"
    /** `workflow_steps.results` fails Tasker's parsing rules (message left unacked, as Tasker does). */
    | "results_invalid"
    /** `results` parse but contradict the step (another step_uuid, success vs state, status). */
    | "results_mismatch"
    /** The transitions around the claim and report are not the protocol's. */
    | "transition_invalid"
    /** `workflow_steps` after the report: `in_process` still true, `attempts` not counted. */
    | "step_row_invalid"
    /** A completed decision or batchable step's outcome is missing or malformed. */
    | "outcome_invalid";
  /** Human-readable details, one line per problem. */
  problems: string[];
  msgId?: number;
  taskUuid?: string;
  stepUuid?: string;
  stepName?: string;
  state?: string;
}

/** What the simulator did, for logs and tests. */
export type SimEvent =
  | { type: "task_created"; taskUuid: string; name: string; steps: string[] }
  | {
    type: "step_enqueued";
    taskUuid: string;
    stepUuid: string;
    stepName: string;
    delaySeconds: number;
    msgId: number;
  }
  | {
    type: "step_completed";
    taskUuid: string;
    stepUuid: string;
    stepName: string;
    attempts: number;
  }
  | {
    type: "step_retrying";
    taskUuid: string;
    stepUuid: string;
    stepName: string;
    attempts: number;
    maxAttempts: number;
    delaySeconds: number;
    errorCode?: string;
  }
  | {
    type: "step_failed";
    taskUuid: string;
    stepUuid: string;
    stepName: string;
    attempts: number;
    errorCode?: string;
    message?: string;
  }
  | {
    type: "steps_created";
    taskUuid: string;
    by: "decision" | "batch";
    parent: string;
    steps: string[];
  }
  | { type: "task_completed"; taskUuid: string }
  | { type: "task_failed"; taskUuid: string; reason: string; stepName?: string; detail?: string }
  | {
    type: "step_reset";
    taskUuid: string;
    stepUuid: string;
    stepName: string;
    from: StepState;
    reason: "staleness";
  }
  | { type: "violation"; violation: ProtocolViolation }
  | { type: "error"; message: string; error: unknown };

/** Staleness recovery (off unless configured); see the README for what is faithful. */
export interface StalenessOptions {
  /**
   * A step `in_progress` (claimed, never reported) for longer than this many
   * seconds — or than its template `timeout_seconds`, when larger — is
   * stale. So is a step `enqueued` this long with no message left in its
   * queue.
   */
  afterSeconds: number;
  /**
   * `"reset"` (default): the step goes `in_progress → error → pending →
   * enqueued` with a new message — what an operator's "reset for retry" after
   * Tasker's DLQ does, automated. `"error"`: the task goes to `error`, which
   * is all Tasker's automatic staleness detection does.
   */
  action?: "reset" | "error";
  /** How often to look, in ms. Default: a quarter of `afterSeconds`, at least 200 ms. */
  checkEveryMs?: number;
}

/** Options for {@link OrchestrationSimulator}. */
export interface OrchestrationSimulatorOptions {
  /** Namespace for {@link OrchestrationSimulator.createTask} when the input names none. Default `catalog`. */
  namespace?: string;
  /**
   * The database holding the queues, when not Tasker's (`PGMQ_DATABASE_URL`;
   * needs pgmq and the double's queue side, `installTaskerDoubleQueues`). Then,
   * as in Tasker's split deployment, a step message is sent once the
   * transition that enqueues it has committed, and a results message is
   * archived once its result has been handled: two databases share no
   * transaction. Default: the queues live in Tasker's database.
   */
  queue?: SqlClient;
  /** Fallback poll interval of `run()` and `waitForTask()` in ms. Default 100. */
  pollMs?: number;
  /** Receives every {@link SimEvent}. */
  log?: (event: SimEvent) => void;
  /** Visibility timeout when reading `orchestration_step_results`, seconds. Default 30 (Tasker's). */
  resultVisibilitySeconds?: number;
  /** Messages read per poll. Default 20 (Tasker's). */
  batchSize?: number;
  /**
   * Upper bound on a retry's delay in seconds (backoff hints and computed
   * backoff alike), for demos and tests. Default: no cap.
   */
  maxRetryDelaySeconds?: number;
  /** Staleness recovery; off when absent. */
  staleness?: StalenessOptions;
}

/** One step of a {@link TaskReport}. */
export interface StepReport {
  stepUuid: string;
  name: string;
  templateStepName: string;
  state: StepState;
  attempts: number;
  maxAttempts: number;
  /** The worker's `metadata.execution_time_ms` of the last result. */
  executionMs?: number;
  /** From the first `enqueued` transition to the last terminal one. */
  elapsedMs?: number;
  errorCode?: string;
  errorType?: string;
  errorMessage?: string;
  result?: unknown;
}

/** A task's state and its steps. */
export interface TaskReport {
  taskUuid: string;
  correlationId: string;
  namespace: string;
  name: string;
  version: string;
  state: TaskState;
  complete: boolean;
  /** From creation to the terminal transition (or now). */
  elapsedMs: number;
  /** Why the task failed, when it did. */
  failure?: { reason: string; stepName?: string; detail?: string };
  steps: StepReport[];
}

const REPORT_STATES = ["enqueued_for_orchestration", "enqueued_as_error_for_orchestration"];
const DONE_STATES = ["complete", "resolved_manually"];
const TERMINAL_TASK_STATES = ["complete", "error", "cancelled", "resolved_manually"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAMESPACE = /^[A-Za-z0-9_]{1,29}$/;
// Tasker's own system name for named steps it creates.
const DEPENDENT_SYSTEM = "tasker_core_rust";

interface StepRow {
  workflow_step_uuid: string;
  task_uuid: string;
  name: string;
  template_step_name: string;
  state: StepState;
  transition_uuid: string | null;
  from_state: string | null;
  metadata: Record<string, unknown> | null;
  attempts: number | null;
  max_attempts: number | null;
  retryable: boolean;
  in_process: boolean;
  results: unknown;
  inputs: Record<string, unknown> | null;
}

interface TaskRow {
  task_uuid: string;
  correlation_id: string;
  context: unknown;
  namespace: string;
  name: string;
  version: string;
  configuration: TaskTemplate;
  state: TaskState;
}

/** A pending side effect of a transaction: events are logged only once it committed. */
type Emit = (event: SimEvent) => void;

/** A queue write to run once its transaction committed (queues in another database). */
interface QueueWrite {
  text: string;
  params: unknown[];
  /** Receives the statement's first row once it ran. */
  done: (row: Record<string, unknown> | undefined) => void;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function stepEvent(type: string, data?: unknown): string {
  return JSON.stringify(data === undefined ? { type } : { type, data });
}

/**
 * Tasker's orchestration, simulated against the double's schema.
 *
 * @example
 * ```ts ignore
 * import { OrchestrationSimulator } from "./orchestration_simulator.ts";
 * const sim = new OrchestrationSimulator(client, { maxRetryDelaySeconds: 1 });
 * await sim.registerTemplate(template);
 * const { taskUuid } = await sim.createTask({ name: "order_pipeline", context: { order: {} } });
 * const stop = new AbortController();
 * const running = sim.run({ signal: stop.signal });
 * const report = await sim.waitForTask(taskUuid, { timeoutMs: 60_000 });
 * stop.abort();
 * await running;
 * ```
 */
export class OrchestrationSimulator {
  readonly #client: SqlClient;
  /** The queues' database (`#client` unless they live apart). */
  readonly #queue: SqlClient;
  /** Queue writes of open transactions, run after their commit (queues apart only). */
  readonly #outboxes = new WeakMap<SqlExecutor, QueueWrite[]>();
  readonly #namespace: string;
  readonly #pollMs: number;
  readonly #log: (event: SimEvent) => void;
  readonly #vt: number;
  readonly #batchSize: number;
  readonly #maxRetryDelay: number | undefined;
  readonly #staleness: Required<StalenessOptions> | undefined;
  readonly #processorUuid = crypto.randomUUID();
  readonly #violations: ProtocolViolation[] = [];
  readonly #seenViolations = new Set<string>();

  constructor(client: SqlClient, options: OrchestrationSimulatorOptions = {}) {
    const namespace = options.namespace ?? "catalog";
    if (!NAMESPACE.test(namespace)) {
      throw new TypeError(
        `Cannot use namespace as it is not 1-29 characters of [A-Za-z0-9_]: current value is ${
          JSON.stringify(namespace)
        }`,
      );
    }
    this.#client = client;
    this.#queue = options.queue ?? client;
    this.#namespace = namespace;
    this.#pollMs = options.pollMs ?? 100;
    this.#log = options.log ?? (() => {});
    this.#vt = options.resultVisibilitySeconds ?? 30;
    this.#batchSize = options.batchSize ?? 20;
    this.#maxRetryDelay = options.maxRetryDelaySeconds;
    if (options.staleness) {
      const after = options.staleness.afterSeconds;
      if (!(after > 0)) {
        throw new RangeError(
          `Cannot use staleness.afterSeconds as it is not positive: current value is ${after}`,
        );
      }
      this.#staleness = {
        afterSeconds: after,
        action: options.staleness.action ?? "reset",
        checkEveryMs: options.staleness.checkEveryMs ?? Math.max(200, (after * 1000) / 4),
      };
    }
  }

  /** Whether the queues live in another database than Tasker's tables. */
  get #queuesApart(): boolean {
    return this.#queue !== this.#client;
  }

  /**
   * A transaction on Tasker's database. With the queues apart, the queue
   * writes it asked for ({@link #queueWrite}) run after it committed (none
   * when it rolled back).
   */
  async #transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    if (!this.#queuesApart) return await this.#client.transaction(fn);
    let outbox: QueueWrite[] = [];
    const value = await this.#client.transaction((tx) => {
      outbox = [];
      this.#outboxes.set(tx, outbox);
      return fn(tx);
    });
    for (const write of outbox) {
      try {
        const [row] = await this.#queue.query(write.text, write.params);
        write.done(row);
      } catch (error) {
        // Committed already. An unsent step message leaves the step `enqueued` without a
        // message, which staleness recovery (when enabled) enqueues again, as Tasker's does; an
        // unarchived result message comes back and is recorded as a violation
        // (`step_not_reportable`), as a worker's duplicate message would be.
        this.#log({
          type: "error",
          message: `Cannot write to the queues: ${String(error)}`,
          error,
        });
      }
    }
    return value;
  }

  /**
   * A pgmq write that belongs to `tx`: in it when the queues live in Tasker's
   * database, after its commit when they live apart. `done` gets the first row.
   */
  async #queueWrite(
    tx: SqlExecutor,
    text: string,
    params: unknown[],
    done: (row: Record<string, unknown> | undefined) => void = () => {},
  ): Promise<void> {
    const outbox = this.#outboxes.get(tx);
    if (outbox) outbox.push({ text, params, done });
    else done((await tx.query(text, params))[0]);
  }

  /** Every protocol violation seen so far (tests assert this is empty). */
  violations(): ProtocolViolation[] {
    return [...this.#violations];
  }

  /**
   * Validates and stores a task template as `named_tasks.configuration`
   * (defaults filled in), creating its namespace and the namespace's queue
   * `worker_<ns>_queue`. Registering the same namespace/name/version again
   * replaces the configuration.
   */
  async registerTemplate(
    template: TaskTemplateInput | TaskTemplate,
  ): Promise<{ namedTaskUuid: string }> {
    const parsed = parseTaskTemplate(template);
    return await this.#transaction(async (tx) => {
      await tx.query(
        `INSERT INTO tasker.task_namespaces (name, created_at, updated_at)
         VALUES ($1, now(), now()) ON CONFLICT (name) DO NOTHING`,
        [parsed.namespace_name],
      );
      const [ns] = await tx.query<{ id: string }>(
        "SELECT task_namespace_uuid AS id FROM tasker.task_namespaces WHERE name = $1",
        [parsed.namespace_name],
      );
      const [row] = await tx.query<{ id: string }>(
        `INSERT INTO tasker.named_tasks
           (task_namespace_uuid, name, description, version, configuration, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, clock_timestamp(), clock_timestamp())
         ON CONFLICT (task_namespace_uuid, name, version)
         DO UPDATE SET configuration = EXCLUDED.configuration, description = EXCLUDED.description,
                       updated_at = clock_timestamp()
         RETURNING named_task_uuid AS id`,
        [ns.id, parsed.name, parsed.description ?? null, parsed.version, JSON.stringify(parsed)],
      );
      // pgmq.create is idempotent: with the queues apart it may run before the commit.
      await (this.#queuesApart ? this.#queue : tx).query("SELECT pgmq.create($1)", [
        `worker_${parsed.namespace_name}_queue`,
      ]);
      return { namedTaskUuid: row.id };
    });
  }

  /**
   * Creates a task from a registered template (latest registered version
   * unless `version` is given): the task row, the steps Tasker creates up
   * front (not the branches of decisions nor batch workers), their edges, the
   * task transitions, and enqueues the root steps — all in one transaction.
   */
  async createTask(input: {
    name: string;
    namespace?: string;
    version?: string;
    context: unknown;
    correlationId?: string;
    initiator?: string;
    sourceSystem?: string;
    reason?: string;
    tags?: unknown;
    priority?: number;
  }): Promise<{ taskUuid: string; correlationId: string }> {
    if (input.context === undefined) {
      throw new TaskerDoubleError("input_invalid", "Cannot create task as context is missing");
    }
    if (input.correlationId !== undefined && !UUID.test(input.correlationId)) {
      throw new TaskerDoubleError(
        "input_invalid",
        `Cannot create task as correlationId is not a UUID: current value is ${
          JSON.stringify(input.correlationId)
        }`,
      );
    }
    const namespace = input.namespace ?? this.#namespace;
    const events: SimEvent[] = [];
    const created = await this.#transaction(async (tx) => {
      const templates = await tx.query<{ id: string; configuration: TaskTemplate }>(
        `SELECT nt.named_task_uuid AS id, nt.configuration
           FROM tasker.named_tasks nt
           JOIN tasker.task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
          WHERE ns.name = $1 AND nt.name = $2 AND ($3::text IS NULL OR nt.version = $3)
          ORDER BY nt.created_at DESC LIMIT 1`,
        [namespace, input.name, input.version ?? null],
      );
      const named = templates[0];
      if (!named) {
        throw new TaskerDoubleError(
          "template_not_found",
          `Cannot create task as no template ${namespace}/${input.name}${
            input.version ? `@${input.version}` : ""
          } is registered`,
          { details: { namespace, name: input.name, version: input.version } },
        );
      }
      const template = named.configuration;
      const [task] = await tx.query<{ task_uuid: string; correlation_id: string }>(
        `INSERT INTO tasker.tasks
           (named_task_uuid, requested_at, initiator, source_system, reason, tags, context,
            identity_hash, created_at, updated_at, priority, correlation_id)
         VALUES ($1, clock_timestamp(), $2, $3, $4, $5::jsonb, $6::jsonb,
                 md5(gen_random_uuid()::text), clock_timestamp(), clock_timestamp(), $7,
                 COALESCE($8::uuid, tasker.uuid_generate_v7()))
         RETURNING task_uuid, correlation_id`,
        [
          named.id,
          input.initiator ?? "tasker_double",
          input.sourceSystem ?? "tasker_double",
          input.reason ?? null,
          input.tags === undefined ? null : JSON.stringify(input.tags),
          JSON.stringify(input.context),
          input.priority ?? 0,
          input.correlationId ?? null,
        ],
      );
      for (
        const [from, to] of [
          [null, "pending"],
          ["pending", "initializing"],
          ["initializing", "enqueuing_steps"],
        ] as const
      ) {
        await this.#transitionTask(tx, task.task_uuid, from, to, { event: "initialize" });
      }
      const names = initialStepNames(template);
      const steps = new Map<string, string>();
      for (const name of names) {
        const def = template.steps.find((s) => s.name === name)!;
        steps.set(
          name,
          await this.#createStep(tx, task.task_uuid, def, def.name, def.handler.initialization),
        );
      }
      for (const name of names) {
        const def = template.steps.find((s) => s.name === name)!;
        for (const dep of def.dependencies) {
          const from = steps.get(dep);
          if (from) await this.#createEdge(tx, from, steps.get(name)!, "provides");
        }
      }
      await this.#transitionTask(tx, task.task_uuid, "enqueuing_steps", "steps_in_process", {
        event: "steps_enqueued",
      });
      events.push({
        type: "task_created",
        taskUuid: task.task_uuid,
        name: input.name,
        steps: names,
      });
      await this.#enqueueReadySteps(tx, task.task_uuid, (e) => events.push(e));
      return { taskUuid: task.task_uuid, correlationId: task.correlation_id };
    });
    for (const e of events) this.#log(e);
    return created;
  }

  /**
   * Consumes `orchestration_step_results` until `signal` aborts: reads with a
   * visibility timeout, handles each result in one transaction (archiving the
   * message in it), and wakes on `pgmq_message_ready.orchestration`
   * notifications with a fallback poll. Database errors are logged as
   * `error` events and retried; `run` resolves after the current batch once
   * aborted.
   */
  async run(options: { signal?: AbortSignal } = {}): Promise<void> {
    const signal = options.signal;
    let wake: (() => void) | undefined;
    let unlisten: (() => Promise<void>) | undefined;
    try {
      unlisten = await this.#queue.listen("pgmq_message_ready.orchestration", () => wake?.());
    } catch (error) {
      // Best effort, like Tasker's: the poller below still finds every message.
      this.#log({ type: "error", message: "Cannot LISTEN; polling only", error });
    }
    const onAbort = () => wake?.();
    signal?.addEventListener("abort", onAbort);
    let lastStaleCheck = 0;
    try {
      while (!signal?.aborted) {
        let handled = 0;
        try {
          handled = await this.#pollOnce();
          if (this.#staleness && Date.now() - lastStaleCheck >= this.#staleness.checkEveryMs) {
            lastStaleCheck = Date.now();
            await this.#recoverStaleSteps();
          }
        } catch (error) {
          this.#log({ type: "error", message: `Cannot process results: ${String(error)}`, error });
        }
        if (handled > 0 || signal?.aborted) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, this.#pollMs);
          function done() {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          }
          wake = done;
        });
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      await unlisten?.().catch(() => {});
    }
  }

  /** Reads one batch of result messages and handles them; returns how many it handled. */
  async #pollOnce(): Promise<number> {
    const messages = await this.#queue.query<{ msg_id: number; message: unknown }>(
      "SELECT msg_id, message FROM pgmq.read('orchestration_step_results', $1::int, $2::int)",
      [this.#vt, this.#batchSize],
    );
    for (const m of messages) {
      const events: SimEvent[] = [];
      await this.#transaction((tx) =>
        this.#handleResult(tx, m.msg_id, m.message, (e) => events.push(e))
      );
      for (const e of events) this.#emit(e);
    }
    return messages.length;
  }

  #emit(event: SimEvent): void {
    if (event.type === "violation") {
      const v = event.violation;
      const key = `${v.kind}:${v.msgId ?? ""}:${v.stepUuid ?? ""}:${v.state ?? ""}:${
        v.problems.join("|")
      }`;
      if (this.#seenViolations.has(key)) return;
      this.#seenViolations.add(key);
      this.#violations.push(v);
    }
    this.#log(event);
  }

  async #handleResult(tx: SqlExecutor, msgId: number, body: unknown, emit: Emit): Promise<void> {
    const archive = () =>
      this.#queueWrite(tx, "SELECT pgmq.archive('orchestration_step_results', $1::bigint)", [
        msgId,
      ]);
    const violation = (v: Omit<ProtocolViolation, "msgId">) =>
      emit({ type: "violation", violation: { ...v, msgId } });

    const msgProblems: string[] = [];
    if (!isObject(body)) msgProblems.push("message: expected object");
    else {
      for (const key of ["task_uuid", "step_uuid", "correlation_id"]) {
        const v = body[key];
        if (typeof v !== "string" || !UUID.test(v)) {
          msgProblems.push(`${key}: expected UUID string`);
        }
      }
      const extra = Object.keys(body).filter((k) =>
        !["task_uuid", "step_uuid", "correlation_id"].includes(k)
      );
      if (extra.length) msgProblems.push(`unexpected keys: ${extra.join(", ")}`);
    }
    if (
      msgProblems.length > 0 || !isObject(body) || typeof body.step_uuid !== "string" ||
      !UUID.test(body.step_uuid)
    ) {
      violation({ kind: "message_invalid", problems: msgProblems });
      await archive();
      return;
    }
    const stepUuid = body.step_uuid as string;
    // Serialize with anything else touching this step (another simulator, staleness recovery).
    const locked = await tx.query(
      "SELECT 1 FROM tasker.workflow_steps WHERE workflow_step_uuid = $1 FOR UPDATE",
      [
        stepUuid,
      ],
    );
    if (locked.length === 0) {
      violation({ kind: "step_unknown", problems: [`no step ${stepUuid}`], stepUuid });
      await archive();
      return;
    }
    const step = (await this.#loadStep(tx, stepUuid))!;
    const task = await this.#loadTask(tx, step.task_uuid);
    const where = { taskUuid: task.task_uuid, stepUuid, stepName: step.name, state: step.state };
    const mismatch: string[] = [];
    if (body.task_uuid !== task.task_uuid) {
      mismatch.push(`task_uuid ${String(body.task_uuid)} is not the step's task ${task.task_uuid}`);
    }
    if (body.correlation_id !== task.correlation_id) {
      mismatch.push(
        `correlation_id ${String(body.correlation_id)} is not the task's ${task.correlation_id}`,
      );
    }
    if (mismatch.length) violation({ kind: "message_mismatch", problems: mismatch, ...where });

    if (!REPORT_STATES.includes(step.state)) {
      violation({
        kind: "step_not_reportable",
        problems: [
          `step is ${step.state}, not enqueued_for_orchestration or enqueued_as_error_for_orchestration`,
        ],
        ...where,
      });
      await archive();
      return;
    }
    const problems = checkStepExecutionResult(step.results);
    if (problems.length > 0) {
      // Tasker fails to deserialize and leaves the message unacked: it comes back after the
      // visibility timeout and the step waits. Recorded once per message.
      violation({ kind: "results_invalid", problems, ...where });
      return;
    }
    await this.#checkWorkerWrites(tx, step, task, (v) => violation({ ...v, ...where }));

    const results = step.results as Record<string, unknown> & {
      success: boolean;
      status: string;
      result: unknown;
      metadata: Record<string, unknown>;
      error?: Record<string, unknown> | null;
      orchestration_metadata?: Record<string, unknown> | null;
    };
    const resultProblems: string[] = [];
    if (results.step_uuid !== stepUuid) {
      resultProblems.push(`results.step_uuid is ${String(results.step_uuid)}`);
    }
    if (step.state === "enqueued_for_orchestration" && !results.success) {
      resultProblems.push("state enqueued_for_orchestration with success false");
    }
    if (step.state === "enqueued_as_error_for_orchestration" && results.success) {
      resultProblems.push("state enqueued_as_error_for_orchestration with success true");
    }
    if (results.success && results.status !== "completed") {
      resultProblems.push(`success with status ${JSON.stringify(results.status)}, not "completed"`);
    }
    if (!results.success && results.status === "completed") {
      resultProblems.push('failure with status "completed"');
    }
    if (resultProblems.length) {
      violation({ kind: "results_mismatch", problems: resultProblems, ...where });
    }

    const def = this.#definition(task.configuration, step.template_step_name);
    const taskOpen = !TERMINAL_TASK_STATES.includes(task.state);
    if (step.state === "enqueued_for_orchestration" && results.success) {
      await this.#transitionStep(tx, stepUuid, step.state, "complete", {
        event: stepEvent("Complete"),
      });
      await tx.query(
        `UPDATE tasker.workflow_steps SET processed = true, processed_at = clock_timestamp(),
                in_process = false, updated_at = clock_timestamp()
          WHERE workflow_step_uuid = $1`,
        [stepUuid],
      );
      emit({ type: "step_completed", ...ids(step), attempts: step.attempts ?? 0 });
      if (taskOpen && results.status === "completed") {
        const outcomeOk = await this.#followOutcome(
          tx,
          task,
          step,
          def,
          results.result,
          emit,
          violation,
        );
        if (!outcomeOk) {
          await archive();
          return;
        }
      }
    } else {
      const attempts = step.attempts ?? 0;
      const maxAttempts = step.max_attempts ?? 3;
      const errorCode = typeof results.metadata.error_code === "string"
        ? results.metadata.error_code
        : undefined;
      const canRetry = step.state === "enqueued_as_error_for_orchestration" &&
        results.metadata.retryable === true && step.retryable && attempts < maxAttempts;
      if (canRetry && taskOpen) {
        const delay = this.#retryDelay(def, attempts, results.orchestration_metadata);
        await this.#transitionStep(tx, stepUuid, step.state, "waiting_for_retry", {
          event: stepEvent("WaitForRetry", { delay_seconds: delay }),
        });
        await this.#transitionStep(tx, stepUuid, "waiting_for_retry", "pending", {
          event: stepEvent("Retry"),
        });
        await tx.query(
          `UPDATE tasker.workflow_steps SET in_process = false, backoff_request_seconds = $2,
                  updated_at = clock_timestamp() WHERE workflow_step_uuid = $1`,
          [stepUuid, delay],
        );
        emit({
          type: "step_retrying",
          ...ids(step),
          attempts,
          maxAttempts,
          delaySeconds: delay,
          errorCode,
        });
        await this.#enqueueStep(tx, task, step, delay, emit);
      } else {
        await this.#transitionStep(tx, stepUuid, step.state, "error", {
          event: stepEvent("Fail", { message: results.error?.message ?? null }),
        });
        await tx.query(
          "UPDATE tasker.workflow_steps SET in_process = false, updated_at = clock_timestamp() WHERE workflow_step_uuid = $1",
          [stepUuid],
        );
        emit({
          type: "step_failed",
          ...ids(step),
          attempts,
          errorCode,
          message: typeof results.error?.message === "string" ? results.error.message : undefined,
        });
      }
    }
    if (taskOpen) {
      await this.#enqueueReadySteps(tx, task.task_uuid, emit);
      await this.#finishTaskIfDone(tx, task.task_uuid, emit);
    }
    await archive();
  }

  /** Checks the claim and report a worker wrote, as far as the protocol fixes them. */
  async #checkWorkerWrites(
    tx: SqlExecutor,
    step: StepRow,
    task: TaskRow,
    violation: (v: Pick<ProtocolViolation, "kind" | "problems">) => void,
  ): Promise<void> {
    const history = await tx.query<{
      to_state: string;
      from_state: string | null;
      metadata: Record<string, unknown> | null;
      most_recent: boolean;
    }>(
      `SELECT to_state, from_state, metadata, most_recent FROM tasker.workflow_step_transitions
        WHERE workflow_step_uuid = $1 ORDER BY sort_key DESC`,
      [step.workflow_step_uuid],
    );
    const [report, claim] = history;
    const problems: string[] = [];
    // Since the step was last enqueued, exactly one worker may have claimed it: a claim that
    // flips the most recent row without checking it is still "enqueued" lets two in.
    const sinceEnqueue = history.slice(
      0,
      Math.max(0, history.findIndex((t) => t.to_state === "enqueued")),
    );
    const claims = sinceEnqueue.filter((t) => t.to_state === "in_progress").length;
    if (claims > 1) {
      problems.push(
        `claimed ${claims} times since it was last enqueued (the claim must compare-and-swap)`,
      );
    }
    if (report?.from_state !== "in_progress") {
      problems.push(
        `report transition from ${JSON.stringify(report?.from_state)}, not "in_progress"`,
      );
    }
    if (!claim || claim.to_state !== "in_progress") {
      problems.push(
        `transition before the report is ${JSON.stringify(claim?.to_state)}, not "in_progress"`,
      );
    } else if (claim.from_state !== "enqueued" && claim.from_state !== "pending") {
      problems.push(`claim transition from ${JSON.stringify(claim.from_state)}, not "enqueued"`);
    }
    const expectEvent = step.state === "enqueued_for_orchestration"
      ? "EnqueueForOrchestration"
      : "EnqueueAsErrorForOrchestration";
    for (
      const [label, t, type] of [["report", report, expectEvent], [
        "claim",
        claim,
        "Start",
      ]] as const
    ) {
      if (!t || t.to_state !== (label === "report" ? step.state : "in_progress")) continue;
      problems.push(...checkTransitionMetadata(label, t.metadata, type, task.correlation_id));
    }
    if (problems.length) violation({ kind: "transition_invalid", problems });

    const claimsInAll = history.filter((t) => t.to_state === "in_progress").length;
    // A worker may hand a claimed step back before its handler started (wasm-broker's
    // `releaseStep`, code `worker_shutdown`), taking back the attempt its claim counted.
    const handedBack = history.filter(isHandBack).length;
    const rowProblems: string[] = [];
    if (step.in_process) rowProblems.push("in_process is still true after the report");
    if ((step.attempts ?? 0) < 1 && !(report && isHandBack(report))) {
      rowProblems.push(`attempts is ${step.attempts}: the claim must increment it`);
    } else if (step.attempts !== claimsInAll - handedBack) {
      rowProblems.push(
        `attempts is ${step.attempts} but the step was claimed ${claimsInAll} times` +
          (handedBack > 0 ? ` and handed back ${handedBack} times` : ""),
      );
    }
    if (rowProblems.length) violation({ kind: "step_row_invalid", problems: rowProblems });
  }

  /**
   * Decision and batch outcomes of a completed step. Returns false when the
   * task failed because of the outcome (the caller stops there).
   */
  async #followOutcome(
    tx: SqlExecutor,
    task: TaskRow,
    step: StepRow,
    def: StepDefinition | undefined,
    result: unknown,
    emit: Emit,
    violation: (v: Omit<ProtocolViolation, "msgId">) => void,
  ): Promise<boolean> {
    if (!def || (def.type !== "decision" && def.type !== "batchable")) return true;
    const where = {
      taskUuid: task.task_uuid,
      stepUuid: step.workflow_step_uuid,
      stepName: step.name,
    };
    const fail = async (reason: string, detail: string) => {
      await this.#failTask(tx, task.task_uuid, reason, emit, step.name, detail);
      return false;
    };
    const template = task.configuration;
    if (def.type === "decision") {
      const outcome = isObject(result) ? result.decision_point_outcome : undefined;
      if (isObject(outcome) && outcome.type === "no_branches") return true;
      if (
        !isObject(outcome) || outcome.type !== "create_steps" ||
        !Array.isArray(outcome.step_names) ||
        outcome.step_names.length === 0 || outcome.step_names.some((n) => typeof n !== "string")
      ) {
        const problem = `decision step result has no valid decision_point_outcome: ${
          JSON.stringify(outcome)
        }`;
        violation({ kind: "outcome_invalid", problems: [problem], ...where });
        return await fail("decision_outcome_invalid", problem);
      }
      const requested = outcome.step_names as string[];
      for (const name of requested) {
        const target = template.steps.find((s) => s.name === name);
        if (!target || target.type === "batch_worker" || !dependsOn(template, name, def.name)) {
          // Tasker's DecisionPointService refuses steps that are not descendants of the decision.
          return await fail(
            "decision_outcome_invalid",
            `step "${name}" is not a descendant of decision point "${def.name}" in the template`,
          );
        }
      }
      const existing = await this.#taskSteps(tx, task.task_uuid);
      const existingNames = new Set(existing.map((s) => s.name));
      const toCreate = closeOver(
        template,
        existingNames,
        new Set(requested.filter((n) => !existingNames.has(n))),
      );
      const created = await this.#createNamedSteps(
        tx,
        task.task_uuid,
        template,
        existing,
        toCreate,
        step.workflow_step_uuid,
      );
      emit({
        type: "steps_created",
        taskUuid: task.task_uuid,
        by: "decision",
        parent: step.name,
        steps: created,
      });
      return true;
    }

    // batchable
    const outcome = isObject(result) ? result.batch_processing_outcome : undefined;
    const already = await tx.query(
      "SELECT 1 FROM tasker.workflow_step_edges WHERE from_step_uuid = $1 AND name = 'batch_dependency' LIMIT 1",
      [step.workflow_step_uuid],
    );
    if (already.length > 0) return true; // idempotent, as Tasker's BatchProcessingService
    let workerTemplate: string;
    let cursors: Record<string, unknown>[];
    let noOp = false;
    if (isObject(outcome) && outcome.type === "no_batches") {
      const name = def.handler.initialization.worker_template_name;
      if (typeof name !== "string") {
        return await fail(
          "batch_processing_failed",
          `batchable step "${def.name}" returned no_batches but its handler.initialization has no ` +
            "worker_template_name (Tasker reads the placeholder worker's template from there)",
        );
      }
      workerTemplate = name;
      cursors = [{ batch_id: "000", start_cursor: 0, end_cursor: 0, batch_size: 0 }];
      noOp = true;
    } else if (
      isObject(outcome) && outcome.type === "create_batches" &&
      typeof outcome.worker_template_name === "string" && Array.isArray(outcome.cursor_configs) &&
      outcome.cursor_configs.length > 0 &&
      outcome.cursor_configs.every((c) =>
        isObject(c) && typeof c.batch_id === "string" && c.batch_id !== ""
      ) &&
      Number.isInteger(outcome.worker_count) && Number.isInteger(outcome.total_items)
    ) {
      workerTemplate = outcome.worker_template_name;
      cursors = outcome.cursor_configs as Record<string, unknown>[];
      if (outcome.worker_count !== cursors.length) {
        violation({
          kind: "outcome_invalid",
          problems: [`worker_count ${outcome.worker_count} but ${cursors.length} cursor_configs`],
          ...where,
        });
      }
    } else {
      const problem = `batchable step result has no valid batch_processing_outcome: ${
        JSON.stringify(outcome)
      }`;
      violation({ kind: "outcome_invalid", problems: [problem], ...where });
      return await fail("batch_outcome_invalid", problem);
    }
    const workerDef = template.steps.find((s) => s.name === workerTemplate);
    if (!workerDef || workerDef.type !== "batch_worker") {
      return await fail(
        "batch_processing_failed",
        `worker template "${workerTemplate}" is not a batch_worker step of the template`,
      );
    }
    const workers: string[] = [];
    const workerNames: string[] = [];
    for (const cursor of cursors) {
      const inputs: Record<string, unknown> = {
        ...workerDef.handler.initialization,
        cursor,
        ...(workerDef.batch_config
          ? { batch_metadata: batchMetadata(workerDef.batch_config) }
          : {}),
        is_no_op: noOp,
        __template_step_name: workerDef.name,
      };
      const name = `${workerDef.name}_${String(cursor.batch_id)}`;
      const uuid = await this.#createStep(tx, task.task_uuid, workerDef, name, inputs);
      await this.#createEdge(tx, step.workflow_step_uuid, uuid, "batch_dependency");
      workers.push(uuid);
      workerNames.push(name);
    }
    const existingNames = new Set((await this.#taskSteps(tx, task.task_uuid)).map((s) => s.name));
    const convergence = new Set<string>();
    for (const conv of template.steps) {
      if (conv.type !== "deferred_convergence" || !conv.dependencies.includes(workerDef.name)) {
        continue;
      }
      if (existingNames.has(conv.name)) continue;
      // Tasker wires a batch convergence step to the workers only.
      const uuid = await this.#createStep(
        tx,
        task.task_uuid,
        conv,
        conv.name,
        conv.handler.initialization,
      );
      for (const w of workers) await this.#createEdge(tx, w, uuid, "worker_to_convergence");
      workerNames.push(conv.name);
      convergence.add(conv.name);
    }
    if (convergence.size > 0) {
      const existing = await this.#taskSteps(tx, task.task_uuid);
      const downstream = closeOver(template, new Set(existing.map((s) => s.name)), convergence);
      for (const c of convergence) downstream.delete(c);
      workerNames.push(
        ...await this.#createNamedSteps(
          tx,
          task.task_uuid,
          template,
          existing,
          downstream,
          step.workflow_step_uuid,
        ),
      );
    }
    emit({
      type: "steps_created",
      taskUuid: task.task_uuid,
      by: "batch",
      parent: step.name,
      steps: workerNames,
    });
    return true;
  }

  /**
   * Creates template steps by name and their "provides" edges: from the
   * dependency of that name (or, for a batch worker template, each of its
   * instances); a dependency that does not exist is skipped for a
   * deferred_convergence step and replaced by `fallbackParent` (the deciding
   * step) otherwise, as Tasker's DecisionPointService does.
   */
  async #createNamedSteps(
    tx: SqlExecutor,
    taskUuid: string,
    template: TaskTemplate,
    existing: StepRow[],
    names: Set<string>,
    fallbackParent: string,
  ): Promise<string[]> {
    const created = new Map<string, string>();
    for (const name of names) {
      const d = template.steps.find((s) => s.name === name)!;
      created.set(name, await this.#createStep(tx, taskUuid, d, d.name, d.handler.initialization));
    }
    const byName = new Map<string, string[]>();
    for (const s of existing) {
      for (const key of new Set([s.name, s.template_step_name])) {
        byName.set(key, [...(byName.get(key) ?? []), s.workflow_step_uuid]);
      }
    }
    for (const [k, v] of created) byName.set(k, [v]);
    for (const [name, to] of created) {
      const d = template.steps.find((s) => s.name === name)!;
      for (const dep of d.dependencies) {
        const froms = byName.get(dep) ??
          (d.type === "deferred_convergence" ? [] : [fallbackParent]);
        for (const from of froms) await this.#createEdge(tx, from, to, "provides");
      }
    }
    return [...created.keys()];
  }

  #retryDelay(
    def: StepDefinition | undefined,
    attempts: number,
    orchestrationMetadata: Record<string, unknown> | null | undefined,
  ): number {
    const hint = isObject(orchestrationMetadata) && isObject(orchestrationMetadata.backoff_hint)
      ? orchestrationMetadata.backoff_hint.delay_seconds
      : undefined;
    let delay: number;
    if (typeof hint === "number") delay = hint;
    else {
      const retry = def?.retry ?? {
        backoff: "exponential" as const,
        backoff_base_ms: 1000,
        max_backoff_ms: 30_000,
      };
      const base = retry.backoff_base_ms;
      const ms = retry.backoff === "none"
        ? 0
        : retry.backoff === "fixed"
        ? base
        : retry.backoff === "linear"
        ? base * attempts
        : base * 2 ** Math.max(0, attempts - 1);
      delay = Math.ceil(Math.min(ms, retry.max_backoff_ms) / 1000);
    }
    if (this.#maxRetryDelay !== undefined) delay = Math.min(delay, this.#maxRetryDelay);
    return Math.max(0, Math.min(Math.floor(delay), 2_147_483_647));
  }

  async #createStep(
    tx: SqlExecutor,
    taskUuid: string,
    def: StepDefinition,
    name: string,
    inputs: Record<string, unknown>,
  ): Promise<string> {
    await tx.query(
      `INSERT INTO tasker.dependent_systems (name, created_at, updated_at)
       VALUES ($1, now(), now()) ON CONFLICT (name) DO NOTHING`,
      [DEPENDENT_SYSTEM],
    );
    await tx.query(
      `INSERT INTO tasker.named_steps (dependent_system_uuid, name, created_at, updated_at)
       SELECT dependent_system_uuid, $2, now(), now() FROM tasker.dependent_systems WHERE name = $1
       ON CONFLICT (dependent_system_uuid, name) DO NOTHING`,
      [DEPENDENT_SYSTEM, name],
    );
    const [row] = await tx.query<{ id: string }>(
      `INSERT INTO tasker.workflow_steps
         (task_uuid, named_step_uuid, retryable, max_attempts, inputs, created_at, updated_at)
       SELECT $1, ns.named_step_uuid, $3, $4, $5::jsonb, clock_timestamp(), clock_timestamp()
         FROM tasker.named_steps ns JOIN tasker.dependent_systems ds USING (dependent_system_uuid)
        WHERE ds.name = $6 AND ns.name = $2
       RETURNING workflow_step_uuid AS id`,
      [
        taskUuid,
        name,
        def.retry.retryable,
        def.retry.max_attempts,
        // Tasker stores handler.initialization as the step's inputs (NULL when empty).
        Object.keys(inputs).length === 0 ? null : JSON.stringify(inputs),
        DEPENDENT_SYSTEM,
      ],
    );
    return row.id;
  }

  async #createEdge(tx: SqlExecutor, from: string, to: string, name: string): Promise<void> {
    await tx.query(
      `INSERT INTO tasker.workflow_step_edges (from_step_uuid, to_step_uuid, name, created_at, updated_at)
       VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp())
       ON CONFLICT (from_step_uuid, to_step_uuid, name) DO NOTHING`,
      [from, to, name],
    );
  }

  /** The most-recent protocol: flip the old row, insert the new one with the next sort key. */
  async #transitionStep(
    tx: SqlExecutor,
    stepUuid: string,
    from: string | null,
    to: StepState,
    metadata: Record<string, unknown>,
  ): Promise<void> {
    await tx.query(
      `UPDATE tasker.workflow_step_transitions SET most_recent = false, updated_at = clock_timestamp()
        WHERE workflow_step_uuid = $1 AND most_recent`,
      [stepUuid],
    );
    await tx.query(
      `INSERT INTO tasker.workflow_step_transitions
         (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at)
       SELECT $1, $2, $3, $4::jsonb, COALESCE(MAX(sort_key), 0) + 1, true, clock_timestamp(), clock_timestamp()
         FROM tasker.workflow_step_transitions WHERE workflow_step_uuid = $1`,
      [
        stepUuid,
        to,
        from,
        JSON.stringify({
          ...metadata,
          timestamp: new Date().toISOString(),
          processor_uuid: this.#processorUuid,
        }),
      ],
    );
  }

  async #transitionTask(
    tx: SqlExecutor,
    taskUuid: string,
    from: string | null,
    to: TaskState,
    metadata: Record<string, unknown>,
  ): Promise<void> {
    await tx.query(
      `UPDATE tasker.task_transitions SET most_recent = false, updated_at = clock_timestamp()
        WHERE task_uuid = $1 AND most_recent`,
      [taskUuid],
    );
    await tx.query(
      `INSERT INTO tasker.task_transitions
         (task_uuid, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at,
          processor_uuid, transition_metadata)
       SELECT $1, $2, $3, $4::jsonb, COALESCE(MAX(sort_key), 0) + 1, true, clock_timestamp(),
              clock_timestamp(), $5, $4::jsonb
         FROM tasker.task_transitions WHERE task_uuid = $1`,
      [
        taskUuid,
        to,
        from,
        JSON.stringify({ ...metadata, timestamp: new Date().toISOString() }),
        this.#processorUuid,
      ],
    );
  }

  async #enqueueStep(
    tx: SqlExecutor,
    task: TaskRow,
    step: { workflow_step_uuid: string; name: string; task_uuid: string },
    delay: number,
    emit: Emit,
  ): Promise<void> {
    await this.#transitionStep(tx, step.workflow_step_uuid, "pending", "enqueued", {
      event: stepEvent("Enqueue"),
    });
    const queue = `worker_${task.namespace}_queue`;
    const body = JSON.stringify({
      task_uuid: task.task_uuid,
      step_uuid: step.workflow_step_uuid,
      correlation_id: task.correlation_id,
    });
    await this.#queueWrite(
      tx,
      "SELECT tasker.pgmq_send_with_notify($1, $2::jsonb, $3::int) AS id",
      [queue, body, delay],
      (row) =>
        emit({ type: "step_enqueued", ...ids(step), delaySeconds: delay, msgId: Number(row?.id) }),
    );
  }

  /** Moves every pending step whose parents are all complete to `enqueued` and sends its message. */
  async #enqueueReadySteps(tx: SqlExecutor, taskUuid: string, emit: Emit): Promise<void> {
    const task = await this.#loadTask(tx, taskUuid);
    if (TERMINAL_TASK_STATES.includes(task.state)) return;
    const ready = await tx.query<{ workflow_step_uuid: string; name: string; task_uuid: string }>(
      `SELECT ws.workflow_step_uuid, ns.name, ws.task_uuid
         FROM tasker.workflow_steps ws
         JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
         LEFT JOIN tasker.workflow_step_transitions t
           ON t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent
        WHERE ws.task_uuid = $1 AND COALESCE(t.to_state, 'pending') = 'pending'
          AND NOT EXISTS (
            SELECT 1 FROM tasker.workflow_step_edges e
              LEFT JOIN tasker.workflow_step_transitions pt
                ON pt.workflow_step_uuid = e.from_step_uuid AND pt.most_recent
             WHERE e.to_step_uuid = ws.workflow_step_uuid
               AND COALESCE(pt.to_state, 'pending') NOT IN ('complete', 'resolved_manually'))
        ORDER BY ws.created_at, ws.workflow_step_uuid`,
      [taskUuid],
    );
    for (const step of ready) await this.#enqueueStep(tx, task, step, 0, emit);
  }

  async #finishTaskIfDone(tx: SqlExecutor, taskUuid: string, emit: Emit): Promise<void> {
    const task = await this.#loadTask(tx, taskUuid);
    if (TERMINAL_TASK_STATES.includes(task.state)) return;
    const steps = await this.#taskSteps(tx, taskUuid);
    const failed = steps.find((s) => s.state === "error");
    if (failed) {
      await this.#failTask(tx, taskUuid, "step_failed", emit, failed.name);
      return;
    }
    if (steps.every((s) => DONE_STATES.includes(s.state))) {
      await this.#transitionTask(tx, taskUuid, task.state, "evaluating_results", {
        event: "evaluate",
      });
      await this.#transitionTask(tx, taskUuid, "evaluating_results", "complete", {
        event: "complete",
      });
      await tx.query(
        `UPDATE tasker.tasks SET complete = true, completed_at = clock_timestamp(),
                updated_at = clock_timestamp() WHERE task_uuid = $1`,
        [taskUuid],
      );
      emit({ type: "task_completed", taskUuid });
    }
  }

  async #failTask(
    tx: SqlExecutor,
    taskUuid: string,
    reason: string,
    emit: Emit,
    stepName?: string,
    detail?: string,
  ): Promise<void> {
    const task = await this.#loadTask(tx, taskUuid);
    if (TERMINAL_TASK_STATES.includes(task.state)) return;
    const metadata = { event: "fail", reason, step_name: stepName ?? null, detail: detail ?? null };
    await this.#transitionTask(tx, taskUuid, task.state, "blocked_by_failures", metadata);
    await this.#transitionTask(tx, taskUuid, "blocked_by_failures", "error", metadata);
    await tx.query("UPDATE tasker.tasks SET updated_at = clock_timestamp() WHERE task_uuid = $1", [
      taskUuid,
    ]);
    emit({ type: "task_failed", taskUuid, reason, stepName, detail });
  }

  async #recoverStaleSteps(): Promise<void> {
    const staleness = this.#staleness!;
    const candidates = await this.#client.query<{
      workflow_step_uuid: string;
      task_uuid: string;
      transition_uuid: string;
      state: StepState;
      age_seconds: number;
      namespace: string;
      template_step_name: string;
      configuration: TaskTemplate;
    }>(
      `SELECT ws.workflow_step_uuid, ws.task_uuid, t.workflow_step_transition_uuid AS transition_uuid,
              t.to_state AS state, EXTRACT(EPOCH FROM (clock_timestamp()::timestamp - t.created_at))::float8 AS age_seconds,
              tns.name AS namespace, COALESCE(ws.inputs->>'__template_step_name', ns.name) AS template_step_name,
              nt.configuration
         FROM tasker.workflow_steps ws
         JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
         JOIN tasker.workflow_step_transitions t ON t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent
         JOIN tasker.tasks tk ON tk.task_uuid = ws.task_uuid
         JOIN tasker.named_tasks nt ON nt.named_task_uuid = tk.named_task_uuid
         JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
         JOIN tasker.task_transitions tt ON tt.task_uuid = tk.task_uuid AND tt.most_recent
        WHERE t.to_state IN ('in_progress', 'enqueued')
          AND tt.to_state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually')
          AND clock_timestamp()::timestamp - t.created_at > make_interval(secs => $1)`,
      [staleness.afterSeconds],
    );
    for (const c of candidates) {
      const def = this.#definition(c.configuration, c.template_step_name);
      const threshold = Math.max(staleness.afterSeconds, def?.timeout_seconds ?? 0);
      if (c.age_seconds <= threshold) continue;
      const events: SimEvent[] = [];
      await this.#transaction(async (tx) => {
        await tx.query(
          "SELECT 1 FROM tasker.workflow_steps WHERE workflow_step_uuid = $1 FOR UPDATE",
          [
            c.workflow_step_uuid,
          ],
        );
        const step = await this.#loadStep(tx, c.workflow_step_uuid);
        // Reported or claimed meanwhile: the claim is live after all.
        if (!step || step.transition_uuid !== c.transition_uuid) return;
        const task = await this.#loadTask(tx, c.task_uuid);
        if (TERMINAL_TASK_STATES.includes(task.state)) return;
        if (step.state === "enqueued") {
          const queued = await (this.#queuesApart ? this.#queue : tx).query(
            `SELECT 1 FROM pgmq."q_worker_${c.namespace}_queue" WHERE message->>'step_uuid' = $1 LIMIT 1`,
            [c.workflow_step_uuid],
          );
          if (queued.length > 0 || staleness.action !== "reset") return;
          await this.#transitionStep(tx, step.workflow_step_uuid, "enqueued", "pending", {
            event: stepEvent("ResetForRetry"),
            reason: "staleness: enqueued without a message",
          });
          events.push({ type: "step_reset", ...ids(step), from: "enqueued", reason: "staleness" });
          await this.#enqueueStep(tx, task, step, 0, (e) => events.push(e));
          return;
        }
        if (staleness.action === "error") {
          await this.#failTask(
            tx,
            task.task_uuid,
            "staleness_timeout",
            (e) => events.push(e),
            step.name,
            `step in_progress for more than ${threshold} s`,
          );
          return;
        }
        await this.#transitionStep(tx, step.workflow_step_uuid, "in_progress", "error", {
          event: stepEvent("Fail", { message: "staleness_timeout" }),
          reason: `staleness: in_progress for more than ${threshold} s`,
        });
        await this.#transitionStep(tx, step.workflow_step_uuid, "error", "pending", {
          event: stepEvent("ResetForRetry"),
        });
        await tx.query(
          "UPDATE tasker.workflow_steps SET in_process = false, updated_at = clock_timestamp() WHERE workflow_step_uuid = $1",
          [step.workflow_step_uuid],
        );
        events.push({ type: "step_reset", ...ids(step), from: "in_progress", reason: "staleness" });
        await this.#enqueueStep(tx, task, step, 0, (e) => events.push(e));
      });
      for (const e of events) this.#emit(e);
    }
  }

  #definition(template: TaskTemplate, templateStepName: string): StepDefinition | undefined {
    return template.steps.find((s) => s.name === templateStepName);
  }

  async #loadStep(tx: SqlExecutor, stepUuid: string): Promise<StepRow | undefined> {
    const rows = await tx.query<StepRow>(
      `SELECT ws.workflow_step_uuid, ws.task_uuid, ns.name,
              COALESCE(ws.inputs->>'__template_step_name', ns.name) AS template_step_name,
              COALESCE(t.to_state, 'pending') AS state, t.workflow_step_transition_uuid AS transition_uuid,
              t.from_state, t.metadata, ws.attempts, ws.max_attempts, ws.retryable, ws.in_process,
              ws.results, ws.inputs
         FROM tasker.workflow_steps ws
         JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
         LEFT JOIN tasker.workflow_step_transitions t
           ON t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent
        WHERE ws.workflow_step_uuid = $1`,
      [stepUuid],
    );
    return rows[0];
  }

  async #taskSteps(tx: SqlExecutor, taskUuid: string): Promise<StepRow[]> {
    return await tx.query<StepRow>(
      `SELECT ws.workflow_step_uuid, ws.task_uuid, ns.name,
              COALESCE(ws.inputs->>'__template_step_name', ns.name) AS template_step_name,
              COALESCE(t.to_state, 'pending') AS state, t.workflow_step_transition_uuid AS transition_uuid,
              t.from_state, t.metadata, ws.attempts, ws.max_attempts, ws.retryable, ws.in_process,
              ws.results, ws.inputs
         FROM tasker.workflow_steps ws
         JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
         LEFT JOIN tasker.workflow_step_transitions t
           ON t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent
        WHERE ws.task_uuid = $1
        ORDER BY ws.created_at, ws.workflow_step_uuid`,
      [taskUuid],
    );
  }

  async #loadTask(tx: SqlExecutor, taskUuid: string): Promise<TaskRow> {
    const rows = await tx.query<TaskRow>(
      `SELECT t.task_uuid, t.correlation_id, t.context, tns.name AS namespace, nt.name, nt.version,
              nt.configuration, COALESCE(tt.to_state, 'pending') AS state
         FROM tasker.tasks t
         JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
         JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
         LEFT JOIN tasker.task_transitions tt ON tt.task_uuid = t.task_uuid AND tt.most_recent
        WHERE t.task_uuid = $1`,
      [taskUuid],
    );
    if (!rows[0]) {
      throw new TaskerDoubleError(
        "task_not_found",
        `Cannot find task as it does not exist: ${taskUuid}`,
        {
          details: { taskUuid },
        },
      );
    }
    return rows[0];
  }

  /** The task's state and each step's state, attempts, timing and error (no waiting). */
  async taskReport(taskUuid: string): Promise<TaskReport> {
    const task = await this.#loadTask(this.#client, taskUuid);
    const [timing] = await this.#client.query<
      { elapsed_ms: number; metadata: Record<string, unknown> | null }
    >(
      `SELECT EXTRACT(EPOCH FROM (
                COALESCE((SELECT max(created_at) FROM tasker.task_transitions
                           WHERE task_uuid = t.task_uuid AND to_state IN ('complete', 'error')),
                         clock_timestamp()::timestamp) - t.created_at)) * 1000 AS elapsed_ms,
              (SELECT metadata FROM tasker.task_transitions WHERE task_uuid = t.task_uuid AND most_recent) AS metadata
         FROM tasker.tasks t WHERE t.task_uuid = $1`,
      [taskUuid],
    );
    const rows = await this.#client.query<{
      workflow_step_uuid: string;
      name: string;
      template_step_name: string;
      state: StepState;
      attempts: number | null;
      max_attempts: number | null;
      results: Record<string, unknown> | null;
      elapsed_ms: number | null;
    }>(
      `SELECT ws.workflow_step_uuid, ns.name,
              COALESCE(ws.inputs->>'__template_step_name', ns.name) AS template_step_name,
              COALESCE(t.to_state, 'pending') AS state, ws.attempts, ws.max_attempts, ws.results,
              (SELECT EXTRACT(EPOCH FROM (
                        max(x.created_at) FILTER (WHERE x.to_state IN ('complete', 'error'))
                      - min(x.created_at) FILTER (WHERE x.to_state = 'enqueued'))) * 1000
                 FROM tasker.workflow_step_transitions x
                WHERE x.workflow_step_uuid = ws.workflow_step_uuid) AS elapsed_ms
         FROM tasker.workflow_steps ws
         JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
         LEFT JOIN tasker.workflow_step_transitions t
           ON t.workflow_step_uuid = ws.workflow_step_uuid AND t.most_recent
        WHERE ws.task_uuid = $1
        ORDER BY ws.created_at, ns.name`,
      [taskUuid],
    );
    const steps = rows.map((r): StepReport => {
      const results = isObject(r.results) ? r.results : undefined;
      const metadata = isObject(results?.metadata) ? results.metadata : undefined;
      const error = isObject(results?.error) ? results.error : undefined;
      const report: StepReport = {
        stepUuid: r.workflow_step_uuid,
        name: r.name,
        templateStepName: r.template_step_name,
        state: r.state,
        attempts: r.attempts ?? 0,
        maxAttempts: r.max_attempts ?? 3,
      };
      if (typeof metadata?.execution_time_ms === "number") {
        report.executionMs = metadata.execution_time_ms;
      }
      if (r.elapsed_ms !== null) report.elapsedMs = Number(r.elapsed_ms);
      if (results && results.success === false) {
        if (typeof metadata?.error_code === "string") report.errorCode = metadata.error_code;
        if (typeof metadata?.error_type === "string") report.errorType = metadata.error_type;
        if (typeof error?.message === "string") report.errorMessage = error.message;
      }
      if (results && results.success === true) report.result = results.result;
      return report;
    });
    const report: TaskReport = {
      taskUuid,
      correlationId: task.correlation_id,
      namespace: task.namespace,
      name: task.name,
      version: task.version,
      state: task.state,
      complete: task.state === "complete",
      elapsedMs: Number(timing.elapsed_ms),
      steps,
    };
    if (
      task.state === "error" && isObject(timing.metadata) &&
      typeof timing.metadata.reason === "string"
    ) {
      report.failure = {
        reason: timing.metadata.reason,
        ...(typeof timing.metadata.step_name === "string"
          ? { stepName: timing.metadata.step_name }
          : {}),
        ...(typeof timing.metadata.detail === "string" ? { detail: timing.metadata.detail } : {}),
      };
    }
    return report;
  }

  /**
   * Waits until the task is `complete` or `error` and returns its report.
   * Throws `task_timeout` (with the last report in `details.report`) after
   * `timeoutMs` (default 60 s).
   */
  async waitForTask(
    taskUuid: string,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<TaskReport> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const report = await this.taskReport(taskUuid);
      if (TERMINAL_TASK_STATES.includes(report.state)) return report;
      if (Date.now() >= deadline || options.signal?.aborted) {
        throw new TaskerDoubleError(
          "task_timeout",
          `Cannot finish waiting for task ${taskUuid} as it is still ${report.state} after ${
            options.timeoutMs ?? 60_000
          } ms`,
          { details: { report } },
        );
      }
      await new Promise((r) =>
        setTimeout(r, Math.min(this.#pollMs, Math.max(1, deadline - Date.now())))
      );
    }
  }
}

/**
 * The steps to create along with `seed`: deferred_convergence steps joining
 * any of them, and — once all their dependencies exist — decision points
 * after them (Tasker's "exit decisions") and steps after a convergence.
 */
function closeOver(template: TaskTemplate, existing: Set<string>, seed: Set<string>): Set<string> {
  const out = new Set(seed);
  const typeOf = new Map(template.steps.map((s) => [s.name, s.type]));
  for (let changed = true; changed;) {
    changed = false;
    for (const s of template.steps) {
      if (s.type === "batch_worker" || out.has(s.name) || existing.has(s.name)) continue;
      const fresh = s.dependencies.filter((d) => out.has(d));
      if (fresh.length === 0) continue;
      const allKnown = s.dependencies.every((d) => out.has(d) || existing.has(d));
      const add = s.type === "deferred_convergence" ||
        (allKnown &&
          (s.type === "decision" || fresh.every((d) => typeOf.get(d) === "deferred_convergence")));
      if (add) {
        out.add(s.name);
        changed = true;
      }
    }
  }
  return out;
}

function ids(step: { workflow_step_uuid: string; task_uuid: string; name: string }) {
  return { taskUuid: step.task_uuid, stepUuid: step.workflow_step_uuid, stepName: step.name };
}

function batchMetadata(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ["checkpoint_interval", "cursor_field", "failure_strategy"]) {
    if (config[key] !== undefined) out[key] = config[key];
  }
  return out;
}

function checkTransitionMetadata(
  label: string,
  metadata: Record<string, unknown> | null,
  eventType: string,
  correlationId: string,
): string[] {
  const problems: string[] = [];
  if (!isObject(metadata)) return [`${label} transition metadata: expected object`];
  const event = metadata.event;
  if (typeof event !== "string") {
    problems.push(`${label} transition metadata.event: expected a JSON string of the StepEvent`);
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(event);
    } catch {
      parsed = undefined;
    }
    if (!isObject(parsed) || parsed.type !== eventType) {
      problems.push(
        `${label} transition metadata.event: expected {"type":"${eventType}",...}, got ${
          event.slice(0, 80)
        }`,
      );
    }
  }
  if (typeof metadata.worker_uuid !== "string" || !UUID.test(metadata.worker_uuid)) {
    problems.push(`${label} transition metadata.worker_uuid: expected UUID string`);
  }
  if (metadata.correlation_id !== correlationId) {
    problems.push(
      `${label} transition metadata.correlation_id: expected the task's ${correlationId}`,
    );
  }
  if (typeof metadata.timestamp !== "string" || Number.isNaN(Date.parse(metadata.timestamp))) {
    problems.push(`${label} transition metadata.timestamp: expected an RFC 3339 string`);
  }
  return problems;
}

/** A report of a step handed back before its handler started (error code `worker_shutdown`). */
function isHandBack(t: { to_state: string; metadata: Record<string, unknown> | null }): boolean {
  if (t.to_state !== "enqueued_as_error_for_orchestration") return false;
  const event = t.metadata?.event;
  if (typeof event !== "string") return false;
  try {
    // The worker's own code, not a guest's: a handler may fail with any error_code it likes,
    // but wasm-broker's custom.wasm_broker_code then says handler_error.
    const metadata = JSON.parse(event)?.data?.metadata;
    return metadata?.error_code === "worker_shutdown" &&
      metadata?.custom?.wasm_broker_code === "worker_shutdown";
  } catch {
    return false; // checkTransitionMetadata reports an event that is not JSON
  }
}
