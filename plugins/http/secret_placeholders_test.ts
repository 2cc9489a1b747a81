import assert from "node:assert/strict";
import { GuestFault, WasmBrokerError } from "../../src/errors.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import type { StepOutcome } from "../../src/runtime/step_outcome.ts";
import { ioPlugin } from "../io/mod.ts";
import { mapSecretSource, type SecretSource } from "../secrets/mod.ts";
import { FETCH_GUEST, type GuestResult } from "./_fetch_guest.ts";
import { httpPlugin } from "./http_plugin.ts";
import { HttpPolicySchema } from "./http_policy_schema.ts";
import { encodeUrlValue, prepareSecretPlaceholders, StepSecrets } from "./secret_placeholders.ts";

const TOKEN = "tok-8f3a9c21";
const ODD = `p@ss w"rd/'!*`;
const PUBLIC = "93.184.215.14";
const step = { stepId: "s-1", handler: "h", correlationId: "c-1" };

function secretsOf(values: Record<string, string>, declared = Object.keys(values)): StepSecrets {
  return new StepSecrets(declared, { values });
}

Deno.test("prepareSecretPlaceholders() resolves declared keys and marks the values sensitive", async () => {
  const source = mapSecretSource({ API_TOKEN: TOKEN, OTHER: "other-value-1" });
  assert.deepEqual(await prepareSecretPlaceholders([], source), {});
  assert.deepEqual(await prepareSecretPlaceholders(["API_TOKEN", "UNSET"], source), {
    data: { values: { API_TOKEN: TOKEN } },
    sensitive: [TOKEN],
  });
});

Deno.test("prepareSecretPlaceholders() refuses short values and reports a failing source", async () => {
  await assert.rejects(
    prepareSecretPlaceholders(["SHORT"], mapSecretSource({ SHORT: "abc" })),
    (error: unknown) =>
      error instanceof WasmBrokerError && error.code === "policy_fault" &&
      error.details.reason === "secret_too_short" && !error.message.includes("abc"),
  );
  const broken: SecretSource = { get: () => Promise.reject(new Error("vault says hunter2")) };
  await assert.rejects(
    prepareSecretPlaceholders(["API_TOKEN"], broken),
    (error: unknown) =>
      error instanceof WasmBrokerError && error.code === "internal" && error.retryable &&
      !error.message.includes("hunter2"),
  );
  const wrongType = { get: () => 42 } as unknown as SecretSource;
  await assert.rejects(prepareSecretPlaceholders(["API_TOKEN"], wrongType), TypeError);
});

Deno.test("StepSecrets.substitute() percent-encodes URL values, keeps header values and JSON-escapes JSON bodies", () => {
  const secrets = secretsOf({ API_TOKEN: TOKEN, ODD });
  const done = secrets.substitute({
    url: "https://api.example.com/v1/${secrets.ODD}?key=${secrets.API_TOKEN}",
    headers: { authorization: "Bearer ${secrets.API_TOKEN}", "Content-Type": "application/json" },
    body: '{"password":"${secrets.ODD}"}',
  });
  assert.ok(done.ok);
  assert.equal(
    done.request.url,
    `https://api.example.com/v1/p%40ss%20w%22rd%2F%27%21%2A?key=${TOKEN}`,
  );
  assert.equal(new URL(done.request.url).href, done.request.url, "URL parsing keeps the encoding");
  assert.equal(done.request.headers?.authorization, `Bearer ${TOKEN}`);
  assert.deepEqual(JSON.parse(done.request.body!), { password: ODD });
  assert.deepEqual([...done.used].sort(), ["API_TOKEN", "ODD"]);
});

Deno.test("StepSecrets.substitute() puts values into a non-JSON body as they are", () => {
  const secrets = secretsOf({ ODD });
  const done = secrets.substitute({
    url: "https://api.example.com/",
    headers: { "content-type": "text/plain" },
    body: "pw=${secrets.ODD}",
  });
  assert.ok(done.ok);
  assert.equal(done.request.body, `pw=${ODD}`);
});

