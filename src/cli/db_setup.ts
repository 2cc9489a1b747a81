/**
 * `deno task db:setup`: prepares a database for the broker — installs pgmq
 * (PostgreSQL has no Debian package for it; the SQL comes bundled in
 * `@electric-sql/pglite-pgmq`) and, for tests and demos, the Tasker test
 * double's schema. Says what it did; safe to run again.
 *
 * ```sh
 * deno task db:setup                                   # DATABASE_URL, else the embedded database
 * deno task db:setup --database-url postgres://postgres@127.0.0.1:5432/tasker
 * sudo deno task db:setup --install-extension-files    # then CREATE EXTENSION pgmq works
 * deno task db:setup --tasker-double                   # + the Tasker double's tables (demo, tests)
 * ```
 *
 * Exit status: 0 done, 1 failed (unreachable server, install error, data dir
 * locked), 2 usage.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DatabaseError } from "../db/database_error.ts";
import { maskUrl, openDatabase } from "../db/open_database.ts";
import {
  installPgmq,
  installPgmqExtensionFiles,
  type PgmqInstallResult,
} from "../db/pgmq_install.ts";
import { connectPostgres } from "../db/postgres_client.ts";
import type { SqlClient, SqlExecutor } from "../db/sql_client.ts";
import { missingObjects, QUEUE_OBJECTS } from "../tasker/tasker_schema.ts";

const USAGE = `Usage: deno task db:setup [options]

Installs pgmq into the broker's database (and optionally the Tasker test
double's schema). Safe to run again: what is there already is left alone.

Target (in this order):
  --database-url <url>        PostgreSQL server database (default: $DATABASE_URL)
  --pgmq-database-url <url>   Separate database for the queues (default: $PGMQ_DATABASE_URL)
  (neither)                   The embedded database under --data-dir; when a broker
                              is running on it, through that broker's socket

How pgmq gets in: nothing if present; CREATE EXTENSION pgmq if the server offers it
(see --install-extension-files); otherwise pgmq's SQL is run as plain SQL (schema pgmq).

Options:
  --install-extension-files   Also copy pgmq.control and pgmq--<v>.sql into
                              $(pg_config --sharedir)/extension (needs write access,
                              i.e. root on Debian), so CREATE EXTENSION pgmq works
  --sharedir <dir>            Share dir for --install-extension-files (default: pg_config --sharedir)
  --no-database               With --install-extension-files: only copy the files
  --tasker-double             Also install the Tasker test double's schema (demo, tests;
                              never on a real Tasker database)
  --data-dir <dir>            Project data dir for the embedded database
                              (default: $WASM_BROKER_DATA_DIR, else ./data)
  -h, --help                  Show this help

Exit status: 0 done, 1 failed, 2 usage.
`;

/** Where {@link main} writes. */
export interface DbSetupIo {
  out(line: string): void;
  err(line: string): void;
}

/** Options for {@link main}. */
export interface DbSetupOptions {
  io?: DbSetupIo;
  /** Reads an environment variable. Defaults to `Deno.env.get`. */
  env?: (name: string) => string | undefined;
  /** Runs `pg_config --sharedir`. */
  pgConfigSharedir?: () => Promise<string>;
}

/**
 * Runs the command; returns the exit status.
 *
 * @example
 * ```ts
 * import { main } from "./db_setup.ts";
 * const lines: string[] = [];
 * const status = await main(["--help"], { io: { out: (l) => lines.push(l), err: (l) => lines.push(l) } });
 * console.assert(status === 0 && lines[0].startsWith("Usage: deno task db:setup"));
 * ```
 */
export async function main(args: string[], options: DbSetupOptions = {}): Promise<number> {
  const io = options.io ?? { out: (l) => console.log(l), err: (l) => console.error(l) };
  const env = options.env ?? ((name) => Deno.env.get(name));
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        "database-url": { type: "string" },
        "pgmq-database-url": { type: "string" },
        "install-extension-files": { type: "boolean" },
        "sharedir": { type: "string" },
        "no-database": { type: "boolean" },
        "tasker-double": { type: "boolean" },
        "data-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    io.err(`db:setup: ${(error as Error).message}`);
    io.err("Run `deno task db:setup --help` for usage.");
    return 2;
  }
  if (values.help) {
    io.out(USAGE.trimEnd());
    return 0;
  }
  if (values["no-database"] && !values["install-extension-files"]) {
    io.err("db:setup: --no-database only makes sense with --install-extension-files");
    return 2;
  }
  if (values["sharedir"] !== undefined && !values["install-extension-files"]) {
    io.err("db:setup: --sharedir only makes sense with --install-extension-files");
    return 2;
  }
  try {
    if (values["install-extension-files"]) {
      const sharedir = values["sharedir"] ?? await (options.pgConfigSharedir ?? pgConfigSharedir)();
      const files = await installPgmqExtensionFiles(sharedir);
      io.out(
        `pgmq ${files.version} extension files written: ${files.controlPath}, ${files.sqlPath}`,
      );
      if (values["no-database"]) return 0;
    }
    const databaseUrl = values["database-url"] ?? (env("DATABASE_URL") || undefined);
    const pgmqDatabaseUrl = values["pgmq-database-url"] ?? (env("PGMQ_DATABASE_URL") || undefined);
    if (databaseUrl) {
      await setUpServer(databaseUrl, pgmqDatabaseUrl, Boolean(values["tasker-double"]), io);
    } else {
      if (pgmqDatabaseUrl) {
        io.err(
          "db:setup: --pgmq-database-url (PGMQ_DATABASE_URL) needs --database-url (DATABASE_URL)",
        );
        return 2;
      }
      await setUpEmbedded(values["data-dir"], Boolean(values["tasker-double"]), io);
    }
    return 0;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    io.err(
      `db:setup failed${typeof code === "string" ? ` (${code})` : ""}: ${
        (error as Error).message ?? error
      }`,
    );
    return 1;
  }
}

