import assert from "node:assert/strict";
import { PGlite } from "@electric-sql/pglite";
import { startTestDatabase } from "../../tests/support/database_harness.ts";
import { sqlClientConformance } from "../../tests/support/sql_client_conformance.ts";
import { createPgliteClient } from "./pglite_client.ts";
import { pgliteSession } from "./pglite_session.ts";

sqlClientConformance(
  "PgliteClient",
  () => startTestDatabase({ kind: "pglite", skipTaskerDouble: true }),
  {
    pgmq: true,
  },
);

Deno.test("PgliteClient keeps a statement from running inside another caller's open transaction", async () => {
  const db = await PGlite.create();
  const client = createPgliteClient(db, { closeDatabase: true });
  try {
    await client.query("CREATE TABLE t (n int)");
    let release!: () => void;
    const held = new Promise<void>((r) => release = r);
    let inside!: () => void;
    const entered = new Promise<void>((r) => inside = r);
    const tx = client.transaction(async (t) => {
      await t.query("INSERT INTO t VALUES (1)");
      inside();
      await held;
      throw new Error("roll back");
    });
    await entered;
    // Issued while the transaction is open: must wait for it, not join it.
    const outside = client.query("INSERT INTO t VALUES (2)");
    let outsideDone = false;
    outside.then(() => outsideDone = true, () => outsideDone = true);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(outsideDone, false, "the outside statement must wait for the transaction");
    release();
    await assert.rejects(tx, /roll back/);
    await outside;
    assert.deepEqual(await client.query("SELECT n FROM t"), [{ n: 2 }]);
  } finally {
    await client.close();
  }
});

Deno.test("PgliteClient.close waits for pending statements and closes the PGlite it owns", async () => {
  const db = await PGlite.create();
  const client = createPgliteClient(db, { closeDatabase: true });
  const pending = client.query<{ n: number }>("SELECT pg_sleep(0.05), 5 AS n");
  await client.close();
  assert.deepEqual((await pending).map((r) => r.n), [5]);
  assert.equal(db.closed, true);
});

Deno.test("PgliteClient leaves a PGlite it does not own open", async () => {
  const db = await PGlite.create();
  try {
    const client = createPgliteClient(db);
    await client.query("SELECT 1");
    await client.close();
    assert.equal(db.closed, false);
    assert.equal(pgliteSession(db).gate.owner, undefined);
  } finally {
    await db.close();
  }
});
