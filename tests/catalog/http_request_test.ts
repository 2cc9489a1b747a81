/**
 * The `http_request` catalog handler against a real loopback server, in
 * both builds: the wasm build through a Runtime with the built-in plugins
 * (the `http` capability's policy, name checks, secret placeholders) and
 * the native build with `fetch`. Where both can run a case they must agree.
 */
import assert from "node:assert/strict";
import { mapSecretSource } from "../../plugins/secrets/mod.ts";
import {
  CatalogHttpServer,
  closedPort,
  type Comparable,
  fromNative,
  fromWasm,
  handlerBinary,
  loopbackManifest,
  wasmRunner,
} from "./_http_catalog_server.ts";

import { runNativeHttp } from "../../catalog/native/native_http.ts";
import { finishRequest, planRequest } from "../../catalog/handlers/http_request/http_request.ts";
import { createRuntime } from "../../src/create_runtime.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { builtinPlugins } from "../../plugins/builtin_plugins.ts";

const TOKEN = "tok-5b1e7d93c0a4";
// Every request of the wasm build is bounded by it, not only the slow ones: far above what a
// loopback request takes on a loaded machine, well below the slow endpoint's 3 s.
const TIMEOUT_MS = 1_000;

interface Fixture {
  server: CatalogHttpServer;
  wasm: (envelope: unknown) => Promise<Comparable>;
  native: (envelope: unknown) => Promise<Comparable>;
  both: (envelope: unknown) => Promise<Comparable>;
}

/** A server, the wasm build allowed to reach it (and a closed port), and the native build. */
async function withFixture(
  fn: (f: Fixture) => Promise<void>,
  http: Record<string, unknown> = {},
  extraOrigins: string[] = [],
): Promise<void> {
  const server = new CatalogHttpServer();
  server.token = TOKEN;
  try {
    const manifest = await loopbackManifest("http_request", [server.origin, ...extraOrigins], {
      timeout_ms: TIMEOUT_MS,
      ...http,
    });
    const run = await wasmRunner("http_request", manifest, {
      secrets: mapSecretSource({ API_TOKEN: TOKEN }),
    });
    const wasm = async (envelope: unknown) => fromWasm(await run(envelope));
    const native = async (envelope: unknown) =>
      fromNative(await runNativeHttp(planRequest, finishRequest, JSON.stringify(envelope)));
    const both = async (envelope: unknown) => {
      const [w, n] = [await wasm(envelope), await native(envelope)];
      assert.deepEqual(w, n, "the wasm and native builds disagree");
      return w;
    };
    await fn({ server, wasm, native, both });
  } finally {
    await server.close();
  }
}

function failure(outcome: Comparable) {
  assert.ok(!outcome.ok, `expected a failure, got ${JSON.stringify(outcome)}`);
  return outcome as Extract<Comparable, { ok: false }>;
}

Deno.test("http_request renders the URL, query and header templates into the request it sends", async () => {
  await withFixture(async ({ server, both }) => {
    const outcome = await both({
      context: { user: { id: 42 }, search: "café & crème", tags: ["a", "b"] },
      deps: { auth: { tenant: "t-9" } },
      step: { name: "lookup", attempts: 2 },
      config: {
        url: `${server.origin}/echo?fixed=1`,
        query: { q: "${context.search}", tags: "${context.tags}", "odd name": "x/y" },
        headers: {
          "X-Tenant": "${steps.auth.result.tenant}",
          "X-Attempt": "${step.name}#${step.attempts}",
          Accept: "application/json",
        },
        response_extract: '.body | {method, query, tenant: .headers["x-tenant"], ' +
          'attempt: .headers["x-attempt"], accept: .headers.accept}',
      },
    });
    assert.deepEqual(outcome, {
      ok: true,
      result: {
        method: "GET",
        query:
          "?fixed=1&q=caf%C3%A9%20%26%20cr%C3%A8me&tags=%5B%22a%22%2C%22b%22%5D&odd%20name=x%2Fy",
        tenant: "t-9",
        attempt: "lookup#2",
        accept: "application/json",
      },
    });
    const sent = new URL(server.seen[0].url).searchParams;
    assert.equal(sent.get("q"), "café & crème");
    assert.equal(sent.get("tags"), '["a","b"]');
    assert.equal(sent.get("odd name"), "x/y");
  });
});

