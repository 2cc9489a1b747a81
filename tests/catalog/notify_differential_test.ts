// The notify handler's wasm build against its native build on generated
// envelopes, configs (valid and invalid) and webhook behaviours: both POST to
// the same loopback server and must give the same result or the same coded
// failure, message and details included.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CatalogHttpServer,
  closedPort,
  fromNative,
  fromWasm,
  loopbackManifest,
  wasmRunner,
} from "./_http_catalog_server.ts";

import { runNativeHttp } from "../../catalog/native/native_http.ts";
import { finishNotify, planNotify } from "../../catalog/handlers/notify/notify.ts";

/** The value type an arbitrary generates. */
type Arb<A> = A extends fc.Arbitrary<infer T> ? T : never;

// Every request of the wasm build is bounded by it, not only the slow ones: far above what a
// loopback request takes on a loaded machine, well below the slow endpoint's 3 s.
const TIMEOUT_MS = 1_000;
const RUNS = 300;

const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom("${secrets.HOOK}", "$${x}", "") },
);
const envelope = fc.record({
  context: fc.record({
    event: text,
    id: fc.integer({ min: 0, max: 9999 }),
    payload: fc.jsonValue({ maxDepth: 2 }),
  }, { requiredKeys: ["event", "id"] }),
  deps: fc.record({ build: fc.record({ status: text, ms: fc.integer() }) }),
  step: fc.record({
    name: fc.constantFrom("notify", "hook"),
    attempts: fc.integer({ min: 1, max: 3 }),
  }),
}, { requiredKeys: ["context", "deps", "step"] });

const template = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.constantFrom(
      "${context.event}",
      "${context.id}",
      "${context.payload}",
      "${deps.build.status}",
      "${steps.build.result.ms}",
      "${step.name}/${step.attempts}",
      "build ${deps.build.status} in ${deps.build.ms} ms",
      "plain",
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom("${context.missing}", "${context.", "${context.id.x}") },
);
const body = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      text: template,
      id: fc.constant("${context.id}"),
      extra: fc.jsonValue({ maxDepth: 1 }),
    }),
  },
  { weight: 1, arbitrary: template },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const behaviour = fc.oneof(
  { weight: 4, arbitrary: fc.constant("/echo") },
  {
    weight: 6,
    arbitrary: fc.record({
      status: fc.constantFrom(200, 202, 204, 301, 400, 404, 410, 429, 500, 503),
      retry: fc.constantFrom(null, "5", "x", "Wed, 15 Jan 2025 12:00:30 GMT"),
    }).map(({ status, retry }) => {
      const q = new URLSearchParams({
        status: String(status),
        date: "Wed, 15 Jan 2025 12:00:00 GMT",
      });
      if (retry !== null) q.set("retry_after", retry);
      return `/respond?${q}`;
    }),
  },
  { weight: 1, arbitrary: fc.constant("/slow?ms=3000") },
  { weight: 1, arbitrary: fc.constant("closed") },
);
const configParts = fc.record({
  behaviour,
  headers: fc.option(
    fc.dictionary(fc.constantFrom("X-Event", "x-id", "Content-Type"), template, { maxKeys: 2 }),
  ),
  body,
  expected: fc.option(
    fc.array(fc.constantFrom(200, 204, 404, "2xx", "4xx"), { minLength: 1, maxLength: 2 }),
    { freq: 3 },
  ),
  broken: fc.oneof(
    { weight: 15, arbitrary: fc.constant(null) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Record<string, unknown>>(
        { method: "PUT" },
        { response_extract: "." },
        { query: { a: "b" } },
        { expected_status: [600] },
        { body: undefined },
        { url: "" },
        { url: "ftp://hooks.example/" },
      ),
    },
  ),
});

function buildConfig(parts: Arb<typeof configParts>, origin: string, closed: string) {
  const url = parts.behaviour === "closed" ? `${closed}/hook` : `${origin}${parts.behaviour}`;
  const config: Record<string, unknown> = { url, body: parts.body, timeout_ms: TIMEOUT_MS };
  if (parts.headers !== null) config.headers = parts.headers;
  if (parts.expected !== null) config.expected_status = parts.expected;
  const merged = parts.broken === null ? config : { ...config, ...parts.broken };
  if (merged.body === undefined) delete merged.body;
  return merged;
}

Deno.test("notify: wasm and native builds agree on generated envelopes, configs and webhook behaviours", async () => {
  const server = new CatalogHttpServer();
  const closed = `http://127.0.0.1:${closedPort()}`;
  try {
    const manifest = await loopbackManifest("notify", [server.origin, closed], {
      timeout_ms: TIMEOUT_MS,
    });
    const wasm = await wasmRunner("notify", manifest);
    const seenCodes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(envelope, configParts, async (env, parts) => {
        const input = { ...env, config: buildConfig(parts, server.origin, closed) };
        const w = fromWasm(await wasm(input));
        const n = fromNative(await runNativeHttp(planNotify, finishNotify, JSON.stringify(input)));
        assert.deepEqual(w, n, `input: ${JSON.stringify(input)}`);
        const key = w.ok ? "ok" : w.code;
        seenCodes.set(key, (seenCodes.get(key) ?? 0) + 1);
      }),
      { seed: 42, numRuns: RUNS },
    );
    for (
      const code of [
        "ok",
        "config_invalid",
        "url_invalid",
        "template_missing",
        "template_invalid",
        "template_injection",
        "header_invalid",
        "http_status",
        "http_timeout",
        "http_unavailable",
      ]
    ) {
      assert.ok(
        seenCodes.has(code),
        `no generated case ended in ${code}: ${JSON.stringify([...seenCodes])}`,
      );
    }
  } finally {
    await server.close();
  }
});
