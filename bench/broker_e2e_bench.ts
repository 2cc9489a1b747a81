/**
 * The broker end to end, through real PostgreSQL with real pgmq and the
 * Tasker double's schema: steps per second and queue-to-result latency for
 * a trivial guest (`bench.noop`, writes `{}`) and for `catalog.transform`
 * over a ~10 KB task context, with 1, 2 and 4 sandboxes (the broker's
 * concurrency equal to its sandbox count).
 *
 * What runs: the real {@link Broker} loop in this process (instrumented, see
 * `support/bench_broker.ts`), real sandbox processes, a registry copy with
 * the catalog. Steps are fed as orchestration feeds them: one-step tasks
 * with their `workflow_steps` rows, a `pending → enqueued` transition and
 * the message sent through `tasker.pgmq_send_with_notify`
 * (`support/step_seeder.ts`). The results queue is not consumed (that is
 * orchestration's job); it is purged between phases, outside the timing.
 *
 * Two measurements per handler and sandbox count (`--report`):
 * - throughput: N steps created `pending` (untimed), then enqueued in one
 *   transaction; steps/s = N / (first read that returned messages → last
 *   report committed), with the CPU used by the broker process, its
 *   sandboxes and PostgreSQL over the drain;
 * - latency when not saturated: M steps enqueued one per transaction at a
 *   fixed rate; latency = the enqueue statement issued → the result's
 *   NOTIFY (`pgmq_message_ready.orchestration`) received by a listener, as
 *   orchestration would see it (also counted from the enqueue statement's
 *   answer, its commit, when the message became visible: without
 *   orchestration's own enqueue); p50/p99, and the median of each phase of a
 *   step (read, hydrate, claim, archive, sandbox, report) from the broker's
 *   own timestamps.
 *
 * Commands:
 *
 *   deno bench -A bench/broker_e2e_bench.ts
 *   deno run -A bench/broker_e2e_bench.ts --report [--steps 4000] [--latency-steps 400]
 *     [--rate 50] [--handlers trivial,transform] [--sandboxes 1,2,4] [--socket]
 *     [--slots-per-sandbox 1] [--toast-compression lz4|server_default]
 *     [--warm-up-per-sandbox 50] [--telemetry] [--statements]
 *
 * `--socket`: the throwaway cluster through its Unix socket, not loopback TCP.
 * `--slots-per-sandbox n`: the broker's `concurrency` is n × the sandbox
 * processes (`max_sandboxes`), so steps claim and report while others run.
 * `--toast-compression`: the broker's `toast_compression` (default `lz4`, as
 * the broker's; `server_default` for the server's `pglz`).
 * `--warm-up-per-sandbox n`: steps run before each drain, per sandbox
 * (at least 100 in all). A fresh sandbox costs more CPU per step for its
 * first several hundred steps (see docs/performance.md), so a larger value
 * measures a broker that has been running, a smaller one includes that.
 * `--telemetry`: the broker's own telemetry observer is told everything too,
 * as in `deno task broker`: metrics, and JSON log lines at `info` written to
 * a temp file (deleted at the end; the report counts the lines). Without it
 * the numbers leave telemetry out. Spans are recorded only under
 * `OTEL_DENO=true` (`support/otlp_sink.ts` can receive them).
 * `--statements`: pg_stat_statements also tracks nested statements and
 * planning; the report lists every statement of each drain.
 *
 * The database: `DATABASE_URL`'s server (a fresh database, dropped at the
 * end) when set, else a throwaway cluster with `pg_stat_statements` (see
 * `support/bench_database.ts`). `deno bench` always uses a throwaway
 * cluster when PostgreSQL's binaries are installed.
 *
 * @module
 */
import { connectPostgres, type PostgresClient } from "../src/db/postgres_client.ts";
import { countFlag, flag } from "./support/bench_flags.ts";
import { ordersContext } from "./support/orders_context.ts";
import { type ToastCompression, toastCompressionSettings } from "../src/db/toast_compression.ts";
import { emptyMetrics } from "../src/runtime/step_outcome.ts";
import { claimStep } from "../src/tasker/claim_step.ts";
import { hydrateStep, hydrateSteps } from "../src/tasker/hydrate_step.ts";
import { archiveMessage, readMessages } from "../src/tasker/pgmq_queue.ts";
import { reportStepResult } from "../src/tasker/report_step.ts";
import { toStepExecutionResult } from "../src/tasker/step_execution_result.ts";
import { parseStepMessage } from "../src/tasker/step_message.ts";
import { type BenchBroker, startBenchBroker } from "./support/bench_broker.ts";
import {
  type BenchDatabase,
  openBenchDatabase,
  type StatementStats,
} from "./support/bench_database.ts";
import { prepareBenchRegistry, TRIVIAL_CALLABLE } from "./support/bench_registry.ts";
import {
  cpuDelta,
  cpuSnapshot,
  type CpuUsage,
  loadAverage,
  type PostgresProcesses,
} from "./support/process_cpu.ts";
import { type SeededStep, StepSeeder } from "./support/step_seeder.ts";
import { type BenchTelemetry, openBenchTelemetry } from "./support/bench_telemetry.ts";
import type { SqlRecord } from "./support/timed_sql_client.ts";

