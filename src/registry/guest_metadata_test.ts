import assert from "node:assert/strict";
import {
  canonicalJson,
  contentDifferences,
  type GuestMetadata,
  parseGuestMetadata,
} from "./guest_metadata.ts";
import { RegistryError } from "./registry_error.ts";

const RECORD: GuestMetadata = {
  name: "catalog.transform",
  version: "1.2.0",
  sha256: "ab".repeat(32),
  size: 120,
  manifest: { capabilities: { io: {} } },
  config_schema: { type: "object" },
  description: "Reshapes data",
  published_at: "2025-03-01T12:00:00.000Z",
};
const WHERE = {
  path: "guests/catalog.transform/1.2.0.json",
  name: "catalog.transform",
  version: "1.2.0",
};

function assertInvalid(input: unknown, where = WHERE): RegistryError {
  let caught: unknown;
  try {
    parseGuestMetadata(input, where);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof RegistryError, `accepted ${JSON.stringify(input)}`);
  assert.equal(caught.code, "registry_invalid");
  assert.equal(caught.details.path, where.path);
  return caught;
}

Deno.test("parseGuestMetadata() accepts a complete record and one without optional fields", () => {
  assert.deepEqual(parseGuestMetadata(RECORD, WHERE), RECORD);
  const { config_schema: _c, description: _d, ...minimal } = RECORD;
  assert.deepEqual(parseGuestMetadata(minimal, WHERE), minimal);
});

Deno.test("parseGuestMetadata() refuses damaged records with registry_invalid and the issue paths", () => {
  const issues = (error: RegistryError) =>
    (error.details.issues as { path: string }[]).map((i) => i.path);
  assert.deepEqual(issues(assertInvalid({ ...RECORD, sha256: "AB".repeat(32) })), ["sha256"]);
  assert.deepEqual(issues(assertInvalid({ ...RECORD, size: -1 })), ["size"]);
  assert.deepEqual(issues(assertInvalid({ ...RECORD, manifest: [] })), ["manifest"]);
  assert.deepEqual(issues(assertInvalid({ ...RECORD, published_at: "yesterday" })), [
    "published_at",
  ]);
  assert.deepEqual(issues(assertInvalid({ ...RECORD, extra: 1 })), ["extra"]);
  assert.deepEqual(issues(assertInvalid({ ...RECORD, version: "1.2" })), ["version"]);
  const { sha256: _s, ...missing } = RECORD;
  assert.deepEqual(issues(assertInvalid(missing)), ["sha256"]);
  assertInvalid(null);
  assertInvalid("record");
});

Deno.test("parseGuestMetadata() refuses a record filed under another name or version", () => {
  const moved = assertInvalid(RECORD, { ...WHERE, version: "1.3.0" });
  assert.deepEqual([moved.details.name, moved.details.version], ["catalog.transform", "1.2.0"]);
  assertInvalid(RECORD, { ...WHERE, name: "catalog.other" });
});

Deno.test("canonicalJson() ignores key order at every depth but not array order", () => {
  assert.equal(
    canonicalJson({ b: { y: 1, x: [3, { q: 1, p: 2 }] }, a: null }),
    '{"a":null,"b":{"x":[3,{"p":2,"q":1}],"y":1}}',
  );
  assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
  assert.equal(canonicalJson(undefined), undefined);
});

Deno.test("contentDifferences() lists the content fields that differ and ignores published_at", () => {
  const later: GuestMetadata = { ...RECORD, published_at: "2030-01-01T00:00:00Z" };
  assert.deepEqual(
    contentDifferences(RECORD, later),
    [],
  );
  assert.deepEqual(
    contentDifferences(RECORD, { ...RECORD, manifest: { capabilities: { io: {}, log: {} } } }),
    ["manifest"],
  );
  assert.deepEqual(
    contentDifferences(RECORD, { ...RECORD, sha256: "cd".repeat(32), size: 121 }),
    ["sha256", "size"],
  );
  const { config_schema: _c, description: _d, ...bare } = RECORD;
  assert.deepEqual(contentDifferences(RECORD, bare), ["config_schema", "description"]);
  assert.deepEqual(
    contentDifferences(RECORD, { ...RECORD, manifest: { capabilities: { io: {} } } }),
    [],
  );
});
