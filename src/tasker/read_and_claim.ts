/**
 * Reading ONE message from a step queue, hydrating its step and, when its
 * definition is known, claiming it with the ack — all in one statement: the
 * broker's path when it is idle (nothing buffered, a slot free, no backlog),
 * two round trips fewer than a read, a hydration and a claim.
 *
 * `pgmq.read(queue, vt, 1)` comes first; the message's keys are taken from
 * its body in SQL, and only a body `parseStepMessage` accepts as it is (an
 * object whose `task_uuid`, `step_uuid` and `correlation_id` are UUID
 * strings) gives keys. Any other body is read and returned with nothing
 * hydrated or claimed; the caller parses it and treats it as after a plain
 * read (poison, or hydrated on its own). So is a message that committed after
 * the statement began (see `seen` below): the statement's snapshot may not
 * have its task yet.
 *
 * The claim is written only for a step whose template definition the caller
 * has already validated and resolved as served: the caller passes those
 * definitions keyed by digest (the md5 of the definition's jsonb text, which
 * the statement also returns), and the claim is written when the step's
 * definition has one of those digests, the step belongs to the message's
 * task and its state is claimable — the conditions the batch path checks
 * between its hydration and its claim, so both paths claim the same steps.
 * A step with another definition is only hydrated, and its digest returned:
 * the caller validates and resolves it, claims it separately, and can pass
 * the digest next time. The message then stays read (invisible for
 * `vtSeconds`), not archived. For a known digest the template's
 * `configuration` is not sent back: the caller has the definition.
 *
 * All sub-statements share one snapshot: the hydration sees the step as it
 * was before the claim (its state, attempts and dependency results), as the
 * batch path's hydration does. The claim is `claimCtes`' protocol
 * (claim_step.ts), and the ack (`pgmq.archive`) rides along, as in
 * `claimStep` with `archive`; a message whose step is not claimed is not
 * archived.
 *
 * When the answer is lost, the statement may have committed a claim for a
 * message the caller never saw: {@link findReadClaim} finds it in the
 * queue's archive by the claim transition's worker and timestamp.
 *
 * @module
 */
import { isUniqueViolation, type SqlExecutor, sqlState } from "../db/sql_client.ts";
import {
  claimCtes,
  type Claimed,
  claimMetadata,
  type ClaimResult,
  type ClaimRow,
  fromClaimRow,
  queueMissing,
} from "./claim_step.ts";
import {
  CLAIMABLE_SQL,
  hydratedFromRow,
  type HydrateResult,
  type HydrateRow,
  hydrateSql,
  hydrateStep,
} from "./hydrate_step.ts";
import { type MessageRow, type QueueMessage, queueMessage } from "./pgmq_queue.ts";
import type { StepDefinition } from "./step_definition.ts";
import { isUuid, parseStepMessage, type StepMessage, UUID_PATTERN } from "./step_message.ts";
import { TaskerError } from "./tasker_error.ts";

/** What to read and, when its step's definition is known, claim. */
export interface ReadAndClaimInput {
  /** The step queue (a pgmq queue name: letters, digits, `_`). */
  queue: string;
  /** Seconds the message stays invisible when it is read but not claimed (integer ≥ 0). */
  vtSeconds: number;
  /** This broker instance (`metadata.worker_uuid` of the claim transition). */
  workerUuid: string;
  /** The claim transition's `metadata.timestamp` (what {@link findReadClaim} looks for). */
  at: Date;
  /**
   * Definitions validated and resolved as served, by digest: only a step
   * whose template definition has one of these digests is claimed, and its
   * definition is taken from here instead of being validated again.
   */
  known: ReadonlyMap<string, StepDefinition>;
}

/** A step message's step hydrated, and what a claim made with it found. */
export interface HydrateAndClaimResult {
  hydrated: HydrateResult;
  /** The md5 of the step's template definition; null when it has none (or several). */
  definitionDigest: string | null;
  /** Set when the statement claimed or tried to: what the claim found. */
  claim?: ClaimResult;
}

/** The result of {@link readAndClaim}. */
export interface ReadAndClaimResult {
  /** The message read; absent when no message was visible. */
  message?: QueueMessage;
  /**
   * Whether one of the (up to 20) messages after the one read was visible
   * when the statement began (or a rival claim made it roll back): read
   * again at once rather than wait for a NOTIFY or the poller.
   */
  more: boolean;
  /**
   * When the body is a step message the statement's snapshot has (it
   * committed before the statement began): its step hydrated, and claimed
   * (with the message archived) if its definition was known. Absent
   * otherwise: hydrate the message with a statement of its own.
   */
  step?: { message: StepMessage; result: HydrateAndClaimResult };
}

