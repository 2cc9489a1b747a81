import assert from "node:assert/strict";
import { createJsonLogger } from "../telemetry/json_logger.ts";
import { MetricsRegistry } from "../telemetry/metrics_registry.ts";
import { type AdminAppOptions, createAdminApp, type HandlerInfo } from "./admin_app.ts";

const HANDLERS: HandlerInfo[] = [
  {
    name: "catalog.transform",
    version: "1.0.0",
    digest: "sha256:" + "a".repeat(64),
    capabilities: ["io", "log"],
    callables: ["catalog.transform", "catalog.transform@^1"],
  },
  {
    name: "catalog.http_request",
    version: "1.2.0",
    digest: "sha256:" + "b".repeat(64),
    capabilities: ["http", "io", "secrets"],
  },
];

function app(overrides: Partial<AdminAppOptions> = {}) {
  return createAdminApp({
    readiness: () =>
      Promise.resolve({
        checks: { database: { ok: true, latency_ms: 1.23456 }, sandboxes: { ok: true } },
      }),
    handlers: () => Promise.resolve(HANDLERS),
    metrics: new MetricsRegistry(),
    version: "0.1.0",
    ...overrides,
  });
}

Deno.test("GET /health/ready is 200 with the checks when every check passes", async () => {
  const response = await app().request("/health/ready");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /application\/json/);
  assert.deepEqual(await response.json(), {
    status: "ready",
    checks: { database: { ok: true, latency_ms: 1.235 }, sandboxes: { ok: true } },
  });
});

Deno.test("GET /health/ready is 503 naming the failing checks", async () => {
  const response = await app({
    readiness: () =>
      Promise.resolve({
        checks: {
          database: { ok: false, message: "connection refused" },
          sandboxes: { ok: true },
        },
      }),
  }).request("/health/ready");
  assert.equal(response.status, 503);
  assert.deepEqual(await response.json(), {
    status: "not_ready",
    failing: ["database"],
    checks: { database: { ok: false, message: "connection refused" }, sandboxes: { ok: true } },
  });
});

Deno.test("GET /health/ready is 503 when the readiness callback throws, without its text", async () => {
  const lines: string[] = [];
  const response = await app({
    readiness: () => Promise.reject(new Error("password=hunter2 rejected")),
    logger: createJsonLogger({ level: "debug", sink: (l) => lines.push(l) }),
  }).request("/health/ready");
  assert.equal(response.status, 503);
  const text = await response.text();
  assert.ok(!text.includes("hunter2"));
  assert.deepEqual(JSON.parse(text), {
    status: "not_ready",
    failing: ["readiness"],
    checks: { readiness: { ok: false, message: "readiness check failed" } },
  });
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]).msg, "readiness check failed");
});

Deno.test("GET /health/ready is 503 when the checks hang past the timeout", async () => {
  const response = await app({
    readiness: () => new Promise(() => {}),
    timeoutMs: 50,
  }).request("/health/ready");
  assert.equal(response.status, 503);
  const body = await response.json();
  assert.deepEqual(body.failing, ["readiness"]);
  assert.match(body.checks.readiness.message, /did not answer within 50 ms/);
});

Deno.test("readiness checks are passed on with only their documented fields, messages bounded", async () => {
  const response = await app({
    readiness: () =>
      Promise.resolve({
        checks: {
          // deno-lint-ignore no-explicit-any
          database: { ok: "yes", message: "x".repeat(2000), url: "postgres://u:pw@h" } as any,
          sandboxes: { ok: true, latency_ms: NaN },
        },
      }),
  }).request("/health/ready");
  assert.equal(response.status, 503); // "yes" is not true
  const body = await response.json();
  assert.equal(body.checks.database.url, undefined);
  assert.equal(body.checks.database.ok, false);
  assert.equal(body.checks.database.message.length, 501);
  assert.deepEqual(body.checks.sandboxes, { ok: true });
});

Deno.test("an empty checks report is ready", async () => {
  const response = await app({ readiness: () => Promise.resolve({ checks: {} }) })
    .request("/health/ready");
  assert.equal(response.status, 200);
});

