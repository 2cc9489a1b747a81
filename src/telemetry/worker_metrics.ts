/**
 * The broker's metrics: Tasker's standard worker metrics (so Tasker's
 * dashboards and alerts work on this worker too), the WASM runtime's own, and
 * a few about the queue loop.
 *
 * Tasker's names are kept (`tasker.steps.executions.total` →
 * `tasker_steps_executions_total`); histograms carry unit `milliseconds`, as
 * Tasker's exporter writes them (`tasker_step_execution_duration_milliseconds_bucket`).
 * Unlike Tasker's Rust worker, no metric is labelled with `correlation_id`:
 * one series per task would grow without bound. The correlation id is on
 * every span and log line instead.
 *
 * Label values from task templates (`step_name`) are bounded by the
 * registry's per-metric series cap; the WASM metrics are labelled by
 * `handler` (the guest's registry name, set by whoever publishes guests), not
 * by step.
 *
 * @module
 */
import type { StepOutcome } from "../runtime/step_outcome.ts";
import type { Counter, Gauge, Histogram, MetricsRegistry } from "./metrics_registry.ts";

/** Bucket bounds (ms) for step, claim and submission durations. */
export const DURATION_BUCKETS_MS: readonly number[] = [
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10_000,
  30_000,
  60_000,
  300_000,
];

/** Bucket bounds (ms) for module compilation. */
export const COMPILE_BUCKETS_MS: readonly number[] = [
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  25,
  50,
  100,
  250,
  1000,
  5000,
];

/** Bucket bounds (ms) for instantiation: a few µs to tens of ms. */
export const INSTANTIATE_BUCKETS_MS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  10,
  50,
];

/** Bucket bounds (bytes) for guest memory: 64 KiB pages doubling up to 4 GiB. */
export const MEMORY_BUCKETS_BYTES: readonly number[] = Array.from(
  { length: 17 },
  (_, i) => 65_536 * 2 ** i,
);

/** Labels Tasker puts on its step counters. */
export interface StepLabels {
  namespace: string;
  step_name: string;
  /** Tasker's `handler_type` (`rust`, `ruby`, ...). Default: the `handlerType` option (`wasm`). */
  handler_type?: string;
}

/** How a step ended, as reported to Tasker. */
export interface StepFinish {
  success: boolean;
  /** Tasker's error type (`permanent_error`, `timeout`, ...) for a failure. Default `unknown`. */
  error_type?: string;
  /** Whether Tasker may retry the failure. Default `false`. */
  retryable?: boolean;
}

/** A step in flight, from {@link WorkerMetrics.beginStep}. */
export interface StepExecution {
  /**
   * Records the end of the step and returns its duration in ms. Calling it
   * again does nothing and returns the first duration, so a `finally` that
   * finishes a step already finished on the happy path is harmless.
   */
  finish(result: StepFinish): number;
}

/** One queue's depth, from the `queueDepth` callback. */
export interface QueueDepth {
  namespace: string;
  queue: string;
  depth: number;
}

/** Options for {@link createWorkerMetrics}. */
export interface WorkerMetricsOptions {
  /** Tasker's `handler_type` label value. Default `wasm`. */
  handlerType?: string;
  /** Monotonic clock in ms, for step durations. Default `performance.now`. */
  now?: () => number;
  /**
   * Reads queue depths at scrape time (e.g. pgmq's `queue_length`). Bounded
   * by the registry's `collectTimeoutMs`; a failure renders no samples.
   */
  queueDepth?: () => Promise<readonly QueueDepth[]>;
}

type StepLabelNames = "namespace" | "step_name" | "handler_type";

/** The broker's metrics, each also reachable directly for one-off recording. */
export interface WorkerMetrics {
  // ---- Tasker's standard worker metrics -------------------------------
  /** `tasker.steps.executions.total`: steps started. */
  readonly stepExecutions: Counter<StepLabelNames>;
  /** `tasker.steps.successes.total`. */
  readonly stepSuccesses: Counter<StepLabelNames>;
  /** `tasker.steps.failures.total`. */
  readonly stepFailures: Counter<StepLabelNames | "error_type" | "retryable">;
  /** `tasker.steps.claimed.total` (claim_method `event` | `poll`). */
  readonly stepsClaimed: Counter<"namespace" | "claim_method">;
  /** `tasker.steps.results_submitted.total` (result_type `success` | `error`). */
  readonly resultsSubmitted: Counter<"namespace" | "result_type">;
  /** `tasker.step.execution.duration` (ms; result `success` | `error`). */
  readonly executionDuration: Histogram<StepLabelNames | "result">;
  /** `tasker.step.claim.duration` (ms). */
  readonly claimDuration: Histogram<"namespace" | "claim_method">;
  /** `tasker.step_result.submission.duration` (ms). */
  readonly submissionDuration: Histogram<"namespace" | "result_type">;
  /** `tasker.steps.active_executions`. */
  readonly activeExecutions: Gauge<"namespace" | "handler_type">;
  /** `tasker.queue.depth`, computed at scrape time from the `queueDepth` option. */
  readonly queueDepth: Gauge<"namespace" | "queue">;

