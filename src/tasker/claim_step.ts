/**
 * Claiming a step with Tasker's transition protocol, in ONE statement (one
 * round trip, its own transaction):
 *
 * 1. the current most-recent transition loses `most_recent` — only when its
 *    `to_state` is claimable (`enqueued`, legacy `pending`); no transition at
 *    all counts as `pending`;
 * 2. a transition to `in_progress` is inserted with the next `sort_key`
 *    (`COALESCE(MAX(sort_key), 0) + 1`) and `most_recent = true`, and
 *    `workflow_steps` gets `in_process = true`, `attempts + 1`,
 *    `last_attempted_at = now()`.
 *
 * Nothing else is locked: the partial unique index on
 * `(workflow_step_uuid, most_recent) WHERE most_recent` and the row lock on
 * the most-recent transition are the arbiters. Of two racing claimers the
 * second either blocks on the first's row — and, once the first commits,
 * finds it no longer most recent: nothing is written, `"already_claimed"` —
 * or, for a step with no transition yet, inserts a second most-recent row —
 * a unique violation, also `"already_claimed"` — or starts after the commit
 * and sees `in_progress` (`{notClaimable: "in_progress"}`).
 *
 * One statement instead of BEGIN, two statements and COMMIT: the claim costs
 * one round trip instead of four (see docs/performance.md, "Broker end to
 * end").
 *
 * @module
 */
import { settle, type Settled, settleInTurn } from "../db/coalescer.ts";
import {
  isRowLevelError,
  isUniqueViolation,
  type SqlExecutor,
  sqlState,
} from "../db/sql_client.ts";
import { CLAIMABLE_SQL, isClaimable } from "./hydrate_step.ts";
import { TaskerError } from "./tasker_error.ts";

/** Which step to claim, for whom. */
export interface ClaimStepInput {
  stepUuid: string;
  /** This broker instance (`metadata.worker_uuid` of the transition). */
  workerUuid: string;
  /** The task's correlation id (from the step message). */
  correlationId: string;
}

/** Options for {@link claimStep}. */
export interface ClaimStepOptions {
  /** The clock for the transition's `metadata.timestamp` (default: `new Date()`). */
  now?: () => Date;
  /**
   * Also archive the step's message (`pgmq.archive(queue, msgId)`, the ack)
   * in the same statement: the ack then commits exactly when the claim does,
   * and the pair costs one round trip instead of two. Only when the queue
   * lives in the same database as Tasker's tables (no `PGMQ_DATABASE_URL`).
   * A claim that loses the race on the unique index rolls the archive back
   * with it (the caller archives as usual then).
   */
  archive?: { queue: string; msgId: number };
}

/** A successful claim. */
export interface Claimed {
  claimed: true;
  /** `workflow_steps.attempts` after the claim (this attempt included). */
  attempts: number;
  /** The `sort_key` of the `in_progress` transition: identifies this claim. */
  sortKey: number;
  /** The state the step was claimed from (`enqueued` or `pending`). */
  fromState: string;
  /** With {@link ClaimStepOptions.archive}: whether `pgmq.archive` found the message. */
  archived?: boolean;
}

/** The result of {@link claimStep}. */
export type ClaimResult = Claimed | { notClaimable: string } | "already_claimed";

/** The `event` of a claim transition: Tasker's `StepEvent::Start`, as a JSON string. */
export const START_EVENT = JSON.stringify({ type: "Start" });

/**
 * Claims a step (see the module doc for the protocol). Returns
 * `{claimed: true, attempts, sortKey, fromState}`, `{notClaimable: state}`
 * (nothing written), or `"already_claimed"` (another worker won the race).
 * Database failures other than the unique violation are thrown.
 *
 * @example
 * ```ts ignore
 * const claim = await claimStep(client, { stepUuid, workerUuid, correlationId });
 * if (claim === "already_claimed" || "notClaimable" in claim) await archiveMessage(client, queue, msgId);
 * else envelope = buildEnvelope(hydrated, { attempts: claim.attempts });
 * ```
 */
