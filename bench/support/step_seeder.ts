/**
 * Feeds a broker steps the way Tasker's orchestration does, in bulk: a
 * one-step task template, then many tasks of it with their `workflow_steps`
 * rows created in one statement (`pending`, no transition yet), then
 * `enqueue` moving steps `pending → enqueued` (a `workflow_step_transitions`
 * row) and sending each step's message through
 * `tasker.pgmq_send_with_notify` — one statement and one transaction for
 * any number of steps.
 *
 * The rows are those `tasker_double/orchestration_simulator.ts` writes for a
 * one-step task (task, one task transition to `steps_in_process`, step with
 * `inputs` = the handler's initialization, enqueue transition, message),
 * without its per-row round trips: creating 10,000 steps takes one
 * statement instead of ~150,000.
 *
 * @example
 * ```ts ignore
 * const seeder = await StepSeeder.create(client, { template: "bench_noop", callable: "bench.noop@1.0.0" });
 * const steps = await seeder.createSteps(1000, { context: {} });
 * await seeder.enqueue(steps);       // 1000 messages, visible at commit
 * ```
 *
 * @module
 */
import type { SqlClient, SqlExecutor } from "../../src/db/sql_client.ts";
import { OrchestrationSimulator } from "../../tasker_double/orchestration_simulator.ts";

/** One created step. */
export interface SeededStep {
  taskUuid: string;
  stepUuid: string;
  correlationId: string;
}

/** Options for {@link StepSeeder.create}. */
export interface StepSeederOptions {
  /** Template (named task) name. */
  template: string;
  /** The step's `handler.callable`. */
  callable: string;
  /** The step's `handler.initialization`. */
  initialization?: Record<string, unknown>;
  /** Task namespace (queue `worker_<namespace>_queue`). Default `catalog`. */
  namespace?: string;
  /** The step's name in the template. Default `work`. */
  stepName?: string;
}

const DEPENDENT_SYSTEM = "wasm_broker_bench";

const CREATE_SQL = `
WITH t AS (
  INSERT INTO tasker.tasks
    (named_task_uuid, requested_at, initiator, source_system, reason, context, identity_hash,
     created_at, updated_at, priority, correlation_id)
  SELECT $1::uuid, clock_timestamp(), 'bench', 'bench', 'bench', $2::jsonb,
         md5(gen_random_uuid()::text), clock_timestamp(), clock_timestamp(), 0,
         tasker.uuid_generate_v7()
  FROM generate_series(1, $3::integer)
  RETURNING task_uuid, correlation_id
), tt AS (
  INSERT INTO tasker.task_transitions
    (task_uuid, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at)
  SELECT task_uuid, 'steps_in_process', 'enqueuing_steps', '{"event":"steps_enqueued"}'::jsonb, 1,
         true, clock_timestamp(), clock_timestamp()
  FROM t
), s AS (
  INSERT INTO tasker.workflow_steps
    (task_uuid, named_step_uuid, retryable, max_attempts, inputs, created_at, updated_at)
  SELECT t.task_uuid, $4::uuid, true, 3, $5::jsonb, clock_timestamp(), clock_timestamp()
  FROM t
  RETURNING workflow_step_uuid, task_uuid
)
SELECT s.task_uuid, s.workflow_step_uuid AS step_uuid, t.correlation_id
FROM s JOIN t USING (task_uuid)`;

// pending → enqueued (the steps have no transition yet: sort_key 1), then the
// message, as orchestration's enqueue does. `$1` is a uuid[] literal.
const ENQUEUE_SQL = `
WITH tr AS (
  INSERT INTO tasker.workflow_step_transitions
    (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent,
     created_at, updated_at)
  SELECT u, 'enqueued', 'pending', $2::jsonb, 1, true, clock_timestamp(), clock_timestamp()
  FROM unnest($1::text::uuid[]) AS u
  RETURNING workflow_step_uuid
)
SELECT tasker.pgmq_send_with_notify(
         $3::text,
         jsonb_build_object('task_uuid', ws.task_uuid, 'step_uuid', ws.workflow_step_uuid,
                            'correlation_id', t.correlation_id),
         0) AS msg_id
FROM tr
JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = tr.workflow_step_uuid
JOIN tasker.tasks t ON t.task_uuid = ws.task_uuid`;

