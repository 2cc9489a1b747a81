import assert from "node:assert/strict";
import {
  canStartCluster,
  canStartPostgres,
  startTestDatabase,
} from "../../tests/support/database_harness.ts";
import { sqlClientConformance } from "../../tests/support/sql_client_conformance.ts";
import { DatabaseError } from "./database_error.ts";
import { connectPostgres } from "./postgres_client.ts";
import { withDatabase } from "../../tests/support/database_harness.ts";
import { waitFor } from "../../tests/support/sql_client_conformance.ts";

sqlClientConformance(
  "PostgresClient",
  () => startTestDatabase({ kind: "postgres", skipTaskerDouble: true }),
  {
    ignore: !canStartPostgres(),
    pgmq: true,
  },
);

Deno.test("connectPostgres fails queries with database_unavailable when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const client = connectPostgres(`postgres://postgres@127.0.0.1:${port}/x`, {
    connectTimeoutSeconds: 2,
  });
  try {
    const error = await client.query("SELECT 1").then(() => undefined, (e) => e);
    assert.ok(error instanceof DatabaseError, `expected a DatabaseError, got ${error}`);
    assert.equal(error.code, "database_unavailable");
    assert.equal(error.retryable, true);
    await assert.rejects(
      client.listen("c", () => {}),
      (e) => e instanceof DatabaseError && e.code === "database_unavailable",
    );
  } finally {
    await client.close();
  }
});

Deno.test("connectPostgres rejects a pool size that is not a positive integer", () => {
  assert.throws(() => connectPostgres("postgres://x@127.0.0.1/x", { max: 0 }), RangeError);
});

Deno.test({
  name:
    "PostgresClient survives a PostgreSQL restart: queries fail while it is down, then work, and LISTEN resumes",
  ignore: !canStartCluster(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const db = await startTestDatabase({ controllable: true, skipTaskerDouble: true });
    const client = connectPostgres(db.url!, { max: 2, connectTimeoutSeconds: 1 });
    try {
      const got: string[] = [];
      await client.listen("pgmq_message_ready.catalog", (p) => got.push(p));
      assert.deepEqual(await client.query("SELECT 1 AS one"), [{ one: 1 }]);

      await db.server!.stop();
      const down = await client.query("SELECT 1").then(() => undefined, (e) => e);
      assert.ok(
        down instanceof DatabaseError && down.code === "database_unavailable",
        `got ${down}`,
      );
      // Down for longer than the connect timeout: postgres.js's own re-LISTEN would have given up by now.
      await new Promise((r) => setTimeout(r, 2_500));
      await db.server!.start();

      let back = false;
      const deadline = Date.now() + 30_000;
      while (!back && Date.now() < deadline) {
        back = await client.query("SELECT 1 AS one").then(() => true, () => false);
        if (!back) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(back, "queries work again after the restart");

      // The listener re-subscribes on its own: notify until one arrives.
      const notifyDeadline = Date.now() + 30_000;
      while (got.length === 0 && Date.now() < notifyDeadline) {
        await client.query("SELECT pg_notify('pgmq_message_ready.catalog', 'after-restart')");
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(got.includes("after-restart"), "LISTEN resumed after the restart");

      // And a plain restart (fast shutdown while connected) once more.
      got.length = 0;
      await db.server!.restart();
      const again = Date.now() + 30_000;
      while (got.length === 0 && Date.now() < again) {
        await client.query("SELECT pg_notify('pgmq_message_ready.catalog', 'second')").catch(
          () => {},
        );
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(got.includes("second"));
    } finally {
      await client.close();
      await db.close();
    }
  },
});

Deno.test({
  name:
    "PostgresClient.listen can be retried after a failure and re-LISTENs after its connection is killed",
  ignore: !canStartPostgres(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const db = await startTestDatabase({ kind: "postgres", skipTaskerDouble: true });
    const name = new URL(db.url!).pathname.slice(1);
    const admin = connectPostgres(withDatabase(db.url!, "postgres"), { max: 1 });
    const client = connectPostgres(db.url!, {
      connectTimeoutSeconds: 2,
      applicationName: "listen-probe",
    });
    try {
      await db.client.close();
      // ALLOW_CONNECTIONS false refuses superusers too: the first LISTEN fails.
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      const got: string[] = [];
      await assert.rejects(client.listen("ch.one", (p) => got.push(p)));
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      // postgres.js's own listen() would fail here forever with the first rejection.
      await client.listen("ch.one", (p) => got.push(p));
      await client.query("SELECT pg_notify('ch.one', 'a')");
      await waitFor(() => got.length === 1, "the first notification");

      // Kill the listening connection while the database refuses new ones: the supervisor retries.
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'listen-probe'",
        [name],
      );
      await new Promise((r) => setTimeout(r, 1_500));
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      const deadline = Date.now() + 30_000;
      while (!got.includes("b") && Date.now() < deadline) {
        await client.query("SELECT pg_notify('ch.one', 'b')").catch(() => {});
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(got.includes("b"), "LISTEN resumed after the connection was killed");
    } finally {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`).catch(() => {});
      await client.close();
      await admin.close();
      await db.close();
    }
  },
});
