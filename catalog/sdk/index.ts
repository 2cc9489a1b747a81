// The wasm-broker guest SDK for AssemblyScript. Import what you use; only
// the host functions your code reaches become imports of the module, so a
// guest that never calls `http` needs no `http` grant in its manifest.
//
//   import { readInputJson, writeOutput, fail, log, JsonWriter } from "../../sdk/index";
//
//   export function run(): i32 {
//     const input = readInputJson();
//     if (!input.ok) return fail("input is not JSON: " + input.error!, "bad_input");
//     log.info("hello");
//     writeOutput(new JsonWriter().beginObject().field("ok", true).endObject().toString());
//     return 0;
//   }
//
// See docs/sdk.md.
import * as http from "./http";
import * as log from "./log";
import * as secrets from "./secrets";
import * as time from "./time";

export { http, log, secrets, time };
export { fail, readInput, readInputJson, writeOutput } from "./io";
export { Errno, errnoName, HostError } from "./host_error";
export { HttpResponse, HttpResult } from "./http";
export { SecretResult } from "./secrets";
export {
  formatNumber,
  JSON_MAX_DEPTH,
  JsonKind,
  JsonResult,
  JsonValue,
  JsonWriter,
  parseJson,
  quoteJson,
} from "./json";
