/**
 * Catalog throughput: native vs WASM for `transform`, `validate` and
 * `aggregate` at ~100 B, ~10 KB and ~1 MB envelopes, a fresh instance per
 * step, measured in the same run.
 *
 *   deno bench -A bench/throughput_bench.ts                      # avg, p75, p99
 *   deno run -A bench/throughput_bench.ts --percentiles [scale]  # p50, p90, ratios
 *
 * `--percentiles` samples the three ways of each case in alternation (one
 * batch of each per round) and prints medians and the wasm/native ratio of
 * medians from the same run; `scale` multiplies the number of samples.
 *
 * Three ways to run a step are compared:
 * - `native`: the portable handler run as TypeScript (envelope text → result text);
 * - `wasm`: the same handler's wasm build, prepared as the runtime prepares
 *   it, a fresh `WebAssembly.Instance` per step on a scrubbed memory from a
 *   pool, with the `io` imports wired straight to buffers (envelope bytes →
 *   result bytes) — the guest's own cost, comparable with `native`;
 * - `runtime`: the wasm build through `runStep` (import linking, metering,
 *   output validation), what the broker pays per step in its sandbox.
 *
 * @module
 */
import { join } from "node:path";
import "../catalog/native/portable_runtime.ts";
import { runNative } from "../catalog/native/run_native.ts";
import type { Handler } from "../catalog/core/run_handler.ts";
import { builtinPlugins } from "../plugins/builtin_plugins.ts";
import { buildHandler, CATALOG_DIR } from "../src/build/catalog_build.ts";
import { CapabilityRegistry } from "../src/capability/capability_registry.ts";
import { parseManifest } from "../src/manifest/manifest.ts";
import { concatBytes } from "../src/concat_bytes.ts";
import { MemoryPool } from "../src/runtime/memory_pool.ts";
import { type PreparedGuest, prepareGuest } from "../src/runtime/prepared_guest.ts";
import { runStep } from "../src/runtime/run_step.ts";

/** Orders as a Tasker task might carry them; `n` controls the envelope size. */
export function orders(n: number, seed = 1): unknown[] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  return Array.from({ length: n }, (_, i) => ({
    id: `ord-${i}`,
    total: Math.round(rnd() * 20000) / 100,
    currency: i % 3 ? "EUR" : "USD",
    customer: { name: `customer ${i % 97}`, tier: ["gold", "silver", "bronze"][i % 3] },
    lines: [{ sku: `sku-${i % 13}`, qty: 1 + (i % 4) }],
  }));
}

/** Order counts giving ~100 B, ~10 KB and ~1 MB envelopes. */
export const SIZES: Record<string, number> = { "100B": 0, "10KB": 50, "1MB": 5000 };

const ORDER_SCHEMA = {
  type: "array",
  items: {
    type: "object",
    required: ["id", "total", "currency", "customer"],
    properties: {
      id: { type: "string" },
      total: { type: "number", minimum: 0 },
      currency: { enum: ["EUR", "USD"] },
      customer: { type: "object", properties: { name: { type: "string" } } },
      lines: { type: "array", items: { type: "object", properties: { qty: { type: "integer" } } } },
    },
  },
};

/** The envelope of `handler` at order count `n`. */
export function envelopeFor(handler: string, n: number): unknown {
  const step = { name: handler, attempts: 1, max_attempts: 3, inputs: {} };
  switch (handler) {
    case "transform":
      return {
        context: { orders: orders(n) },
        deps: {},
        step,
        config: {
          filter:
            ".context.orders | map(select(.total > 50) | {id, total, customer: .customer.name})",
        },
      };
    case "validate":
      return {
        context: { orders: orders(n) },
        deps: {},
        step,
        config: { schema: ORDER_SCHEMA, select: ".context.orders" },
      };
    default: {
      const half = Math.floor(n / 2);
      return {
        context: {},
        deps: { a: { items: orders(half, 1) }, b: { items: orders(n - half, 2) } },
        step,
        config: { mode: "concat", path: ".items" },
      };
    }
  }
}

const encoder = new TextEncoder();

interface Subject {
  native: Handler;
  guest: Awaited<ReturnType<typeof prepareGuest>>;
}

async function subject(name: string, registry: CapabilityRegistry): Promise<Subject> {
  const dir = join(CATALOG_DIR, "handlers", name);
  const built = await buildHandler(dir);
  const native = (await import(join(dir, `${name}.ts`))).handle as Handler;
  const manifest = parseManifest(built.manifest, registry);
  return {
    native,
    guest: prepareGuest(built.binary, manifest, registry, { name }),
  };
}

/** One step of the wasm build with the io imports wired straight to buffers. */
export function runGuestRaw(guest: PreparedGuest, input: Uint8Array): Uint8Array {
  // As the runtime does: the memory comes from the pool and goes back to it
  // (see src/runtime/host_memory.ts).
  const limits = guest.importedMemory;
  const memory = limits && rawMemoryPool.takeFor(limits, input.length);
  try {
    return runInstance(guest.module, input, memory);
  } finally {
    if (memory) rawMemoryPool.giveFor(memory, limits!);
  }
}

const rawMemoryPool = new MemoryPool();

