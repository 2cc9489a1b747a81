import { runWasmHandler } from "../../wasm/run_handler.ts";
import { handle } from "./fan_out.ts";
export function run(): i32 {
  return runWasmHandler(handle);
}
