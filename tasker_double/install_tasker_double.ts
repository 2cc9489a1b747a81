/**
 * Installs the Tasker test double's schema: the tables, indexes and functions
 * of Tasker's schema that a worker touches (`tasker_double/schema.sql`), and
 * the queue side — Tasker's functions beside pgmq and the orchestration
 * queues (`tasker_double/queue_functions.sql`) — in the same database or in
 * a queue database of its own. Test and demo tooling, not product code.
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

/** The double's two SQL files: Tasker's tables and functions, and what lives beside pgmq. */
type Part = "tables" | "queues";
const PART_FILES: Record<Part, string> = {
  tables: "./schema.sql",
  queues: "./queue_functions.sql",
};

interface Script {
  statements: Record<Part, string[]>;
  /** A digest of both files: an install of either part is current only for this text. */
  version: string;
}

let cachedScript: Script | undefined;

async function loadSchema(): Promise<Script> {
  if (!cachedScript) {
    const tables = await Deno.readTextFile(new URL(PART_FILES.tables, import.meta.url));
    const queues = await Deno.readTextFile(new URL(PART_FILES.queues, import.meta.url));
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${tables}\0${queues}`)),
    );
    const version = Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join(
      "",
    );
    cachedScript = {
      statements: { tables: splitSqlStatements(tables), queues: splitSqlStatements(queues) },
      version,
    };
  }
  return cachedScript;
}

function hasTransaction(client: SqlExecutor): client is SqlClient {
  return typeof (client as Partial<SqlClient>).transaction === "function";
}

/** Options for {@link installTaskerDouble}. */
export interface InstallTaskerDoubleOptions {
  /**
   * Whether the queue side (`queue_functions.sql`: `tasker.pgmq_send_with_notify`,
   * `tasker.extract_queue_namespace`, the orchestration queues) goes into this
   * database too. Default true; false for a Tasker database whose queues live
   * in another database (install them there with {@link installTaskerDoubleQueues}).
   */
  queues?: boolean;
}

/**
 * Creates schema `tasker` as the double defines it (`schema.sql`) and, by
 * default, the queue side (`queue_functions.sql`), which needs pgmq already
 * installed (`installPgmq` in `src/db/pgmq_install.ts`).
 *
 * Idempotent and safe when several processes run it at once: with a
 * {@link SqlClient} it runs in one transaction holding
 * `pg_advisory_xact_lock`, so a second installer waits and then finds the
 * schema marked current (a comment on schema `tasker` carrying a digest of
 * the SQL files and the parts installed) and does nothing. A plain executor
 * is taken to be a transaction the caller owns. When the files changed since
 * the last install, their statements (all `IF NOT EXISTS` / `OR REPLACE`)
 * run again. Resolves to whether anything ran.
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
export async function installTaskerDouble(
  client: SqlExecutor,
  options: InstallTaskerDoubleOptions = {},
): Promise<boolean> {
  return await installParts(client, options.queues ?? true ? ["tables", "queues"] : ["tables"]);
}

/**
 * Installs only the double's queue side (`queue_functions.sql`) into a queue
 * database kept apart from Tasker's (`PGMQ_DATABASE_URL`); pgmq must be
 * installed there. Idempotent like {@link installTaskerDouble}; refuses with
 * `schema_conflict` when `tasker.pgmq_send_with_notify` exists and the double
 * did not install it (a real Tasker queue database).
 *
 * @example
 * ```ts ignore
 * await installTaskerDoubleQueues(queueClient); // after installPgmq(queueClient)
 * ```
 */
export async function installTaskerDoubleQueues(client: SqlExecutor): Promise<boolean> {
  return await installParts(client, ["queues"]);
}

/** Installs `parts`; whether anything ran (false: marked current already). */
async function installParts(client: SqlExecutor, parts: Part[]): Promise<boolean> {
  const schema = await loadSchema();
  return hasTransaction(client)
    ? await client.transaction((tx) => install(tx, schema, parts))
    : await install(client, schema, parts);
}

async function install(tx: SqlExecutor, schema: Script, requested: Part[]): Promise<boolean> {
  await tx.query("SELECT pg_advisory_xact_lock($1::bigint)", [String(INSTALL_LOCK_KEY)]);
  const rows = await tx.query<
    { description: string | null; has_steps: boolean; has_send: boolean }
  >(
    `SELECT d.description,
            to_regclass('tasker.workflow_steps') IS NOT NULL AS has_steps,
            to_regprocedure('tasker.pgmq_send_with_notify(text,jsonb,integer)') IS NOT NULL
              AS has_send
       FROM pg_namespace n
       LEFT JOIN pg_description d
         ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0
      WHERE n.nspname = 'tasker'`,
  );
  const existing = rows[0];
  // The marker: `tasker_double:<version>:<parts>`, parts joined by "+".
  const [prefixed, version, partList] = existing?.description?.split(":") ?? [];
  const ours = `${prefixed}:` === TASKER_DOUBLE_MARKER;
  const installed = new Set(ours && version === schema.version ? partList?.split("+") : []);
  const missing = requested.filter((part) => !installed.has(part));
  if (missing.length === 0) return false;
  if (existing && !ours && (existing.has_steps || existing.has_send)) {
    throw new TaskerDoubleError(
      "schema_conflict",
      `Cannot install the Tasker double as schema tasker already holds ${
        existing.has_steps ? "a workflow_steps table" : "tasker.pgmq_send_with_notify"
      } it did not install (is this a real Tasker database?)`,
      { details: { description: existing.description } },
    );
  }
  if (missing.includes("queues")) {
    const hasPgmq = await tx.query<{ ok: boolean }>(
      "SELECT to_regprocedure('pgmq.send(text,jsonb,integer)') IS NOT NULL AS ok",
    );
    if (!hasPgmq[0]?.ok) {
      throw new TaskerDoubleError(
        "schema_conflict",
        "Cannot install the Tasker double's queue side as pgmq is not installed: run installPgmq first",
      );
    }
  }
  for (const part of missing) {
    for (const statement of schema.statements[part]) await tx.query(statement);
    installed.add(part);
  }
  const marker = `${TASKER_DOUBLE_MARKER}${schema.version}:${
    (["tables", "queues"] as const).filter((p) => installed.has(p)).join("+")
  }`;
  // COMMENT takes no parameters; the marker is a fixed prefix, hex and part names: safe inline.
  await tx.query(`COMMENT ON SCHEMA tasker IS '${marker}'`);
  return true;
}
