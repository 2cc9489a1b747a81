import assert from "node:assert/strict";
import { CapabilityRegistry } from "../../src/capability/capability_registry.ts";
import { WasmBrokerError } from "../../src/errors.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import type { StepOutcome } from "../../src/runtime/step_outcome.ts";
import { ioPlugin } from "../io/mod.ts";
import { FETCH_GUEST, type GuestResult, rawRequestGuest } from "./_fetch_guest.ts";
import { httpPlugin, type HttpPluginOptions } from "./http_plugin.ts";
import { HttpPolicySchema } from "./http_policy_schema.ts";

const step = { stepId: "s-1", handler: "h", correlationId: "c-1" };
const PUBLIC = "93.184.215.14";

async function run(
  options: HttpPluginOptions,
  http: Record<string, unknown>,
  input: unknown,
  guest: Uint8Array = FETCH_GUEST,
): Promise<{ outcome: StepOutcome; result: GuestResult }> {
  const runtime = new Runtime({ plugins: [ioPlugin(), httpPlugin(options)] });
  const loaded = await runtime.load(guest, { capabilities: { io: {}, http } }, { name: "h" });
  const outcome = await runtime.execute(loaded, input);
  return { outcome, result: outcome.result as GuestResult };
}

function errorOf(result: GuestResult): { errno: number; code: string; message: string } {
  assert.ok("errno" in result, `expected an error, got ${JSON.stringify(result)}`);
  return { errno: result.errno, ...result.error };
}

const okFetch: typeof fetch = () => Promise.resolve(new Response("fine"));
const publicLookup = () => Promise.resolve([PUBLIC]);

Deno.test("httpPlugin() can be re-created in another process from its source", async () => {
  const plugin = httpPlugin({ fetch: okFetch, lookup: publicLookup });
  assert.deepEqual(plugin.source, {
    module: import.meta.resolve("./http_plugin.ts"),
    factory: "httpPlugin",
  });
  const module = await import(plugin.source!.module);
  const again = module[plugin.source!.factory](plugin.source!.options);
  assert.equal(again.name, "http");
  assert.deepEqual(Object.keys(again.functions), ["request"]);
  assert.equal(JSON.stringify(plugin.source), JSON.stringify(structuredClone(plugin.source)));
});

Deno.test("httpPlugin() declares request as an async host function taking (ptr, len)", () => {
  const plugin = httpPlugin();
  assert.deepEqual(plugin.functions.request.params, ["i32", "i32"]);
  assert.deepEqual(plugin.functions.request.results, ["i32"]);
  assert.equal(plugin.functions.request.async, true);
  assert.doesNotThrow(() => new CapabilityRegistry([plugin]));
});

Deno.test("onBrokerCall('resolve') resolves only hosts the policy allows", async () => {
  const looked: string[] = [];
  const plugin = httpPlugin({
    lookup: (host) => {
      looked.push(host);
      return host === "gone.example.com"
        ? Promise.reject(new Error("getaddrinfo ENOTFOUND"))
        : Promise.resolve([PUBLIC]);
    },
  });
  const policy = HttpPolicySchema.parse({ allow: ["https://*.example.com"] });
  assert.deepEqual(await plugin.onBrokerCall!(policy, step, "resolve", { host: "a.example.com" }), {
    addresses: [PUBLIC],
  });
  const refused = await plugin.onBrokerCall!(policy, step, "resolve", { host: "evil.com" });
  assert.match((refused as { error: string }).error, /not allowed/);
  const apex = await plugin.onBrokerCall!(policy, step, "resolve", { host: "example.com" });
  assert.match((apex as { error: string }).error, /not allowed/);
  const gone = await plugin.onBrokerCall!(policy, step, "resolve", { host: "gone.example.com" });
  assert.match((gone as { error: string }).error, /ENOTFOUND/);
  assert.deepEqual(looked, ["a.example.com", "gone.example.com"]);
});

Deno.test("onBrokerCall() grants leases only under the policy's limits and rejects unknown ops", async () => {
  let now = 0;
  const plugin = httpPlugin({ now: () => now });
  const unlimited = HttpPolicySchema.parse({});
  assert.deepEqual(await plugin.onBrokerCall!(unlimited, step, "acquire", {}), {
    ok: true,
    lease: null,
  });
  const limited = HttpPolicySchema.parse({ rate_limit: { requests: 1, per_ms: 1000 } });
  const first = await plugin.onBrokerCall!(limited, step, "acquire", {}) as {
    ok: true;
    lease: string;
  };
  assert.equal(first.ok, true);
  assert.deepEqual(await plugin.onBrokerCall!(limited, step, "acquire", {}), {
    ok: false,
    reason: "rate",
    retry_after_ms: 1000,
  });
  assert.deepEqual(await plugin.onBrokerCall!(limited, step, "release", { lease: first.lease }), {
    released: true,
  });
  assert.deepEqual(await plugin.onBrokerCall!(limited, step, "release", { lease: 1 }), {
    released: false,
  });
  now = 1000;
  assert.equal(
    (await plugin.onBrokerCall!(limited, step, "acquire", {}) as { ok: boolean }).ok,
    true,
  );
  await assert.rejects(
    plugin.onBrokerCall!(limited, step, "drop_tables", {}),
    (error: unknown) => error instanceof WasmBrokerError && error.code === "internal",
  );
});

