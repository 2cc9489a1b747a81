/**
 * One read of 20 messages from a 10,000-message backlog, plain `pgmq.read`
 * against the broker's `readMessages` (src/tasker/pgmq_queue.ts), with the
 * queue table's statistics right and stale in the two ways a drained queue
 * leaves them (tests/support/queue_statistics.ts). Each read's messages are
 * archived after it, outside the timing, so the next read takes the next 20.
 *
 *   deno bench -A bench/pgmq_read_bench.ts
 *
 * Runs on a throwaway cluster (PostgreSQL's binaries, as the tests start
 * one), or on a fresh database of `DATABASE_URL`'s server when that is set.
 *
 * @module
 */
import { readMessages } from "../src/tasker/pgmq_queue.ts";
import { namespaceQueueName } from "../src/tasker/queue_names.ts";
import { startTestDatabase } from "../tests/support/database_harness.ts";
import {
  QUEUE_STATISTICS,
  type QueueStatistics,
  queueWithStatistics,
} from "../tests/support/queue_statistics.ts";

const BACKLOG = 10_000;
const QTY = 20;
// 10 warm-up and 200 measured reads of 20 leave more than half the backlog.
const RUNS = { n: 200, warmup: 10 };

const db = await startTestDatabase({ kind: "postgres" });
const client = db.client;
globalThis.addEventListener("unload", () => {
  // deno bench ends the process after the last bench; the cluster must not outlive it.
  void db.close();
});

const readers = {
  "plain pgmq.read": async (queue: string) =>
    (await client.query<{ msg_id: number }>(
      "SELECT msg_id FROM pgmq.read($1::text, 30, $2::integer)",
      [queue, QTY],
    )).map((row) => Number(row.msg_id)),
  readMessages: async (queue: string) =>
    (await readMessages(client, queue, { vtSeconds: 30, qty: QTY })).map((m) => m.msgId),
};

let n = 0;
for (const statistics of Object.keys(QUEUE_STATISTICS) as QueueStatistics[]) {
  for (const [reader, read] of Object.entries(readers)) {
    const queue = namespaceQueueName(`read_bench_${n++}`);
    await queueWithStatistics(client, queue, statistics, BACKLOG);
    Deno.bench({
      name: `${reader}, statistics say ${statistics}`,
      group: `statistics say ${statistics}`,
      baseline: reader === "plain pgmq.read",
      ...RUNS,
    }, async (b) => {
      b.start();
      const ids = await read(queue);
      b.end();
      if (ids.length !== QTY) throw new Error(`read ${ids.length} of ${QTY} messages`);
      await client.query("SELECT pgmq.archive($1::text, $2::text::bigint[])", [queue, `{${ids}}`]);
    });
  }
}
