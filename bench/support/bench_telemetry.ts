/**
 * The telemetry `deno task broker` wires into its loop, for the end-to-end
 * bench's `--telemetry`: Tasker's worker metrics and the WASM ones on a
 * metrics registry, and JSON log lines at `info`, each step's correlation id
 * on them (`createTelemetryObserver`, as `src/cli/broker.ts` builds it). The
 * lines go to a file, written as the CLI writes them to stderr: one
 * synchronous write per line. The logger and the observer are built by the
 * CLI's own functions (`createBrokerLogger`, `createTelemetryObserver`).
 * Spans are created through `@opentelemetry/api` as in the broker; they are recorded only when the
 * process runs with Deno's OpenTelemetry on (`OTEL_DENO=true`, read at
 * start; docs/operations.md), and the report says which.
 *
 * @module
 */
import type { BrokerObserver } from "../../src/broker/broker_observer.ts";
import {
  createBrokerLogger,
  createTelemetryObserver,
} from "../../src/broker/telemetry_observer.ts";
import { type LogLevel, writerSink } from "../../src/telemetry/json_logger.ts";
import { MetricsRegistry } from "../../src/telemetry/metrics_registry.ts";
import { toSecretScanner } from "../../src/telemetry/tracing.ts";
import { createWorkerMetrics } from "../../src/telemetry/worker_metrics.ts";

/** The broker's telemetry with its log going to a file. */
export interface BenchTelemetry {
  /** The observer for a broker with this worker id, as the CLI builds it. */
  observer(workerId: string): BrokerObserver;
  /** Log lines written so far. */
  lines(): number;
  /** What is measured, for the report's header. */
  describe: string;
  /** Closes and deletes the log file. */
  close(): void;
}

/** Options for {@link openBenchTelemetry}. */
export interface BenchTelemetryOptions {
  /** Default `info`, as the broker runs. */
  level?: LogLevel;
  /** As the CLI's `WASM_BROKER_SECRET_*`: log lines and spans are redacted of them. */
  secrets?: readonly string[];
}

/** Opens the broker's telemetry, its log lines appended to `logPath` (deleted by `close`). */
export function openBenchTelemetry(
  logPath: string,
  options: BenchTelemetryOptions = {},
): BenchTelemetry {
  const level = options.level ?? "info";
  const secrets = toSecretScanner(options.secrets);
  const file = Deno.openSync(logPath, { write: true, create: true, truncate: true });
  const write = writerSink(file);
  let lines = 0;
  const logger = createBrokerLogger({
    secrets,
    level,
    sink: (line) => {
      write(line);
      lines++;
    },
  });
  // One registry for every broker of a run, as `/metrics` would render it.
  const workerMetrics = createWorkerMetrics(new MetricsRegistry());
  return {
    observer: (workerId) =>
      createTelemetryObserver({
        metrics: workerMetrics,
        logger: logger.child({ worker_id: workerId }),
        secrets,
      }),
    lines: () => lines,
    describe: `telemetry: the broker's (metrics, JSON logs at ${level} to ${logPath}, deleted at ` +
      `the end${
        secrets ? `, ${options.secrets!.length} secrets redacted` : ""
      }; ${describeSpans()})`,
    close: () => {
      file.close();
      Deno.removeSync(logPath);
    },
  };
}

/** Whether the broker's spans are recorded here: Deno's OpenTelemetry is on only when started so. */
function describeSpans(): string {
  if (Deno.env.get("OTEL_DENO") !== "true") return "spans not recorded: OTEL_DENO is not true";
  const endpoint = Deno.env.get("OTEL_EXPORTER_OTLP_ENDPOINT") ?? "http://localhost:4318";
  const protocol = Deno.env.get("OTEL_EXPORTER_OTLP_PROTOCOL") ?? "http/protobuf";
  const sampler = Deno.env.get("OTEL_TRACES_SAMPLER");
  const arg = Deno.env.get("OTEL_TRACES_SAMPLER_ARG");
  const sampled = sampler ? `, those the sampler ${sampler}${arg ? ` ${arg}` : ""} keeps` : "";
  return `spans recorded${sampled} and exported by Deno's OpenTelemetry to ${endpoint} (${protocol})`;
}
