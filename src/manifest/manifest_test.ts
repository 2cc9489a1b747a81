import assert from "node:assert/strict";
import { z } from "zod";
import { ioPlugin } from "../../plugins/io/mod.ts";
import { logPlugin } from "../../plugins/log/mod.ts";
import type { CapabilityPlugin } from "../capability/capability_plugin.ts";
import { CapabilityRegistry } from "../capability/capability_registry.ts";
import { ManifestError } from "../errors.ts";
import {
  defaultManifestInput,
  manifestToJson,
  parseManifest,
  safeParseManifest,
} from "./manifest.ts";

const fakeHttp: CapabilityPlugin<{ allow: string[] }> = {
  name: "http",
  description: "test double with an allowlist",
  schema: z.strictObject({
    allow: z.array(
      z.string().refine((s) => /^https?:\/\//.test(s), {
        error: (iss) => `expected a URL pattern, got ${JSON.stringify(iss.input)}`,
      }),
    ).default([]),
  }),
  functions: {},
  instantiate: () => ({}),
};
const registry = new CapabilityRegistry([ioPlugin(), logPlugin(), fakeHttp]);

function issues(input: unknown) {
  const result = safeParseManifest(input, registry);
  assert.equal(result.success, false);
  return result.success ? [] : result.error.issues;
}

Deno.test("parseManifest() fills every limit with its default", () => {
  const manifest = parseManifest({}, registry);
  assert.deepEqual(manifest.capabilities, {});
  assert.equal(manifest.limits.memory, 1024);
  assert.equal(manifest.limits.timeout_ms, 5000);
  assert.equal(manifest.limits.log.lines, 1000);
  assert.deepEqual(manifest.limits.host_calls, {});
});

Deno.test("parseManifest() accepts memory as bytes, a size string or pages", () => {
  const pages = (memory: unknown) => parseManifest({ limits: { memory } }, registry).limits.memory;
  assert.equal(pages(16 * 1024 * 1024), 256);
  assert.equal(pages("16MiB"), 256);
  assert.equal(pages("1 GiB"), 16384);
  assert.equal(pages({ pages: 3 }), 3);
  // Rounds down so the limit is never exceeded.
  assert.equal(pages(65536 * 2 + 100), 2);
});

Deno.test("parseManifest() lists every problem with its path", () => {
  const found = issues({
    capabilities: { http: { allow: ["https://ok.example", "ftp://nope", 7] }, kv: {} },
    limits: { memory: "lots", timeout_ms: -5, bogus: 1 },
    extra: true,
  });
  const byPath = Object.fromEntries(found.map((i) => [i.path, i.message]));
  assert.equal(byPath["capabilities.http.allow[1]"], 'expected a URL pattern, got "ftp://nope"');
  assert.equal(byPath["capabilities.http.allow[2]"], "expected string, got 7");
  assert.match(byPath["capabilities.kv"], /^unknown capability \(known: http, io, log\)$/);
  assert.match(byPath["limits.memory"], /expected a size such as "16MiB"/);
  assert.match(byPath["limits.timeout_ms"], /1/);
  assert.equal(byPath["limits.bogus"], "unknown key");
  assert.equal(byPath["extra"], "unknown key");
  assert.equal(found.length, 7);
});

Deno.test("parseManifest() throws a ManifestError whose message names the source and paths", () => {
  assert.throws(
    () => parseManifest({ limits: { output_bytes: "x" } }, registry, { source: "m.json" }),
    (error: unknown) => {
      assert.ok(error instanceof ManifestError);
      assert.equal(error.code, "manifest_invalid");
      assert.match(error.message, /m\.json/);
      assert.match(error.message, /limits\.output_bytes: expected number, got "x"/);
      return true;
    },
  );
});

Deno.test("parseManifest() treats a missing allowlist as deny-all, never allow-all", () => {
  const manifest = parseManifest({ capabilities: { http: {} } }, registry);
  assert.deepEqual(manifest.capabilities.http, { allow: [] });
});

Deno.test("parseManifest() rejects a budget for an unknown capability", () => {
  const found = issues({ limits: { host_calls: { nope: 3 } } });
  assert.equal(found[0].path, "limits.host_calls.nope");
});

Deno.test("parseManifest() rejects an output_schema that is not a valid JSON Schema", () => {
  const found = issues({ output_schema: { type: "no-such-type" } });
  assert.equal(found[0].path, "output_schema");
});

Deno.test("parseManifest() rejects memory outside 1..65536 pages", () => {
  assert.equal(issues({ limits: { memory: 100 } })[0].path, "limits.memory");
  assert.equal(issues({ limits: { memory: "8GiB" } })[0].path, "limits.memory");
  assert.equal(issues({ limits: { memory: { pages: 0 } } })[0].path, "limits.memory.pages");
});

Deno.test("manifestToJson() round-trips through parseManifest()", () => {
  const manifest = parseManifest(
    { capabilities: { io: {} }, limits: { memory: "2MiB" } },
    registry,
  );
  assert.deepEqual(parseManifest(manifestToJson(manifest), registry), manifest);
});

Deno.test("defaultManifestInput() grants only io and log", () => {
  const manifest = parseManifest(defaultManifestInput(), registry);
  assert.deepEqual(Object.keys(manifest.capabilities).sort(), ["io", "log"]);
});

Deno.test("parseManifest() rejects a non-object manifest", () => {
  assert.equal(issues([])[0].message, "expected object, got an array");
  assert.equal(issues(null)[0].message, "expected object, got null");
});
