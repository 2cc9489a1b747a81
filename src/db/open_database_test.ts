import assert from "node:assert/strict";
import { canStartPostgres, startTestDatabase } from "../../tests/support/database_harness.ts";
import { DatabaseError } from "./database_error.ts";
import { maskUrl, openDatabase, ping } from "./open_database.ts";
import type { SqlClient } from "./sql_client.ts";

const realServer = { ignore: !canStartPostgres(), sanitizeOps: false, sanitizeResources: false };
const leaky = { sanitizeOps: false, sanitizeResources: false };

function isDbError(code: string) {
  return (error: unknown) => error instanceof DatabaseError && error.code === code;
}

Deno.test("maskUrl hides passwords in the user info and in query parameters", () => {
  assert.equal(
    maskUrl("postgres://tasker:s3cret@db:5432/tasker"),
    "postgres://tasker:***@db:5432/tasker",
  );
  assert.equal(
    maskUrl("postgres://tasker@db/tasker?password=s3cret&sslmode=require"),
    "postgres://tasker@db/tasker?password=***&sslmode=require",
  );
  assert.equal(maskUrl("postgres://db/x"), "postgres://db/x");
  assert.equal(maskUrl("not a url s3cret"), "(unparsable database URL)");
});

Deno.test("openDatabase rejects PGMQ_DATABASE_URL without DATABASE_URL and URLs that are not postgres://", async () => {
  await assert.rejects(
    openDatabase({ pgmqDatabaseUrl: "postgres://db/q" }),
    (e) =>
      isDbError("database_config_invalid")(e) &&
      (e as DatabaseError).details.field === "PGMQ_DATABASE_URL",
  );
  const error = await openDatabase({ databaseUrl: "mysql://u:s3cret@db/x" }).then(
    () => undefined,
    (e) => e,
  );
  assert.ok(isDbError("database_config_invalid")(error));
  assert.equal(error.details.field, "DATABASE_URL");
  assert.ok(!error.message.includes("s3cret"), "the password never reaches the message");
  await assert.rejects(
    openDatabase({ databaseUrl: "postgres://db/x", pgmqDatabaseUrl: "nonsense" }),
    (e) =>
      isDbError("database_config_invalid")(e) &&
      (e as DatabaseError).details.field === "PGMQ_DATABASE_URL",
  );
});

Deno.test({
  name:
    "openDatabase on a server with pgmq shares one client for Tasker and the queues and masks the password",
  ...realServer,
  fn: async () => {
    const db = await startTestDatabase({ kind: "postgres", skipTaskerDouble: true });
    const url = new URL(db.url!);
    url.password = "not-checked-by-trust-auth";
    const lines: string[] = [];
    const opened = await openDatabase({ databaseUrl: url.href, log: (l) => lines.push(l) });
    try {
      assert.equal(opened.kind, "postgres");
      assert.equal(opened.queue, opened.tasker);
      assert.equal(opened.embedded, undefined);
      assert.ok(opened.describe.includes(":***@"), opened.describe);
      assert.ok(!opened.describe.includes("not-checked"), "no password in describe");
      assert.ok(
        lines.some((l) => /pgmq 1\.11\.1 \((plain SQL|extension)\)/.test(l)),
        lines.join("\n"),
      );
      assert.ok(!lines.join("\n").includes("not-checked"), "no password in the log");
      await ping(opened.tasker, 5_000);
      await opened.tasker.query("SELECT pgmq.create('worker_catalog_queue')");
    } finally {
      await opened.close();
      await opened.close();
      await db.close();
    }
  },
});

Deno.test({
  name: "openDatabase refuses a server without pgmq with pgmq_missing naming deno task db:setup",
  ...realServer,
  fn: async () => {
    const db = await startTestDatabase({ kind: "postgres", bare: true });
    try {
      const error = await openDatabase({ databaseUrl: db.url }).then(() => undefined, (e) => e);
      assert.ok(isDbError("pgmq_missing")(error), `got ${error}`);
      assert.equal(error.details.fix, "deno task db:setup");
      assert.match(error.message, /deno task db:setup/);
      // Nothing was installed behind the user's back.
      const [row] = await db.client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgmq'",
      );
      assert.equal(row.n, 0);
    } finally {
      await db.close();
    }
  },
});

