import assert from "node:assert/strict";
import { z } from "zod";
import type { CapabilityPlugin } from "../capability/capability_plugin.ts";
import { CapabilityRegistry } from "../capability/capability_registry.ts";
import { parseManifest } from "../manifest/manifest.ts";
import { memoryBucket, sandboxProfile } from "./sandbox_profile.ts";

function netPlugin(name: string): CapabilityPlugin<{ hosts: string[] }> {
  return {
    name,
    description: "test",
    schema: z.strictObject({ hosts: z.array(z.string()).default([]) }),
    functions: {},
    netHosts: (policy) => policy.hosts,
    instantiate: () => ({}),
  };
}

const registry = new CapabilityRegistry([netPlugin("web"), netPlugin("feed")]);
const manifest = (input: Record<string, unknown>) => parseManifest(input, registry);

Deno.test("sandboxProfile() unions and sorts the hosts of every served manifest", () => {
  const profile = sandboxProfile([
    manifest({ capabilities: { web: { hosts: ["b.example.com", "A.example.com"] } } }),
    manifest({ capabilities: { feed: { hosts: ["a.example.com", "c.example.com:8080"] } } }),
  ], registry);
  assert.deepEqual(profile.netHosts, ["a.example.com", "b.example.com", "c.example.com:8080"]);
  assert.equal(profile.key, "net=a.example.com,b.example.com,c.example.com:8080;mem=1024");
});

Deno.test("sandboxProfile() grants no hosts when no granted plugin returns any", () => {
  const profile = sandboxProfile([manifest({ capabilities: { web: {} } })], registry);
  assert.deepEqual(profile.netHosts, []);
  // A plugin that is registered but not granted contributes nothing.
  assert.deepEqual(sandboxProfile([manifest({})], registry).netHosts, []);
});

Deno.test("sandboxProfile() caps memory at the largest limit, rounded up to a power of two", () => {
  const profile = sandboxProfile([
    manifest({ limits: { memory: "1MiB" } }),
    manifest({ limits: { memory: { pages: 40 } } }),
  ], registry);
  assert.equal(profile.memoryPages, 64);
  assert.equal(sandboxProfile([], registry).memoryPages, 1024);
  assert.equal(memoryBucket(1), 1);
  assert.equal(memoryBucket(16), 16);
  assert.equal(memoryBucket(17), 32);
  assert.equal(memoryBucket(65536), 65536);
});

Deno.test("sandboxProfile() collapses to any host when a plugin asks for *", () => {
  const profile = sandboxProfile([
    manifest({ capabilities: { web: { hosts: ["a.example.com", "*"] } } }),
  ], registry);
  assert.deepEqual(profile.netHosts, ["*"]);
});

Deno.test("sandboxProfile() refuses a host that could smuggle another flag", () => {
  for (const host of ["a.com,b.com", "a.com --allow-read", "", "http://a.com", "a.com/x"]) {
    assert.throws(
      () => sandboxProfile([manifest({ capabilities: { web: { hosts: [host] } } })], registry),
      { code: "internal", details: { capability: "web" } },
      host,
    );
  }
  for (const host of ["localhost", "127.0.0.1:8080", "[::1]:443", "*.example.com", "x-y.z"]) {
    sandboxProfile([manifest({ capabilities: { web: { hosts: [host] } } })], registry);
  }
});