Deno.test("StepSecrets.substitute() leaves text that is no placeholder alone", () => {
  const secrets = secretsOf({ API_TOKEN: TOKEN });
  const request = {
    url: "https://api.example.com/${secrets.lower}/${secret.API_TOKEN}",
    headers: { "x-a": "$${secrets.}" },
    body: "{secrets.API_TOKEN}",
  };
  const done = secrets.substitute(request);
  assert.ok(done.ok);
  assert.deepEqual(done.request, request);
  assert.deepEqual(done.used, []);
});

Deno.test("StepSecrets.substitute() denies undeclared keys and fails declared keys without a value", () => {
  const secrets = secretsOf({ API_TOKEN: TOKEN }, ["API_TOKEN", "UNSET"]);
  const undeclared = secrets.substitute({
    url: "https://api.example.com/",
    body: "${secrets.DATABASE_URL}",
  });
  assert.ok(!undeclared.ok);
  assert.equal(undeclared.kind, "deny");
  assert.equal(undeclared.code, "secret_undeclared");
  const missing = secrets.substitute({
    url: "https://api.example.com/",
    headers: { "x-key": "${secrets.UNSET}" },
  });
  assert.ok(!missing.ok);
  assert.equal(missing.kind, "fail");
  assert.equal(missing.errno, "not_found");
  assert.equal(missing.code, "secret_missing");
  const none = new StepSecrets([], undefined);
  const refused = none.substitute({ url: "https://api.example.com/?k=${secrets.API_TOKEN}" });
  assert.ok(!refused.ok && refused.code === "secret_undeclared");
});

Deno.test("StepSecrets.substitute() denies a header whose secret value is not printable ASCII", () => {
  const secrets = secretsOf({ MULTI: "line-one\r\nHost: evil" });
  const done = secrets.substitute({
    url: "https://api.example.com/",
    headers: { "x-key": "${secrets.MULTI}" },
  });
  assert.ok(!done.ok);
  assert.equal(done.code, "header_invalid");
  assert.ok(!done.message.includes("line-one"));
});

Deno.test("StepSecrets.sanitize() redacts values, their encodings and their clipped starts", () => {
  const secrets = secretsOf({ API_TOKEN: TOKEN, ODD });
  assert.equal(secrets.sanitize(`sent ${TOKEN}`), "sent [REDACTED]");
  assert.equal(secrets.sanitize(`to /${encodeUrlValue(ODD)}/x`), "to /[REDACTED]/x");
  assert.equal(
    secrets.sanitize(`Cannot request "https://a.example/?k=${TOKEN.slice(0, 7)}..."`),
    'Cannot request "https://a.example/?k=[REDACTED]..."',
  );
  assert.equal(secrets.sanitize("nothing to hide..."), "nothing to hide...");
  assert.equal(new StepSecrets([], undefined).sanitize(`keep ${TOKEN}`), `keep ${TOKEN}`);
});

Deno.test("StepSecrets.guardResponse() turns the URL back into placeholders and faults on an echoed value", () => {
  const secrets = secretsOf({ API_TOKEN: TOKEN });
  const clean = secrets.guardResponse({
    status: 200,
    headers: {},
    body: "ok",
    url: `https://api.example.com/?key=${TOKEN}`,
  }, ["API_TOKEN"]);
  assert.equal(clean.url, "https://api.example.com/?key=${secrets.API_TOKEN}");
  for (
    const echoed of [
      { body: `{"auth":"Bearer ${TOKEN}"}` },
      { headers: { "x-echo": btoa(TOKEN) } },
      { body_base64: btoa(`xx${TOKEN}`) },
    ]
  ) {
    assert.throws(
      () =>
        secrets.guardResponse({ status: 200, headers: {}, url: "https://a.example/", ...echoed }, [
          "API_TOKEN",
        ]),
      (error: unknown) =>
        error instanceof GuestFault && error.code === "secret_leak" &&
        !error.message.includes(TOKEN),
    );
  }
});

Deno.test("HttpPolicySchema accepts secret keys in the secrets grammar only, without duplicates", () => {
  assert.deepEqual(HttpPolicySchema.parse({ secrets: ["API_TOKEN"] }).secrets, ["API_TOKEN"]);
  assert.equal(HttpPolicySchema.safeParse({ secrets: ["api_token"] }).success, false);
  assert.equal(HttpPolicySchema.safeParse({ secrets: ["A_B", "A_B"] }).success, false);
});

