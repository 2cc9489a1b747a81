// The http_request handler's wasm build against its native build on generated
// envelopes, configs (valid and invalid) and server behaviours: both send
// their request to the same loopback server and must give the same result or
// the same coded failure, message and details included.
//
// The wasm build goes through the `http` capability (policy allowing the
// server's origin and a closed port); the native build through `fetch`. The
// wasm build's request deadline is capabilities.http.timeout_ms, so every
// config that can be slow sets timeout_ms to the same value.
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
import { finishRequest, planRequest } from "../../catalog/handlers/http_request/http_request.ts";

/** The value type an arbitrary generates. */
type Arb<A> = A extends fc.Arbitrary<infer T> ? T : never;

// Every request of the wasm build is bounded by it, not only the slow ones: far above what a
// loopback request takes on a loaded machine, well below the slow endpoint's 3 s.
const TIMEOUT_MS = 1_000;
const RUNS = 400;

// --- envelopes -------------------------------------------------------------

const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 8 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("${secrets.API_TOKEN}", "a&b=c d", "é/ü?#", "$${x}", ""),
  },
);
const context = fc.record({
  id: fc.integer({ min: 0, max: 99999 }),
  name: text,
  tags: fc.array(text, { maxLength: 3 }),
  amount: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
  flag: fc.boolean(),
  nested: fc.jsonValue({ maxDepth: 2 }),
}, { requiredKeys: ["id", "name", "tags", "amount", "flag"] });
const envelopeBase = fc.record({
  context,
  deps: fc.record({ prev: fc.record({ token: text, n: fc.integer() }) }),
  step: fc.record({
    name: fc.constantFrom("call_api", "fetch", "step-1"),
    attempts: fc.integer({ min: 1, max: 5 }),
  }),
}, { requiredKeys: ["context", "deps", "step"] });

// --- templates ---------------------------------------------------------------

/** Templates for text that reaches the server (query, headers, bodies): mostly resolvable. */
const textTemplate = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.constantFrom(
      "${context.name}",
      "${context.id}",
      "${context.tags}",
      "${context.amount}",
      "${context.flag}",
      "${context.nested}",
      "${deps.prev.token}",
      "${steps.prev.result.n}",
      "${step.name}#${step.attempts}",
      "fixed text",
      "$${literal}",
    ),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(
      fc.string({ maxLength: 5 }),
      fc.constantFrom("${context.name}", "${context.id}"),
    )
      .map(([a, b]) => a.replaceAll("$", "") + b),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "${context.missing}",
      "${context.tags[0]}",
      "${context.tags[9]}",
      "${context.name.x}",
      "${context.",
      "${nope.x}",
    ),
  },
);
/** Path segments stay safe for the policy's path check: integers and fixed words. */
const pathTemplate = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("", "/${context.id}", "/x/${step.attempts}") },
  { weight: 1, arbitrary: fc.constant("/${context.missing}") },
);
const headerName = fc.constantFrom("X-A", "x-b", "Accept", "X-Request-Id", "Content-Type");
const queryName = fc.constantFrom("q", "a b", "ü", "x[]", "&");
const extract = fc.constantFrom(
  ".status",
  ".body",
  ".body | type",
  "[.status, (.body | length)]",
  '.headers["x-a"]',
  '.headers["content-type"]',
  ".body.items | length",
  ".body.method",
  ".body.query",
  ".body.headers",
  ".body.body",
  ".body[0]",
  ".body[]",
  ".status |",
  "{s: .status, b: .body}",
);
const expected = fc.array(
  fc.oneof(
    fc.constantFrom(200, 201, 204, 302, 404, 409, 429, 500, 503),
    fc.constantFrom("2xx", "3xx", "4xx", "5xx"),
  ),
  { minLength: 1, maxLength: 3 },
);

// --- server behaviours -----------------------------------------------------

