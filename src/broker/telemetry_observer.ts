/**
 * The broker observer that production uses: each report becomes Tasker's
 * worker metrics and the WASM ones (`src/telemetry/worker_metrics.ts`), a
 * `worker.step_execution` span tree (`src/telemetry/tracing.ts`) and JSON
 * log lines carrying the step's correlation id (`src/telemetry/json_logger.ts`);
 * and the broker's logger itself ({@link createBrokerLogger}), redacted of the
 * configured secrets.
 *
 * @module
 */
import type { SecretScanner } from "../runtime/secret_scan.ts";
import type { StepOutcome } from "../runtime/step_outcome.ts";
import { createJsonLogger, type JsonLogger, type LogLevel } from "../telemetry/json_logger.ts";
import {
  epochNow,
  type SecretsInput,
  startStepTrace,
  toSecretScanner,
} from "../telemetry/tracing.ts";
import type { WorkerMetrics } from "../telemetry/worker_metrics.ts";
import type { BrokerObserver, StepLabels, StepScope } from "./broker_observer.ts";

/** Options for {@link createBrokerLogger}. */
export interface BrokerLoggerOptions {
  /** The configured secrets' scanner: every string of every line is redacted with it. */
  secrets?: SecretScanner;
  /** Default: `LOG_LEVEL`, else `info`. */
  level?: LogLevel;
  /** Default: stderr. */
  sink?: (line: string) => void;
}

/**
 * The broker's own logger, as `deno task broker` runs it (the benches build
 * it here too, so what they measure is what runs): `service: wasm-broker` on
 * every line, and no line carries a configured secret.
 */
export function createBrokerLogger(options: BrokerLoggerOptions = {}): JsonLogger {
  return createJsonLogger({
    fields: { service: "wasm-broker" },
    level: options.level,
    sink: options.sink,
    redact: options.secrets?.redact,
  });
}

/** Options for {@link createTelemetryObserver}. */
export interface TelemetryObserverOptions {
  metrics: WorkerMetrics;
  logger: JsonLogger;
  /** Values never to put on a span (the broker's secrets), or a scanner built from them. */
  secrets?: SecretsInput;
}

/** Messages are never logged whole: a poison body may be large or hostile. */
const MAX_DETAIL = 300;

