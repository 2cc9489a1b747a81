/**
 * The broker's admin HTTP API (hono): health, readiness, liveness,
 * Prometheus metrics and the handlers it serves. Tasker's workers answer the
 * same paths on port 8081, so probes and scrape configs carry over.
 *
 * | route              | answer |
 * | ------------------ | ------ |
 * | `GET /health`      | 200 summary (`healthy` / `degraded`); 503 only when not live |
 * | `GET /health/ready`| 200 when every readiness check passes, else 503 with the failing ones |
 * | `GET /health/live` | 200 while the broker's loop is alive, else 503 |
 * | `GET /metrics`     | Prometheus text format 0.0.4 |
 * | `GET /v1/handlers` | the handlers served: name, version, digest, capabilities |
 * | anything else      | 404 JSON |
 *
 * Errors answer `{"error":{"code","message"}}` with a fixed message; stack
 * traces and exception text go to the logger, never into a response.
 *
 * @module
 */
import { Hono } from "hono";
import type { JsonLogger } from "../telemetry/json_logger.ts";
import { type MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from "../telemetry/metrics_registry.ts";

/** One readiness check (e.g. `database`, `sandboxes`). */
export interface ReadinessCheck {
  ok: boolean;
  /** Why it fails (or a short status); must not contain secrets. */
  message?: string;
  /** How long the check took. */
  latency_ms?: number;
}

/** What the broker reports for `/health/ready`. */
export interface ReadinessReport {
  /** Named checks; the broker is ready when every one is ok. */
  checks: Record<string, ReadinessCheck>;
}

/** What the broker reports for `/health/live`. */
export interface LivenessReport {
  alive: boolean;
  message?: string;
}

/** A handler (guest) the broker serves. */
export interface HandlerInfo {
  /** Registry name, e.g. `catalog.transform`. */
  name: string;
  version: string;
  /** `sha256:<hex>` of the module. */
  digest: string;
  /** Capabilities its manifest grants. */
  capabilities: string[];
  /** The `handler.callable` values that resolve to it, when known. */
  callables?: string[];
}

/** Options for {@link createAdminApp}. */
export interface AdminAppOptions {
  /** Runs the readiness checks (database reachable, sandboxes warm, ...). */
  readiness: () => Promise<ReadinessReport>;
  /** Lists the served handlers. */
  handlers: () => Promise<HandlerInfo[]>;
  metrics: MetricsRegistry;
  /**
   * Whether the broker's loop is alive (e.g. its last iteration is recent).
   * Default: alive whenever the server can answer.
   */
  liveness?: () => boolean | LivenessReport;
  /** Shown by `/health`. */
  version?: string;
  /** Longest a readiness or handlers call may take before it counts as failed. Default 2000 ms. */
  timeoutMs?: number;
  /** Where failures are logged (with their stack). Default: not logged. */
  logger?: JsonLogger;
  /** Clock for uptime, ms. Default `performance.now`. */
  now?: () => number;
}

/** Longest check message passed on, in characters. */
const MAX_MESSAGE = 500;

/**
 * Builds the admin app. Serve it with `startAdminServer`, or call
 * `app.request(path)` in tests.
 *
 * @example
 * ```ts
 * import { createAdminApp } from "./admin_app.ts";
 * import { MetricsRegistry } from "../telemetry/metrics_registry.ts";
 *
 * let databaseUp = false;
 * const app = createAdminApp({
 *   readiness: () => Promise.resolve({ checks: { database: { ok: databaseUp } } }),
 *   handlers: () => Promise.resolve([]),
 *   metrics: new MetricsRegistry(),
 * });
 * console.assert((await app.request("/health/ready")).status === 503);
 * databaseUp = true;
 * console.assert((await app.request("/health/ready")).status === 200);
 * ```
 */
export function createAdminApp(options: AdminAppOptions): Hono {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const timeoutMs = options.timeoutMs ?? 2000;
  const logger = options.logger;
  const app = new Hono();

  const live = (): LivenessReport => {
    if (!options.liveness) return { alive: true };
    try {
      const report = options.liveness();
      return typeof report === "boolean" ? { alive: report } : report;
    } catch (error) {
      logger?.error("liveness check threw", { error });
      return { alive: false, message: "liveness check failed" };
    }
  };

  const ready = async (): Promise<{ ready: boolean; checks: Record<string, ReadinessCheck> }> => {
    let report: ReadinessReport;
    try {
      report = await withTimeout(options.readiness(), timeoutMs, "readiness");
    } catch (error) {
      logger?.error("readiness check failed", { error });
      const message = error instanceof TimeoutError ? error.message : "readiness check failed";
      return { ready: false, checks: { readiness: { ok: false, message } } };
    }
    const checks = cleanChecks(report?.checks);
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  };

  app.get("/health", async (c) => {
    const liveness = live();
    const readiness = await ready();
    const body = {
      status: !liveness.alive ? "unhealthy" : readiness.ready ? "healthy" : "degraded",
      live: liveness.alive,
      ready: readiness.ready,
      version: options.version,
      uptime_seconds: Math.round((now() - started) / 1000),
      checks: readiness.checks,
    };
    return c.json(body, liveness.alive ? 200 : 503);
  });

  app.get("/health/ready", async (c) => {
    const readiness = await ready();
    if (readiness.ready) return c.json({ status: "ready", checks: readiness.checks }, 200);
    const failing = Object.entries(readiness.checks).filter(([, v]) => !v.ok).map(([k]) => k);
    return c.json({ status: "not_ready", failing, checks: readiness.checks }, 503);
  });

  app.get("/health/live", (c) => {
    const liveness = live();
    if (liveness.alive) return c.json({ status: "alive" }, 200);
    return c.json({ status: "dead", message: cutMessage(liveness.message) }, 503);
  });

  app.get("/metrics", async (c) => {
    const text = await options.metrics.render();
    return c.body(text, 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
  });

  app.get("/v1/handlers", async (c) => {
    const handlers = await withTimeout(options.handlers(), timeoutMs, "handlers");
    return c.json({
      handlers: handlers.map((h) => ({
        name: h.name,
        version: h.version,
        digest: h.digest,
        capabilities: [...h.capabilities],
        ...(h.callables ? { callables: [...h.callables] } : {}),
      })),
    });
  });

  app.notFound((c) =>
    c.json({
      error: {
        code: "not_found",
        message: `No route for ${c.req.method} ${c.req.path.slice(0, 200)}`,
      },
    }, 404)
  );

  app.onError((error, c) => {
    logger?.error("admin request failed", { method: c.req.method, path: c.req.path, error });
    if (error instanceof TimeoutError) {
      return c.json({ error: { code: "timeout", message: error.message } }, 503);
    }
    return c.json({ error: { code: "internal", message: "Internal error" } }, 500);
  });

  return app;
}

/** Only the documented fields of each check, with bounded messages. */
function cleanChecks(checks: unknown): Record<string, ReadinessCheck> {
  const out: Record<string, ReadinessCheck> = {};
  if (!checks || typeof checks !== "object") return out;
  for (const [name, raw] of Object.entries(checks as Record<string, unknown>)) {
    const check = (raw ?? {}) as Partial<ReadinessCheck>;
    const clean: ReadinessCheck = { ok: check.ok === true };
    const message = cutMessage(check.message);
    if (message !== undefined) clean.message = message;
    if (typeof check.latency_ms === "number" && Number.isFinite(check.latency_ms)) {
      clean.latency_ms = Math.round(check.latency_ms * 1000) / 1000;
    }
    out[name] = clean;
  }
  return out;
}

function cutMessage(message: unknown): string | undefined {
  if (typeof message !== "string") return undefined;
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
}

class TimeoutError extends Error {}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new TimeoutError(`${what} did not answer within ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
