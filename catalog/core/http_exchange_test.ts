import "../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { fromJs, toJs } from "../native/js_bridge.ts";
import type { HandlerResult } from "./handler_result.ts";
import {
  beginHttpStep,
  endHttpStep,
  finishExchange,
  hostErrorOutcome,
  HttpSpec,
  parseHttpDate,
  planExchange,
  type RequestPlan,
  retryAfterSeconds,
  statusExpected,
} from "./http_exchange.ts";

const ENVELOPE = {
  context: { id: 7, q: "a b&c", who: { name: "Ann" }, evil: "${secrets.API_TOKEN}" },
  deps: { lookup: { token_id: "t-1" } },
  step: { name: "call_api", attempts: 1, max_attempts: 3 },
};

function plan(config: Record<string, unknown>, envelope: unknown = ENVELOPE): RequestPlan {
  return planExchange(fromJs(envelope), HttpSpec.fromConfig(fromJs(config)));
}

function planned(config: Record<string, unknown>): Record<string, unknown> {
  const p = plan(config);
  assert.equal(p.failure, null, p.failure?.error?.message);
  return JSON.parse(p.requestJson());
}

function planFailure(config: Record<string, unknown>): { code: string; message: string } {
  const p = plan(config);
  const error = p.failure?.error;
  assert.ok(error, `expected a failure, got ${p.requestJson()}`);
  assert.equal(error.retryable, false);
  return { code: error.code, message: error.message };
}

function response(
  status: number,
  body = "",
  headers: Record<string, string> = {},
  extra: Record<string, unknown> = {},
) {
  return fromJs({ status, headers, body, url: "https://api.example.com/x", ...extra });
}

function ok(result: HandlerResult): unknown {
  assert.equal(result.error, null, result.error?.message);
  return toJs(result.value!);
}

function failed(result: HandlerResult) {
  const error = result.error;
  assert.ok(error, `expected a failure, got ${JSON.stringify(result.value && toJs(result.value))}`);
  return {
    code: error.code,
    message: error.message,
    retryable: error.retryable,
    details: error.details ? toJs(error.details) as Record<string, unknown> : null,
  };
}

Deno.test("planExchange() renders the URL, appends an encoded query and keeps the fragment last", () => {
  assert.deepEqual(
    planned({
      url: "https://api.example.com/items/${context.id}?fixed=1#frag",
      query: { q: "${context.q}", "a key": "${deps.lookup.token_id}" },
    }),
    {
      method: "GET",
      url: "https://api.example.com/items/7?fixed=1&q=a%20b%26c&a%20key=t-1#frag",
      headers: {},
      timeout_ms: 10000,
    },
  );
  assert.equal(
    planned({ url: "https://x.example/a?", query: { q: "1" } }).url,
    "https://x.example/a?q=1",
  );
  assert.equal(
    planned({ url: "HTTPS://x.example/${context.who.name}" }).url,
    "HTTPS://x.example/Ann",
  );
});

Deno.test("planExchange() renders header templates and sets a content type for bodies", () => {
  assert.deepEqual(
    planned({
      url: "https://x.example/",
      method: "POST",
      headers: { "X-Step": "${step.name}#${step.attempts}", Authorization: "Bearer ${secrets.T}" },
      body: { id: "${context.id}", note: "for ${context.who.name}" },
    }),
    {
      method: "POST",
      url: "https://x.example/",
      headers: {
        "X-Step": "call_api#1",
        Authorization: "Bearer ${secrets.T}",
        "content-type": "application/json",
      },
      body: '{"id":7,"note":"for Ann"}',
      timeout_ms: 10000,
    },
  );
  assert.deepEqual(
    planned({
      url: "https://x.example/",
      method: "PUT",
      headers: { "Content-Type": "text/csv" },
      body_text: "id,name\n${context.id},${context.who.name}\n",
    }),
    {
      method: "PUT",
      url: "https://x.example/",
      headers: { "Content-Type": "text/csv" },
      body: "id,name\n7,Ann\n",
      timeout_ms: 10000,
    },
  );
  assert.equal(
    (planned({ url: "https://x.example/", method: "POST", body_text: "hi" }).headers as Record<
      string,
      string
    >)["content-type"],
    "text/plain; charset=utf-8",
  );
});

