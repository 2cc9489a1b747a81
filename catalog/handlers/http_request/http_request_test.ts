import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { fromJs } from "../../native/js_bridge.ts";
import { runNativeHttp } from "../../native/native_http.ts";
import type { NativeOutcome } from "../../native/run_native.ts";
import { finishRequest, planRequest } from "./http_request.ts";

interface Example {
  description: string;
  envelope: Record<string, unknown>;
  exchange?: {
    request: Record<string, unknown>;
    response: { status: number; headers: Record<string, string>; body: string };
  };
  expect: {
    result?: unknown;
    failure?: { code: string; retryable: boolean; details?: unknown };
  };
}

/** A fetch that records its requests and answers with `respond`. */
function fakeFetch(respond: (request: Request) => Response | Promise<Response>) {
  const seen: Request[] = [];
  const fetchFn = (async (input: URL, init?: RequestInit) => {
    const request = new Request(input, init);
    seen.push(request);
    return await respond(request);
  }) as typeof fetch;
  return { fetchFn, seen };
}

function run(envelope: unknown, fetchFn: typeof fetch): Promise<NativeOutcome> {
  return runNativeHttp(planRequest, finishRequest, JSON.stringify(envelope), fetchFn);
}

function failure(outcome: NativeOutcome) {
  assert.ok(!outcome.ok, `expected a failure, got ${JSON.stringify(outcome)}`);
  return outcome.failure;
}

const examplesDir = new URL("./examples/", import.meta.url);

for (const entry of Deno.readDirSync(examplesDir)) {
  const example: Example = JSON.parse(Deno.readTextFileSync(new URL(entry.name, examplesDir)));
  Deno.test(`http_request example ${entry.name}: ${example.description}`, async () => {
    const plan = planRequest(fromJs(example.envelope));
    if (example.exchange) {
      assert.equal(plan.failure, null, plan.failure?.error?.message);
      assert.deepEqual(JSON.parse(plan.requestJson()), example.exchange.request);
    }
    const { status, headers, body } = example.exchange?.response ?? {};
    const { fetchFn, seen } = fakeFetch(() => new Response(body ?? "", { status, headers }));
    const outcome = await run(example.envelope, fetchFn);
    assert.equal(seen.length, example.exchange ? 1 : 0);
    if (example.expect.result !== undefined) {
      assert.ok(outcome.ok, JSON.stringify(outcome));
      assert.deepEqual(JSON.parse(outcome.resultJson), example.expect.result);
    } else {
      const f = failure(outcome);
      assert.equal(f.code, example.expect.failure!.code);
      assert.equal(f.retryable, example.expect.failure!.retryable);
      if (example.expect.failure!.details !== undefined) {
        assert.deepEqual(f.details, example.expect.failure!.details);
      }
    }
  });
}

Deno.test("http_request sends method, headers and body exactly as planned", async () => {
  const { fetchFn, seen } = fakeFetch(() => new Response(null, { status: 204 }));
  const outcome = await run({
    context: { id: 3 },
    config: {
      url: "https://api.example.com/items/${context.id}",
      method: "PATCH",
      headers: { "If-Match": '"v${context.id}"' },
      body_text: "state=closed",
    },
  }, fetchFn);
  assert.deepEqual(outcome, { ok: true, resultJson: '{"status":204,"body":""}' });
  assert.equal(seen[0].method, "PATCH");
  assert.equal(seen[0].url, "https://api.example.com/items/3");
  assert.equal(seen[0].headers.get("if-match"), '"v3"');
  assert.equal(seen[0].headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(await seen[0].text(), "state=closed");
});

Deno.test("http_request hands a redirect to the status rules instead of following it", async () => {
  const { fetchFn, seen } = fakeFetch((request) => {
    assert.equal(request.redirect, "manual");
    return new Response(null, { status: 302, headers: { location: "https://elsewhere.example/" } });
  });
  const f = failure(await run({ config: { url: "https://api.example.com/old" } }, fetchFn));
  assert.equal(f.code, "http_status");
  assert.equal(f.retryable, false);
  assert.equal((f.details as { status: number }).status, 302);
  assert.equal(seen.length, 1);
  const accepted = await run(
    {
      config: {
        url: "https://api.example.com/old",
        expected_status: ["3xx"],
        include_headers: true,
        method: "HEAD",
      },
    },
    fetchFn,
  );
  assert.deepEqual(accepted.ok && JSON.parse(accepted.resultJson), {
    status: 302,
    headers: { location: "https://elsewhere.example/" },
    body: "",
  });
});

Deno.test("http_request gives up after timeout_ms with a retryable http_timeout", async () => {
  const { fetchFn } = fakeFetch((request) =>
    new Promise<Response>((_, reject) => {
      request.signal.addEventListener("abort", () => reject(request.signal.reason));
    })
  );
  const f = failure(
    await run({ config: { url: "https://slow.example/", timeout_ms: 20 } }, fetchFn),
  );
  assert.equal(f.code, "http_timeout");
  assert.equal(f.retryable, true);
  assert.match(f.message, /took longer than timeout_ms 20/);
});

Deno.test("http_request reports a network error as retryable http_unavailable", async () => {
  const { fetchFn } = fakeFetch(() => Promise.reject(new TypeError("connection reset")));
  const f = failure(await run({ config: { url: "https://flaky.example/" } }, fetchFn));
  assert.equal(f.code, "http_unavailable");
  assert.equal(f.retryable, true);
  assert.match(f.message, /connection reset$/);
});

Deno.test("http_request refuses a URL that does not parse without sending it", async () => {
  const { fetchFn, seen } = fakeFetch(() => new Response("never"));
  const f = failure(await run({ config: { url: "http://exa mple.com/" } }, fetchFn));
  assert.equal(f.code, "http_request_invalid");
  assert.equal((f.details as { host_code: string }).host_code, "url_invalid");
  assert.equal(seen.length, 0);
});

Deno.test("http_request refuses a config the schema rejects, listing every error", async () => {
  const { fetchFn, seen } = fakeFetch(() => new Response("never"));
  const f = failure(
    await run({ config: { method: "get", expected_status: ["2XX", 99], timeout_ms: 0 } }, fetchFn),
  );
  assert.equal(f.code, "config_invalid");
  assert.equal(f.retryable, false);
  assert.ok((f.details as { errors: unknown[] }).errors.length >= 4);
  assert.equal(seen.length, 0);
});
