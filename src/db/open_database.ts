/**
 * Opens the broker's database the way `deno task broker` needs it: a real
 * PostgreSQL server when a database URL is given (`DATABASE_URL`, and
 * optionally `PGMQ_DATABASE_URL` for the queues), else the embedded PGlite
 * under the data dir.
 *
 * On a real server nothing is installed silently: pgmq must already be
 * there, else opening fails with `pgmq_missing` naming the fix
 * (`deno task db:setup`). The embedded database installs its bundled pgmq
 * itself (it is the project's own database).
 *
 * @module
 */
import { DatabaseError, isDatabaseUnavailable } from "./database_error.ts";
import { readEmbeddedConnection, startEmbeddedDatabase } from "./embedded_database.ts";
import { detectPgmq, type PgmqInstallResult } from "./pgmq_install.ts";
import { connectPostgres } from "./postgres_client.ts";
import type { SqlClient } from "./sql_client.ts";
import { type ToastCompression, toastCompressionSettings } from "./toast_compression.ts";
import { defaultDataDir } from "../registry/default_registry_dir.ts";

/** Options for {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** The Tasker database (`DATABASE_URL`). Absent: the embedded database. */
  databaseUrl?: string;
  /** The pgmq database (`PGMQ_DATABASE_URL`) when the queues live elsewhere; needs `databaseUrl`. */
  pgmqDatabaseUrl?: string;
  /** The project's data dir (embedded database). Defaults to {@link defaultDataDir}. */
  dataDir?: string;
  /**
   * Without a URL: `"start"` (default) opens the embedded database in this
   * process (refused with `data_dir_locked` while another process has it);
   * `"attach"` connects to the one another process (the broker) is running,
   * through its socket URL in `connection.json`; `"auto"` attaches when one
   * runs, else starts.
   */
  embedded?: "start" | "attach" | "auto";
  /** The embedded socket server's address, or `false` for none. Loopback, free port by default. */
  socket?: { host?: string; port?: number } | false;
  /** Pool size per real-server client. Defaults to 10. */
  max?: number;
  /** `application_name` on real servers. Defaults to `"wasm-broker"`. */
  applicationName?: string;
  /**
   * Whether an unreachable server fails the open. Defaults to `false`: the
   * clients connect lazily and the broker retries, reporting not-ready
   * meanwhile; the pgmq check is then skipped (logged).
   */
  requireReachable?: boolean;
  /**
   * How the Tasker client's sessions compress large values they write
   * (`toast_compression.ts`). Default `"server_default"`; the broker asks for
   * `"lz4"`. Real servers only.
   */
  toastCompression?: ToastCompression;
  /** Receives one line per decision (secret-free). */
  log?: (message: string) => void;
}

