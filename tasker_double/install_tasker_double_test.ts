import assert from "node:assert/strict";
import { isUniqueViolation, type SqlExecutor, sqlState } from "../src/db/sql_client.ts";
import { installTaskerDouble, installTaskerDoubleQueues } from "./install_tasker_double.ts";
import { TaskerDoubleError } from "./tasker_double_error.ts";
import { startTestDatabase } from "../tests/support/database_harness.ts";
import { connectPostgres } from "../src/db/postgres_client.ts";
import { installPgmq } from "../src/db/pgmq_install.ts";
import type { SqlClient } from "../src/db/sql_client.ts";

/** A second connection to the same database when it has a URL; the same client on PGlite. */
function secondClient(db: { url?: string; client: SqlClient }): SqlClient {
  if (db.url) return connectPostgres(db.url, { max: 1 });
  const c = db.client;
  return {
    kind: c.kind,
    query: (text, params) => c.query(text, params),
    transaction: (fn) => c.transaction(fn),
    listen: (channel, onNotify) => c.listen(channel, onNotify),
    close: async () => {},
  };
}

const NOW = "now()";

/** Inserts a namespace, named task, task and one step per name; returns step uuids by name. */
async function seedTask(
  db: SqlExecutor,
  stepNames: string[],
): Promise<{ taskUuid: string; steps: Record<string, string> }> {
  const [ns] = await db.query<{ id: string }>(
    `INSERT INTO tasker.task_namespaces (name, created_at, updated_at)
     VALUES ('ns_' || substr(md5(random()::text), 1, 8), ${NOW}, ${NOW}) RETURNING task_namespace_uuid AS id`,
  );
  const [sys] = await db.query<{ id: string }>(
    `INSERT INTO tasker.dependent_systems (name, created_at, updated_at)
     VALUES ('sys_' || substr(md5(random()::text), 1, 8), ${NOW}, ${NOW}) RETURNING dependent_system_uuid AS id`,
  );
  const [nt] = await db.query<{ id: string }>(
    `INSERT INTO tasker.named_tasks (task_namespace_uuid, name, version, configuration, created_at, updated_at)
     VALUES ($1, 'demo', '1.0.0', '{}'::jsonb, ${NOW}, ${NOW}) RETURNING named_task_uuid AS id`,
    [ns.id],
  );
  const [task] = await db.query<{ id: string }>(
    `INSERT INTO tasker.tasks (named_task_uuid, requested_at, context, identity_hash, correlation_id,
                               created_at, updated_at)
     VALUES ($1, ${NOW}, '{}'::jsonb, md5(random()::text), gen_random_uuid(), ${NOW}, ${NOW})
     RETURNING task_uuid AS id`,
    [nt.id],
  );
  const steps: Record<string, string> = {};
  for (const name of stepNames) {
    const [named] = await db.query<{ id: string }>(
      `INSERT INTO tasker.named_steps (dependent_system_uuid, name, created_at, updated_at)
       VALUES ($1, $2, ${NOW}, ${NOW}) RETURNING named_step_uuid AS id`,
      [sys.id, name],
    );
    const [step] = await db.query<{ id: string }>(
      `INSERT INTO tasker.workflow_steps (task_uuid, named_step_uuid, results, processed, created_at, updated_at)
       VALUES ($1, $2, $3::jsonb, true, ${NOW}, ${NOW}) RETURNING workflow_step_uuid AS id`,
      [task.id, named.id, JSON.stringify({ result: { from: name } })],
    );
    steps[name] = step.id;
  }
  return { taskUuid: task.id, steps };
}

async function edge(db: SqlExecutor, from: string, to: string): Promise<void> {
  await db.query(
    `INSERT INTO tasker.workflow_step_edges (from_step_uuid, to_step_uuid, name, created_at, updated_at)
     VALUES ($1, $2, 'provides', now(), now())`,
    [from, to],
  );
}

