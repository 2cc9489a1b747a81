/**
 * The config (`handler.initialization`) of the `assert` catalog handler.
 * `deno task catalog:build` turns it into `config_schema.json` and the
 * embedded `config_schema.gen.ts`.
 *
 * @module
 */
import { z } from "zod";

/**
 * Config of `assert`: jq conditions, how many must hold, and the failure
 * message.
 *
 * @example
 * ```ts
 * import { configSchema } from "./config_schema.ts";
 * configSchema.parse({ conditions: [".context.total > 0"], quantifier: "all" });
 * ```
 */
export const configSchema = z.strictObject({
  conditions: z.array(z.string().min(1)).min(1).describe(
    "jq filters over the envelope {context, deps, step, config}; each must produce exactly one boolean",
  ),
  quantifier: z.enum(["all", "any", "none"]).default("all").describe(
    '"all": every condition must be true; "any": at least one; "none": none may be true',
  ),
  message: z.string().min(1).max(1000).optional().describe(
    "Failure message when the assertion does not hold (default: names the quantifier and the conditions that decided it)",
  ),
});

/** A parsed `assert` config. */
export type AssertConfig = z.infer<typeof configSchema>;
