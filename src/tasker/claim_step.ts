/**
 * Claiming a step with Tasker's transition protocol, in one transaction:
 *
 * 1. the current most-recent transition loses `most_recent` — its `to_state`
 *    is the step's state, read again here inside the transaction (no row:
 *    `pending`); a state that is not claimable rolls back;
 * 2. a transition to `in_progress` is inserted with the next `sort_key` and
 *    `most_recent = true`, and `workflow_steps` gets `in_process = true`,
 *    `attempts + 1`, `last_attempted_at = now()`.
 *
 * Nothing else is locked: the partial unique index on
 * `(workflow_step_uuid, most_recent) WHERE most_recent` is the arbiter. Of two
 * racing claimers the second either blocks on the first's row and then
 * inserts a second most-recent row — a unique violation, read as
 * `"already_claimed"` — or starts after the commit and sees `in_progress`.
 *
 * @module
 */
import { isUniqueViolation, type SqlClient } from "../db/sql_client.ts";
import { isClaimable } from "./hydrate_step.ts";

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
}

/** The result of {@link claimStep}. */
export type ClaimResult = Claimed | { notClaimable: string } | "already_claimed";

/** The `event` of a claim transition: Tasker's `StepEvent::Start`, as a JSON string. */
export const START_EVENT = JSON.stringify({ type: "Start" });

class NotClaimable {
  constructor(readonly state: string) {}
}

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
  client: SqlClient,
  input: ClaimStepInput,
  options: ClaimStepOptions = {},
): Promise<ClaimResult> {
  const now = options.now ?? (() => new Date());
  try {
    return await client.transaction(async (tx) => {
      const current = await tx.query<{ to_state: string }>(
        `UPDATE tasker.workflow_step_transitions SET most_recent = false
         WHERE workflow_step_uuid = $1::uuid AND most_recent
         RETURNING to_state`,
        [input.stepUuid],
      );
      const fromState = current[0]?.to_state ?? "pending";
      // Throwing rolls the most_recent change back.
      if (!isClaimable(fromState)) throw new NotClaimable(fromState);
      const metadata = JSON.stringify({
        event: START_EVENT,
        timestamp: now().toISOString(),
        worker_uuid: input.workerUuid,
        correlation_id: input.correlationId,
      });
      const [row] = await tx.query<{ attempts: number; sort_key: number }>(
        `WITH claim AS (
           INSERT INTO tasker.workflow_step_transitions
             (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent,
              created_at, updated_at)
           SELECT $1::uuid, 'in_progress', $2::text, $3::jsonb, COALESCE(MAX(sort_key), 0) + 1,
                  true, now(), now()
           FROM tasker.workflow_step_transitions WHERE workflow_step_uuid = $1::uuid
           RETURNING sort_key
         )
         UPDATE tasker.workflow_steps ws
         SET in_process = true, attempts = COALESCE(ws.attempts, 0) + 1,
             last_attempted_at = now(), updated_at = now()
         FROM claim
         WHERE ws.workflow_step_uuid = $1::uuid
         RETURNING ws.attempts, claim.sort_key`,
        [input.stepUuid, fromState, metadata],
      );
      if (!row) {
        // The transition's foreign key makes this unreachable for a missing
        // step; kept so a broken invariant is loud rather than a silent claim.
        throw new Error(`Cannot claim step ${input.stepUuid} as its workflow_steps row is missing`);
      }
      return {
        claimed: true,
        attempts: Number(row.attempts),
        sortKey: Number(row.sort_key),
        fromState,
      } satisfies Claimed;
    });
  } catch (error) {
    if (error instanceof NotClaimable) return { notClaimable: error.state };
    if (isUniqueViolation(error)) return "already_claimed";
    throw error;
  }
}