/** An open database; see {@link openDatabase}. */
export interface OpenedDatabase {
  /** Tasker's tables (`tasker.*`). */
  tasker: SqlClient;
  /** pgmq's queues: the same client as {@link tasker} unless `pgmqDatabaseUrl` names another database. */
  queue: SqlClient;
  /** `"postgres"`: a server from a URL; `"embedded"`: the PGlite under the data dir (in this process or attached). */
  kind: "postgres" | "embedded";
  /** Where the data is, for logs: URLs with the password masked. */
  describe: string;
  /**
   * The embedded database, when embedded: its socket URL (for `deno task demo`,
   * psql), its directory, whether this opener attached to another process's,
   * and (when started here) what the pgmq installation found or did.
   */
  embedded?: { url?: string; dir: string; attached: boolean; pgmq?: PgmqInstallResult };
  /** Closes every client (and the embedded database). Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens the database; see the module doc.
 *
 * @example
 * ```ts ignore
 * import { openDatabase } from "./open_database.ts";
 * const db = await openDatabase({ databaseUrl: Deno.env.get("DATABASE_URL") });
 * console.log(db.describe); // postgres://tasker:***@db:5432/tasker
 * await db.close();
 * ```
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<OpenedDatabase> {
  const log = options.log ?? (() => {});
  if (options.pgmqDatabaseUrl && !options.databaseUrl) {
    throw new DatabaseError(
      "database_config_invalid",
      "Cannot use PGMQ_DATABASE_URL as DATABASE_URL is unset: a separate queue database needs a Tasker database",
      { details: { field: "PGMQ_DATABASE_URL" } },
    );
  }
  if (options.databaseUrl) return await openServer(options.databaseUrl, options, log);
  return await openEmbedded(options, log);
}

async function openServer(
  databaseUrl: string,
  options: OpenDatabaseOptions,
  log: (message: string) => void,
): Promise<OpenedDatabase> {
  checkUrl(databaseUrl, "DATABASE_URL");
  const separateQueue = Boolean(options.pgmqDatabaseUrl) && options.pgmqDatabaseUrl !== databaseUrl;
  if (separateQueue) checkUrl(options.pgmqDatabaseUrl!, "PGMQ_DATABASE_URL");
  const clientOptions = { max: options.max, applicationName: options.applicationName };
  let settings: Record<string, string> | undefined;
  if (options.toastCompression === "lz4") {
    const chosen = await toastCompressionSettings(databaseUrl, "lz4");
    settings = chosen.settings;
    log(chosen.why);
  }
  const tasker = connectPostgres(databaseUrl, { ...clientOptions, settings });
  const queue = separateQueue ? connectPostgres(options.pgmqDatabaseUrl!, clientOptions) : tasker;
  const close = once(async () => {
    await tasker.close();
    if (queue !== tasker) await queue.close();
  });
  const describe = separateQueue
    ? `tasker ${maskUrl(databaseUrl)}, queues ${maskUrl(options.pgmqDatabaseUrl!)}`
    : maskUrl(databaseUrl);
  try {
    const presence = await detectPgmq(queue);
    if (!presence.installed) {
      const queueUrl = maskUrl(separateQueue ? options.pgmqDatabaseUrl! : databaseUrl);
      throw new DatabaseError(
        "pgmq_missing",
        `Cannot use ${queueUrl} as pgmq is not installed there: run \`deno task db:setup\`${
          separateQueue ? " --pgmq-database-url <url>" : ""
        } once (it installs pgmq from the bundled SQL) and start again`,
        { details: { fix: "deno task db:setup", database: queueUrl } },
      );
    }
    log(
      `database ${describe}: pgmq ${presence.version} (${
        presence.method === "extension" ? "extension" : "plain SQL"
      })`,
    );
    if (separateQueue) await tasker.query("SELECT 1");
  } catch (error) {
    if (isDatabaseUnavailable(error) && !options.requireReachable) {
      log(
        `database ${describe} is unreachable for now (${
          (error as Error).message
        }); connecting lazily, pgmq check skipped`,
      );
    } else {
      await close();
      throw error;
    }
  }
  return { tasker, queue, kind: "postgres", describe, close };
}

async function openEmbedded(
  options: OpenDatabaseOptions,
  log: (message: string) => void,
): Promise<OpenedDatabase> {
  const dataDir = options.dataDir ?? defaultDataDir();
  const mode = options.embedded ?? "start";
  if (mode !== "start") {
    const running = await readEmbeddedConnection(dataDir);
    if (running) {
      const client = connectPostgres(running.url, {
        max: options.max ?? 4,
        applicationName: options.applicationName,
      });
      const describe =
        `embedded PGlite in ${dataDir}/pglite, served by process ${running.pid} at ${running.url}`;
      log(`database ${describe}`);
      return {
        tasker: client,
        queue: client,
        kind: "embedded",
        describe,
        embedded: { url: running.url, dir: `${dataDir}/pglite`, attached: true },
        close: once(() => client.close()),
      };
    }
    if (mode === "attach") {
      throw new DatabaseError(
        "database_unavailable",
        `Cannot attach to the embedded database in ${dataDir}/pglite as no running process serves it: start \`deno task broker\` first, or set DATABASE_URL`,
        { retryable: true, details: { dataDir } },
      );
    }
  }
  const embedded = await startEmbeddedDatabase({
    dataDir,
    socket: options.socket,
    log: (e) => {
      if (e.event.startsWith("embedded_database")) log(`${e.event}: ${e.detail ?? ""}`);
    },
  });
  if (options.toastCompression === "lz4") {
    log("toast compression: the server's default (the embedded PGlite has no lz4)");
  }
  const describe = `embedded PGlite in ${embedded.dir}${
    embedded.url ? ` (socket ${embedded.url})` : ""
  }`;
  log(`database ${describe}: pgmq ${embedded.pgmq.version} (${embedded.pgmq.status})`);
  return {
    tasker: embedded.client,
    queue: embedded.client,
    kind: "embedded",
    describe,
    embedded: { url: embedded.url, dir: embedded.dir, attached: false, pgmq: embedded.pgmq },
    close: once(() => embedded.close()),
  };
}

/**
 * Checks that the database answers `SELECT 1` within `timeoutMs` (for
 * readiness probes). Rejects with the query's error, or `database_unavailable`
 * on timeout.
 *
 * @example
 * ```ts ignore
 * import { ping } from "./open_database.ts";
 * const ready = await ping(db.tasker, 1500).then(() => true, () => false);
 * ```
 */
export async function ping(client: SqlClient, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new DatabaseError(
            "database_unavailable",
            `Cannot reach the database as it did not answer within ${timeoutMs} ms`,
            {
              retryable: true,
              details: { reason: "PING_TIMEOUT", timeoutMs },
            },
          ),
        ),
      timeoutMs,
    );
  });
  const query = client.query("SELECT 1");
  query.catch(() => {}); // A late failure after the timeout is not unhandled.
  try {
    await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `url` with its password (in the user-info part or a `password` query
 * parameter) replaced by `***`, for logs.
 *
 * @example
 * ```ts
 * import { maskUrl } from "./open_database.ts";
 * console.assert(maskUrl("postgres://u:s3cret@db:5432/x") === "postgres://u:***@db:5432/x");
 * ```
 */
export function maskUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "(unparsable database URL)";
  }
  if (parsed.password) parsed.password = "***";
  for (const key of [...parsed.searchParams.keys()]) {
    if (/pass|secret|token|key/i.test(key)) parsed.searchParams.set(key, "***");
  }
  return parsed.href.replaceAll("%2A%2A%2A", "***");
}

function checkUrl(url: string, field: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  if (!parsed || !/^postgres(ql)?:$/.test(parsed.protocol)) {
    throw new DatabaseError(
      "database_config_invalid",
      `Cannot use ${field} as it is not a postgres:// URL: current value is ${
        parsed ? maskUrl(url) : "unparsable"
      }`,
      { details: { field } },
    );
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => done ??= fn();
}
