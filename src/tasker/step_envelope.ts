/**
 * The envelope a catalog handler reads, built from a hydrated step as text:
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
 * The catalog envelope as UTF-8 JSON bytes, what `Runtime.execute` takes as
 * a guest's input. The context and deps are spliced in as PostgreSQL printed
 * them (see {@link HydratedStep}): parsing a 10 KB context only to serialize
 * it again cost the broker ~70 µs a step, and the guest parses it anyway. So
 * a guest sees numbers as PostgreSQL prints them (`1.0`; integers past 2^53
 * exact; no exponent, so `1e400` as 401 digits, which a float parser reads as
 * Infinity where JSON.parse and JSON.stringify used to make it null) and
 * objects in jsonb's key order (JavaScript used to put integer-like keys
 * first). `deps` holds each dependency's `.result`: the stored value is a full
 * StepExecutionResult, and handlers (and templates such as
 * `${steps.<name>.result.x}`) read only the handler output inside it.
 *
 * @example
 * ```ts
 * import { buildEnvelope, type StepEnvelope } from "./step_envelope.ts";
 * import type { HydratedStep } from "./hydrate_step.ts";
 * const hydrated = {
 *   task: { contextJson: '{"order": 7}' },
 *   step: { name: "ship", attempts: 0, maxAttempts: 3, inputs: {} },
 *   definition: { handler: { callable: "catalog.transform", initialization: { filter: "." } } },
 *   depsJson: '{"load": {"rows": 2}}',
 * } as unknown as HydratedStep;
 * const bytes = buildEnvelope(hydrated, { attempts: 1 });
 * const envelope: StepEnvelope = JSON.parse(new TextDecoder().decode(bytes));
 * console.assert((envelope.deps.load as { rows: number }).rows === 2 && envelope.step.attempts === 1);
 * ```
 */
export function buildEnvelope(
  hydrated: HydratedStep,
  options: BuildEnvelopeOptions = {},
): Uint8Array {
  const step: StepEnvelope["step"] = {
    name: hydrated.step.name,
    attempts: options.attempts ?? hydrated.step.attempts + 1,
    max_attempts: hydrated.step.maxAttempts,
    inputs: hydrated.step.inputs,
  };
  return ENCODER.encode(
    `{"context":${hydrated.task.contextJson},"deps":${hydrated.depsJson},"step":${
      JSON.stringify(step)
    },"config":${JSON.stringify(hydrated.definition.handler.initialization)}}`,
  );
}

const ENCODER = new TextEncoder();
