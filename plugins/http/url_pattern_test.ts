import assert from "node:assert/strict";
import { allowMatches, denyMatches, parseUrlPattern, type UrlTarget } from "./url_pattern.ts";

const target = (scheme: string, host: string, port: number, path = "/"): UrlTarget => ({
  scheme,
  host,
  port,
  path,
});

Deno.test("parseUrlPattern() reads scheme, host, port and path prefix", () => {
  assert.deepEqual(parseUrlPattern("https://API.Example.com:8443/v1/"), {
    source: "https://API.Example.com:8443/v1/",
    scheme: "https",
    host: "api.example.com",
    wildcard: false,
    port: 8443,
    path: "/v1",
  });
  const wild = parseUrlPattern("http://*.example.com");
  assert.equal(wild.wildcard, true);
  assert.equal(wild.host, "example.com");
  assert.equal(wild.port, null);
  assert.equal(wild.path, "");
  assert.equal(parseUrlPattern("http://[::1]:8080").host, "[::1]");
  assert.equal(parseUrlPattern("http://2130706433:80/").host, "127.0.0.1");
  assert.equal(parseUrlPattern("http://example.com./").host, "example.com");
  assert.equal(parseUrlPattern("http://example.com:80").port, 80);
});

Deno.test("parseUrlPattern() refuses malformed patterns with a reason", () => {
  const cases: [string, RegExp][] = [
    ["ftp://example.com", /scheme must be http or https/],
    ["file:///etc", /scheme must be http or https/],
    ["example.com", /scheme:\/\/host/],
    ["https://example.com/?q=1", /no query/],
    ["https://example.com/#x", /no query/],
    ["https://user@example.com", /userinfo/],
    ["https://a.*.example.com", /whole leftmost label/],
    ["https://*example.com", /whole leftmost label/],
    ["https://*", /whole leftmost label|too broad|host/],
    ["https://*.com", /too broad/],
    ["https://*.127.0.0.1", /IP address/],
    ["https://example.com:0", /port must be 1-65535/],
    ["https://example.com:99999", /port must be 1-65535/],
    ["https://exa mple.com", /host/],
    ["https://example.com/a/../b", /as a URL parser prints it/],
    ["https://example.com/a b", /as a URL parser prints it/],
    ["https://example.com/api%2fadmin", /separators or dot segments/],
    ["https://[::1", /host or port|host/],
  ];
  for (const [text, reason] of cases) {
    assert.throws(() => parseUrlPattern(text), reason, text);
  }
});

Deno.test("allowMatches() needs the same scheme, host and default or named port", () => {
  const p = parseUrlPattern("https://api.example.com");
  assert.ok(allowMatches(p, target("https", "api.example.com", 443)));
  assert.ok(!allowMatches(p, target("http", "api.example.com", 443)));
  assert.ok(!allowMatches(p, target("https", "api.example.com", 8443)));
  assert.ok(!allowMatches(p, target("https", "example.com", 443)));
  assert.ok(!allowMatches(p, target("https", "api.example.com.evil.com", 443)));
  const withPort = parseUrlPattern("http://127.0.0.1:8080");
  assert.ok(allowMatches(withPort, target("http", "127.0.0.1", 8080)));
  assert.ok(!allowMatches(withPort, target("http", "127.0.0.1", 80)));
});

Deno.test("allowMatches() matches a wildcard on subdomains only, never the apex", () => {
  const p = parseUrlPattern("https://*.example.com");
  assert.ok(allowMatches(p, target("https", "a.example.com", 443)));
  assert.ok(allowMatches(p, target("https", "a.b.example.com", 443)));
  assert.ok(!allowMatches(p, target("https", "example.com", 443)));
  assert.ok(!allowMatches(p, target("https", "badexample.com", 443)));
  assert.ok(!allowMatches(p, target("https", ".example.com", 443)));
});

Deno.test("allowMatches() matches a path prefix on a segment boundary", () => {
  const p = parseUrlPattern("https://x.example/api");
  assert.ok(allowMatches(p, target("https", "x.example", 443, "/api")));
  assert.ok(allowMatches(p, target("https", "x.example", 443, "/api/")));
  assert.ok(allowMatches(p, target("https", "x.example", 443, "/api/v1/users")));
  assert.ok(!allowMatches(p, target("https", "x.example", 443, "/apix")));
  assert.ok(!allowMatches(p, target("https", "x.example", 443, "/API")));
  assert.ok(!allowMatches(p, target("https", "x.example", 443, "/")));
  assert.ok(!allowMatches(p, target("https", "x.example", 443, "/api;x")));
  const slash = parseUrlPattern("https://x.example/api/");
  assert.ok(allowMatches(slash, target("https", "x.example", 443, "/api")));
  assert.ok(!allowMatches(slash, target("https", "x.example", 443, "/apiv2")));
});

Deno.test("denyMatches() covers every port and ignores case and ; parameters in paths", () => {
  const p = parseUrlPattern("https://x.example/admin");
  assert.ok(denyMatches(p, target("https", "x.example", 443, "/admin")));
  assert.ok(denyMatches(p, target("https", "x.example", 8443, "/admin/x")));
  assert.ok(denyMatches(p, target("https", "x.example", 443, "/ADMIN")));
  assert.ok(denyMatches(p, target("https", "x.example", 443, "/admin;jsessionid=1/x")));
  assert.ok(!denyMatches(p, target("https", "x.example", 443, "/administrator")));
  assert.ok(!denyMatches(p, target("http", "x.example", 80, "/admin")));
  const port = parseUrlPattern("https://x.example:8443");
  assert.ok(denyMatches(port, target("https", "x.example", 8443, "/")));
  assert.ok(!denyMatches(port, target("https", "x.example", 443, "/")));
});
