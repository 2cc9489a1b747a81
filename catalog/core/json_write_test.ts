import "../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { fromJs, toJs } from "../native/js_bridge.ts";
import { sampleEnvelope, sampleJson, seededRandom } from "../native/json_samples.ts";
import { JsonValue } from "./json_value.ts";
import { parseJson } from "./json_parse.ts";
import { formatJsonNumber, quoteJsonString, writeJson, writeJsonPretty } from "./json_write.ts";

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

Deno.test("writeJson() writes generated values exactly as JSON.stringify does", () => {
  const random = seededRandom(424242);
  for (let i = 0; i < 3000; i++) {
    const value = sampleJson(random);
    assert.equal(writeJson(fromJs(value)), JSON.stringify(value));
  }
});

Deno.test("writeJsonPretty() indents exactly as JSON.stringify(value, null, indent) does", () => {
  const random = seededRandom(31337);
  for (let i = 0; i < 1000; i++) {
    const value = sampleJson(random);
    const indent = (i % 14) - 2; // -2..11: JSON.stringify clamps to 0..10 too
    assert.equal(writeJsonPretty(fromJs(value), indent), JSON.stringify(value, null, indent));
  }
  const nested = { a: [], b: {}, c: [1, { d: [[]] }], e: "x" };
  assert.equal(writeJsonPretty(fromJs(nested), 2), JSON.stringify(nested, null, 2));
  assert.equal(writeJsonPretty(fromJs(nested), 0), JSON.stringify(nested));
  assert.equal(writeJsonPretty(JsonValue.number(1), 4), "1");
});

Deno.test("writeJson() escapes every UTF-16 code unit as JSON.stringify does", () => {
  for (let c = 0; c <= 0xffff; c++) {
    const s = String.fromCharCode(c);
    // Alone, between text, and next to each kind of surrogate.
    for (const text of [s, `a${s}b`, `${s}\udc00`, `\ud800${s}`]) {
      assert.equal(quoteJsonString(text), JSON.stringify(text), `U+${c.toString(16)}`);
    }
  }
  const tricky = "\ud83d\ude00\ude00\ud83d\ud83d\ude00\ud800";
  assert.equal(writeJson(JsonValue.string(tricky)), JSON.stringify(tricky));
  assert.equal(quoteJsonString(""), '""');
});

Deno.test("formatJsonNumber() writes numbers as JSON.stringify does, -0 and non-finite included", () => {
  const numbers = [
    0,
    -0,
    1,
    -1,
    2147483647,
    2147483648,
    -2147483648,
    -2147483649,
    4294967296,
    999999999,
    1000000000,
    1000000001,
    1e15,
    123456789012345,
    -123456789012345,
    9007199254740991,
    -9007199254740991,
    9007199254740992,
    9007199254740994,
    1e21,
    1e20,
    0.1,
    -1.5,
    5e-324,
    1.7976931348623157e308,
    1e-7,
    123e-20,
  ];
  for (const x of numbers) assert.equal(formatJsonNumber(x), JSON.stringify(x), String(x));
  for (const x of [NaN, Infinity, -Infinity]) {
    assert.equal(formatJsonNumber(x), "null");
    assert.equal(writeJson(JsonValue.array([JsonValue.number(x)])), JSON.stringify([x]));
  }
  // Every integer split into two halves by the exact path, near the half boundary.
  for (let hi = 0; hi < 9007199; hi += 104729) {
    for (const lo of [0, 1, 9, 10, 99999999, 100000000, 999999999]) {
      const x = hi * 1e9 + lo;
      assert.equal(formatJsonNumber(x), String(x));
      assert.equal(formatJsonNumber(-x), String(-x));
    }
  }
});

Deno.test("writeJson() writes objects in insertion order, repeated sets in place", () => {
  const o = JsonValue.object()
    .set("b", JsonValue.number(1))
    .set("1", JsonValue.number(2))
    .set("a", JsonValue.null())
    .set("b", JsonValue.bool(true));
  assert.equal(writeJson(o), '{"b":true,"1":2,"a":null}');
  assert.equal(writeJson(JsonValue.object().set('k\n"', JsonValue.string(""))), '{"k\\n\\"":""}');
});

/** `[{"k":[{"k":[...[]...]}]}]`: `depth` containers, arrays and objects alternating. */
function deepValue(depth: number): JsonValue {
  let value = JsonValue.array([]);
  for (let i = 1; i < depth; i++) {
    value = i % 2 ? JsonValue.array([value]) : JsonValue.object().set("k", value);
  }
  return value;
}

Deno.test("writeJson() writes nesting far deeper than the call stack without recursion", () => {
  const depth = 500_000;
  const value = deepValue(depth);
  const text = writeJson(value);
  // Every container writes 2 characters, each object 4 more for `"k":`.
  assert.equal(text.length, depth * 2 + ((depth - 1) >> 1) * 4);
  assert.ok(text.startsWith('[{"k":[{"k":['));
  assert.ok(text.endsWith("}]}]") && text.includes('{"k":[[]]}'));
  const parsed = parseJson(text, depth);
  assert.equal(parsed.error, null);
  assert.equal(writeJson(parsed.value!), text);
  // Pretty text grows with the square of the depth: compare a shallower one with V8's.
  const shallow = deepValue(3000);
  assert.equal(writeJsonPretty(shallow, 1), JSON.stringify(toJs(shallow), null, 1));
});

Deno.test("writeJson() writes a 1 MB envelope like JSON.stringify (timing printed)", () => {
  const envelope = sampleEnvelope(seededRandom(5), 1 << 20);
  const text = JSON.stringify(envelope);
  const value = parseJson(text).value!;
  assert.equal(writeJson(value), text);
  assert.equal(writeJsonPretty(value, 2), JSON.stringify(envelope, null, 2));

  const ours: number[] = [];
  const pretty: number[] = [];
  const engine: number[] = [];
  for (let i = 0; i < 15; i++) {
    let t = performance.now();
    writeJson(value);
    ours.push(performance.now() - t);
    t = performance.now();
    writeJsonPretty(value, 2);
    pretty.push(performance.now() - t);
    t = performance.now();
    JSON.stringify(envelope);
    engine.push(performance.now() - t);
  }
  const mb = text.length / (1 << 20);
  console.log(
    `writeJson 1 MB envelope: median ${median(ours).toFixed(2)} ms ` +
      `(${(mb / median(ours) * 1000).toFixed(0)} MB/s); pretty ${median(pretty).toFixed(2)} ms; ` +
      `JSON.stringify ${median(engine).toFixed(2)} ms`,
  );
});
