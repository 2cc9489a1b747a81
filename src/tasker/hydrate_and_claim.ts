/**
 * Hydrating a step message and claiming its step in ONE statement: the
 * broker's path for a message it can run at once (nothing waiting, a slot
 * free), one round trip fewer than hydrate, then claim.
 *
 * The statement claims only a step whose template definition the broker has
 * already validated and resolved as served: the caller passes those
 * definitions keyed by digest (the md5 of the definition's jsonb text, which
 * the statement also returns), and the claim is written when the step's
 * definition has one of those digests, the step belongs to the message's
 * task and its state is claimable — the conditions the separate path checks
 * between its hydrate and its claim, so both paths claim the same steps. A
 * step with another definition is only hydrated, and its digest returned:
 * the caller validates and resolves it, claims it separately, and can pass
 * the digest next time.
 *
 * All sub-statements share one snapshot: the hydration sees the step as it
 * was before the claim (its state, attempts and dependency results), as the
 * separate path's hydration does. The claim is {@link claimCtes}' protocol
 * and the ack (`pgmq.archive`) rides along, as in `claimStep` with
 * `archive`; a message whose step is not claimed is not archived.
 *
 * @module
 */
import { isUniqueViolation, type SqlExecutor, sqlState } from "../db/sql_client.ts";
import {
  claimCtes,
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
import type { StepDefinition } from "./step_definition.ts";
import { isUuid, type StepMessage } from "./step_message.ts";

/** What to hydrate and, when its definition is known, claim. */
export interface HydrateAndClaimInput {
  message: StepMessage;
  /** This broker instance (`metadata.worker_uuid` of the claim transition). */
  workerUuid: string;
  /** The claim transition's `metadata.timestamp` (what `findOwnClaim` looks for). */
  at: Date;
  /** The message to archive with the claim (the ack). */
  archive: { queue: string; msgId: number };
  /**
   * Definitions validated and resolved as served, by digest: only a step
   * whose template definition has one of these digests is claimed, and its
   * definition is taken from here instead of being validated again.
   */
  known: ReadonlyMap<string, StepDefinition>;
}

/** The result of {@link hydrateAndClaim}. */
export interface HydrateAndClaimResult {
  hydrated: HydrateResult;
  /** The md5 of the step's template definition; null when it has none (or several). */
  definitionDigest: string | null;
  /** Set when the statement claimed or tried to: what the claim found. */
  claim?: ClaimResult;
}

interface Row extends HydrateRow, Omit<ClaimRow, "attempts" | "sort_key" | "from_state"> {
  claim_tried: boolean;
  claim_attempts: number | null;
  claim_sort_key: number | null;
  claim_from_state: string | null;
}

// $1 task, $2 step, $3 claim metadata, $4 queue, $5 msg id, $6 known digests
// (a JSON array: no array parameter, so postgres.js and PGlite bind it alike).
// `h` is materialized: one row (one-row keys, left joins, aggregates), read
// from the statement's snapshot before any claim sub-statement writes.
const HYDRATE_AND_CLAIM_SQL = `
WITH h AS MATERIALIZED (${
  hydrateSql("(SELECT $1::uuid AS task_uuid, $2::uuid AS step_uuid) k", {
    definitionDigest: true,
    knownDigests: "$6::jsonb",
  })
}
), eligible AS (
  SELECT h.workflow_step_uuid IS NOT NULL AND h.step_task_uuid = h.task_uuid
    AND COALESCE(h.state, 'pending') IN (${CLAIMABLE_SQL})
    AND h.task_name IS NOT NULL AND h.definition_md5 IS NOT NULL
    AND jsonb_exists($6::jsonb, h.definition_md5) AS ok
  FROM h
), ${claimCtes("$2", "$3", "(SELECT ok FROM eligible)")}, ack AS (
  SELECT pgmq.archive($4::text, $5::bigint) AS archived WHERE (SELECT ok FROM eligible)
)
SELECT h.*, (SELECT ok FROM eligible) AS claim_tried,
       step.attempts AS claim_attempts, step.sort_key AS claim_sort_key,
       step.from_state AS claim_from_state,
       (SELECT to_state FROM snap) AS snapshot_state, (SELECT archived FROM ack) AS archived
FROM h LEFT JOIN step ON true`;

/**
 * Hydrates a step message and, when its definition is one of `known`,
 * claims its step and archives the message, in one statement (see the
 * module doc). The hydration is what `hydrateStep` returns; `claim`, when
 * set, is what `claimStep` with `archive` returns.
 *
 * A rival that claims a step with no transition yet in the same instant
 * makes the statement fail on the unique index: nothing was written, and the
 * step is hydrated again on its own and returned without a claim. Other
 * database failures are thrown — the claim may then have committed (look it
 * up with `findOwnClaim` and `at`).
 *
 * @example
 * ```ts ignore
 * const known = new Map([[digest, definition]]);
 * const r = await hydrateAndClaim(client, { message, workerUuid, at: new Date(), archive, known });
 * if (r.claim && r.claim !== "already_claimed" && "claimed" in r.claim) run(r.hydrated);
 * ```
 */
export async function hydrateAndClaim(
  client: SqlExecutor,
  input: HydrateAndClaimInput,
): Promise<HydrateAndClaimResult> {
  const { message, archive } = input;
  if (!isUuid(message.task_uuid) || !isUuid(message.step_uuid)) {
    return { hydrated: await hydrateStep(client, message), definitionDigest: null };
  }
  if (!Number.isSafeInteger(archive.msgId) || archive.msgId < 1) {
    throw new RangeError(
      `Cannot archive with the claim as msgId is not an integer ≥ 1: current value is ${archive.msgId}`,
    );
  }
  // One view of the known definitions for the statement and its answer: a digest the statement
  // treats as known gets no configuration back, so its definition must still be here after.
  const known = new Map(input.known);
  const metadata = JSON.stringify(claimMetadata({
    stepUuid: message.step_uuid,
    workerUuid: input.workerUuid,
    correlationId: message.correlation_id,
  }, input.at));
  let row: Row | undefined;
  try {
    [row] = await client.query<Row>(HYDRATE_AND_CLAIM_SQL, [
      message.task_uuid,
      message.step_uuid,
      metadata,
      archive.queue,
      archive.msgId,
      JSON.stringify([...known.keys()]),
    ]);
  } catch (error) {
    if (isUniqueViolation(error)) {
      return { hydrated: await hydrateStep(client, message), definitionDigest: null };
    }
    if (sqlState(error) === "42P01") throw queueMissing(archive.queue, error);
    throw error;
  }
  const digest = row?.definition_md5 ?? null;
  // A known digest's configuration was not sent: its definition is the one given (same md5,
  // same definition text), whether or not the claim was tried.
  const definition = digest !== null ? known.get(digest) : undefined;
  const hydrated = hydratedFromRow(row, message, definition);
  if (!row?.claim_tried) return { hydrated, definitionDigest: digest };
  const claim = fromClaimRow(
    {
      attempts: row.claim_attempts,
      sort_key: row.claim_sort_key,
      from_state: row.claim_from_state,
      snapshot_state: row.snapshot_state,
      archived: row.archived,
    },
    message.step_uuid,
    true,
  );
  return { hydrated, definitionDigest: digest, claim };
}

const OWN_CLAIM_STATES = ["in_progress"];
const HYDRATE_OWN_CLAIM_SQL = hydrateSql(
  "(SELECT $1::uuid AS task_uuid, $2::uuid AS step_uuid) k",
  { definitionDigest: true, states: OWN_CLAIM_STATES },
);

/**
 * Hydrates a step this worker has claimed already, so its state is
 * `in_progress` (any other state is `not_claimable`): after a
 * {@link hydrateAndClaim} whose answer was lost, once `findOwnClaim` has found
 * that its claim committed. No claim is made.
 *
 * @example
 * ```ts ignore
 * const own = await findOwnClaim(client, { stepUuid, workerUuid, timestamp: at });
 * if (own) ({ hydrated, definitionDigest } = await hydrateOwnClaim(client, message));
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
