/**
 * Seeded generators of JSON values for tests and benchmarks of the catalog's
 * JSON text code (both builds get the same values from the same seed).
 * Strings reach the awkward parts of JSON text on purpose: quotes,
 * backslashes, every kind of control character, non-ASCII, astral characters
 * (surrogate pairs) and lone surrogates.
 *
 * @module
 */

/** A deterministic source of numbers in [0, 1) (mulberry32). */
export type Random = () => number;

/**
 * A seeded pseudo-random generator (mulberry32): the same seed gives the same sequence.
 *
 * @example
 * ```ts
 * import { seededRandom } from "./json_samples.ts";
 * console.assert(seededRandom(7)() === seededRandom(7)());
 * ```
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options for {@link sampleJson}. */
export interface SampleOptions {
  /**
   * `"any"` (default): every finite double, integers beyond 2^53 included.
   * `"integers"`: integers of at most 15 digits (exact without a float parser).
   */
  numbers?: "any" | "integers";
  /** Deepest nesting; defaults to 5. */
  maxDepth?: number;
  /** Most elements or members per container; defaults to 6. */
  maxItems?: number;
}

/** An integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}

function pick<T>(random: Random, items: readonly T[]): T {
  return items[randomInt(random, items.length)];
}

const SPECIAL_CHARS = [
  '"',
  "\\",
  "/",
  "\b",
  "\f",
  "\n",
  "\r",
  "\t",
  "\u0000",
  "\u0001",
  "\u001f",
  "\u007f",
  "\u00e9",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\uffff",
  "\u{1f600}",
  "\u{10ffff}",
  "\ud800", // lone high surrogate
  "\udfff", // lone low surrogate
  "~",
  " ",
];

/**
 * A string of up to `maxLength` code points mixing ASCII with the awkward characters.
 *
 * @example
 * ```ts
 * import { sampleString, seededRandom } from "./json_samples.ts";
 * console.assert(typeof sampleString(seededRandom(1), 8) === "string");
 * ```
 */
export function sampleString(random: Random, maxLength = 12): string {
  const n = randomInt(random, maxLength + 1);
  let out = "";
  for (let i = 0; i < n; i++) {
    const r = random();
    if (r < 0.6) out += String.fromCharCode(0x20 + randomInt(random, 95));
    else if (r < 0.85) out += pick(random, SPECIAL_CHARS);
    else if (r < 0.95) out += String.fromCharCode(0xa0 + randomInt(random, 0xd800 - 0xa0));
    else out += String.fromCodePoint(0x10000 + randomInt(random, 0x100000));
  }
  return out;
}

const NICE_NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.1,
  0.5,
  1.5,
  -2.25,
  1e21,
  1e-7,
  123e-20,
  1.7976931348623157e308,
  5e-324,
  2.2250738585072014e-308,
  9007199254740991,
  9007199254740992,
  18014398509481984,
  2147483647,
  2147483648,
  -2147483648,
  -2147483649,
  4294967295,
  0.30000000000000004,
  100,
  1e100,
  123456789012345680000,
];

/**
 * A finite number: integers of every size, nice decimals, and doubles from random bits.
 *
 * @example
 * ```ts
 * import { sampleNumber, seededRandom } from "./json_samples.ts";
 * console.assert(Number.isInteger(sampleNumber(seededRandom(3), "integers")));
 * ```
 */
export function sampleNumber(random: Random, numbers: "any" | "integers" = "any"): number {
  if (numbers === "integers") {
    const digits = 1 + randomInt(random, 15);
    const n = Math.floor(random() * 10 ** digits);
    return random() < 0.3 ? -n : n;
  }
  const r = random();
  if (r < 0.3) return randomInt(random, 2001) - 1000;
  if (r < 0.45) return pick(random, NICE_NUMBERS);
  if (r < 0.6) return Math.round((random() - 0.5) * 10 ** randomInt(random, 8)) / 100;
  if (r < 0.7) return Math.floor((random() - 0.5) * 2 ** randomInt(random, 70));
  // Any finite double: random sign, exponent and mantissa bits.
  const view = new DataView(new ArrayBuffer(8));
  for (;;) {
    view.setUint32(0, randomInt(random, 2 ** 32));
    view.setUint32(4, randomInt(random, 2 ** 32));
    const x = view.getFloat64(0);
    if (Number.isFinite(x)) return x;
  }
}

