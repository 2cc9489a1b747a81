import assert from "node:assert/strict";
import { connectPostgres } from "../db/postgres_client.ts";
import { testOnEveryDatabase } from "./_tasker_fixture.ts";
import {
  archiveMessage,
  createQueue,
  queueDepth,
  readMessages,
  sendWithNotify,
  setVisibilityTimeout,
} from "./pgmq_queue.ts";
import { namespaceQueueName, notifyChannel } from "./queue_names.ts";
import { parseNotifyPayload } from "./step_message.ts";
import { TaskerError } from "./tasker_error.ts";

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

testOnEveryDatabase("pgmq_queue", async (db, t) => {
  const client = db.client;
  const queue = namespaceQueueName("pgmq_test");

  await t.step("createQueue() is idempotent", async () => {
    await createQueue(client, queue);
    await createQueue(client, queue);
    const rows = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pgmq.list_queues() WHERE queue_name = $1",
      [queue],
    );
    assert.equal(rows[0].n, 1);
  });

  await t.step("send, read with a visibility timeout, extend, archive", async () => {
    const body = { task_uuid: crypto.randomUUID(), step_uuid: crypto.randomUUID(), n: 1 };
    const msgId = await sendWithNotify(client, queue, body);
    assert.ok(Number.isSafeInteger(msgId) && msgId > 0);
    assert.deepEqual(await queueDepth(client, queue), { total: 1, visible: 1 });

    const [read] = await readMessages(client, queue, { vtSeconds: 30, qty: 5 });
    assert.equal(read.msgId, msgId);
    assert.equal(read.readCount, 1);
    assert.deepEqual(read.message, body);
    assert.ok(read.enqueuedAt instanceof Date && read.vt instanceof Date);
    assert.ok(read.vt.getTime() > read.enqueuedAt.getTime() + 20_000);
    // Hidden for 30 s: a second reader gets nothing.
    assert.deepEqual(await readMessages(client, queue, { vtSeconds: 30, qty: 5 }), []);
    assert.deepEqual(await queueDepth(client, queue), { total: 1, visible: 0 });

    // Extending moves the visibility time; 0 makes it visible now.
    const extended = await setVisibilityTimeout(client, queue, msgId, 120);
    assert.ok(extended && extended.getTime() > read.vt.getTime());
    assert.ok(await setVisibilityTimeout(client, queue, msgId, 0));
    const [again] = await readMessages(client, queue, { vtSeconds: 30, qty: 5 });
    assert.equal(again.msgId, msgId);
    assert.equal(again.readCount, 2);

    assert.equal(await archiveMessage(client, queue, msgId), true);
    assert.equal(await archiveMessage(client, queue, msgId), false);
    assert.equal(await setVisibilityTimeout(client, queue, msgId, 10), null);
    assert.deepEqual(await queueDepth(client, queue), { total: 0, visible: 0 });
    const archived = await client.query<{ msg_id: number }>(
      `SELECT msg_id FROM pgmq.a_${queue} WHERE msg_id = $1`,
      [msgId],
    );
    assert.equal(archived.length, 1);
  });

  await t.step("readMessages() returns at most qty, oldest first", async () => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await sendWithNotify(client, queue, { i }));
    const first = await readMessages(client, queue, { vtSeconds: 30, qty: 3 });
    assert.deepEqual(first.map((m) => m.msgId), ids.slice(0, 3));
    const rest = await readMessages(client, queue, { vtSeconds: 30, qty: 10 });
    assert.deepEqual(rest.map((m) => m.msgId), ids.slice(3));
    for (const id of ids) assert.ok(await archiveMessage(client, queue, id));
  });

  await t.step("readMessages() walks the key when the queue's statistics are stale", async () => {
    // A backlog drained but for a few messages at the end (so VACUUM cannot
    // shrink the table), the table analyzed, then a new backlog: the
    // statistics say a few rows, the table holds thousands. Planned from them,
    // pgmq.read scans and sorts the whole queue on every read.
    const stale = namespaceQueueName("pgmq_stale");
    const table = `pgmq.q_${stale}`;
    await createQueue(client, stale);
    const fill = (n: number) =>
      client.query(
        `INSERT INTO ${table} (vt, message) SELECT clock_timestamp(), jsonb_build_object('i', g)
         FROM generate_series(1, $1::int) g`,
        [n],
      );
    await fill(3000);
    await client.query(
      `DELETE FROM ${table} WHERE msg_id <= (SELECT max(msg_id) - 5 FROM ${table})`,
    );
    await client.query(`VACUUM ANALYZE ${table}`);
    await fill(3000);
    const [oldest] = await client.query<{ id: number }>(`SELECT min(msg_id) AS id FROM ${table}`);
    const settingsSql = `SELECT current_setting('enable_seqscan') AS seqscan,
      current_setting('enable_sort') AS sort, current_setting('enable_hashjoin') AS hashjoin,
      current_setting('enable_mergejoin') AS mergejoin`;
    const allOn = { seqscan: "on", sort: "on", hashjoin: "on", mergejoin: "on" };
    // Rolled back: neither read takes the messages.
    await assert.rejects(
      client.transaction(async (tx) => {
        // The counts of this backend not yet flushed (earlier statements') come along.
        const seqScans = async () =>
          (await tx.query<{ n: number }>(
            "SELECT seq_scan::int AS n FROM pg_stat_xact_user_tables WHERE relid = $1::regclass",
            [table],
          ))[0].n;
        // The statistics are stale: plain pgmq.read scans the whole queue.
        const start = await seqScans();
        await tx.query("SELECT * FROM pgmq.read($1::text, 30, 20)", [stale]);
        const plain = await seqScans();
        assert.ok(plain > start, "the statistics this test builds make pgmq.read scan the queue");
        await tx.query(`UPDATE ${table} SET vt = clock_timestamp()`);
        const before = await seqScans();
        const read = await readMessages(tx, stale, { vtSeconds: 30, qty: 20 });
        assert.equal(await seqScans() - before, 0, "no read of the whole queue");
        assert.equal(read.length, 20);
        assert.equal(read[0].msgId, Number(oldest.id));
        // Inside a transaction the settings stay until it ends (documented).
        const [inside] = await tx.query(settingsSql);
        assert.deepEqual(inside, {
          seqscan: "off",
          sort: "off",
          hashjoin: "off",
          mergejoin: "off",
        });
        throw new Error("roll back");
      }),
      /roll back/,
    );
    // Outside a transaction they end with the statement. One connection, so
    // the next statement is on the same session.
    const one = db.url ? connectPostgres(db.url, { max: 1 }) : client;
    try {
      assert.equal((await readMessages(one, stale, { vtSeconds: 30, qty: 1 })).length, 1);
      const [settings] = await one.query(settingsSql);
      assert.deepEqual(settings, allOn);
    } finally {
      if (one !== client) await one.close();
    }
    await client.query("SELECT pgmq.drop_queue($1::text)", [stale]);
  });

  await t.step("sendWithNotify() honours the delay", async () => {
    const msgId = await sendWithNotify(client, queue, { later: true }, { delaySeconds: 60 });
    assert.deepEqual(await readMessages(client, queue, { vtSeconds: 30, qty: 5 }), []);
    assert.deepEqual(await queueDepth(client, queue), { total: 1, visible: 0 });
    assert.ok(await archiveMessage(client, queue, msgId));
  });

  await t.step("sendWithNotify() notifies the namespace channel on commit only", async () => {
    const payloads: string[] = [];
    const stop = await client.listen(notifyChannel("pgmq_test"), (p) => payloads.push(p));
    try {
      // Rolled back: neither message nor notification.
      await assert.rejects(client.transaction(async (tx) => {
        await sendWithNotify(tx, queue, { rolled: "back" });
        throw new Error("roll back");
      }));
      const msgId = await client.transaction((tx) => sendWithNotify(tx, queue, { hello: 1 }));
      await waitFor("the notification", () => payloads.length > 0);
      const parsed = payloads.map(parseNotifyPayload);
      assert.equal(parsed.length, 1, JSON.stringify(payloads));
      assert.ok(parsed[0].ok);
      assert.deepEqual(parsed[0].event, {
        type: "message_with_payload",
        msgId,
        queueName: queue,
        namespace: "pgmq_test",
        message: { hello: 1 },
        delaySeconds: 0,
      });
      assert.deepEqual(await queueDepth(client, queue), { total: 1, visible: 1 });
      assert.ok(await archiveMessage(client, queue, msgId));
    } finally {
      await stop();
    }
  });

  await t.step("a missing queue is queue_missing; bad arguments are RangeErrors", async () => {
    const missing = namespaceQueueName("nobody_here");
    for (
      const call of [
        () => readMessages(client, missing, { vtSeconds: 1, qty: 1 }),
        () => archiveMessage(client, missing, 1),
        () => setVisibilityTimeout(client, missing, 1, 1),
        () => queueDepth(client, missing),
        () => sendWithNotify(client, missing, {}),
      ]
    ) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof TaskerError);
        assert.equal(error.taskerCode, "queue_missing");
        assert.equal(error.details.queue, missing);
        return true;
      });
    }
    await assert.rejects(readMessages(client, queue, { vtSeconds: -1, qty: 1 }), RangeError);
    await assert.rejects(readMessages(client, queue, { vtSeconds: 1, qty: 0 }), RangeError);
    await assert.rejects(readMessages(client, queue, { vtSeconds: 1.5, qty: 1 }), RangeError);
    await assert.rejects(archiveMessage(client, queue, 0), RangeError);
    await assert.rejects(sendWithNotify(client, queue, {}, { delaySeconds: -2 }), RangeError);
  });
});
