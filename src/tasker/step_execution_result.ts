/**
 * Turning a step's outcome into Tasker's StepExecutionResult — the JSON a
 * worker writes to `workflow_steps.results` and orchestration reads to decide
 * completion, retry or failure.
 *
 * The mapping from the runtime's error codes to Tasker's `error_type` and
 * `retryable` is {@link ERROR_MAPPING} (one row per {@link ErrorCode}; the
 * compiler refuses a missing row). {@link StepExecutionResultSchema} encodes
 * the parsing rules orchestration applies, and every result built here passes
 * it.
 *
 * @module
 */
import { z } from "zod";
import type { ErrorCode } from "../errors.ts";
import type { StepMetrics, StepOutcome } from "../runtime/step_outcome.ts";
import type { StepType } from "./step_definition.ts";
import { UUID_PATTERN } from "./step_message.ts";

/** Tasker's error categories (`metadata.error_type`, `error.error_type`). */
export const ERROR_TYPES = [
  "permanent_error",
  "retryable_error",
  "validation_error",
  "timeout",
  "handler_error",
] as const;

/** A Tasker error category. */
export type TaskerErrorType = typeof ERROR_TYPES[number];

/** How one error code maps: its category, whether to retry, and the result status. */
export interface ErrorMapping {
  errorType: TaskerErrorType;
  /** `"guest"`: the guest's own `retryable` decides (handler failures). */
  retryable: boolean | "guest";
  /**
   * `"failed"` for failures of the handler's own logic or output, `"error"`
   * for failures of the system around it (Tasker's `failure()` vs `error()`).
   */
  status: "failed" | "error";
}

const PERMANENT: ErrorMapping = { errorType: "permanent_error", retryable: false, status: "error" };
const RETRYABLE: ErrorMapping = { errorType: "retryable_error", retryable: true, status: "error" };
const VALIDATION: ErrorMapping = {
  errorType: "validation_error",
  retryable: false,
  status: "failed",
};

/**
 * The outcome mapping: every {@link ErrorCode} → Tasker `error_type`,
 * `retryable`, `status`. `satisfies Record<ErrorCode, ...>` makes a code added
 * to `src/errors.ts` without a row here a compile error.
 */
export const ERROR_MAPPING = {
  timeout: { errorType: "timeout", retryable: true, status: "error" },
  sandbox_crashed: RETRYABLE,
  internal: RETRYABLE,
  // Another publisher held the registry lock: the same step can run later.
  registry_locked: RETRYABLE,
  handler_error: { errorType: "handler_error", retryable: "guest", status: "failed" },
  output_invalid: VALIDATION,
  output_too_large: VALIDATION,
  no_output: VALIDATION,
  trap: PERMANENT,
  bad_pointer: PERMANENT,
  memory_limit: PERMANENT,
  table_limit: PERMANENT,
  host_call_budget: PERMANENT,
  policy_fault: PERMANENT,
  secret_leak: PERMANENT,
  entry_missing: PERMANENT,
  unknown_import: PERMANENT,
  module_invalid: PERMANENT,
  manifest_invalid: PERMANENT,
  digest_mismatch: PERMANENT,
  not_found: PERMANENT,
  registry_invalid: PERMANENT,
  // Codes the runtime does not produce for a step, mapped so that a broker
  // failure carrying one is still a well-formed, final result.
  plugin_conflict: PERMANENT,
  callable_invalid: PERMANENT,
  config_schema_invalid: PERMANENT,
  version_conflict: PERMANENT,
  build_failed: PERMANENT,
  config_invalid: PERMANENT,
  queue_name_invalid: PERMANENT,
  queue_missing: RETRYABLE,
  tasker_schema_missing: RETRYABLE,
} as const satisfies Record<ErrorCode, ErrorMapping>;

/** Every {@link ErrorCode}, in {@link ERROR_MAPPING}'s order (exhaustive by its type). */
export const ALL_ERROR_CODES: readonly ErrorCode[] = Object.keys(ERROR_MAPPING) as ErrorCode[];

/**
 * Failure codes the broker itself reports that are not runtime codes.
 * `worker_shutdown`: a claimed step handed back before its handler started.
 */