const retryAfter = fc.oneof(
  fc.constant(null),
  fc.integer({ min: 0, max: 100000 }).map(String),
  fc.constant("soon"),
  fc.integer({ min: -100, max: 3600 }).map((delta) => ({ delta })),
);
const respond = fc.record({
  status: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(200, 201, 202, 204) },
    { weight: 2, arbitrary: fc.constantFrom(301, 400, 404, 409, 418, 429, 500, 502, 503) },
  ),
  ctype: fc.constantFrom(null, "application/json", "text/plain", "application/problem+json"),
  body: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 20 }),
    fc.constant(""),
  ),
  retryAfter,
  header: fc.option(
    fc.string({ minLength: 1, maxLength: 8 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
  ),
});
type Behaviour =
  | { kind: "echo" }
  | { kind: "respond"; spec: Arb<typeof respond> }
  | { kind: "binary" }
  | { kind: "items"; n: number }
  | { kind: "slow" }
  | { kind: "closed" };
const behaviour: fc.Arbitrary<Behaviour> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: "echo" as const }) },
  { weight: 8, arbitrary: respond.map((spec) => ({ kind: "respond" as const, spec })) },
  { weight: 1, arbitrary: fc.constant({ kind: "binary" as const }) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 50 }).map((n) => ({ kind: "items" as const, n })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "slow" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "closed" as const }) },
);

const HTTP_DATE = new Date(Date.UTC(2025, 0, 15, 12, 0, 0));

/** The URL (a template's literal part) that makes the server behave so. */
function behaviourUrl(b: Behaviour, origin: string, closed: string): string {
  switch (b.kind) {
    case "echo":
      return `${origin}/echo`;
    case "binary":
      return `${origin}/binary`;
    case "items":
      return `${origin}/items?n=${b.n}`;
    case "slow":
      return `${origin}/slow?ms=3000`;
    case "closed":
      return `${closed}/x`;
    case "respond": {
      const q = new URLSearchParams({ status: String(b.spec.status), body: b.spec.body });
      if (b.spec.ctype) q.set("ctype", b.spec.ctype);
      const ra = b.spec.retryAfter;
      if (typeof ra === "string") q.set("retry_after", ra);
      if (ra !== null && typeof ra === "object") {
        q.set("retry_after", new Date(HTTP_DATE.getTime() + ra.delta * 1000).toUTCString());
        q.set("date", HTTP_DATE.toUTCString());
      }
      if (b.spec.header !== null) q.append("header", `x-a:${b.spec.header}`);
      // URLSearchParams encodes `$`, `{` and `}`: the literal part holds no placeholder.
      return `${origin}/respond?${q}`;
    }
  }
}

/** A method and a body that mostly fit it (a body on GET or HEAD, or both kinds, now and then). */
const methodAndBody = fc.oneof(
  {
    weight: 15,
    arbitrary: fc.record({
      method: fc.constantFrom(undefined, "GET", "HEAD"),
      body: fc.constant(undefined),
      bodyText: fc.constant(null),
    }),
  },
  {
    weight: 20,
    arbitrary: fc.record({
      method: fc.constantFrom("POST", "PUT", "PATCH", "DELETE"),
      body: fc.oneof(
        {
          weight: 3,
          arbitrary: fc.record({
            a: textTemplate,
            n: fc.constant("${context.id}"),
            k: fc.jsonValue({ maxDepth: 1 }),
          }),
        },
        { weight: 1, arbitrary: textTemplate },
        { weight: 2, arbitrary: fc.constant(undefined) },
      ),
      bodyText: fc.option(textTemplate, { freq: 3 }),
    }).map((m) => m.body !== undefined ? { ...m, bodyText: null } : m),
  },
  {
    // Config errors: a body on GET, or both kinds of body.
    weight: 2,
    arbitrary: fc.constantFrom(
      { method: undefined, body: { a: 1 }, bodyText: null },
      { method: "POST", body: { a: 1 }, bodyText: "x" },
    ),
  },
);