  // ---- WASM runtime ----------------------------------------------------
  /** `wasm_broker.module.compile.duration` (ms): one observation per compilation. */
  readonly compileDuration: Histogram<"handler">;
  /** `wasm_broker.instance.instantiate.duration` (ms). */
  readonly instantiateDuration: Histogram<"handler">;
  /** `wasm_broker.guest.run.duration` (ms): entering the guest until it returned. */
  readonly runDuration: Histogram<"handler">;
  /** `wasm_broker.guest.memory.high_water` (bytes). */
  readonly memoryHighWater: Histogram<"handler">;
  /** `wasm_broker.host_calls.total`. */
  readonly hostCalls: Counter<"handler" | "capability" | "function">;
  /** `wasm_broker.policy_denials.total`. */
  readonly policyDenials: Counter<"handler" | "capability" | "code">;
  /** `wasm_broker.traps.total` (kind from the trap classifier). */
  readonly traps: Counter<"handler" | "kind">;
  /** `wasm_broker.timeouts.total`. */
  readonly timeouts: Counter<"handler">;
  /** `wasm_broker.step_errors.total`: failed outcomes by broker error code. */
  readonly stepErrors: Counter<"handler" | "code">;
  /** `wasm_broker.guest_log.dropped.total`: guest log records over the manifest's limits. */
  readonly guestLogDropped: Counter<"handler">;
  /** `wasm_broker.sandbox.restarts.total`: sandbox processes replaced (reason is a code). */
  readonly sandboxRestarts: Counter<"reason">;

  // ---- queue loop --------------------------------------------------------
  /** `wasm_broker.poison_messages.total` (reason is a code, never free text). */
  readonly poisonMessages: Counter<"namespace" | "reason">;
  /** `wasm_broker.messages.read.total` (read_method `event` | `poll`). */
  readonly messagesRead: Counter<"namespace" | "read_method">;
  /** `wasm_broker.messages.not_served.total`: left unclaimed for another worker. */
  readonly messagesNotServed: Counter<"namespace">;
  /** `wasm_broker.visibility_extensions.total`. */
  readonly visibilityExtensions: Counter<"namespace">;
  /** `wasm_broker.db.errors.total` (operation: read, claim, report, archive, listen, ...). */
  readonly dbErrors: Counter<"operation">;

  /** Counts a step as started and active; `finish` records its end. */
  beginStep(labels: StepLabels): StepExecution;
  /** Records a successful claim and how long it took. */
  recordClaim(
    labels: { namespace: string; claim_method: "event" | "poll" },
    durationMs: number,
  ): void;
  /** Records a result written to Tasker and how long the transaction took. */
  recordSubmission(
    labels: { namespace: string; result_type: "success" | "error" },
    durationMs: number,
  ): void;
  /** Derives the WASM metrics from a step's outcome. */
  recordOutcome(labels: { handler: string }, outcome: StepOutcome): void;
}

/**
 * Registers the broker's metrics in `registry`.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./metrics_registry.ts";
 * import { createWorkerMetrics } from "./worker_metrics.ts";
 * import { emptyMetrics } from "../runtime/step_outcome.ts";
 *
 * const registry = new MetricsRegistry();
 * const metrics = createWorkerMetrics(registry);
 * const step = metrics.beginStep({ namespace: "catalog", step_name: "validate" });
 * const outcome = {
 *   status: "completed" as const,
 *   result: {},
 *   error: null,
 *   metrics: { ...emptyMetrics(), run_ms: 1.5, host_calls: { "io.read_input": 1 } },
 *   logs: [],
 * };
 * metrics.recordOutcome({ handler: "catalog.validate" }, outcome);
 * step.finish({ success: true });
 * const text = await registry.render();
 * console.assert(text.includes(
 *   'wasm_broker_host_calls_total{handler="catalog.validate",capability="io",function="read_input"} 1',
 * ));
 * ```
 */