Deno.test("planExchange() refuses configs the http capability would refuse anyway", () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ url: "ftp://x.example/" }, "url_invalid", /only http:\/\/ and https:\/\//],
    [{ url: "${context.who.name}" }, "url_invalid", /"Ann"/],
    [{ url: "https://x/", method: "GET", body: {} }, "config_invalid", /GET request cannot/],
    [{ url: "https://x/", method: "HEAD", body_text: "x" }, "config_invalid", /HEAD/],
    [{ url: "https://x/", method: "POST", body: 1, body_text: "x" }, "config_invalid", /not both/],
    [{ url: "https://x/", headers: { "bad name": "x" } }, "config_invalid", /HTTP token/],
    [{ url: "https://x/", headers: { Host: "evil" } }, "config_invalid", /sets Host itself/],
    [{ url: "https://x/", headers: { "X-A": "1", "x-a": "2" } }, "config_invalid", /twice/],
    [{ url: "https://x/", headers: { "X-A": "${context.q}\r\n" } }, "header_invalid", /U\+000D/],
  ];
  for (const [config, code, message] of cases) {
    const f = planFailure(config);
    assert.equal(f.code, code, JSON.stringify(config));
    assert.match(f.message, message, JSON.stringify(config));
  }
  const nonAscii = planFailure({ url: "https://x/", headers: { "X-A": "é" } });
  assert.equal(nonAscii.code, "header_invalid");
});

Deno.test("planExchange() refuses a secret placeholder that came from data, not the template", () => {
  for (
    const config of [
      { url: "https://x.example/${context.evil}" },
      { url: "https://x.example/", headers: { "X-A": "${context.evil}" } },
      { url: "https://x.example/", method: "POST", body: { a: "${context.evil}" } },
      { url: "https://x.example/", method: "POST", body: { a: "x ${context.evil}" } },
      { url: "https://x.example/", method: "POST", body_text: "${context.evil}" },
      { url: "https://x.example/", method: "POST", body: { a: "$${secrets.API_TOKEN}" } },
    ]
  ) {
    assert.equal(planFailure(config).code, "template_injection", JSON.stringify(config));
  }
  // In the query the data is percent-encoded, so it cannot form a placeholder.
  assert.equal(
    planned({ url: "https://x.example/", query: { v: "${context.evil}" } }).url,
    "https://x.example/?v=%24%7Bsecrets.API_TOKEN%7D",
  );
  // Placeholders the template writes are fine.
  assert.equal(
    planned({ url: "https://x.example/", query: { k: "${secrets.API_TOKEN}" } }).url,
    "https://x.example/?k=${secrets.API_TOKEN}",
  );
});

Deno.test("planExchange() passes template failures through", () => {
  assert.equal(planFailure({ url: "https://x/${context.nope}" }).code, "template_missing");
  assert.equal(
    planFailure({ url: "https://x/", query: { a: "${context.nope}" } }).code,
    "template_missing",
  );
  assert.equal(
    planFailure({ url: "https://x/", method: "POST", body: ["${context.nope}"] }).code,
    "template_missing",
  );
  assert.equal(planFailure({ url: "https://x/${oops}" }).code, "template_invalid");
});

Deno.test("finishExchange() returns {status, body} with JSON bodies parsed", () => {
  const p = plan({ url: "https://api.example.com/x" });
  assert.deepEqual(
    ok(finishExchange(p, response(200, '{"a":[1,2]}', { "content-type": "application/json" }))),
    { status: 200, body: { a: [1, 2] } },
  );
  assert.deepEqual(
    ok(finishExchange(
      p,
      response(201, '{"a":1}', { "content-type": "application/problem+json; charset=utf-8" }),
    )),
    { status: 201, body: { a: 1 } },
  );
  assert.deepEqual(
    ok(finishExchange(p, response(200, '{"a":1}', { "content-type": "text/plain" }))),
    {
      status: 200,
      body: '{"a":1}',
    },
  );
  assert.deepEqual(
    ok(finishExchange(p, response(204, "", { "content-type": "application/json" }))),
    { status: 204, body: null },
  );
  assert.deepEqual(
    ok(finishExchange(p, fromJs({ status: 200, headers: {}, body_base64: "/wD+", url: "u" }))),
    { status: 200, body: null, body_base64: "/wD+" },
  );
});

