/**
 * The config (`handler.initialization`) of the `validate` catalog handler.
 * `deno task catalog:build` turns it into `config_schema.json` and the
 * embedded `config_schema.gen.ts`.
 *
 * @module
 */
import { z } from "zod";

/**
 * Config of `validate`: the JSON Schema, which value to check, and what a
 * violation does.
 *
 * @example
 * ```ts
 * import { configSchema } from "./config_schema.ts";
 * configSchema.parse({ schema: { type: "object", required: ["id"] }, on_failure: "warn" });
 * ```
 */
export const configSchema = z.strictObject({
  schema: z.record(z.string(), z.unknown()).describe(
    "JSON Schema (draft 2020-12) the selected value must satisfy",
  ),
  select: z.string().min(1).default(".context").describe(
    "jq filter over the envelope {context, deps, step, config} that picks the value to validate; it must produce exactly one output",
  ),
  on_failure: z.enum(["error", "warn", "skip"]).default("error").describe(
    '"error": fail the step with validation_failed; "warn": complete with {valid: false, value, errors}; "skip": complete with {valid: false, skipped: true, error_count}',
  ),
  coerce: z.boolean().default(false).describe(
    'Convert scalars to the schema\'s type where ajv\'s coerceTypes would ("42" to 42, "true" to true, ...); the result carries the converted value',
  ),
  filter_extra: z.boolean().default(false).describe(
    "Remove the properties that additionalProperties: false forbids instead of reporting them (ajv's removeAdditional)",
  ),
  assert_formats: z.boolean().default(false).describe(
    "Check format (date-time, date, time, email, ipv4, ipv6, uri, uuid) instead of treating it as an annotation",
  ),
});

/** A parsed `validate` config. */
export type ValidateConfig = z.infer<typeof configSchema>;
