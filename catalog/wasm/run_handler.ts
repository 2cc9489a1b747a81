/**
 * The wasm entry path of every catalog handler: read the envelope with the
 * `io` capability, run the shared text path, write the result or report the
 * failure. Each handler's `wasm_main.ts` exports `run()` calling this.
 */
import { Handler, runHandler } from "../core/run_handler.ts";
import { failStep, readEnvelope, writeResult } from "./guest_io.ts";

/** Runs `handle` as the step; returns run()'s status (0 = success). */
export function runWasmHandler(handle: Handler): i32 {
  const output = runHandler(handle, readEnvelope());
  const error = output.error;
  if (error == null) {
    writeResult(output.resultJson);
    return 0;
  }
  failStep(error.message, error.code, error.retryable, output.detailsJson);
  return 1;
}
