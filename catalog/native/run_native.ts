/**
 * The native build of a catalog handler: the same portable code run as
 * TypeScript in this process, as a Tasker TypeScript worker would run it.
 *
 * @module
 */
import "./portable_runtime.ts";
import { type Handler, runHandler } from "../core/run_handler.ts";

/** A handler's failure, as both builds report it. */
export interface NativeFailure {
  message: string;
  code: string;
  retryable: boolean;
  /** The failure's details JSON, when any. */
  details?: unknown;
}

/** A native run's outcome, comparable with a wasm run's. */
export type NativeOutcome =
  | { ok: true; resultJson: string }
  | { ok: false; failure: NativeFailure };

/**
 * Runs a handler on an envelope given as JSON text.
 *
 * @example
 * ```ts ignore
 * import { handle } from "../handlers/transform/transform.ts";
 * const outcome = runNative(handle, JSON.stringify({ context: { a: 1 }, config: { filter: ".context.a" } }));
 * ```
 */
export function runNative(handle: Handler, envelopeJson: string): NativeOutcome {
  const output = runHandler(handle, envelopeJson);
  const error = output.error;
  if (error === null) return { ok: true, resultJson: output.resultJson };
  const failure: NativeFailure = {
    message: error.message,
    code: error.code,
    retryable: error.retryable,
  };
  if (output.detailsJson !== "") failure.details = JSON.parse(output.detailsJson);
  return { ok: false, failure };
}
