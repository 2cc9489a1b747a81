/// <reference path="../portable.d.ts" />
/**
 * Runs a compiled jq filter on one input value and collects its outputs.
 */
import { JsonValue, Kind } from "../json_value.ts";
// deno-lint-ignore verbatim-module-syntax
import { JqProgram } from "./compile_jq.ts";
import { dumpJq } from "./jq_dump.ts";
import { JQ_RUNTIME, JqError } from "./jq_error.ts";
import { ev } from "./jq_eval.ts";
import { bindVar, CollectK, Env } from "./jq_runtime.ts";
import { JqState, OK } from "./jq_state.ts";

/** Named `$variables` for a run: `names[i]` is bound to `values[i]`. */
export class JqVars {
  names: Array<string>;
  values: Array<JsonValue>;

  constructor(names: Array<string>, values: Array<JsonValue>) {
    this.names = names;
    this.values = values;
  }
}

/**
 * The outputs of a run, in order. When `error` is set the run stopped
 * there; `outputs` holds what came before it (as jq prints them before
 * the error).
 */
export class JqRunResult {
  outputs: Array<JsonValue>;
  error: JqError | null;

  constructor(outputs: Array<JsonValue>, error: JqError | null) {
    this.outputs = outputs;
    this.error = error;
  }
}

/**
 * Runs `program` on `input`. Every `$variable` the program reads from
 * outside must be in `vars` (`$ENV` is not supported: there is no
 * environment).
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { fromJs, toJs } from "../../native/js_bridge.ts";
 * import { compileJq } from "./compile_jq.ts";
 * import { JqVars, runJq } from "./run_jq.ts";
 *
 * const program = compileJq('.items[] | select(.n > $min) | .name', ["min"]).program!;
 * const vars = new JqVars(["min"], [fromJs(1)]);
 * const r = runJq(program, fromJs({ items: [{ n: 1, name: "a" }, { n: 2, name: "b" }] }), vars);
 * console.assert(r.error === null && r.outputs.map(toJs).join() === "b");
 * ```
 */
export function runJq(
  program: JqProgram,
  input: JsonValue,
  vars: JqVars | null = null,
): JqRunResult {
  let env: Env | null = null;
  for (let i = 0; i < program.globals.length; i++) {
    const name = program.globals[i];
    let found = -1;
    if (vars != null) {
      for (let j = 0; j < vars.names.length; j++) {
        if (vars.names[j] == name) found = j;
      }
    }
    if (found < 0) {
      const e = new JqError(JQ_RUNTIME, "$" + name + " is not defined", -1);
      return new JqRunResult(new Array<JsonValue>(), e);
    }
    env = bindVar(env, program.globalIds[i], vars!.values[found]);
  }
  const st = new JqState();
  const out = new CollectK();
  const r = ev(st, program.root, input, null, env, out);
  if (r == OK) return new JqRunResult(out.items, null);
  const offset = st.errOffset;
  const value = st.take();
  const e = new JqError(JQ_RUNTIME, errorMessage(value), offset);
  e.value = value;
  return new JqRunResult(out.items, e);
}

/** jq's text for an error value: the string itself, or `(not a string): <json>`. */
export function errorMessage(value: JsonValue): string {
  if (value.kind == Kind.String) return value.str;
  return "(not a string): " + dumpJq(value);
}