Deno.test({
  name:
    "openDatabase with PGMQ_DATABASE_URL checks pgmq in the queue database and keeps two clients",
  ...realServer,
  fn: async () => {
    const taskerDb = await startTestDatabase({ kind: "postgres", bare: true });
    const queueDb = await startTestDatabase({ kind: "postgres", skipTaskerDouble: true });
    try {
      const opened = await openDatabase({
        databaseUrl: taskerDb.url,
        pgmqDatabaseUrl: queueDb.url,
      });
      try {
        assert.notEqual(opened.queue, opened.tasker);
        assert.match(opened.describe, /^tasker postgres:\/\/.*, queues postgres:\/\//);
        const [t] = await opened.tasker.query<{ db: string }>("SELECT current_database() AS db");
        const [q] = await opened.queue.query<{ db: string }>("SELECT current_database() AS db");
        assert.equal(t.db, new URL(taskerDb.url!).pathname.slice(1));
        assert.equal(q.db, new URL(queueDb.url!).pathname.slice(1));
      } finally {
        await opened.close();
      }
      // Swapped: the queue database lacks pgmq.
      const error = await openDatabase({ databaseUrl: queueDb.url, pgmqDatabaseUrl: taskerDb.url })
        .then(
          () => undefined,
          (e) => e,
        );
      assert.ok(isDbError("pgmq_missing")(error), `got ${error}`);
      assert.match(error.message, /--pgmq-database-url/);
    } finally {
      await taskerDb.close();
      await queueDb.close();
    }
  },
});

Deno.test({
  name: "openDatabase on an unreachable server opens lazily (logged) unless requireReachable",
  ...leaky,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const url = `postgres://postgres@127.0.0.1:${port}/nowhere`;
    const lines: string[] = [];
    const opened = await openDatabase({ databaseUrl: url, log: (l) => lines.push(l) });
    try {
      assert.ok(lines.some((l) => l.includes("unreachable")), lines.join("\n"));
      await assert.rejects(ping(opened.tasker, 5_000), isDbError("database_unavailable"));
    } finally {
      await opened.close();
    }
    await assert.rejects(
      openDatabase({ databaseUrl: url, requireReachable: true }),
      isDbError("database_unavailable"),
    );
  },
});

Deno.test("ping rejects with database_unavailable when the database does not answer in time", async () => {
  const hung: SqlClient = {
    kind: "postgres",
    query: () => new Promise(() => {}),
    transaction: () => new Promise(() => {}),
    listen: () => new Promise(() => {}),
    close: () => Promise.resolve(),
  };
  const error = await ping(hung, 50).then(() => undefined, (e) => e);
  assert.ok(isDbError("database_unavailable")(error));
  assert.equal(error.details.reason, "PING_TIMEOUT");
});

Deno.test({
  name:
    "openDatabase without a URL starts the embedded database; another opener attaches through its socket",
  ...leaky,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "wb_open_" });
    try {
      const owner = await openDatabase({ dataDir });
      try {
        assert.equal(owner.kind, "embedded");
        assert.equal(owner.tasker, owner.queue);
        assert.equal(owner.tasker.kind, "pglite");
        assert.equal(owner.embedded?.attached, false);
        assert.match(
          owner.embedded?.url ?? "",
          /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/,
        );
        await owner.tasker.query("CREATE TABLE shared (n int)");

        await assert.rejects(openDatabase({ dataDir }), isDbError("data_dir_locked"));
        for (const embedded of ["attach", "auto"] as const) {
          const guest = await openDatabase({ dataDir, embedded, max: 1 });
          try {
            assert.equal(guest.kind, "embedded");
            assert.equal(guest.embedded?.attached, true);
            assert.equal(guest.embedded?.url, owner.embedded?.url);
            assert.equal(guest.tasker.kind, "postgres");
            await guest.tasker.query("INSERT INTO shared VALUES ($1)", [1]);
          } finally {
            await guest.close();
          }
        }
        assert.deepEqual(await owner.tasker.query("SELECT n FROM shared"), [{ n: 1 }, { n: 1 }]);
      } finally {
        await owner.close();
      }
      await assert.rejects(
        openDatabase({ dataDir, embedded: "attach" }),
        isDbError("database_unavailable"),
      );
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
