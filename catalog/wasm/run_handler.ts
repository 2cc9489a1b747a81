/**
 * The wasm entry path of every catalog handler: read the envelope with the
 * `io` capability, run the shared text path, stream the result as UTF-8 or
 * report the failure. Each handler's `wasm_main.ts` exports `run()` calling
 * this.
 */
import { Handler, runHandler } from "../core/run_handler.ts";
import { failStep, readEnvelope } from "./guest_io.ts";
import { writeResultValue } from "./json_output.ts";

/** Runs `handle` as the step; returns run()'s status (0 = success). */
export function runWasmHandler(handle: Handler): i32 {
  // The result stays a value: json_output.ts writes the same bytes as the
  // portable writer would, without building the text in guest memory first.
  const output = runHandler(handle, readEnvelope(), false);
  const error = output.error;
  if (error == null) {
    writeResultValue(output.result!);
    return 0;
  }
  failStep(error.message, error.code, error.retryable, output.detailsJson);
  return 1;
}