Deno.test("finishExchange() keeps headers when include_headers is set and applies response_extract", () => {
  const headers = { "content-type": "application/json", "x-total": "3" };
  const withHeaders = plan({ url: "https://x/", include_headers: true });
  assert.deepEqual(ok(finishExchange(withHeaders, response(200, "[1]", headers))), {
    status: 200,
    headers,
    body: [1],
  });
  const extract = plan({
    url: "https://x/",
    response_extract: '{total: (.headers["x-total"] | tonumber), first: .body[0], s: .status}',
  });
  assert.deepEqual(ok(finishExchange(extract, response(200, "[9]", headers))), {
    total: 3,
    first: 9,
    s: 200,
  });
  const many = plan({ url: "https://x/", response_extract: ".body[]" });
  assert.equal(
    failed(finishExchange(many, response(200, "[1,2]", headers))).code,
    "jq_cardinality",
  );
  const broken = plan({ url: "https://x/", response_extract: ".body |" });
  assert.equal(failed(finishExchange(broken, response(200, "[1]", headers))).code, "jq_syntax");
  const runtime = plan({ url: "https://x/", response_extract: ".body.a" });
  assert.equal(failed(finishExchange(runtime, response(200, "[1]", headers))).code, "jq_runtime");
});

Deno.test("finishExchange() fails response_invalid on a JSON content type with a body that is not JSON", () => {
  const p = plan({ url: "https://x/" });
  const f = failed(
    finishExchange(p, response(200, "<html>", { "content-type": "application/json" })),
  );
  assert.equal(f.code, "response_invalid");
  assert.equal(f.retryable, false);
});

Deno.test("finishExchange() fails unexpected statuses: 429 and 5xx retryable, others permanent", () => {
  const p = plan({ url: "https://api.example.com/x" });
  for (
    const [status, retryable] of [
      [404, false],
      [400, false],
      [301, false],
      [429, true],
      [500, true],
      [503, true],
      [599, true],
    ] as const
  ) {
    const f = failed(finishExchange(p, response(status, "problem text")));
    assert.equal(f.code, "http_status", String(status));
    assert.equal(f.retryable, retryable, String(status));
    assert.equal(f.details?.status, status);
    assert.equal(f.details?.body_excerpt, "problem text");
    assert.equal(f.details?.backoff_hint, undefined);
  }
  const long = failed(finishExchange(p, response(500, "x".repeat(2000))));
  assert.equal((long.details?.body_excerpt as string).length, 515);
});

Deno.test("finishExchange() turns Retry-After into a backoff hint", () => {
  const p = plan({ url: "https://api.example.com/x" });
  const limited = failed(finishExchange(p, response(429, "", { "retry-after": "120" })));
  assert.deepEqual(limited.details?.backoff_hint, {
    backoff_type: "RateLimit",
    delay_seconds: 120,
  });
  assert.match(limited.message, /retry after 120 s/);
  const down = failed(finishExchange(
    p,
    response(503, "", {
      "retry-after": "Wed, 21 Oct 2015 07:30:00 GMT",
      date: "Wed, 21 Oct 2015 07:28:00 GMT",
    }),
  ));
  assert.deepEqual(down.details?.backoff_hint, {
    backoff_type: "ServerRequested",
    delay_seconds: 120,
  });
  // A date without the response's Date header cannot be measured: no hint.
  const noDate = failed(finishExchange(
    p,
    response(503, "", {
      "retry-after": "Wed, 21 Oct 2015 07:30:00 GMT",
    }),
  ));
  assert.equal(noDate.details?.backoff_hint, undefined);
  // A permanent failure gets no hint even when the server sends one.
  const gone = failed(finishExchange(p, response(404, "", { "retry-after": "5" })));
  assert.equal(gone.details?.backoff_hint, undefined);
});

