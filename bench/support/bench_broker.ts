/**
 * The real broker loop ({@link Broker}) in this process, instrumented for
 * the end-to-end bench: its database client is a {@link TimedSqlClient}
 * (every statement timed and attributed to its step), `runtime.execute` is
 * timed per step, and an observer timestamps reads and reports. Sandboxes
 * are real processes (`createRuntime`, `maxProcesses` = `prewarm` =
 * `sandboxes`); the resolver serves a real registry directory.
 *
 * Nothing of the loop is replaced: the wrappers only measure. With
 * `telemetry`, the broker's own telemetry observer is told everything as
 * well, as in `deno task broker`.
 *
 * @example
 * ```ts ignore
 * const bench = await startBenchBroker(client, { registryDir, concurrency: 2, sandboxes: 2 });
 * // ... enqueue steps, wait for bench.reportedCount ...
 * await bench.stop();
 * ```
 *
 * @module
 */
import { Broker } from "../../src/broker/broker.ts";
import {
  type BrokerObserver,
  combineObservers,
  NOOP_OBSERVER,
} from "../../src/broker/broker_observer.ts";
import { HandlerResolver } from "../../src/broker/handler_resolver.ts";
import { createRuntime } from "../../src/create_runtime.ts";
import type { SqlClient } from "../../src/db/sql_client.ts";
import { FileRegistry } from "../../src/registry/file_registry.ts";
import type { SandboxPool } from "../../src/sandbox/sandbox_pool.ts";
import { TimedSqlClient } from "./timed_sql_client.ts";

/** Options for {@link startBenchBroker}. */
export interface BenchBrokerOptions {
  registryDir: string;
  /** Steps running at once (the broker's semaphore). */
  concurrency: number;
  /** Sandbox processes: `maxProcesses` and `prewarm`. */
  sandboxes: number;
  /** Namespace served (queue `worker_<namespace>_queue`). Default `catalog`. */
  namespace?: string;
  /** Messages per read. Default 20 (the broker's default). */
  batchSize?: number;
  /** Fallback poll interval, ms. Default 1000 (the broker's default). */
  pollIntervalMs?: number;
  /** The broker's worker id. Default: a random UUID. */
  workerId?: string;
  /** Told everything too: the broker's own telemetry (`bench_telemetry.ts`), when measured. */
  telemetry?: BrokerObserver;
}

/** A step's run in the sandbox, as timed around `runtime.execute`. */
export interface ExecuteRecord {
  stepUuid: string;
  startMs: number;
  endMs: number;
  status: string;
  /** The guest's own run time (from the sandbox), ms. */
  guestRunMs: number;
  instantiateUs: number;
}

/** A running instrumented broker. */
export interface BenchBroker {
  broker: Broker;
  /** The broker's database client (records every statement). */
  sql: TimedSqlClient;
  /** One record per `runtime.execute`. */
  executes: ExecuteRecord[];
  /** When each step's report committed (`performance.now()`), by step UUID. */
  reportedAt: Map<string, number>;
  /** Reports written so far (never reset). */
  reportedCount(): number;
  /** Failed steps so far (status other than completed). */
  failures: { stepUuid: string; status: string; code?: unknown }[];
  /** First read that returned messages since the last {@link BenchBroker.reset}. */
  firstReadMs(): number | undefined;
  /** Forgets records (not counts). */
  reset(): void;
  /** Waits until `reportedCount() >= count` (polling), or throws after `timeoutMs`. */
  waitForReports(count: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts an instrumented broker on `client`; see the module doc. */
export async function startBenchBroker(
  client: SqlClient,
  options: BenchBrokerOptions,
): Promise<BenchBroker> {
  const sql = new TimedSqlClient(client);
  const runtime = createRuntime({
    sandbox: { prewarm: options.sandboxes, maxProcesses: options.sandboxes },
  });
  const executes: ExecuteRecord[] = [];
  const execute = runtime.execute.bind(runtime);
  runtime.execute = async (guest, input, execOptions) => {
    const startMs = performance.now();
    const outcome = await execute(guest, input, execOptions);
    executes.push({
      stepUuid: execOptions?.step?.stepId ?? "",
      startMs,
      endMs: performance.now(),
      status: outcome.status,
      guestRunMs: outcome.metrics.run_ms,
      instantiateUs: outcome.metrics.instantiate_us,
    });
    return outcome;
  };
  await (runtime.executor as SandboxPool).ready();

  const reportedAt = new Map<string, number>();
  const failures: BenchBroker["failures"] = [];
  let reported = 0;
  let firstRead: number | undefined;
  const internalErrors: unknown[] = [];
  const observer: BrokerObserver = {
    ...NOOP_OBSERVER,
    read() {
      firstRead ??= performance.now();
    },
    internalError: (_where, error) => internalErrors.push(error),
    step(labels) {
      return {
        phase: (_name, fn) => fn(),
        claimed() {},
        lostClaim() {},
        ran() {},
        handedBack() {},
        reported(result) {
          reported++;
          reportedAt.set(labels.stepUuid, performance.now());
          if (result.status !== "completed") {
            failures.push({
              stepUuid: labels.stepUuid,
              status: result.status,
              code: result.metadata.error_code,
            });
          }
        },
        reportFailed() {},
        reportSkipped() {},
        resultMessageNotSent() {},
        end() {},
      };
    },
  };
  const resolver = new HandlerResolver(new FileRegistry(options.registryDir), runtime);
  const broker = new Broker({
    tasker: sql,
    queue: sql,
    runtime,
    resolver,
    observer: options.telemetry ? combineObservers(observer, options.telemetry) : observer,
  }, {
    namespaces: [options.namespace ?? "catalog"],
    concurrency: options.concurrency,
    batchSize: options.batchSize ?? 20,
    visibilityTimeoutSeconds: 30,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    shutdownGraceMs: 10_000,
    workerId: options.workerId ?? crypto.randomUUID(),
  });
  await broker.start();
  return {
    broker,
    sql,
    executes,
    reportedAt,
    failures,
    reportedCount: () => reported,
    firstReadMs: () => firstRead,
    reset() {
      sql.reset();
      executes.length = 0;
      reportedAt.clear();
      firstRead = undefined;
    },
    async waitForReports(count, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      while (reported < count) {
        if (internalErrors.length > 0) {
          throw new Error("the broker loop hit an internal error", { cause: internalErrors[0] });
        }
        if (performance.now() > deadline) {
          throw new Error(
            `Timed out after ${timeoutMs} ms waiting for ${count} reports: ${reported} so far`,
          );
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async stop() {
      await broker.stop();
    },
  };
}