/** Creates and enqueues steps in bulk; see the module doc. */
export class StepSeeder {
  readonly #client: SqlClient;
  readonly #namedTaskUuid: string;
  readonly #namedStepUuid: string;
  readonly #inputs: string | null;
  readonly #metadata: string;
  /** The namespace queue the steps' messages go to. */
  readonly queue: string;

  private constructor(
    client: SqlClient,
    ids: { namedTaskUuid: string; namedStepUuid: string },
    inputs: Record<string, unknown>,
    queue: string,
  ) {
    this.#client = client;
    this.#namedTaskUuid = ids.namedTaskUuid;
    this.#namedStepUuid = ids.namedStepUuid;
    // Tasker stores handler.initialization as the step's inputs (NULL when empty).
    this.#inputs = Object.keys(inputs).length === 0 ? null : JSON.stringify(inputs);
    this.#metadata = JSON.stringify({
      event: JSON.stringify({ type: "Enqueue" }),
      processor_uuid: crypto.randomUUID(),
    });
    this.queue = queue;
  }

  /** Registers the one-step template (through the simulator) and its named step. */
  static async create(client: SqlClient, options: StepSeederOptions): Promise<StepSeeder> {
    const namespace = options.namespace ?? "catalog";
    const stepName = options.stepName ?? "work";
    const initialization = options.initialization ?? {};
    const sim = new OrchestrationSimulator(client, { namespace });
    const { namedTaskUuid } = await sim.registerTemplate({
      name: options.template,
      namespace_name: namespace,
      version: "1.0.0",
      steps: [{ name: stepName, handler: { callable: options.callable, initialization } }],
    });
    await client.query(
      `INSERT INTO tasker.dependent_systems (name, created_at, updated_at)
       VALUES ($1, now(), now()) ON CONFLICT (name) DO NOTHING`,
      [DEPENDENT_SYSTEM],
    );
    const [step] = await client.query<{ id: string }>(
      `INSERT INTO tasker.named_steps (dependent_system_uuid, name, created_at, updated_at)
       SELECT dependent_system_uuid, $2, now(), now() FROM tasker.dependent_systems WHERE name = $1
       ON CONFLICT (dependent_system_uuid, name) DO UPDATE SET updated_at = now()
       RETURNING named_step_uuid AS id`,
      [DEPENDENT_SYSTEM, stepName],
    );
    return new StepSeeder(
      client,
      { namedTaskUuid, namedStepUuid: step.id },
      initialization,
      `worker_${namespace}_queue`,
    );
  }

  /** Creates `count` one-step tasks with `context`; their steps are `pending` (not enqueued). */
  async createSteps(count: number, options: { context: unknown }): Promise<SeededStep[]> {
    const rows = await this.#client.query<
      { task_uuid: string; step_uuid: string; correlation_id: string }
    >(CREATE_SQL, [
      this.#namedTaskUuid,
      JSON.stringify(options.context),
      count,
      this.#namedStepUuid,
      this.#inputs,
    ]);
    return rows.map((r) => ({
      taskUuid: r.task_uuid,
      stepUuid: r.step_uuid,
      correlationId: r.correlation_id,
    }));
  }

  /**
   * Moves `steps` to `enqueued` and sends their messages, in one statement
   * (one transaction: every message becomes visible at its commit). Returns
   * the message ids. `options.client` sends it on another connection (the
   * one orchestration would use) than the seeder's.
   */
  async enqueue(
    steps: readonly SeededStep[],
    options: { client?: SqlExecutor } = {},
  ): Promise<number[]> {
    if (steps.length === 0) return [];
    const metadata = JSON.stringify({
      ...JSON.parse(this.#metadata),
      timestamp: new Date().toISOString(),
    });
    const client = options.client ?? this.#client;
    const rows = await client.query<{ msg_id: number }>(ENQUEUE_SQL, [
      `{${steps.map((s) => s.stepUuid).join(",")}}`,
      metadata,
      this.queue,
    ]);
    return rows.map((r) => Number(r.msg_id));
  }
}