function clip(text: string): string {
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}…` : text;
}

function errorText(error: unknown): string {
  return clip(error instanceof Error ? error.message : String(error));
}

/** The namespace of a queue named `worker_<ns>_queue`. */
function namespaceOf(queue: string): string {
  const match = /^worker_(.+)_queue$/.exec(queue);
  return match ? match[1] : queue;
}

/** Builds the observer; see the module doc. */
export function createTelemetryObserver(options: TelemetryObserverOptions): BrokerObserver {
  const { metrics, logger } = options;
  // Once, not per traced step: a scanner derives every secret's encodings (~60 µs for three).
  const secrets = toSecretScanner(options.secrets);
  let databaseFailures = 0;
  return {
    read(queue, count, method) {
      metrics.messagesRead.inc({ namespace: namespaceOf(queue), read_method: method }, count);
    },
    poison(queue, msgId, reason, detail) {
      metrics.poisonMessages.inc({ namespace: namespaceOf(queue), reason });
      logger.warn("message archived without running a step", {
        queue,
        msg_id: msgId,
        reason,
        detail: clip(detail),
      });
    },
    notServed(queue, msgId, callable, reason) {
      metrics.messagesNotServed.inc({ namespace: namespaceOf(queue) });
      logger.debug("step left for another worker: callable not served here", {
        queue,
        msg_id: msgId,
        callable: clip(callable),
        reason,
      });
    },
    unavailable(callable, code, message) {
      logger.error("served callable cannot be loaded; step left unclaimed", {
        callable: clip(callable),
        code,
        error: clip(message),
      });
    },
    databaseError(operation, error) {
      metrics.dbErrors.inc({ operation });
      // The first failure and then every 20th: an outage must not flood the log.
      if (databaseFailures++ % 20 === 0) {
        logger.error("database call failed; retrying", {
          operation,
          error: errorText(error),
          failures: databaseFailures,
        });
      }
    },
    databaseRecovered(operation) {
      logger.info("database reachable again", { operation, failures: databaseFailures });
      databaseFailures = 0;
    },
    visibilityExtended(queue) {
      metrics.visibilityExtensions.inc({ namespace: namespaceOf(queue) });
    },
    step(labels) {
      return stepScope(labels, metrics, logger, secrets);
    },
    lifecycle(event, fields) {
      logger.info(event, fields);
    },
    internalError(where, error) {
      logger.error("internal error in the broker loop", {
        where,
        error: errorText(error),
        stack: error instanceof Error ? error.stack : undefined,
      });
    },
  };
}

function stepScope(
  labels: StepLabels,
  metrics: WorkerMetrics,
  parentLogger: JsonLogger,
  secrets: SecretsInput | undefined,
): StepScope {
  const trace = startStepTrace({
    correlation_id: labels.correlationId,
    task_uuid: labels.taskUuid,
    step_uuid: labels.stepUuid,
    step_name: labels.stepName,
    namespace: labels.namespace,
    "tasker.handler.callable": labels.callable,
    "messaging.message.id": String(labels.msgId),
  }, { secrets });
  const logger = parentLogger.child({
    correlation_id: labels.correlationId,
    task_uuid: labels.taskUuid,
    step_uuid: labels.stepUuid,
    step_name: labels.stepName,
    ...trace.ids,
  });
  const stepLabels = { namespace: labels.namespace, step_name: labels.stepName };
  let execution: ReturnType<WorkerMetrics["beginStep"]> | undefined;
  let runStarted = 0;
  let failure: { code: string; error_type?: string; retryable?: boolean } | undefined;
  return {
    tracing: trace.recording,
    phase: (name, fn) => trace.phase(name, fn),
    claimed(ms, method) {
      metrics.recordClaim({ namespace: labels.namespace, claim_method: method }, ms);
      execution = metrics.beginStep(stepLabels);
      runStarted = epochNow();
      logger.debug("step claimed", { claim_ms: round(ms), claim_method: method });
    },
    lostClaim(state) {
      trace.setAttributes({ "wasm_broker.claim": "lost", "tasker.step.state": state });
      logger.debug("step not claimed: another worker has it or it moved on", { state });
    },
    ran(outcome: StepOutcome, handler) {
      metrics.recordOutcome({ handler: handler.name }, outcome);
      trace.recordExecution(outcome, { start: runStarted });
      trace.setAttributes({
        "wasm_broker.handler": `${handler.name}@${handler.version}`,
        "wasm_broker.digest": handler.digest,
        "wasm_broker.status": outcome.status,
      });
      for (const record of outcome.logs) {
        // Guest log records, already redacted of secrets by the runtime.
        logger.info(`guest: ${clip(String(record.message ?? ""))}`, {
          guest_level: record.level,
          handler: handler.name,
        });
      }
      if (outcome.error) {
        failure = { code: outcome.error.code, retryable: outcome.error.retryable };
        logger.warn("step failed", {
          code: outcome.error.code,
          retryable: outcome.error.retryable,
          error: clip(outcome.error.message),
          run_ms: round(outcome.metrics.run_ms),
        });
      } else {
        logger.info("step completed", {
          handler: `${handler.name}@${handler.version}`,
          run_ms: round(outcome.metrics.run_ms),
        });
      }
    },
    handedBack() {
      failure = { code: "worker_shutdown", retryable: true };
      trace.setAttributes({ "wasm_broker.status": "handed_back" });
      logger.warn("step handed back before it started: the broker is stopping", {
        code: "worker_shutdown",
      });
    },
    reported(result, ms) {
      const success = result.success;
      metrics.recordSubmission(
        { namespace: labels.namespace, result_type: success ? "success" : "error" },
        ms,
      );
      const errorType = result.metadata.error_type as string | undefined;
      const retryable = result.metadata.retryable === true;
      if (failure) failure = { ...failure, error_type: errorType, retryable };
      execution?.finish({ success, error_type: errorType, retryable });
      logger.debug("result reported", { status: result.status, report_ms: round(ms) });
    },
    reportFailed(error, attempt) {
      logger.warn("reporting the result failed; retrying", { attempt, error: errorText(error) });
    },
    resultMessageNotSent(error, attempt) {
      logger.error(
        "result written (or its report's answer lost) but its orchestration_step_results message " +
          "not sent before the hard stop; orchestration learns of the step only through Tasker's staleness recovery",
        { code: "result_message_not_sent", attempt, error: errorText(error) },
      );
    },
    reportSkipped(state) {
      execution?.finish({ success: false, error_type: "report_skipped" });
      logger.warn("result not written: the step is no longer this worker's claim", { state });
    },
    end() {
      execution?.finish({ success: false, error_type: "not_reported" });
      trace.end(failure);
    },
  };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