export type BrokerFailureCode = "worker_shutdown";

/** Mappings of {@link BrokerFailureCode}s. */
export const BROKER_FAILURE_MAPPING = {
  worker_shutdown: RETRYABLE,
} as const satisfies Record<BrokerFailureCode, ErrorMapping>;

/** The mapping of a runtime or broker failure code. */
export function errorMapping(code: ErrorCode | BrokerFailureCode): ErrorMapping {
  return (ERROR_MAPPING as Record<string, ErrorMapping>)[code] ??
    (BROKER_FAILURE_MAPPING as Record<string, ErrorMapping>)[code];
}

/** Largest `error.context` kept, in UTF-8 bytes of its JSON (see {@link boundedContext}). */
export const MAX_ERROR_CONTEXT_BYTES = 16 * 1024;

/** Longest `error.message` kept, in characters. */
export const MAX_ERROR_MESSAGE_CHARS = 4096;

// ---------------------------------------------------------------------------
// The schema: what orchestration parses.

const JsonObject = z.record(z.string(), z.unknown());
const Rfc3339 = z.iso.datetime({ offset: true });

/** Tasker's `BackoffHint` (`delay_seconds` is a u32). */
export const BackoffHintSchema = z.object({
  backoff_type: z.enum(["ServerRequested", "RateLimit", "ServiceUnavailable", "Custom"]),
  delay_seconds: z.int().min(0).max(2 ** 32 - 1),
  context: z.string().nullish(),
});

/** Tasker's `OrchestrationMetadata`: `headers` (string values) and `custom` are required. */
export const OrchestrationMetadataSchema = z.object({
  headers: z.record(z.string(), z.string()),
  custom: JsonObject,
  error_context: z.string().nullish(),
  backoff_hint: BackoffHintSchema.nullish(),
});

/** Tasker's `StepExecutionError`: `message` and `retryable` are required. */
export const StepExecutionErrorSchema = z.object({
  message: z.string(),
  retryable: z.boolean(),
  error_type: z.string().nullish(),
  backtrace: z.array(z.string()).nullish(),
  status_code: z.int().min(0).max(65535).nullish(),
  context: JsonObject.optional(),
});

/** Tasker's `StepExecutionMetadata`, with the fields this broker always writes required. */
export const StepExecutionMetadataSchema = z.object({
  execution_time_ms: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  completed_at: Rfc3339,
  retryable: z.boolean(),
  custom: JsonObject,
  context: JsonObject,
  worker_id: z.string().nullish(),
  worker_hostname: z.string().nullish(),
  started_at: Rfc3339.nullish(),
  handler_version: z.string().nullish(),
  error_type: z.enum(ERROR_TYPES).nullish(),
  error_code: z.string().nullish(),
});

/**
 * A StepExecutionResult as orchestration parses it, plus the consistency
 * rules orchestration relies on: `success` exactly when `status` is
 * `"completed"`; a failure has an `error` whose `retryable` equals
 * `metadata.retryable` (orchestration reads the latter); a success has
 * `error: null`.
 */
export const StepExecutionResultSchema = z.object({
  step_uuid: z.string().regex(new RegExp(UUID_PATTERN), "expected a UUID"),
  success: z.boolean(),
  result: z.unknown().refine((v: unknown): boolean => v !== undefined, "result is required"),
  status: z.enum(["completed", "failed", "error"]),
  metadata: StepExecutionMetadataSchema,
  error: StepExecutionErrorSchema.nullable(),
  orchestration_metadata: OrchestrationMetadataSchema.nullable(),
}).superRefine((r, ctx) => {
  if (r.success !== (r.status === "completed")) {
    ctx.addIssue({
      code: "custom",
      path: ["status"],
      message: `success ${r.success} needs status ${
        r.success ? '"completed"' : '"failed" or "error"'
      }`,
    });
  }
  if (r.success && r.error !== null) {
    ctx.addIssue({ code: "custom", path: ["error"], message: "a success has error: null" });
  }
  if (!r.success) {
    if (r.error === null) {
      ctx.addIssue({ code: "custom", path: ["error"], message: "a failure needs an error" });
    } else if (r.error.retryable !== r.metadata.retryable) {
      ctx.addIssue({
        code: "custom",
        path: ["metadata", "retryable"],
        message: "metadata.retryable must equal error.retryable",
      });
    }
  }
});

