/**
 * Number text in the wasm build (`formatF64`/`parseF64` from
 * `catalog/wasm/lib`, called inside wasm over a batch, as a guest calls them)
 * against V8's `String(x)`/`Number(s)` (what the native build uses), for
 * batches of 1000 values of four kinds:
 *
 * - `integer`: ids and counts below 100000;
 * - `decimal`: prices and measurements with 1 to 3 decimals;
 * - `ratio`: doubles in [0, 1) with 16 or 17 digits;
 * - `random`: random finite bit patterns (mostly 17 digits and an exponent).
 *
 * V8 caches the text of recently printed numbers, which a fresh 1 MB
 * envelope does not enjoy, so the V8 cases walk through 64 different batches
 * (the wasm code has no caches). V8 also keeps the value of a string that
 * looks like an array index in its hash, so `Number(s)` on the same integer
 * strings again is a lookup: the `parse integer` baseline is optimistic.
 * Divide a batch time by 1000 for the time per call.
 *
 * `deno bench -A bench/number_text_bench.ts`
 *
 * @module
 */
import { loadProbe } from "../catalog/wasm/number/load_probe.ts";
import { WasmBrokerError } from "../src/errors.ts";

const BATCH = 1000;
const BATCHES = 64;

function random32(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6D2B79F5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const next = random32(0xBE7C4);
const view = new DataView(new ArrayBuffer(8));
const kinds: Record<string, () => number> = {
  integer: () => next() % 100_000,
  decimal: () => (next() % 10_000_000) / 10 ** (1 + (next() % 3)),
  ratio: () => next() / 2 ** 32,
  random: () => {
    for (;;) {
      view.setUint32(0, next());
      view.setUint32(4, next());
      const x = view.getFloat64(0);
      if (Number.isFinite(x)) return x;
    }
  },
};

for (const [kind, generate] of Object.entries(kinds)) {
  const pool = Array.from({ length: BATCH * BATCHES }, generate);
  const poolTexts = pool.map((x) => String(x));
  const values = pool.slice(0, BATCH);
  const texts = poolTexts.slice(0, BATCH);

  // formatAll resets the heap before it prints, so parsing gets its own
  // instance where the input strings stay alive.
  const formatter = await loadProbe();
  new Float64Array(formatter.exports.memory.buffer, formatter.exports.input(), BATCH).set(values);
  const parser = await loadProbe();
  const list = parser.exports.__new(BATCH << 2, 0);
  const pointers = texts.map((text) => parser.writeString(text));
  new Uint32Array(parser.exports.memory.buffer, list, BATCH).set(pointers);

  // Both sides must compute the same thing.
  const printed = texts.reduce((sum, text) => sum + text.length, 0);
  if (formatter.exports.formatAll(BATCH) !== printed) {
    throw new WasmBrokerError(
      "internal",
      `Cannot bench formatF64 as its output differs from V8: current kind is ${kind}`,
    );
  }
  const total = texts.reduce((sum, text) => sum + Number(text), 0);
  if (!Object.is(parser.exports.parseAll(list, BATCH), total)) {
    throw new WasmBrokerError(
      "internal",
      `Cannot bench parseF64 as its results differ from V8: current kind is ${kind}`,
    );
  }

  let batch = 0;
  let sink = 0;
  Deno.bench({
    name: `String(x) (V8), ${kind}`,
    group: `format ${kind} x${BATCH}`,
    baseline: true,
    fn() {
      const start = (batch = (batch + 1) % BATCHES) * BATCH;
      let length = 0;
      for (let i = start; i < start + BATCH; i++) length += String(pool[i]).length;
      sink += length;
    },
  });
  Deno.bench({
    name: `formatF64 (wasm), ${kind}`,
    group: `format ${kind} x${BATCH}`,
    fn() {
      sink += formatter.exports.formatAll(BATCH);
    },
  });
  Deno.bench({
    name: `Number(s) (V8), ${kind}`,
    group: `parse ${kind} x${BATCH}`,
    baseline: true,
    fn() {
      const start = (batch = (batch + 1) % BATCHES) * BATCH;
      let sum = 0;
      for (let i = start; i < start + BATCH; i++) sum += Number(poolTexts[i]);
      sink += sum;
    },
  });
  Deno.bench({
    name: `parseF64 (wasm), ${kind}`,
    group: `parse ${kind} x${BATCH}`,
    fn() {
      sink += parser.exports.parseAll(list, BATCH);
    },
  });
}
