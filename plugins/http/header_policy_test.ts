import assert from "node:assert/strict";
import { checkHeaders, HEADER_LIMITS } from "./header_policy.ts";

function refusal(headers: Record<string, unknown>): string {
  const decision = checkHeaders(headers);
  assert.ok(!decision.allowed, `${JSON.stringify(headers)} should be refused`);
  return decision.message;
}

Deno.test("checkHeaders() passes ordinary headers through as pairs", () => {
  const decision = checkHeaders({
    Accept: "application/json",
    "X-Trace": "a\tb",
    Authorization: "Bearer x",
  });
  assert.ok(decision.allowed);
  assert.deepEqual(decision.headers, [
    ["Accept", "application/json"],
    ["X-Trace", "a\tb"],
    ["Authorization", "Bearer x"],
  ]);
  assert.ok(checkHeaders().allowed);
});

Deno.test("checkHeaders() refuses CR, LF, NUL and other controls in values", () => {
  for (const value of ["a\r\nHost: evil", "a\nb", "a\rb", "a\0b", "a\x1bb", "a\x7fb"]) {
    assert.match(refusal({ "x-a": value }), /printable ASCII/, JSON.stringify(value));
  }
  assert.match(refusal({ "x-a": "caf\u00e9" }), /printable ASCII/);
  assert.match(refusal({ "x-a": 1 }), /printable ASCII.*number/);
});

Deno.test("checkHeaders() refuses names that are no HTTP token", () => {
  for (const name of ["x a", "x\r\ny", "x:y", "", "x\0", "(x)", "x\u00e9", ":authority"]) {
    assert.match(refusal({ [name]: "1" }), /no HTTP token/, JSON.stringify(name));
  }
});

Deno.test("checkHeaders() refuses framing and hop-by-hop headers in any case", () => {
  for (
    const name of [
      "Host",
      "content-length",
      "Transfer-Encoding",
      "CONNECTION",
      "keep-alive",
      "TE",
      "Trailer",
      "Upgrade",
      "Proxy-Authorization",
      "proxy-connection",
      "expect",
    ]
  ) {
    assert.match(refusal({ [name]: "x" }), /host sets it/, name);
  }
});

Deno.test("checkHeaders() caps header count, value size and total size", () => {
  const many = Object.fromEntries(
    Array.from({ length: HEADER_LIMITS.count + 1 }, (_, i) => [`x-${i}`, "1"]),
  );
  assert.match(refusal(many), /at most 64/);
  assert.ok(
    checkHeaders(Object.fromEntries(Object.entries(many).slice(0, HEADER_LIMITS.count))).allowed,
  );
  assert.match(refusal({ "x-big": "a".repeat(HEADER_LIMITS.valueBytes + 1) }), /exceeds/);
  const wide = Object.fromEntries(
    Array.from({ length: 5 }, (_, i) => [`x-${i}`, "a".repeat(HEADER_LIMITS.valueBytes)]),
  );
  assert.match(refusal(wide), /together/);
});
