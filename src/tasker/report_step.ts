/**
 * Reporting a step's StepExecutionResult to orchestration, in ONE statement
 * (one round trip, its own transaction):
 *
 * 1. the step's current transition must be this worker's `in_progress` claim
 *    (its `most_recent` is cleared only when it is: same worker, and the
 *    claim's `sort_key` when given); otherwise nothing is written and the
 *    report is skipped — a step whose claim was lost never gets a second
 *    result;
 * 2. a transition `in_progress → enqueued_for_orchestration` (success) or
 *    `→ enqueued_as_error_for_orchestration` (failure) with event
 *    `{"type":"EnqueueForOrchestration","data":<result>}` (or
 *    `EnqueueAsErrorForOrchestration`) as a JSON string;
 * 3. `workflow_steps.in_process = false, results = <result>`;
 * 4. `tasker.pgmq_send_with_notify('orchestration_step_results',
 *    {task_uuid, step_uuid, correlation_id}, 0)`.
 *
 * All four are one statement, so a report costs one round trip (it used to
 * be BEGIN, two statements and COMMIT: see docs/performance.md, "Broker end
 * to end"). A skipped report reads the step's state once more, in a
 * statement of its own, to name why.
 *
 * With the queues in another database (`PGMQ_DATABASE_URL`) the statement
 * writes 1–3 only (`sendMessages: false`) and the caller sends the message
 * on the queue database once it has committed ({@link sendResultMessages}),
 * as Tasker's own workers do: two databases share no transaction.
 *
 * @module
 */
import { settle, type Settled, settleInTurn } from "../db/coalescer.ts";
import { isRowLevelError, isUniqueViolation, type SqlExecutor } from "../db/sql_client.ts";
import { RESULTS_QUEUE } from "./queue_names.ts";
import {
  failureResult,
  type ResultInfo,
  type StepExecutionResult,
  StepExecutionResultSchema,
} from "./step_execution_result.ts";

/** What to report. */
export interface ReportStepInput {
  stepUuid: string;
  taskUuid: string;
  correlationId: string;
  /** This broker instance; must be the `worker_uuid` of the `in_progress` transition. */
  workerUuid: string;
  result: StepExecutionResult;
  /**
   * The claim's `sortKey` (from `claimStep`). When given, the report is
   * skipped unless the current transition is exactly that claim — this also
   * catches a step this same worker claimed again after losing it.
   */
  claimSortKey?: number;
}

/** Options for {@link reportStepResult}. */
export interface ReportStepOptions {
  /** The clock for the transition's `metadata.timestamp` (default: `new Date()`). */
  now?: () => Date;
}

/** Why a report was skipped. */
export type SkipReason =
  /** The step is not `in_progress` (`skipped` holds its state). */
  | "not_in_progress"
  /** The step is `in_progress` under another claim (another worker, or a newer claim). */
  | "claimed_by_other"
  /** Another writer moved the step while this report ran (a unique violation). */
  | "transition_conflict"
  /**
   * The step's current transition is this very report, written by an earlier
   * try whose answer was lost: nothing written again. With the message in
   * the statement it went out then; without, it still has to be sent.
   */
  | "already_reported";

/** The result of {@link reportStepResult}. */
export type ReportResult = "reported" | { skipped: string; reason: SkipReason };

/** Tasker's event names for the two report transitions. */
export const REPORT_EVENTS = {
  success: "EnqueueForOrchestration",
  failure: "EnqueueAsErrorForOrchestration",
} as const;

/**
 * Reports a result (see the module doc). Returns `"reported"`, or
 * `{skipped: state, reason}` when the step is no longer this worker's
 * `in_progress` claim (nothing written). Throws a `TypeError` for a result
 * orchestration could not parse (it fails {@link StepExecutionResultSchema})
 * or whose `step_uuid` is another step's, and passes database failures on.
 *
 * @example
 * ```ts ignore
 * const result = toStepExecutionResult(outcome, info);
 * const reported = await reportStepResult(client, {
 *   stepUuid, taskUuid, correlationId, workerUuid, result, claimSortKey: claim.sortKey,
 * });
 * if (reported !== "reported") log.warn("result not written", reported);
 * ```
 */
