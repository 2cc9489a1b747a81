import "../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { toJs } from "../native/js_bridge.ts";
import {
  mutateText,
  randomInt,
  sampleEnvelope,
  sampleJson,
  seededRandom,
} from "../native/json_samples.ts";
import { JSON_MAX_DEPTH, parseJson } from "./json_parse.ts";
import { JsonValue } from "./json_value.ts";
import { writeJson } from "./json_write.ts";

/** Parses text that must be JSON and returns it as a JS value. */
function parsed(text: string): unknown {
  const result = parseJson(text);
  assert.equal(result.error, null, `${JSON.stringify(text)}: ${result.error}`);
  assert.equal(result.offset, -1);
  return toJs(result.value!);
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

Deno.test("parseJson() reads generated values exactly as JSON.parse does", () => {
  const random = seededRandom(20260124);
  for (let i = 0; i < 3000; i++) {
    const value = sampleJson(random);
    for (const text of [JSON.stringify(value), JSON.stringify(value, null, i % 4)]) {
      // deepStrictEqual compares numbers with Object.is: -0 and 0 differ.
      assert.deepEqual(parsed(text), JSON.parse(text), text);
      // Same key order as the text, so writing gives the compact text back.
      assert.equal(writeJson(parseJson(text).value!), JSON.stringify(JSON.parse(text)));
    }
  }
});

Deno.test("parseJson() rounds every number lexeme exactly as JSON.parse does", () => {
  const lexemes = [
    "0",
    "-0",
    "-0.0",
    "0e0",
    "0E+5",
    "1E5",
    "1e+5",
    "1e-5",
    "2.5e-3",
    "9007199254740991",
    "9007199254740993",
    "18014398509481985",
    "123456789012345678901234567890",
    "0.1",
    "0.10000000000000000555111512312578270211815834045410156250001",
    "3.14159265358979323846264338327950288419716939937510",
    "2.2250738585072011e-308",
    "2.2250738585072012e-308",
    "4.9e-324",
    "2.4703282292062327e-324",
    "2.4703282292062328e-324",
    "1e-400",
    "-1e-400",
    "1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.7976931348623159e308",
    "1e400",
    "-1e400",
    "1e0000000000000000000000000001",
    "0.000000000000000000000000000000000000000000001e45",
    "123456789012345.6",
    "999999999999999",
    "9999999999999999",
    "1e22",
    "1e23",
    "1.5e-22",
    "1234567e-22",
  ];
  const random = seededRandom(7);
  for (let i = 0; i < 5000; i++) {
    // Random lexemes: 1-25 digits, a point somewhere, an exponent sometimes.
    let digits = String(1 + randomInt(random, 9));
    const n = randomInt(random, 25);
    for (let k = 0; k < n; k++) digits += String(randomInt(random, 10));
    const point = randomInt(random, digits.length + 1);
    let text = point < digits.length
      ? `${digits.slice(0, point) || "0"}.${digits.slice(point)}`
      : digits;
    if (random() < 0.5) text += `e${randomInt(random, 2) ? "-" : ""}${randomInt(random, 330)}`;
    lexemes.push(random() < 0.5 ? `-${text}` : text);
  }
  for (const text of lexemes) {
    const result = parseJson(text);
    assert.equal(result.error, null, text);
    assert.ok(Object.is(result.value!.num, JSON.parse(text)), `${text}: ${result.value!.num}`);
  }
});

Deno.test("parseJson() keeps the first position of a repeated key and its last value", () => {
  const result = parseJson('{"a":1,"b":2,"a":3}');
  assert.deepEqual(result.value!.keys, ["a", "b"]);
  assert.equal(writeJson(result.value!), '{"a":3,"b":2}'); // jq 1.6 and JSON.parse agree
  assert.equal(writeJson(result.value!), JSON.stringify(JSON.parse('{"a":1,"b":2,"a":3}')));
  // Objects past the size at which JsonValue indexes keys behave the same.
  const members = Array.from({ length: 20 }, (_, i) => `"k${i}":${i}`).join(",");
  const big = parseJson(`{${members},"k3":"again","k19":"last"}`).value!;
  assert.equal(big.size(), 20);
  assert.equal(big.keys![3], "k3");
  assert.equal(big.get("k3")!.str, "again");
  assert.equal(big.get("k19")!.str, "last");
  // Unlike JavaScript objects, index-like keys keep text order (as in jq).
  assert.deepEqual(parseJson('{"b":1,"1":2}').value!.keys, ["b", "1"]);
});

Deno.test("parseJson() handles repeated keys before and after an object outgrows 32 members", () => {
  for (const size of [31, 32, 33, 34, 40, 100]) {
    const members = Array.from({ length: size }, (_, i) => `"k${i}":${i}`);
    // Repeats of early and late keys, some before the 33rd member arrives, some after.
    members.splice(10, 0, '"k0":"a"');
    members.push('"k1":"b"', `"k${size - 1}":"c"`, '"k5":{"x":[1,{"k0":2,"k0":3}]}');
    const text = `{${members.join(",")}}`;
    const value = parseJson(text).value!;
    assert.equal(writeJson(value), JSON.stringify(JSON.parse(text)), `size ${size}`);
    assert.equal(value.size(), size);
    assert.equal(value.get("k0")!.str, "a");
    assert.equal(value.find(`k${size - 1}`), size - 1);
  }
});

Deno.test("parseJson() lets objects with the same keys share them, and changing one leaves the rest", () => {
  const list = parseJson('[{"a":1,"b":2},{"a":3,"b":4},{"b":5,"a":6},{"a":7,"b":8}]').value!.items!;
  assert.equal(list[0].keys, list[1].keys); // one array for the same keys in the same order
  assert.notEqual(list[0].keys, list[2].keys);
  list[1].set("c", JsonValue.number(9));
  list[3].remove("a");
  assert.deepEqual(list[0].keys, ["a", "b"]);
  assert.deepEqual(list[1].keys, ["a", "b", "c"]);
  assert.deepEqual(list[3].keys, ["b"]);
  assert.deepEqual(toJs(JsonValue.array(list)), [
    { a: 1, b: 2 },
    { a: 3, b: 4, c: 9 },
    { b: 5, a: 6 },
    { b: 8 },
  ]);
  // An empty object is a shape too.
  const empties = parseJson("[{},{}]").value!.items!;
  empties[0].set("x", JsonValue.null());
  assert.equal(writeJson(JsonValue.array(empties)), '[{"x":null},{}]');
});

Deno.test("JsonValue.number() shares integers 0..255 and nothing that differs from them", () => {
  assert.equal(JsonValue.number(7), JsonValue.number(7));
  assert.equal(JsonValue.number(0), JsonValue.number(0));
  assert.equal(JsonValue.number(255), parseJson("255").value);
  for (const x of [-0, -1, 256, 0.5, 7.000001, NaN, Infinity]) {
    assert.notEqual(JsonValue.number(x), JsonValue.number(x), String(x));
    assert.ok(Object.is(JsonValue.number(x).num, x), String(x));
  }
  assert.ok(Object.is(parseJson("-0").value!.num, -0));
});

Deno.test("parseJson() decodes every escape, and lone surrogate escapes as code units", () => {
  const text = String
    .raw`"\" \\ \/ \b \f \n \r \t \u0000 \u001F \u00e9 \uD83D\uDE00 \uD800 \udfff x\uDBFF"`;
  assert.equal(parsed(text), JSON.parse(text));
  assert.equal(parsed(String.raw`"\ud800"`), "\ud800");
  // Raw non-ASCII, astral characters and U+2028 need no escape.
  assert.equal(parsed('"\u00e9\u{1f600}\u2028\u007f"'), "\u00e9\u{1f600}\u2028\u007f");
});

Deno.test("parseJson() accepts exactly the four JSON whitespace characters", () => {
  assert.deepEqual(parsed(' \t\r\n[ \t\r\n1 \t\r\n, \t\r\n{ "a" : 2 } \t\r\n] \t\r\n'), [1, {
    a: 2,
  }]);
  for (const space of ["\ufeff", "\u00a0", "\u2028", "\u000b", "\u000c"]) {
    const result = parseJson(`${space}1`);
    assert.equal(result.value, null);
    assert.equal(result.offset, 0);
    assert.throws(() => JSON.parse(`${space}1`), SyntaxError);
  }
});

/** [text, error offset, start of the message]: every class of error. */
const ERRORS: Array<[string, number, string]> = [
  ["", 0, "expected a JSON value at offset 0, found end of input"],
  ["   ", 3, "expected a JSON value at offset 3, found end of input"],
  ["}", 0, "expected a JSON value at offset 0, found '}'"],
  ["[1,]", 3, "expected a JSON value at offset 3, found ']'"],
  ["[,1]", 1, "expected a JSON value"],
  ['{"a":1,}', 7, "expected a string key after ',' in an object at offset 7, found '}'"],
  ["{,}", 1, "expected a string key or '}' in an object at offset 1, found ','"],
  ["{a:1}", 1, "expected a string key or '}'"],
  ["{'a':1}", 1, "expected a string key or '}'"],
  ['{"a" 1}', 5, "expected ':' after an object key at offset 5, found '1'"],
  ['{"a":1 "b":2}', 7, "expected ',' or '}' after an object member at offset 7, found '\"'"],
  ['{"a":1]', 6, "expected ',' or '}' after an object member"],
  ["[1 2]", 3, "expected ',' or ']' after an array element at offset 3, found '2'"],
  ["[1}", 2, "expected ',' or ']' after an array element"],
  ["[1", 2, "expected ',' or ']' after an array element at offset 2, found end of input"],
  ['{"a":1', 6, "expected ',' or '}' after an object member at offset 6, found end of input"],
  ["1 2", 2, "expected the end of input after the JSON value at offset 2, found '2'"],
  ["{}x", 2, "expected the end of input after the JSON value"],
  ["nul", 3, "expected 'null' at offset 3, found end of input"],
  ["tRue", 1, "expected 'true' at offset 1, found 'R'"],
  ["[fals]", 5, "expected 'false'"],
  ["NaN", 0, "expected a JSON value at offset 0, found 'N'"],
  ["-Infinity", 1, "expected a digit after '-' at offset 1, found 'I'"],
  ["Infinity", 0, "expected a JSON value"],
  ["// c\n1", 0, "expected a JSON value at offset 0, found '/'"],
  ["[1 /* c */]", 3, "expected ',' or ']' after an array element"],
  ["01", 1, "expected '.', 'e' or the end of the number after a leading 0 at offset 1, found '1'"],
  ["-012", 2, "expected '.', 'e' or the end of the number after a leading 0"],
  ["+1", 0, "expected a JSON value at offset 0, found '+'"],
  ["-", 1, "expected a digit after '-' at offset 1, found end of input"],
  [".5", 0, "expected a JSON value"],
  ["1.", 2, "expected a digit after the decimal point at offset 2, found end of input"],
  ["1.e5", 2, "expected a digit after the decimal point at offset 2, found 'e'"],
  ["1e", 2, "expected a digit in the exponent at offset 2, found end of input"],
  ["1e+", 3, "expected a digit in the exponent"],
  ["0x10", 1, "expected the end of input after the JSON value at offset 1, found 'x'"],
  [
    '"abc',
    4,
    "expected '\"' to end the string (opened at offset 0) at offset 4, found end of input",
  ],
  ['["a\\', 4, "expected '\"' to end the string (opened at offset 1)"],
  ['"a\nb"', 2, "expected an escape for control character U+000A in a string at offset 2"],
  ['"\u0000"', 1, "expected an escape for control character U+0000 in a string at offset 1"],
  ['"a\\x"', 3, "expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u after '\\' at offset 3"],
  ['"\\U0041"', 2, "expected one of"],
  ['"\\\'"', 2, "expected one of"],
  ['"\\u12G4"', 5, "expected 4 hex digits after '\\u' in a string at offset 5, found 'G'"],
  ['"\\u12"', 5, "expected 4 hex digits after '\\u' in a string at offset 5, found '\"'"],
  ['"\\u', 3, "expected 4 hex digits after '\\u' in a string at offset 3, found end of input"],
  ["'a'", 0, "expected a JSON value at offset 0, found '''"],
  ["\u0001", 0, "expected a JSON value at offset 0, found U+0001"],
  ["[\ud800]", 1, "expected a JSON value at offset 1, found U+D800"],
];

Deno.test("parseJson() refuses every kind of malformed text, saying what it expected and where", () => {
  for (const [text, offset, message] of ERRORS) {
    const result = parseJson(text);
    assert.equal(result.value, null, JSON.stringify(text));
    assert.equal(result.offset, offset, `${JSON.stringify(text)}: ${result.error}`);
    assert.ok(
      result.error!.startsWith(message),
      `${JSON.stringify(text)}: ${result.error} does not start with ${message}`,
    );
    assert.match(result.error!, new RegExp(`at offset ${offset}\\b`));
    // The reference parser refuses them too.
    assert.throws(() => JSON.parse(text), SyntaxError, JSON.stringify(text));
  }
});

Deno.test("parseJson() accepts and refuses the same mutated texts as JSON.parse", () => {
  const random = seededRandom(99);
  let refused = 0;
  for (let i = 0; i < 4000; i++) {
    const text = mutateText(
      random,
      JSON.stringify(sampleJson(random, { maxDepth: 3, maxItems: 4 })),
    );
    let expected: unknown;
    let valid = true;
    try {
      expected = JSON.parse(text);
    } catch {
      valid = false;
    }
    const result = parseJson(text);
    if (valid) {
      assert.equal(result.error, null, JSON.stringify(text));
      assert.deepEqual(toJs(result.value!), expected, JSON.stringify(text));
    } else {
      refused++;
      assert.equal(result.value, null, JSON.stringify(text));
      assert.ok(result.offset >= 0 && result.offset <= text.length, JSON.stringify(text));
    }
  }
  assert.ok(refused > 1000, `only ${refused} mutated texts were malformed`);
});

Deno.test("parseJson() takes nesting up to its limit and refuses deeper texts without recursion", () => {
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  const atLimit = parseJson(deep(JSON_MAX_DEPTH));
  assert.equal(atLimit.error, null);
  assert.equal(writeJson(atLimit.value!), deep(JSON_MAX_DEPTH));

  const over = parseJson(deep(JSON_MAX_DEPTH + 1));
  assert.equal(over.value, null);
  assert.equal(over.offset, JSON_MAX_DEPTH);
  assert.ok(over.error!.startsWith(`nesting deeper than ${JSON_MAX_DEPTH} levels at offset`));

  // Far deeper than any call stack: refused at the limit, not by a RangeError.
  const huge = parseJson("[".repeat(2_000_000));
  assert.equal(huge.offset, JSON_MAX_DEPTH);

  const objects = '{"a":'.repeat(50) + "1" + "}".repeat(50);
  assert.equal(parseJson(objects, 50).error, null);
  assert.equal(parseJson(objects, 49).offset, 49 * 5);
  // A raised limit works past the default too.
  const deeper = parseJson(deep(100_000), 100_000);
  assert.equal(deeper.error, null);
  assert.equal(writeJson(deeper.value!).length, 200_000);
});

Deno.test("parseJson() reads a 1 MB envelope like JSON.parse (timing printed)", () => {
  const text = JSON.stringify(sampleEnvelope(seededRandom(5), 1 << 20));
  const pretty = JSON.stringify(JSON.parse(text), null, 2);
  assert.ok(text.length >= 1 << 20);
  assert.deepEqual(toJs(parseJson(text).value!), JSON.parse(text));
  assert.deepEqual(toJs(parseJson(pretty).value!), JSON.parse(text));

  const ours: number[] = [];
  const engine: number[] = [];
  for (let i = 0; i < 15; i++) {
    let t = performance.now();
    parseJson(text);
    ours.push(performance.now() - t);
    t = performance.now();
    JSON.parse(text);
    engine.push(performance.now() - t);
  }
  const mb = text.length / (1 << 20);
  console.log(
    `parseJson 1 MB envelope: median ${median(ours).toFixed(2)} ms ` +
      `(${(mb / median(ours) * 1000).toFixed(0)} MB/s); ` +
      `JSON.parse ${median(engine).toFixed(2)} ms`,
  );
});
