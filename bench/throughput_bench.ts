/**
 * Catalog throughput: native vs WASM for `transform`, `validate` and
 * `aggregate` at ~100 B, ~10 KB and ~1 MB envelopes, a fresh instance per
 * step, measured in the same run.
 *
 *   deno bench -A bench/throughput_bench.ts
 *
 * Three ways to run a step are compared:
 * - `native`: the portable handler run as TypeScript (envelope text → result text);
 * - `wasm`: the same handler's wasm build, a fresh `WebAssembly.Instance` per
 *   step with the `io` imports wired straight to buffers (envelope bytes →
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
import { prepareGuest } from "../src/runtime/prepared_guest.ts";
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
  module: WebAssembly.Module;
  guest: Awaited<ReturnType<typeof prepareGuest>>;
}

async function subject(name: string, registry: CapabilityRegistry): Promise<Subject> {
  const dir = join(CATALOG_DIR, "handlers", name);
  const built = await buildHandler(dir);
  const native = (await import(join(dir, `${name}.ts`))).handle as Handler;
  const manifest = parseManifest(built.manifest, registry);
  return {
    native,
    module: new WebAssembly.Module(built.binary),
    guest: prepareGuest(built.binary, manifest, registry, { name }),
  };
}

/** One step of the wasm build with the io imports wired straight to buffers. */
export function runGuestRaw(module: WebAssembly.Module, input: Uint8Array): Uint8Array {
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
  if (chunks.length === 1) return chunks[0];
  // The wasm build streams large results in several writes; the host concatenates them.
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

{
  const registry = new CapabilityRegistry(builtinPlugins());
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
      const group = `${name} ${size} (${bytes.length} B)`;
      const check = runNative(s.native, text);
      if (!check.ok) throw new Error(`${group}: native failed: ${JSON.stringify(check.failure)}`);
      Deno.bench({ name: `${name} ${size} native`, group, baseline: true }, () => {
        runNative(s.native, text);
      });
      Deno.bench({ name: `${name} ${size} wasm`, group }, () => {
        runGuestRaw(s.module, bytes);
      });
      Deno.bench({ name: `${name} ${size} runtime`, group }, async () => {
        await runStep(s.guest, {
          input: bytes,
          step: { stepId: "b", handler: name, correlationId: "c" },
        }, {
          registry,
        });
      });
    }
  }
}
