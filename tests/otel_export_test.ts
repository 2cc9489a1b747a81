/**
 * Deno's built-in OpenTelemetry really exports the broker's spans: a child
 * `deno run` with `OTEL_DENO=true` sends OTLP/HTTP JSON to a receiver on
 * loopback, and the receiver checks the step's span tree, its attributes,
 * and that a secret given to redaction appears nowhere in anything exported.
 */
import assert from "node:assert/strict";

const REPO = new URL("../", import.meta.url);
const CONFIG = new URL("deno.json", REPO).pathname;
const TRACING = new URL("src/telemetry/tracing.ts", REPO).href;
const LAUNCH = new URL("src/telemetry/otel_launch.ts", REPO).href;

const SECRET = "sk_live_Zq8w3Yc1N0tAReal-secret";

const STEP = {
  correlation_id: "0199c3e0-ccdb-7581-87ab-3f67daeaa4a5",
  task_uuid: "0199c3e0-ccdb-7581-87ab-000000000001",
  step_uuid: "0199c3e0-ccdb-7581-87ab-000000000002",
  step_name: "fetch_order",
  namespace: "catalog",
};

/**
 * What the child does: one step's spans through the broker's helpers. With
 * `relaunch`, it first does what the broker's CLI does with Tasker's
 * TELEMETRY_ENABLED: start itself again with OTEL_DENO=true.
 */
function childScript(relaunch = false): string {
  const prelude = relaunch
    ? `
import { planOtelLaunch, relaunchWithOtel } from ${JSON.stringify(LAUNCH)};
const plan = planOtelLaunch(Deno.env.toObject());
if (plan.warnings.length) console.error(plan.warnings.join("\\n"));
if (plan.action === "relaunch") {
  Deno.exit(await relaunchWithOtel(plan, {
    denoFlags: ["--quiet", "--config", ${
      JSON.stringify(CONFIG)
    }, "--allow-env", "--allow-run", "--allow-read"],
  }));
}
`
    : "";
  return `
import { trace } from "@opentelemetry/api";
import { startStepTrace } from ${JSON.stringify(TRACING)};
${prelude}
const secret = Deno.env.get("WB_TEST_SECRET");
const step = startStepTrace(
  { ...${JSON.stringify(STEP)}, "http.url": "https://api.example/orders?key=" + secret },
  { secrets: [secret] },
);
if (!step.recording) {
  console.error("no tracer provider: OTEL_DENO is not on");
  Deno.exit(3);
}
await step.phase("worker.claim", () => {
  // Started with the active context: must nest under worker.claim.
  trace.getTracer("probe").startSpan("probe.inner").end();
}, { "tasker.attempt": 1 });
step.recordExecution({
  status: "failed",
  result: null,
  error: { code: "handler_error", message: "upstream said " + secret, retryable: true },
  metrics: {
    compile_ms: 2, instantiate_us: 500, run_ms: 10, memory_high_water_bytes: 65536,
    host_calls: { "http.request": 3, "io.read_input": 1 }, policy_denials: 0,
    denials_by_code: {}, log: { records: 0, dropped: 0, truncated: 0 },
  },
  logs: [],
  host_call_log: [{ call: "http.request", at_us: 1000, us: 4000 }],
}, { start: 1700000000000, end: 1700000000100 });
await step.phase("worker.report", () => {});
step.end({ code: "handler_error", message: "failed: " + secret, error_type: "handler_error", retryable: true });
`;
}

interface Received {
  path: string;
  body: string;
}

/** A loopback OTLP/HTTP receiver that keeps every request body. */
function startReceiver() {
  const received: Received[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      received.push({ path: new URL(request.url).pathname, body: await request.text() });
      return new Response("{}", { headers: { "content-type": "application/json" } });
    },
  );
  return { received, server, port: server.addr.port };
}

interface OtlpSpan {
  name: string;
  spanId: string;
  parentSpanId?: string;
  traceId: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status?: { code?: number; message?: string };
  attributes: Record<string, unknown>;
  scope: string;
}

/** The spans in OTLP JSON trace export bodies, attributes flattened. */
function spansOf(received: Received[]): OtlpSpan[] {
  const spans: OtlpSpan[] = [];
  for (const { path, body } of received) {
    if (path !== "/v1/traces") continue;
    for (const rs of JSON.parse(body).resourceSpans ?? []) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const span of ss.spans ?? []) {
          const attributes: Record<string, unknown> = {};
          for (const { key, value } of span.attributes ?? []) {
            attributes[key] = value.stringValue ?? value.boolValue ??
              (value.intValue !== undefined ? Number(value.intValue) : value.doubleValue);
          }
          spans.push({ ...span, attributes, scope: ss.scope?.name });
        }
      }
    }
  }
  return spans;
}