Deno.test("installTaskerDouble() creates the worker-facing schema and the orchestration queues", async () => {
  const db = await startTestDatabase();
  try {
    const tables = await db.client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'tasker' ORDER BY 1`,
    );
    assert.deepEqual(tables.map((t) => t.table_name), [
      "dependent_systems",
      "named_steps",
      "named_tasks",
      "task_namespaces",
      "task_transitions",
      "tasks",
      "workflow_step_edges",
      "workflow_step_transitions",
      "workflow_steps",
    ]);
    const queues = await db.client.query<{ queue_name: string }>(
      `SELECT queue_name FROM pgmq.list_queues() ORDER BY 1`,
    );
    assert.deepEqual(queues.map((q) => q.queue_name), [
      "orchestration_step_results",
      "orchestration_task_finalizations",
      "orchestration_task_requests",
    ]);
    // A second install is a no-op that leaves data alone.
    const seeded = await seedTask(db.client, ["a"]);
    await installTaskerDouble(db.client);
    const steps = await db.client.query(
      "SELECT 1 FROM tasker.workflow_steps WHERE workflow_step_uuid = $1",
      [seeded.steps.a],
    );
    assert.equal(steps.length, 1);
  } finally {
    await db.close();
  }
});

Deno.test("installTaskerDouble() run by several connections at once installs exactly once", async () => {
  const db = await startTestDatabase({ skipTaskerDouble: true });
  const others = [secondClient(db), secondClient(db), secondClient(db)];
  try {
    await Promise.all([db.client, ...others].map((c) => installTaskerDouble(c)));
    const [row] = await db.client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace " +
        "WHERE n.nspname = 'tasker' AND p.proname = 'pgmq_send_with_notify'",
    );
    assert.equal(row.n, 1);
  } finally {
    await Promise.all(others.map((c) => c.close()));
    await db.close();
  }
});

Deno.test("installTaskerDouble() refuses a tasker schema it did not install", async () => {
  const db = await startTestDatabase({ skipTaskerDouble: true });
  try {
    await db.client.query("CREATE SCHEMA tasker");
    await db.client.query("CREATE TABLE tasker.workflow_steps (workflow_step_uuid uuid)");
    await assert.rejects(
      () => installTaskerDouble(db.client),
      (e: unknown) => e instanceof TaskerDoubleError && e.code === "schema_conflict",
    );
  } finally {
    await db.close();
  }
});

Deno.test("installTaskerDouble() refuses to run before pgmq is installed", async () => {
  const db = await startTestDatabase({ bare: true });
  try {
    await assert.rejects(
      () => installTaskerDouble(db.client),
      (e: unknown) => e instanceof TaskerDoubleError && e.code === "schema_conflict",
    );
  } finally {
    await db.close();
  }
});

Deno.test("installTaskerDouble({queues: false}) needs no pgmq; installTaskerDoubleQueues() adds the queue side", async () => {
  const db = await startTestDatabase({ bare: true });
  const has = async () =>
    (await db.client.query<{ steps: boolean; send: boolean }>(
      `SELECT to_regclass('tasker.workflow_steps') IS NOT NULL AS steps,
              to_regprocedure('tasker.pgmq_send_with_notify(text,jsonb,integer)') IS NOT NULL AS send`,
    ))[0];
  try {
    await installTaskerDouble(db.client, { queues: false });
    assert.deepEqual(await has(), { steps: true, send: false });
    // The queue side needs pgmq, and then completes the same database.
    await assert.rejects(
      () => installTaskerDoubleQueues(db.client),
      (e: unknown) => e instanceof TaskerDoubleError && /pgmq is not installed/.test(e.message),
    );
    await installPgmq(db.client);
    await installTaskerDoubleQueues(db.client);
    assert.deepEqual(await has(), { steps: true, send: true });
    // Both parts are marked installed: a full install finds nothing to do.
    await db.client.query("DROP FUNCTION tasker.extract_queue_namespace(text) CASCADE");
    await installTaskerDouble(db.client);
    const [gone] = await db.client.query<{ ok: boolean }>(
      "SELECT to_regprocedure('tasker.extract_queue_namespace(text)') IS NULL AS ok",
    );
    assert.equal(gone.ok, true, "the marker said current, so nothing ran again");
  } finally {
    await db.close();
  }
});

Deno.test("installTaskerDoubleQueues() refuses a queue database whose send function it did not install", async () => {
  const db = await startTestDatabase({ skipTaskerDouble: true });
  try {
    await db.client.query("CREATE SCHEMA tasker");
    await db.client.query(
      `CREATE FUNCTION tasker.pgmq_send_with_notify(q text, m jsonb, d integer) RETURNS bigint
       LANGUAGE sql AS 'SELECT 1::bigint'`,
    );
    await assert.rejects(
      () => installTaskerDoubleQueues(db.client),
      (e: unknown) => e instanceof TaskerDoubleError && e.code === "schema_conflict",
    );
  } finally {
    await db.close();
  }
});

Deno.test("tasker.uuid_generate_v7() makes version 7 UUIDs that sort in creation order", async () => {
  const db = await startTestDatabase();
  try {
    const made: string[] = [];
    for (let i = 0; i < 30; i++) {
      const [{ id }] = await db.client.query<{ id: string }>(
        "SELECT tasker.uuid_generate_v7() AS id",
      );
      made.push(id);
    }
    for (const id of made) {
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    assert.deepEqual([...made].sort(), made);
    assert.equal(new Set(made).size, made.length);
    // The first 48 bits are the Unix time in milliseconds.
    const ms = parseInt(made[0].replaceAll("-", "").slice(0, 12), 16);
    assert.ok(Math.abs(ms - Date.now()) < 60_000, `timestamp ${ms} is not now`);
  } finally {
    await db.close();
  }
});

Deno.test("a second most_recent transition for a step is a unique violation (23505)", async () => {
  const db = await startTestDatabase();
  try {
    const { steps } = await seedTask(db.client, ["only"]);
    const insert = (state: string, sortKey: number) =>
      db.client.query(
        `INSERT INTO tasker.workflow_step_transitions
           (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent, created_at, updated_at)
         VALUES ($1, $2, NULL, '{}'::jsonb, $3, true, now(), now())`,
        [steps.only, state, sortKey],
      );
    await insert("enqueued", 1);
    const error = await insert("in_progress", 2).then(() => undefined, (e) => e);
    assert.ok(isUniqueViolation(error), `expected 23505, got ${sqlState(error)}`);
    // Not most recent: allowed, history keeps any number of rows.
    await db.client.query(
      `INSERT INTO tasker.workflow_step_transitions
         (workflow_step_uuid, to_state, sort_key, most_recent, created_at, updated_at)
       VALUES ($1, 'pending', 0, false, now(), now())`,
      [steps.only],
    );
    // Tasker's schema has no timestamp defaults: a worker must set created_at/updated_at.
    const missing = await db.client.query(
      `INSERT INTO tasker.workflow_step_transitions (workflow_step_uuid, to_state, sort_key, most_recent)
       VALUES ($1, 'pending', 5, false)`,
      [steps.only],
    ).then(() => undefined, (e) => e);
    assert.equal(sqlState(missing), "23502");
    // States are checked like Tasker's.
    const badState = await db.client.query(
      `INSERT INTO tasker.workflow_step_transitions
         (workflow_step_uuid, to_state, sort_key, most_recent, created_at, updated_at)
       VALUES ($1, 'done', 6, false, now(), now())`,
      [steps.only],
    ).then(() => undefined, (e) => e);
    assert.equal(sqlState(badState), "23514");
  } finally {
    await db.close();
  }
});

Deno.test("a second most_recent task transition is a unique violation too", async () => {
  const db = await startTestDatabase();
  try {
    const { taskUuid } = await seedTask(db.client, []);
    const insert = (sortKey: number) =>
      db.client.query(
        `INSERT INTO tasker.task_transitions (task_uuid, to_state, sort_key, most_recent, created_at, updated_at)
         VALUES ($1, 'pending', $2, true, now(), now())`,
        [taskUuid, sortKey],
      );
    await insert(1);
    assert.ok(isUniqueViolation(await insert(2).then(() => undefined, (e) => e)));
  } finally {
    await db.close();
  }
});

Deno.test("get_step_transitive_dependencies() returns every ancestor with its distance on a diamond", async () => {
  const db = await startTestDatabase();
  try {
    // root → left → sink, root → right → sink, sink → tail; "stray" is unrelated.
    const { steps } = await seedTask(db.client, ["root", "left", "right", "sink", "tail", "stray"]);
    await edge(db.client, steps.root, steps.left);
    await edge(db.client, steps.root, steps.right);
    await edge(db.client, steps.left, steps.sink);
    await edge(db.client, steps.right, steps.sink);
    await edge(db.client, steps.sink, steps.tail);
    const rows = await db.client.query<{
      workflow_step_uuid: string;
      step_name: string;
      distance: number;
      processed: boolean;
      results: { result: { from: string } };
    }>("SELECT * FROM tasker.get_step_transitive_dependencies($1)", [steps.tail]);
    const seen = rows.map((r) => `${r.step_name}@${r.distance}`).sort();
    // One row per path, as Tasker's UNION ALL does: root is reached through left and right.
    assert.deepEqual(seen, ["left@2", "right@2", "root@3", "root@3", "sink@1"]);
    for (const r of rows) {
      assert.equal(r.workflow_step_uuid, steps[r.step_name]);
      assert.equal(r.results.result.from, r.step_name);
      assert.equal(r.processed, true);
    }
    // Ordered nearest first.
    assert.deepEqual(rows.map((r) => r.distance), [...rows.map((r) => r.distance)].sort());
    assert.deepEqual(
      await db.client.query("SELECT * FROM tasker.get_step_transitive_dependencies($1)", [
        steps.root,
      ]),
      [],
    );
  } finally {
    await db.close();
  }
});

Deno.test("pgmq_send_with_notify() sends and notifies the namespace and global channels", async () => {
  const db = await startTestDatabase();
  const listener = secondClient(db);
  try {
    await db.client.query("SELECT pgmq.create('worker_catalog_queue')");
    const got: { channel: string; payload: Record<string, unknown> }[] = [];
    for (
      const channel of [
        "pgmq_message_ready.catalog",
        "pgmq_message_ready",
        "pgmq_message_ready.orchestration",
      ]
    ) {
      await listener.listen(channel, (p) => got.push({ channel, payload: JSON.parse(p) }));
    }
    const message = { task_uuid: crypto.randomUUID(), step_uuid: crypto.randomUUID() };
    const [{ id }] = await db.client.query<{ id: number }>(
      "SELECT tasker.pgmq_send_with_notify('worker_catalog_queue', $1::jsonb, 0) AS id",
      [JSON.stringify(message)],
    );
    assert.equal(typeof id, "number");
    const read = await db.client.query<{ msg_id: number; message: unknown }>(
      "SELECT msg_id, message FROM pgmq.read('worker_catalog_queue', 30, 10)",
    );
    assert.deepEqual(read.map((r) => [r.msg_id, r.message]), [[id, message]]);

    await waitFor(() => got.length >= 2);
    assert.deepEqual(got.map((g) => g.channel).sort(), [
      "pgmq_message_ready",
      "pgmq_message_ready.catalog",
    ]);
    for (const { payload } of got) {
      assert.equal(payload.event_type, "message_with_payload");
      assert.equal(payload.msg_id, id);
      assert.equal(payload.queue_name, "worker_catalog_queue");
      assert.equal(payload.namespace, "catalog");
      assert.deepEqual(payload.message, message);
      assert.equal(payload.delay_seconds, 0);
      assert.ok(!Number.isNaN(Date.parse(String(payload.ready_at))));
    }

    // orchestration_* queues notify namespace "orchestration"; a big message is signal-only.
    got.length = 0;
    const big = { task_uuid: "x", pad: "y".repeat(7100) };
    const [{ id: bigId }] = await db.client.query<{ id: number }>(
      "SELECT tasker.pgmq_send_with_notify('orchestration_step_results', $1::jsonb, 60) AS id",
      [JSON.stringify(big)],
    );
    await waitFor(() => got.length >= 2);
    assert.deepEqual(got.map((g) => g.channel).sort(), [
      "pgmq_message_ready",
      "pgmq_message_ready.orchestration",
    ]);
    for (const { payload } of got) {
      assert.equal(payload.event_type, "message_ready");
      assert.equal(payload.msg_id, bigId);
      assert.equal(payload.namespace, "orchestration");
      assert.equal(payload.payload_omitted, true);
      assert.equal(payload.delay_seconds, 60);
      assert.equal("message" in payload, false);
    }
    // The delay is honoured: the message is not visible yet (60 s: however slow the wait above).
    const early = await db.client.query(
      "SELECT msg_id FROM pgmq.read('orchestration_step_results', 30, 10)",
    );
    assert.deepEqual(early, []);
  } finally {
    await listener.close();
    await db.close();
  }
});

Deno.test("pgmq_send_with_notify() in a rolled-back transaction neither sends nor notifies", async () => {
  const db = await startTestDatabase();
  const listener = secondClient(db);
  try {
    await db.client.query("SELECT pgmq.create('worker_catalog_queue')");
    const got: string[] = [];
    await listener.listen("pgmq_message_ready", (p) => got.push(p));
    await db.client.transaction(async (tx) => {
      await tx.query("SELECT tasker.pgmq_send_with_notify('worker_catalog_queue', '{}'::jsonb, 0)");
      throw new Error("roll back");
    }).catch(() => {});
    // A committed send afterwards proves the listener works; only its notification arrives.
    await db.client.query(
      "SELECT tasker.pgmq_send_with_notify('worker_catalog_queue', '{\"n\":2}'::jsonb, 0)",
    );
    await waitFor(() => got.length >= 1);
    assert.equal(got.length, 1);
    assert.deepEqual(JSON.parse(got[0]).message, { n: 2 });
    const [{ n }] = await db.client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pgmq.q_worker_catalog_queue",
    );
    assert.equal(n, 1);
  } finally {
    await listener.close();
    await db.close();
  }
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met before the deadline");
    await new Promise((r) => setTimeout(r, 20));
  }
}
