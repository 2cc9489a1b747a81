/**
 * What the broker's telemetry costs per step in the broker's process: the
 * observer calls the loop makes for one completed step (`step`, the claim
 * and report phases, `claimed`, `ran`, `reported`, `end`), through
 *
 * - `NOOP_OBSERVER`: the loop's own cost of telling an observer, nothing more;
 * - the broker's telemetry observer at log level `warn`: metrics and the
 *   span calls, no log line;
 * - the same at `info`, as `deno task broker` runs: one JSON line per step
 *   ("step completed") written to a file with one synchronous write;
 * - the same with three secrets configured (`WASM_BROKER_SECRET_*`), which
 *   the log line and recorded spans are redacted of.
 *
 * Spans are recorded only under `OTEL_DENO=true` (with a receiver, such as
 * `support/otlp_sink.ts`, at `OTEL_EXPORTER_OTLP_ENDPOINT`).
 *
 * The end-to-end bench measures the same with `--telemetry` (see
 * docs/performance.md); this one isolates it from the database's noise.
 *
 * Command:
 *
 *   deno bench -A bench/telemetry_observer_bench.ts
 *   OTEL_DENO=true OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
 *     deno bench -A bench/telemetry_observer_bench.ts
 *
 * @module
 */
import {
  type BrokerObserver,
  NOOP_OBSERVER,
  type StepLabels,
} from "../src/broker/broker_observer.ts";
import { emptyMetrics, type StepOutcome } from "../src/runtime/step_outcome.ts";
import type { LogLevel } from "../src/telemetry/json_logger.ts";
import { openBenchTelemetry } from "./support/bench_telemetry.ts";

const LABELS: StepLabels = {
  namespace: "catalog",
  queue: "worker_catalog_queue",
  msgId: 1,
  taskUuid: "01a21402-648b-72c0-a72e-406c75f3e45d",
  stepUuid: "01a21402-648b-75db-a30c-6935674f6f5f",
  correlationId: "01a21402-648b-725a-8770-15495b36eaf3",
  stepName: "work",
  callable: "catalog.transform@^1",
};

const HANDLER = { name: "catalog.transform", version: "1.0.0", digest: "sha256:00" };

/** A completed `transform` step's outcome as the sandbox reports it (two io calls). */
const OUTCOME: StepOutcome = {
  status: "completed",
  result: { orders: [] },
  error: null,
  metrics: {
    ...emptyMetrics(),
    instantiate_us: 180,
    run_ms: 0.45,
    memory_high_water_bytes: 196_608,
    host_calls: { "io.read_input": 1, "io.write_output": 1 },
  },
  logs: [],
};

const RESULT = { success: true, status: "completed", metadata: {} };

/** The broker's telemetry observer, its log lines at `level` going to a temp file. */
function telemetry(level: LogLevel, secrets: readonly string[] = []): BrokerObserver {
  const path = Deno.makeTempFileSync({ prefix: "wb_bench_log_", suffix: ".jsonl" });
  const opened = openBenchTelemetry(path, { level, secrets });
  globalThis.addEventListener("unload", () => opened.close());
  return opened.observer(crypto.randomUUID());
}

/** One completed step, told to `observer` as the broker loop tells it. */
async function oneStep(observer: BrokerObserver): Promise<void> {
  const scope = observer.step(LABELS);
  await scope.phase("worker.claim", () => Promise.resolve());
  scope.claimed(1.2, "event");
  scope.ran(OUTCOME, HANDLER);
  await scope.phase("worker.report", () => Promise.resolve());
  scope.reported(RESULT, 1.4);
  scope.end();
}

const quiet = telemetry("warn");
const logging = telemetry("info");
// Three `WASM_BROKER_SECRET_*` values: the log line and recorded spans are redacted of them.
const withSecrets = telemetry("info", [
  "sk_live_Zq8w3Yc1N0tAReal-secret",
  "postgres-password-123",
  "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
]);

Deno.bench("one step, no-op observer", { group: "observer", baseline: true }, async () => {
  await oneStep(NOOP_OBSERVER);
});

Deno.bench("one step, telemetry without a log line (warn)", { group: "observer" }, async () => {
  await oneStep(quiet);
});

Deno.bench("one step, telemetry as the broker runs (info)", { group: "observer" }, async () => {
  await oneStep(logging);
});

Deno.bench(
  "one step, telemetry as the broker runs, three secrets configured",
  { group: "observer" },
  async () => {
    await oneStep(withSecrets);
  },
);