function resourceAttributes(received: Received[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { path, body } of received) {
    if (path !== "/v1/traces") continue;
    for (const rs of JSON.parse(body).resourceSpans ?? []) {
      for (const { key, value } of rs.resource?.attributes ?? []) out[key] = value.stringValue;
    }
  }
  return out;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function runChild(script: string, env: Record<string, string>, args: string[] = []) {
  const dir = await Deno.makeTempDir({ prefix: "wb_otel_" });
  try {
    const file = `${dir}/child.ts`;
    await Deno.writeTextFile(file, script);
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--config",
        CONFIG,
        "--allow-env",
        "--allow-run",
        "--allow-read",
        file,
        ...args,
      ],
      env: { WB_TEST_SECRET: SECRET, ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: output.code,
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function assertNearNs(actual: string, expected: bigint): void {
  const diff = BigInt(actual) - expected;
  assert.ok(diff > -1000n && diff < 1000n, `${actual} is not within 1 µs of ${expected}`);
}

function checkStepTree(spans: OtlpSpan[], received: Received[]): void {
  const one = (name: string) => {
    const found = spans.filter((s) => s.name === name);
    assert.equal(found.length, 1, `exactly one ${name} span, got ${found.length}`);
    return found[0];
  };
  const root = one("worker.step_execution");
  assert.equal(root.scope, "wasm-broker");
  for (const [key, value] of Object.entries(STEP)) assert.equal(root.attributes[key], value, key);
  assert.equal(root.attributes["http.url"], "https://api.example/orders?key=[REDACTED]");
  assert.equal(root.status?.code, 2); // STATUS_CODE_ERROR
  assert.equal(root.status?.message, "failed: [REDACTED]");
  assert.equal(root.attributes["error.type"], "handler_error");
  assert.ok(!root.parentSpanId, "the step span is a root");

  const claim = one("worker.claim");
  assert.equal(claim.parentSpanId, root.spanId);
  assert.equal(claim.attributes["tasker.attempt"], 1);
  assert.equal(one("probe.inner").parentSpanId, claim.spanId);
  assert.equal(one("worker.report").parentSpanId, root.spanId);

  const run = one("worker.run");
  for (const name of ["worker.compile", "worker.instantiate", "worker.run"]) {
    assert.equal(one(name).parentSpanId, root.spanId, name);
    assert.equal(one(name).attributes["wasm.timing"], "derived");
  }
  // The derived times are exported as given (to within float rounding of ms
  // to ns): the run ends at the window's end and lasted run_ms.
  assertNearNs(run.endTimeUnixNano, 1_700_000_000_100_000_000n);
  assertNearNs(run.startTimeUnixNano, 1_700_000_000_090_000_000n);
  assert.equal(run.attributes["error.type"], "handler_error");
  assert.equal(run.status?.message, "upstream said [REDACTED]");

  // One http call was timed: a span of its own where it ran. The other two, and the read, are
  // counted: one span per function.
  const calls = spans.filter((s) => s.name === "wasm.host_call");
  assert.deepEqual(
    calls.map((c) =>
      `${c.attributes["wasm.capability"]}.${c.attributes["wasm.function"]} ${
        c.attributes["wasm.timing"]
      }`
    ).sort(),
    ["http.request derived", "http.request measured", "io.read_input derived"],
  );
  for (const call of calls) assert.equal(call.parentSpanId, run.spanId);
  const timed = calls.find((c) => c.attributes["wasm.timing"] === "measured")!;
  assertNearNs(timed.startTimeUnixNano, 1_700_000_000_091_000_000n);
  assertNearNs(timed.endTimeUnixNano, 1_700_000_000_095_000_000n);
  assert.equal(
    calls.find((c) =>
      c.attributes["wasm.capability"] === "http" && c.attributes["wasm.timing"] === "derived"
    )?.attributes["wasm.host_call.count"],
    2,
  );
  for (const span of spans) assert.equal(span.traceId, root.traceId);

  // Nothing exported — traces, logs, metrics — carries the secret in any form.
  for (const { body } of received) {
    assert.ok(!body.includes(SECRET), "secret in an export body");
    assert.ok(!body.includes(btoa(SECRET)), "base64 secret in an export body");
  }
}

Deno.test("Deno's OTLP export (OTEL_DENO=true, http/json) carries the step's span tree, redacted", async () => {
  const { received, server, port } = startReceiver();
  try {
    const child = await runChild(childScript(), {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_SERVICE_NAME: "wasm-broker-test",
    });
    assert.equal(child.code, 0, child.stderr);
    await waitFor(
      () => spansOf(received).some((s) => s.name === "worker.step_execution"),
      "the step span at the receiver",
    );
    checkStepTree(spansOf(received), received);
    assert.equal(resourceAttributes(received)["service.name"], "wasm-broker-test");
  } finally {
    await server.shutdown();
  }
});

Deno.test("Tasker's TELEMETRY_ENABLED=true relaunches with Deno's exporter on and the spans arrive", async () => {
  const { received, server, port } = startReceiver();
  try {
    const child = await runChild(childScript(true), {
      TELEMETRY_ENABLED: "true",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    });
    assert.equal(child.code, 0, child.stderr);
    await waitFor(
      () => spansOf(received).some((s) => s.name === "worker.step_execution"),
      "the step span at the receiver",
    );
    checkStepTree(spansOf(received), received);
    assert.equal(resourceAttributes(received)["service.name"], "wasm-broker");
  } finally {
    await server.shutdown();
  }
});

Deno.test("without OTEL_DENO the helpers record nothing and nothing is sent", async () => {
  const { received, server, port } = startReceiver();
  try {
    const child = await runChild(childScript(), {
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    });
    assert.equal(child.code, 3, child.stderr);
    assert.match(child.stderr, /OTEL_DENO is not on/);
    // Give a (wrong) exporter time to show up; none must.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(received, []);
  } finally {
    await server.shutdown();
  }
});
