/**
 * One way for every integration test to get a database with pgmq and the
 * Tasker test double's schema installed, on whatever this machine offers:
 *
 * - `DATABASE_URL` set → a fresh database (`wb_test_<random>`) created on that
 *   server for each call, dropped by `close()`;
 * - else PostgreSQL binaries installed → a throwaway cluster (temp dir, free
 *   port), one per test process shared by its calls (a fresh database per
 *   call), stopped when the process exits;
 * - else PGlite in this process (no URL: a subprocess cannot reach it; with
 *   `served: true`, behind the broker's own PGlite socket server on a free
 *   loopback port, so broker subprocesses can share it).
 *
 * `kind: "postgres"` insists on a real server (guard such tests with
 * `ignore: !canStartPostgres()`), `kind: "pglite"` on PGlite.
 * {@link reliabilityKinds} lists what a subprocess test can run on here.
 * `controllable: true` starts a dedicated throwaway cluster the test may
 * stop, start and restart (guard with `ignore: !canStartCluster()`); with
 * `kind: "pglite"`, the broker's embedded database (`startEmbeddedDatabase`)
 * in a temporary directory, whose stop closes it (socket server and
 * database) and whose start opens it again from that directory on the same
 * port.
 *
 * @example
 * ```ts ignore
 * import { startTestDatabase } from "./database_harness.ts";
 * const db = await startTestDatabase();
 * try {
 *   await db.client.query("SELECT pgmq.create('worker_catalog_queue')");
 * } finally {
 *   await db.close();
 * }
 * ```
 *
 * @module
 */
import { PGlite } from "@electric-sql/pglite";
import { pgmq } from "@electric-sql/pglite-pgmq";
import { type EmbeddedDatabase, startEmbeddedDatabase } from "../../src/db/embedded_database.ts";
import { createPgliteClient } from "../../src/db/pglite_client.ts";
import {
  type PgliteSocketServer,
  startPgliteSocketServer,
} from "../../src/db/pglite_socket_server.ts";
import { installPgmq } from "../../src/db/pgmq_install.ts";
import { installTaskerDouble } from "../../tasker_double/install_tasker_double.ts";
import { connectPostgres } from "../../src/db/postgres_client.ts";
import type { SqlClient } from "../../src/db/sql_client.ts";
import { canStartCluster, ThrowawayCluster } from "./throwaway_postgres.ts";

export { canStartCluster } from "./throwaway_postgres.ts";

/** A database for one test. */
export interface TestDatabase {
  /**
   * Connected to a fresh database with pgmq + the Tasker double schema
   * installed (for a controllable PGlite: postgres.js through its server,
   * so it rides out restarts; for other PGlite: in-process).
   */
  client: SqlClient;
  /** A postgres URL (absent for PGlite unless served): lets a broker subprocess connect. */
  url?: string;
  kind: "postgres" | "pglite";
  /** Only for `controllable: true` (a throwaway cluster, or a served PGlite). */
  server?: {
    restart(): Promise<void>;
    stop(): Promise<void>;
    start(): Promise<void>;
    /** The directory of its Unix socket (`?host=<dir>` in a URL); absent for PGlite. */
    socketDir?: string;
  };
  /** Drops the database / stops the cluster / closes PGlite. Idempotent. */
  close(): Promise<void>;
}

/** Options for {@link startTestDatabase}. */
export interface StartTestDatabaseOptions {
  /** `"auto"` (default): a real server when one can be had, else PGlite. */
  kind?: "postgres" | "pglite" | "auto";
  /** A dedicated throwaway cluster with {@link TestDatabase.server}. */
  controllable?: boolean;
  /** Skip the Tasker double schema (pgmq only). Defaults to `false`. */
  skipTaskerDouble?: boolean;
  /** An empty database: neither pgmq nor the Tasker double (for tests of the installers). */
  bare?: boolean;
  /** Pool size of the returned client (real servers, controllable PGlite). Defaults to 5. */
  max?: number;
  /**
   * PGlite only: serve it on a loopback port (the broker's PGlite socket
   * server), so the database has a `url` other processes can use.
   */
  served?: boolean;
}

/**
 * The databases a test that runs brokers as subprocesses can use here: a real
 * PostgreSQL when one can be had, and PGlite behind its socket server always
 * (the embedded default's engine; CI has both, so both paths run there).
 */
export function reliabilityKinds(): ("postgres" | "pglite")[] {
  return canStartPostgres() ? ["postgres", "pglite"] : ["pglite"];
}

/** Whether a real PostgreSQL is available: `DATABASE_URL`, or binaries for a throwaway cluster. */
export function canStartPostgres(): boolean {
  return Boolean(Deno.env.get("DATABASE_URL")) || canStartCluster();
}

let sharedCluster: Promise<ThrowawayCluster> | undefined;

/**
 * Starts a database for one test; see the module doc for which one.
 */
