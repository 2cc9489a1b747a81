/**
 * The wasm build's `formatF64`/`parseF64` (catalog/wasm/lib) against V8's
 * `String(x)`/`Number(s)`: edge cases, every power of ten and two with its
 * neighbours, random bit patterns, long digit strings, exact halfway points.
 * Seeds are fixed, so a failure reproduces.
 */
import assert from "node:assert/strict";
import { loadProbe, type NumberProbe } from "./number/load_probe.ts";
import { numberTablesSource } from "./number/gen_number_tables.ts";

// NUMBER_TEXT_SCALE=20 multiplies every random sample count (for runs by hand).
const SCALE = Number(Deno.env.get("NUMBER_TEXT_SCALE") ?? "1");
const RANDOM_FORMATS = 1_000_000 * SCALE;
const RANDOM_PARSES = 1_000_000 * SCALE;
const RANDOM_DIGIT_STRINGS = 200_000 * SCALE;
const HALFWAY_POINTS = 4_000 * SCALE;
const PLAIN_RANGE = 100_000 * SCALE;
const BATCH = 10_000; // calls between heap resets

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** What the native build's parseF64 returns: V8's Number(text) for JSON numbers. */
function expectedParse(text: string): number {
  return JSON_NUMBER.test(text) ? Number(text) : NaN;
}

