/**
 * The pgmq calls a Tasker worker makes, over any {@link SqlExecutor} (a
 * client or a transaction). Only functions of pgmq 1.11.1 and Tasker's
 * `tasker.pgmq_send_with_notify` are used, so the same code runs on a server
 * with the pgmq extension, on a SQL-only install, and on PGlite.
 *
 * A missing queue is reported as `queue_missing` (a {@link TaskerError});
 * other database failures are passed on unchanged (their SQLSTATE readable
 * with `sqlState`).
 *
 * @module
 */
import { type SqlExecutor, sqlState } from "../db/sql_client.ts";
import { TaskerError } from "./tasker_error.ts";

/** One message read from a queue. */
export interface QueueMessage {
  msgId: number;
  /** How many times the message was read, this read included. */
  readCount: number;
  enqueuedAt: Date;
  /** When the message becomes visible again unless archived or extended. */
  vt: Date;
  /** The body (jsonb, parsed). */
  message: unknown;
}

/** Options for {@link readMessages}. */
export interface ReadMessagesOptions {
  /** Seconds the read messages stay invisible to other readers (integer ≥ 0). */
  vtSeconds: number;
  /** At most this many messages (integer ≥ 1). */
  qty: number;
}

/** A queue's size (see {@link queueDepth}). */
export interface QueueDepth {
  /** Every message in the queue, visible or not. */
  total: number;
  /** Messages a read would return now. */
  visible: number;
}

/**
 * Creates `queue` if it does not exist (`pgmq.create`, idempotent and safe
 * to race: pgmq takes an advisory lock).
 *
 * @example
 * ```ts ignore
 * await createQueue(client, "worker_catalog_queue");
 * ```
 */
export async function createQueue(client: SqlExecutor, queue: string): Promise<void> {
  await client.query("SELECT pgmq.create($1::text)", [queue]);
}

/**
 * Reads up to `qty` visible messages (`pgmq.read`), hiding them for
 * `vtSeconds`. Oldest first.
 *
 * pgmq.read plans its query on every call, from the queue table's
 * statistics, and a queue often leaves them stale. Analyzed after a backlog
 * drained, the table looks empty or nearly so (no rows, or a few at its end,
 * in pages VACUUM kept) when the next backlog arrives. Planned for that,
 * pgmq.read finds the oldest messages by reading and sorting the whole
 * queue, or it walks the whole queue's primary key as the outer side of its
 * join and rescans the messages it picked for every row (10 ms a read of 20
 * from 3,000 messages on PostgreSQL 15). Either cost grows with the backlog
 * and is paid by every read until the table is analyzed again. So the
 * statement first turns off, for pgmq.read's query, the plans that read the
 * whole table ({@link READ_PLANNER_SETTINGS}): sequential scans, sorts, hash
 * and merge joins, and plain index scans. What is left is the primary key
 * walked from the oldest message (an index scan, disabled too, but the only
 * way to the messages in key order; it still steps over the hidden messages
 * at the queue's head, those in flight or delayed) and each picked message
 * updated through a bitmap scan of the key. Before PostgreSQL 18 the disabled
 * walk's cost crosses `jit_above_cost`, so JIT is turned off too (compiling
 * took 100–160 ms a read). `set_config(…, true)` lasts until the transaction
 * ends: outside a transaction, as every caller here reads, that is this
 * statement. Inside one, the settings stay until it ends, for every later
 * query of that transaction.
 *
 * @example
 * ```ts ignore
 * const batch = await readMessages(client, "worker_catalog_queue", { vtSeconds: 30, qty: 20 });
 * ```
 */
export async function readMessages(
  client: SqlExecutor,
  queue: string,
  options: ReadMessagesOptions,
): Promise<QueueMessage[]> {
  checkInteger("vtSeconds", options.vtSeconds, 0);
  checkInteger("qty", options.qty, 1);
  const rows = await onQueue(
    queue,
    () => client.query<MessageRow>(READ_SQL, [queue, options.vtSeconds, options.qty]),
  );
  return rows.map(queueMessage);
}

/**
 * The planner settings {@link readMessages} turns off for pgmq.read's query
 * (see there), in the order it sets them.
 */
export const READ_PLANNER_SETTINGS = [
  "enable_seqscan",
  "enable_sort",
  "enable_hashjoin",
  "enable_mergejoin",
  "enable_indexscan",
  "jit",
] as const;

// The settings are made before pgmq.read plans: its queue name depends on
// them (a NULL name would fail the read loudly, never read unplanned).
const PLANNER_SETTINGS_SQL = READ_PLANNER_SETTINGS
  .map((name) => `set_config('${name}', 'off', true) IS NOT NULL`)
  .join(" AND ");
