import "../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { fromJs, toJs } from "../native/js_bridge.ts";
import { sampleString, seededRandom } from "../native/json_samples.ts";
import {
  escapePointerToken,
  formatPointer,
  parsePointer,
  pointerAppend,
  pointerAppendIndex,
  pointerGet,
} from "./json_pointer.ts";

// RFC 6901 section 5.
const RFC_DOC = {
  "foo": ["bar", "baz"],
  "": 0,
  "a/b": 1,
  "c%d": 2,
  "e^f": 3,
  "g|h": 4,
  "i\\j": 5,
  'k"l': 6,
  " ": 7,
  "m~n": 8,
};

Deno.test("pointerGet() resolves every example of RFC 6901 section 5", () => {
  const doc = fromJs(RFC_DOC);
  const cases: Array<[string, unknown]> = [
    ["", RFC_DOC],
    ["/foo", ["bar", "baz"]],
    ["/foo/0", "bar"],
    ["/", 0],
    ["/a~1b", 1],
    ["/c%d", 2],
    ["/e^f", 3],
    ["/g|h", 4],
    ["/i\\j", 5],
    ['/k"l', 6],
    ["/ ", 7],
    ["/m~0n", 8],
  ];
  for (const [pointer, expected] of cases) {
    const found = pointerGet(doc, pointer);
    assert.notEqual(found, null, pointer);
    assert.deepEqual(toJs(found!), expected, pointer);
  }
});

Deno.test("pointerGet() returns null for pointers that name nothing", () => {
  const doc = fromJs({ a: [10, 20, { b: null }], s: "text", n: 1, "01": "key" });
  assert.deepEqual(toJs(pointerGet(doc, "/a/2/b")!), null); // a JSON null is found
  for (
    const pointer of [
      "/missing",
      "/a/3", // past the end
      "/a/-", // the element after the last one does not exist yet
      "/a/01", // leading zeros are not array indices
      "/a/-1",
      "/a/1.0",
      "/a/ 1",
      "/a/",
      "/a/99999999999999999999",
      "/s/0", // strings have no members
      "/n/x",
      "/a/2/b/c",
      "a", // not a pointer: no leading "/"
      "/a~2", // "~" must be followed by 0 or 1
      "/a~",
    ]
  ) {
    assert.equal(pointerGet(doc, pointer), null, pointer);
  }
  // Object keys are matched as strings, leading zeros and all.
  assert.equal(pointerGet(doc, "/01")!.str, "key");
  assert.equal(pointerGet(doc, "/a/0")!.num, 10);
});

Deno.test("parsePointer() unescapes ~1 then ~0 and refuses malformed pointers", () => {
  assert.deepEqual(parsePointer(""), []);
  assert.deepEqual(parsePointer("/"), [""]);
  assert.deepEqual(parsePointer("//"), ["", ""]);
  assert.deepEqual(parsePointer("/a~1b/~0/x~01"), ["a/b", "~", "x~1"]); // ~01 is "~1", not "/"
  assert.deepEqual(parsePointer("/~0~1~1~0"), ["~//~"]);
  for (const bad of ["a/b", "#/a", "/~", "/~2", "/a~b", "/~~0"]) {
    assert.equal(parsePointer(bad), null, bad);
  }
});

Deno.test("pointerAppend() and formatPointer() build pointers parsePointer() reads back", () => {
  assert.equal(pointerAppend("", ""), "/");
  assert.equal(pointerAppend("/a", "b/c~d"), "/a/b~1c~0d");
  assert.equal(pointerAppendIndex("", 0), "/0");
  assert.equal(pointerAppendIndex("/items", 12), "/items/12");
  assert.equal(escapePointerToken("plain"), "plain");
  assert.equal(escapePointerToken("~1"), "~01");
  assert.equal(formatPointer([]), "");

  const random = seededRandom(6901);
  for (let i = 0; i < 500; i++) {
    const tokens = Array.from({ length: i % 5 }, () => sampleString(random, 6));
    let built = "";
    for (const token of tokens) built = pointerAppend(built, token);
    assert.equal(formatPointer(tokens), built);
    assert.deepEqual(parsePointer(built), tokens);
    // A document with exactly that path is resolved by the built pointer.
    let doc: unknown = "leaf";
    for (let t = tokens.length - 1; t >= 0; t--) {
      const o: Record<string, unknown> = {};
      Object.defineProperty(o, tokens[t], { value: doc, enumerable: true });
      doc = o;
    }
    assert.equal(pointerGet(fromJs(doc), built)!.str, "leaf", JSON.stringify(tokens));
  }
});
