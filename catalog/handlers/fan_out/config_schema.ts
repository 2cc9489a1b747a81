/**
 * The config (`handler.initialization`) of the `fan_out` catalog handler: the
 * one definition, turned into `config_schema.json` and `config_schema.gen.ts`
 * by `deno task catalog:build`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { configSchema } from "./config_schema.ts";
 * const config = configSchema.parse({ items: ".context.orders", batch_size: 100, worker_template_name: "process_batch" });
 * assert.ok(config.batch_size === 100);
 * ```
 *
 * @module
 */
import { z } from "zod";

/** Most batch workers one fan-out may create (Tasker creates them in one transaction). */
export const MAX_WORKERS = 10_000;

/** Config of `fan_out`. */
export const configSchema = z.strictObject({
  items: z.string().min(1).describe(
    "jq filter over the step envelope ({context, deps, step, config}) that selects the array to split, e.g. `.context.orders`. It must produce exactly one value, and that value must be an array.",
  ),
  batch_size: z.number().int().min(1).describe(
    "Items per batch worker. The last batch holds the remainder.",
  ),
  worker_template_name: z.string().min(1).describe(
    "Name of the `batch_worker` step in the task template that Tasker instantiates once per batch (`<worker_template_name>_001`, `_002`, ...). Tasker also reads this field from `handler.initialization` itself, for the placeholder worker of `no_batches`.",
  ),
  max_workers: z.number().int().min(1).max(MAX_WORKERS).optional().describe(
    "Upper bound on the number of batch workers (at most 10000). When `batch_size` would need more, the batch size grows to ceil(total_items / max_workers). Without it, a split into more than 10000 batches fails with `too_many_batches`.",
  ),
}).describe("Config of the fan_out catalog handler.");

/** A parsed `fan_out` config. */
export type FanOutConfig = z.infer<typeof configSchema>;
