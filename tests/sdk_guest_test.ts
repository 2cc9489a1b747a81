/**
 * The AssemblyScript SDK end to end: guests built with buildAssemblyScript()
 * run through the Runtime (in-process executor) with the real io, log,
 * secrets and time plugins. The http wrapper is checked against a test double
 * of the `http` namespace that follows the guest ABI (request JSON in, staged
 * response JSON out, `last_error`, async like the real one): it pins down the
 * SDK's side of the contract independently of the http plugin's policy, DNS
 * and network.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ioPlugin } from "../plugins/io/mod.ts";
import { logPlugin } from "../plugins/log/mod.ts";
import { mapSecretSource, secretsPlugin } from "../plugins/secrets/mod.ts";
import { MAX_RANDOM_BYTES, timePlugin } from "../plugins/time/mod.ts";
import type { CapabilityPlugin, HostErrnoName } from "../src/capability/capability_plugin.ts";
import { createStepClock } from "../src/capability/step_clock.ts";
import { UnknownImportError } from "../src/errors.ts";
import { buildAssemblyScript } from "../src/build/asc_build.ts";
import { Runtime } from "../src/runtime/runtime.ts";

const CATALOG = fileURLToPath(new URL("../catalog/", import.meta.url));
const SDK_INDEX = join(CATALOG, "sdk", "index.ts");

async function example(name: string): Promise<{ bytes: Uint8Array; manifest: unknown }> {
  const dir = join(CATALOG, "examples", name);
  const { binary } = await buildAssemblyScript(join(dir, `${name}.ts`));
  const manifest = JSON.parse(await Deno.readTextFile(join(dir, "manifest.json")));
  return { bytes: binary, manifest };
}

/** Builds a guest from source text; `$SDK` in the source is replaced by the import path of the SDK. */
async function buildSource(source: string): Promise<Uint8Array<ArrayBuffer>> {
  const dir = await Deno.makeTempDir({ prefix: "sdk_guest_test_" });
  try {
    const entry = join(dir, "probe.ts");
    const sdk = relative(dir, SDK_INDEX).replace(/\.ts$/, "");
    await Deno.writeTextFile(entry, source.replaceAll("$SDK", sdk));
    return (await buildAssemblyScript(entry)).binary;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function importNames(bytes: Uint8Array): string[] {
  return WebAssembly.Module.imports(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>))
    .map((i) => `${i.module}.${i.name}`).sort();
}

const enc = new TextEncoder();

// ---------------------------------------------------------------- examples

const echo = await example("echo");
const greet = await example("greet");
const fetchJson = await example("fetch_json");

Deno.test("echo example writes its input back unchanged", async () => {
  const runtime = new Runtime({ plugins: [ioPlugin(), logPlugin()] });
  try {
    const guest = await runtime.load(echo.bytes, echo.manifest);
    const input = { text: "héllo \u{1F600}", n: [1, 2.5, -3e-7], nested: { ok: true, none: null } };
    const outcome = await runtime.execute(guest, input);
    assert.equal(outcome.error, null);
    assert.equal(outcome.status, "completed");
    assert.deepEqual(outcome.result, input);
    assert.equal(outcome.metrics.host_calls["io.write_output"], 1);
  } finally {
    await runtime.close();
  }
});

Deno.test("echo example imports only io functions (and env.abort, which needs no grant)", () => {
  assert.deepEqual(importNames(echo.bytes), [
    "env.abort",
    "io.input_len",
    "io.read_input",
    "io.write_output",
  ]);
});

Deno.test("echo example is refused under a manifest that does not grant io", async () => {
  const runtime = new Runtime({ plugins: [ioPlugin(), logPlugin()] });
  try {
    const error = await runtime.load(echo.bytes, { capabilities: { log: {} } }).then(
      () => assert.fail("expected the import audit to refuse the guest"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof UnknownImportError);
    assert.equal(error.module, "io");
    assert.equal(error.reason, "undeclared_capability");
  } finally {
    await runtime.close();
  }
});

Deno.test("greet example greets by name and logs the name at info", async () => {
  const runtime = new Runtime({ plugins: [ioPlugin(), logPlugin()] });
  try {
    const guest = await runtime.load(greet.bytes, greet.manifest);
    const outcome = await runtime.execute(guest, { name: "Ada" }, { step: { stepId: "st-7" } });
    assert.equal(outcome.error, null);
    assert.deepEqual(outcome.result, { greeting: "Hello, Ada!" });
    assert.equal(outcome.logs.length, 1);
    assert.equal(outcome.logs[0].level, "info");
    assert.equal(outcome.logs[0].message, "greeting Ada");
    assert.equal(outcome.logs[0].step_id, "st-7");
  } finally {
    await runtime.close();
  }
});

Deno.test("greet example keeps quotes, control characters and non-BMP text intact", async () => {
  const runtime = new Runtime({ plugins: [ioPlugin(), logPlugin()] });
  try {
    const guest = await runtime.load(greet.bytes, greet.manifest);
    const name = 'Zoë "Z" \\ \n\t\u0001 \u{1F469}\u200D\u{1F4BB} \u4E2D';
    const outcome = await runtime.execute(guest, { name, ignored: [1, { deep: "x" }] });
    assert.equal(outcome.error, null);
    assert.deepEqual(outcome.result, { greeting: `Hello, ${name}!` });
    assert.equal(outcome.logs[0].message, `greeting ${name}`);
  } finally {
    await runtime.close();
  }
});

Deno.test("greet example reports missing name as handler_error with the guest's code", async () => {
  const runtime = new Runtime({ plugins: [ioPlugin(), logPlugin()] });
  try {
    const guest = await runtime.load(greet.bytes, greet.manifest);
    for (const input of [{}, { name: 42 }, { name: "" }, [1]]) {
      const outcome = await runtime.execute(guest, input);
      assert.equal(outcome.status, "failed", JSON.stringify(input));
      assert.equal(outcome.error?.code, "handler_error");
      assert.equal(outcome.error?.retryable, false);
      assert.equal(outcome.error?.details?.guest_code, "bad_input");
      assert.equal(outcome.error?.message, "Cannot greet as input.name is not a non-empty string");
      assert.equal(outcome.logs.length, 0);
    }
  } finally {
    await runtime.close();
  }
});

Deno.test("greet example reports input that is not JSON with the parser's offset", async () => {
  const runtime = new Runtime({ plugins: [ioPlugin(), logPlugin()] });
  try {
    const guest = await runtime.load(greet.bytes, greet.manifest);
    const outcome = await runtime.execute(guest, enc.encode('{"name": "Ada",}'));
    assert.equal(outcome.error?.code, "handler_error");
    assert.equal(
      outcome.error?.message,
      "Cannot greet as the input is not JSON: expected a string key at offset 15",
    );
  } finally {
    await runtime.close();
  }
});

Deno.test("greet example imports io and log only", () => {
  assert.deepEqual(importNames(greet.bytes), [
    "env.abort",
    "io.fail",
    "io.input_len",
    "io.read_input",
    "io.write_output",
    "log.write",
  ]);
});

// ------------------------------------------------------------ trap and abort

const ABORTING = await buildSource(`import { readInputJson, writeOutput } from "$SDK";

export function run(): i32 {
  const input = readInputJson().value!;
  const items: i32[] = [1, 2, 3];
  if (input.getBool("index")) return items[<i32>input.getNumber("at")];
  assert(input.getBool("ok"), "input.ok must be true");
  writeOutput("{}");
  return 0;
}
`);

Deno.test("an AssemblyScript assertion failure becomes a trap with the message, file and line", async () => {
  const runtime = new Runtime({ plugins: [ioPlugin(), logPlugin()] });
  try {
    const guest = await runtime.load(ABORTING, { capabilities: { io: {} } });
    const passed = await runtime.execute(guest, { ok: true });
    assert.equal(passed.status, "completed");
    const outcome = await runtime.execute(guest, { ok: false });
    assert.equal(outcome.status, "failed");
    assert.equal(outcome.error?.code, "trap");
    assert.equal(outcome.error?.retryable, false);
    assert.equal(outcome.error?.details?.trap, "abort");
    assert.equal(outcome.error?.details?.file, "probe.ts");
    assert.equal(outcome.error?.details?.line, 7);
    assert.equal(outcome.error?.message, "guest aborted: input.ok must be true at probe.ts:7:3");
  } finally {
    await runtime.close();
  }
});

Deno.test("an out-of-range array index aborts instead of reading past the array", async () => {
  const runtime = new Runtime({ plugins: [ioPlugin(), logPlugin()] });
  try {
    const guest = await runtime.load(ABORTING, { capabilities: { io: {} } });
    const outcome = await runtime.execute(guest, { index: true, at: 7 });
    assert.equal(outcome.error?.code, "trap");
    assert.equal(outcome.error?.details?.trap, "abort");
    assert.match(String(outcome.error?.message), /^guest aborted: Index out of range at ~lib\//);
  } finally {
    await runtime.close();
  }
});

Deno.test("a guest that allocates past limits.memory traps under the stub runtime", async () => {
  const hungry = await buildSource(`export function run(): i32 {
  const keep: ArrayBuffer[] = [];
  for (let i = 0; i < 64; i++) keep.push(new ArrayBuffer(65536));
  return keep.length - 64;
}
`);
  const runtime = new Runtime({ plugins: [ioPlugin()] });
  try {
    const small = await runtime.load(hungry, {
      capabilities: { io: {} },
      limits: { memory: "1MiB" },
    });
    const outcome = await runtime.execute(small, {});
    assert.equal(outcome.error?.code, "trap");
    assert.equal(outcome.error?.details?.trap, "unreachable");
    assert.ok(outcome.metrics.memory_high_water_bytes <= 1024 * 1024);
    // The same guest finishes (with no output) when the manifest allows the memory.
    const large = await runtime.load(hungry, {
      capabilities: { io: {} },
      limits: { memory: "8MiB" },
    });
    assert.equal((await runtime.execute(large, {})).error?.code, "no_output");
  } finally {
    await runtime.close();
  }
});

// ----------------------------------------------------------- JSON helpers

const JSON_PROBE = await buildSource(
  `import { fail, JsonValue, JsonWriter, parseJson, readInputJson, writeOutput } from "$SDK";

export function run(): i32 {
  const input = readInputJson();
  if (!input.ok) return fail("probe input: " + input.error!);
  const req = input.value!;
  const op = req.getString("op")!;
  if (op == "roundtrip") {
    const parsed = parseJson(req.getString("text")!);
    const out = new JsonWriter().beginObject();
    if (parsed.ok) out.field("text", parsed.value!.toString());
    else out.field("error", parsed.error);
    writeOutput(out.endObject().toString());
    return 0;
  }
  if (op == "writer") {
    const nested = JsonValue.object().set("k", JsonValue.array().push(JsonValue.number(0.25)));
    nested.set("k2", JsonValue.bool(false)).set("k", JsonValue.string("replaced"));
    const none: string | null = null;
    const out = new JsonWriter().beginObject()
      .field("t", true)
      .field("i", <i32>-42)
      .field("u8", <u8>255)
      .field("i64", i64.MAX_VALUE)
      .field("whole", 3.0)
      .field("frac", 1.5)
      .field("tiny", 1e-7)
      .field("huge", 1e21)
      .field("nan", NaN)
      .field("inf", -Infinity)
      .field("s", "q\\"\\\\\\n\\u0001/")
      .field("lone", String.fromCharCode(0xd800) + "x")
      .field("pair", String.fromCharCodes([0xd83d, 0xde00]))
      .field("none", none)
      .field("value", nested)
      .key("list").beginArray().value(1).value("two").null().beginObject().endObject().endArray()
      .key("raw").raw("[true]")
      .endObject();
    writeOutput(out.toString());
    return 0;
  }
  if (op == "fail") {
    return fail(req.getString("message")!, req.getString("code"), req.getBool("retryable"), req.get("details"));
  }
  return fail("unknown op " + op);
}
`,
);

interface ProbeOptions {
  /** Plugins besides io and log; each is granted (with an empty policy unless `policies` says). */
  plugins?: CapabilityPlugin[];
  policies?: Record<string, unknown>;
  limits?: Record<string, unknown>;
}

const CLOCK = { startMs: 1_700_000_000_000, seed: 7 };

/** Runs a probe guest once under a virtual clock. */
async function probe(bytes: Uint8Array, input: unknown, options: ProbeOptions = {}) {
  const plugins = [ioPlugin(), logPlugin(), ...(options.plugins ?? [])];
  const runtime = new Runtime({ plugins });
  try {
    const guest = await runtime.load(bytes, {
      capabilities: Object.fromEntries(
        plugins.map((p) => [p.name, options.policies?.[p.name] ?? {}]),
      ),
      ...(options.limits ? { limits: options.limits } : {}),
    });
    return await runtime.execute(guest, input, { clock: CLOCK });
  } finally {
    await runtime.close();
  }
}

Deno.test("parseJson() and JsonValue.toString() round-trip what JSON.parse accepts", async () => {
  const cases = [
    "0",
    "-0",
    "1.50",
    "-12.5e+3",
    "1E-7",
    "12345678901234567890123",
    '"plain"',
    '"esc \\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00 \\ud800"',
    "true",
    "null",
    "[]",
    "{}",
    ' [ 1 , [ 2 , [ 3 ] ] , { "a" : { } } ] ',
    '{"a":1,"b":[true,false,null],"c":{"d":"e"},"a":2}',
    '\t\r\n {"k":"v"}\n',
    JSON.stringify({ text: "ü".repeat(100), list: Array.from({ length: 50 }, (_, i) => i * 1.5) }),
    "[".repeat(256) + "]".repeat(256),
  ];
  for (const text of cases) {
    const outcome = await probe(JSON_PROBE, { op: "roundtrip", text });
    assert.equal(outcome.error, null, text);
    const result = outcome.result as { text?: string; error?: string };
    assert.equal(result.error, undefined, `${text}: ${result.error}`);
    assert.deepEqual(JSON.parse(result.text!), JSON.parse(text), text);
  }
  // Numbers keep their source text, so integers beyond 2^53 survive.
  const big = await probe(JSON_PROBE, { op: "roundtrip", text: "[12345678901234567890123,1.50]" });
  assert.deepEqual(big.result, { text: "[12345678901234567890123,1.50]" });
});

Deno.test("parseJson() rejects malformed JSON with what was expected and the offset", async () => {
  const cases: [string, string][] = [
    ["", "unexpected end of input at offset 0"],
    ["{", "expected a string key at offset 1"],
    ['{"a" 1}', "expected ':' at offset 5"],
    ['{"a":}', "unexpected character at offset 5"],
    ["[1 2]", "expected ',' or ']' at offset 3"],
    ['{"a":1 "b":2}', "expected ',' or '}' at offset 7"],
    ["01", "expected end of input at offset 1"],
    ["1.", "expected a digit after '.' at offset 2"],
    ["1e+", "expected a digit in the exponent at offset 3"],
    ["-x", "expected a digit at offset 1"],
    ['"abc', "unterminated string at offset 4"],
    ['"a\u0001"', "unescaped control character in string at offset 2"],
    ['"\\x"', "invalid escape at offset 2"],
    ['"\\u12g4"', "expected 4 hex digits after \\u at offset 5"],
    ["tru", "unexpected character at offset 0"],
    ["[1] [2]", "expected end of input at offset 4"],
    ["[".repeat(257) + "]".repeat(257), "nesting deeper than 256 at offset 256"],
  ];
  for (const [text, error] of cases) {
    const outcome = await probe(JSON_PROBE, { op: "roundtrip", text });
    assert.deepEqual(outcome.result, { error }, text);
  }
});

Deno.test("JsonWriter writes every supported value type as valid JSON", async () => {
  const outcome = await probe(JSON_PROBE, { op: "writer" });
  assert.equal(outcome.error, null);
  assert.deepEqual(outcome.result, {
    t: true,
    i: -42,
    u8: 255,
    i64: 9223372036854775807,
    whole: 3,
    frac: 1.5,
    tiny: 1e-7,
    huge: 1e21,
    nan: null,
    inf: null,
    s: 'q"\\\n\u0001/',
    lone: "\ud800x",
    pair: "\u{1F600}",
    none: null,
    value: { k: "replaced", k2: false },
    list: [1, "two", null, {}],
    raw: [true],
  });
});

Deno.test("fail() reports message, code, retryable and details as a handler_error", async () => {
  const outcome = await probe(JSON_PROBE, {
    op: "fail",
    message: "upstream said no",
    code: "upstream_refused",
    retryable: true,
    details: { status: 503, tries: [1, 2] },
  });
  assert.equal(outcome.status, "failed");
  assert.deepEqual(outcome.error, {
    code: "handler_error",
    message: "upstream said no",
    retryable: true,
    details: { guest_code: "upstream_refused", guest_details: { status: 503, tries: [1, 2] } },
  });
});

Deno.test("fail() cuts an over-long message to the host's 4096 characters instead of losing it", async () => {
  const outcome = await probe(JSON_PROBE, { op: "fail", message: "m".repeat(5000) });
  assert.equal(outcome.error?.code, "handler_error");
  assert.equal(outcome.error?.message, "m".repeat(4096));
  assert.equal(outcome.error?.retryable, false);
  assert.equal(outcome.error?.details, undefined);
});

// ------------------------------------------------- log, http, secrets, time

const HOST_PROBE = await buildSource(
  `import { fail, http, JsonWriter, log, readInputJson, secrets, time, writeOutput } from "$SDK";

export function run(): i32 {
  const req = readInputJson().value!;
  const op = req.getString("op")!;
  const out = new JsonWriter().beginObject();
  if (op == "log") {
    out.field("debug", log.debug("d")).field("info", log.info("i"));
    out.field("warn", log.warn("w")).field("error", log.error("e"));
  } else if (op == "http") {
    const headers = new Map<string, string>();
    headers.set("accept", "application/json");
    const res = http.request(req.getString("method")!, req.getString("url")!, headers, req.getString("body"));
    out.field("ok", res.ok).field("errno", res.errno);
    const error = res.error;
    if (error) out.field("code", error.code).field("message", error.message);
    const response = res.response;
    if (response) {
      out.field("status", response.status).field("body", response.body).field("url", response.url);
      out.field("body_base64", response.bodyBase64);
      out.field("type", response.header("Content-Type")).field("missing", response.header("x-none"));
      const json = response.json();
      if (json.ok) out.field("parsed", json.value);
    }
  } else if (op == "secret") {
    const found = secrets.lookup(req.getString("key")!);
    // Compare inside the guest: the value itself never goes into the output.
    const value = found.value;
    out.field("ok", found.ok).field("errno", found.errno);
    out.field("matches", value != null && value == req.getString("expect"));
    const error = found.error;
    if (error) out.field("code", error.code).field("message", error.message);
    out.field("get_is_null", secrets.get(req.getString("key")!) == null);
  } else if (op == "time") {
    out.field("ms", time.nowMs()).field("ns", time.nowNs().toString());
    const a = time.monotonicNs();
    const b = time.monotonicNs();
    out.field("mono_delta", (b - a).toString());
    const bytes = new Uint8Array(<i32>req.getNumber("random"));
    const error = time.fillRandom(bytes);
    if (error) out.field("code", error.code).field("errno", error.errno);
    else {
      const list = out.key("random").beginArray();
      for (let i = 0; i < bytes.length; i++) list.value(bytes[i]);
      list.endArray();
    }
  } else {
    return fail("unknown op " + op);
  }
  writeOutput(out.endObject().toString());
  return 0;
}
`,
);

/** What the http double answers: a response object, a denial, or an error. */
type HttpAnswer =
  | Record<string, unknown>
  | { deny: string }
  | { fail: { errno: HostErrnoName; code: string; message: string } };

/**
 * A test double of the `http` namespace: records requests and answers from
 * `respond`. Like the real plugin its `request` is async, so guests run
 * through JSPI.
 */
function httpDouble(respond: (req: Record<string, unknown>) => HttpAnswer) {
  const requests: Record<string, unknown>[] = [];
  const plugin: CapabilityPlugin = {
    name: "http",
    description: "test double of the http ABI",
    schema: z.strictObject({}),
    functions: { request: { params: ["i32", "i32"], results: ["i32"], async: true } },
    instantiate: (ctx) => ({
      request: async (ptr: number, len: number) => {
        const req = JSON.parse(ctx.memory.readString(ptr, len) ?? "null");
        requests.push(req);
        await Promise.resolve(); // answer on a later turn, as a real exchange does
        const answer = respond(req);
        if ("deny" in answer && typeof answer.deny === "string") {
          return ctx.deny("denied", "host_not_allowed", answer.deny);
        }
        if ("fail" in answer) {
          const { errno, code, message } = answer.fail as {
            errno: HostErrnoName;
            code: string;
            message: string;
          };
          return ctx.fail(errno, code, message);
        }
        return ctx.stage(enc.encode(JSON.stringify(answer)));
      },
    }),
  };
  return { plugin, requests };
}

const SECRET = "tok-\u00e9-123456";

/**
 * The host probe imports every namespace, so each run grants all three: the
 * real secrets and time plugins, and the http double unless one is given.
 */
function hostPlugins(http?: CapabilityPlugin): ProbeOptions {
  return {
    plugins: [
      http ?? httpDouble(() => ({ deny: "not used" })).plugin,
      secretsPlugin({ source: mapSecretSource({ API_TOKEN: SECRET }) }),
      timePlugin(),
    ],
    policies: { secrets: { keys: ["API_TOKEN", "UNSET_TOKEN"] } },
  };
}

Deno.test("log functions write one record per level and report whether it was kept", async () => {
  const outcome = await probe(HOST_PROBE, { op: "log" }, {
    ...hostPlugins(),
    limits: { log: { lines: 2 } },
  });
  assert.equal(outcome.error, null);
  assert.deepEqual(outcome.result, { debug: true, info: true, warn: false, error: false });
  assert.deepEqual(outcome.logs.map((r) => [r.level, r.message]), [["debug", "d"], ["info", "i"]]);
});

Deno.test("http.request() sends the request JSON and parses the staged response", async () => {
  const { plugin, requests } = httpDouble(() => ({
    status: 201,
    headers: { "content-type": "application/json", "set-cookie": ["a=1", "b=2"] },
    body: '{"id":7}',
    url: "https://api.example.com/items/7",
  }));
  const outcome = await probe(HOST_PROBE, {
    op: "http",
    method: "POST",
    url: "https://api.example.com/items",
    body: '{"name":"x"}',
  }, hostPlugins(plugin));
  assert.equal(outcome.error, null);
  assert.deepEqual(requests, [{
    method: "POST",
    url: "https://api.example.com/items",
    headers: { accept: "application/json" },
    body: '{"name":"x"}',
  }]);
  assert.deepEqual(outcome.result, {
    ok: true,
    errno: 0,
    status: 201,
    body: '{"id":7}',
    url: "https://api.example.com/items/7",
    body_base64: null,
    type: "application/json",
    missing: null,
    parsed: { id: 7 },
  });
});

Deno.test("http.request() passes a binary body through as base64", async () => {
  const { plugin } = httpDouble((req) => ({
    status: 200,
    headers: {},
    body_base64: "AP/+",
    url: req.url,
  }));
  const outcome = await probe(HOST_PROBE, {
    op: "http",
    method: "GET",
    url: "https://api.example.com/blob",
  }, hostPlugins(plugin));
  assert.equal(outcome.error, null);
  assert.deepEqual(outcome.result, {
    ok: true,
    errno: 0,
    status: 200,
    body: "",
    url: "https://api.example.com/blob",
    body_base64: "AP/+",
    type: null,
    missing: null,
  });
});

Deno.test("http.request() leaves out an absent body and surfaces a denial as a value", async () => {
  const { plugin, requests } = httpDouble(() => ({ deny: "host evil.example is not allowed" }));
  const outcome = await probe(HOST_PROBE, {
    op: "http",
    method: "GET",
    url: "https://evil.example/",
  }, hostPlugins(plugin));
  assert.equal(outcome.error, null);
  assert.deepEqual(requests, [{
    method: "GET",
    url: "https://evil.example/",
    headers: { accept: "application/json" },
  }]);
  assert.deepEqual(outcome.result, {
    ok: false,
    errno: -1,
    code: "host_not_allowed",
    message: "host evil.example is not allowed",
  });
  assert.equal(outcome.metrics.policy_denials, 1);
});

Deno.test("secrets.lookup() returns a declared value, and the plugin's error otherwise", async () => {
  const found = await probe(
    HOST_PROBE,
    { op: "secret", key: "API_TOKEN", expect: SECRET },
    hostPlugins(),
  );
  assert.equal(found.error, null);
  assert.deepEqual(found.result, { ok: true, errno: 0, matches: true, get_is_null: false });

  const missing = await probe(HOST_PROBE, { op: "secret", key: "UNSET_TOKEN" }, hostPlugins());
  assert.deepEqual(missing.result, {
    ok: false,
    errno: -2,
    matches: false,
    code: "secret_missing",
    message: 'Cannot read secret "UNSET_TOKEN" as the secret source has no value for it',
    get_is_null: true,
  });

  const undeclared = await probe(HOST_PROBE, { op: "secret", key: "OTHER" }, hostPlugins());
  const result = undeclared.result as Record<string, unknown>;
  assert.equal(result.errno, -1);
  assert.equal(result.code, "secret_undeclared");
  assert.equal(result.get_is_null, true);
  assert.equal(undeclared.metrics.policy_denials, 2); // lookup() and get()
});

Deno.test("time functions return the step clock's readings and random bytes", async () => {
  const outcome = await probe(HOST_PROBE, { op: "time", random: 8 }, hostPlugins());
  assert.equal(outcome.error, null);
  // Replay the same readings on a clock with the same options.
  const clock = createStepClock(CLOCK);
  const ms = Number(clock.wallNs() / 1_000n) / 1_000;
  const ns = clock.wallNs();
  const before = clock.monotonicNs();
  const delta = clock.monotonicNs() - before;
  const random = new Uint8Array(8);
  clock.fillRandom(random);
  assert.deepEqual(outcome.result, {
    ms,
    ns: String(ns),
    mono_delta: String(delta),
    random: [...random],
  });
  assert.ok(ms > CLOCK.startMs);
});

Deno.test("time.fillRandom() returns the plugin's error for too many bytes at once", async () => {
  const outcome = await probe(
    HOST_PROBE,
    { op: "time", random: MAX_RANDOM_BYTES + 1 },
    hostPlugins(),
  );
  assert.equal(outcome.error, null);
  const result = outcome.result as Record<string, unknown>;
  assert.equal(result.code, "random_too_large");
  assert.equal(result.errno, -4);
  assert.equal(result.random, undefined);
});

Deno.test("a guest imports only the host functions its code reaches", async () => {
  const bytes = await buildSource(`import { http, writeOutput } from "$SDK";
export function run(): i32 {
  const res = http.get("https://example.com/");
  writeOutput(res.ok ? "1" : "0");
  return 0;
}
`);
  assert.deepEqual(importNames(bytes), [
    "env.abort",
    "http.last_error",
    "http.read_result",
    "http.request",
    "io.write_output",
  ]);
  assert.deepEqual(importNames(HOST_PROBE).filter((n) => n.startsWith("time.")), [
    "time.last_error",
    "time.monotonic_ns",
    "time.random",
    "time.wall_ms",
    "time.wall_ns",
  ]);
});

// ------------------------------------------------------------ fetch_json

Deno.test("fetch_json example GETs the url and writes the status and parsed body", async () => {
  const { plugin, requests } = httpDouble((req) => ({
    status: 200,
    headers: { "content-type": "application/json" },
    body: '{"items":[1,2],"name":"x"}',
    url: req.url,
  }));
  const outcome = await probe(fetchJson.bytes, { url: "https://api.example.com/x" }, {
    plugins: [plugin],
  });
  assert.equal(outcome.error, null);
  assert.deepEqual(requests, [{
    method: "GET",
    url: "https://api.example.com/x",
    headers: { accept: "application/json" },
  }]);
  assert.deepEqual(outcome.result, { status: 200, data: { items: [1, 2], name: "x" } });
  assert.deepEqual(outcome.logs.map((r) => r.message), ["GET https://api.example.com/x -> 200"]);
});

Deno.test("fetch_json example fails retryably only where waiting can help", async () => {
  const cases: [HttpAnswer, string, boolean][] = [
    [{ deny: "host not allowed" }, "host_not_allowed", false],
    [
      { fail: { errno: "timeout", code: "http_timeout", message: "took too long" } },
      "http_timeout",
      true,
    ],
    [
      { fail: { errno: "invalid_argument", code: "url_invalid", message: "bad url" } },
      "url_invalid",
      false,
    ],
    [{ status: 503, headers: {}, body: "", url: "https://api.example.com/x" }, "http_status", true],
    [
      { status: 404, headers: {}, body: "", url: "https://api.example.com/x" },
      "http_status",
      false,
    ],
    [
      { status: 200, headers: {}, body: "<html>", url: "https://api.example.com/x" },
      "bad_body",
      false,
    ],
  ];
  for (const [answer, code, retryable] of cases) {
    const { plugin } = httpDouble(() => answer);
    const outcome = await probe(fetchJson.bytes, { url: "https://api.example.com/x" }, {
      plugins: [plugin],
    });
    assert.equal(outcome.status, "failed", code);
    assert.equal(outcome.error?.code, "handler_error");
    assert.equal(outcome.error?.details?.guest_code, code);
    assert.equal(outcome.error?.retryable, retryable, code);
  }
});

Deno.test("fetch_json example imports http, io and log functions only", () => {
  assert.deepEqual(importNames(fetchJson.bytes), [
    "env.abort",
    "http.last_error",
    "http.read_result",
    "http.request",
    "io.fail",
    "io.input_len",
    "io.read_input",
    "io.write_output",
    "log.write",
  ]);
});
