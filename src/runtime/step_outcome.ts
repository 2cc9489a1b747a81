/**
 * What running one step produces: a status, the result JSON or a coded
 * error, the step's metrics and its log records. This is the shape
 * `deno task invoke` prints and the broker maps to Tasker's
 * StepExecutionResult.
 *
 * @module
 */
import type { LogRecord } from "../capability/step_log.ts";
import type { ErrorCode } from "../errors.ts";

/** A coded step failure. */
export interface StepError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  /** Structured, secret-free facts (trap kind, schema errors, exit status, ...). */
  details?: Record<string, unknown>;
}

/** One timed host call (whole microseconds: the log travels with every outcome). */
export interface HostCallTiming {
  /** `<capability>.<function>`, a key of `metrics.host_calls`. */
  call: string;
  /** When it began, in µs since the guest's run began (0 for a call made while instantiating). */
  at_us: number;
  /** How long it took, in µs (an async call: until its promise settled). */
  us: number;
  /** Present when the call was denied by policy. */
  denied?: true;
}

/** How many host calls a step times one by one (the rest are counted only). */
export const HOST_CALL_LOG_LIMIT = 64;

/** Measurements of one step. */
export interface StepMetrics {
  /** Time to compile the module (0 when a compiled module was reused). */
  compile_ms: number;
  /** Time of `new WebAssembly.Instance`, in microseconds. */
  instantiate_us: number;
  /** Time from entering the guest to its return, in milliseconds. */
  run_ms: number;
  /** Size of the guest's memory when it stopped (memories only grow). */
  memory_high_water_bytes: number;
  /** Calls per host function, keyed `<capability>.<function>`. */
  host_calls: Record<string, number>;
  /** Policy denials returned to the guest. */
  policy_denials: number;
  /** Denials keyed `<capability>.<code>`. */
  denials_by_code: Record<string, number>;
  log: { records: number; dropped: number; truncated: number };
}

/** The outcome of one step. */
export interface StepOutcome {
  status: "completed" | "failed";
  /** The guest's output JSON when completed; null when failed. */
  result: unknown;
  error: StepError | null;
  metrics: StepMetrics;
  /** The guest's log records, already redacted of secrets. */
  logs: LogRecord[];
  /**
   * The first {@link HOST_CALL_LOG_LIMIT} host calls, timed, in call order,
   * for one span per call; later calls are only counted in
   * `metrics.host_calls`. Apart from `metrics` so it is not stored with the
   * step's result. Absent when the guest made none.
   */
  host_call_log?: HostCallTiming[];
}

/** Metrics with everything at zero. */
export function emptyMetrics(): StepMetrics {
  return {
    compile_ms: 0,
    instantiate_us: 0,
    run_ms: 0,
    memory_high_water_bytes: 0,
    host_calls: {},
    policy_denials: 0,
    denials_by_code: {},
    log: { records: 0, dropped: 0, truncated: 0 },
  };
}

/** Whether a failure with this code is worth retrying unchanged. */
export function isRetryableCode(code: ErrorCode): boolean {
  return code === "timeout" || code === "sandbox_crashed";
}