// Through the plugin: a real guest, an injected fetch that records what is sent.

async function runGuest(
  request: unknown,
  http: Record<string, unknown>,
  respond: (req: Request) => Response = () => new Response("fine"),
): Promise<{ outcome: StepOutcome; sent: Request[] }> {
  const sent: Request[] = [];
  const plugin = httpPlugin({
    fetch: (input, init) => {
      const req = new Request(input as URL, init);
      sent.push(req.clone());
      return Promise.resolve(respond(req));
    },
    lookup: () => Promise.resolve([PUBLIC]),
    secrets: mapSecretSource({ API_TOKEN: TOKEN }),
  });
  const runtime = new Runtime({ plugins: [ioPlugin(), plugin] });
  const guest = await runtime.load(FETCH_GUEST, { capabilities: { io: {}, http } }, { name: "h" });
  return { outcome: await runtime.execute(guest, request), sent };
}

const POLICY = {
  allow: ["https://api.example.com"],
  methods: ["GET", "POST"],
  secrets: ["API_TOKEN"],
};

Deno.test("httpPlugin() sends the secret value while the guest sees only its placeholder", async () => {
  const { outcome, sent } = await runGuest({
    method: "GET",
    url: "https://api.example.com/items?key=${secrets.API_TOKEN}",
    headers: { authorization: "Bearer ${secrets.API_TOKEN}" },
  }, POLICY);
  assert.equal(outcome.status, "completed", JSON.stringify(outcome.error));
  assert.equal(sent.length, 1);
  assert.equal(sent[0].headers.get("authorization"), `Bearer ${TOKEN}`);
  assert.equal(new URL(sent[0].url).searchParams.get("key"), TOKEN);
  const result = outcome.result as GuestResult;
  assert.ok("response" in result);
  assert.equal(result.response.url, "https://api.example.com/items?key=${secrets.API_TOKEN}");
  assert.ok(!JSON.stringify(outcome).includes(TOKEN));
});

Deno.test("httpPlugin() fails the step with secret_leak when the server echoes the value", async () => {
  const { outcome, sent } = await runGuest(
    {
      method: "GET",
      url: "https://api.example.com/echo",
      headers: { authorization: "Bearer ${secrets.API_TOKEN}" },
    },
    POLICY,
    (req) => Response.json({ seen: req.headers.get("authorization") }),
  );
  assert.equal(sent.length, 1);
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.error?.code, "secret_leak");
  assert.ok(!JSON.stringify(outcome).includes(TOKEN));
});

Deno.test("httpPlugin() denies an undeclared placeholder before sending anything", async () => {
  const { outcome, sent } = await runGuest({
    method: "GET",
    url: "https://api.example.com/?k=${secrets.OTHER}",
  }, POLICY);
  assert.equal(sent.length, 0);
  const result = outcome.result as GuestResult;
  assert.ok("errno" in result);
  assert.equal(result.errno, -1);
  assert.equal(result.error.code, "secret_undeclared");
  assert.equal(outcome.metrics.denials_by_code["http.secret_undeclared"], 1);
});

Deno.test("httpPlugin() keeps secret values out of the policy messages the guest reads", async () => {
  // The substituted URL is denied (path not allowed); its message quotes the URL, clipped.
  const { outcome, sent } = await runGuest({
    method: "GET",
    url: `https://api.example.com/${"x".repeat(90)}/\${secrets.API_TOKEN}`,
  }, { ...POLICY, allow: ["https://api.example.com/v1"] });
  assert.equal(sent.length, 0);
  const result = outcome.result as GuestResult;
  assert.ok("errno" in result);
  assert.equal(result.error.code, "path_denied");
  assert.ok(!result.error.message.includes(TOKEN.slice(0, 3)), result.error.message);
  assert.equal(outcome.status, "completed");
});

Deno.test("httpPlugin() prepares no step data for a policy without secrets", async () => {
  const plugin = httpPlugin({ secrets: mapSecretSource({ API_TOKEN: TOKEN }) });
  assert.deepEqual(await plugin.prepareStep!(HttpPolicySchema.parse({}), step), {});
});
