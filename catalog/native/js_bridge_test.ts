import assert from "node:assert/strict";
import { compareStrings, compareValues, JsonValue, sortStrings } from "../core/json_value.ts";
import { fromJs, toJs } from "./js_bridge.ts";

Deno.test("fromJs() and toJs() round-trip JSON values, key order included", () => {
  const value = { b: [1, "x", null, true, { z: 1, a: 2 }], a: -0.5, __proto__x: 1 };
  assert.deepEqual(toJs(fromJs(value)), value);
  assert.deepEqual(Object.keys(toJs(fromJs({ b: 1, a: 2 })) as object), ["b", "a"]);
});

Deno.test("fromJs() refuses values JSON cannot hold", () => {
  assert.throws(() => fromJs(NaN), TypeError);
  assert.throws(() => fromJs(undefined), TypeError);
});

Deno.test("JsonValue.set() replaces in place and keeps an index for large objects", () => {
  const o = JsonValue.object();
  for (let i = 0; i < 50; i++) o.set(`k${i}`, JsonValue.number(i));
  o.set("k3", JsonValue.string("x"));
  assert.equal(o.size(), 50);
  assert.equal(o.get("k3")!.str, "x");
  assert.equal(o.keys![3], "k3");
  o.remove("k3");
  assert.equal(o.get("k3"), null);
  assert.equal(o.get("k49")!.num, 49);
});

Deno.test("compareValues() follows jq's order", () => {
  const order = [
    null,
    false,
    true,
    -1,
    0,
    2,
    "",
    "a",
    "b",
    [],
    [1],
    [1, 2],
    {},
    { a: 1 },
    { a: 2 },
    { b: 0 },
  ];
  for (let i = 0; i < order.length; i++) {
    for (let j = 0; j < order.length; j++) {
      const c = compareValues(fromJs(order[i]), fromJs(order[j]));
      assert.equal(
        c,
        Math.sign(i - j),
        `${JSON.stringify(order[i])} vs ${JSON.stringify(order[j])}`,
      );
    }
  }
  assert.ok(fromJs({ a: 1, b: 2 }).equals(fromJs({ b: 2, a: 1 })));
});

Deno.test("compareStrings() orders by code point, not UTF-16 unit", () => {
  // U+FFFD (one unit) sorts before U+1F600 (a surrogate pair), unlike JS's < on strings.
  assert.equal(compareStrings("\uFFFD", "\u{1F600}"), -1);
  const keys = ["\u{1F600}", "b", "\uFFFD", "a", "ab"];
  sortStrings(keys);
  assert.deepEqual(keys, ["a", "ab", "b", "\uFFFD", "\u{1F600}"]);
});