/**
 * A random JSON value (as `JSON.parse` would return it).
 *
 * @example
 * ```ts
 * import { sampleJson, seededRandom } from "./json_samples.ts";
 * const v = sampleJson(seededRandom(42));
 * console.assert(JSON.stringify(JSON.parse(JSON.stringify(v))) === JSON.stringify(v));
 * ```
 */
export function sampleJson(random: Random, options: SampleOptions = {}, depth = 0): unknown {
  const maxDepth = options.maxDepth ?? 5;
  const maxItems = options.maxItems ?? 6;
  const r = random();
  const scalarOnly = depth >= maxDepth;
  if (scalarOnly || r < 0.5) {
    const s = random();
    if (s < 0.1) return null;
    if (s < 0.2) return random() < 0.5;
    if (s < 0.55) return sampleNumber(random, options.numbers);
    return sampleString(random);
  }
  const n = randomInt(random, maxItems + 1);
  if (r < 0.75) {
    const items: unknown[] = [];
    for (let i = 0; i < n; i++) items.push(sampleJson(random, options, depth + 1));
    return items;
  }
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    // Some keys look like array indices (JS orders those first) or repeat.
    const key = random() < 0.1 ? String(randomInt(random, 5)) : sampleString(random, 6);
    Object.defineProperty(out, key, {
      value: sampleJson(random, options, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/**
 * A step envelope `{context, deps, step, config}` of about `targetBytes` of
 * compact JSON: realistic records (ids, names, prices, tags, nested
 * addresses) in `deps.fetch.result.items`.
 *
 * @example
 * ```ts
 * import { sampleEnvelope, seededRandom } from "./json_samples.ts";
 * const text = JSON.stringify(sampleEnvelope(seededRandom(1), 10_000));
 * console.assert(text.length >= 10_000);
 * ```
 */
export function sampleEnvelope(
  random: Random,
  targetBytes: number,
  numbers: "any" | "integers" = "any",
): unknown {
  const items: unknown[] = [];
  const envelope = {
    context: { order_id: "ord-7f3a", customer: { id: 1042, tier: "gold" }, locale: "de-DE" },
    deps: { fetch: { result: { items, next: null, total: 0 } } },
    step: { name: "transform", attempts: 1, max_attempts: 3, inputs: { limit: 100 } },
    config: { filter: ".deps.fetch.result.items | map(select(.active))" },
  };
  let size = JSON.stringify(envelope).length;
  for (let id = 1; size < targetBytes; id++) {
    const item = {
      id,
      sku: `SKU-${randomInt(random, 1e6)}`,
      name: sampleString(random, 24),
      description: 'Line one\nline two: "quoted" \u00e9t\u00e9 \u{1f4e6}',
      price: numbers === "any" ? Math.round(random() * 1e6) / 100 : randomInt(random, 1e6),
      ratio: numbers === "any" ? random() : randomInt(random, 100),
      quantity: randomInt(random, 500),
      active: random() < 0.7,
      tags: ["a", "b", "c"].slice(0, randomInt(random, 4)),
      address: { street: "Hauptstra\u00dfe 5", city: "Berlin", zip: "10115", geo: null },
    };
    items.push(item);
    size += JSON.stringify(item).length + 1;
  }
  envelope.deps.fetch.result.total = items.length;
  return envelope;
}

const MUTATIONS = ' \t\n{}[]:,"\\/-+.0123456789eEtrufalsn\u0000\u001fx\ud800\u00e9';

/**
 * `text` with one or two random single-character deletions, insertions or
 * replacements drawn from JSON's syntax characters and a few invalid ones:
 * mostly malformed texts, near the valid ones.
 *
 * @example
 * ```ts
 * import { mutateText, seededRandom } from "./json_samples.ts";
 * console.assert(typeof mutateText(seededRandom(2), '{"a":[1,2]}') === "string");
 * ```
 */
export function mutateText(random: Random, text: string): string {
  for (let m = 1 + randomInt(random, 2); m > 0; m--) {
    const at = randomInt(random, text.length + 1);
    const op = randomInt(random, 3);
    const ch = MUTATIONS[randomInt(random, MUTATIONS.length)];
    if (op === 0) text = text.slice(0, at) + text.slice(at + 1);
    else if (op === 1) text = text.slice(0, at) + ch + text.slice(at);
    else text = text.slice(0, at) + ch + text.slice(at + 1);
  }
  return text;
}
