// The wasm entry of `notify`: plan, `http.request` (JSPI), finish.
import { runWasmHttpHandler } from "../../wasm/http_call.ts";
import { finishNotify, planNotify } from "./notify.ts";

export function run(): i32 {
  return runWasmHttpHandler(planNotify, finishNotify);
}