export async function claimStep(
  client: SqlExecutor,
  input: ClaimStepInput,
  options: ClaimStepOptions = {},
): Promise<ClaimResult> {
  const now = options.now ?? (() => new Date());
  const metadata = JSON.stringify(claimMetadata(input, now()));
  const archive = options.archive;
  if (archive && (!Number.isSafeInteger(archive.msgId) || archive.msgId < 1)) {
    throw new RangeError(
      `Cannot archive with the claim as msgId is not an integer ≥ 1: current value is ${archive.msgId}`,
    );
  }
  let row: ClaimRow | undefined;
  try {
    [row] = archive
      ? await client.query<ClaimRow>(CLAIM_AND_ARCHIVE_SQL, [
        input.stepUuid,
        metadata,
        archive.queue,
        archive.msgId,
      ])
      : await client.query<ClaimRow>(CLAIM_SQL, [input.stepUuid, metadata]);
  } catch (error) {
    if (isUniqueViolation(error)) return "already_claimed";
    if (archive && sqlState(error) === "42P01") throw queueMissing(archive.queue, error);
    throw error;
  }
  return fromClaimRow(row, input.stepUuid, archive !== undefined);
}

/** The claim transition's metadata (Tasker's shape; see the protocol page). */
export function claimMetadata(input: ClaimStepInput, at: Date): Record<string, string> {
  return {
    event: START_EVENT,
    timestamp: at.toISOString(),
    worker_uuid: input.workerUuid,
    correlation_id: input.correlationId,
  };
}

/** `queue_missing`: the queue a claim was to archive from does not exist. */
export function queueMissing(queue: string, cause: unknown): TaskerError {
  return new TaskerError(
    "queue_missing",
    `Cannot archive with the claim as queue ${JSON.stringify(queue)} does not exist`,
    { details: { queue }, cause },
  );
}

/** What one step's row of a claim statement means. */
export function fromClaimRow(
  row: ClaimRow | undefined,
  stepUuid: string,
  archive: boolean,
): ClaimResult {
  if (row?.attempts !== null && row?.attempts !== undefined) {
    const claimed: Claimed = {
      claimed: true,
      attempts: Number(row.attempts),
      sortKey: Number(row.sort_key),
      fromState: row.from_state ?? "pending",
    };
    if (archive) claimed.archived = row.archived === true;
    return claimed;
  }
  const state = row?.snapshot_state ?? null;
  // A claimable most-recent row this statement could not take: a rival moved
  // the step between this statement's snapshot and its row lock.
  if (state !== null && isClaimable(state)) return "already_claimed";
  if (state !== null) return { notClaimable: state };
  // No transition and nothing written: the step row is missing (the
  // transition's foreign key makes this unreachable; kept loud).
  throw new Error(`Cannot claim step ${stepUuid} as its workflow_steps row is missing`);
}

/** One step's row of a claim statement. */
export interface ClaimRow {
  attempts: number | null;
  sort_key: number | null;
  from_state: string | null;
  /** The most-recent `to_state` in the statement's snapshot (null: no transition). */
  snapshot_state: string | null;
  archived?: boolean | null;
}

// All sub-statements share one snapshot. `cur` flips the most-recent row only
// if it is claimable (blocking on a rival's lock, then re-checking the row's
// latest version); the insert runs when `cur` took a row, or when the
// snapshot has no most-recent row at all (a step never transitioned: the
// unique index then settles a race). `snap` tells the caller why nothing
// was written.
/**
 * The claim's sub-statements (`snap`, `cur`, `claim`, `step`: a `WITH`
 * list without the `WITH`) for the step `step` with the transition metadata
 * `metadata` (SQL expressions, such as parameter references `$1`), written only when `when`
 * (an SQL condition) holds. {@link CLAIM_CTES} is the unconditional form;
 * read_and_claim.ts claims in the read-and-hydrate statement.
 */
