/**
 * The `time` capability: wall-clock and monotonic time and random bytes.
 * Every value comes from the step's clock (`ctx.clock`), never from the host
 * directly, so a replayed step (`ExecuteOptions.clock` /
 * `RunRequest.clock`) sees the same times and the same random bytes and
 * produces the same output.
 *
 * Granting `time` also lets WASI's `clock_time_get`, `clock_res_get`,
 * `random_get` and AssemblyScript's `env.seed` link; they read the same clock.
 *
 * @module
 */
import { z } from "zod";
import type { CapabilityPlugin } from "../../src/capability/capability_plugin.ts";

/** The `time` manifest section: no knobs; granting it is the decision. */
export const TimePolicySchema = z.strictObject({});
/** Parsed `time` section. */
export type TimePolicy = z.output<typeof TimePolicySchema>;

/** Most bytes one `time.random` call fills; larger requests answer `too_large`. */
export const MAX_RANDOM_BYTES = 65536;

/**
 * Creates the `time` capability plugin.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timePlugin } from "./time_plugin.ts";
 * const plugin = timePlugin();
 * assert.deepEqual(plugin.functions.wall_ns.results, ["i64"]);
 * assert.deepEqual(plugin.schema.parse({}), {});
 * ```
 */
export function timePlugin(): CapabilityPlugin<TimePolicy> {
  return {
    name: "time",
    description: "Read wall-clock and monotonic time; get random bytes (virtual when replayed)",
    schema: TimePolicySchema,
    functions: {
      wall_ms: { params: [], results: ["f64"], doc: "Milliseconds since the Unix epoch" },
      wall_ns: { params: [], results: ["i64"], doc: "Nanoseconds since the Unix epoch" },
      monotonic_ns: {
        params: [],
        results: ["i64"],
        doc: "Nanoseconds since an arbitrary start; never decreases within a step",
      },
      random: {
        params: ["i32", "i32"],
        results: ["i32"],
        doc: `Fills len bytes at ptr with random bytes; returns len, -4 above ${MAX_RANDOM_BYTES}`,
      },
    },
    defaultBudget: 100_000,
    source: { module: import.meta.url, factory: "timePlugin" },
    instantiate(ctx) {
      return {
        // Through microseconds: nanoseconds since the epoch exceed 2^53, microseconds do not.
        wall_ms: () => Number(ctx.clock.wallNs() / 1_000n) / 1_000,
        wall_ns: () => BigInt.asIntN(64, ctx.clock.wallNs()),
        monotonic_ns: () => BigInt.asIntN(64, ctx.clock.monotonicNs()),
        random: (ptr: number, len: number) => {
          const n = len >>> 0;
          if (n > MAX_RANDOM_BYTES) {
            return ctx.fail(
              "too_large",
              "random_too_large",
              `Cannot fill ${n} random bytes as one call fills at most ${MAX_RANDOM_BYTES}`,
            );
          }
          ctx.memory.view(ptr, n); // bounds check before drawing from the stream
          // Fill a copy: crypto.getRandomValues refuses views of shared memory.
          const bytes = new Uint8Array(n);
          ctx.clock.fillRandom(bytes);
          ctx.memory.write(ptr, bytes);
          return n;
        },
      };
    },
  };
}
