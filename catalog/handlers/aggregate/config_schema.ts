/**
 * The config (`handler.initialization`) of the `aggregate` catalog handler:
 * the one definition, turned into `config_schema.json` and
 * `config_schema.gen.ts` by `deno task catalog:build`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { configSchema } from "./config_schema.ts";
 * const config = configSchema.parse({ mode: "sum", steps: ["a", "b"], path: ".total" });
 * assert.ok(config.mode === "sum");
 * ```
 *
 * @module
 */
import { z } from "zod";

/** How the selected values are combined. */
export const AGGREGATE_MODES = ["merge", "concat", "sum", "count", "min", "max", "reduce"] as const;

/** Config of `aggregate`. */
export const configSchema = z.strictObject({
  mode: z.enum(AGGREGATE_MODES).describe(
    "merge: objects merged left to right (shallow; later keys win); concat: arrays concatenated; sum, min, max: numbers; count: how many values were selected; reduce: the `reducer` jq filter over the array of values.",
  ),
  steps: z.array(z.string()).optional().describe(
    "Dependency step names to read, in this order (no duplicates). Default: every dependency in the envelope's `deps`, in envelope order.",
  ),
  path: z.string().min(1).optional().describe(
    "jq filter applied to each dependency's result; every value it outputs is aggregated (none skips that dependency). Default `.`.",
  ),
  reducer: z.string().min(1).optional().describe(
    "jq filter over the array of selected values producing the result; required for, and only allowed with, mode `reduce`. Example: `map(.n) | add / length`.",
  ),
  missing: z.enum(["error", "skip"]).optional().describe(
    "What to do when a step listed in `steps` is not in `deps`: `error` (default) fails with `dependency_missing`; `skip` leaves it out.",
  ),
}).describe("Config of the aggregate catalog handler.");

/** A parsed `aggregate` config. */
export type AggregateConfig = z.infer<typeof configSchema>;
