/**
 * The `notify` catalog handler against a real loopback server, in both
 * builds (wasm through the `http` capability, native with `fetch`).
 */
import assert from "node:assert/strict";
import { mapSecretSource } from "../../plugins/secrets/mod.ts";
import {
  CatalogHttpServer,
  type Comparable,
  fromNative,
  fromWasm,
  handlerBinary,
  loopbackManifest,
  wasmRunner,
} from "./_http_catalog_server.ts";

import { runNativeHttp } from "../../catalog/native/native_http.ts";
import { finishNotify, planNotify } from "../../catalog/handlers/notify/notify.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { builtinPlugins } from "../../plugins/builtin_plugins.ts";

const HOOK_PATH = "T-9f8e7d6c5b4a";

interface Fixture {
  server: CatalogHttpServer;
  wasm: (envelope: unknown) => Promise<Comparable>;
  both: (envelope: unknown) => Promise<Comparable>;
}

async function withFixture(
  fn: (f: Fixture) => Promise<void>,
  http: Record<string, unknown> = {},
): Promise<void> {
  const server = new CatalogHttpServer();
  try {
    const run = await wasmRunner(
      "notify",
      await loopbackManifest("notify", [server.origin], http),
      { secrets: mapSecretSource({ HOOK_PATH }) },
    );
    const wasm = async (envelope: unknown) => fromWasm(await run(envelope));
    const both = async (envelope: unknown) => {
      const w = await wasm(envelope);
      const n = fromNative(await runNativeHttp(planNotify, finishNotify, JSON.stringify(envelope)));
      assert.deepEqual(w, n, "the wasm and native builds disagree");
      return w;
    };
    await fn({ server, wasm, both });
  } finally {
    await server.close();
  }
}

function failure(outcome: Comparable) {
  assert.ok(!outcome.ok, `expected a failure, got ${JSON.stringify(outcome)}`);
  return outcome as Extract<Comparable, { ok: false }>;
}

Deno.test("notify POSTs the rendered JSON body and reports delivery", async () => {
  await withFixture(async ({ server, both }) => {
    const outcome = await both({
      context: { order: { id: "ord-7", total: 12.5 } },
      deps: { ship: { carrier: "DHL" } },
      config: {
        url: `${server.origin}/echo/hook`,
        headers: { "X-Event": "order.${context.order.id}" },
        body: {
          text: "Order ${context.order.id} via ${deps.ship.carrier}",
          total: "${context.order.total}",
        },
      },
    });
    assert.deepEqual(outcome, { ok: true, result: { delivered: true, status: 200 } });
    assert.equal(server.seen.length, 2);
    for (const seen of server.seen) {
      assert.equal(seen.method, "POST");
      assert.equal(seen.headers["content-type"], "application/json");
      assert.equal(seen.headers["x-event"], "order.ord-7");
      assert.deepEqual(JSON.parse(seen.body), { text: "Order ord-7 via DHL", total: 12.5 });
    }
  });
});

Deno.test("notify fails a 5xx as retryable and a 4xx as permanent", async () => {
  await withFixture(async ({ server, both }) => {
    const down = failure(
      await both({ config: { url: `${server.origin}/respond?status=502`, body: {} } }),
    );
    assert.equal(down.code, "http_status");
    assert.equal(down.retryable, true);
    const gone = failure(
      await both({ config: { url: `${server.origin}/respond?status=410`, body: {} } }),
    );
    assert.equal(gone.code, "http_status");
    assert.equal(gone.retryable, false);
    const limited = failure(
      await both({
        config: { url: `${server.origin}/respond?status=429&retry_after=12`, body: {} },
      }),
    );
    assert.deepEqual((limited.details as Record<string, unknown>).backoff_hint, {
      backoff_type: "RateLimit",
      delay_seconds: 12,
    });
    const accepted = await both({
      config: { url: `${server.origin}/respond?status=410`, body: {}, expected_status: [410] },
    });
    assert.deepEqual(accepted, { ok: true, result: { delivered: true, status: 410 } });
  });
});

Deno.test("notify puts a secret into the webhook URL on the host side only", async () => {
  await withFixture(async ({ server, wasm }) => {
    const outcome = await wasm({
      config: {
        url: `${server.origin}/respond/\${secrets.HOOK_PATH}?status=204`,
        body: { ok: true },
      },
    });
    assert.deepEqual(outcome, { ok: true, result: { delivered: true, status: 204 } });
    assert.equal(new URL(server.seen[0].url).pathname, `/respond/${HOOK_PATH}`);
    assert.ok(!JSON.stringify(outcome).includes(HOOK_PATH));
  }, { secrets: ["HOOK_PATH"] });
});

Deno.test("notify under its catalog manifest reaches no host", async () => {
  const server = new CatalogHttpServer();
  try {
    const manifest = JSON.parse(
      await Deno.readTextFile(
        new URL("../../catalog/handlers/notify/manifest.json", import.meta.url),
      ),
    );
    const runtime = new Runtime({ plugins: builtinPlugins() });
    const guest = await runtime.load(await handlerBinary("notify"), manifest);
    const f = failure(
      fromWasm(await runtime.execute(guest, { config: { url: server.url("/echo"), body: {} } })),
    );
    assert.equal(f.code, "http_denied");
    assert.equal(f.retryable, false);
    assert.equal(server.seen.length, 0);
  } finally {
    await server.close();
  }
});

Deno.test("notify fails template_missing before sending anything", async () => {
  await withFixture(async ({ server, both }) => {
    const f = failure(
      await both({
        context: {},
        config: { url: `${server.origin}/echo`, body: { id: "${context.order.id}" } },
      }),
    );
    assert.equal(f.code, "template_missing");
    assert.deepEqual(f.details, { field: "config.body.id", path: "context.order.id" });
    assert.equal(server.seen.length, 0);
  });
});
