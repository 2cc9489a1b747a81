// The wasm entry of `http_request`: plan, `http.request` (JSPI), finish.
import { runWasmHttpHandler } from "../../wasm/http_call.ts";
import { finishRequest, planRequest } from "./http_request.ts";

export function run(): i32 {
  return runWasmHttpHandler(planRequest, finishRequest);
}