/** mulberry32: a small deterministic 32-bit generator. */
function random32(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6D2B79F5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const bitsView = new DataView(new ArrayBuffer(8));

function fromBits(high: number, low: number): number {
  bitsView.setUint32(0, high);
  bitsView.setUint32(4, low);
  return bitsView.getFloat64(0);
}

function toBits(x: number): bigint {
  bitsView.setFloat64(0, x);
  return bitsView.getBigUint64(0);
}

function fromBigBits(bits: bigint): number {
  bitsView.setBigUint64(0, BigInt.asUintN(64, bits));
  return bitsView.getFloat64(0);
}

/** A finite double from random bits; `exponents` limits the biased exponent. */
function randomDouble(next: () => number, exponents?: [number, number]): number {
  for (;;) {
    let high = next();
    if (exponents) {
      const [min, max] = exponents;
      const biased = min + (next() % (max - min + 1));
      high = (high & 0x800FFFFF) | (biased << 20);
    }
    const x = fromBits(high >>> 0, next());
    if (Number.isFinite(x)) return x;
  }
}

/** Formats every value and returns "x: wasm != V8" lines for the mismatches (at most 10). */
function formatMismatches(probe: NumberProbe, values: Iterable<number>): string[] {
  const mismatches: string[] = [];
  let calls = 0;
  for (const x of values) {
    if (++calls % BATCH === 0) probe.reset();
    const actual = probe.format(x);
    const expected = String(x);
    if (actual !== expected && mismatches.length < 10) {
      mismatches.push(`bits 0x${toBits(x).toString(16)}: wasm "${actual}" != V8 "${expected}"`);
    }
  }
  probe.reset();
  return mismatches;
}

/** Parses every text and returns the mismatches with Number(text) (at most 10). */
function parseMismatches(probe: NumberProbe, texts: Iterable<string>): string[] {
  const mismatches: string[] = [];
  let calls = 0;
  for (const text of texts) {
    if (++calls % BATCH === 0) probe.reset();
    const actual = probe.parse(text);
    const expected = expectedParse(text);
    if (!Object.is(actual, expected) && mismatches.length < 10) {
      const shown = text.length > 80 ? `${text.slice(0, 40)}...${text.slice(-30)}` : text;
      mismatches.push(`"${shown}": wasm ${actual} != V8 ${expected}`);
    }
  }
  probe.reset();
  return mismatches;
}

/** x and its neighbours up to `ulps` steps away on both sides (finite ones only). */
function* neighbours(x: number, ulps: number): Generator<number> {
  const bits = toBits(x);
  for (let d = -ulps; d <= ulps; d++) {
    const y = fromBigBits(bits + BigInt(d));
    if (Number.isFinite(y)) {
      yield y;
      yield -y;
    }
  }
}

const probe = await loadProbe();

const CLASSIC_VALUES = [
  0,
  -0,
  1,
  -1,
  0.1,
  0.2,
  0.3,
  0.1 + 0.2,
  1 / 3,
  2 / 3,
  Math.PI,
  Math.E,
  5e-324,
  -5e-324,
  1e-323,
  2.2250738585072014e-308, // smallest normal
  2.225073858507201e-308, // largest subnormal
  1.7976931348623157e308,
  -1.7976931348623157e308,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  9007199254740993,
  2 ** 63,
  2 ** 64,
  123456789012345680000,
  1e21,
  1e21 - 65536,
  999999999999999900000,
  1e-7,
  1.5e-7,
  9.999999999999999e-8,
  1.0000000000000001e-7,
  0.000001,
  0.0000012345,
  1e-6 - 1e-22,
  1e20,
  1e22,
  1e23,
  8.41e21,
  5.764607523034235e39, // Ryu: looks like a power of 5
  1.152921504606847e40,
  2.305843009213694e40,
  1.7800590868057611e-307, // Ryu: minimum and maximum shifts
  2.8480945388892175e-306,
  2.446494580089078e-296,
  4.8929891601781557e-296,
  1.8014398509481984e16,
  3.6028797018963964e16,
  2.900835519859558e-216,
  5.801671039719115e-216,
  3.196104012172126e-27,
  2.109808898695963e16, // Ryu regressions
  4.940656e-318,
  1.18575755e-316,
  2.989102097996e-312,
  9.0608011534336e15,
  4.708356024711512e18,
  9.409340012568248e18,
  1.2345678,
  1.2345678901234567,
  4.35,
  0.35,
  2.675,
  1.005,
  100,
  1234.5,
  -0.0001,
  12345678901234567890,
];

Deno.test("formatF64() prints the classic edge cases like String(x)", () => {
  assert.deepEqual(formatMismatches(probe, CLASSIC_VALUES), []);
  assert.equal(probe.format(NaN), "NaN");
  assert.equal(probe.format(Infinity), "Infinity");
  assert.equal(probe.format(-Infinity), "-Infinity");
  assert.equal(probe.format(-0), "0");
  assert.equal(probe.format(1e21), "1e+21");
  assert.equal(probe.format(1.5e-7), "1.5e-7");
  assert.equal(probe.format(123456789012345680000), "123456789012345680000");
});

Deno.test("formatF64() matches String(x) at every power of ten and two and their neighbours", () => {
  function* values(): Generator<number> {
    for (let k = -323; k <= 308; k++) yield* neighbours(Number(`1e${k}`), 3);
    for (let e = -1074; e <= 1023; e++) yield* neighbours(2 ** e, 1);
    for (let n = 1; n <= 17; n++) yield* neighbours(Number("9".repeat(n)), 2);
  }
  assert.deepEqual(formatMismatches(probe, values()), []);
});

Deno.test(`formatF64() matches String(x) for ${RANDOM_FORMATS} random bit patterns`, () => {
  const next = random32(0x5EED_0001);
  function* values(): Generator<number> {
    for (let i = 0; i < RANDOM_FORMATS; i++) yield randomDouble(next);
  }
  assert.deepEqual(formatMismatches(probe, values()), []);
});

Deno.test("formatF64() matches String(x) for random doubles, integers and decimals in the plain range", () => {
  const next = random32(0x5EED_0002);
  function* values(): Generator<number> {
    for (let i = 0; i < PLAIN_RANGE; i++) {
      // 1e-7 <= |x| < 1e21 (biased exponents 999..1092), printed without an exponent
      yield randomDouble(next, [999, 1092]);
      yield (next() * 2 ** 21 + next()) * (next() % 2 ? 1 : -1); // integers up to 2^53
      yield (next() % 10_000_000) / 10 ** (next() % 9); // short decimals like prices
      yield Number(`${next() % 100_000}e${next() % 24}`); // few digits, many zeros: ties in Ryu
    }
  }
  assert.deepEqual(formatMismatches(probe, values()), []);
});

Deno.test("parseF64() reads the classic edge cases like Number(s)", () => {
  const texts = [
    "0",
    "-0",
    "0.0",
    "-0.0e+10",
    "0e-999999999999999999",
    "1",
    "-1",
    "0.1",
    "0.3",
    "5e-324",
    "4.9406564584124654e-324",
    "2.4703282292062327e-324", // just below half the smallest subnormal
    "2.4703282292062328e-324",
    "2.2250738585072011e-308",
    "2.2250738585072014e-308",
    "1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.7976931348623159e308",
    "9007199254740991",
    "9007199254740992",
    "9007199254740993",
    "9007199254740995",
    "100355064274275840000", // a 64-bit product with only the bit below the half bit set
    "30023054300000000000", // an exact tie between two doubles: to even
    "123456789012345680000",
    "123456789012345678901234567890",
    "1e21",
    "1e+21",
    "1E21",
    "1e-7",
    "1e007",
    "1E+0",
    "1e-0",
    "0e0",
    "1e22",
    "1e23",
    "1e308",
    "1e309",
    "1e-323",
    "1e-324",
    "1e400",
    "-1e400",
    "1e-400",
    "-1e-400",
    "1e999999999999999999999",
    "1e-999999999999999999999",
    "7.2057594037927933e16",
    "0.1000000000000000055511151231257827021181583404541015625",
    "0.1000000000000000055511151231257827021181583404541015624",
    "0.1000000000000000055511151231257827021181583404541015626",
    "1" + "0".repeat(400),
    "1" + "0".repeat(1000) + "e-1000",
    "0." + "0".repeat(1000) + "1e1001",
    "3." + "1415926535".repeat(1000),
    "0." + "0".repeat(320) + "24703282292062327208828439643411068618252990130716238221279284125",
  ];
  assert.deepEqual(parseMismatches(probe, texts), []);
  assert.ok(Object.is(probe.parse("-0"), -0));
  assert.ok(Object.is(probe.parse("-0.000e5"), -0));
  assert.ok(Object.is(probe.parse("-1e-400"), -0));
  assert.equal(probe.parse("-1e400"), -Infinity);
  assert.equal(probe.parse("9007199254740993"), 9007199254740992);
});

Deno.test("parseF64() returns NaN for text that is not a JSON number", () => {
  const texts = [
    "",
    "-",
    "01",
    "-01",
    "00",
    "1.",
    ".5",
    "-.5",
    "1e",
    "1e+",
    "1e-",
    "1E",
    "+1",
    "--1",
    " 1",
    "1 ",
    "\t1",
    "1\n",
    "Infinity",
    "-Infinity",
    "NaN",
    "0x10",
    "0b1",
    "1_000",
    "1.5.",
    "1.5.5",
    "1ee5",
    "1e5.5",
    "0.e1",
    "1e+-5",
    "\u0661", // Arabic-Indic one
    "1\u0000",
    "１", // fullwidth one
    "e5",
    "-e5",
    ".",
    "1.e5",
  ];
  for (const text of texts) {
    assert.ok(Number.isNaN(probe.parse(text)), `parseF64(${JSON.stringify(text)}) is not NaN`);
  }
});

Deno.test(`parseF64() reads back ${RANDOM_PARSES} random doubles printed by String(x)`, () => {
  const next = random32(0x5EED_0003);
  const mismatches: string[] = [];
  for (let i = 0; i < RANDOM_PARSES; i++) {
    if (i % BATCH === 0) probe.reset();
    const x = randomDouble(next);
    const text = String(x);
    const actual = probe.parse(text);
    if (!Object.is(actual, x) && mismatches.length < 10) {
      mismatches.push(`"${text}": wasm ${actual}`);
    }
  }
  probe.reset();
  assert.deepEqual(mismatches, []);
});

Deno.test("parseF64() matches Number(s) for random digit strings up to 1000 digits with exponents -400..400", () => {
  const next = random32(0x5EED_0004);
  function digits(count: number): string {
    let text = "";
    for (let i = 0; i < count; i++) text += String.fromCharCode(48 + (next() % 10));
    return text;
  }
  function* texts(): Generator<string> {
    for (let i = 0; i < RANDOM_DIGIT_STRINGS; i++) {
      const size = next() % 100;
      const count = size < 55
        ? 1 + (next() % 25)
        : size < 90
        ? 20 + (next() % 100)
        : 1 + (next() % 1000);
      let mantissa = String.fromCharCode(49 + (next() % 9)) + digits(count - 1);
      if (next() % 4 === 0) {
        mantissa = mantissa.replace(/[0-9]{1,30}$/, (m) => "0".repeat(m.length));
      }
      const point = next() % (count + 1);
      const whole = point === 0 ? "0" : mantissa.slice(0, point);
      const fraction = point === 0 ? "0".repeat(next() % 5) + mantissa : mantissa.slice(point);
      let text = (next() % 2 ? "-" : "") + whole + (fraction ? "." + fraction : "");
      if (next() % 4 !== 0) {
        const exp = (next() % 801) - 400;
        const sign = exp < 0 ? "-" : next() % 2 ? "+" : "";
        text += (next() % 2 ? "e" : "E") + sign + Math.abs(exp);
      }
      yield text;
    }
  }
  assert.deepEqual(parseMismatches(probe, texts()), []);
});

/** The exact decimal digits and exponent of (2m + 1) * 2^(e - 1): a halfway point. */
function halfway(m: bigint, e: number): { digits: string; exp10: number } {
  const odd = 2n * m + 1n;
  if (e - 1 >= 0) return { digits: (odd << BigInt(e - 1)).toString(), exp10: 0 };
  const k = 1 - e; // odd / 2^k = odd * 5^k / 10^k
  return { digits: (odd * 5n ** BigInt(k)).toString(), exp10: -k };
}

Deno.test("parseF64() rounds exact halfway points half to even, and a hair off them to the nearest", () => {
  const next = random32(0x5EED_0005);
  const starts: number[] = [0, 5e-324, 2.225073858507201e-308, 1.7976931348623157e308, 2 ** 53];
  for (let i = 0; i < HALFWAY_POINTS; i++) {
    const pick = next() % 4;
    const exponents: [number, number] = pick === 0
      ? [0, 0] // subnormal
      : pick === 1
      ? [2020, 2046] // near overflow
      : pick === 2
      ? [1000, 1100]
      : [1, 2046];
    starts.push(Math.abs(randomDouble(next, exponents)));
  }
  function* texts(): Generator<string> {
    for (const x of starts) {
      const bits = toBits(x);
      const biased = Number(bits >> 52n);
      const fraction = bits & ((1n << 52n) - 1n);
      const m = biased === 0 ? fraction : fraction | (1n << 52n);
      const e = (biased === 0 ? 1 : biased) - 1075;
      const { digits, exp10 } = halfway(m, e);
      const point = exp10 + digits.length - 1; // scientific exponent of the first digit
      const scientific = (d: string) => `${d[0]}.${d.slice(1) || "0"}e${point}`;
      yield scientific(digits); // exactly halfway
      yield scientific(digits + "0".repeat(5) + "1"); // a hair above
      yield scientific(digits + "0".repeat(900 - digits.length) + "1"); // above, past 800 digits
      const below = (BigInt(digits) * 10n ** 6n - 1n).toString(); // a hair below
      yield `${below[0]}.${below.slice(1)}e${point}`;
      if (exp10 < 0 && digits.length <= 400) {
        // The same halfway point written out without an exponent.
        const fractionDigits = -exp10;
        const padded = digits.padStart(fractionDigits + 1, "0");
        yield `${padded.slice(0, padded.length - fractionDigits)}.${padded.slice(-fractionDigits)}`;
      }
    }
  }
  assert.deepEqual(parseMismatches(probe, texts()), []);
});

Deno.test("parseF64() allocates nothing and formatF64() allocates only its result", () => {
  const { __new, fmt, parse } = probe.exports;
  probe.reset();
  const texts = [
    "12.5", // Clinger
    "1.7976931348623157e308", // Eisel-Lemire
    "9007199254740993", // exact tie
    "2.2250738585072011e-308", // subnormal: big decimal
    "1" + "0".repeat(900) + "1e-800", // long: big decimal
    "01", // malformed
  ];
  const pointers = texts.map((text) => probe.writeString(text));
  // Consecutive empty allocations are `step` apart: a gap means something allocated.
  const first = __new(0, 0);
  const step = __new(0, 0) - first;
  const before = __new(0, 0);
  for (const pointer of pointers) parse(pointer);
  assert.equal(__new(0, 0) - before, step);

  for (const x of [0, 5430, 0.1, 1e21, 1.5e-7, -1.7976931348623157e308, 5e-324, 123.456]) {
    const start = __new(0, 0);
    const result = fmt(x);
    const end = __new(0, 0);
    // The gap one string of the result's length leaves, or none for a
    // static string ("0" lies in the data segment, below the heap).
    __new(probe.readString(result).length << 1, 2);
    const resultGap = result < first ? 0 : __new(0, 0) - end - step;
    assert.equal(end - start - step, resultGap, `formatF64(${x}) allocated more than its result`);
  }
  probe.reset();
});

Deno.test("the number tables in catalog/wasm/lib match their generator", async () => {
  const tables = await Deno.readTextFile(
    new URL("./lib/number_text/tables.ts", import.meta.url),
  );
  assert.equal(tables, numberTablesSource());
});
