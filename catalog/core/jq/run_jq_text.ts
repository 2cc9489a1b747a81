/// <reference path="../portable.d.ts" />
/**
 * Text in, text out: compiles a filter, parses the input JSON, runs, and
 * reports the outputs as jq prints them. Both builds produce the same bytes,
 * so tests compare the wasm build with the native one (and with jq).
 */
import { parseJson } from "../json_parse.ts";
import { JsonValue } from "../json_value.ts";
import { compileJq } from "./compile_jq.ts";
import { dumpInto, quoteInto } from "./jq_dump.ts";
import { JQ_SYNTAX, JqError } from "./jq_error.ts";
import { runJq } from "./run_jq.ts";

/**
 * Runs `filter` on the JSON text `input` and reports
 * `{"outputs":[…],"error":null|{"code","message","offset"}}`, outputs in
 * jq's own text form (so `1e1000` reads back as jq prints it).
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { runJqText } from "./run_jq_text.ts";
 * console.assert(runJqText(".a, .b", '{"a":1,"b":[2]}') === '{"outputs":[1,[2]],"error":null}');
 * ```
 */
export function runJqText(filter: string, input: string): string {
  const compiled = compileJq(filter);
  if (compiled.error != null) return report(new Array<JsonValue>(), compiled.error);
  const parsed = parseJson(input);
  if (parsed.error != null) {
    return report(new Array<JsonValue>(), new JqError(JQ_SYNTAX, "input: " + parsed.error!, -1));
  }
  const r = runJq(compiled.program!, parsed.value!);
  return report(r.outputs, r.error);
}

function report(outputs: Array<JsonValue>, error: JqError | null): string {
  const parts = new Array<string>();
  parts.push('{"outputs":[');
  for (let i = 0; i < outputs.length; i++) {
    if (i > 0) parts.push(",");
    dumpInto(outputs[i], parts);
  }
  parts.push('],"error":');
  if (error == null) {
    parts.push("null");
  } else {
    parts.push('{"code":');
    quoteInto(error.code, parts);
    parts.push(',"message":');
    quoteInto(error.message, parts);
    parts.push(',"offset":');
    parts.push(error.offset.toString());
    parts.push("}");
  }
  parts.push("}");
  return parts.join("");
}