/** Tasker's StepExecutionResult (what goes into `workflow_steps.results`). */
export type StepExecutionResult = z.output<typeof StepExecutionResultSchema>;

/** A decision step's `result.decision_point_outcome`. */
export const DecisionPointOutcomeSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("create_steps"), step_names: z.array(z.string().min(1)) }),
  z.object({ type: z.literal("no_branches") }),
]);

/** A batchable step's `result.batch_processing_outcome`. */
export const BatchProcessingOutcomeSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("no_batches") }),
  z.object({
    type: z.literal("create_batches"),
    worker_template_name: z.string().min(1),
    worker_count: z.int().min(0).max(2 ** 32 - 1),
    cursor_configs: z.array(z.object({
      batch_id: z.string(),
      start_cursor: z.unknown(),
      end_cursor: z.unknown(),
      batch_size: z.int().min(0).max(2 ** 32 - 1),
    })),
    total_items: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  }),
]);

// ---------------------------------------------------------------------------
// Building results.

/** Facts about one execution that are not in the outcome. */
export interface ResultInfo {
  /** `workflow_steps.workflow_step_uuid`. */
  stepUuid: string;
  /** This broker instance's id (`metadata.worker_id`). */
  workerId: string;
  /** When the broker started the step (after the claim). */
  startedAt: Date;
  /** When the outcome was known. */
  completedAt: Date;
  /** The guest that ran, e.g. `catalog.transform@1.2.0` (`metadata.handler_version`). */
  handlerVersion?: string;
  /** The step's name, recorded in `metadata.custom.step_name`. */
  stepName?: string;
  /**
   * The step's type. For `decision` and `batchable` steps a completed result's
   * `decision_point_outcome` / `batch_processing_outcome` is checked (when
   * present) against Tasker's shape: a malformed one fails the step with
   * `output_invalid` instead of reaching orchestration.
   */
  stepType?: StepType;
  /** `metadata.worker_hostname`. */
  workerHostname?: string;
}