interface Row
  extends HydrateRow, MessageRow, Omit<ClaimRow, "attempts" | "sort_key" | "from_state"> {
  more: boolean;
  keyed: boolean;
  claim_tried: boolean;
  claim_attempts: number | null;
  claim_sort_key: number | null;
  claim_from_state: string | null;
}

// What parseStepMessage accepts (step_message.ts), as SQL: a string field
// holding a hyphenated hex UUID (the same pattern). Anything else gives no key.
const uuidField = (field: string) =>
  `CASE WHEN jsonb_typeof(m.message->'${field}') = 'string' AND m.message->>'${field}' ~ '${UUID_PATTERN}'
    THEN lower(m.message->>'${field}') END`;

// pgmq's names (letters, digits, `_`); its tables are `q_` / `a_` and the
// name lowercased, as an unquoted identifier is. The name goes into the
// statements' text, so it is checked first.
const PLAIN_QUEUE = /^[A-Za-z0-9_]+$/;

function checkQueue(queue: string, what: string): void {
  if (!PLAIN_QUEUE.test(queue)) {
    throw new RangeError(
      `Cannot ${what} queue ${JSON.stringify(queue)} as its name is not letters, digits and "_"`,
    );
  }
}

// $1 queue, $2 vt seconds, $3 claim metadata without correlation_id, $4 known
// digests (a JSON array). `m` (the read) and `h` are materialized: the read
// runs once, and the hydration reads the statement's snapshot before any
// claim sub-statement writes. `LIMIT 1` tells the planner the read returns
// one row (a set-returning function is estimated at 1,000): planned for
// 1,000 keys, the hydration's generic plan — cached while the tables were
// small — joined by scanning whole tables, 1.6 ms a statement once 4,000
// tasks were in (1.0 ms with the limit; a probe on a throwaway cluster).
//
// pgmq.read is a volatile function: its query takes a snapshot of its own,
// newer than the statement's. So it can read a message whose transaction
// committed after the statement began — one whose task, step and `enqueued`
// transition the hydration cannot see yet (it would call the step unknown, or
// still `pending`). `seen` asks whether the statement's snapshot has the
// message row (the version before this read's update, which is a later
// command of this transaction): only then does it have everything committed
// with it. Otherwise the message is returned unkeyed and the caller hydrates
// it with a statement of its own.
//
// The ack's pgmq.archive, volatile too, sees the row pgmq.read has just
// updated (an earlier command of this transaction). `more` looks, in the
// statement's snapshot, at the (up to 20) messages after the one read, in
// msg_id order, for one visible as of the statement's start: pgmq.read takes
// the lowest visible id (one below it that it skipped is locked by another
// reader). Walking the primary key from that id leaves out the dead rows a
// drain leaves below it; a filter on `vt` let the planner scan the vt index
// through them instead (after an 8,000-step drain the statement took 1.9–2.7
// ms at the median, 1.4–1.5 ms walking the key; end-to-end latency runs).
// Built once per queue: the text is a few KB, and the broker sends it for every idle read.
const READ_AND_CLAIM_SQL = new Map<string, string>();
function readAndClaimSql(queue: string): string {
  let text = READ_AND_CLAIM_SQL.get(queue);
  if (text === undefined) READ_AND_CLAIM_SQL.set(queue, text = buildReadAndClaimSql(queue));
  return text;
}

function buildReadAndClaimSql(queue: string): string {
  return `
WITH m AS MATERIALIZED (
  SELECT msg_id, read_ct, enqueued_at, vt, message FROM pgmq.read($1::text, $2::integer, 1)
  LIMIT 1
), seen AS MATERIALIZED (
  SELECT EXISTS (SELECT 1 FROM m JOIN pgmq.q_${queue} q ON q.msg_id = m.msg_id) AS ok
), k AS MATERIALIZED (
  SELECT keys.*, keys.task_uuid IS NOT NULL AND keys.step_uuid IS NOT NULL
           AND keys.correlation_id IS NOT NULL AND (SELECT ok FROM seen) AS keyed
  FROM m, LATERAL (
    SELECT (${uuidField("task_uuid")})::uuid AS task_uuid,
           (${uuidField("step_uuid")})::uuid AS step_uuid,
           ${uuidField("correlation_id")} AS correlation_id
    WHERE jsonb_typeof(m.message) = 'object'
  ) keys
), h AS MATERIALIZED (${
    hydrateSql("(SELECT * FROM k WHERE k.keyed) k", {
      definitionDigest: true,
      knownDigests: "$4::jsonb",
    })
  }
), eligible AS (
  SELECT h.workflow_step_uuid IS NOT NULL AND h.step_task_uuid = h.task_uuid
    AND COALESCE(h.state, 'pending') IN (${CLAIMABLE_SQL})
    AND h.task_name IS NOT NULL AND h.definition_md5 IS NOT NULL
    AND jsonb_exists($4::jsonb, h.definition_md5) AS ok
  FROM h JOIN k ON k.keyed
), ${
    claimCtes(
      "(SELECT step_uuid FROM k)",
      "($3::jsonb || jsonb_build_object('correlation_id', (SELECT correlation_id FROM k)))",
      "COALESCE((SELECT ok FROM eligible), false)",
    )
  }, ack AS (
  SELECT pgmq.archive($1::text, m.msg_id) AS archived FROM m
  WHERE COALESCE((SELECT ok FROM eligible), false)
)
SELECT m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message,
       EXISTS (SELECT 1 FROM (SELECT q.vt FROM pgmq.q_${queue} q WHERE q.msg_id > m.msg_id
                              ORDER BY q.msg_id LIMIT 20) n
               WHERE n.vt <= now()) AS more,
       COALESCE(k.keyed, false) AS keyed, h.*,
       COALESCE((SELECT ok FROM eligible), false) AS claim_tried,
       step.attempts AS claim_attempts, step.sort_key AS claim_sort_key,
       step.from_state AS claim_from_state,
       (SELECT to_state FROM snap) AS snapshot_state, (SELECT archived FROM ack) AS archived
FROM m LEFT JOIN k ON true LEFT JOIN h ON true LEFT JOIN step ON true`;
}

