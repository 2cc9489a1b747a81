import assert from "node:assert/strict";
import { startTestDatabase } from "../../tests/support/database_harness.ts";
import { missingObjects, QUEUE_OBJECTS, TASKER_OBJECTS } from "./tasker_schema.ts";

Deno.test("missingObjects() finds nothing missing in a database with the Tasker double", async () => {
  const db = await startTestDatabase();
  try {
    assert.deepEqual(await missingObjects(db.client, [...TASKER_OBJECTS, ...QUEUE_OBJECTS]), []);
  } finally {
    await db.close();
  }
});

Deno.test("missingObjects() names, in order, each table and function a database lacks", async () => {
  const db = await startTestDatabase({ bare: true });
  try {
    assert.deepEqual(await missingObjects(db.client, TASKER_OBJECTS), [...TASKER_OBJECTS]);
    await db.client.query("CREATE SCHEMA tasker");
    await db.client.query("CREATE TABLE tasker.workflow_steps (workflow_step_uuid uuid)");
    // A function of the right name with other arguments is not the one needed.
    await db.client.query(
      "CREATE FUNCTION tasker.get_step_transitive_dependencies(t text) RETURNS int LANGUAGE sql AS 'SELECT 1'",
    );
    assert.deepEqual(await missingObjects(db.client, TASKER_OBJECTS), [
      "tasker.tasks",
      "tasker.named_tasks",
      "tasker.workflow_step_transitions",
      "tasker.get_step_transitive_dependencies(uuid)",
    ]);
  } finally {
    await db.close();
  }
});