/** A failure found by the broker itself (see {@link failureResult}). */
export interface BrokerFailure {
  code: ErrorCode | BrokerFailureCode;
  message: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

/**
 * Maps a step outcome to a StepExecutionResult (table: {@link ERROR_MAPPING}).
 *
 * - completed → `success: true, status: "completed", result` (decision and
 *   batch outcomes pass through untouched), `error: null`;
 * - failed → `success: false, result: {}`, `status` from the mapping,
 *   `error: {message, retryable, error_type, status_code?, context: details}`,
 *   `metadata.error_code` = the guest's code (`details.guest_code`) when it
 *   gave one, else the broker code; `metadata.custom.wasm_broker_code` = the
 *   broker code; a valid `details.guest_details.backoff_hint` becomes
 *   `orchestration_metadata.backoff_hint`.
 *
 * `error.context` is JSON-safe and at most {@link MAX_ERROR_CONTEXT_BYTES}
 * (see {@link boundedContext}); outcomes are already scrubbed of secrets.
 *
 * @example
 * ```ts
 * import { toStepExecutionResult } from "./step_execution_result.ts";
 * import { emptyMetrics } from "../runtime/step_outcome.ts";
 * const info = {
 *   stepUuid: "0190a8b2-0000-7000-8000-000000000002",
 *   workerId: "broker-1",
 *   startedAt: new Date("2025-01-01T00:00:00.000Z"),
 *   completedAt: new Date("2025-01-01T00:00:00.012Z"),
 * };
 * const ok = toStepExecutionResult(
 *   { status: "completed", result: { n: 1 }, error: null, metrics: emptyMetrics(), logs: [] },
 *   info,
 * );
 * console.assert(ok.success && ok.status === "completed" && ok.metadata.execution_time_ms === 12);
 * const failed = toStepExecutionResult({
 *   status: "failed",
 *   result: null,
 *   error: { code: "timeout", message: "ran past 50 ms", retryable: true },
 *   metrics: emptyMetrics(),
 *   logs: [],
 * }, info);
 * console.assert(!failed.success && failed.metadata.retryable && failed.metadata.error_type === "timeout");
 * ```
 */
export function toStepExecutionResult(outcome: StepOutcome, info: ResultInfo): StepExecutionResult {
  if (outcome.status === "completed" && outcome.error === null) {
    const invalid = checkOutcomeShape(outcome.result, info.stepType);
    if (invalid) return buildFailure(info, invalid, outcome.metrics, "mapping");
    return {
      step_uuid: info.stepUuid,
      success: true,
      result: outcome.result,
      status: "completed",
      metadata: {
        ...baseMetadata(info),
        retryable: false,
        custom: custom(info, undefined, outcome.metrics),
        context: {},
      },
      error: null,
      orchestration_metadata: null,
    };
  }
  const error = outcome.error ?? {
    code: "internal" as const,
    message: "the step failed without an error",
    retryable: true,
  };
  return buildFailure(info, error, outcome.metrics, "mapping");
}

/**
 * A failure StepExecutionResult for something the broker found itself after
 * the claim (a digest mismatch, a guest that vanished from the registry, a
 * step handed back at shutdown). `retryable` is the caller's decision;
 * `error_type` comes from the code's mapping.
 *
 * @example
 * ```ts
 * import { failureResult } from "./step_execution_result.ts";
 * const r = failureResult({
 *   stepUuid: "0190a8b2-0000-7000-8000-000000000002",
 *   workerId: "broker-1",
 *   startedAt: new Date(),
 *   completedAt: new Date(),
 * }, { code: "worker_shutdown", message: "the broker stopped before the step started", retryable: true });
 * console.assert(r.error?.error_type === "retryable_error" && r.metadata.retryable);
 * ```
 */
export function failureResult(info: ResultInfo, failure: BrokerFailure): StepExecutionResult {
  return buildFailure(info, failure, undefined, "caller");
}

function buildFailure(
  info: ResultInfo,
  failure: BrokerFailure,
  metrics: StepMetrics | undefined,
  retryableFrom: "mapping" | "caller",
): StepExecutionResult {
  const mapping = errorMapping(failure.code) ?? (failure.retryable ? RETRYABLE : PERMANENT);
  const retryable = retryableFrom === "caller" || mapping.retryable === "guest"
    ? failure.retryable === true
    : mapping.retryable;
  const details = failure.details ?? {};
  const guestCode = typeof details.guest_code === "string" && details.guest_code.length > 0
    ? details.guest_code
    : undefined;
  const guestDetails = isObject(details.guest_details) ? details.guest_details : undefined;
  const statusCode = guestCode === "http_status" && guestDetails
    ? httpStatus(guestDetails.status)
    : undefined;
  const hint = guestDetails ? BackoffHintSchema.safeParse(guestDetails.backoff_hint) : undefined;
  const message = failure.message.length > MAX_ERROR_MESSAGE_CHARS
    ? `${failure.message.slice(0, MAX_ERROR_MESSAGE_CHARS)}... (truncated)`
    : failure.message;
  return {
    step_uuid: info.stepUuid,
    success: false,
    result: {},
    status: mapping.status,
    metadata: {
      ...baseMetadata(info),
      retryable,
      error_type: mapping.errorType,
      error_code: guestCode ?? failure.code,
      custom: custom(info, failure.code, metrics),
      context: {},
    },
    error: {
      message,
      retryable,
      error_type: mapping.errorType,
      ...(statusCode !== undefined ? { status_code: statusCode } : {}),
      context: boundedContext(details),
    },
    orchestration_metadata: hint?.success
      ? { headers: {}, custom: {}, backoff_hint: hint.data }
      : null,
  };
}

function baseMetadata(info: ResultInfo) {
  return {
    execution_time_ms: Math.max(
      0,
      Math.round(info.completedAt.getTime() - info.startedAt.getTime()),
    ),
    completed_at: info.completedAt.toISOString(),
    started_at: info.startedAt.toISOString(),
    worker_id: info.workerId,
    ...(info.workerHostname !== undefined ? { worker_hostname: info.workerHostname } : {}),
    ...(info.handlerVersion !== undefined ? { handler_version: info.handlerVersion } : {}),
  };
}

function custom(
  info: ResultInfo,
  code: string | undefined,
  metrics: StepMetrics | undefined,
): Record<string, unknown> {
  return {
    ...(code !== undefined ? { wasm_broker_code: code } : {}),
    ...(info.stepName !== undefined ? { step_name: info.stepName } : {}),
    ...(metrics !== undefined ? { wasm_broker_metrics: metrics } : {}),
  };
}

function checkOutcomeShape(result: unknown, stepType: StepType | undefined): BrokerFailure | null {
  const field = stepType === "decision"
    ? "decision_point_outcome"
    : stepType === "batchable"
    ? "batch_processing_outcome"
    : undefined;
  if (field === undefined || !isObject(result) || result[field] === undefined) return null;
  const schema = field === "decision_point_outcome"
    ? DecisionPointOutcomeSchema
    : BatchProcessingOutcomeSchema;
  const parsed = schema.safeParse(result[field]);
  if (parsed.success) return null;
  return {
    code: "output_invalid",
    message: `Cannot hand ${field} to orchestration as it does not match Tasker's shape`,
    retryable: false,
    details: {
      field,
      issues: parsed.error.issues.slice(0, 20).map((i) => ({
        path: i.path.map(String).join("."),
        message: i.message,
      })),
    },
  };
}

function httpStatus(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 100 && value <= 599
    ? value
    : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

const encoder = new TextEncoder();

/**
 * `details` as a JSON-safe object of at most `maxBytes` UTF-8 bytes of JSON.
 * Values JSON cannot hold are converted the way `JSON.stringify` does
 * (`undefined` dropped, `NaN` → null), bigints become strings, and a value
 * that cannot be serialized at all (a cycle) becomes
 * `{_unserializable: "<why>"}`. When the whole is too large, top-level
 * entries are kept in order while they fit and the rest are named in
 * `_truncated: {original_bytes, dropped_keys}`.
 *
 * @example
 * ```ts
 * import { boundedContext } from "./step_execution_result.ts";
 * const out = boundedContext({ small: 1, big: "x".repeat(200) }, 100);
 * console.assert(out.small === 1 && out.big === undefined);
 * console.assert((out._truncated as { dropped_keys: string[] }).dropped_keys[0] === "big");
 * ```
 */
export function boundedContext(
  details: Record<string, unknown>,
  maxBytes: number = MAX_ERROR_CONTEXT_BYTES,
): Record<string, unknown> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 64) {
    throw new RangeError(
      `Cannot bound error context as maxBytes is not an integer ≥ 64: current value is ${maxBytes}`,
    );
  }
  let text: string;
  try {
    text = JSON.stringify(details, (_k, v) => typeof v === "bigint" ? v.toString() : v) ?? "{}";
  } catch (error) {
    return { _unserializable: error instanceof Error ? error.message.slice(0, 200) : "unknown" };
  }
  const safe = JSON.parse(text) as Record<string, unknown>;
  const total = encoder.encode(text).length;
  if (total <= maxBytes) return safe;
  // Room for the marker itself; key names are listed up to a bound.
  const reserve = Math.min(512, Math.floor(maxBytes / 2));
  const kept: Record<string, unknown> = {};
  const dropped: string[] = [];
  let used = 2;
  for (const [key, value] of Object.entries(safe)) {
    const size = encoder.encode(JSON.stringify(key) + ":" + JSON.stringify(value) + ",").length;
    if (used + size <= maxBytes - reserve) {
      kept[key] = value;
      used += size;
    } else {
      dropped.push(key.slice(0, 100));
    }
  }
  const listed = dropped.slice(0, 20);
  for (;;) {
    const out = { ...kept, _truncated: { original_bytes: total, dropped_keys: listed } };
    if (encoder.encode(JSON.stringify(out)).length <= maxBytes) return out;
    if (listed.length === 0) return { _truncated: { original_bytes: total, dropped_keys: [] } };
    listed.pop();
  }
}
