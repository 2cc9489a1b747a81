/**
 * The PostgreSQL the end-to-end bench runs on, with what the bench needs to
 * say where the time goes:
 *
 * - `DATABASE_URL` set → a fresh database on that server
 *   (`startTestDatabase`), dropped at the end; CPU is counted for the
 *   backends serving that database; no `pg_stat_statements` (the server's
 *   configuration is not ours to change);
 * - else a throwaway cluster (Debian's binaries, fsync off, as the test
 *   harness runs it) with `pg_stat_statements` preloaded, so server-side
 *   execution time per statement is known; CPU is counted for the whole
 *   cluster.
 *
 * @example
 * ```ts ignore
 * const bench = await openBenchDatabase();
 * const usage = cpuSnapshot({ postgres: await bench.postgresProcesses() });
 * await bench.close();
 * ```
 *
 * @module
 */
import type { SqlClient } from "../../src/db/sql_client.ts";
import { startTestDatabase, type TestDatabase } from "../../tests/support/database_harness.ts";
import type { PostgresProcesses } from "./process_cpu.ts";
import { readStat } from "./process_cpu.ts";

/** One statement's totals from `pg_stat_statements`. */
export interface StatementStats {
  query: string;
  calls: number;
  /** Server execution time, ms (planning excluded). */
  totalMs: number;
  /** Planning time, ms (0 unless `track_planning` is on). */
  planMs: number;
}

/** Options for {@link openBenchDatabase}. */
export interface BenchDatabaseOptions {
  /**
   * Throwaway cluster only: `pg_stat_statements.track = all` (statements run
   * inside functions, e.g. pgmq's dynamic SQL, are listed too — and counted
   * in their callers as well) and `track_planning = on`.
   */
  nestedStatements?: boolean;
  /**
   * Throwaway cluster only: connect through its Unix socket
   * (`?host=<dir>`) instead of loopback TCP.
   */
  socket?: boolean;
}

/** The bench's database. */
export interface BenchDatabase {
  db: TestDatabase;
  url: string;
  /** What it is, for the report. */
  describe: string;
  /** Server settings that matter for commit cost. */
  settings: Record<string, string>;
  /** The PostgreSQL processes whose CPU is the database's. */
  postgresProcesses(): Promise<PostgresProcesses>;
  /** `pg_stat_statements` when the cluster has it. */
  statements?: {
    reset(): Promise<void>;
    read(): Promise<StatementStats[]>;
  };
  close(): Promise<void>;
}

async function settingsOf(client: SqlClient): Promise<Record<string, string>> {
  const rows = await client.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings
      WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'server_version',
                     'shared_buffers', 'max_connections')`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
}

/** Opens the bench database; see the module doc. */
export async function openBenchDatabase(
  options: BenchDatabaseOptions = {},
): Promise<BenchDatabase> {
  if (Deno.env.get("DATABASE_URL")) {
    const db = await startTestDatabase({ kind: "postgres" });
    const settings = await settingsOf(db.client);
    return {
      db,
      url: db.url!,
      describe: `DATABASE_URL server (fresh database), PostgreSQL ${settings.server_version}`,
      settings,
      async postgresProcesses() {
        const rows = await db.client.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database()",
        );
        return { backends: rows.map((r) => Number(r.pid)) };
      },
      close: () => db.close(),
    };
  }
  const db = await startTestDatabase({ kind: "postgres", controllable: true });
  await db.client.query("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");

  await db.server!.restart();
  // postgres.js reconnects lazily; the first query after a restart may still hit a dead socket.
  for (let attempt = 0;; attempt++) {
    try {
      await db.client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
      break;
    } catch (error) {
      if (attempt >= 20) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (options.nestedStatements) {
    // Known only once the library is loaded; both are reloadable.
    await db.client.query("ALTER SYSTEM SET pg_stat_statements.track = 'all'");
    await db.client.query("ALTER SYSTEM SET pg_stat_statements.track_planning = on");
    await db.client.query("SELECT pg_reload_conf()");
    // Sessions apply a reload between statements, shortly after the signal.
    for (let i = 0; i < 50; i++) {
      const [row] = await db.client.query<{ setting: string }>(
        "SELECT setting FROM pg_settings WHERE name = 'pg_stat_statements.track'",
      );
      if (row?.setting === "all") break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const settings = await settingsOf(db.client);
  const url = options.socket
    ? `${db.url}${db.url!.includes("?") ? "&" : "?"}host=${encodeURIComponent(db.server!.socketDir!) // a cluster (kind "postgres") has one
    }`
    : db.url!;
  return {
    db,
    url,
    describe:
      `throwaway cluster (fsync=${settings.fsync}, synchronous_commit=${settings.synchronous_commit}, ` +
      `${options.socket ? "Unix socket" : "loopback TCP"}), PostgreSQL ${settings.server_version}`,
    settings,
    async postgresProcesses() {
      const [row] = await db.client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      const postmaster = readStat(Number(row.pid))?.ppid;
      if (!postmaster) throw new Error("Cannot find the postmaster of the bench cluster");
      return { postmaster };
    },
    statements: {
      async reset() {
        await db.client.query("SELECT pg_stat_statements_reset()");
      },
      async read() {
        const rows = await db.client.query<
          { query: string; calls: number; total: number; plan: number }
        >(
          `SELECT query, calls, total_exec_time AS total, total_plan_time AS plan
             FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        return rows.map((r) => ({
          query: r.query,
          calls: Number(r.calls),
          totalMs: r.total,
          planMs: r.plan,
        }));
      },
    },
    close: () => db.close(),
  };
}
