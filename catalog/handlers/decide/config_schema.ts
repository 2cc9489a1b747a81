/**
 * The config (`handler.initialization`) of the `decide` catalog handler.
 * `deno task catalog:build` turns it into `config_schema.json` and the
 * embedded `config_schema.gen.ts`.
 *
 * @module
 */
import { z } from "zod";

/**
 * A Tasker step name: non-empty and at most 128 characters
 * (`tasker.named_steps.name` is `varchar(128)`).
 */
export const stepNameSchema = z.string().min(1).max(128).describe(
  "Name of a step of the task template (non-empty, at most 128 characters)",
);

const stepNames = z.array(stepNameSchema).min(1);

/**
 * Config of `decide`: ordered rules (first match wins) and an optional
 * default.
 *
 * @example
 * ```ts
 * import { configSchema } from "./config_schema.ts";
 * configSchema.parse({
 *   rules: [{ when: ".context.amount > 1000", steps: ["manual_review"] }],
 *   default: ["auto_approve"],
 * });
 * ```
 */
export const configSchema = z.strictObject({
  rules: z.array(
    z.strictObject({
      when: z.string().min(1).describe(
        "jq filter over the envelope {context, deps, step, config}; must produce exactly one boolean",
      ),
      steps: stepNames.describe("Steps to create when this rule is the first that holds"),
    }),
  ).min(1).describe("Rules in order; the first whose `when` is true decides"),
  default: stepNames.optional().describe(
    "Steps to create when no rule holds; without it the outcome is no_branches",
  ),
});

/** A parsed `decide` config. */
export type DecideConfig = z.infer<typeof configSchema>;