/**
 * Reads one message from `queue` and, for a step message, hydrates its step
 * and claims it when its definition is one of `known` (see the module doc).
 *
 * A rival that claims a step with no transition yet in the same instant
 * makes the statement fail on the unique index: nothing was read or written,
 * and `{more: true}` comes back (read again). Other database failures are
 * thrown — the read and a claim may then have committed (look the claim up
 * with {@link findReadClaim} and `at`; a message read but not claimed comes
 * back after `vtSeconds`).
 *
 * @example
 * ```ts ignore
 * const r = await readAndClaim(client, { queue, vtSeconds: 30, workerUuid, at: new Date(), known });
 * const claim = r.step?.result.claim;
 * if (claim && claim !== "already_claimed" && "claimed" in claim) run(r.step!.result.hydrated);
 * ```
 */
export async function readAndClaim(
  client: SqlExecutor,
  input: ReadAndClaimInput,
): Promise<ReadAndClaimResult> {
  checkQueue(input.queue, "read and claim from");
  if (!Number.isSafeInteger(input.vtSeconds) || input.vtSeconds < 0) {
    throw new RangeError(
      `Cannot read with vtSeconds ${input.vtSeconds}: expected an integer ≥ 0`,
    );
  }
  // One view of the known definitions for the statement and its answer: a digest the statement
  // treats as known gets no configuration back, so its definition must still be here after.
  const known = new Map(input.known);
  const { correlation_id: _, ...metadata } = claimMetadata({
    stepUuid: "",
    workerUuid: input.workerUuid,
    correlationId: "",
  }, input.at);
  let row: Row | undefined;
  try {
    [row] = await client.query<Row>(readAndClaimSql(input.queue), [
      input.queue,
      input.vtSeconds,
      JSON.stringify(metadata),
      JSON.stringify([...known.keys()]),
    ]);
  } catch (error) {
    if (isUniqueViolation(error)) return { more: true };
    if (sqlState(error) === "42P01") throw undefinedTable(input.queue, error);
    throw error;
  }
  if (!row) return { more: false };
  const message = queueMessage(row);
  const parsed = parseStepMessage(row.message);
  if (!row.keyed || !parsed.ok) {
    // Nothing hydrated or claimed (the keys need what the parser needs, so a keyed body
    // parses; or the message is newer than the statement's snapshot): the caller treats the
    // message as after a plain read.
    return { message, more: row.more };
  }
  const digest = row.definition_md5 ?? null;
  const definition = digest !== null ? known.get(digest) : undefined;
  const hydrated = hydratedFromRow(row, parsed.message, definition);
  const result: HydrateAndClaimResult = { hydrated, definitionDigest: digest };
  if (row.claim_tried) {
    result.claim = fromClaimRow(
      {
        attempts: row.claim_attempts,
        sort_key: row.claim_sort_key,
        from_state: row.claim_from_state,
        snapshot_state: row.snapshot_state,
        archived: row.archived,
      },
      parsed.message.step_uuid,
      true,
    );
  }
  return { message, more: row.more, step: { message: parsed.message, result } };
}

/**
 * A missing table (42P01): the queue's (`queue_missing`), or one of Tasker's
 * (`tasker_schema_missing`: Tasker, or the demo's double, not installed yet).
 */