/** A handler the bench runs. */
export interface HandlerCase {
  key: "trivial" | "transform";
  label: string;
  callable: string;
  initialization: Record<string, unknown>;
  context: unknown;
}

/** The two handlers of the issue. */
export const HANDLERS: Record<HandlerCase["key"], HandlerCase> = {
  trivial: {
    key: "trivial",
    label: "trivial (`bench.noop`, writes `{}`)",
    callable: TRIVIAL_CALLABLE,
    initialization: {},
    context: {},
  },
  transform: {
    key: "transform",
    label: "`catalog.transform`, 10 KB context",
    callable: "catalog.transform@^1",
    initialization: {
      filter:
        "{orders: (.context.orders | map(select(.total > 50) | {id, total, customer: .customer.name}))}",
    },
    context: ordersContext(10_000),
  },
};

/** Throughput of one drain. */
export interface DrainResult {
  steps: number;
  /** First read that returned messages → last report committed. */
  wallMs: number;
  stepsPerSecond: number;
  /** Enqueue statement returned → last report committed. */
  commitToLastMs: number;
  cpu: CpuUsage;
  /** Mean client-side time per step of each database operation, ms (queueing included). */
  meanMs: Record<string, number>;
  roundTripsPerStep: number;
  /** Mean wall time per step in the sandbox (`runtime.execute`), ms. */
  executeMs: number;
  /** Server execution time per step by statement class (pg_stat_statements), ms. */
  serverMsPerStep?: Record<string, number>;
  /** Every statement of the drain (pg_stat_statements), heaviest first. */
  statements?: StatementStats[];
  /** The step queue's table just before the enqueue, as the statistics collector saw it. */
  queueTable: QueueTableState;
  loadBefore: number;
  loadAfter: number;
}

/**
 * A step queue's table: dead rows are what a read may walk over from the
 * oldest message (`pg_stat_user_tables`, a second or so behind).
 */
export interface QueueTableState {
  deadRows: number;
  /** Seconds since its last (auto)vacuum; null: never vacuumed. */
  vacuumedSecondsAgo: number | null;
}

/** Latency at a fixed rate. */
export interface LatencyResult {
  steps: number;
  ratePerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /**
   * p50 from the enqueue statement's answer (its commit: the message is
   * visible from then on) to the result's NOTIFY, ms. The p50 above counts
   * from the statement issued, so it includes orchestration's own enqueue.
   */
  committedP50Ms: number;
  /** Result enqueued_at − step message enqueued_at (database clock), p50 ms. */
  dbP50Ms: number;
  /** Median of each phase of a step, ms (in order). */
  phases: [string, number][];
  cpu: CpuUsage;
  loadBefore: number;
  loadAfter: number;
}

/** The protocol alone: no broker loop, no sandbox. */
export interface FloorResult {
  /** How the loops work: per step (ack separate or in the claim), or batches of reads and hydration. */
  variant: string;
  workers: number;
  steps: number;
  stepsPerSecond: number;
  cpu: CpuUsage;
  roundTripsPerStep: number;
}

/** p-th quantile of `values` (nearest rank). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const RESULTS_CHANNEL = "pgmq_message_ready.orchestration";

/** Statement classes of `pg_stat_statements` texts (normalized: constants are `$n`). */
function serverClass(query: string): string {
  const q = query.toLowerCase();
  if (q === "begin" || q === "commit" || q === "rollback") return "begin/commit";
  // Before archive: a claim may carry the ack (pgmq.archive) in its statement.
  if (q.includes("last_attempted_at") && q.includes("pgmq.read(")) return "read+hydrate+claim";
  if (q.includes("last_attempted_at")) return "claim";
  if (q.includes("pgmq_send_with_notify") && q.includes("results =")) {
    return "report";
  }
  if (q.includes("pgmq.read(")) return "read";
  if (q.includes("get_step_transitive_dependencies")) return "hydrate";
  if (q.includes("pgmq.archive(")) return "archive";
  // The first statements of the claim and report transactions before they were one statement.
  if (/^update tasker.workflow_step_transitions set most_recent = \$\d+\s/.test(q)) {
    return q.includes("sort_key") ? "report" : "claim";
  }
  return "other";
}

/** One database, registry and bench client; brokers come and go. */
export class Scenario {
  readonly database: BenchDatabase;
  readonly registryDir: string;
  readonly #cleanupRegistry: () => Promise<void>;
  /** Enqueues and listens for results (a connection of its own, like orchestration's). */
  readonly #client: PostgresClient;
  /** The broker's pool (10 connections, as `deno task broker` opens). */
  readonly #brokerClient: PostgresClient;
  readonly #seeders = new Map<string, StepSeeder>();
  #broker?: { concurrency: number; bench: BenchBroker };
  readonly #notified = new Map<string, number>();
  /** Waiters for one step's result NOTIFY (resolved by the listener, no polling). */
  readonly #waiters = new Map<string, () => void>();
  #stopListening?: () => Promise<void>;
  #postgres?: PostgresProcesses;

