/**
 * The config (`handler.initialization`) of the `gate` catalog handler: the
 * one definition, turned into `config_schema.json` and `config_schema.gen.ts`
 * by `deno task catalog:build`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { configSchema } from "./config_schema.ts";
 * const config = configSchema.parse({ approval: ".context.approval", poll_seconds: 30 });
 * assert.ok(config.poll_seconds === 30);
 * ```
 *
 * @module
 */
import { z } from "zod";

/** Longest poll interval a gate may ask for (one day). */
export const MAX_POLL_SECONDS = 86_400;

/** Config of `gate`. */
export const configSchema = z.strictObject({
  approval: z.string().min(1).describe(
    "jq filter over the step envelope ({context, deps, step, config}) that selects the approval record, e.g. `.context.approval // .deps.approve.approval`. No output or null means no approval yet; more than one output is an error.",
  ),
  approved_when: z.string().min(1).optional().describe(
    "jq filter over the approval record that must produce one boolean: true approves. Default `.approved == true`.",
  ),
  rejected_when: z.string().min(1).optional().describe(
    "jq filter over the approval record that must produce one boolean: true rejects. Default `.approved == false`.",
  ),
  poll_seconds: z.number().int().min(1).max(MAX_POLL_SECONDS).optional().describe(
    "Seconds orchestration should wait before running the gate again while the approval is pending (the backoff hint). Default 60.",
  ),
}).describe("Config of the gate catalog handler.");

/** A parsed `gate` config. */
export type GateConfig = z.infer<typeof configSchema>;
