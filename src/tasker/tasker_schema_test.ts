import assert from "node:assert/strict";
import { canStartPostgres, startTestDatabase } from "../../tests/support/database_harness.ts";
import { missingObjects, QUEUE_OBJECTS, TASKER_OBJECTS } from "./tasker_schema.ts";

for (const kind of ["postgres", "pglite"] as const) {
  Deno.test({
    name: `missingObjects() finds nothing missing in a database with the Tasker double (${kind})`,
    ignore: kind === "postgres" && !canStartPostgres(),
  }, async () => {
    const db = await startTestDatabase({ kind });
    try {
      assert.deepEqual(await missingObjects(db.client, [...TASKER_OBJECTS, ...QUEUE_OBJECTS]), []);
    } finally {
      await db.close();
    }
  });

  Deno.test({
    name: `missingObjects() names, in order, each table and function a database lacks (${kind})`,
    ignore: kind === "postgres" && !canStartPostgres(),
  }, async () => {
    const db = await startTestDatabase({ kind, bare: true });
    try {
      assert.deepEqual(await missingObjects(db.client, TASKER_OBJECTS), [...TASKER_OBJECTS]);
      await db.client.query("CREATE SCHEMA tasker");
      await db.client.query("CREATE TABLE tasker.workflow_steps (workflow_step_uuid uuid)");
      // A function of the right name with other arguments is not the one needed.
      await db.client.query(
        "CREATE FUNCTION tasker.get_step_transitive_dependencies(t text) RETURNS int LANGUAGE sql AS 'SELECT 1'",
      );
      assert.deepEqual(
        await missingObjects(db.client, TASKER_OBJECTS),
        TASKER_OBJECTS.filter((name) => name !== "tasker.workflow_steps"),
      );
    } finally {
      await db.close();
    }
  });
}
