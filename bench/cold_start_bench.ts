/**
 * Cold start and round trip of a trivial guest, three ways:
 *
 * - `instantiate`: `new WebAssembly.Instance` of a compiled module (the floor);
 * - `runStep`: a whole step in this process (fresh instance, host functions,
 *   output parsed), what a sandbox does per step;
 * - `sandbox round trip`: `SandboxPool.execute` with a warm pool: frames to a
 *   sandbox process, the step there, the outcome back.
 *
 * `deno bench -A bench/cold_start_bench.ts` prints avg/p75/p99;
 * `deno run -A bench/cold_start_bench.ts --percentiles [iterations]` prints
 * p50/p99 of each and the ratios to `instantiate`, measured in the same run.
 *
 * @module
 */
import { ioPlugin } from "../plugins/io/mod.ts";
import type { ExecuteRequest } from "../src/runtime/executor.ts";
import { prepareGuest } from "../src/runtime/prepared_guest.ts";
import { runStep } from "../src/runtime/run_step.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { SandboxPool } from "../src/sandbox/sandbox_pool.ts";
import { wat } from "../tests/support/wat.ts";

/** Writes `1` and returns: the smallest guest that completes a step. */
const TRIVIAL = wat(`(module
  (import "io" "write_output" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "1")
  (func (export "run") (result i32) (drop (call $write (i32.const 0) (i32.const 1))) (i32.const 0)))`);

let pool!: SandboxPool;
const runtime = new Runtime({
  plugins: [ioPlugin()],
  executor: (registry) => (pool = new SandboxPool({ registry, prewarm: 1, maxProcesses: 1 })),
});
const { registry } = runtime;
await pool.ready();
// The runtime only loads the guest; the bench calls the pool directly (no broker halves).
const guest = await runtime.load(TRIVIAL, { capabilities: { io: {} } }, { name: "trivial" });
const prepared = prepareGuest(TRIVIAL, guest.manifest, registry);
const input = new TextEncoder().encode('{"n":1}');
const step = { stepId: "bench", handler: "trivial", correlationId: "bench" };
const stubImports = { io: { write_output: () => 0 } };
const request: ExecuteRequest = {
  guest,
  input,
  step,
  data: {},
  timeoutMs: 5000,
};
const noBroker = () => Promise.reject(new Error("no broker calls in this bench"));

async function check(): Promise<void> {
  const outcome = await pool.execute(request, noBroker);
  if (outcome.result !== 1) throw new Error(`bench guest failed: ${JSON.stringify(outcome.error)}`);
}
await check();

const cases = {
  instantiate: () => new WebAssembly.Instance(prepared.module, stubImports),
  runStep: () => runStep(prepared, { input, step }, { registry }),
  "sandbox round trip": () => pool.execute(request, noBroker),
};

Deno.bench("instantiate", { group: "cold start", baseline: true }, () => {
  cases.instantiate();
});

Deno.bench("runStep (in process)", { group: "cold start" }, async () => {
  await cases.runStep();
});

Deno.bench("sandbox round trip (warm pool)", { group: "cold start" }, async () => {
  await cases["sandbox round trip"]();
});

/** p50 and p99 of `fn` over `iterations` runs after a warm-up, in microseconds. */
async function percentiles(
  fn: () => unknown,
  iterations: number,
): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < Math.min(2000, iterations); i++) await fn();
  const times = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    await fn();
    times[i] = performance.now() - start;
  }
  times.sort();
  const at = (q: number) => times[Math.min(iterations - 1, Math.floor(iterations * q))] * 1000;
  return { p50: at(0.5), p99: at(0.99) };
}

if (import.meta.main && Deno.args[0] === "--percentiles") {
  const iterations = Number(Deno.args[1] ?? 10_000);
  const rows: Record<string, { p50: number; p99: number }> = {};
  for (const [name, fn] of Object.entries(cases)) rows[name] = await percentiles(fn, iterations);
  const base = rows.instantiate;
  console.log(`iterations per case: ${iterations}`);
  console.log("case                  p50 µs    p99 µs   p50 ratio");
  for (const [name, { p50, p99 }] of Object.entries(rows)) {
    console.log(
      `${name.padEnd(20)} ${p50.toFixed(1).padStart(8)} ${p99.toFixed(1).padStart(9)} ${
        (p50 / base.p50).toFixed(1).padStart(9)
      }x`,
    );
  }
  await pool.close();
}
