/// <reference path="./portable.d.ts" />
/**
 * jq as catalog handlers use it in their configs: compile a filter named by
 * its config path, run it on a value, and turn compile and runtime errors
 * into coded, non-retryable handler failures that name the config field.
 */
import { HandlerResult } from "./handler_result.ts";
import { JsonValue } from "./json_value.ts";
import { compileJq, JqProgram } from "./jq/compile_jq.ts";
import { runJq } from "./jq/run_jq.ts";

/** A compiled config filter, or the failure to return. */
export class ConfigFilter {
  program: JqProgram | null = null;
  failure: HandlerResult | null = null;
  /** The config path, e.g. `config.rules[2].when`, for messages. */
  field: string;

  constructor(field: string) {
    this.field = field;
  }
}

/** The outputs of running a config filter, or the failure to return. */
export class FilterRun {
  outputs: Array<JsonValue> = new Array<JsonValue>();
  failure: HandlerResult | null = null;
}

function errorDetails(field: string, source: string, offset: i32): JsonValue {
  const d = JsonValue.object();
  d.set("field", JsonValue.string(field));
  d.set("filter", JsonValue.string(source));
  if (offset >= 0) d.set("offset", JsonValue.number(f64(offset)));
  return d;
}

/**
 * Compiles the jq filter at config path `field`. Syntax errors fail with
 * `jq_syntax`, constructs outside the supported subset with `jq_unsupported`.
 */
export function compileConfigFilter(field: string, source: string): ConfigFilter {
  const out = new ConfigFilter(field);
  // No outside $variables: an undefined one is a compile error, not a runtime surprise.
  const compiled = compileJq(source, new Array<string>());
  const error = compiled.error;
  if (error != null) {
    const code = error.code == "unsupported" ? "jq_unsupported" : "jq_syntax";
    out.failure = HandlerResult.fail(
      code,
      "Cannot compile " + field + ": " + error.message,
      false,
      errorDetails(field, source, error.offset),
    );
    return out;
  }
  out.program = compiled.program;
  return out;
}

/** Runs a compiled config filter on `input`; runtime errors fail with `jq_runtime`. */
export function runConfigFilter(filter: ConfigFilter, source: string, input: JsonValue): FilterRun {
  const out = new FilterRun();
  const r = runJq(filter.program!, input);
  const error = r.error;
  if (error != null) {
    out.failure = HandlerResult.fail(
      "jq_runtime",
      "Cannot evaluate " + filter.field + ": " + error.message,
      false,
      errorDetails(filter.field, source, error.offset),
    );
    return out;
  }
  out.outputs = r.outputs;
  return out;
}

/**
 * Compiles and runs `source` on `input`, requiring exactly one output
 * (`jq_cardinality` otherwise). Returns the value, or sets `failure`.
 */
export function evalOne(field: string, source: string, input: JsonValue): FilterRun {
  const filter = compileConfigFilter(field, source);
  if (filter.failure != null) {
    const out = new FilterRun();
    out.failure = filter.failure;
    return out;
  }
  const run = runConfigFilter(filter, source, input);
  if (run.failure == null && run.outputs.length != 1) {
    run.failure = HandlerResult.fail(
      "jq_cardinality",
      "Cannot use " + field + " as it produced " + run.outputs.length.toString() +
        " outputs; expected exactly one",
      false,
      errorDetails(field, source, -1),
    );
  }
  return run;
}
