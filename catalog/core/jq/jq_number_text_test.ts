import "../../native/portable_runtime.ts";
import assert from "node:assert/strict";
import { formatJqNumber } from "./jq_number_text.ts";

Deno.test("formatJqNumber() prints numbers exactly as jq 1.6 does", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "-0"],
    [1, "1"],
    [-17, "-17"],
    [1.1, "1.1"],
    [0.1 + 0.2, "0.30000000000000004"],
    [1 / 3, "0.3333333333333333"],
    [1e15, "1000000000000000"],
    [1e16, "1e+16"],
    [1e17, "1e+17"],
    [123456789012, "123456789012"],
    [12345678901234567890, "12345678901234567000"],
    [0.0001, "0.0001"],
    [0.00001, "1e-05"],
    [1.5e-7, "1.5e-07"],
    [1.23e-18, "1.23e-18"],
    [1e100, "1e+100"],
    [1.5e300, "1.5e+300"],
    [5e-324, "5e-324"],
    [Number.MAX_VALUE, "1.7976931348623157e+308"],
    [Infinity, "1.7976931348623157e+308"],
    [-Infinity, "-1.7976931348623157e+308"],
    [NaN, "null"],
    [2 ** 53, "9007199254740992"],
    [-1.5, "-1.5"],
  ];
  for (const [x, text] of cases) assert.equal(formatJqNumber(x), text, String(x));
});

Deno.test("formatJqNumber() round-trips through the engine's number parser", () => {
  const rand = (() => {
    let s = 12345;
    return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  })();
  for (let i = 0; i < 2000; i++) {
    const x = (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20);
    assert.equal(Number(formatJqNumber(x)), x);
  }
});
