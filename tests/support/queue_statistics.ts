/**
 * A pgmq queue holding a backlog, its table's statistics right or stale the
 * way a queue leaves them after a backlog drained and before autovacuum
 * analyzes it again. pgmq.read plans its query from them on every call
 * (docs/tasker-protocol.md, the footnote on reads); the pgmq_queue test and
 * `bench/pgmq_read_bench.ts` build them here.
 *
 * @example
 * ```ts ignore
 * const table = await queueWithStatistics(client, "worker_x_queue", "no rows", 3000);
 * ```
 *
 * @module
 */
import type { SqlExecutor } from "../../src/db/sql_client.ts";
import { createQueue } from "../../src/tasker/pgmq_queue.ts";

/** What the statistics say, and the statements that leave them so after a first backlog. */
export const QUEUE_STATISTICS = {
  // No first backlog; analyzed with the backlog in: the statistics are right.
  "the backlog": (_table: string): string[] => [],
  // A few messages left at the end (VACUUM cannot shrink the table), then
  // analyzed: a few rows. Plain pgmq.read scans and sorts the queue.
  "a few rows": (table: string): string[] => [
    `DELETE FROM ${table} WHERE msg_id <= (SELECT max(msg_id) - 5 FROM ${table})`,
    `VACUUM ANALYZE ${table}`,
  ],
  // Emptied and vacuumed, but not shrunk (VACUUM gives up shrinking a table
  // whose lock it cannot take within a few seconds, as readers of a busy
  // queue can keep it from doing): no rows in the pages left. Plain
  // pgmq.read walks the whole primary key and, for each message, the
  // messages it picked.
  "no rows": (table: string): string[] => [
    `DELETE FROM ${table}`,
    `ALTER TABLE ${table} SET (vacuum_truncate = false)`,
    `VACUUM ANALYZE ${table}`,
  ],
};

/** A key of {@link QUEUE_STATISTICS}. */
export type QueueStatistics = keyof typeof QUEUE_STATISTICS;

/**
 * Creates `queue` (pgmq.create) with `backlog` visible messages, its table's
 * statistics saying `statistics` and autovacuum off for it (an analysis
 * would make them right). Returns the queue table's name.
 */
export async function queueWithStatistics(
  client: SqlExecutor,
  queue: string,
  statistics: QueueStatistics,
  backlog: number,
): Promise<string> {
  const table = `pgmq.q_${queue}`;
  await createQueue(client, queue);
  await client.query(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`);
  const fill = () =>
    client.query(
      `INSERT INTO ${table} (vt, message) SELECT clock_timestamp(), jsonb_build_object('i', g)
       FROM generate_series(1, $1::int) g`,
      [backlog],
    );
  // A first backlog, drained as `statistics` says, then the backlog.
  const drained = QUEUE_STATISTICS[statistics](table);
  if (drained.length > 0) await fill();
  for (const statement of drained) await client.query(statement);
  await fill();
  if (drained.length === 0) await client.query(`ANALYZE ${table}`);
  return table;
}