async function setUpServer(
  databaseUrl: string,
  pgmqDatabaseUrl: string | undefined,
  taskerDouble: boolean,
  io: DbSetupIo,
): Promise<void> {
  for (
    const [field, url] of [["--database-url", databaseUrl], [
      "--pgmq-database-url",
      pgmqDatabaseUrl,
    ]] as const
  ) {
    if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) {
      throw new DatabaseError(
        "database_config_invalid",
        `Cannot use ${field} as it is not a postgres:// URL`,
        {
          details: { field },
        },
      );
    }
  }
  const queueUrl = pgmqDatabaseUrl ?? databaseUrl;
  const queue = connectPostgres(queueUrl, {
    max: 1,
    applicationName: "wasm-broker-db-setup",
    connectTimeoutSeconds: 10,
  });
  const tasker = queueUrl === databaseUrl ? queue : connectPostgres(databaseUrl, {
    max: 1,
    applicationName: "wasm-broker-db-setup",
    connectTimeoutSeconds: 10,
  });
  try {
    const result = await installPgmq(queue);
    io.out(describePgmq(result, maskUrl(queueUrl)));
    if (taskerDouble) {
      // Queues apart: the double's queue side (Tasker's functions beside pgmq) goes with them.
      const apart = queue !== tasker;
      await installDouble(tasker, maskUrl(databaseUrl), io, apart ? "tables" : "all");
      if (apart) await installDouble(queue, maskUrl(queueUrl), io, "queues");
    }
  } finally {
    await queue.close();
    if (tasker !== queue) await tasker.close();
  }
}

async function setUpEmbedded(
  dataDir: string | undefined,
  taskerDouble: boolean,
  io: DbSetupIo,
): Promise<void> {
  // A running broker holds the embedded database: go through its socket then.
  const db = await openDatabase({ dataDir, embedded: "auto", socket: false, max: 1 });
  try {
    const where = db.embedded?.attached
      ? `the embedded database in ${db.embedded.dir} (through the running broker at ${db.embedded.url})`
      : `the embedded database in ${db.embedded?.dir}`;
    // Started here: the embedded database installed its pgmq on opening; report that.
    const result = db.embedded?.pgmq ?? await installPgmq(db.queue);
    io.out(describePgmq(result, where));
    if (taskerDouble) await installDouble(db.tasker, where, io, "all");
  } finally {
    await db.close();
  }
}

function describePgmq(result: PgmqInstallResult, where: string): string {
  switch (result.status) {
    case "present":
      return `pgmq ${result.version} already present in ${where}`;
    case "extension_created":
      return `pgmq ${result.version} installed with CREATE EXTENSION into ${where}`;
    case "sql_installed":
      return `pgmq ${result.version} installed as plain SQL into ${where}`;
  }
}

interface TaskerDoubleModule {
  installTaskerDouble?: (client: SqlExecutor, options?: { queues?: boolean }) => Promise<boolean>;
  installTaskerDoubleQueues?: (client: SqlExecutor) => Promise<boolean>;
}

/**
 * Installs the test double: "all" (tables and queue side, one database),
 * "tables" (the queues live apart) or "queues" (the queue side only, into the
 * queue database).
 */
async function installDouble(
  client: SqlClient,
  where: string,
  io: DbSetupIo,
  part: "all" | "tables" | "queues",
): Promise<void> {
  // Imported when asked for: the test double is test and demo tooling, not part of the product.
  const url = new URL("../../tasker_double/install_tasker_double.ts", import.meta.url);
  const module = await import(url.href) as TaskerDoubleModule;
  const install = part === "queues"
    ? module.installTaskerDoubleQueues
    : module.installTaskerDouble &&
      ((c: SqlExecutor) => module.installTaskerDouble!(c, { queues: part === "all" }));
  if (typeof install !== "function") {
    throw new Error(`${url.pathname} does not export the double's installers`);
  }
  const present = (await missingObjects(client, [
    part === "queues" ? QUEUE_OBJECTS[0] : "tasker.workflow_steps",
  ])).length === 0;
  const changed = await install(client);
  const what = part === "queues"
    ? "Tasker test double queue functions (tasker.pgmq_send_with_notify, orchestration queues)"
    : part === "all"
    ? "Tasker test double schema"
    : "Tasker test double schema (tables only; its queue side goes to the queue database)";
  io.out(
    !changed
      ? `${what} already present in ${where} (checked, left as is)`
      : present
      ? `${what} updated in ${where} (its SQL changed, or a part was missing)`
      : `${what} installed into ${where}`,
  );
}

async function pgConfigSharedir(): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("pg_config", {
      args: ["--sharedir"],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new Error(
      `Cannot find PostgreSQL's share dir as pg_config did not run (${
        (error as Error).message
      }); pass --sharedir`,
    );
  }
  if (!out.success) {
    throw new Error(
      `Cannot find PostgreSQL's share dir as pg_config failed: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout).trim();
}

if (import.meta.main) Deno.exit(await main(Deno.args));
