/**
 * `deno task broker`: the Tasker worker. Reads the configuration, opens the
 * database (`DATABASE_URL`, else the embedded PGlite under the data
 * directory), makes sure the catalog is published, starts the sandboxes,
 * the admin HTTP server and the loop, and stops gracefully on SIGINT or
 * SIGTERM (exit 0). Exit 1 when it cannot start, 2 on a usage or
 * configuration error.
 *
 * @module
 */
import { hostname } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startAdminServer } from "../admin/admin_server.ts";
import { createAdminApp, type ReadinessReport } from "../admin/admin_app.ts";
import { Broker } from "../broker/broker.ts";
import { type BrokerFlags, loadBrokerConfig } from "../broker/broker_config.ts";
import { HandlerResolver } from "../broker/handler_resolver.ts";
import { publishCatalog } from "../broker/publish_catalog.ts";
import { createBrokerLogger, createTelemetryObserver } from "../broker/telemetry_observer.ts";
import { createRuntime } from "../create_runtime.ts";
import { openDatabase, type OpenedDatabase } from "../db/open_database.ts";
import { WasmBrokerError } from "../errors.ts";
import { defaultDataDir } from "../registry/default_registry_dir.ts";
import { FileRegistry } from "../registry/file_registry.ts";
import type { SandboxPool } from "../sandbox/sandbox_pool.ts";
import { queueDepth } from "../tasker/pgmq_queue.ts";
import { missingObjects, QUEUE_OBJECTS, TASKER_OBJECTS } from "../tasker/tasker_schema.ts";
import type { JsonLogger } from "../telemetry/json_logger.ts";
import { MetricsRegistry } from "../telemetry/metrics_registry.ts";
import { planOtelLaunch, relaunchWithOtel } from "../telemetry/otel_launch.ts";
import { toSecretScanner } from "../telemetry/tracing.ts";
import { createWorkerMetrics } from "../telemetry/worker_metrics.ts";

const HELP = `Usage: deno task broker [options]

Runs wasm-broker as a Tasker worker: reads step messages from
worker_<namespace>_queue (pgmq), claims the steps whose handler.callable is
published in the registry, runs each in a fresh WebAssembly instance inside a
sandbox process, and reports the result through Tasker's completion path.

Database: DATABASE_URL (and optionally PGMQ_DATABASE_URL for the queues); pgmq
must be installed there (deno task db:setup). Without DATABASE_URL an embedded
PostgreSQL (PGlite with pgmq) runs in this process, kept under
<data dir>/pglite, and is reachable by other tools at the URL written to
<data dir>/pglite/connection.json (deno task demo uses it).

Options (each also settable in a --config JSON file; see docs/operations.md):
  --config <file>            Broker config JSON (also WASM_BROKER_CONFIG)
  --namespace <ns>           Namespace to serve (repeatable; default catalog;
                             also WASM_BROKER_NAMESPACES=a,b)
  --concurrency <n>          Steps claimed or running at once (default 4; WASM_BROKER_CONCURRENCY)
  --batch-size <n>           Messages per read (default 20)
  --visibility-timeout-s <n> Visibility timeout of a read (default 30)
  --poll-interval-ms <n>     Fallback poll interval (default 1000)
  --admin-port <n>           Admin HTTP port (default 8081; WASM_BROKER_ADMIN_PORT)
  --admin-host <host>        Admin HTTP address (default 127.0.0.1; WASM_BROKER_ADMIN_HOST)
  --registry <dir>           Registry directory (default <data dir>/registry)
  --worker-id <uuid>         Worker id in transitions and results (default: random)
  --no-catalog-publish       Do not build and publish missing catalog handlers at start
  -h, --help                 Show this help

Environment: DATABASE_URL, PGMQ_DATABASE_URL, WASM_BROKER_DATA_DIR (default ./data),
LOG_LEVEL (debug|info|warn|error), TELEMETRY_ENABLED / OTEL_DENO and the OTEL_*
variables (OpenTelemetry export), WASM_BROKER_SECRET_<KEY> (the secrets capability),
WASM_BROKER_TOAST_COMPRESSION (lz4|server_default: how results are compressed;
default lz4 when a session asking for it works).

Admin HTTP: GET /health, /health/ready, /health/live, /metrics, /v1/handlers.
Exit status: 0 after a graceful stop, 1 when it cannot start, 2 usage or configuration error.
`;

/** `deno run` flags the broker needs, for the OpenTelemetry relaunch. */
const DENO_FLAGS = ["-A"];