Deno.test("http_request sends a JSON body template with its types and returns {status, body}", async () => {
  await withFixture(async ({ server, both }) => {
    const outcome = await both({
      context: { order: { id: 7, total: 12.5, lines: [{ sku: "a" }] } },
      config: {
        url: `${server.origin}/echo`,
        method: "POST",
        body: {
          id: "${context.order.id}",
          total: "${context.order.total}",
          note: "order ${context.order.id}",
          lines: "${context.order.lines}",
        },
      },
    });
    assert.ok(outcome.ok);
    const { status, body } = outcome.result as {
      status: number;
      body: { method: string; headers: Record<string, string>; body: string };
    };
    assert.equal(status, 200);
    assert.equal(body.method, "POST");
    assert.equal(body.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(body.body), {
      id: 7,
      total: 12.5,
      note: "order 7",
      lines: [{ sku: "a" }],
    });
  });
});

Deno.test("http_request fails a 404 permanently with the status and a body excerpt", async () => {
  await withFixture(async ({ server, both }) => {
    const f = failure(
      await both({ config: { url: `${server.origin}/respond?status=404&body=no%20such%20item` } }),
    );
    assert.equal(f.code, "http_status");
    assert.equal(f.retryable, false);
    assert.deepEqual(f.details, {
      status: 404,
      method: "GET",
      url: `${server.origin}/respond?status=404&body=no%20such%20item`,
      body_excerpt: "no such item",
    });
  });
});

Deno.test("http_request fails a 429 with Retry-After as retryable with a RateLimit backoff hint", async () => {
  await withFixture(async ({ server, both }) => {
    const f = failure(
      await both({ config: { url: `${server.origin}/respond?status=429&retry_after=30` } }),
    );
    assert.equal(f.code, "http_status");
    assert.equal(f.retryable, true);
    assert.deepEqual((f.details as Record<string, unknown>).backoff_hint, {
      backoff_type: "RateLimit",
      delay_seconds: 30,
    });
  });
});

Deno.test("http_request fails a 503 as retryable, with a ServerRequested hint from a Retry-After date", async () => {
  await withFixture(async ({ server, both }) => {
    const plain = failure(await both({ config: { url: `${server.origin}/respond?status=503` } }));
    assert.equal(plain.code, "http_status");
    assert.equal(plain.retryable, true);
    assert.equal((plain.details as Record<string, unknown>).backoff_hint, undefined);
    const query = new URLSearchParams({
      status: "503",
      retry_after: "Wed, 21 Oct 2015 07:28:45 GMT",
      date: "Wed, 21 Oct 2015 07:28:00 GMT",
    });
    const dated = failure(await both({ config: { url: `${server.origin}/respond?${query}` } }));
    assert.equal(dated.retryable, true);
    assert.deepEqual((dated.details as Record<string, unknown>).backoff_hint, {
      backoff_type: "ServerRequested",
      delay_seconds: 45,
    });
  });
});

Deno.test("http_request accepts the statuses expected_status lists", async () => {
  await withFixture(async ({ server, both }) => {
    const outcome = await both({
      config: {
        url: `${server.origin}/respond?status=404&body=gone`,
        expected_status: [404, "2xx"],
      },
    });
    assert.deepEqual(outcome, { ok: true, result: { status: 404, body: "gone" } });
  });
});

Deno.test("http_request fails a request slower than its timeout as retryable http_timeout", async () => {
  await withFixture(async ({ server, both }) => {
    // The wasm build's deadline is capabilities.http.timeout_ms; the test sets both to TIMEOUT_MS.
    const f = failure(
      await both({ config: { url: `${server.origin}/slow?ms=3000`, timeout_ms: TIMEOUT_MS } }),
    );
    assert.equal(f.code, "http_timeout");
    assert.equal(f.retryable, true);
    assert.equal((f.details as Record<string, unknown>).host_code, "timeout");
  });
});

Deno.test("http_request fails a refused connection as retryable http_unavailable", async () => {
  const port = closedPort();
  await withFixture(
    async ({ both }) => {
      const f = failure(await both({ config: { url: `http://127.0.0.1:${port}/x` } }));
      assert.equal(f.code, "http_unavailable");
      assert.equal(f.retryable, true);
      assert.equal((f.details as Record<string, unknown>).host_code, "network_error");
    },
    {},
    [`http://127.0.0.1:${port}`],
  );
});

