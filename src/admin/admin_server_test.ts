import assert from "node:assert/strict";
import { MetricsRegistry } from "../telemetry/metrics_registry.ts";
import { createWorkerMetrics } from "../telemetry/worker_metrics.ts";
import { createAdminApp } from "./admin_app.ts";
import { startAdminServer } from "./admin_server.ts";

Deno.test("startAdminServer() serves the admin app over real HTTP on a free port", async () => {
  const registry = new MetricsRegistry();
  const metrics = createWorkerMetrics(registry, {
    queueDepth: () =>
      Promise.resolve([{ namespace: "catalog", queue: "worker_catalog_queue", depth: 4 }]),
  });
  metrics.recordClaim({ namespace: "catalog", claim_method: "poll" }, 2);
  let databaseUp = true;
  const server = startAdminServer(
    createAdminApp({
      readiness: () =>
        Promise.resolve({
          checks: {
            database: databaseUp ? { ok: true } : { ok: false, message: "connection refused" },
          },
        }),
      handlers: () => Promise.resolve([]),
      metrics: registry,
    }),
    { port: 0 },
  );
  try {
    assert.ok(server.port > 0);
    assert.equal(server.url, `http://127.0.0.1:${server.port}`);

    const scrape = await fetch(`${server.url}/metrics`);
    assert.equal(scrape.status, 200);
    assert.equal(scrape.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await scrape.text();
    assert.ok(
      text.includes('tasker_steps_claimed_total{namespace="catalog",claim_method="poll"} 1'),
    );
    assert.ok(
      text.includes('tasker_queue_depth{namespace="catalog",queue="worker_catalog_queue"} 4'),
    );

    const ready = await fetch(`${server.url}/health/ready`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    databaseUp = false;
    const notReady = await fetch(`${server.url}/health/ready`);
    assert.equal(notReady.status, 503);
    assert.deepEqual((await notReady.json()).failing, ["database"]);

    const missing = await fetch(`${server.url}/x`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await server.shutdown();
    await server.shutdown(); // idempotent
  }
  await server.finished;
  await assert.rejects(fetch(`${server.url}/health/live`));
});

Deno.test("startAdminServer() reports a taken port with Deno's error class", async () => {
  const first = startAdminServer({ fetch: () => new Response("first") }, { port: 0 });
  try {
    assert.throws(
      () => startAdminServer({ fetch: () => new Response("second") }, { port: first.port }),
      (error: unknown) =>
        error instanceof Deno.errors.AddrInUse &&
        error.message.includes(`127.0.0.1:${first.port}`),
    );
  } finally {
    await first.shutdown();
  }
});

Deno.test("startAdminServer() refuses a port outside 0..65535", () => {
  for (const port of [-1, 65536, 1.5, NaN]) {
    assert.throws(() => startAdminServer({ fetch: () => new Response() }, { port }), RangeError);
  }
});
