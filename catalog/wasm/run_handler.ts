/**
 * The wasm entry path of every catalog handler: read the envelope with the
 * `io` capability, parse it, and after the handler stream the result as UTF-8
 * or report the failure. Each handler's `wasm_main.ts` exports `run()`:
 *
 *   export function run(): i32 {
 *     const envelope = wasmEnvelope();
 *     return envelope == null ? 1 : wasmFinish(handle(envelope!));
 *   }
 *
 * `handle` is called directly there rather than passed in: a function passed
 * as a value is called through a function table, which V8 creates for every
 * instance (~0.6 µs per step, each step being a fresh instance).
 */
import { HandlerOutput, handlerOutput, parseEnvelope } from "../core/run_handler.ts";
import { HandlerResult } from "../core/handler_result.ts";
import { JsonValue } from "../core/json_value.ts";
import { failStep, readEnvelope } from "./guest_io.ts";
import { writeResultValue } from "./json_output.ts";

/** The step's envelope, or null once the failure to parse it is reported (run() returns 1). */
export function wasmEnvelope(): JsonValue | null {
  const parsed = parseEnvelope(readEnvelope());
  if (parsed.failure != null) {
    report(parsed.failure!);
    return null;
  }
  return parsed.envelope;
}

/** Writes the handler's result or reports its failure; returns run()'s status (0 = success). */
export function wasmFinish(result: HandlerResult): i32 {
  // The result stays a value: json_output.ts writes the same bytes as the
  // portable writer would, without building the text in guest memory first.
  const output = handlerOutput(result, false);
  if (output.error == null) {
    writeResultValue(output.result!);
    return 0;
  }
  report(output);
  return 1;
}

function report(output: HandlerOutput): void {
  const error = output.error!;
  failStep(error.message, error.code, error.retryable, output.detailsJson);
}
