/**
 * The config (`handler.initialization`) of the `transform` catalog handler.
 * `deno task catalog:build` turns it into `config_schema.json` and the
 * embedded `config_schema.gen.ts`.
 *
 * @module
 */
import { z } from "zod";

/**
 * Config of `transform`: a jq filter over the whole envelope, an optional
 * JSON Schema for its result, and how many outputs it may produce.
 *
 * @example
 * ```ts
 * import { configSchema } from "./config_schema.ts";
 * configSchema.parse({ filter: "{id: .context.order.id}", outputs: "single" });
 * ```
 */
export const configSchema = z.strictObject({
  filter: z.string().min(1).describe(
    "jq filter (jq 1.6 subset) run on the whole envelope {context, deps, step, config}",
  ),
  output_schema: z.record(z.string(), z.unknown()).optional().describe(
    "JSON Schema (draft 2020-12) the result must satisfy; a violation fails the step with output_invalid",
  ),
  outputs: z.enum(["single", "array"]).default("single").describe(
    '"single": the filter must produce exactly one output, which is the result (otherwise jq_cardinality); "array": every output, in order, as an array',
  ),
});

/** A parsed `transform` config. */
export type TransformConfig = z.infer<typeof configSchema>;
