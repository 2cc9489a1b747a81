import { runWasmHandler } from "../../wasm/run_handler.ts";
import { handle } from "./transform.ts";
export function run(): i32 {
  return runWasmHandler(handle);
}
