import assert from "node:assert/strict";
import "../../native/portable_runtime.ts";
import { fromJs, toJs } from "../../native/js_bridge.ts";
import { coerceValue, stringToNumber } from "./coerce_type.ts";

function same(actual: number, expected: number, text: string) {
  assert.ok(
    Object.is(actual, expected),
    `${JSON.stringify(text)}: ${actual} vs Number() ${expected}`,
  );
}

Deno.test("stringToNumber() matches ECMAScript Number() on tricky strings", () => {
  const samples = [
    "",
    " ",
    "\t\n\v\f\r \u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff",
    "\u180e1",
    "0",
    "-0",
    "+0",
    "007",
    "1.",
    ".5",
    "-.5e-3",
    "+.e1",
    ".",
    "1e",
    "1e+",
    "1E3",
    "1e-400",
    "1e400",
    "-1e400",
    "Infinity",
    "-Infinity",
    "+Infinity",
    "infinity",
    "NaN",
    "0x",
    "0x1F",
    "0X1f",
    "-0x10",
    "0b101",
    "0B2",
    "0o17",
    "0O8",
    "0x1.5",
    "1_000",
    "12px",
    " 12 ",
    "0.1",
    "123456789012345678901234567890",
    "9007199254740993",
    "0x20000000000001",
    "0x20000000000003",
    "0x1fffffffffffff8",
    "0xfffffffffffffbff",
    "0b" + "1".repeat(60),
    "0o" + "7".repeat(30),
    "0x" + "f".repeat(300),
    "1.7976931348623157e308",
    "2.4703282292062328e-324",
  ];
  for (const s of samples) same(stringToNumber(s), Number(s), s);
});

Deno.test("stringToNumber() matches Number() on generated decimal and radix literals", () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const pieces = ["0", "1", "9", "5", ".", "e", "E", "-", "+", " ", "x", "b", "o", "a", "f"];
  for (let i = 0; i < 5000; i++) {
    let s = "";
    for (let k = rand(10); k >= 0; k--) s += pieces[rand(pieces.length)];
    same(stringToNumber(s), Number(s), s);
  }
  for (let i = 0; i < 2000; i++) {
    let hex = "0x";
    for (let k = 1 + rand(20); k > 0; k--) hex += "0123456789abcdef"[rand(16)];
    same(stringToNumber(hex), Number(hex), hex);
  }
});

Deno.test("coerceValue() follows ajv's coerceTypes rules in type order", () => {
  const cases: [unknown, string[], unknown][] = [
    ["123", ["number"], 123],
    [" 1.5 ", ["number"], 1.5],
    ["0x10", ["integer"], 16],
    ["1.5", ["integer"], undefined],
    ["", ["number"], undefined],
    ["  ", ["number"], 0],
    ["abc", ["number"], undefined],
    ["Infinity", ["number"], undefined],
    [true, ["number"], 1],
    [false, ["integer"], 0],
    [null, ["number"], 0],
    [12.5, ["string"], "12.5"],
    [1e21, ["string"], "1e+21"],
    [true, ["string"], "true"],
    [null, ["string"], ""],
    ["true", ["boolean"], true],
    ["false", ["boolean"], false],
    [1, ["boolean"], true],
    [0, ["boolean"], false],
    [null, ["boolean"], false],
    [2, ["boolean"], undefined],
    ["TRUE", ["boolean"], undefined],
    ["", ["null"], null],
    [0, ["null"], null],
    [false, ["null"], null],
    ["null", ["null"], undefined],
    [[1], ["string", "number"], undefined],
    [{}, ["string"], undefined],
    // The first type that applies wins.
    ["1", ["boolean", "number"], 1],
    [1, ["boolean", "string"], true],
    [1, ["string", "boolean"], "1"],
    [0, ["null", "boolean"], null],
  ];
  for (const [input, types, expected] of cases) {
    const out = coerceValue(fromJs(input), types);
    const label = `${JSON.stringify(input)} to ${types.join(",")}`;
    if (expected === undefined) assert.equal(out, null, label);
    else assert.deepEqual(toJs(out!), expected, label);
  }
});