class UsageError extends Error {}

function parseFlags(args: string[]): BrokerFlags & { help?: boolean } {
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        config: { type: "string" },
        namespace: { type: "string", multiple: true },
        concurrency: { type: "string" },
        "batch-size": { type: "string" },
        "visibility-timeout-s": { type: "string" },
        "poll-interval-ms": { type: "string" },
        "admin-port": { type: "string" },
        "admin-host": { type: "string" },
        registry: { type: "string" },
        "worker-id": { type: "string" },
        "no-catalog-publish": { type: "boolean" },
      },
    });
    return values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Values of `WASM_BROKER_SECRET_*`: never to appear on a span or log line. */
function configuredSecrets(): string[] {
  return Object.entries(Deno.env.toObject())
    .filter(([name, value]) => name.startsWith("WASM_BROKER_SECRET_") && value.length >= 8)
    .map(([, value]) => value);
}

async function timed<T>(fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the broker until a signal stops it; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseFlags(args);
  } catch (error) {
    console.error(`wasm-broker: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (flags.help) {
    console.log(HELP);
    return 0;
  }

  const plan = planOtelLaunch(Deno.env.toObject());
  if (plan.action === "relaunch") {
    return await relaunchWithOtel(plan, { denoFlags: DENO_FLAGS });
  }

  // Built once, for every log line and span: none carries a configured secret.
  const secrets = toSecretScanner(configuredSecrets());
  const logger = createBrokerLogger({ secrets });
  for (const warning of plan.warnings) logger.warn(warning);

  let loaded;
  try {
    loaded = await loadBrokerConfig(flags);
  } catch (error) {
    if (error instanceof WasmBrokerError) {
      console.error(`wasm-broker: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const { config, database } = loaded;
  const dataDir = config.data_dir ?? defaultDataDir();
  const workerId = config.worker_id ?? crypto.randomUUID();
  const log = logger.child({ worker_id: workerId });

  const registry = new FileRegistry(config.registry_dir ?? join(dataDir, "registry"));
  if (config.publish_catalog) {
    try {
      const report = await publishCatalog(registry, {
        onProgress: (message) => log.info(message),
      });
      log.info("catalog ready", {
        published: report.published,
        already_present: report.present.length,
      });
    } catch (error) {
      log.error("cannot publish the catalog", {
        error: (error as Error).message,
        code: (error as WasmBrokerError).code,
      });
      return 1;
    }
  }

  const metricsRegistry = new MetricsRegistry();
  let db: OpenedDatabase | undefined;
  let broker: Broker | undefined = undefined; // set once the database is open
  const metrics = createWorkerMetrics(metricsRegistry, {
    queueDepth: async () => {
      if (!db || !broker) return [];
      const out = [];
      for (const q of broker.queues()) {
        out.push({ ...q, depth: (await queueDepth(db.queue, q.queue)).total });
      }
      return out;
    },
  });
  const runtime = createRuntime({
    sandbox: {
      prewarm: config.prewarm_sandboxes,
      maxProcesses: config.max_sandboxes ?? config.concurrency,
      onLog: (event) =>
        log[event.level](`sandbox: ${event.message}`, { pid: event.pid, profile: event.profile }),
      onExit: (exit) => {
        if (exit.reason !== "idle" && exit.reason !== "close") {
          metrics.sandboxRestarts.inc({ reason: exit.reason });
        }
      },
    },
  });
  const resolver = new HandlerResolver(registry, runtime, { grants: config.grants });
  try {
    resolver.checkGrants();
  } catch (error) {
    console.error(`wasm-broker: ${(error as Error).message}`);
    await runtime.close();
    return 2;
  }

  const pool = runtime.executor as SandboxPool;
  // A failure shows in pool.health(), and the pool tries again by itself.
  pool.ready().catch(() => {});

  const readiness = async (): Promise<ReadinessReport> => {
    const checks: ReadinessReport["checks"] = {};
    const started = performance.now();
    if (!db || !broker) {
      checks.database = { ok: false, message: "connecting" };
    } else {
      try {
        await timed(() => db!.tasker.query("SELECT 1"), 1500);
        if (db.queue !== db.tasker) await timed(() => db!.queue.query("SELECT 1"), 1500);
        const status = broker.status();
        checks.database = {
          ok: status.state === "running",
          message: status.state === "running" ? db.describe : `broker ${status.state}`,
          latency_ms: performance.now() - started,
        };
      } catch (error) {
        checks.database = { ok: false, message: (error as Error).message };
      }
    }
    checks.sandboxes = pool.health();
    return { checks };
  };

  const app = createAdminApp({
    readiness,
    handlers: async () =>
      (await resolver.list()).map((h) => ({
        name: h.name,
        version: h.version,
        digest: `sha256:${h.digest}`,
        capabilities: h.capabilities,
      })),
    metrics: metricsRegistry,
    logger: log,
    liveness: () => ({ alive: broker?.status().state !== "stopped" }),
  });
  let admin;
  try {
    admin = startAdminServer(app, { hostname: config.admin.hostname, port: config.admin.port });
  } catch (error) {
    log.error("cannot start the admin HTTP server", {
      error: (error as Error).message,
      hostname: config.admin.hostname,
      port: config.admin.port,
    });
    await runtime.close();
    return 1;
  }
  log.info("admin HTTP listening", { url: admin.url });

  const stopRequested = new AbortController();
  const onSignal = (signal: Deno.Signal) => () => {
    if (stopRequested.signal.aborted) {
      log.warn("second signal: exiting now", { signal });
      Deno.exit(1);
    }
    log.info("stopping", { signal });
    stopRequested.abort();
  };
  const handlers: [Deno.Signal, () => void][] = [
    ["SIGINT", onSignal("SIGINT")],
    ["SIGTERM", onSignal("SIGTERM")],
  ];
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);

  try {
    db = await openDatabase({
      databaseUrl: database.databaseUrl,
      pgmqDatabaseUrl: database.pgmqDatabaseUrl,
      toastCompression: config.toast_compression,
      dataDir,
      log: (message: string) => log.info(message),
    });
  } catch (error) {
    log.error("cannot open the database", {
      error: (error as Error).message,
      code: (error as { code?: string }).code,
    });
    await admin.shutdown();
    await runtime.close();
    return 1;
  }
  log.info("database open", {
    database: db.describe,
    ...(db.embedded ? { embedded_url: db.embedded.url } : {}),
  });
  await warnIfTaskerSchemaMissing(db, log);

  broker = new Broker({
    tasker: db.tasker,
    queue: db.queue,
    runtime,
    resolver,
    observer: createTelemetryObserver({ metrics, logger: log, secrets }),
  }, {
    namespaces: config.namespaces,
    concurrency: config.concurrency,
    batchSize: config.batch_size,
    visibilityTimeoutSeconds: config.visibility_timeout_seconds,
    pollIntervalMs: config.poll_interval_ms,
    shutdownGraceMs: config.shutdown_grace_ms,
    workerId,
    hostname: hostname(),
  });

  let status = 0;
  try {
    await broker.start(stopRequested.signal);
    if (!stopRequested.signal.aborted) {
      await new Promise((resolve) =>
        stopRequested.signal.addEventListener("abort", resolve, { once: true })
      );
    }
  } catch (error) {
    if (!stopRequested.signal.aborted) {
      log.error("broker failed", { error: (error as Error).message });
      status = 1;
    }
  } finally {
    await broker.stop();
    await admin.shutdown();
    await db.close();
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    log.info("stopped", { exit_status: status });
  }
  return status;
}

/**
 * Says at start-up what of Tasker's schema the databases lack (the wrong
 * database named, or Tasker not migrated yet): steps cannot be hydrated or
 * reported without it. A warning, not a refusal: Tasker (or the demo's test
 * double) may install it after the broker started. Unreachable databases are
 * left to the broker's own retries.
 */
async function warnIfTaskerSchemaMissing(db: OpenedDatabase, log: JsonLogger): Promise<void> {
  let tasker: string[];
  let queue: string[];
  try {
    tasker = await missingObjects(db.tasker, TASKER_OBJECTS);
    queue = await missingObjects(db.queue, QUEUE_OBJECTS);
  } catch {
    return;
  }
  if (tasker.length === 0 && queue.length === 0) return;
  log.warn("Tasker's schema is missing here: no step can be claimed or reported until it exists", {
    code: "tasker_schema_missing",
    ...(tasker.length ? { missing_in_tasker_database: tasker } : {}),
    ...(queue.length ? { missing_in_queue_database: queue } : {}),
    hint: db.embedded
      ? "`deno task demo` installs the Tasker test double into the embedded database"
      : "point DATABASE_URL (and PGMQ_DATABASE_URL) at Tasker's databases, or install the test double with `deno task db:setup --tasker-double`",
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