export async function reportStepResult(
  client: SqlExecutor,
  input: ReportStepInput,
  options: ReportStepOptions = {},
): Promise<ReportResult> {
  return await writeReport(client, input, options, false);
}

/** What to hand back (see {@link releaseStep}). */
export interface ReleaseStepInput {
  stepUuid: string;
  taskUuid: string;
  correlationId: string;
  workerUuid: string;
  /** The claim's `sortKey`, as for {@link reportStepResult}. */
  claimSortKey?: number;
  /** When the step was claimed (`metadata.started_at`; default: now). */
  claimedAt?: Date;
  /** Why, for `error.message` (default: the broker is shutting down). */
  message?: string;
}

/**
 * Hands back a step this worker claimed but never started (graceful
 * shutdown). Tasker workers have no "unclaim", and an `in_progress` step left
 * alone waits for task-level staleness recovery (minutes). So the step is
 * reported as a retryable failure with code `worker_shutdown` — orchestration
 * moves it to `waiting_for_retry` and re-enqueues it for any worker — and, in
 * the same transaction, the attempt the claim counted is taken back
 * (`attempts - 1`): the handler never ran, so the hand-back must not use up
 * the step's `max_attempts`. Only for steps whose handler did not start: a
 * started step reports its real outcome.
 *
 * @example
 * ```ts ignore
 * await releaseStep(client, { stepUuid, taskUuid, correlationId, workerUuid, claimSortKey });
 * ```
 */
export async function releaseStep(
  client: SqlExecutor,
  input: ReleaseStepInput,
  options: ReportStepOptions = {},
): Promise<ReportResult> {
  const now = options.now ?? (() => new Date());
  const completedAt = now();
  const result = handBackResult({
    stepUuid: input.stepUuid,
    workerId: input.workerUuid,
    startedAt: input.claimedAt ?? completedAt,
    completedAt,
  }, input.message);
  return await writeReport(client, { ...input, result }, { now: () => completedAt }, true);
}

/**
 * The result {@link releaseStep} reports: a retryable failure with code
 * `worker_shutdown` (report it with the attempt taken back, as
 * `prepareReport`'s `revertAttempt`).
 *
 * @example
 * ```ts
 * import { handBackResult } from "./report_step.ts";
 * const at = new Date();
 * const r = handBackResult({ stepUuid: crypto.randomUUID(), workerId: "w", startedAt: at, completedAt: at });
 * console.assert(r.metadata.error_code === "worker_shutdown" && r.metadata.retryable);
 * ```
 */
export function handBackResult(info: ResultInfo, message?: string): StepExecutionResult {
  return failureResult(info, {
    code: "worker_shutdown",
    message: message ??
      "Cannot run the step on this worker as it is shutting down; handed back before the handler started",
    retryable: true,
  });
}

async function writeReport(
  client: SqlExecutor,
  input: ReportStepInput,
  options: ReportStepOptions,
  revertAttempt: boolean,
): Promise<ReportResult> {
  return await writeOne(client, prepareReport(input, options, revertAttempt));
}

/** One report, checked and serialized (see {@link prepareReport}), ready for {@link writeReports}. */
export interface PreparedReport {
  readonly stepUuid: string;
  readonly toState: string;
  /** The transition's metadata as JSON text. */
  readonly metadata: string;
  /** The StepExecutionResult as JSON text. */
  readonly results: string;
  readonly revertAttempt: boolean;
  /** The `orchestration_step_results` message as JSON text. */
  readonly message: string;
  readonly workerUuid: string;
  readonly claimSortKey: number | null;
}

/**
 * Checks a report and serializes what it writes. Throws a `TypeError` for a
 * result orchestration could not parse or whose `step_uuid` is another
 * step's (as {@link reportStepResult} does).
 */
