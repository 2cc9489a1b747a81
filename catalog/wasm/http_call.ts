// The wasm edge of the HTTP catalog handlers (AssemblyScript, not portable):
// the planned request goes to the `http.request` host function, which
// suspends the guest (JSPI) until the host has the response, checked
// against the manifest's http policy; the staged response JSON (or the
// host's error) goes to the handler's second half. The native build does
// the same with `fetch` (catalog/native/native_http.ts).
//
//   export function run(): i32 {
//     return runWasmHttpHandler(planRequest, finishRequest);
//   }
//
// The raw imports are catalog/sdk/abi/http.ts (module "http").
import * as http from "../sdk/abi/http";
import {
  beginHttpStep,
  endHttpStep,
  FinishFn,
  hostErrorOutcome,
  PlanFn,
} from "../core/http_exchange.ts";
import { HandlerOutput } from "../core/run_handler.ts";
import { failStep, readEnvelope, writeResult } from "./guest_io.ts";

/**
 * Sends a request JSON `{method, url, headers, body?}` through the host and
 * returns the outcome text: the staged response JSON `{status, headers,
 * body | body_base64, url}`, or `{"error": {errno, code, message}}` built
 * from the errno and `http.last_error`.
 */
export function callHttp(requestJson: string): string {
  const request = String.UTF8.encode(requestJson);
  const n = http.request(changetype<usize>(request), request.byteLength);
  if (n < 0) return hostErrorOutcome(n, lastError());
  const staged = new ArrayBuffer(n);
  const copied = http.read_result(changetype<usize>(staged), n);
  return String.UTF8.decodeUnsafe(changetype<usize>(staged), copied < 0 ? 0 : <usize> copied);
}

/** The `http.last_error` JSON `{code, message}` ("" when the host has none). */
function lastError(): string {
  const n = http.last_error(0, 0);
  if (n <= 0) return "";
  const buf = new ArrayBuffer(n);
  const copied = http.last_error(changetype<usize>(buf), n);
  return String.UTF8.decodeUnsafe(changetype<usize>(buf), copied < n ? <usize> copied : <usize> n);
}

/** Runs an HTTP handler as the step: plan, send, finish, report; returns run()'s status. */
export function runWasmHttpHandler(plan: PlanFn, finish: FinishFn): i32 {
  const step = beginHttpStep(plan, readEnvelope());
  let output = step.output;
  if (output == null) output = endHttpStep(step, finish, callHttp(step.plan.requestJson()));
  return report(output!);
}

function report(output: HandlerOutput): i32 {
  const error = output.error;
  if (error == null) {
    writeResult(output.resultJson);
    return 0;
  }
  failStep(error.message, error.code, error.retryable, output.detailsJson);
  return 1;
}