Deno.test("http.request refuses a name when any of its addresses is private", async () => {
  let fetched = 0;
  const { outcome, result } = await run(
    {
      fetch: () => {
        fetched++;
        return Promise.resolve(new Response("no"));
      },
      lookup: () => Promise.resolve([PUBLIC, "10.0.0.7"]),
    },
    { allow: ["https://api.example.com"] },
    { url: "https://api.example.com/" },
  );
  const error = errorOf(result);
  assert.equal(error.code, "address_denied");
  assert.match(
    error.message,
    /"api.example.com" at 10\.0\.0\.7 as it is a private address/,
  );
  assert.equal(fetched, 0);
  assert.equal(outcome.metrics.denials_by_code["http.address_denied"], 1);
});

Deno.test("http.request refuses cloud metadata addresses behind a name", async () => {
  for (
    const address of [
      "169.254.169.254",
      "fd00:ec2::254",
      "100.100.100.200",
      "::ffff:169.254.169.254",
    ]
  ) {
    const { result } = await run({ fetch: okFetch, lookup: () => Promise.resolve([address]) }, {
      allow: ["http://metadata.example.com"],
      allow_private_addresses: ["169.254.0.0/16", "100.64.0.0/10", "fc00::/7"],
    }, { url: "http://metadata.example.com/latest" });
    const error = errorOf(result);
    assert.equal(error.code, "address_denied", address);
    assert.match(error.message, /cloud metadata endpoint/);
  }
});

Deno.test("http.request sends the normalized URL and the checked headers to fetch", async () => {
  const calls: { url: string; init: RequestInit }[] = [];
  const { result } = await run(
    {
      fetch: (input, init) => {
        calls.push({ url: String(input), init: init! });
        return Promise.resolve(
          new Response("fine", { headers: { "set-cookie": "a=1", "x-b": "2" } }),
        );
      },
      lookup: publicLookup,
    },
    { allow: ["https://api.example.com/v1"] },
    {
      url: "https://API.example.com./v1/../v1/x#frag",
      headers: { "x-trace": "t1" },
    },
  );
  assert.ok("response" in result);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, "https://api.example.com/v1/x");
  assert.equal(calls[0].init.redirect, "manual");
  assert.deepEqual(calls[0].init.headers, [["x-trace", "t1"]]);
  assert.equal(result.response.headers["x-b"], "2");
});

Deno.test("http.request reports a malformed request as invalid_argument without counting a denial", async () => {
  const fetchNever: typeof fetch = () => Promise.reject(new Error("must not be called"));
  const http = { allow: ["https://api.example.com"], methods: ["GET", "POST"] };
  const cases: unknown[] = [
    "not an object",
    { url: 42 },
    { url: "https://api.example.com/", extra: true },
    { url: "https://api.example.com/", method: "POST", body: "a", body_base64: "YQ==" },
    { url: "https://api.example.com/", method: "POST", body_base64: "not base64!" },
    { url: "https://api.example.com/", body: "a GET with a body" },
    { url: "::not a url" },
  ];
  for (const input of cases) {
    const { outcome, result } = await run({ fetch: fetchNever, lookup: publicLookup }, http, input);
    const error = errorOf(result);
    assert.equal(error.errno, -3, JSON.stringify(input));
    assert.ok(["request_invalid", "url_invalid"].includes(error.code), error.code);
    assert.equal(outcome.metrics.policy_denials, 0);
  }
});

Deno.test("http.request maps a refusal by the sandbox's network permission to sandbox_denied", async () => {
  const { result } = await run(
    {
      fetch: () =>
        Promise.reject(new Deno.errors.NotCapable('Requires net access to "api.example.com:443"')),
      lookup: publicLookup,
    },
    { allow: ["https://api.example.com"] },
    { url: "https://api.example.com/" },
  );
  const error = errorOf(result);
  assert.equal(error.code, "sandbox_denied");
  assert.equal(error.errno, -1);
});

Deno.test("http.request reports names that do not resolve as dns_failed", async () => {
  for (const lookup of [() => Promise.reject(new Error("ENOTFOUND")), () => Promise.resolve([])]) {
    const { outcome, result } = await run({ fetch: okFetch, lookup }, {
      allow: ["https://api.example.com"],
    }, { url: "https://api.example.com/" });
    const error = errorOf(result);
    assert.equal(error.code, "dns_failed");
    assert.equal(error.errno, -7);
    assert.equal(outcome.metrics.policy_denials, 0);
  }
});

Deno.test("http.request refuses a request JSON too large to hold a permitted body before reading it", async () => {
  const { result } = await run(
    { fetch: okFetch, lookup: publicLookup },
    { allow: ["https://api.example.com"], max_request_bytes: 1024 },
    {},
    rawRequestGuest(0, 3 * 1024 * 1024),
  );
  const error = errorOf(result);
  assert.equal(error.code, "too_large");
  assert.equal(error.errno, -4);
});

Deno.test("http.request faults the step on a pointer outside guest memory", async () => {
  const { outcome } = await run(
    { fetch: okFetch, lookup: publicLookup },
    { allow: ["https://api.example.com"] },
    {},
    rawRequestGuest(64 * 65536 - 10, 100),
  );
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error?.code, "bad_pointer");
});

Deno.test("http.request fails closed when the broker half cannot grant a lease", async () => {
  const broken = {
    ...httpPlugin({ fetch: okFetch, lookup: publicLookup }),
    onBrokerCall: () => Promise.reject(new Error("broker went away")),
  };
  const runtime = new Runtime({ plugins: [ioPlugin(), broken] });
  const guest = await runtime.load(FETCH_GUEST, {
    capabilities: { io: {}, http: { allow: ["https://api.example.com"], max_concurrent: 2 } },
  });
  const outcome = await runtime.execute(guest, { url: "https://api.example.com/" });
  const error = errorOf(outcome.result as GuestResult);
  assert.equal(error.code, "broker_unavailable");
  assert.equal(error.errno, -7);
});