Deno.test("http_request extracts from {status, headers, body} with response_extract", async () => {
  await withFixture(async ({ server, both }) => {
    const query = new URLSearchParams({
      ctype: "application/json; charset=utf-8",
      body: JSON.stringify({ items: [{ id: 1 }, { id: 2 }], next: null }),
      header: "x-total:2",
    });
    const outcome = await both({
      config: {
        url: `${server.origin}/respond?${query}`,
        response_extract:
          '{ids: [.body.items[].id], total: (.headers["x-total"] | tonumber), status}',
      },
    });
    assert.deepEqual(outcome, { ok: true, result: { ids: [1, 2], total: 2, status: 200 } });
    const bad = failure(
      await both({
        config: { url: `${server.origin}/respond?${query}`, response_extract: ".body.items[]" },
      }),
    );
    assert.equal(bad.code, "jq_cardinality");
  });
});

Deno.test("http_request returns a body that is not UTF-8 as body_base64", async () => {
  await withFixture(async ({ server, both }) => {
    assert.deepEqual(await both({ config: { url: `${server.origin}/binary` } }), {
      ok: true,
      result: { status: 200, body: null, body_base64: "/wD+gA==" },
    });
  });
});

Deno.test("http_request refuses a response over the size cap in both builds", async () => {
  await withFixture(async ({ server, both }) => {
    const f = failure(
      await both({ config: { url: `${server.origin}/sized?n=${1024 * 1024 + 1}` } }),
    );
    assert.equal(f.code, "http_denied");
    assert.equal((f.details as Record<string, unknown>).host_code, "too_large");
  });
});

Deno.test("http_request parses a response near the 1 MiB cap within the catalog manifest's memory limit", async () => {
  await withFixture(async ({ server, wasm }) => {
    const n = 30_000;
    const size = (await (await fetch(server.url(`/items?n=${n}`))).arrayBuffer()).byteLength;
    assert.ok(size > 900_000 && size <= 1024 * 1024, `${size} bytes`);
    const outcome = await wasm({
      config: { url: server.url(`/items?n=${n}`), response_extract: ".body.items | length" },
    });
    assert.deepEqual(outcome, { ok: true, result: n });
    const raw = await wasm({ config: { url: server.url(`/sized?n=${1024 * 1024}`) } });
    assert.equal(raw.ok, true, JSON.stringify(raw).slice(0, 300));
  });
});

Deno.test("http_request substitutes ${secrets.NAME} on the host side and never returns the value", async () => {
  await withFixture(async ({ server, wasm }) => {
    const outcome = await wasm({
      config: {
        url: `${server.origin}/secure`,
        headers: { Authorization: "Bearer ${secrets.API_TOKEN}" },
        include_headers: true,
      },
    });
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.deepEqual((outcome as { result: { body: unknown } }).result.body, { authorized: true });
    assert.equal(server.seen[0].headers.authorization, `Bearer ${TOKEN}`);
    assert.ok(!JSON.stringify(outcome).includes(TOKEN));
  }, { secrets: ["API_TOKEN"] });
});

Deno.test("http_request fails with secret_leak when the server echoes a substituted secret", async () => {
  await withFixture(async ({ server, wasm }) => {
    const outcome = await wasm({
      config: {
        url: `${server.origin}/echo`,
        headers: { Authorization: "Bearer ${secrets.API_TOKEN}" },
        response_extract: ".status",
      },
    });
    const f = failure(outcome);
    assert.equal(f.code, "secret_leak");
    assert.equal(f.retryable, false);
    assert.equal(server.seen.length, 1);
    assert.ok(!JSON.stringify(outcome).includes(TOKEN));
  }, { secrets: ["API_TOKEN"] });
});

Deno.test("http_request fails http_denied when a placeholder names a secret the manifest does not declare", async () => {
  await withFixture(async ({ server, wasm }) => {
    const f = failure(
      await wasm({
        config: {
          url: `${server.origin}/secure`,
          headers: { Authorization: "Bearer ${secrets.API_TOKEN}" },
        },
      }),
    );
    assert.equal(f.code, "http_denied");
    assert.equal((f.details as Record<string, unknown>).host_code, "secret_undeclared");
    assert.equal(server.seen.length, 0);
  });
});

