/**
 * A step definition: one entry of a Tasker task template's `steps[]`
 * (`named_tasks.configuration`), validated with zod.
 *
 * Only what a worker reads is checked strictly — `handler.callable` (which
 * guest to run), `handler.initialization` (its config), `type`, `retry`,
 * `timeout_seconds`; other keys Tasker templates carry (`description`,
 * `publishes_events`, `batch_config`, ...) pass through untouched.
 *
 * @module
 */
import { z } from "zod";
import { formatPath } from "../manifest/format_issues.ts";

/** Tasker's step types (`StepType`, snake_case). */
export const STEP_TYPES = [
  "standard",
  "decision",
  "deferred_convergence",
  "batchable",
  "batch_worker",
] as const;

/** A Tasker step type. */
export type StepType = typeof STEP_TYPES[number];

const JsonObject = z.record(z.string(), z.unknown());

/** The zod schema of a template step definition. */
export const StepDefinitionSchema = z.looseObject({
  name: z.string().min(1),
  handler: z.looseObject({
    callable: z.string().min(1),
    method: z.string().nullish(),
    resolver: z.string().nullish(),
    // Tasker's templates default a missing initialization to {}.
    initialization: JsonObject.nullish().transform((v) => v ?? {}),
  }),
  type: z.enum(STEP_TYPES).nullish().transform((v) => v ?? "standard"),
  dependencies: z.array(z.string()).nullish().transform((v) => v ?? []),
  retry: z.looseObject({
    retryable: z.boolean().optional(),
    max_attempts: z.int().min(0).max(2 ** 31 - 1).optional(),
    backoff: z.string().optional(),
    backoff_base_ms: z.int().min(0).nullish(),
    max_backoff_ms: z.int().min(0).nullish(),
  }).nullish().transform((v) => v ?? undefined),
  timeout_seconds: z.int().positive().max(2 ** 32 - 1).nullish().transform((v) => v ?? undefined),
});

/** A validated step definition. */
export type StepDefinition = z.output<typeof StepDefinitionSchema>;

/** The result of {@link parseStepDefinition}. */
export type ParsedStepDefinition =
  | { ok: true; definition: StepDefinition }
  | { ok: false; issues: string[] };

/**
 * Validates one template step definition; on failure lists every problem as
 * `path: message` (e.g. `handler.callable: expected string, received undefined`).
 *
 * @example
 * ```ts
 * import { parseStepDefinition } from "./step_definition.ts";
 * const parsed = parseStepDefinition({ name: "shape", handler: { callable: "catalog.transform" } });
 * console.assert(parsed.ok && parsed.definition.type === "standard");
 * console.assert(parsed.ok && Object.keys(parsed.definition.handler.initialization).length === 0);
 * ```
 */
export function parseStepDefinition(value: unknown): ParsedStepDefinition {
  const parsed = StepDefinitionSchema.safeParse(value);
  if (parsed.success) return { ok: true, definition: parsed.data };
  return {
    ok: false,
    issues: parsed.error.issues.map((i) => `${formatPath(i.path) || "(root)"}: ${i.message}`),
  };
}
