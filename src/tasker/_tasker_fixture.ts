/**
 * Test-only helpers for the `src/tasker` SQL tests: rows in the Tasker
 * double's schema for one task, written directly (no simulator), and a way to
 * run one suite on every database kind the machine offers.
 *
 * @module
 */
import {
  canStartPostgres,
  startTestDatabase,
  type TestDatabase,
} from "../../tests/support/database_harness.ts";
import type { SqlClient, SqlExecutor } from "../db/sql_client.ts";

/** One step of a fixture task. */
export interface FixtureStep {
  name: string;
  /** The template entry; default `{name, handler: {callable: "catalog.transform"}}`. Null: none. */
  definition?: Record<string, unknown> | null;
  /** Names of steps this one depends on (edges from them to it). */
  dependsOn?: string[];
  /** The most recent transition's `to_state`; null: no transition at all. Default `enqueued`. */
  state?: string | null;
  results?: unknown;
  processed?: boolean;
  inputs?: Record<string, unknown> | null;
  attempts?: number | null;
  maxAttempts?: number | null;
}

/** Options for {@link createFixtureTask}. */
export interface FixtureTaskOptions {
  namespace?: string;
  context?: unknown;
  steps: FixtureStep[];
  /** Replaces the generated template configuration. */
  configuration?: unknown;
}

/** What {@link createFixtureTask} made. */
export interface FixtureTask {
  taskUuid: string;
  correlationId: string;
  namedTaskName: string;
  /** Step name → workflow_step_uuid. */
  steps: Record<string, string>;
}

/** Inserts a task with its template, steps, edges and transitions. */
export async function createFixtureTask(
  client: SqlExecutor,
  options: FixtureTaskOptions,
): Promise<FixtureTask> {
  const suffix = crypto.randomUUID().slice(0, 8);
  const namespace = options.namespace ?? "catalog";
  const [ns] = await client.query<{ id: string }>(
    `INSERT INTO tasker.task_namespaces (name, created_at, updated_at) VALUES ($1, now(), now())
     ON CONFLICT (name) DO UPDATE SET updated_at = now() RETURNING task_namespace_uuid AS id`,
    [namespace],
  );
  const [system] = await client.query<{ id: string }>(
    `INSERT INTO tasker.dependent_systems (name, created_at, updated_at) VALUES ($1, now(), now())
     RETURNING dependent_system_uuid AS id`,
    [`system_${suffix}`],
  );
  const taskName = `task_${suffix}`;
  const configuration = options.configuration !== undefined ? options.configuration : {
    name: taskName,
    namespace_name: namespace,
    version: "1.0.0",
    steps: options.steps.filter((s) => s.definition !== null).map((s) =>
      s.definition ?? {
        name: s.name,
        handler: { callable: "catalog.transform", initialization: { filter: "." } },
        dependencies: s.dependsOn ?? [],
      }
    ),
  };
  const [namedTask] = await client.query<{ id: string }>(
    `INSERT INTO tasker.named_tasks (task_namespace_uuid, name, version, configuration, created_at, updated_at)
     VALUES ($1, $2, '1.0.0', $3::jsonb, now(), now()) RETURNING named_task_uuid AS id`,
    [ns.id, taskName, JSON.stringify(configuration)],
  );
  const correlationId = crypto.randomUUID();
  const [task] = await client.query<{ id: string }>(
    `INSERT INTO tasker.tasks (named_task_uuid, requested_at, context, identity_hash, correlation_id,
                               created_at, updated_at)
     VALUES ($1, now(), $2::jsonb, $3, $4, now(), now()) RETURNING task_uuid AS id`,
    [namedTask.id, JSON.stringify(options.context ?? null), suffix, correlationId],
  );
  const steps: Record<string, string> = {};
  for (const s of options.steps) {
    const [named] = await client.query<{ id: string }>(
      `INSERT INTO tasker.named_steps (dependent_system_uuid, name, created_at, updated_at)
       VALUES ($1, $2, now(), now()) RETURNING named_step_uuid AS id`,
      [system.id, s.name],
    );
    const [step] = await client.query<{ id: string }>(
      `INSERT INTO tasker.workflow_steps (task_uuid, named_step_uuid, results, processed, inputs,
                                          attempts, max_attempts, created_at, updated_at)
       VALUES ($1, $2, $3::jsonb, $4, $5::jsonb, $6, $7, now(), now())
       RETURNING workflow_step_uuid AS id`,
      [
        task.id,
        named.id,
        s.results === undefined ? null : JSON.stringify(s.results),
        s.processed ?? false,
        s.inputs === undefined || s.inputs === null ? null : JSON.stringify(s.inputs),
        s.attempts ?? null,
        s.maxAttempts === undefined ? 3 : s.maxAttempts,
      ],
    );
    steps[s.name] = step.id;
    const state = s.state === undefined ? "enqueued" : s.state;
    if (state !== null) {
      await client.query(
        `INSERT INTO tasker.workflow_step_transitions
           (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at)
         VALUES ($1, $2, NULL, '{}'::jsonb, 1, true, now(), now())`,
        [step.id, state],
      );
    }
  }
  for (const s of options.steps) {
    for (const dep of s.dependsOn ?? []) {
      await client.query(
        `INSERT INTO tasker.workflow_step_edges (from_step_uuid, to_step_uuid, name, created_at, updated_at)
         VALUES ($1, $2, 'provides', now(), now())`,
        [steps[dep], steps[s.name]],
      );
    }
  }
  return { taskUuid: task.id, correlationId, namedTaskName: taskName, steps };
}

