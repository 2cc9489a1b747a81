import assert from "node:assert/strict";
import { HttpPolicySchema } from "./http_policy_schema.ts";
import { allowedMethod, checkUrl, compileHttpPolicy, type UrlDecision } from "./url_policy.ts";

const policy = compileHttpPolicy(HttpPolicySchema.parse({
  allow: [
    "https://api.example.com/v1",
    "https://*.cdn.example.com",
    "http://127.0.0.1:8080",
    "http://[::1]:8080/health",
  ],
  deny: ["https://api.example.com/v1/admin", "https://secret.cdn.example.com"],
  methods: ["get", "Post"],
}));

function code(decision: UrlDecision): string {
  return decision.allowed ? "allowed" : decision.code;
}

Deno.test("checkUrl() allows URLs under an allow pattern", () => {
  for (
    const raw of [
      "https://api.example.com/v1",
      "https://api.example.com/v1/users?id=1",
      "https://API.EXAMPLE.COM./v1/x",
      "https://api.example.com:443/v1",
      "https://img.cdn.example.com/a.png",
      "http://127.0.0.1:8080/",
      "http://2130706433:8080/",
      "http://0x7f.1:8080/",
      "http://[::1]:8080/health",
      "https://api.example.com/v1/%61dmin2",
      "http://[0:0:0:0:0:0:0:1]:8080/health",
      "http://127.000.000.001:8080/",
      "https://%61pi.example.com/v1",
      "https://img.cdn.example.com\t/x",
    ]
  ) {
    assert.equal(code(checkUrl(raw, policy)), "allowed", raw);
  }
});

Deno.test("checkUrl() names the part of a refused URL that no pattern allows", () => {
  const cases: [string, string][] = [
    ["https://evil.example.com/v1", "host_denied"],
    ["https://api.example.com.evil.com/v1", "host_denied"],
    ["https://cdn.example.com/", "host_denied"],
    ["http://api.example.com/v1", "scheme_denied"],
    ["https://api.example.com:8443/v1", "port_denied"],
    ["http://127.0.0.1/", "port_denied"],
    ["https://api.example.com/v2", "path_denied"],
    ["https://api.example.com/v1x", "path_denied"],
    ["https://api.example.com/v1/../v2", "path_denied"],
    ["https://api.example.com/v1/..%2fv2", "path_denied"],
    ["http://[::1]:8080/admin", "path_denied"],
    ["ftp://api.example.com/v1", "scheme_denied"],
    ["https://u@api.example.com/v1", "userinfo_denied"],
    ["::nonsense", "url_invalid"],
  ];
  for (const [raw, expected] of cases) assert.equal(code(checkUrl(raw, policy)), expected, raw);
});

Deno.test("checkUrl() lets deny patterns win over allow patterns", () => {
  const cases: [string, string][] = [
    ["https://api.example.com/v1/admin", "path_denied"],
    ["https://api.example.com/v1/admin/users", "path_denied"],
    ["https://api.example.com/v1/ADMIN", "path_denied"],
    ["https://api.example.com/v1/%61dmin", "path_denied"],
    ["https://api.example.com/v1/admin;x=1", "path_denied"],
    ["https://secret.cdn.example.com/x", "host_denied"],
    ["https://SECRET.cdn.example.com./x", "host_denied"],
  ];
  for (const [raw, expected] of cases) assert.equal(code(checkUrl(raw, policy)), expected, raw);
  const denied = checkUrl("https://secret.cdn.example.com/x", policy);
  assert.ok(!denied.allowed && denied.message.includes("https://secret.cdn.example.com"));
});

Deno.test("checkUrl() denies everything when allow is missing or empty", () => {
  const empty = compileHttpPolicy(HttpPolicySchema.parse({}));
  const decision = checkUrl("https://example.com/", empty);
  assert.equal(code(decision), "host_denied");
  assert.ok(!decision.allowed && decision.message.includes("allow is empty"));
});

Deno.test("checkUrl() resolves a relative redirect target against its base", () => {
  const decision = checkUrl("/v1/next", policy, new URL("https://api.example.com/v1/first"));
  assert.ok(decision.allowed);
  assert.equal(decision.target.url.href, "https://api.example.com/v1/next");
  assert.equal(
    code(checkUrl("//evil.example.com/", policy, new URL("https://api.example.com/v1"))),
    "host_denied",
  );
});

Deno.test("allowedMethod() compares methods case-insensitively and returns them upper-cased", () => {
  assert.equal(allowedMethod("get", policy), "GET");
  assert.equal(allowedMethod("POST", policy), "POST");
  assert.equal(allowedMethod("DELETE", policy), null);
  assert.equal(allowedMethod("GET\r\n", policy), null);
});

Deno.test("compileHttpPolicy() compiles a policy object once", () => {
  const parsed = HttpPolicySchema.parse({ allow: ["https://example.com"] });
  assert.equal(compileHttpPolicy(parsed), compileHttpPolicy(parsed));
});