function runInstance(
  module: WebAssembly.Module,
  input: Uint8Array,
  memory: WebAssembly.Memory | undefined,
): Uint8Array {
  // Set once the instance exists; the imports read it lazily.
  const guest: { memory?: WebAssembly.Memory } = {};
  const chunks: Uint8Array[] = [];
  const view = (ptr: number, len: number) =>
    new Uint8Array(guest.memory!.buffer, ptr >>> 0, len >>> 0);
  const instance = new WebAssembly.Instance(module, {
    env: {
      abort: () => {
        throw new Error("guest aborted");
      },
      ...(memory ? { memory } : {}),
    },
    io: {
      input_len: () => input.length,
      read_input: (ptr: number, len: number) => {
        const n = Math.min(len, input.length);
        view(ptr, n).set(input.subarray(0, n));
        return n;
      },
      write_output: (ptr: number, len: number) => (chunks.push(view(ptr, len).slice()), 0),
      fail: (ptr: number, len: number) => {
        throw new Error(new TextDecoder().decode(view(ptr, len)));
      },
    },
  });
  guest.memory = instance.exports.memory as WebAssembly.Memory;
  (instance.exports._initialize as () => void)();
  if ((instance.exports.run as () => number)() !== 0) throw new Error("guest failed");
  // The wasm build streams large results in several writes; the host concatenates them.
  return chunks.length === 1 ? chunks[0] : concatBytes(chunks);
}

/** One benchmark case: a handler at one envelope size, run the three ways. */
interface Case {
  name: string;
  size: string;
  bytes: number;
  native: () => void;
  wasm: () => void;
  runtime: () => Promise<unknown>;
}

async function cases(): Promise<Case[]> {
  const registry = new CapabilityRegistry(builtinPlugins());
  const out: Case[] = [];
  for (const name of ["transform", "validate", "aggregate"]) {
    let s: Subject;
    try {
      s = await subject(name, registry);
    } catch (error) {
      console.error(`skipping ${name}: ${(error as Error).message}`);
      continue;
    }
    for (const [size, n] of Object.entries(SIZES)) {
      const text = JSON.stringify(envelopeFor(name, n));
      const bytes = encoder.encode(text);
      const check = runNative(s.native, text);
      if (!check.ok) {
        throw new Error(`${name} ${size}: native failed: ${JSON.stringify(check.failure)}`);
      }
      // Both builds must produce the same result, or the comparison means nothing.
      if (new TextDecoder().decode(runGuestRaw(s.guest, bytes)) !== check.resultJson) {
        throw new Error(`${name} ${size}: the wasm build's result differs from the native one`);
      }
      out.push({
        name,
        size,
        bytes: bytes.length,
        native: () => runNative(s.native, text),
        wasm: () => runGuestRaw(s.guest, bytes),
        runtime: () =>
          runStep(s.guest, {
            input: bytes,
            step: { stepId: "b", handler: name, correlationId: "c" },
          }, { registry }),
      });
    }
  }
  return out;
}

/** Steps per timed sample and samples per way, by envelope size (~equal time per size). */
const SAMPLING: Record<string, { batch: number; samples: number }> = {
  "100B": { batch: 20, samples: 150 },
  "10KB": { batch: 5, samples: 150 },
  "1MB": { batch: 1, samples: 40 },
};

/**
 * Per-step medians and p90s of the three ways, sampled in alternation (one
 * batch of each way per round), so all three see the same load on a shared
 * machine; ratios are of medians measured in this run.
 */
async function percentiles(scale: number): Promise<void> {
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)];
  const fmt = (ms: number) => ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} µs`;
  console.log(
    "| handler   | size    | native p50 / p90 | wasm p50 / p90 | runtime p50 / p90 | wasm / native | runtime / native |",
  );
  console.log(
    "| --------- | ------- | ---------------- | -------------- | ----------------- | ------------- | ---------------- |",
  );
  for (const c of await cases()) {
    const { batch, samples } = SAMPLING[c.size];
    const rounds = Math.max(5, Math.round(samples * scale));
    const times: Record<"native" | "wasm" | "runtime", number[]> = {
      native: [],
      wasm: [],
      runtime: [],
    };
    for (let r = -Math.ceil(rounds / 5); r < rounds; r++) { // the first fifth warms up
      for (const way of ["native", "wasm", "runtime"] as const) {
        const start = performance.now();
        for (let i = 0; i < batch; i++) await c[way]();
        if (r >= 0) times[way].push((performance.now() - start) / batch);
      }
    }
    const cell = (xs: number[]) => `${fmt(q(xs, 0.5))} / ${fmt(q(xs, 0.9))}`;
    const ratio = (xs: number[]) => (q(xs, 0.5) / q(times.native, 0.5)).toFixed(2);
    console.log(
      `| ${c.name.padEnd(9)} | ${c.size.padEnd(7)} | ${cell(times.native)} | ${
        cell(times.wasm)
      } | ${cell(times.runtime)} | ${ratio(times.wasm)} | ${ratio(times.runtime)} |`,
    );
  }
}

if (import.meta.main && Deno.args[0] === "--percentiles") {
  await percentiles(Number(Deno.args[1] ?? 1));
} else {
  for (const c of await cases()) {
    const group = `${c.name} ${c.size} (${c.bytes} B)`;
    Deno.bench({ name: `${c.name} ${c.size} native`, group, baseline: true }, c.native);
    Deno.bench({ name: `${c.name} ${c.size} wasm`, group }, c.wasm);
    Deno.bench({ name: `${c.name} ${c.size} runtime`, group }, async () => {
      await c.runtime();
    });
  }
}