/** A step's transitions, oldest first. */
export async function transitionsOf(
  client: SqlExecutor,
  stepUuid: string,
): Promise<
  {
    to_state: string;
    from_state: string | null;
    sort_key: number;
    most_recent: boolean;
    metadata: Record<string, unknown>;
  }[]
> {
  return await client.query(
    `SELECT to_state, from_state, sort_key, most_recent, metadata
     FROM tasker.workflow_step_transitions WHERE workflow_step_uuid = $1 ORDER BY sort_key`,
    [stepUuid],
  );
}

/** A step's row. */
export async function stepRow(client: SqlExecutor, stepUuid: string): Promise<{
  attempts: number | null;
  in_process: boolean;
  results: unknown;
  last_attempted_at: Date | null;
}> {
  const [row] = await client.query<{
    attempts: number | null;
    in_process: boolean;
    results: unknown;
    last_attempted_at: Date | null;
  }>(
    `SELECT attempts, in_process, results, last_attempted_at FROM tasker.workflow_steps
     WHERE workflow_step_uuid = $1`,
    [stepUuid],
  );
  return row;
}

/** Database kinds a suite runs on, with whether this machine can run each. */
export const DATABASE_KINDS: { kind: "postgres" | "pglite"; ignore: boolean }[] = [
  { kind: "postgres", ignore: !canStartPostgres() },
  { kind: "pglite", ignore: false },
];

/**
 * Registers one Deno test per database kind; `suite` gets a fresh database
 * (shared by its steps) and the test context for `t.step`.
 */
export function testOnEveryDatabase(
  name: string,
  suite: (db: TestDatabase, t: Deno.TestContext) => Promise<void>,
): void {
  for (const { kind, ignore } of DATABASE_KINDS) {
    Deno.test({
      name: `${name} (${kind})`,
      ignore,
      // postgres.js and PGlite keep timers and sockets between statements.
      sanitizeOps: false,
      sanitizeResources: false,
      async fn(t) {
        const db = await startTestDatabase({ kind });
        try {
          await suite(db, t);
        } finally {
          await db.close();
        }
      },
    });
  }
}

/**
 * Waits until some session of this database waits on a lock (a statement
 * blocked by a rival's row or index entry), or fails after `timeoutMs`.
 */
export async function waitForLockWait(
  client: SqlExecutor,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (row.n > 0) return;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The values of settled results that must all have succeeded (the first failure is thrown). */
export function fulfilled<T>(settled: readonly PromiseSettledResult<T>[]): T[] {
  return settled.map((r) => {
    if (r.status === "rejected") throw r.reason;
    return r.value;
  });
}

/**
 * A rival transaction on a connection of its own, for race tests: `work`
 * runs in it, then it keeps its locks until `end()` commits it (or
 * `end("rollback")` rolls it back). `holding` resolves once `work` has run,
 * and rejects if the transaction failed before that.
 */
export function rivalTransaction(
  client: SqlClient,
  work: (tx: SqlExecutor) => Promise<unknown>,
): { holding: Promise<void>; end(how?: "commit" | "rollback"): Promise<void> } {
  let holds!: () => void;
  const held = new Promise<void>((resolve) => (holds = resolve));
  let finish!: (how: "commit" | "rollback") => void;
  const ending = new Promise<"commit" | "rollback">((resolve) => (finish = resolve));
  const rollback = new Error("the rival rolls back");
  const done = client.transaction(async (tx) => {
    await work(tx);
    holds();
    if (await ending === "rollback") throw rollback;
  }).catch((error) => {
    if (error !== rollback) throw error;
  });
  return {
    holding: Promise.race([
      held,
      done.then(() => Promise.reject(new Error("the rival ended before it held its locks"))),
    ]),
    end: async (how = "commit") => {
      finish(how);
      await done;
    },
  };
}
