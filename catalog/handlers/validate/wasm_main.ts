import { wasmEnvelope, wasmFinish } from "../../wasm/run_handler.ts";
import { handle } from "./validate.ts";
export function run(): i32 {
  const envelope = wasmEnvelope();
  return envelope == null ? 1 : wasmFinish(handle(envelope!));
}
