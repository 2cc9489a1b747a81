/**
 * Installs the Tasker test double's schema (`tasker_double/schema.sql`): the
 * tables, indexes and functions of Tasker's schema that a worker touches, and
 * the orchestration queues. Test and demo tooling, not product code.
 *
 * @module
 */

import type { SqlClient, SqlExecutor } from "../src/db/sql_client.ts";
import { splitSqlStatements } from "./split_sql_statements.ts";
import { TaskerDoubleError } from "./tasker_double_error.ts";

/** Prefix of the comment on schema `tasker` that marks an installation by the double. */
export const TASKER_DOUBLE_MARKER = "tasker_double:";

// Any 64-bit constant works; this one is "tasker_double" hashed, so it will not collide with
// advisory locks other tools take by accident.
const INSTALL_LOCK_KEY = 7_461_837_302_155_013;

let cachedScript: { text: string; statements: string[]; version: string } | undefined;

async function loadSchema(): Promise<{ statements: string[]; version: string }> {
  if (!cachedScript) {
    const text = await Deno.readTextFile(new URL("./schema.sql", import.meta.url));
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
    );
    const version = Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join(
      "",
    );
    cachedScript = { text, statements: splitSqlStatements(text), version };
  }
  return cachedScript;
}

function hasTransaction(client: SqlExecutor): client is SqlClient {
  return typeof (client as Partial<SqlClient>).transaction === "function";
}

/**
 * Creates schema `tasker` as the double defines it and the orchestration
 * queues. pgmq must already be installed (`installPgmq` in
 * `src/db/pgmq_install.ts`).
 *
 * Idempotent and safe when several processes run it at once: with a
 * {@link SqlClient} it runs in one transaction holding
 * `pg_advisory_xact_lock`, so a second installer waits and then finds the
 * schema marked current (a comment on schema `tasker` carrying a digest of
 * `schema.sql`) and does nothing. A plain executor is taken to be a
 * transaction the caller owns. When `schema.sql` changed since the last
 * install, its statements (all `IF NOT EXISTS` / `OR REPLACE`) run again.
 *
 * Refuses with `schema_conflict` when schema `tasker` holds a
 * `workflow_steps` table the double did not install: replacing a real
 * Tasker's functions with the double's would be harmful.
 *
 * @example
 * ```ts ignore
 * import { installTaskerDouble } from "./install_tasker_double.ts";
 * await installTaskerDouble(client); // after installPgmq(client)
 * ```
 */
export async function installTaskerDouble(client: SqlExecutor): Promise<void> {
  const schema = await loadSchema();
  if (hasTransaction(client)) {
    await client.transaction((tx) => install(tx, schema));
  } else {
    await install(client, schema);
  }
}

async function install(
  tx: SqlExecutor,
  schema: { statements: string[]; version: string },
): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock($1::bigint)", [String(INSTALL_LOCK_KEY)]);
  const rows = await tx.query<{ description: string | null; has_steps: boolean }>(
    `SELECT d.description,
            to_regclass('tasker.workflow_steps') IS NOT NULL AS has_steps
       FROM pg_namespace n
       LEFT JOIN pg_description d
         ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0
      WHERE n.nspname = 'tasker'`,
  );
  const marker = `${TASKER_DOUBLE_MARKER}${schema.version}`;
  const existing = rows[0];
  if (existing) {
    if (existing.description === marker) return;
    const ours = existing.description?.startsWith(TASKER_DOUBLE_MARKER) ?? false;
    if (!ours && existing.has_steps) {
      throw new TaskerDoubleError(
        "schema_conflict",
        "Cannot install the Tasker double as schema tasker already holds a workflow_steps table " +
          "it did not install (is this a real Tasker database?)",
        { details: { description: existing.description } },
      );
    }
  }
  const hasPgmq = await tx.query<{ ok: boolean }>(
    "SELECT to_regprocedure('pgmq.send(text,jsonb,integer)') IS NOT NULL AS ok",
  );
  if (!hasPgmq[0]?.ok) {
    throw new TaskerDoubleError(
      "schema_conflict",
      "Cannot install the Tasker double as pgmq is not installed: run installPgmq first",
    );
  }
  for (const statement of schema.statements) await tx.query(statement);
  // COMMENT takes no parameters; the marker is a fixed prefix and hex, so inlining is safe.
  await tx.query(`COMMENT ON SCHEMA tasker IS '${marker}'`);
}