const READ_SQL = `
SELECT r.msg_id, r.read_ct, r.enqueued_at, r.vt, r.message
FROM (SELECT ${PLANNER_SETTINGS_SQL} AS ready) AS planner
CROSS JOIN LATERAL pgmq.read(
  CASE WHEN planner.ready THEN $1::text END, $2::integer, $3::integer
) AS r`;

/** A message's columns as pgmq's tables and `pgmq.read` have them. */
export interface MessageRow {
  msg_id: number;
  read_ct: number;
  enqueued_at: Date;
  vt: Date;
  message: unknown;
}

/** A {@link MessageRow} as a {@link QueueMessage}. */
export function queueMessage(row: MessageRow): QueueMessage {
  return {
    msgId: Number(row.msg_id),
    readCount: row.read_ct,
    enqueuedAt: row.enqueued_at,
    vt: row.vt,
    message: row.message,
  };
}

/**
 * Moves a message to the queue's archive (`pgmq.archive`). Returns whether it
 * was there to archive (false: already archived or deleted).
 *
 * @example
 * ```ts ignore
 * const archived = await archiveMessage(client, "worker_catalog_queue", msg.msgId);
 * ```
 */
export async function archiveMessage(
  client: SqlExecutor,
  queue: string,
  msgId: number,
): Promise<boolean> {
  checkInteger("msgId", msgId, 1);
  const [row] = await onQueue(queue, () =>
    client.query<{ archived: boolean }>(
      "SELECT pgmq.archive($1::text, $2::bigint) AS archived",
      [queue, msgId],
    ));
  return row?.archived === true;
}

/**
 * Makes a message invisible for `vtSeconds` from now (`pgmq.set_vt`), e.g. to
 * keep a long step's message hidden until it is claimed. Returns the new
 * visibility time, or null when the message is gone.
 *
 * @example
 * ```ts ignore
 * const vt = await setVisibilityTimeout(client, "worker_catalog_queue", msg.msgId, 30);
 * ```
 */
export async function setVisibilityTimeout(
  client: SqlExecutor,
  queue: string,
  msgId: number,
  vtSeconds: number,
): Promise<Date | null> {
  checkInteger("msgId", msgId, 1);
  checkInteger("vtSeconds", vtSeconds, 0);
  const rows = await onQueue(queue, () =>
    client.query<{ vt: Date }>(
      "SELECT vt FROM pgmq.set_vt($1::text, $2::bigint, $3::integer)",
      [queue, msgId, vtSeconds],
    ));
  return rows[0]?.vt ?? null;
}

/**
 * The queue's size from `pgmq.metrics`: one aggregate over the queue table
 * (its live messages only — archived ones are elsewhere), cheap enough for a
 * gauge scraped every few seconds.
 *
 * @example
 * ```ts ignore
 * const { total, visible } = await queueDepth(client, "worker_catalog_queue");
 * ```
 */
export async function queueDepth(client: SqlExecutor, queue: string): Promise<QueueDepth> {
  const [row] = await onQueue(
    queue,
    () =>
      client.query<{ queue_length: number; queue_visible_length: number }>(
        "SELECT queue_length, queue_visible_length FROM pgmq.metrics($1::text)",
        [queue],
      ),
  );
  return { total: Number(row?.queue_length ?? 0), visible: Number(row?.queue_visible_length ?? 0) };
}

/** Options for {@link sendWithNotify}. */
export interface SendOptions {
  /** Seconds before the message becomes visible (integer ≥ 0; default 0). */
  delaySeconds?: number;
}

/**
 * Sends a message through Tasker's `tasker.pgmq_send_with_notify` (pgmq.send
 * plus pg_notify on `pgmq_message_ready.<namespace>` and `pgmq_message_ready`,
 * delivered when the surrounding transaction commits). Returns the message id.
 *
 * @example
 * ```ts ignore
 * const msgId = await sendWithNotify(tx, RESULTS_QUEUE, { task_uuid, step_uuid, correlation_id });
 * ```
 */
export async function sendWithNotify(
  client: SqlExecutor,
  queue: string,
  message: unknown,
  options: SendOptions = {},
): Promise<number> {
  const delay = options.delaySeconds ?? 0;
  checkInteger("delaySeconds", delay, 0);
  const [row] = await onQueue(queue, () =>
    client.query<{ msg_id: number }>(
      "SELECT tasker.pgmq_send_with_notify($1::text, $2::jsonb, $3::integer) AS msg_id",
      [queue, JSON.stringify(message), delay],
    ));
  return Number(row.msg_id);
}

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(
      `Cannot use ${name} as it is not an integer ≥ ${min}: current value is ${value}`,
    );
  }
}

// pgmq names its tables q_<queue>; a missing one is "undefined_table" (42P01).
async function onQueue<T>(queue: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (sqlState(error) === "42P01") {
      throw new TaskerError(
        "queue_missing",
        `Cannot use queue ${JSON.stringify(queue)} as it does not exist (create it at boot)`,
        { details: { queue }, cause: error },
      );
    }
    throw error;
  }
}
