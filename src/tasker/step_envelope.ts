/**
 * The envelope a catalog handler reads, built from a hydrated step:
 * `{context, deps, step: {name, attempts, max_attempts, inputs}, config}`
 * (see `docs/catalog/README.md`).
 *
 * @module
 */
import type { HydratedStep } from "./hydrate_step.ts";

/** What a handler receives. */
export interface StepEnvelope {
  /** The task's input (`tasks.context`). */
  context: unknown;
  /** Each dependency step's name → its result's `.result` (null when it has none). */
  deps: Record<string, unknown>;
  step: {
    /** The step's own name (`named_steps.name`). */
    name: string;
    /** Attempts including this one (the count after the claim). */
    attempts: number;
    max_attempts: number;
    /** `workflow_steps.inputs` (`{}` when null). */
    inputs: Record<string, unknown>;
  };
  /** The step definition's `handler.initialization`. */
  config: Record<string, unknown>;
}

/** Options for {@link buildEnvelope}. */
export interface BuildEnvelopeOptions {
  /**
   * The step's attempts after the claim (what `claimStep` returned). Defaults
   * to the hydrated count plus one, which is what a successful claim sets.
   */
  attempts?: number;
}

/**
 * Builds the catalog envelope. `deps` holds each dependency's `.result`: the
 * stored value is a full StepExecutionResult, and handlers (and templates such
 * as `${steps.<name>.result.x}`) read only the handler output inside it.
 *
 * @example
 * ```ts
 * import { buildEnvelope } from "./step_envelope.ts";
 * import type { HydratedStep } from "./hydrate_step.ts";
 * const hydrated = {
 *   task: { context: { order: 7 } },
 *   step: { name: "ship", attempts: 0, maxAttempts: 3, inputs: {} },
 *   definition: { handler: { callable: "catalog.transform", initialization: { filter: "." } } },
 *   dependencies: { load: { success: true, result: { rows: 2 } } },
 * } as unknown as HydratedStep;
 * const envelope = buildEnvelope(hydrated, { attempts: 1 });
 * console.assert(envelope.deps.load !== undefined);
 * console.assert((envelope.deps.load as { rows: number }).rows === 2 && envelope.step.attempts === 1);
 * ```
 */
export function buildEnvelope(
  hydrated: HydratedStep,
  options: BuildEnvelopeOptions = {},
): StepEnvelope {
  const deps: Record<string, unknown> = {};
  for (const [name, stored] of Object.entries(hydrated.dependencies)) {
    deps[name] = isObject(stored) && stored.result !== undefined ? stored.result : null;
  }
  return {
    context: hydrated.task.context ?? null,
    deps,
    step: {
      name: hydrated.step.name,
      attempts: options.attempts ?? hydrated.step.attempts + 1,
      max_attempts: hydrated.step.maxAttempts,
      inputs: hydrated.step.inputs,
    },
    config: hydrated.definition.handler.initialization,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
