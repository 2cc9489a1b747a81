/**
 * The embedded default database: PGlite (PostgreSQL compiled to WebAssembly)
 * in this process, with real pgmq (`@electric-sql/pglite-pgmq`), persisted
 * under `<data dir>/pglite/`, plus a loopback socket server so other
 * processes (`deno task demo`, `psql`) can connect with a `postgres://` URL.
 *
 * Files under `<data dir>/pglite/`:
 * - `pgdata/` — the PostgreSQL data directory;
 * - `lock` — held with an exclusive OS file lock (flock) while a process has
 *   the database open, and holding that process's pid. A second process is
 *   refused with `data_dir_locked`; a lock left by a dead process is released
 *   by the OS, so the next process simply takes it over;
 * - `connection.json` — `{url, pid, startedAt}` while the socket server runs
 *   (removed on close); {@link readEmbeddedConnection} reads it and ignores
 *   it when that pid is gone.
 *
 * @module
 */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { pgmq } from "@electric-sql/pglite-pgmq";
import { defaultDataDir } from "../registry/default_registry_dir.ts";
import { DatabaseError } from "./database_error.ts";
import { createPgliteClient, type PgliteClient } from "./pglite_client.ts";
import { type PgliteSocketServer, startPgliteSocketServer } from "./pglite_socket_server.ts";
import { installPgmq, type PgmqInstallResult } from "./pgmq_install.ts";

/** Options for {@link startEmbeddedDatabase}. */
export interface EmbeddedDatabaseOptions {
  /** The project's data dir; the database lives in `<dataDir>/pglite`. Defaults to {@link defaultDataDir}. */
  dataDir?: string;
  /**
   * The socket server's address (loopback, port 0 = a free port, by default),
   * or `false` for no socket server (no URL; in-process use only).
   */
  socket?: { host?: string; port?: number } | false;
  /** Idle-in-transaction limit of socket connections (see `pglite_socket_server.ts`). Defaults to 30 s. */
  idleInTransactionTimeoutMs?: number;
  /** Receives progress and connection events; silent by default. */
  log?: (event: { event: string; detail?: string; [key: string]: unknown }) => void;
}

/** A running embedded database. */
export interface EmbeddedDatabase {
  /** The in-process client (the fast path: no socket in between). */
  client: PgliteClient;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` for other processes; absent with `socket: false`. */
  url?: string;
  /** `<dataDir>/pglite`. */
  dir: string;
  /** What pgmq installation found or did. */
  pgmq: PgmqInstallResult;
  /** Stops the socket server, closes PGlite, removes connection.json, releases the lock. Idempotent. */
  close(): Promise<void>;
}

/** The contents of `<dataDir>/pglite/connection.json`. */
export interface EmbeddedConnectionInfo {
  url: string;
  pid: number;
  startedAt: string;
}

/**
 * Opens (creating on first use, ~5 s) the embedded database.
 *
 * @example
 * ```ts ignore
 * import { startEmbeddedDatabase } from "./embedded_database.ts";
 * const db = await startEmbeddedDatabase({ dataDir: "./data" });
 * console.log(db.url); // postgres://postgres@127.0.0.1:40123/postgres
 * await db.client.query("SELECT pgmq.create('worker_catalog_queue')");
 * await db.close();
 * ```
 */
export async function startEmbeddedDatabase(
  options: EmbeddedDatabaseOptions = {},
): Promise<EmbeddedDatabase> {
  const log = options.log ?? (() => {});
  const dir = join(options.dataDir ?? defaultDataDir(), "pglite");
  await mkdir(dir, { recursive: true });
  const lock = await takeLock(join(dir, "lock"));
  let db: PGlite | undefined;
  let client: PgliteClient | undefined;
  let server: PgliteSocketServer | undefined;
  const connectionFile = join(dir, "connection.json");
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await rm(connectionFile, { force: true }).catch(() => {});
      await server?.close().catch(() => {});
      await client?.close().catch(() => {});
      if (db && !db.closed) await db.close().catch(() => {});
      await lock.release();
    })();
  try {
    log({ event: "embedded_database_opening", detail: dir });
    db = await PGlite.create(join(dir, "pgdata"), { extensions: { pgmq } });
    client = createPgliteClient(db);
    const pgmqResult = await installPgmq(client);
    let url: string | undefined;
    if (options.socket !== false) {
      server = await startPgliteSocketServer(db, {
        host: options.socket?.host ?? "127.0.0.1",
        port: options.socket?.port ?? 0,
        idleInTransactionTimeoutMs: options.idleInTransactionTimeoutMs,
        log: (e) => log({ ...e, event: `socket_${e.event}` }),
      });
      url = server.url();
      const info: EmbeddedConnectionInfo = {
        url,
        pid: Deno.pid,
        startedAt: new Date().toISOString(),
      };
      const temp = `${connectionFile}.${Deno.pid}.tmp`;
      await writeFile(temp, JSON.stringify(info, null, 2) + "\n");
      await rename(temp, connectionFile);
    }
    log({ event: "embedded_database_ready", detail: url ?? "in-process only" });
    return { client, url, dir, pgmq: pgmqResult, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The running embedded database's connection info from
 * `<dataDir>/pglite/connection.json`, or `undefined` when there is none or
 * the process that wrote it is gone.
 *
 * @example
 * ```ts ignore
 * import { readEmbeddedConnection } from "./embedded_database.ts";
 * const running = await readEmbeddedConnection("./data");
 * if (running) console.log(`the broker's database: ${running.url}`);
 * ```
 */
export async function readEmbeddedConnection(
  dataDir: string = defaultDataDir(),
): Promise<EmbeddedConnectionInfo | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dataDir, "pglite", "connection.json"));
  } catch {
    return undefined;
  }
  let info: Partial<EmbeddedConnectionInfo>;
  try {
    info = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof info.url !== "string" || typeof info.pid !== "number") return undefined;
  if (!processAlive(info.pid)) return undefined;
  return { url: info.url, pid: info.pid, startedAt: String(info.startedAt ?? "") };
}

function processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    // Without procfs (macOS) we cannot tell without signalling it: trust the file.
    return !existsSync("/proc/self");
  }
}

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

interface HeldLock {
  release(): Promise<void>;
}

/**
 * Takes the exclusive file lock or fails with `data_dir_locked`. The OS drops
 * a dead process's lock, so a stale lock file is taken over without asking.
 */
async function takeLock(path: string): Promise<HeldLock> {
  const file = await Deno.open(path, { read: true, write: true, create: true });
  let locked = false;
  try {
    locked = await file.tryLock(true);
  } catch (error) {
    file.close();
    throw error;
  }
  if (!locked) {
    const text = await Deno.readTextFile(path).catch(() => "");
    file.close();
    const pid = Number(/"pid":\s*(\d+)/.exec(text)?.[1]) || undefined;
    throw new DatabaseError(
      "data_dir_locked",
      `Cannot open the embedded database in ${path.replace(/\/lock$/, "")} as process ${
        pid ?? "(unknown)"
      } has it open: stop that process, or connect to it with the URL in connection.json, or use another WASM_BROKER_DATA_DIR`,
      { details: { pid, lockFile: path } },
    );
  }
  await file.truncate(0);
  await file.write(
    new TextEncoder().encode(
      JSON.stringify({ pid: Deno.pid, startedAt: new Date().toISOString() }) + "\n",
    ),
  );
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      try {
        await file.truncate(0);
        await file.unlock();
      } finally {
        file.close();
      }
    },
  };
}
