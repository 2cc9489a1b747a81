import assert from "node:assert/strict";
import {
  canonicalPath,
  type NormalizedUrl,
  normalizeHost,
  normalizeRequestUrl,
  type UrlRejection,
} from "./normalize_url.ts";

function ok(raw: string, base?: URL): NormalizedUrl {
  const result = normalizeRequestUrl(raw, base);
  assert.ok("url" in result, `${raw}: ${(result as UrlRejection).message}`);
  return result;
}

function refused(raw: string): UrlRejection["code"] {
  const result = normalizeRequestUrl(raw);
  assert.ok(!("url" in result), `${raw} should be refused`);
  return result.code;
}

Deno.test("normalizeRequestUrl() turns every numeric IPv4 spelling into dotted decimal", () => {
  for (
    const raw of [
      "http://2130706433/",
      "http://0177.0.0.1/",
      "http://0x7f.1/",
      "http://0x7f000001/",
      "http://127.1/",
      "http://%31%32%37.0.0.1/",
    ]
  ) {
    const url = ok(raw);
    assert.equal(url.host, "127.0.0.1", raw);
    assert.equal(url.ip, "127.0.0.1", raw);
  }
  assert.equal(ok("http://0/").ip, "0.0.0.0");
});

Deno.test("normalizeRequestUrl() keeps IPv6 literals bracketed in host and bare in ip", () => {
  const url = ok("http://[::ffff:127.0.0.1]:8080/");
  assert.equal(url.host, "[::ffff:7f00:1]");
  assert.equal(url.ip, "::ffff:7f00:1");
  assert.equal(url.port, 8080);
});

Deno.test("normalizeRequestUrl() removes a trailing dot from the host it will fetch", () => {
  const url = ok("https://Example.COM./a");
  assert.equal(url.host, "example.com");
  assert.equal(url.url.href, "https://example.com/a");
  assert.equal(url.port, 443);
  assert.equal(refused("http://example.com../"), "host_denied");
});

Deno.test("normalizeRequestUrl() refuses other schemes", () => {
  for (
    const raw of [
      "file:///etc/passwd",
      "data:text/plain,hi",
      "blob:http://x/1",
      "ftp://x/",
      "ws://x/",
      "javascript:alert(1)",
    ]
  ) {
    assert.equal(refused(raw), "scheme_denied", raw);
  }
});

Deno.test("normalizeRequestUrl() refuses userinfo, even when it is empty", () => {
  assert.equal(refused("http://a@b.example/"), "userinfo_denied");
  assert.equal(refused("http://user:pass@b.example/"), "userinfo_denied");
  assert.equal(refused("http://allowed.example@evil.example/"), "userinfo_denied");
  assert.equal(refused("http://:@b.example/"), "userinfo_denied");
  // A backslash ends the authority (as in fetch): the host is b.example, not evil.example.
  assert.equal(ok("http://b.example\\@evil.example/").host, "b.example");
});

Deno.test("normalizeRequestUrl() refuses host names that are no DNS names", () => {
  assert.equal(refused("http://*.example.com/"), "host_denied");
  assert.equal(refused("http://-bad.example/"), "host_denied");
  assert.equal(refused("http://a..b/"), "host_denied");
  assert.equal(refused("http:// /"), "url_invalid");
  assert.equal(refused("not a url"), "url_invalid");
});

Deno.test("normalizeRequestUrl() resolves dot segments and refuses encoded ones", () => {
  assert.equal(ok("http://x.example/api/../admin").path, "/admin");
  assert.equal(ok("http://x.example/api/%2e%2e/admin").path, "/admin");
  assert.equal(ok("http://x.example\\api\\..\\b").path, "/b");
  for (
    const raw of [
      "http://x.example/api/..%2fadmin",
      "http://x.example/api/..%2Fadmin",
      "http://x.example/api/%2e%2e;x/admin",
      "http://x.example/api/..;/admin",
      "http://x.example/api/.;/admin",
      "http://x.example/api%5cadmin",
      "http://x.example/api/%252e%252e/admin",
      "http://x.example/api%252fadmin",
      "http://x.example/api%00/x",
    ]
  ) {
    assert.equal(refused(raw), "path_denied", raw);
  }
});

Deno.test("normalizeRequestUrl() resolves a relative Location against the previous hop", () => {
  const base = new URL("http://a.example:8080/x/y");
  assert.equal(ok("/z", base).url.href, "http://a.example:8080/z");
  assert.equal(ok("w", base).url.href, "http://a.example:8080/x/w");
  assert.equal(ok("//b.example/", base).host, "b.example");
  assert.equal(
    (normalizeRequestUrl("//u@b.example/", base) as UrlRejection).code,
    "userinfo_denied",
  );
});

Deno.test("canonicalPath() decodes unreserved escapes and upper-cases the rest", () => {
  assert.equal(canonicalPath("/%61pi/%7Euser"), "/api/~user");
  assert.equal(canonicalPath("/a%2db"), "/a-b");
  assert.equal(canonicalPath("/caf%c3%a9"), "/caf%C3%A9");
  assert.equal(canonicalPath("/file%2ejson"), "/file.json");
  assert.equal(canonicalPath("/"), "/");
});

Deno.test("normalizeHost() accepts names and IP literals only", () => {
  assert.equal(normalizeHost("a.example."), "a.example");
  assert.equal(normalizeHost("[::1]"), "[::1]");
  assert.equal(normalizeHost("[zz]"), null);
  assert.equal(normalizeHost("."), null);
  assert.equal(normalizeHost("a_b.example"), "a_b.example");
  assert.equal(normalizeHost(`${"a".repeat(64)}.example`), null);
});
