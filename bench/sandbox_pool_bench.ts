/**
 * CPU per step of the sandbox pool alone (no database): `catalog.transform`
 * over the end-to-end bench's ~10 KB context (or a trivial filter over an
 * empty one) through `createRuntime`'s sandbox processes, with a fixed
 * number of steps in flight. Each round prints steps per second and the CPU
 * per step of this process (the broker's side: envelope bytes, frames, the
 * outcome read back) and of the sandboxes (`/proc/<pid>/stat`), so the rounds
 * show how a fresh sandbox's cost falls as it warms up.
 *
 * Commands:
 *
 *   deno bench -A bench/sandbox_pool_bench.ts     # one transform step through a warm pool
 *   deno run -A bench/sandbox_pool_bench.ts --report [--steps 3000] [--rounds 4]
 *     [--sandboxes 4] [--slots 1] [--in-flight sandboxes×slots] [--warm-up 0]
 *     [--handler transform|trivial]
 *
 * `--slots`: steps one sandbox process runs at once (`stepsPerProcess`);
 * `--in-flight`: steps the bench keeps outstanding (default sandboxes × slots;
 * more than that queue in the pool, as a broker's do when its `concurrency`
 * exceeds `max_sandboxes`).
 *
 * @module
 */
import { join } from "node:path";
import { buildHandler, CATALOG_DIR } from "../src/build/catalog_build.ts";
import { createRuntime } from "../src/create_runtime.ts";
import { countFlag, flag } from "./support/bench_flags.ts";
import { cpuDelta, cpuSnapshot } from "./support/process_cpu.ts";
import { ordersContext } from "./support/orders_context.ts";

const TRANSFORM_FILTER =
  "{orders: (.context.orders | map(select(.total > 50) | {id, total, customer: .customer.name}))}";

/** The envelope of one step (compact JSON; the broker sends the context as jsonb prints it, ~10% larger). */
function envelope(handler: "transform" | "trivial"): Uint8Array {
  const transform = handler === "transform";
  return new TextEncoder().encode(JSON.stringify({
    context: transform ? ordersContext(10_000) : {},
    deps: {},
    step: { name: "bench", attempts: 1, max_attempts: 3, inputs: {} },
    config: { filter: transform ? TRANSFORM_FILTER : "{}" },
  }));
}

/** A runtime on sandbox processes with `catalog.transform` loaded. */
async function openPool(sandboxes: number, slots: number) {
  const runtime = createRuntime({
    sandbox: {
      maxProcesses: sandboxes,
      prewarm: sandboxes,
      stepsPerProcess: slots,
      onLog: () => {},
    },
  });
  const built = await buildHandler(join(CATALOG_DIR, "handlers", "transform"));
  const guest = await runtime.load(built.binary, built.manifest, { name: "catalog.transform" });
  return { runtime, guest };
}

type Loaded = Awaited<ReturnType<typeof openPool>>;

async function step(pool: Loaded, input: Uint8Array): Promise<void> {
  const outcome = await pool.runtime.execute(pool.guest, input);
  if (outcome.status !== "completed") {
    throw new Error(`bench step failed: ${JSON.stringify(outcome.error)}`);
  }
}

/** Runs `count` steps with `inFlight` outstanding at a time. */
async function drain(pool: Loaded, input: Uint8Array, count: number, inFlight: number) {
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started++;
      await step(pool, input);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
}

async function report(): Promise<void> {
  const steps = countFlag("steps", 3000);
  const rounds = countFlag("rounds", 4);
  const sandboxes = countFlag("sandboxes", 4);
  const slots = countFlag("slots", 1);
  const inFlight = countFlag("in-flight", sandboxes * slots);
  const warmUp = countFlag("warm-up", 0, 0);
  const handler = flag("handler", "transform");
  if (handler !== "transform" && handler !== "trivial") {
    throw new Error(
      `Cannot run --handler as it is not transform or trivial: current value is ${handler}`,
    );
  }
  const pool = await openPool(sandboxes, slots);
  const input = envelope(handler);
  try {
    await step(pool, input); // the guest's profile starts its sandboxes
    if (warmUp > 0) await drain(pool, input, warmUp, inFlight);
    console.log(
      `${handler}, ${sandboxes} sandboxes × ${slots} slots, ${inFlight} in flight, ` +
        `${steps} steps per round after ${warmUp + 1}`,
    );
    console.log("| round | steps/s | CPU ms/step, this process | CPU ms/step, sandboxes |");
    console.log("| --- | --- | --- | --- |");
    for (let round = 1; round <= rounds; round++) {
      // The sandboxes are this process's children (a reaped one counts too).
      const before = cpuSnapshot();
      await drain(pool, input, steps, inFlight);
      const used = cpuDelta(before, cpuSnapshot());
      console.log(
        `| ${round} | ${(steps / used.wallMs * 1000).toFixed(0)} | ${
          (used.brokerMs / steps).toFixed(3)
        } | ${(used.sandboxesMs / steps).toFixed(3)} |`,
      );
    }
  } finally {
    await pool.runtime.close();
  }
}

if (import.meta.main && Deno.args.includes("--report")) {
  await report();
} else {
  const pool = await openPool(1, 1);
  const input = envelope("transform");
  await step(pool, input); // the guest's profile starts its sandbox
  Deno.bench("transform 10 KB through a warm sandbox", { group: "sandbox pool" }, async () => {
    await step(pool, input);
  });
}
