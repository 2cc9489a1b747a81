import assert from "node:assert/strict";
import { CapabilityRegistry } from "../../src/capability/capability_registry.ts";
import { ManifestError } from "../../src/errors.ts";
import { manifestToJson, parseManifest } from "../../src/manifest/manifest.ts";
import { httpPlugin } from "./http_plugin.ts";
import { HttpPolicySchema } from "./http_policy_schema.ts";

const registry = new CapabilityRegistry([httpPlugin()]);

function issues(http: unknown): { path: string; message: string }[] {
  try {
    parseManifest({ capabilities: { http } }, registry);
  } catch (error) {
    assert.ok(error instanceof ManifestError);
    return [...error.issues];
  }
  assert.fail("the manifest should be invalid");
}

Deno.test("HttpPolicySchema fills safe defaults: nothing allowed, GET only, no redirects", () => {
  assert.deepEqual(HttpPolicySchema.parse({}), {
    allow: [],
    deny: [],
    methods: ["GET"],
    allow_private_addresses: [],
    redirects: 0,
    timeout_ms: 10_000,
    max_response_bytes: 1024 * 1024,
    max_request_bytes: 1024 * 1024,
    secrets: [],
  });
});

Deno.test("HttpPolicySchema upper-cases methods and refuses CONNECT, TRACE and non-tokens", () => {
  assert.deepEqual(HttpPolicySchema.parse({ methods: ["get", "Patch"] }).methods, ["GET", "PATCH"]);
  const found = issues({ methods: ["GET", "connect", "GE T"] });
  assert.deepEqual(found.map((i) => i.path), [
    "capabilities.http.methods[1]",
    "capabilities.http.methods[2]",
  ]);
  assert.match(found[0].message, /expected an HTTP method/);
});

Deno.test("HttpPolicySchema reports a bad pattern by its index with the reason", () => {
  const found = issues({ allow: ["https://ok.example.com", "https://x.example", "ftp://x"] });
  assert.equal(found.length, 1);
  assert.equal(found[0].path, "capabilities.http.allow[2]");
  assert.equal(
    found[0].message,
    'expected a URL pattern such as "https://api.example.com/v1", got "ftp://x" (the scheme must be http or https)',
  );
  assert.equal(issues({ deny: ["https://*.com"] })[0].path, "capabilities.http.deny[0]");
});

Deno.test("HttpPolicySchema checks address grants, limits and unknown keys", () => {
  const found = issues({
    allow_private_addresses: ["127.0.0.1/32", "10.0.0.1/8", "localhost"],
    redirects: -1,
    timeout_ms: 0,
    rate_limit: { requests: 0, per_ms: 1000 },
    max_concurrent: 1.5,
    allow_all: true,
  });
  const paths = found.map((i) => i.path).sort();
  assert.deepEqual(paths, [
    "capabilities.http.allow_all",
    "capabilities.http.allow_private_addresses[1]",
    "capabilities.http.allow_private_addresses[2]",
    "capabilities.http.max_concurrent",
    "capabilities.http.rate_limit.requests",
    "capabilities.http.redirects",
    "capabilities.http.timeout_ms",
  ]);
  assert.match(
    found.find((i) => i.path.endsWith("allow_private_addresses[1]"))!.message,
    /expected an IP address or CIDR block.*bits set beyond/,
  );
  assert.deepEqual(issues({ rate_limit: { requests: 1 } }).map((i) => i.path), [
    "capabilities.http.rate_limit.per_ms",
  ]);
});

Deno.test("HttpPolicySchema output parses back to itself", () => {
  const manifest = parseManifest({
    capabilities: {
      http: {
        allow: ["https://*.example.com/v1/"],
        methods: ["post"],
        rate_limit: { requests: 5, per_ms: 1000 },
      },
    },
  }, registry);
  const again = parseManifest(JSON.parse(JSON.stringify(manifestToJson(manifest))), registry);
  assert.deepEqual(again.capabilities, manifest.capabilities);
});