export async function startTestDatabase(
  options: StartTestDatabaseOptions = {},
): Promise<TestDatabase> {
  const kind = options.kind ?? "auto";
  if (options.controllable) {
    if (kind === "pglite") return await startControllablePglite(options);
    if (!canStartCluster()) {
      throw new Error(
        "Cannot start a controllable database as no PostgreSQL binaries are installed (guard with canStartCluster())",
      );
    }
    const cluster = await ThrowawayCluster.create();
    try {
      const db = await freshDatabase(cluster.url(), options);
      return {
        ...db,
        server: {
          restart: () => cluster.restart(),
          stop: () => cluster.stop(),
          start: () => cluster.start(),
          socketDir: cluster.dir,
        },
        close: async () => {
          // The cluster goes away whole: no need to drop the database first.
          await db.client.close().catch(() => {});
          await cluster.destroy();
        },
      };
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
  }
  if (kind === "pglite" || (kind === "auto" && !canStartPostgres())) {
    return await startPglite(options);
  }
  const serverUrl = Deno.env.get("DATABASE_URL");
  if (serverUrl) return await freshDatabase(serverUrl, options);
  if (!canStartCluster()) {
    throw new Error(
      "Cannot start a real PostgreSQL as DATABASE_URL is unset and no binaries are installed (guard with canStartPostgres())",
    );
  }
  sharedCluster ??= ThrowawayCluster.create().catch((error) => {
    sharedCluster = undefined;
    throw error;
  });
  const cluster = await sharedCluster;
  if (!cluster.running) await cluster.start();
  return await freshDatabase(cluster.url(), options);
}

/** Creates `wb_test_<random>` on the server at `serverUrl` and prepares it. */
async function freshDatabase(
  serverUrl: string,
  options: StartTestDatabaseOptions,
): Promise<TestDatabase> {
  const name = `wb_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = connectPostgres(serverUrl, { max: 1, applicationName: "wasm-broker-test-admin" });
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.close();
  }
  const url = withDatabase(serverUrl, name);
  const client = connectPostgres(url, {
    max: options.max ?? 5,
    applicationName: "wasm-broker-test",
  });
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      await client.close().catch(() => {});
      await dropDatabase(serverUrl, name);
    })();
  try {
    await prepare(client, options);
  } catch (error) {
    await close();
    throw error;
  }
  return { client, url, kind: "postgres", close };
}

async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const admin = connectPostgres(serverUrl, { max: 1, applicationName: "wasm-broker-test-admin" });
  try {
    // Subprocesses (brokers under test) may still be connected: end their sessions first.
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
      [name],
    );
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } catch {
    // The server may be gone already (a stopped cluster); nothing left to drop then.
  } finally {
    await admin.close().catch(() => {});
  }
}

async function startPglite(options: StartTestDatabaseOptions): Promise<TestDatabase> {
  const db = await PGlite.create({ extensions: { pgmq } });
  const client = createPgliteClient(db, { closeDatabase: true });
  let server: PgliteSocketServer | undefined;
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      await server?.close().catch(() => {});
      await client.close();
    })();
  try {
    // The broker's own server: statements of its connections and of `client` never interleave
    // inside a transaction (they share one PGlite session; see pglite_socket_server.ts).
    if (options.served) server = await startPgliteSocketServer(db);
    await prepare(client, options);
  } catch (error) {
    await close();
    throw error;
  }
  return { client, kind: "pglite", ...(server ? { url: server.url() } : {}), close };
}

/**
 * The embedded database (PGlite served on a loopback port) in a temporary
 * directory, that the test may stop (the socket server and the database
 * closed: every connection drops) and start again on the same port. Its
 * `client` connects through the server, as a broker does, so it rides out
 * the restarts.
 */
async function startControllablePglite(options: StartTestDatabaseOptions): Promise<TestDatabase> {
  const dir = await Deno.makeTempDir({ prefix: "wb-pglite-" });
  // The broker's own embedded opener (PGlite with pgmq under `dir`, its lock, its socket
  // server), as `deno task broker` opens it without DATABASE_URL.
  const open = async (port = 0): Promise<EmbeddedDatabase> => {
    // The port was ours a moment ago; give the kernel a little time should it still hold it.
    for (let attempt = 1;; attempt++) {
      try {
        return await startEmbeddedDatabase({ dataDir: dir, socket: { port } });
      } catch (error) {
        if (!(error instanceof Deno.errors.AddrInUse) || attempt >= 50) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  let running: EmbeddedDatabase | undefined;
  // stop() and start() run one at a time, in call order: two PGlites must never open `dir`.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = (fn: () => Promise<void>) => {
    const next = queue.then(fn);
    queue = next.catch(() => {});
    return next;
  };
  const stop = () =>
    serially(async () => {
      const was = running;
      running = undefined;
      await was?.close();
    });
  let url: string;
  try {
    running = await open();
    url = running.url!;
    await prepare(running.client, options);
  } catch (error) {
    await stop().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  const port = Number(new URL(url).port);
  const client = connectPostgres(url, {
    max: options.max ?? 5,
    applicationName: "wasm-broker-test",
  });
  const start = () =>
    serially(async () => {
      running ??= await open(port);
    });
  let closed: Promise<void> | undefined;
  return {
    client,
    url,
    kind: "pglite",
    server: {
      stop,
      start,
      restart: async () => {
        await stop();
        await start();
      },
    },
    close: () =>
      closed ??= (async () => {
        await client.close().catch(() => {});
        await stop().catch(() => {});
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      })(),
  };
}

/** `serverUrl` with its database path replaced by `database`. */
export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.href;
}

async function prepare(client: SqlClient, options: StartTestDatabaseOptions): Promise<void> {
  if (options.bare) return;
  await installPgmq(client);
  if (!options.skipTaskerDouble) await installTaskerDouble(client);
}