const configParts = fc.record({
  behaviour,
  path: pathTemplate,
  methodAndBody,
  headers: fc.option(fc.dictionary(headerName, textTemplate, { maxKeys: 3 })),
  query: fc.option(fc.dictionary(queryName, textTemplate, { maxKeys: 3 })),
  expected: fc.option(expected, { freq: 3 }),
  extract: fc.option(extract, { freq: 2 }),
  timeout: fc.boolean(),
  broken: fc.oneof(
    { weight: 20, arbitrary: fc.constant(null) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Record<string, unknown>>(
        { extra: true },
        { method: "get" },
        { expected_status: ["2XX"] },
        { expected_status: [] },
        { timeout_ms: 0 },
        { headers: { "bad name": "x" } },
        { headers: { Host: "x" } },
        { url: 7 },
        { include_headers: "yes" },
      ),
    },
  ),
});

function buildConfig(
  parts: Arb<typeof configParts>,
  origin: string,
  closed: string,
): Record<string, unknown> {
  const base = behaviourUrl(parts.behaviour, origin, closed);
  // A path template goes before the query of the behaviour URL.
  const q = base.indexOf("?");
  const url = q < 0 ? base + parts.path : base.slice(0, q) + parts.path + base.slice(q);
  const config: Record<string, unknown> = { url };
  const { method, body, bodyText } = parts.methodAndBody;
  if (method !== undefined) config.method = method;
  if (parts.headers !== null) config.headers = parts.headers;
  if (parts.query !== null) config.query = parts.query;
  if (body !== undefined) config.body = body;
  if (bodyText !== null) config.body_text = bodyText;
  if (parts.expected !== null) config.expected_status = parts.expected;
  if (parts.extract !== null) config.response_extract = parts.extract;
  if (parts.timeout || parts.behaviour.kind === "slow") config.timeout_ms = TIMEOUT_MS;
  return parts.broken === null ? config : { ...config, ...parts.broken };
}

Deno.test("http_request: wasm and native builds agree on generated envelopes, configs and server behaviours", async () => {
  const server = new CatalogHttpServer();
  const port = closedPort();
  const closed = `http://127.0.0.1:${port}`;
  try {
    const manifest = await loopbackManifest("http_request", [server.origin, closed], {
      timeout_ms: TIMEOUT_MS,
    });
    const wasm = await wasmRunner("http_request", manifest);
    const seenCodes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(envelopeBase, configParts, async (envelope, parts) => {
        const input = { ...envelope, config: buildConfig(parts, server.origin, closed) };
        const w = fromWasm(await wasm(input));
        const n = fromNative(
          await runNativeHttp(planRequest, finishRequest, JSON.stringify(input)),
        );
        assert.deepEqual(w, n, `input: ${JSON.stringify(input)}`);
        const key = w.ok ? "ok" : w.code;
        seenCodes.set(key, (seenCodes.get(key) ?? 0) + 1);
      }),
      { seed: 42, numRuns: RUNS },
    );
    // The generators must reach every outcome class the handler has, or the comparison proves little.
    for (
      const code of [
        "ok",
        "config_invalid",
        "template_missing",
        "template_invalid",
        "template_injection",
        "header_invalid",
        "http_status",
        "http_timeout",
        "http_unavailable",
        "jq_runtime",
        "jq_syntax",
        "response_invalid",
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

Deno.test("http_request: both builds agree on an envelope that is not a JSON object", async () => {
  const server = new CatalogHttpServer();
  try {
    const wasm = await wasmRunner(
      "http_request",
      await loopbackManifest("http_request", [server.origin]),
    );
    for (const input of [[1, 2], "text", null, 7]) {
      const w = fromWasm(await wasm(input));
      const n = fromNative(await runNativeHttp(planRequest, finishRequest, JSON.stringify(input)));
      assert.deepEqual(w, n);
      assert.ok(!w.ok && w.code === "envelope_invalid");
    }
    assert.equal(server.seen.length, 0);
  } finally {
    await server.close();
  }
});
