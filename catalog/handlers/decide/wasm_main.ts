import { runWasmHandler } from "../../wasm/run_handler.ts";
import { handle } from "./decide.ts";
export function run(): i32 {
  return runWasmHandler(handle);
}