function undefinedTable(queue: string, error: unknown): TaskerError {
  const text = error instanceof Error ? error.message : String(error);
  if (/pgmq\.[qa]_/i.test(text)) return queueMissing(queue, error);
  return new TaskerError(
    "tasker_schema_missing",
    `Cannot read and claim from queue ${
      JSON.stringify(queue)
    } as a table of Tasker's schema is missing: ${text}`,
    { details: { queue }, cause: error },
  );
}

/** What {@link findReadClaim} looks for. */
export interface ReadClaimQuery {
  queue: string;
  workerUuid: string;
  /** The `at` the {@link readAndClaim} call was made with. */
  at: Date;
  /** Seconds since the call was sent: the archive is searched that far back (plus a minute). */
  sinceSeconds: number;
  /**
   * Steps to leave out (lowercase UUIDs): claims of the same worker and
   * timestamp that the caller knows it made otherwise and holds.
   */
  exclude?: ReadonlySet<string>;
}

/**
 * After a {@link readAndClaim} whose answer was lost: the message it claimed
 * and archived, and the claim, if it committed one. The queue's archive is
 * searched newest first over the time since the call (on the database's
 * clock), for a step message whose step's current transition is this
 * worker's claim with timestamp `at`, its step not in `exclude`. Undefined
 * when there is none.
 *
 * @example
 * ```ts ignore
 * const found = await findReadClaim(client, { queue, workerUuid, at, sinceSeconds: 2 });
 * if (found) run(found.message, found.claim);
 * ```
 */
export async function findReadClaim(
  client: SqlExecutor,
  query: ReadClaimQuery,
): Promise<{ message: QueueMessage; claim: Claimed } | undefined> {
  checkQueue(query.queue, "search the archive of");
  const [row] = await client.query<
    MessageRow & { attempts: number; sort_key: number; from_state: string | null }
  >(
    `SELECT a.msg_id, a.read_ct, a.enqueued_at, a.vt, a.message, ws.attempts, t.sort_key, t.from_state
     FROM pgmq.a_${query.queue} a
     CROSS JOIN LATERAL (
       SELECT (a.message->>'step_uuid')::uuid AS step_uuid
       WHERE jsonb_typeof(a.message) = 'object' AND jsonb_typeof(a.message->'step_uuid') = 'string'
         AND a.message->>'step_uuid' ~ '${UUID_PATTERN}'
     ) k
     JOIN tasker.workflow_step_transitions t
       ON t.workflow_step_uuid = k.step_uuid AND t.most_recent AND t.to_state = 'in_progress'
      AND t.metadata->>'worker_uuid' = $1 AND t.metadata->>'timestamp' = $2
     JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = t.workflow_step_uuid
     WHERE a.archived_at >= now() - make_interval(secs => $3::double precision)
       AND NOT jsonb_exists($4::jsonb, k.step_uuid::text)
     ORDER BY a.archived_at DESC
     LIMIT 1`,
    [
      query.workerUuid,
      query.at.toISOString(),
      query.sinceSeconds + 60,
      JSON.stringify([...query.exclude ?? []]),
    ],
  );
  if (!row) return undefined;
  return {
    message: queueMessage(row),
    claim: {
      claimed: true,
      attempts: Number(row.attempts),
      sortKey: Number(row.sort_key),
      fromState: row.from_state ?? "pending",
    },
  };
}

const OWN_CLAIM_STATES = ["in_progress"];
const HYDRATE_OWN_CLAIM_SQL = hydrateSql(
  "(SELECT $1::uuid AS task_uuid, $2::uuid AS step_uuid) k",
  { definitionDigest: true, states: OWN_CLAIM_STATES },
);

/**
 * Hydrates a step this worker has claimed already, so its state is
 * `in_progress` (any other state is `not_claimable`): after a
 * {@link readAndClaim} whose answer was lost, once {@link findReadClaim} has
 * found the claim it committed. No claim is made.
 *
 * @example
 * ```ts ignore
 * const found = await findReadClaim(client, { queue, workerUuid, at, sinceSeconds: 2 });
 * if (found) ({ hydrated } = await hydrateOwnClaim(client, parsed.message));
 * ```
 */
export async function hydrateOwnClaim(
  client: SqlExecutor,
  message: StepMessage,
): Promise<HydrateAndClaimResult> {
  if (!isUuid(message.task_uuid) || !isUuid(message.step_uuid)) {
    return { hydrated: await hydrateStep(client, message), definitionDigest: null };
  }
  const [row] = await client.query<HydrateRow>(HYDRATE_OWN_CLAIM_SQL, [
    message.task_uuid,
    message.step_uuid,
  ]);
  return {
    hydrated: hydratedFromRow(row, message, undefined, OWN_CLAIM_STATES),
    definitionDigest: row?.definition_md5 ?? null,
  };
}