export function prepareReport(
  input: ReportStepInput,
  options: ReportStepOptions = {},
  revertAttempt = false,
): PreparedReport {
  const parsed = StepExecutionResultSchema.safeParse(input.result);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TypeError(
      `Cannot report the result of step ${input.stepUuid} as orchestration could not parse it: ` +
        `${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
  }
  if (input.result.step_uuid.toLowerCase() !== input.stepUuid.toLowerCase()) {
    throw new TypeError(
      `Cannot report a result for step ${input.result.step_uuid} as step ${input.stepUuid}`,
    );
  }
  const now = options.now ?? (() => new Date());
  const success = input.result.success;
  const results = JSON.stringify(input.result);
  // The event is a JSON string inside the metadata (Tasker's StepEvent,
  // serialized), built from the same text as `results`.
  const event = `{"type":"${
    success ? REPORT_EVENTS.success : REPORT_EVENTS.failure
  }","data":${results}}`;
  return {
    stepUuid: input.stepUuid,
    toState: success ? "enqueued_for_orchestration" : "enqueued_as_error_for_orchestration",
    metadata: JSON.stringify({
      event,
      timestamp: now().toISOString(),
      worker_uuid: input.workerUuid,
      correlation_id: input.correlationId,
    }),
    results,
    revertAttempt,
    message: JSON.stringify({
      task_uuid: input.taskUuid,
      step_uuid: input.stepUuid,
      correlation_id: input.correlationId,
    }),
    workerUuid: input.workerUuid,
    claimSortKey: input.claimSortKey ?? null,
  };
}

/** Options for {@link writeReports}. */
export interface WriteReportsOptions {
  /**
   * Whether the statement also sends each report's `orchestration_step_results`
   * message (default true: the queues live in Tasker's database). With false
   * nothing is sent; send {@link PreparedReport.message} on the queue database
   * with {@link sendResultMessages} once the report is written.
   */
  sendMessages?: boolean;
}

/**
 * Writes several prepared reports in ONE statement, each exactly as
 * {@link reportStepResult} would (same answers), and settles each on its
 * own, in order: one round trip and one commit for the batch. A batch of one
 * is the single report's own statement (its plan is cached). When the batch
 * statement fails on something one report can cause alone — a unique
 * violation, a deadlock, a value PostgreSQL cannot store — nothing of it was
 * written, and each report is written again in a statement of its own, so
 * only that report fails. A failure of the whole statement (the connection,
 * the results queue missing) rejects every report: none was written. Reports
 * for the same step twice are refused (`TypeError`).
 *
 * @example
 * ```ts ignore
 * const rows = finished.map((f) => prepareReport({ ...f, workerUuid }));
 * const results = await writeReports(client, rows); // settled "reported" | {skipped, reason}, per row
 * ```
 */
export async function writeReports(
  client: SqlExecutor,
  reports: readonly PreparedReport[],
  options: WriteReportsOptions = {},
): Promise<Settled<ReportResult>[]> {
  if (new Set(reports.map((r) => r.stepUuid.toLowerCase())).size !== reports.length) {
    throw new TypeError("Cannot report a batch that names the same step twice");
  }
  const send = options.sendMessages ?? true;
  if (reports.length <= 1) return await settleInTurn(reports, (r) => writeOne(client, r, send));
  let written: Set<number>;
  try {
    // Spliced from the JSON texts already made: no parse and serialize again.
    const batch = `[${
      reports.map((r, ord) =>
        `{"step_uuid":${JSON.stringify(r.stepUuid)},"to_state":${
          JSON.stringify(r.toState)
        },"metadata":${r.metadata},"results":${r.results},"revert":${r.revertAttempt},"message":${r.message},"worker_uuid":${
          JSON.stringify(r.workerUuid)
        },"sort_key":${r.claimSortKey ?? "null"},"ord":${ord}}`
      ).join(",")
    }]`;
    const rows = send
      ? await client.query<{ ord: number }>(REPORT_MANY_SQL, [batch, RESULTS_QUEUE])
      : await client.query<{ ord: number }>(REPORT_MANY_NO_SEND_SQL, [batch]);
    written = new Set(rows.map((row) => Number(row.ord)));
  } catch (error) {
    if (isRowLevelError(error)) {
      return await settleInTurn(reports, (r) => writeOne(client, r, send));
    }
    return reports.map(() => ({ status: "rejected", reason: error }));
  }
  return await Promise.all(
    reports.map((r, ord) =>
      written.has(ord)
        ? { status: "fulfilled", value: "reported" } as const
        : settle(() => whySkipped(client, r))
    ),
  );
}

/**
 * Sends the `orchestration_step_results` messages of written reports
 * ({@link PreparedReport.message}, JSON text) through
 * `tasker.pgmq_send_with_notify`, in ONE statement and in order; settles
 * each with its message id. For the queue database when it is not Tasker's
 * (see {@link WriteReportsOptions.sendMessages}). The statement is all or
 * nothing: a failure rejects every message, none was sent.
 *
 * @example
 * ```ts ignore
 * const [sent] = await sendResultMessages(queueClient, [report.message]);
 * ```
 */
export async function sendResultMessages(
  client: SqlExecutor,
  messages: readonly string[],
): Promise<Settled<number>[]> {
  if (messages.length === 0) return [];
  let rows: { ord: number; msg_id: number }[];
  try {
    rows = await client.query<{ ord: number; msg_id: number }>(SEND_RESULTS_SQL, [
      RESULTS_QUEUE,
      `[${messages.join(",")}]`,
    ]);
  } catch (error) {
    return messages.map(() => ({ status: "rejected", reason: error }));
  }
  const ids = new Map(rows.map((row) => [Number(row.ord), Number(row.msg_id)]));
  return messages.map((_, i) => {
    const id = ids.get(i + 1);
    return id === undefined
      ? { status: "rejected", reason: new Error(`results message ${i + 1} was not sent`) }
      : { status: "fulfilled", value: id };
  });
}

/** One report in its own statement (see {@link reportStepResult}). */
async function writeOne(
  client: SqlExecutor,
  r: PreparedReport,
  send = true,
): Promise<ReportResult> {
  let rows: unknown[];
  const params = [
    r.stepUuid,
    r.toState,
    r.metadata,
    r.results,
    r.revertAttempt,
    r.workerUuid,
    r.claimSortKey,
  ];
  try {
    rows = send
      ? await client.query(REPORT_SQL, [...params, RESULTS_QUEUE, r.message])
      : await client.query(REPORT_NO_SEND_SQL, params);
  } catch (error) {
    if (isUniqueViolation(error)) return { skipped: "unknown", reason: "transition_conflict" };
    throw error;
  }
  return rows.length > 0 ? "reported" : await whySkipped(client, r);
}

/**
 * Names why nothing was written, from the state as it is now (a rival that
 * moved the step while the report waited for its row lock has committed; this
 * new statement sees its row). A current transition that is this report
 * itself — the same state, this worker, the one after the claim — was written
 * by an earlier try whose answer was lost.
 */
async function whySkipped(client: SqlExecutor, r: PreparedReport): Promise<ReportResult> {
  const [current] = await client.query<
    { to_state: string; sort_key: number; worker_uuid: string | null }
  >(
    `SELECT to_state, sort_key, metadata->>'worker_uuid' AS worker_uuid
     FROM tasker.workflow_step_transitions
     WHERE workflow_step_uuid = $1::uuid AND most_recent`,
    [r.stepUuid],
  );
  if (!current) return { skipped: "pending", reason: "not_in_progress" };
  if (
    current.to_state === r.toState && r.claimSortKey !== null &&
    Number(current.sort_key) === r.claimSortKey + 1 &&
    current.worker_uuid?.toLowerCase() === r.workerUuid.toLowerCase()
  ) {
    return { skipped: current.to_state, reason: "already_reported" };
  }
  if (current.to_state !== "in_progress") {
    return { skipped: current.to_state, reason: "not_in_progress" };
  }
  return { skipped: current.to_state, reason: "claimed_by_other" };
}

// The claim must be this worker's current in_progress transition (and the
// given claim when `$7` is set): `cur` flips it only then, blocking on a
// rival's row lock and re-checking the row's latest version. Everything else
// hangs off `cur`, so a report that does not hold the claim writes nothing
// and returns no row.
const REPORT_WRITE_SQL = `
WITH cur AS (
  UPDATE tasker.workflow_step_transitions SET most_recent = false
  WHERE workflow_step_uuid = $1::uuid AND most_recent AND to_state = 'in_progress'
    AND lower(metadata->>'worker_uuid') = lower($6::text)
    AND ($7::integer IS NULL OR sort_key = $7::integer)
  RETURNING workflow_step_uuid
), report AS (
  INSERT INTO tasker.workflow_step_transitions
    (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent,
     created_at, updated_at)
  SELECT cur.workflow_step_uuid, $2::text, 'in_progress', $3::jsonb,
         COALESCE((SELECT MAX(sort_key) FROM tasker.workflow_step_transitions
                   WHERE workflow_step_uuid = $1::uuid), 0) + 1,
         true, now(), now()
  FROM cur
  RETURNING workflow_step_uuid
), step AS (
  UPDATE tasker.workflow_steps ws
  SET in_process = false, results = $4::jsonb, updated_at = now(),
      attempts = CASE WHEN $5::boolean THEN GREATEST(COALESCE(ws.attempts, 0) - 1, 0)
                      ELSE ws.attempts END
  FROM report
  WHERE ws.workflow_step_uuid = report.workflow_step_uuid
  RETURNING ws.workflow_step_uuid
)`;
const REPORT_SQL = `${REPORT_WRITE_SQL}
SELECT tasker.pgmq_send_with_notify($8::text, $9::jsonb, 0) AS msg_id FROM step`;
const REPORT_NO_SEND_SQL = `${REPORT_WRITE_SQL}
SELECT 1 AS written FROM step`;

// The same per report, for a batch: `$1` is a JSON array of {step_uuid,
// to_state, metadata, results, revert, message, worker_uuid, sort_key, ord}
// (jsonb_to_recordset: a cached plan, see hydrate_step.ts; tables reached
// through `= ANY (ARRAY(...))`, an index scan, see claim_step.ts). Returns the `ord`
// of every report written; the results message is sent per step, as Tasker's
// orchestration expects one per step.
const REPORT_MANY_WRITE_SQL = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb)
    AS i(step_uuid uuid, to_state text, metadata jsonb, results jsonb, revert boolean,
         message jsonb, worker_uuid text, sort_key integer, ord integer)
), cur AS (
  UPDATE tasker.workflow_step_transitions t SET most_recent = false
  FROM input i
  WHERE t.workflow_step_uuid = ANY (ARRAY(SELECT step_uuid FROM input))
    AND t.workflow_step_uuid = i.step_uuid AND t.most_recent AND t.to_state = 'in_progress'
    AND lower(t.metadata->>'worker_uuid') = lower(i.worker_uuid)
    AND (i.sort_key IS NULL OR t.sort_key = i.sort_key)
  RETURNING t.workflow_step_uuid
), report AS (
  INSERT INTO tasker.workflow_step_transitions
    (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent,
     created_at, updated_at)
  SELECT i.step_uuid, i.to_state, 'in_progress', i.metadata,
         COALESCE((SELECT MAX(m.sort_key) FROM tasker.workflow_step_transitions m
                   WHERE m.workflow_step_uuid = i.step_uuid), 0) + 1,
         true, now(), now()
  FROM input i JOIN cur ON cur.workflow_step_uuid = i.step_uuid
  RETURNING workflow_step_uuid
), step AS (
  UPDATE tasker.workflow_steps ws
  SET in_process = false, results = i.results, updated_at = now(),
      attempts = CASE WHEN i.revert THEN GREATEST(COALESCE(ws.attempts, 0) - 1, 0)
                      ELSE ws.attempts END
  FROM report JOIN input i ON i.step_uuid = report.workflow_step_uuid
  WHERE ws.workflow_step_uuid = ANY (ARRAY(SELECT workflow_step_uuid FROM report))
    AND ws.workflow_step_uuid = report.workflow_step_uuid
  RETURNING i.ord, i.message
)`;
const REPORT_MANY_SQL = `${REPORT_MANY_WRITE_SQL}
SELECT step.ord, tasker.pgmq_send_with_notify($2::text, step.message, 0) AS msg_id
FROM step ORDER BY step.ord`;
const REPORT_MANY_NO_SEND_SQL = `${REPORT_MANY_WRITE_SQL}
SELECT step.ord FROM step ORDER BY step.ord`;

// `$2` is a JSON array of messages; ordinality numbers them from 1. The
// sends run in the array's order (a function scan feeds them in turn).
const SEND_RESULTS_SQL = `
SELECT m.ord::integer AS ord, tasker.pgmq_send_with_notify($1::text, m.message, 0) AS msg_id
FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS m(message, ord)`;
