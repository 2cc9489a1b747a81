/**
 * Test-only database for the Tasker double's own tests: a fresh database on
 * the PostgreSQL named by `DATABASE_URL` (default the local 127.0.0.1:5432),
 * with pgmq installed from `@electric-sql/pglite-pgmq`'s SQL and the double's
 * schema. Private (underscore): the project's shared harness is
 * `tests/support/database_harness.ts`; this exists so the double is tested
 * against real PostgreSQL before that harness lands.
 *
 * @module
 */

import postgres from "postgres";
import { gunzipSync } from "node:zlib";
import type { SqlClient, SqlExecutor } from "../src/db/sql_client.ts";
import { installTaskerDouble } from "./install_tasker_double.ts";

/** A throwaway database with pgmq and (unless asked not to) the double's schema. */
export interface DoubleTestDatabase {
  client: SqlClient;
  url: string;
  close(): Promise<void>;
}

type Sql = ReturnType<typeof postgres>;

function wrap(sql: Sql): SqlClient {
  const executor = (s: Sql | postgres.TransactionSql): SqlExecutor => ({
    async query<Row>(text: string, params: readonly unknown[] = []): Promise<Row[]> {
      const rows = await s.unsafe(text, params as postgres.ParameterOrJSON<never>[]);
      return Array.from(rows) as Row[];
    },
  });
  const base = executor(sql);
  return {
    kind: "postgres",
    query: base.query,
    async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      return (await sql.begin((tx) => fn(executor(tx)))) as T;
    },
    async listen(channel, onNotify) {
      const sub = await sql.listen(channel, onNotify);
      return () => sub.unlisten();
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

function connect(url: string): Sql {
  return postgres(url, {
    max: 4,
    onnotice: () => {},
    types: {
      // int8 as a JS number, as the SqlClient contract says.
      bigint: { to: 20, from: [20], serialize: (v: number) => String(v), parse: Number },
      // JSON parameters arrive as text (the SqlClient contract); never stringify them twice.
      json: {
        to: 3802,
        from: [114, 3802],
        serialize: (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v)),
        parse: (v: string) => JSON.parse(v),
      },
    },
  });
}

let pgmqSql: string | undefined;

/** The pgmq 1.11.1 install script shipped inside `@electric-sql/pglite-pgmq`. */
export async function pgmqInstallSql(): Promise<string> {
  if (pgmqSql) return pgmqSql;
  const dist = new URL(
    "../node_modules/@electric-sql/pglite-pgmq/dist/pgmq.tar.gz",
    import.meta.url,
  );
  const tar = gunzipSync(await Deno.readFile(dist));
  // A ustar archive: 512-byte headers, name at 0..100, octal size at 124..136.
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    const name = new TextDecoder().decode(header.subarray(0, 100)).replace(/\0.*$/s, "");
    if (!name) break;
    const size = parseInt(new TextDecoder().decode(header.subarray(124, 136)).trim(), 8) || 0;
    const body = offset + 512;
    if (name.endsWith("pgmq--1.11.1.sql")) {
      pgmqSql = new TextDecoder().decode(tar.subarray(body, body + size));
      return pgmqSql;
    }
    offset = body + Math.ceil(size / 512) * 512;
  }
  throw new Error("Cannot find pgmq--1.11.1.sql in @electric-sql/pglite-pgmq's pgmq.tar.gz");
}

/**
 * Creates `wb_double_<random>` on the server, installs pgmq (plain SQL) and,
 * unless `schema: false`, the Tasker double.
 */
export async function startDoubleTestDatabase(
  options: { schema?: boolean } = {},
): Promise<DoubleTestDatabase> {
  const serverUrl = Deno.env.get("DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const admin = connect(serverUrl);
  const name = `wb_double_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const sql = connect(url.href);
  const client = wrap(sql);
  try {
    await sql.unsafe(await pgmqInstallSql());
    if (options.schema !== false) await installTaskerDouble(client);
  } catch (error) {
    await sql.end({ timeout: 5 });
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end({ timeout: 5 });
    throw error;
  }
  return {
    client,
    url: url.href,
    async close() {
      await sql.end({ timeout: 5 });
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end({ timeout: 5 });
    },
  };
}

/** A second client on the same database (for concurrency tests). */
export function connectSqlClient(url: string): SqlClient {
  return wrap(connect(url));
}
