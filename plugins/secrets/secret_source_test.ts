import assert from "node:assert/strict";
import { envSecretSource, mapSecretSource } from "./secret_source.ts";

Deno.test("envSecretSource() reads prefixed names from the environment", async () => {
  Deno.env.set("SOURCE_TEST_API_TOKEN", "from-the-env-1");
  try {
    assert.equal(await envSecretSource("SOURCE_TEST_").get("API_TOKEN"), "from-the-env-1");
    assert.equal(await envSecretSource().get("SOURCE_TEST_API_TOKEN"), "from-the-env-1");
    assert.equal(await envSecretSource("SOURCE_TEST_").get("NO_SUCH_KEY"), undefined);
  } finally {
    Deno.env.delete("SOURCE_TEST_API_TOKEN");
  }
});

Deno.test("envSecretSource() rejects a prefix that could form another kind of name", () => {
  for (const prefix of ["A=B", "A\0", "A-B", "a b"]) {
    assert.throws(() => envSecretSource(prefix), TypeError, prefix);
  }
});

Deno.test("mapSecretSource() serves a copy of the record it was given", async () => {
  const record: Record<string, string> = { API_TOKEN: "tok-0123456789" };
  const source = mapSecretSource(record);
  record.API_TOKEN = "changed-afterwards";
  record.LATER = "added-afterwards";
  assert.equal(await source.get("API_TOKEN"), "tok-0123456789");
  assert.equal(await source.get("LATER"), undefined);
});

Deno.test("mapSecretSource() accepts a Map and never answers with inherited properties", async () => {
  const source = mapSecretSource(new Map([["A", "value-of-a"]]));
  assert.equal(await source.get("A"), "value-of-a");
  assert.equal(await mapSecretSource({}).get("constructor"), undefined);
  assert.equal(await mapSecretSource({}).get("__proto__"), undefined);
});

Deno.test("mapSecretSource() rejects values that are not strings", () => {
  assert.throws(() => mapSecretSource({ A: 42 as unknown as string }), TypeError);
});
