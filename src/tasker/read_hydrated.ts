/**
 * Reading step messages and hydrating them in ONE statement: `pgmq.read`
 * feeds the hydration query (`hydrate_step.ts`) directly, so a read and its
 * hydration cost one round trip instead of two — on the path of every step
 * when the broker is not saturated (one message per read). Only when the
 * queues live in Tasker's database.
 *
 * A message whose body is not a step message (a key missing or not a UUID)
 * comes back without hydration, as does one the database could not key; the
 * caller handles those as it would after a plain read.
 *
 * @module
 */
import type { SqlExecutor } from "../db/sql_client.ts";
import {
  fromRow,
  HYDRATE_BATCH,
  type HydrateResult,
  type HydrateRow,
  hydrateSql,
} from "./hydrate_step.ts";
import {
  checkInteger,
  onQueue,
  type QueueMessage,
  type ReadMessagesOptions,
} from "./pgmq_queue.ts";
import { parseStepMessage } from "./step_message.ts";

/** One message of {@link readHydrated}. */
export interface HydratedMessage {
  message: QueueMessage;
  /** Its hydration, as `hydrateStep` gives it; absent when the body is not a step message. */
  hydrated?: HydrateResult;
}

/** The most messages one {@link readHydrated} may ask for. */
export const READ_HYDRATED_MAX = HYDRATE_BATCH;

/**
 * `readMessages` and `hydrateSteps` in one statement (see the module doc):
 * up to `qty` (≤ {@link READ_HYDRATED_MAX}) visible messages, oldest first,
 * hidden for `vtSeconds`, each with its hydration.
 *
 * @example
 * ```ts ignore
 * for (const { message, hydrated } of await readHydrated(client, queue, { vtSeconds: 30, qty: 8 })) {
 *   if (hydrated?.ok) console.log(message.msgId, hydrated.step.definition.handler.callable);
 * }
 * ```
 */
export async function readHydrated(
  client: SqlExecutor,
  queue: string,
  options: ReadMessagesOptions,
): Promise<HydratedMessage[]> {
  checkInteger("vtSeconds", options.vtSeconds, 0);
  checkInteger("qty", options.qty, 1);
  if (options.qty > READ_HYDRATED_MAX) {
    throw new RangeError(
      `Cannot read and hydrate more than ${READ_HYDRATED_MAX} messages at once: qty is ${options.qty}`,
    );
  }
  const rows = await onQueue(
    queue,
    () => client.query<ReadRow>(READ_HYDRATED_SQL, [queue, options.vtSeconds, options.qty]),
  );
  return rows.map((row) => {
    const message: QueueMessage = {
      msgId: Number(row.msg_id),
      readCount: row.read_ct,
      enqueuedAt: row.enqueued_at,
      vt: row.vt,
      message: row.queue_message,
    };
    const parsed = parseStepMessage(row.queue_message);
    // Keyed by the database exactly when the body holds two UUIDs, as the parse checks.
    return parsed.ok && row.keyed
      ? { message, hydrated: fromRow(row, parsed.message) }
      : { message };
  });
}

interface ReadRow extends HydrateRow {
  msg_id: number;
  read_ct: number;
  enqueued_at: Date;
  vt: Date;
  queue_message: unknown;
  keyed: boolean;
}

const UUID_RE = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

// The keys are cast only when they are UUID strings (a cast error would fail
// the whole read). pgmq.read is a set-returning plpgsql function, estimated at
// 1,000 rows; the LIMIT (never reached: qty ≤ it) caps the estimate so the
// hydration probes its tables by index (see hydrate_step.ts).
const READ_HYDRATED_SQL = hydrateSql(
  `(SELECT r.msg_id, r.read_ct, r.enqueued_at, r.vt, r.message, r.ordinality AS ord,
          r.keyed,
          CASE WHEN r.keyed THEN (r.message->>'task_uuid')::uuid END AS task_uuid,
          CASE WHEN r.keyed THEN (r.message->>'step_uuid')::uuid END AS step_uuid
   FROM (SELECT q.*,
                jsonb_typeof(q.message->'task_uuid') = 'string'
                  AND q.message->>'task_uuid' ~ '${UUID_RE}'
                  AND jsonb_typeof(q.message->'step_uuid') = 'string'
                  AND q.message->>'step_uuid' ~ '${UUID_RE}' AS keyed
         FROM pgmq.read($1::text, $2::integer, $3::integer) WITH ORDINALITY AS q
         LIMIT ${READ_HYDRATED_MAX}) r) k`,
  "\nORDER BY k.ord",
  "\n  k.msg_id, k.read_ct, k.enqueued_at, k.vt, k.message AS queue_message, COALESCE(k.keyed, false) AS keyed,",
);
