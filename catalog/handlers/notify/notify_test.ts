import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { fromJs } from "../../native/js_bridge.ts";
import { runNativeHttp } from "../../native/native_http.ts";
import type { NativeOutcome } from "../../native/run_native.ts";
import { finishNotify, planNotify } from "./notify.ts";

interface Example {
  description: string;
  envelope: Record<string, unknown>;
  exchange: {
    request: Record<string, unknown>;
    response: { status: number; headers: Record<string, string>; body: string };
  };
  expect: { result?: unknown; failure?: { code: string; retryable: boolean; details?: unknown } };
}

function run(envelope: unknown, respond: () => Response): Promise<NativeOutcome> {
  const fetchFn = (() => Promise.resolve(respond())) as typeof fetch;
  return runNativeHttp(planNotify, finishNotify, JSON.stringify(envelope), fetchFn);
}

const examplesDir = new URL("./examples/", import.meta.url);

for (const entry of Deno.readDirSync(examplesDir)) {
  const example: Example = JSON.parse(Deno.readTextFileSync(new URL(entry.name, examplesDir)));
  Deno.test(`notify example ${entry.name}: ${example.description}`, async () => {
    const plan = planNotify(fromJs(example.envelope));
    assert.equal(plan.failure, null, plan.failure?.error?.message);
    assert.deepEqual(JSON.parse(plan.requestJson()), example.exchange.request);
    const { status, headers, body } = example.exchange.response;
    const outcome = await run(example.envelope, () => new Response(body, { status, headers }));
    if (example.expect.result !== undefined) {
      assert.ok(outcome.ok, JSON.stringify(outcome));
      assert.deepEqual(JSON.parse(outcome.resultJson), example.expect.result);
    } else {
      assert.ok(!outcome.ok);
      assert.equal(outcome.failure.code, example.expect.failure!.code);
      assert.equal(outcome.failure.retryable, example.expect.failure!.retryable);
      assert.deepEqual(outcome.failure.details, example.expect.failure!.details);
    }
  });
}

Deno.test("notify always POSTs JSON and ignores what the response body says", async () => {
  const plan = planNotify(
    fromJs({ context: { n: 1 }, config: { url: "https://h.example/", body: "${context.n}" } }),
  );
  assert.equal(plan.method, "POST");
  assert.equal(plan.body, "1");
  const outcome = await run(
    { context: { n: 1 }, config: { url: "https://h.example/", body: "${context.n}" } },
    () =>
      new Response("<html>not json</html>", { headers: { "content-type": "application/json" } }),
  );
  assert.deepEqual(outcome, { ok: true, resultJson: '{"delivered":true,"status":200}' });
});

Deno.test("notify requires a body and refuses http_request-only fields", async () => {
  for (
    const config of [
      { url: "https://h.example/" },
      { url: "https://h.example/", body: {}, method: "PUT" },
      { url: "https://h.example/", body: {}, response_extract: "." },
      { url: "https://h.example/", body: {}, query: { a: "b" } },
    ]
  ) {
    const outcome = await run({ config }, () => new Response("never"));
    assert.ok(!outcome.ok, JSON.stringify(config));
    assert.equal(outcome.failure.code, "config_invalid", JSON.stringify(config));
  }
});

Deno.test("notify treats a body of null as a JSON null payload", () => {
  const plan = planNotify(fromJs({ config: { url: "https://h.example/", body: null } }));
  assert.equal(plan.failure, null);
  assert.equal(plan.body, "null");
});