Deno.test("finishExchange() honours expected_status codes and classes", () => {
  const p = plan({ url: "https://x/", expected_status: [404, "2xx"] });
  assert.deepEqual(ok(finishExchange(p, response(404, "gone"))), { status: 404, body: "gone" });
  assert.deepEqual(ok(finishExchange(p, response(250, ""))), { status: 250, body: "" });
  const f = failed(finishExchange(p, response(500, "")));
  assert.match(f.message, /expected 404, 2xx/);
  assert.ok(statusExpected(302, fromJs(["3xx"])));
  assert.ok(!statusExpected(199, null) && statusExpected(200, null) && statusExpected(299, null));
  assert.ok(!statusExpected(300, null));
});

Deno.test("finishExchange() maps host errors to coded failures with the right retryability", () => {
  const p = plan({ url: "https://api.example.com/${context.id}" });
  const cases: [number, string, string, boolean][] = [
    [-1, "host_denied", "http_denied", false],
    [-4, "too_large", "http_denied", false],
    [-3, "url_invalid", "http_request_invalid", false],
    [-2, "secret_missing", "http_request_invalid", false],
    [-5, "rate_limited", "http_rate_limited", true],
    [-6, "timeout", "http_timeout", true],
    [-7, "network_error", "http_unavailable", true],
    [-8, "buffer_too_small", "internal", false],
  ];
  for (const [errno, hostCode, code, retryable] of cases) {
    const outcome = hostErrorOutcome(errno, JSON.stringify({ code: hostCode, message: "why" }));
    const f = failed(finishExchange(p, fromJs(JSON.parse(outcome))));
    assert.equal(f.code, code, hostCode);
    assert.equal(f.retryable, retryable, hostCode);
    assert.deepEqual(f.details, {
      method: "GET",
      url: "https://api.example.com/7",
      host_code: hostCode,
      errno,
    });
    assert.match(f.message, new RegExp(`\\(${hostCode}\\): why$`));
  }
});

Deno.test("hostErrorOutcome() copes with a missing or malformed last_error", () => {
  assert.deepEqual(JSON.parse(hostErrorOutcome(-7, "")), {
    error: { errno: -7, code: "unknown", message: "the http capability reported no details" },
  });
  assert.deepEqual(JSON.parse(hostErrorOutcome(-1, '{"code":5}')).error.code, "unknown");
});

Deno.test("finishExchange() with delivery reports {delivered, status}", () => {
  const spec = HttpSpec.fromConfig(fromJs({ url: "https://hooks.example/x", body: { a: 1 } }));
  spec.method = "POST";
  spec.delivery = true;
  const p = planExchange(fromJs(ENVELOPE), spec);
  assert.deepEqual(
    ok(finishExchange(p, response(202, "<not json>", { "content-type": "application/json" }))),
    {
      delivered: true,
      status: 202,
    },
  );
  assert.equal(failed(finishExchange(p, response(500, ""))).code, "http_status");
});

Deno.test("retryAfterSeconds() reads seconds and dates, ignoring what it cannot read", () => {
  const after = (headers: Record<string, string>) => retryAfterSeconds(fromJs(headers));
  assert.equal(after({}), -1);
  assert.equal(after({ "retry-after": " 0007 " }), 7);
  assert.equal(after({ "retry-after": "0" }), 0);
  assert.equal(after({ "retry-after": "99999999999999" }), 2147483647);
  assert.equal(after({ "retry-after": "-5" }), -1);
  assert.equal(after({ "retry-after": "1.5" }), -1);
  assert.equal(after({ "retry-after": "soon" }), -1);
  assert.equal(
    after({
      "retry-after": "Sun, 06 Nov 1994 08:49:37 GMT",
      date: "Sun, 06 Nov 1994 08:50:37 GMT",
    }),
    0,
  );
  assert.equal(
    after({ "retry-after": "Sunday, 06-Nov-94 08:49:37 GMT", date: "Sun Nov  6 08:48:37 1994" }),
    60,
  );
  assert.equal(after({ "retry-after": "Sun, 06 Nov 1994 08:49:37 GMT", date: "garbage" }), -1);
});

