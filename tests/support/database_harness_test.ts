import assert from "node:assert/strict";
import { connectPostgres } from "../../src/db/postgres_client.ts";
import {
  canStartCluster,
  canStartPostgres,
  startTestDatabase,
  withDatabase,
} from "./database_harness.ts";

const leaky = { sanitizeOps: false, sanitizeResources: false };

async function assertPrepared(client: { query: <R>(t: string) => Promise<R[]> }): Promise<void> {
  const [row] = await client.query<{ pgmq: boolean; tasker: boolean }>(
    "SELECT to_regprocedure('pgmq.send(text,jsonb,integer)') IS NOT NULL AS pgmq, to_regclass('tasker.workflow_steps') IS NOT NULL AS tasker",
  );
  assert.deepEqual(row, { pgmq: true, tasker: true });
}

Deno.test({
  name:
    "startTestDatabase gives a fresh real database with pgmq and the Tasker double, dropped on close",
  ignore: !canStartPostgres(),
  ...leaky,
  fn: async () => {
    const a = await startTestDatabase({ kind: "postgres" });
    const b = await startTestDatabase();
    try {
      assert.equal(a.kind, "postgres");
      assert.equal(b.kind, "postgres", "auto picks a real server when one can be had");
      assert.notEqual(a.url, b.url);
      assert.match(a.url!, /\/wb_test_[0-9a-f]{16}$/);
      await assertPrepared(a.client);
      await a.client.query("CREATE TABLE only_in_a (n int)");
      const [row] = await b.client.query<{ t: string | null }>(
        "SELECT to_regclass('only_in_a')::text AS t",
      );
      assert.equal(row.t, null, "databases are independent");
    } finally {
      await b.close();
    }
    const name = new URL(a.url!).pathname.slice(1);
    // A connected subprocess-like client must not stop the drop.
    const straggler = connectPostgres(a.url!, { max: 1 });
    await straggler.query("SELECT 1");
    await a.close();
    await a.close();
    await straggler.close();
    const admin = connectPostgres(withDatabase(a.url!, "postgres"), { max: 1 });
    try {
      const rows = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
      assert.deepEqual(rows, [], "the database is dropped");
    } finally {
      await admin.close();
    }
  },
});

Deno.test({
  name:
    "startTestDatabase kind pglite gives an in-process database with pgmq and the Tasker double",
  ...leaky,
  fn: async () => {
    const db = await startTestDatabase({ kind: "pglite" });
    try {
      assert.equal(db.kind, "pglite");
      assert.equal(db.url, undefined);
      assert.equal(db.server, undefined);
      await assertPrepared(db.client);
    } finally {
      await db.close();
    }
    await assert.rejects(db.client.query("SELECT 1"));
  },
});

Deno.test({
  name: "startTestDatabase controllable gives a dedicated cluster that stops, starts and restarts",
  ignore: !canStartCluster(),
  ...leaky,
  fn: async () => {
    const db = await startTestDatabase({ controllable: true, skipTaskerDouble: true });
    const port = new URL(db.url!).port;
    try {
      assert.ok(db.server);
      await db.server.stop();
      await assert.rejects(db.client.query("SELECT 1"));
      await db.server.start();
      await db.server.restart();
      assert.equal(new URL(db.url!).port, port, "same port after restarts");
      let ok = false;
      for (let i = 0; i < 100 && !ok; i++) {
        ok = await db.client.query("SELECT 1").then(() => true, () => false);
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(ok, "queries work after the restart");
    } finally {
      await db.close();
    }
    const dirs = [...Deno.readDirSync("/tmp")].filter((e) =>
      e.name.startsWith(`wb_pg_${Deno.pid}_`)
    );
    // The shared cluster of this process (if any test used it) may remain until exit; the dedicated one is gone.
    assert.ok(dirs.length <= 1, dirs.map((d) => d.name).join(", "));
  },
});

Deno.test({
  name:
    "startTestDatabase served PGlite: other clients reach it by URL; controllable, it restarts on its port and keeps its data",
  ...leaky,
  fn: async () => {
    const served = await startTestDatabase({ kind: "pglite", served: true });
    try {
      assert.match(served.url!, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
      const other = connectPostgres(served.url!, { max: 1 });
      try {
        await assertPrepared(other);
      } finally {
        await other.close();
      }
    } finally {
      await served.close();
    }

    const db = await startTestDatabase({ kind: "pglite", controllable: true });
    try {
      assert.equal(db.kind, "pglite");
      await assertPrepared(db.client);
      await db.client.query("CREATE TABLE public.kept (n int); INSERT INTO public.kept VALUES (7)");
      await db.server!.stop();
      await assert.rejects(db.client.query("SELECT 1"), "the server is down");
      await db.server!.start();
      await db.server!.restart();
      let rows: { n: number }[] | undefined;
      for (let i = 0; i < 100 && !rows; i++) {
        rows = await db.client.query<{ n: number }>("SELECT n FROM public.kept").catch(() => {
          return undefined;
        });
        if (!rows) await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(rows, [{ n: 7 }], "same port, same data after the restarts");
      await db.server!.stop(); // then closed while stopped
    } finally {
      await db.close();
    }
    await assert.rejects(db.client.query("SELECT 1"));
  },
});