export function claimCtes(step: string, metadata: string, when?: string): string {
  return `snap AS (
  SELECT to_state FROM tasker.workflow_step_transitions
  WHERE workflow_step_uuid = ${step}::uuid AND most_recent
), cur AS (
  UPDATE tasker.workflow_step_transitions SET most_recent = false
  WHERE workflow_step_uuid = ${step}::uuid AND most_recent AND to_state IN (${CLAIMABLE_SQL})${
    when ? `\n    AND ${when}` : ""
  }
  RETURNING to_state
), claim AS (
  INSERT INTO tasker.workflow_step_transitions
    (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent,
     created_at, updated_at)
  SELECT ${step}::uuid, 'in_progress', COALESCE((SELECT to_state FROM cur), 'pending'), ${metadata}::jsonb,
         COALESCE((SELECT MAX(sort_key) FROM tasker.workflow_step_transitions
                   WHERE workflow_step_uuid = ${step}::uuid), 0) + 1,
         true, now(), now()
  WHERE ${when ? `${when} AND ` : ""}(EXISTS (SELECT 1 FROM cur) OR NOT EXISTS (SELECT 1 FROM snap))
  RETURNING sort_key, from_state
), step AS (
  UPDATE tasker.workflow_steps ws
  SET in_process = true, attempts = COALESCE(ws.attempts, 0) + 1,
      last_attempted_at = now(), updated_at = now()
  FROM claim
  WHERE ws.workflow_step_uuid = ${step}::uuid
  RETURNING ws.attempts, claim.sort_key, claim.from_state
)`;
}

const CLAIM_CTES = `\nWITH ${claimCtes("$1", "$2")}`;

const CLAIM_SQL = `${CLAIM_CTES}
SELECT step.attempts, step.sort_key, step.from_state, (SELECT to_state FROM snap) AS snapshot_state
FROM (SELECT 1) AS one LEFT JOIN step ON true`;

// The ack rides along: pgmq.archive runs once, whatever the claim found (a
// message for a step that is not claimable is archived too, as the protocol
// allows), and commits or rolls back with the claim.
const CLAIM_AND_ARCHIVE_SQL = `${CLAIM_CTES}, ack AS (
  SELECT pgmq.archive($3::text, $4::bigint) AS archived
)
SELECT step.attempts, step.sort_key, step.from_state, (SELECT to_state FROM snap) AS snapshot_state,
       (SELECT archived FROM ack) AS archived
FROM (SELECT 1) AS one LEFT JOIN step ON true`;

