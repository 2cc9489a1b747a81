/**
 * What of Tasker's schema a worker needs, and which of it a database lacks:
 * the broker's start-up check, so a `DATABASE_URL` that names the wrong
 * database (or one Tasker has not migrated yet) is said at once instead of
 * showing only as steps that never arrive.
 *
 * @module
 */
import type { SqlExecutor } from "../db/sql_client.ts";

/**
 * Tables and functions the worker's statements use in Tasker's database
 * (hydrate_step.ts, claim_step.ts, report_step.ts).
 */
export const TASKER_OBJECTS = [
  "tasker.task_namespaces",
  "tasker.named_tasks",
  "tasker.tasks",
  "tasker.named_steps",
  "tasker.workflow_steps",
  "tasker.workflow_step_edges",
  "tasker.workflow_step_transitions",
  "tasker.get_step_transitive_dependencies(uuid)",
] as const;

/** What the worker needs beside the queues, wherever they live. */
export const QUEUE_OBJECTS = ["tasker.pgmq_send_with_notify(text,jsonb,integer)"] as const;

/**
 * The names in `objects` (tables, or functions written with their argument
 * types) that do not exist in the database `client` is connected to, in order.
 *
 * @example
 * ```ts ignore
 * const missing = await missingObjects(client, TASKER_OBJECTS);
 * if (missing.length) log.warn("Tasker's schema is missing", { missing });
 * ```
 */
export async function missingObjects(
  client: SqlExecutor,
  objects: readonly string[],
): Promise<string[]> {
  const rows = await client.query<{ name: string; present: boolean }>(
    `SELECT o.name,
            CASE WHEN o.name LIKE '%(%' THEN to_regprocedure(o.name) IS NOT NULL
                 ELSE to_regclass(o.name) IS NOT NULL END AS present
     FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS o(name, ord)
     ORDER BY o.ord`,
    [JSON.stringify(objects)],
  );
  return rows.filter((r) => !r.present).map((r) => r.name);
}