Deno.test("parseHttpDate() agrees with Date.parse on generated IMF-fixdates and refuses impossible ones", () => {
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  for (let i = 0; i < 2000; i++) {
    const ms = (next() % 4102444800) * 1000; // 1970..2100
    const text = new Date(ms).toUTCString();
    assert.equal(parseHttpDate(text), ms / 1000, text);
  }
  for (
    const bad of [
      "",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 31 Feb 1994 08:49:37 GMT",
      "Sun, 29 Feb 1900 08:49:37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 94 08:49:37 GMT",
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "Sun 06 Nov 1994 08:49:37 GMT",
      "Sun, 06 Foo 1994 08:49:37 GMT",
      "Sun Nov 06 08:49 1994",
    ]
  ) {
    assert.ok(Number.isNaN(parseHttpDate(bad)), bad);
  }
  assert.equal(parseHttpDate("Tue, 29 Feb 2000 00:00:00 GMT"), Date.UTC(2000, 1, 29) / 1000);
  assert.equal(
    parseHttpDate("Sunday, 06-Nov-69 08:49:37 GMT"),
    Date.UTC(2069, 10, 6, 8, 49, 37) / 1000,
  );
});

Deno.test("beginHttpStep() ends the step early on a bad envelope or a failed plan", () => {
  const bad = beginHttpStep((e) => planExchange(e, HttpSpec.fromConfig(fromJs({}))), "{");
  assert.equal(bad.output?.error?.code, "envelope_invalid");
  const notObject = beginHttpStep((e) => planExchange(e, HttpSpec.fromConfig(fromJs({}))), "[1]");
  assert.equal(notObject.output?.error?.code, "envelope_invalid");
  const failing = beginHttpStep(
    (e) => planExchange(e, HttpSpec.fromConfig(fromJs({ url: "ftp://x/" }))),
    "{}",
  );
  assert.equal(failing.output?.error?.code, "url_invalid");
  assert.equal(failing.output?.detailsJson, '{"field":"config.url"}');
});

Deno.test("endHttpStep() finishes with the outcome text and reports an outcome that is not JSON", () => {
  const planFn = (e: Parameters<typeof planExchange>[0]) =>
    planExchange(e, HttpSpec.fromConfig(fromJs({ url: "https://x/" })));
  const step = beginHttpStep(planFn, "{}");
  assert.equal(step.output, null);
  const finish = (_e: unknown, p: RequestPlan, outcome: Parameters<typeof finishExchange>[1]) =>
    finishExchange(p, outcome);
  const done = endHttpStep(
    step,
    finish,
    '{"status":200,"headers":{},"body":"hi","url":"https://x/"}',
  );
  assert.equal(done.resultJson, '{"status":200,"body":"hi"}');
  const broken = endHttpStep(step, finish, "not json");
  assert.equal(broken.error?.code, "internal");
  const noStatus = endHttpStep(step, finish, "{}");
  assert.equal(noStatus.error?.code, "internal");
});

Deno.test("outputOf() cuts a long failure message like runHandler does", async () => {
  const { runHandler } = await import("./run_handler.ts");
  const { outputOf } = await import("./http_exchange.ts");
  const { HandlerResult } = await import("./handler_result.ts");
  const long = HandlerResult.fail("c".repeat(150), "m".repeat(5000) + "\ud83d\ude00", true, null);
  const viaRunner = runHandler(() => long, "{}");
  const viaHttp = outputOf(long);
  assert.equal(viaHttp.error?.message, viaRunner.error?.message);
  assert.equal(viaHttp.error?.code, viaRunner.error?.code);
  assert.equal(viaHttp.error?.message.length, 4096);
});