Deno.test("GET /health summarizes: healthy, degraded when not ready, 503 unhealthy when not live", async () => {
  let clock = 0;
  const healthy = await app({ now: () => clock }).request("/health");
  assert.equal(healthy.status, 200);
  const body = await healthy.json();
  assert.equal(body.status, "healthy");
  assert.equal(body.ready, true);
  assert.equal(body.live, true);
  assert.equal(body.version, "0.1.0");
  assert.equal(body.uptime_seconds, 0);

  const a = app({
    now: () => clock,
    readiness: () => Promise.resolve({ checks: { database: { ok: false } } }),
  });
  clock = 65_400;
  const degraded = await a.request("/health");
  assert.equal(degraded.status, 200);
  const d = await degraded.json();
  assert.equal(d.status, "degraded");
  assert.equal(d.uptime_seconds, 65);

  const dead = await app({ liveness: () => false }).request("/health");
  assert.equal(dead.status, 503);
  assert.equal((await dead.json()).status, "unhealthy");
});

Deno.test("GET /health/live is 200 while alive, 503 when the liveness callback says no or throws", async () => {
  const alive = await app().request("/health/live");
  assert.equal(alive.status, 200);
  assert.deepEqual(await alive.json(), { status: "alive" });

  const stalled = await app({
    liveness: () => ({ alive: false, message: "loop stalled for 61 s" }),
  }).request("/health/live");
  assert.equal(stalled.status, 503);
  assert.deepEqual(await stalled.json(), { status: "dead", message: "loop stalled for 61 s" });

  const throwing = await app({
    liveness: () => {
      throw new Error("secret internals");
    },
  }).request("/health/live");
  assert.equal(throwing.status, 503);
  assert.ok(!(await throwing.text()).includes("secret internals"));
});

Deno.test("GET /metrics serves the registry in the Prometheus text format", async () => {
  const metrics = new MetricsRegistry();
  metrics.counter({ name: "tasker.steps.claimed.total", help: "h", labelNames: ["claim_method"] })
    .inc({ claim_method: "event" });
  const response = await app({ metrics }).request("/metrics");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await response.text();
  assert.ok(text.includes('tasker_steps_claimed_total{claim_method="event"} 1\n'));
  assert.ok(text.includes("# TYPE tasker_steps_claimed_total counter\n"));
});

Deno.test("GET /v1/handlers lists the served handlers with only their public fields", async () => {
  const response = await app({
    handlers: () =>
      Promise.resolve([{ ...HANDLERS[1], manifest_secret: "do-not-show" } as HandlerInfo]),
  }).request("/v1/handlers");
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {
    handlers: [{
      name: "catalog.http_request",
      version: "1.2.0",
      digest: "sha256:" + "b".repeat(64),
      capabilities: ["http", "io", "secrets"],
    }],
  });
  const all = await (await app().request("/v1/handlers")).json();
  assert.deepEqual(all.handlers[0].callables, ["catalog.transform", "catalog.transform@^1"]);
});

Deno.test("a failing route answers 500 JSON without the error's text or stack, and logs it", async () => {
  const lines: string[] = [];
  const response = await app({
    handlers: () => Promise.reject(new Error("registry at /secret/path is broken")),
    logger: createJsonLogger({ level: "debug", sink: (l) => lines.push(l) }),
  }).request("/v1/handlers");
  assert.equal(response.status, 500);
  const text = await response.text();
  assert.deepEqual(JSON.parse(text), { error: { code: "internal", message: "Internal error" } });
  assert.ok(!text.includes("/secret/path"));
  assert.ok(!text.includes("at "));
  const logged = JSON.parse(lines[0]);
  assert.equal(logged.msg, "admin request failed");
  assert.equal(logged.path, "/v1/handlers");
  assert.match(logged.error.stack, /registry at/);

  const slow = await app({ handlers: () => new Promise(() => {}), timeoutMs: 30 })
    .request("/v1/handlers");
  assert.equal(slow.status, 503);
  assert.equal((await slow.json()).error.code, "timeout");
});

Deno.test("a metrics registry that throws gives 500, not a stack", async () => {
  const metrics = new MetricsRegistry();
  metrics.render = () => Promise.reject(new Error("boom"));
  const response = await app({ metrics }).request("/metrics");
  assert.equal(response.status, 500);
  assert.equal((await response.json()).error.code, "internal");
});

Deno.test("anything else is a JSON 404, including other methods on known paths", async () => {
  const a = app();
  for (const [method, path] of [["GET", "/nope"], ["POST", "/metrics"], ["DELETE", "/health"]]) {
    const response = await a.request(path, { method });
    assert.equal(response.status, 404, `${method} ${path}`);
    assert.deepEqual(await response.json(), {
      error: { code: "not_found", message: `No route for ${method} ${path}` },
    });
  }
});
