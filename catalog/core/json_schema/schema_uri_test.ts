import assert from "node:assert/strict";
import "../../native/portable_runtime.ts";
import {
  encodeUriComponent,
  parseUri,
  percentDecode,
  removeDotSegments,
  resolveUri,
} from "./schema_uri.ts";

Deno.test("resolveUri() gives RFC 3986's own examples (§5.4.1 and §5.4.2)", () => {
  const base = "http://a/b/c/d;p?q";
  const expected: [string, string][] = [
    ["g:h", "g:h"],
    ["g", "http://a/b/c/g"],
    ["./g", "http://a/b/c/g"],
    ["g/", "http://a/b/c/g/"],
    ["/g", "http://a/g"],
    ["//g", "http://g"],
    ["?y", "http://a/b/c/d;p?y"],
    ["g?y", "http://a/b/c/g?y"],
    ["#s", "http://a/b/c/d;p?q#s"],
    ["g#s", "http://a/b/c/g#s"],
    ["g?y#s", "http://a/b/c/g?y#s"],
    [";x", "http://a/b/c/;x"],
    ["g;x", "http://a/b/c/g;x"],
    ["g;x?y#s", "http://a/b/c/g;x?y#s"],
    ["", "http://a/b/c/d;p?q"],
    [".", "http://a/b/c/"],
    ["./", "http://a/b/c/"],
    ["..", "http://a/b/"],
    ["../", "http://a/b/"],
    ["../g", "http://a/b/g"],
    ["../..", "http://a/"],
    ["../../", "http://a/"],
    ["../../g", "http://a/g"],
    ["../../../g", "http://a/g"],
    ["../../../../g", "http://a/g"],
    ["/./g", "http://a/g"],
    ["/../g", "http://a/g"],
    ["g.", "http://a/b/c/g."],
    [".g", "http://a/b/c/.g"],
    ["g..", "http://a/b/c/g.."],
    ["..g", "http://a/b/c/..g"],
    ["./../g", "http://a/b/g"],
    ["./g/.", "http://a/b/c/g/"],
    ["g/./h", "http://a/b/c/g/h"],
    ["g/../h", "http://a/b/c/h"],
    ["g;x=1/./y", "http://a/b/c/g;x=1/y"],
    ["g;x=1/../y", "http://a/b/c/y"],
    ["g?y/./x", "http://a/b/c/g?y/./x"],
    ["g?y/../x", "http://a/b/c/g?y/../x"],
    ["g#s/./x", "http://a/b/c/g#s/./x"],
    ["g#s/../x", "http://a/b/c/g#s/../x"],
  ];
  for (const [ref, target] of expected) {
    assert.equal(resolveUri(base, ref), target, JSON.stringify(ref));
  }
  assert.equal(
    resolveUri("https://example.com/schemas/root.json", "item.json#/a"),
    "https://example.com/schemas/item.json#/a",
  );
  assert.equal(resolveUri("urn:example:root", "#anchor"), "urn:example:root#anchor");
});

Deno.test("resolveUri() keeps relative results for a relative or empty base", () => {
  assert.equal(resolveUri("", "#/$defs/a"), "#/$defs/a");
  assert.equal(resolveUri("", "item.json"), "item.json");
  assert.equal(resolveUri("dir/root.json", "item.json#x"), "dir/item.json#x");
  assert.equal(resolveUri("dir/sub/root.json", "../x.json"), "dir/x.json");
  assert.equal(resolveUri("root.json", "#"), "root.json#");
  assert.equal(removeDotSegments("/a/b/../../../c"), "/c");
});

Deno.test("parseUri() tells empty components from absent ones", () => {
  const u = parseUri("http://host?#");
  assert.deepEqual([u.scheme, u.authority, u.path, u.hasQuery, u.query, u.hasFragment], [
    "http",
    "host",
    "",
    true,
    "",
    true,
  ]);
  assert.equal(parseUri("HTTP://x/").scheme, "http");
  assert.equal(parseUri("1a:b").hasScheme, false);
  assert.equal(u.toString(), "http://host?#");
});

Deno.test("percentDecode() decodes UTF-8 escapes and refuses malformed ones", () => {
  assert.deepEqual([percentDecode("a%20b%C3%A9%F0%9F%98%80").text, percentDecode("x").ok], [
    "a bé\u{1F600}",
    true,
  ]);
  for (const bad of ["%", "%2", "%zz", "%C3", "%C3%28", "%ED%A0%80", "%F8%80%80%80%80", "%C0%AF"]) {
    assert.equal(percentDecode(bad).ok, false, bad);
  }
});

Deno.test("encodeUriComponent() matches ECMAScript and maps lone surrogates to U+FFFD", () => {
  for (
    const s of [
      "abc",
      "a b/c?d#e%f",
      "é\u{1F600}",
      "!'()*-._~",
      "$&+,;=:@[]",
      "\u0000\u007f\u0080\u07ff\u0800\uffff",
    ]
  ) {
    assert.equal(encodeUriComponent(s), encodeURIComponent(s), JSON.stringify(s));
  }
  assert.equal(encodeUriComponent("\uD800x"), "%EF%BF%BDx");
});