// The same per step, for a batch: `$1` is a JSON array of {step_uuid,
// metadata, msg_id, ord} (jsonb_to_recordset: its row estimate does not
// depend on the value, so the plan is cached; see hydrate_step.ts). One row
// per request, in `ord` order. `MAX(sort_key)` reads the statement's
// snapshot, as in the single form: the requests name distinct steps. Tables
// are reached through `= ANY (ARRAY(...))`, an index scan; joined with the
// input instead (estimated at 100 rows), they were scanned whole
// (EXPLAIN ANALYZE: 13 ms for 3 steps among 20,000).
const CLAIM_MANY_CTES = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb)
    AS i(step_uuid uuid, metadata jsonb, msg_id bigint, ord integer)
), snap AS (
  SELECT t.workflow_step_uuid, t.to_state FROM tasker.workflow_step_transitions t
  WHERE t.workflow_step_uuid = ANY (ARRAY(SELECT step_uuid FROM input)) AND t.most_recent
), cur AS (
  UPDATE tasker.workflow_step_transitions t SET most_recent = false
  WHERE t.workflow_step_uuid = ANY (ARRAY(SELECT step_uuid FROM input)) AND t.most_recent
    AND t.to_state IN (${CLAIMABLE_SQL})
  RETURNING t.workflow_step_uuid, t.to_state
), claim AS (
  INSERT INTO tasker.workflow_step_transitions
    (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent,
     created_at, updated_at)
  SELECT i.step_uuid, 'in_progress', COALESCE(cur.to_state, 'pending'), i.metadata,
         COALESCE((SELECT MAX(m.sort_key) FROM tasker.workflow_step_transitions m
                   WHERE m.workflow_step_uuid = i.step_uuid), 0) + 1,
         true, now(), now()
  FROM input i LEFT JOIN cur ON cur.workflow_step_uuid = i.step_uuid
  WHERE cur.workflow_step_uuid IS NOT NULL
     OR NOT EXISTS (SELECT 1 FROM snap WHERE snap.workflow_step_uuid = i.step_uuid)
  RETURNING workflow_step_uuid, sort_key, from_state
), step AS (
  UPDATE tasker.workflow_steps ws
  SET in_process = true, attempts = COALESCE(ws.attempts, 0) + 1,
      last_attempted_at = now(), updated_at = now()
  FROM claim
  WHERE ws.workflow_step_uuid = ANY (ARRAY(SELECT workflow_step_uuid FROM claim))
    AND ws.workflow_step_uuid = claim.workflow_step_uuid
  RETURNING ws.workflow_step_uuid, ws.attempts, claim.sort_key, claim.from_state
)`;

const CLAIM_MANY_SELECT = `
SELECT i.ord, step.attempts, step.sort_key, step.from_state, snap.to_state AS snapshot_state`;

const CLAIM_MANY_FROM = `
FROM input i
LEFT JOIN step ON step.workflow_step_uuid = i.step_uuid
LEFT JOIN snap ON snap.workflow_step_uuid = i.step_uuid`;

const CLAIM_MANY_SQL = `${CLAIM_MANY_CTES}${CLAIM_MANY_SELECT}${CLAIM_MANY_FROM}
ORDER BY i.ord`;

// pgmq.archive's array form: one DELETE/INSERT for the batch; it returns the ids it found.
const CLAIM_AND_ARCHIVE_MANY_SQL = `${CLAIM_MANY_CTES}, ack AS (
  SELECT pgmq.archive($2::text, ARRAY(SELECT msg_id FROM input)) AS msg_id
)${CLAIM_MANY_SELECT},
       EXISTS (SELECT 1 FROM ack WHERE ack.msg_id = i.msg_id) AS archived${CLAIM_MANY_FROM}