Deno.test("http_request fails template_injection when data carries a secret placeholder", async () => {
  await withFixture(async ({ server, both }) => {
    const f = failure(
      await both({
        context: { note: "${secrets.API_TOKEN}" },
        config: { url: `${server.origin}/echo`, method: "POST", body: { note: "${context.note}" } },
      }),
    );
    assert.equal(f.code, "template_injection");
    assert.equal(server.seen.length, 0);
  }, { secrets: ["API_TOKEN"] });
});

Deno.test("http_request fails a URL outside the allowlist as permanent http_denied", async () => {
  await withFixture(async ({ server, wasm }) => {
    for (
      const [url, hostCode] of [
        ["http://127.0.0.2:80/", "host_denied"],
        [`http://127.0.0.1:${closedPort()}/`, "port_denied"],
        ["https://example.com/", "host_denied"],
      ]
    ) {
      const f = failure(await wasm({ config: { url } }));
      assert.equal(f.code, "http_denied", url);
      assert.equal(f.retryable, false);
      assert.equal((f.details as Record<string, unknown>).host_code, hostCode, url);
    }
    const method = failure(
      await wasm({ config: { url: `${server.origin}/echo`, method: "DELETE" } }),
    );
    assert.equal((method.details as Record<string, unknown>).host_code, "method_denied");
    assert.equal(server.seen.length, 0);
  }, { methods: ["GET"] });
});

Deno.test("http_request under its catalog manifest reaches no host at all", async () => {
  const server = new CatalogHttpServer();
  try {
    const manifest = JSON.parse(
      await Deno.readTextFile(
        new URL("../../catalog/handlers/http_request/manifest.json", import.meta.url),
      ),
    );
    const runtime = new Runtime({ plugins: builtinPlugins() });
    const guest = await runtime.load(await handlerBinary("http_request"), manifest);
    const f = failure(
      fromWasm(await runtime.execute(guest, { config: { url: server.url("/echo") } })),
    );
    assert.equal(f.code, "http_denied");
    assert.equal((f.details as Record<string, unknown>).host_code, "host_denied");
    assert.equal(server.seen.length, 0);
  } finally {
    await server.close();
  }
});

Deno.test("http_request reports an invalid config identically in both builds", async () => {
  await withFixture(async ({ both }) => {
    const f = failure(await both({ config: { url: "http://x/", method: "FETCH", extra: 1 } }));
    assert.equal(f.code, "config_invalid");
    const errors = (f.details as { errors: unknown[] }).errors;
    assert.equal(errors.length, 2);
  });
});

Deno.test("http_request runs in a sandbox process with host-side secrets and loopback granted", async () => {
  const server = new CatalogHttpServer();
  server.token = TOKEN;
  const runtime = createRuntime({ secrets: { API_TOKEN: TOKEN } });
  try {
    const manifest = await loopbackManifest("http_request", [server.origin], {
      secrets: ["API_TOKEN"],
    });
    const guest = await runtime.load(await handlerBinary("http_request"), manifest, {
      name: "http_request",
    });
    const headers = { Authorization: "Bearer ${secrets.API_TOKEN}" };
    const authorized = fromWasm(
      await runtime.execute(guest, {
        config: { url: server.url("/secure"), headers, response_extract: ".body" },
      }),
    );
    assert.deepEqual(authorized, { ok: true, result: { authorized: true } });
    const leaked = failure(
      fromWasm(await runtime.execute(guest, { config: { url: server.url("/echo"), headers } })),
    );
    assert.equal(leaked.code, "secret_leak");
    assert.ok(!JSON.stringify(leaked).includes(TOKEN));
    assert.equal(server.seen.length, 2);
  } finally {
    await runtime.close();
    await server.close();
  }
});

Deno.test("http_request fails retryable http_rate_limited when the capability's rate limit is reached", async () => {
  await withFixture(async ({ server, wasm }) => {
    const envelope = { config: { url: `${server.origin}/respond?status=204` } };
    assert.deepEqual(await wasm(envelope), { ok: true, result: { status: 204, body: "" } });
    const f = failure(await wasm(envelope));
    assert.equal(f.code, "http_rate_limited");
    assert.equal(f.retryable, true);
    assert.equal((f.details as Record<string, unknown>).host_code, "rate_limited");
    assert.equal(server.seen.length, 1);
  }, { rate_limit: { requests: 1, per_ms: 3_600_000 } });
});
