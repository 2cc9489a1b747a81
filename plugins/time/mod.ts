/**
 * The `time` capability plugin: clocks and randomness from the step's clock,
 * virtual (deterministic) when a step is replayed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timePlugin } from "./mod.ts";
 * assert.equal(timePlugin().name, "time");
 * ```
 *
 * @module
 */
export { MAX_RANDOM_BYTES, timePlugin, type TimePolicy, TimePolicySchema } from "./time_plugin.ts";