  private constructor(
    database: BenchDatabase,
    registry: { dir: string; cleanup(): Promise<void> },
    brokerSettings: Record<string, string>,
  ) {
    this.database = database;
    this.registryDir = registry.dir;
    this.#cleanupRegistry = registry.cleanup;
    this.#client = connectPostgres(database.url, {
      max: 4,
      applicationName: "bench-orchestration",
    });
    // The broker's own sessions, as `deno task broker` opens them (toast_compression).
    this.#brokerClient = connectPostgres(database.url, {
      applicationName: "wasm-broker",
      settings: brokerSettings,
    });
  }

  /** The broker's TOAST compression, as the broker logs it at start. */
  toastCompression = "";

  /** The broker's own telemetry, told everything as in `deno task broker` (`--telemetry`). */
  telemetry?: BenchTelemetry;

  static async open(
    options: {
      nestedStatements?: boolean;
      socket?: boolean;
      toastCompression?: ToastCompression;
      /** Wire the broker's telemetry into every broker, its log to a temp file. */
      telemetry?: boolean;
    } = {},
  ): Promise<Scenario> {
    const database = await openBenchDatabase(options);
    const registry = await prepareBenchRegistry();
    const toast = await toastCompressionSettings(database.url, options.toastCompression ?? "lz4");
    const scenario = new Scenario(database, registry, toast.settings);
    scenario.toastCompression = toast.why;
    if (options.telemetry) {
      scenario.telemetry = openBenchTelemetry(
        await Deno.makeTempFile({ prefix: "wb_bench_telemetry_", suffix: ".jsonl" }),
      );
    }
    scenario.#stopListening = await scenario.#client.listen(RESULTS_CHANNEL, (payload) => {
      const at = performance.now();
      try {
        const event = JSON.parse(payload);
        const step = event?.message?.step_uuid;
        if (typeof step === "string" && !scenario.#notified.has(step)) {
          scenario.#notified.set(step, at);
          scenario.#waiters.get(step)?.();
        }
      } catch {
        // Not a payload we read.
      }
    });
    return scenario;
  }

  async #seeder(handler: HandlerCase): Promise<StepSeeder> {
    let seeder = this.#seeders.get(handler.key);
    if (!seeder) {
      seeder = await StepSeeder.create(this.database.db.client, {
        template: `bench_${handler.key}`,
        callable: handler.callable,
        initialization: handler.initialization,
      });
      this.#seeders.set(handler.key, seeder);
    }
    return seeder;
  }

  /** Creates `count` pending steps of `handler` and refreshes the planner's statistics. */
  async createSteps(handler: HandlerCase, count: number): Promise<SeededStep[]> {
    const seeder = await this.#seeder(handler);
    const steps: SeededStep[] = [];
    for (let i = 0; i < count; i += 5000) {
      steps.push(
        ...await seeder.createSteps(Math.min(5000, count - i), { context: handler.context }),
      );
    }
    await this.database.db.client.query(
      "ANALYZE tasker.tasks, tasker.workflow_steps, tasker.workflow_step_transitions",
    );
    return steps;
  }

  /** Enqueues `steps` in one transaction, from the orchestration connection. */
  async enqueue(handler: HandlerCase, steps: readonly SeededStep[]): Promise<void> {
    const seeder = await this.#seeder(handler);
    const sent = await enqueueWith(this.#client, seeder, steps);
    if (sent !== steps.length) throw new Error(`enqueued ${sent} of ${steps.length} steps`);
  }

  /** Broker slots per sandbox process (`--slots-per-sandbox`; the broker's `max_sandboxes` apart from `concurrency`). */
  slotsPerSandbox = 1;

  /** A running broker with `concurrency` sandboxes and slotsPerSandbox × as many slots (replacing another). */
  async broker(concurrency: number): Promise<BenchBroker> {
    if (this.#broker?.concurrency === concurrency) return this.#broker.bench;
    await this.#broker?.bench.stop();
    this.#broker = undefined;
    const workerId = crypto.randomUUID();
    const bench = await startBenchBroker(this.#brokerClient, {
      registryDir: this.registryDir,
      concurrency: concurrency * this.slotsPerSandbox,
      sandboxes: concurrency,
      telemetry: this.telemetry?.observer(workerId),
      workerId,
    });
    this.#broker = { concurrency, bench };
    return bench;
  }

  /** Runs `count` steps through the broker and waits for them (warm-up; sandboxes of the guest's profile start). */
  async warmUp(handler: HandlerCase, concurrency: number, count: number): Promise<void> {
    const bench = await this.broker(concurrency);
    const steps = await this.createSteps(handler, count);
    const target = bench.reportedCount() + count;
    await this.enqueue(handler, steps);
    await bench.waitForReports(target, 120_000);
    await this.purgeResults();
  }

  /** Empties the results queue and the archives (orchestration's side; untimed). */
  async purgeResults(): Promise<void> {
    const client = this.database.db.client;
    await client.query("SELECT pgmq.purge_queue('orchestration_step_results')");
    await client.query("TRUNCATE pgmq.a_orchestration_step_results, pgmq.a_worker_catalog_queue");
  }

  async #postgresProcesses(): Promise<PostgresProcesses> {
    // Backends of a shared server are looked up again: the pools may have opened more.
    if (this.#postgres && "postmaster" in this.#postgres) return this.#postgres;
    this.#postgres = await this.database.postgresProcesses();
    return this.#postgres;
  }

  async #queueTableState(queue: string): Promise<QueueTableState> {
    const [row] = await this.database.db.client.query<
      { dead: number; vacuumed_s: number | null }
    >(
      `SELECT n_dead_tup::int AS dead,
              extract(epoch FROM now() - greatest(last_vacuum, last_autovacuum))::float8 AS vacuumed_s
       FROM pg_stat_user_tables WHERE schemaname = 'pgmq' AND relname = $1`,
      [`q_${queue}`],
    );
    return { deadRows: row?.dead ?? 0, vacuumedSecondsAgo: row?.vacuumed_s ?? null };
  }

  /** Throughput: drains `count` pre-enqueued steps. */
  async drain(handler: HandlerCase, concurrency: number, count: number): Promise<DrainResult> {
    const bench = await this.broker(concurrency);
    const steps = await this.createSteps(handler, count);
    const target = bench.reportedCount() + count;
    bench.reset();
    const postgres = await this.#postgresProcesses();
    const queueTable = await this.#queueTableState((await this.#seeder(handler)).queue);
    const loadBefore = loadAverage();
    await this.enqueue(handler, steps);
    const committed = performance.now();
    // CPU and statements from the commit on: the broker cannot see a message
    // before it, so the enqueue (orchestration's work) is left out.
    const before = cpuSnapshot({ postgres });
    await this.database.statements?.reset();
    await bench.waitForReports(target, 600_000);
    const after = cpuSnapshot({ postgres });
    const loadAfter = loadAverage();
    const last = Math.max(...steps.map((s) => bench.reportedAt.get(s.stepUuid) ?? NaN));
    if (!Number.isFinite(last)) throw new Error("a step of the drain was not reported");
    const first = bench.firstReadMs()!;
    if (bench.failures.length > 0) {
      throw new Error(`steps failed: ${JSON.stringify(bench.failures.slice(0, 3))}`);
    }
    const meanMs: Record<string, number> = {};
    for (
      const label of ["read", "hydrate", "read_claim", "claim", "archive", "report"] as const
    ) {
      const records = bench.sql.records.filter((r) => r.label === label);
      const total = records.reduce((sum, r) => sum + (r.endMs - r.startMs), 0);
      meanMs[label] = total / count;
    }
    const executeMs = bench.executes.reduce((sum, e) => sum + (e.endMs - e.startMs), 0) / count;
    let serverMsPerStep: Record<string, number> | undefined;
    let statements: StatementStats[] | undefined;
    if (this.database.statements) {
      serverMsPerStep = {};
      statements = (await this.database.statements.read())
        .sort((a, b) => (b.totalMs + b.planMs) - (a.totalMs + a.planMs));
      for (const s of statements) {
        const cls = serverClass(s.query);
        if (cls === "other") continue;
        serverMsPerStep[cls] = (serverMsPerStep[cls] ?? 0) + s.totalMs / count;
      }
    }
    await this.purgeResults();
    const wallMs = last - first;
    return {
      steps: count,
      wallMs,
      stepsPerSecond: (count * 1000) / wallMs,
      commitToLastMs: last - committed,
      cpu: cpuDelta(before, after),
      meanMs,
      roundTripsPerStep: bench.sql.roundTrips / count,
      executeMs,
      serverMsPerStep,
      statements,
      queueTable,
      loadBefore,
      loadAfter,
    };
  }

  /** Latency: `count` steps enqueued one per transaction at `rate` per second. */
  async latency(
    handler: HandlerCase,
    concurrency: number,
    count: number,
    rate: number,
  ): Promise<LatencyResult> {
    const bench = await this.broker(concurrency);
    const steps = await this.createSteps(handler, count);
    const seeder = await this.#seeder(handler);
    const target = bench.reportedCount() + count;
    bench.reset();
    const postgres = await this.#postgresProcesses();
    const loadBefore = loadAverage();
    const before = cpuSnapshot({ postgres });
    const sentAt = new Map<string, number>();
    const committedAt = new Map<string, number>();
    const sends: Promise<number>[] = [];
    const start = performance.now() + 20;
    for (let i = 0; i < steps.length; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const step = steps[i].stepUuid;
      sentAt.set(step, performance.now());
      sends.push(
        enqueueWith(this.#client, seeder, [steps[i]]).then((n) => {
          committedAt.set(step, performance.now());
          return n;
        }),
      );
    }
    await Promise.all(sends);
    await bench.waitForReports(target, 600_000);
    // The last NOTIFYs may still be on their way.
    const deadline = performance.now() + 10_000;
    while (steps.some((s) => !this.#notified.has(s.stepUuid)) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const after = cpuSnapshot({ postgres });
    const loadAfter = loadAverage();
    if (bench.failures.length > 0) {
      throw new Error(`steps failed: ${JSON.stringify(bench.failures.slice(0, 3))}`);
    }
    const latencies = steps.map((s) => this.#notified.get(s.stepUuid)! - sentAt.get(s.stepUuid)!);
    if (latencies.some((l) => !Number.isFinite(l))) {
      throw new Error("a result NOTIFY never arrived");
    }
    const db = await this.database.db.client.query<{ ms: number }>(
      `SELECT extract(epoch FROM (r.enqueued_at - a.enqueued_at)) * 1000 AS ms
         FROM pgmq.a_worker_catalog_queue a
         JOIN pgmq.q_orchestration_step_results r
           ON r.message->>'step_uuid' = a.message->>'step_uuid'
        WHERE a.message->>'step_uuid' = ANY($1::text::text[])`,
      [`{${steps.map((s) => s.stepUuid).join(",")}}`],
    );
    const phases = phaseMedians(
      bench,
      steps.map((s) => s.stepUuid),
      sentAt,
      this.#notified,
    );
    await this.purgeResults();
    return {
      steps: count,
      ratePerSecond: rate,
      p50Ms: quantile(latencies, 0.5),
      p90Ms: quantile(latencies, 0.9),
      p99Ms: quantile(latencies, 0.99),
      maxMs: Math.max(...latencies),
      committedP50Ms: quantile(
        steps.map((s) => this.#notified.get(s.stepUuid)! - committedAt.get(s.stepUuid)!),
        0.5,
      ),
      dbP50Ms: quantile(db.map((r) => Number(r.ms)), 0.5),
      phases,
      cpu: cpuDelta(before, after),
      loadBefore,
      loadAfter,
    };
  }

  /**
   * The protocol's floor: `workers` loops, each on its own connection, take
   * one step at a time through the same calls the broker makes —
   * `readMessages` (qty 1), `hydrateStep`, `claimStep`, `archiveMessage`,
   * `reportStepResult` of a completed `{}` — with no broker loop and no
   * sandbox. What PostgreSQL and the protocol cost by themselves.
   */
  async floor(
    handler: HandlerCase,
    workers: number,
    count: number,
    options: { batch?: number; ack?: boolean } = {},
  ): Promise<FloorResult> {
    const batch = options.batch ?? 1;
    await this.#broker?.bench.stop();
    this.#broker = undefined;
    const steps = await this.createSteps(handler, count);
    const seeder = await this.#seeder(handler);
    await this.enqueue(handler, steps);
    const client = connectPostgres(this.database.url, {
      max: workers,
      applicationName: "bench-floor",
    });
    const workerId = crypto.randomUUID();
    let roundTrips = 0;
    let done = 0;
    const loop = async () => {
      for (;;) {
        const messages = await readMessages(client, seeder.queue, { vtSeconds: 30, qty: batch });
        roundTrips++;
        if (messages.length === 0) return;
        const bodies = messages.map((m) => {
          const parsed = parseStepMessage(m.message);
          if (!parsed.ok) throw new Error(parsed.reason);
          return parsed.message;
        });
        const hydratedAll = batch === 1
          ? [await hydrateStep(client, bodies[0])]
          : await hydrateSteps(client, bodies);
        roundTrips++;
        for (const [i, hydrated] of hydratedAll.entries()) {
          if (!hydrated.ok) throw new Error(hydrated.reason);
          const step = hydrated.step;
          const claim = await claimStep(client, {
            stepUuid: step.step.uuid,
            workerUuid: workerId,
            correlationId: step.task.correlationId,
          }, options.ack ? { archive: { queue: seeder.queue, msgId: messages[i].msgId } } : {});
          roundTrips++;
          if (typeof claim !== "object" || !("claimed" in claim)) throw new Error("lost a claim");
          if (!options.ack) {
            await archiveMessage(client, seeder.queue, messages[i].msgId);
            roundTrips++;
          }
          const now = new Date();
          const result = toStepExecutionResult(
            { status: "completed", result: {}, error: null, metrics: emptyMetrics(), logs: [] },
            { stepUuid: step.step.uuid, workerId, startedAt: now, completedAt: now },
          );
          const reported = await reportStepResult(client, {
            stepUuid: step.step.uuid,
            taskUuid: step.task.uuid,
            correlationId: step.task.correlationId,
            workerUuid: workerId,
            result,
            claimSortKey: claim.sortKey,
          });
          roundTrips++;
          if (reported !== "reported") {
            throw new Error(`report skipped: ${JSON.stringify(reported)}`);
          }
          done++;
        }
      }
    };
    try {
      await client.query("SELECT 1"); // open a connection outside the timing
      const postgres = await this.#postgresProcesses();
      const before = cpuSnapshot({ postgres });
      const started = performance.now();
      await Promise.all(Array.from({ length: workers }, loop));
      const wallMs = performance.now() - started;
      const after = cpuSnapshot({ postgres });
      if (done !== count) throw new Error(`floor: ${done} of ${count} steps done`);
      await this.purgeResults();
      return {
        variant: batch > 1
          ? `read + hydrate ${batch} at a time, ack in the claim`
          : options.ack
          ? "per step, ack in the claim (as the broker does)"
          : "per step, separate ack",
        workers,
        steps: count,
        stepsPerSecond: (count * 1000) / wallMs,
        cpu: cpuDelta(before, after),
        roundTripsPerStep: roundTrips / count,
      };
    } finally {
      await client.close();
    }
  }

  /** One step enqueued alone and waited for (enqueue → result NOTIFY), ms. */
  async oneStep(handler: HandlerCase, step: SeededStep, timeoutMs = 60_000): Promise<number> {
    const seeder = await this.#seeder(handler);
    const heard = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(step.stepUuid);
        reject(new Error(`no result NOTIFY for step ${step.stepUuid} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(step.stepUuid, () => {
        clearTimeout(timer);
        this.#waiters.delete(step.stepUuid);
        resolve();
      });
    });
    const started = performance.now();
    await enqueueWith(this.#client, seeder, [step]);
    await heard;
    return this.#notified.get(step.stepUuid)! - started;
  }

  async close(): Promise<void> {
    await this.#broker?.bench.stop();
    await this.#stopListening?.();
    await this.#client.close();
    await this.#brokerClient.close();
    await this.database.close();
    this.telemetry?.close();
    await this.#cleanupRegistry();
  }
}

function enqueueWith(
  client: PostgresClient,
  seeder: StepSeeder,
  steps: readonly SeededStep[],
): Promise<number> {
  return seeder.enqueue(steps, { client }).then((ids) => ids.length);
}

/** Medians of each phase of the given steps, from the broker's records. */
function phaseMedians(
  bench: BenchBroker,
  stepUuids: readonly string[],
  sentAt: Map<string, number>,
  notified: Map<string, number>,
): [string, number][] {
  const byStep = new Map<string, Partial<Record<string, SqlRecord>>>();
  const msgStep = new Map<number, string>();
  const readOf = new Map<string, SqlRecord>();
  for (const r of bench.sql.records) {
    if (r.label === "read" || r.label === "read_claim") {
      for (const m of r.messages ?? []) {
        if (m.stepUuid) {
          msgStep.set(m.msgId, m.stepUuid);
          if (!readOf.has(m.stepUuid)) readOf.set(m.stepUuid, r);
        }
      }
    }
  }
  for (const r of bench.sql.records) {
    const step = r.stepUuid ?? (r.msgId !== undefined ? msgStep.get(r.msgId) : undefined);
    for (const s of step ? [step] : r.stepUuids ?? []) {
      const entry = byStep.get(s) ?? {};
      entry[r.label] ??= r;
      byStep.set(s, entry);
    }
  }
  const execOf = new Map(bench.executes.map((e) => [e.stepUuid, e]));
  const rows: Record<string, number[]> = {};
  const add = (name: string, value: number) => (rows[name] ??= []).push(value);
  for (const step of stepUuids) {
    const read = readOf.get(step);
    const r = byStep.get(step);
    const exec = execOf.get(step);
    const sent = sentAt.get(step);
    const heard = notified.get(step);
    if (!read || !r?.report || !exec || sent === undefined || heard === undefined) continue;
    let ready: number; // when the step was claimed (and its message acked)
    if (read.label === "read_claim") {
      // The idle path: read, hydrated and, for a known definition, claimed in one statement;
      // for another, claimed on its own after.
      add("enqueue issued → one statement (read, hydrate, claim) returned", read.endMs - sent);
      add("  of which the one statement", read.endMs - read.startMs);
      if (r.claim) {
        add("resolve callable", r.claim.startMs - read.endMs);
        add("claim (with the ack)", r.claim.endMs - r.claim.startMs);
      }
      ready = r.claim?.endMs ?? read.endMs;
    } else {
      const hydrate = r.hydrate;
      if (!hydrate || !r.claim) continue;
      add("enqueue issued → read returned it", read.endMs - sent);
      add("  of which pgmq.read", read.endMs - read.startMs);
      add("read → hydrate starts", hydrate.startMs - read.endMs);
      add("hydrate (query)", hydrate.endMs - hydrate.startMs);
      add("resolve callable", r.claim.startMs - hydrate.endMs);
      add(r.archive ? "claim" : "claim (with the ack)", r.claim.endMs - r.claim.startMs);
      // Absent when the ack rides with the claim (one statement).
      if (r.archive) add("archive", r.archive.endMs - r.archive.startMs);
      ready = r.archive?.endMs ?? r.claim.endMs;
    }
    add("envelope", exec.startMs - ready);
    add("sandbox (runtime.execute)", exec.endMs - exec.startMs);
    add("  of which the guest ran", exec.guestRunMs);
    add("result mapping", r.report.startMs - exec.endMs);
    add("report", r.report.endMs - r.report.startMs);
    add("report committed → NOTIFY heard", heard - r.report.endMs);
    add("total", heard - sent);
  }
  return Object.entries(rows).map(([name, values]) => [name, quantile(values, 0.5)]);
}

// ---- deno bench --------------------------------------------------------

let scenario: Promise<Scenario> | undefined;
// `deno bench` has no teardown: the registry copy goes at unload (the
// throwaway cluster is stopped by the harness's own unload handler, the
// sandboxes die with this process).
const benchScenario = () =>
  scenario ??= Scenario.open().then((s) => {
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(s.registryDir, { recursive: true });
      } catch {
        // Already gone.
      }
    });
    return s;
  });
const DRAIN = 100;

for (const handler of Object.values(HANDLERS)) {
  for (const sandboxes of [1, 2, 4]) {
    Deno.bench({
      name: `${handler.key}: drain ${DRAIN} steps, ${sandboxes} sandbox(es)`,
      group: `broker e2e ${handler.key} drain`,
      baseline: sandboxes === 1,
      n: 5,
      warmup: 1,
    }, async (b) => {
      const s = await benchScenario();
      const bench = await s.broker(sandboxes);
      if (bench.reportedCount() === 0) await s.warmUp(handler, sandboxes, 20 * sandboxes);
      const steps = await s.createSteps(handler, DRAIN);
      const target = bench.reportedCount() + DRAIN;
      b.start();
      await s.enqueue(handler, steps);
      await bench.waitForReports(target, 120_000);
      b.end();
      await s.purgeResults();
    });
  }
  // Steps created once, up front: creating them (and ANALYZE) between
  // iterations would disturb the database right before each timed step.
  let pool: SeededStep[] = [];
  Deno.bench({
    name: `${handler.key}: one step, enqueue → result NOTIFY, 1 sandbox`,
    group: `broker e2e ${handler.key} latency`,
    n: 50,
    warmup: 5,
  }, async (b) => {
    const s = await benchScenario();
    await s.broker(1);
    if (pool.length === 0) pool = await s.createSteps(handler, 100);
    const step = pool.pop()!;
    b.start();
    await s.oneStep(handler, step);
    b.end();
  });
}

// ---- --report ----------------------------------------------------------

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

async function report(): Promise<void> {
  const steps = countFlag("steps", 4000);
  const latencySteps = countFlag("latency-steps", 400);
  const rate = countFlag("rate", 50);
  const warmUpPerSandbox = countFlag("warm-up-per-sandbox", 50, 0);
  const handlers = flag("handlers", "trivial,transform").split(",").map((k) =>
    HANDLERS[k as HandlerCase["key"]]
  );
  const floorOnly = Deno.args.includes("--floor-only");
  const sandboxCounts = floorOnly ? [] : flag("sandboxes", "1,2,4").split(",").map(Number);
  const nested = Deno.args.includes("--statements");
  const toastCompression = flag("toast-compression", "lz4");
  if (toastCompression !== "lz4" && toastCompression !== "server_default") {
    throw new Error(
      `Cannot use --toast-compression as it is not lz4 or server_default: current value is ${toastCompression}`,
    );
  }
  const s = await Scenario.open({
    nestedStatements: nested,
    socket: Deno.args.includes("--socket"),
    toastCompression,
    telemetry: Deno.args.includes("--telemetry"),
  });
  s.slotsPerSandbox = countFlag("slots-per-sandbox", 1);
  // Sandboxes as the tables name them: `4 × 2` is 4 sandbox processes, 2 broker slots each.
  const sandboxLabel = (n: number) =>
    s.slotsPerSandbox > 1 ? `${n} × ${s.slotsPerSandbox}` : `${n}`;
  // A latency column: `trivial ×4`, or `trivial 4 × 2` with slots.
  const caseLabel = (key: string, n: number) =>
    s.slotsPerSandbox > 1 ? `${key} ${sandboxLabel(n)}` : `${key} ×${n}`;
  const telemetry = s.telemetry?.describe ??
    "telemetry: none (the CLI's metrics, spans and JSON logs are not in these numbers)";
  const out: string[] = [];
  const log = (line = "") => {
    out.push(line);
    console.log(line);
  };
  try {
    console.error(`database: ${s.database.describe}; ${s.toastCompression}`);
    console.error(telemetry);
    const results: {
      handler: HandlerCase;
      sandboxes: number;
      drain: DrainResult;
      latency: LatencyResult;
    }[] = [];
    for (const handler of handlers) {
      for (const sandboxes of sandboxCounts) {
        await s.broker(sandboxes);
        await s.warmUp(handler, sandboxes, Math.max(100, warmUpPerSandbox * sandboxes));
        const drain = await s.drain(handler, sandboxes, steps);
        console.error(
          `${handler.key} x${sandboxes}: ${
            f1(drain.stepsPerSecond)
          } steps/s (load ${drain.loadBefore})`,
        );
        // Well below capacity: at most a quarter of what this configuration just drained.
        const stepRate = Math.max(1, Math.min(rate, Math.floor(drain.stepsPerSecond / 4)));
        const latency = await s.latency(handler, sandboxes, latencySteps, stepRate);
        console.error(
          `${handler.key} x${sandboxes}: p50 ${f2(latency.p50Ms)} ms, p99 ${
            f2(latency.p99Ms)
          } ms at ${stepRate}/s`,
        );
        results.push({ handler, sandboxes, drain, latency });
      }
    }
    log(`database: ${s.database.describe}; ${s.toastCompression}`);
    log(`broker: ${s.slotsPerSandbox} slot(s) per sandbox process; ${telemetry}`);
    if (s.telemetry) log(`telemetry log: ${s.telemetry.lines()} lines written in all`);
    log(
      `throughput: ${steps} steps per drain; latency: ${latencySteps} steps at min(${rate}/s, ` +
        "a quarter of the drain's steps/s)",
    );
    log();
    log(
      "| handler | sandboxes | steps/s | latency rate/s | p50 ms | p90 ms | p99 ms | p50 ms from commit | CPU ms/step broker / sandboxes / PostgreSQL | round trips/step | load avg |",
    );
    log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const { handler, sandboxes, drain, latency } of results) {
      const per = (ms: number) => f2(ms / drain.steps);
      log(
        `| ${handler.key} | ${sandboxLabel(sandboxes)} | ${
          f1(drain.stepsPerSecond)
        } | ${latency.ratePerSecond} | ${f2(latency.p50Ms)} | ${f2(latency.p90Ms)} | ${
          f2(latency.p99Ms)
        } | ${f2(latency.committedP50Ms)} | ${per(drain.cpu.brokerMs)} / ${
          per(drain.cpu.sandboxesMs)
        } / ${per(drain.cpu.postgresMs)} | ${
          f1(drain.roundTripsPerStep)
        } | ${drain.loadBefore} → ${latency.loadAfter} |`,
      );
    }
    log();
    log("Throughput drains, mean client-side ms per step (waits for a connection included):");
    log();
    log(
      "| handler | sandboxes | read | hydrate | read + hydrate + claim | claim | archive | sandbox | report | server ms/step (pg_stat_statements) | queue table before: dead rows, s since vacuum |",
    );
    log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const { handler, sandboxes, drain } of results) {
      const m = drain.meanMs;
      const server = drain.serverMsPerStep
        ? Object.entries(drain.serverMsPerStep).map(([k, v]) => `${k} ${f2(v)}`).join(", ")
        : "n/a";
      log(
        `| ${handler.key} | ${sandboxLabel(sandboxes)} | ${f2(m.read)} | ${f2(m.hydrate)} | ${
          f2(m.read_claim)
        } | ${f2(m.claim)} | ${f2(m.archive)} | ${f2(drain.executeMs)} | ${
          f2(m.report)
        } | ${server} | ${drain.queueTable.deadRows}, ${
          drain.queueTable.vacuumedSecondsAgo === null
            ? "never"
            : f1(drain.queueTable.vacuumedSecondsAgo)
        } |`,
      );
    }
    log();
    log("Latency runs, median ms of each phase of a step:");
    log();
    const names = [...new Set(results.flatMap((r) => r.latency.phases.map(([n]) => n)))];
    log(
      `| phase | ${results.map((r) => caseLabel(r.handler.key, r.sandboxes)).join(" | ")} |`,
    );
    log(`| --- | ${results.map(() => "---").join(" | ")} |`);
    for (const name of names) {
      const cells = results.map((r) => {
        const found = r.latency.phases.find(([n]) => n === name);
        return found ? f2(found[1]) : "";
      });
      log(`| ${name.replace(/^ +/, "… ")} | ${cells.join(" | ")} |`);
    }
    log(
      `| db clock: result enqueued_at − step enqueued_at (p50) | ${
        results.map((r) => f2(r.latency.dbP50Ms)).join(" | ")
      } |`,
    );
    if (floorOnly || Deno.args.includes("--floor")) {
      const floors: { handler: HandlerCase; floor: FloorResult }[] = [];
      const variants = [{}, { ack: true }, { ack: true, batch: 16 }];
      for (const handler of handlers) {
        for (const workers of [1, 4]) {
          for (const variant of variants) {
            const floor = await s.floor(handler, workers, steps, variant);
            console.error(
              `${handler.key} floor x${workers} ${floor.variant}: ${
                f1(floor.stepsPerSecond)
              } steps/s`,
            );
            floors.push({ handler, floor });
          }
        }
      }
      log();
      log(
        "The protocol alone (no broker loop, no sandbox; one connection per worker loop):",
      );
      log();
      log(
        "| handler | worker loops | variant | steps/s | CPU ms/step bench process / PostgreSQL | round trips/step |",
      );
      log("| --- | --- | --- | --- | --- | --- |");
      for (const { handler, floor } of floors) {
        log(
          `| ${handler.key} | ${floor.workers} | ${floor.variant} | ${f1(floor.stepsPerSecond)} | ${
            f2(floor.cpu.brokerMs / floor.steps)
          } / ${f2(floor.cpu.postgresMs / floor.steps)} | ${f2(floor.roundTripsPerStep)} |`,
        );
      }
    }
    if (nested) {
      for (const { handler, sandboxes, drain } of results) {
        log();
        log(
          `pg_stat_statements (track = all) of the ${handler.key} ×${sandboxes} drain, per step:`,
        );
        log();
        log("| calls/step | exec ms/step | plan ms/step | statement |");
        log("| --- | --- | --- | --- |");
        for (const st of (drain.statements ?? []).slice(0, 30)) {
          const text = st.query.replace(/\s+/g, " ").slice(0, 110).replaceAll("|", "\\|");
          log(
            `| ${f2(st.calls / drain.steps)} | ${f2(st.totalMs / drain.steps)} | ${
              f2(st.planMs / drain.steps)
            } | \`${text}\` |`,
          );
        }
      }
    }
  } finally {
    await s.close();
  }
  const file = flag("out", "");
  if (file) await Deno.writeTextFile(file, out.join("\n") + "\n");
}

if (import.meta.main && Deno.args.includes("--report")) {
  await report();
  Deno.exit(0);
}