export function createWorkerMetrics(
  registry: MetricsRegistry,
  options: WorkerMetricsOptions = {},
): WorkerMetrics {
  const handlerType = options.handlerType ?? "wasm";
  const now = options.now ?? (() => performance.now());
  const stepLabelNames = ["namespace", "step_name", "handler_type"] as const;
  const queueDepthSource = options.queueDepth;

  const m = {
    stepExecutions: registry.counter({
      name: "tasker.steps.executions.total",
      help: "Step executions started",
      labelNames: stepLabelNames,
    }),
    stepSuccesses: registry.counter({
      name: "tasker.steps.successes.total",
      help: "Step executions that completed successfully",
      labelNames: stepLabelNames,
    }),
    stepFailures: registry.counter({
      name: "tasker.steps.failures.total",
      help: "Step executions that failed",
      labelNames: [...stepLabelNames, "error_type", "retryable"],
    }),
    stepsClaimed: registry.counter({
      name: "tasker.steps.claimed.total",
      help: "Steps claimed from the namespace queue",
      labelNames: ["namespace", "claim_method"],
    }),
    resultsSubmitted: registry.counter({
      name: "tasker.steps.results_submitted.total",
      help: "Step results submitted to orchestration",
      labelNames: ["namespace", "result_type"],
    }),
    executionDuration: registry.histogram({
      name: "tasker.step.execution.duration",
      help: "Step execution time, claim to result, in milliseconds",
      unit: "milliseconds",
      labelNames: [...stepLabelNames, "result"],
      buckets: DURATION_BUCKETS_MS,
    }),
    claimDuration: registry.histogram({
      name: "tasker.step.claim.duration",
      help: "Time to claim a step, in milliseconds",
      unit: "milliseconds",
      labelNames: ["namespace", "claim_method"],
      buckets: DURATION_BUCKETS_MS,
    }),
    submissionDuration: registry.histogram({
      name: "tasker.step_result.submission.duration",
      help: "Time to submit a step result (one transaction), in milliseconds",
      unit: "milliseconds",
      labelNames: ["namespace", "result_type"],
      buckets: DURATION_BUCKETS_MS,
    }),
    activeExecutions: registry.gauge({
      name: "tasker.steps.active_executions",
      help: "Steps executing now",
      labelNames: ["namespace", "handler_type"],
    }),
    queueDepth: registry.gauge({
      name: "tasker.queue.depth",
      help: "Messages in the namespace queue, read at scrape time",
      labelNames: ["namespace", "queue"],
      collect: async (set) => {
        if (!queueDepthSource) return;
        for (const { namespace, queue, depth } of await queueDepthSource()) {
          set({ namespace, queue }, depth);
        }
      },
    }),

    compileDuration: registry.histogram({
      name: "wasm_broker.module.compile.duration",
      help:
        "WebAssembly module compilation time (one observation per compilation), in milliseconds",
      unit: "milliseconds",
      labelNames: ["handler"],
      buckets: COMPILE_BUCKETS_MS,
    }),
    instantiateDuration: registry.histogram({
      name: "wasm_broker.instance.instantiate.duration",
      help: "WebAssembly instantiation time, in milliseconds",
      unit: "milliseconds",
      labelNames: ["handler"],
      buckets: INSTANTIATE_BUCKETS_MS,
    }),
    runDuration: registry.histogram({
      name: "wasm_broker.guest.run.duration",
      help: "Time from entering the guest to its return, in milliseconds",
      unit: "milliseconds",
      labelNames: ["handler"],
      buckets: DURATION_BUCKETS_MS,
    }),
    memoryHighWater: registry.histogram({
      name: "wasm_broker.guest.memory.high_water",
      help: "Guest linear memory size when the step stopped, in bytes",
      unit: "bytes",
      labelNames: ["handler"],
      buckets: MEMORY_BUCKETS_BYTES,
    }),
    hostCalls: registry.counter({
      name: "wasm_broker.host_calls.total",
      help: "Host function calls by capability and function",
      labelNames: ["handler", "capability", "function"],
    }),
    policyDenials: registry.counter({
      name: "wasm_broker.policy_denials.total",
      help: "Capability policy denials returned to guests, by capability and code",
      labelNames: ["handler", "capability", "code"],
    }),
    traps: registry.counter({
      name: "wasm_broker.traps.total",
      help: "Guest traps by kind",
      labelNames: ["handler", "kind"],
    }),
    timeouts: registry.counter({
      name: "wasm_broker.timeouts.total",
      help: "Steps killed at their deadline",
      labelNames: ["handler"],
    }),
    stepErrors: registry.counter({
      name: "wasm_broker.step_errors.total",
      help: "Failed step outcomes by broker error code",
      labelNames: ["handler", "code"],
    }),
    guestLogDropped: registry.counter({
      name: "wasm_broker.guest_log.dropped.total",
      help: "Guest log records dropped by the manifest's log limits",
      labelNames: ["handler"],
    }),
    sandboxRestarts: registry.counter({
      name: "wasm_broker.sandbox.restarts.total",
      help: "Sandbox processes replaced after a crash, kill or failed start",
      labelNames: ["reason"],
    }),

    poisonMessages: registry.counter({
      name: "wasm_broker.poison_messages.total",
      help: "Queue messages archived without running (unparseable, unknown or unclaimable step)",
      labelNames: ["namespace", "reason"],
    }),
    messagesRead: registry.counter({
      name: "wasm_broker.messages.read.total",
      help: "Messages read from namespace queues",
      labelNames: ["namespace", "read_method"],
    }),
    messagesNotServed: registry.counter({
      name: "wasm_broker.messages.not_served.total",
      help: "Messages left unclaimed because this broker does not serve their callable",
      labelNames: ["namespace"],
    }),
    visibilityExtensions: registry.counter({
      name: "wasm_broker.visibility_extensions.total",
      help: "Visibility timeout extensions for messages still being processed",
      labelNames: ["namespace"],
    }),
    dbErrors: registry.counter({
      name: "wasm_broker.db.errors.total",
      help: "Database errors by operation",
      labelNames: ["operation"],
    }),
  };

  return {
    ...m,

    beginStep(labels: StepLabels): StepExecution {
      const step = {
        namespace: labels.namespace,
        step_name: labels.step_name,
        handler_type: labels.handler_type ?? handlerType,
      };
      const active = { namespace: step.namespace, handler_type: step.handler_type };
      m.stepExecutions.inc(step);
      m.activeExecutions.inc(active);
      const started = now();
      let duration: number | undefined;
      return {
        finish(result: StepFinish): number {
          if (duration !== undefined) return duration;
          duration = Math.max(0, now() - started);
          m.activeExecutions.dec(active);
          if (result.success) {
            m.stepSuccesses.inc(step);
          } else {
            m.stepFailures.inc({
              ...step,
              error_type: result.error_type ?? "unknown",
              retryable: result.retryable ?? false,
            });
          }
          m.executionDuration.observe(
            { ...step, result: result.success ? "success" : "error" },
            duration,
          );
          return duration;
        },
      };
    },

    recordClaim(labels, durationMs) {
      m.stepsClaimed.inc(labels);
      m.claimDuration.observe(labels, durationMs);
    },

    recordSubmission(labels, durationMs) {
      m.resultsSubmitted.inc(labels);
      m.submissionDuration.observe(labels, durationMs);
    },

    recordOutcome({ handler }, outcome) {
      const metrics = outcome.metrics;
      const h = { handler };
      // Zeros mean "did not happen" here: compile_ms is 0 when a compiled
      // module was reused, instantiate_us/run_ms are 0 when the guest never
      // got that far (refused at load, sandbox gone).
      if (metrics.compile_ms > 0) m.compileDuration.observe(h, metrics.compile_ms);
      if (metrics.instantiate_us > 0) {
        m.instantiateDuration.observe(h, metrics.instantiate_us / 1000);
      }
      if (metrics.run_ms > 0 || metrics.instantiate_us > 0) {
        m.runDuration.observe(h, metrics.run_ms);
      }
      if (metrics.memory_high_water_bytes > 0) {
        m.memoryHighWater.observe(h, metrics.memory_high_water_bytes);
      }
      for (const [key, count] of Object.entries(metrics.host_calls)) {
        const [capability, fn] = splitKey(key);
        if (count > 0) m.hostCalls.inc({ handler, capability, function: fn }, count);
      }
      for (const [key, count] of Object.entries(metrics.denials_by_code)) {
        const [capability, code] = splitKey(key);
        if (count > 0) m.policyDenials.inc({ handler, capability, code }, count);
      }
      if (metrics.log.dropped > 0) m.guestLogDropped.inc(h, metrics.log.dropped);
      const error = outcome.error;
      if (outcome.status === "failed" && error) {
        m.stepErrors.inc({ handler, code: error.code });
        if (error.code === "timeout") m.timeouts.inc(h);
        if (error.code === "trap") m.traps.inc({ handler, kind: trapKind(error.details) });
      }
    },
  };
}

/** `<capability>.<rest>` split at the first dot; a key without one is `[key, ""]`. */
function splitKey(key: string): [string, string] {
  const dot = key.indexOf(".");
  return dot < 0 ? [key, ""] : [key.slice(0, dot), key.slice(dot + 1)];
}

/** The trap kind `run_step.ts` puts in `details.trap`; anything else is `other`. */
function trapKind(details: Record<string, unknown> | undefined): string {
  const kind = details?.trap;
  // The sandbox reports it; only a short snake_case word is taken as a kind.
  return typeof kind === "string" && /^[a-z_]{1,32}$/.test(kind) ? kind : "other";
}