ORDER BY i.ord`;

/** One claim of a batch (see {@link claimSteps}). */
export interface ClaimRequest extends ClaimStepInput {
  /** The transition's `metadata.timestamp` (default: now); what {@link findOwnClaim} looks for. */
  at?: Date;
  /** The step message's id, archived with the claim when {@link ClaimStepsOptions.archiveQueue} is set. */
  msgId?: number;
}

/** Options for {@link claimSteps}. */
export interface ClaimStepsOptions {
  /**
   * Archive every request's `msgId` from this queue in the same statement
   * (see {@link ClaimStepOptions.archive}).
   */
  archiveQueue?: string;
}

/**
 * Claims several steps in ONE statement, each exactly as {@link claimStep}
 * would (same protocol, same answers), and settles each request on its own,
 * in order: the batch is one round trip and one commit instead of one per
 * step. A batch of one is {@link claimStep}'s own statement (its plan is
 * cached). When the batch statement fails on something one step can cause
 * alone — a race it lost on the unique index, a deadlock with another batch,
 * a missing step row, a data error — nothing of it was written, and each
 * request is claimed again in a statement of its own, so only that step
 * fails. A failure of the whole statement (the connection, a missing queue)
 * rejects every request: none was claimed. Misuse throws: the same step
 * twice (`TypeError`), a bad `msgId` (`RangeError`).
 *
 * @example
 * ```ts ignore
 * const [a, b] = await claimSteps(client, [
 *   { stepUuid: s1, workerUuid, correlationId: c1, msgId: 7 },
 *   { stepUuid: s2, workerUuid, correlationId: c2, msgId: 8 },
 * ], { archiveQueue: "worker_catalog_queue" });
 * if (a.status === "fulfilled" && a.value !== "already_claimed" && "claimed" in a.value) run(s1);
 * ```
 */
export async function claimSteps(
  client: SqlExecutor,
  requests: readonly ClaimRequest[],
  options: ClaimStepsOptions = {},
): Promise<Settled<ClaimResult>[]> {
  const queue = options.archiveQueue;
  const claimOne = (r: ClaimRequest) =>
    claimStep(client, r, {
      now: r.at && (() => r.at!),
      archive: queue === undefined ? undefined : { queue, msgId: r.msgId! },
    });
  if (queue !== undefined) {
    for (const r of requests) {
      if (!Number.isSafeInteger(r.msgId) || r.msgId! < 1) {
        throw new RangeError(
          `Cannot archive with the claim of step ${r.stepUuid} as msgId is not an integer ≥ 1: current value is ${r.msgId}`,
        );
      }
    }
  }
  if (new Set(requests.map((r) => r.stepUuid.toLowerCase())).size !== requests.length) {
    throw new TypeError("Cannot claim a batch that names the same step twice");
  }
  if (requests.length <= 1) return await settleInTurn(requests, claimOne);
  const rows = JSON.stringify(requests.map((r, ord) => ({
    step_uuid: r.stepUuid,
    metadata: claimMetadata(r, r.at ?? new Date()),
    msg_id: r.msgId ?? null,
    ord,
  })));
  let found: (ClaimRow & { ord: number })[];
  try {
    found = queue === undefined
      ? await client.query(CLAIM_MANY_SQL, [rows])
      : await client.query(CLAIM_AND_ARCHIVE_MANY_SQL, [rows, queue]);
  } catch (error) {
    if (isRowLevelError(error)) return await settleInTurn(requests, claimOne);
    const reason = queue !== undefined && sqlState(error) === "42P01"
      ? queueMissing(queue, error)
      : error;
    return requests.map(() => ({ status: "rejected", reason }));
  }
  return await Promise.all(
    requests.map((r, ord) =>
      settle(() => fromClaimRow(found[ord], r.stepUuid, queue !== undefined))
    ),
  );
}

/** Which claim to look for (see {@link findOwnClaim}). */
export interface OwnClaimQuery {
  stepUuid: string;
  workerUuid: string;
  /** The `metadata.timestamp` the claim was written with (pass `now` to {@link claimStep}). */
  timestamp: Date;
}

/**
 * After a claim whose answer was lost (the connection failed once the
 * statement was sent), tells whether it committed: the step's current
 * transition is `in_progress` with this worker's id and the claim's
 * timestamp. Returns the claim as {@link claimStep} would have, or
 * `undefined` when it did not commit (or the step moved on since).
 *
 * @example
 * ```ts ignore
 * const at = new Date();
 * try {
 *   claim = await claimStep(client, input, { now: () => at });
 * } catch {
 *   claim = await findOwnClaim(client, { ...input, timestamp: at }); // undefined: not claimed
 * }
 * ```
 */
export async function findOwnClaim(
  client: SqlExecutor,
  query: OwnClaimQuery,
): Promise<Claimed | undefined> {
  const [row] = await client.query<
    { attempts: number; sort_key: number; from_state: string | null }
  >(
    `SELECT ws.attempts, t.sort_key, t.from_state
     FROM tasker.workflow_step_transitions t
     JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = t.workflow_step_uuid
     WHERE t.workflow_step_uuid = $1::uuid AND t.most_recent AND t.to_state = 'in_progress'
       AND t.metadata->>'worker_uuid' = $2 AND t.metadata->>'timestamp' = $3`,
    [query.stepUuid, query.workerUuid, query.timestamp.toISOString()],
  );
  if (!row) return undefined;
  return {
    claimed: true,
    attempts: Number(row.attempts),
    sortKey: Number(row.sort_key),
    fromState: row.from_state ?? "pending",
  };
}
