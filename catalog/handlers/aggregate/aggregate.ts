/// <reference path="../../core/portable.d.ts" />
/**
 * `aggregate`: combines the results of dependency steps, typically the
 * deferred convergence step after a fan-out. It reads the listed
 * dependencies (or all of them, in envelope order), applies the `path` jq
 * filter to each result, and combines every value the filter outputs:
 *
 * - `merge`: objects merged left to right, shallowly (a later key replaces an
 *   earlier one's value and keeps its position, like jq's `+`); none → `{}`.
 * - `concat`: arrays concatenated; none → `[]`.
 * - `sum`: numbers added left to right; none → 0; an overflow to ±Infinity
 *   fails with `aggregate_overflow` (JSON has no infinities).
 * - `min` / `max`: numbers; the first of equal values wins; none → null.
 * - `count`: how many values were selected.
 * - `reduce`: the `reducer` jq filter run over the array of values.
 *
 * The result is `{result, count, steps}`: the aggregate, the number of
 * values combined, and the dependency names read.
 *
 * Portable AssemblyScript: the same source is the wasm guest and the native
 * handler.
 */
import { checkConfig } from "../../core/config_check.ts";
import { Envelope } from "../../core/envelope.ts";
import { compileConfigFilter, ConfigFilter, runConfigFilter } from "../../core/handler_jq.ts";
import { HandlerResult } from "../../core/handler_result.ts";
import { JsonValue } from "../../core/json_value.ts";
import { quoteJsonString } from "../../core/json_write.ts";
import { SchemaError, schemaErrorsJson } from "../../core/json_schema/schema_error.ts";
import { CONFIG_SCHEMA_JSON } from "./config_schema.gen.ts";

/** Step names longer than this are cut in messages (details keep them whole). */
const NAME_IN_MESSAGE: i32 = 64;

/** A step name as a JSON string literal for messages, cut to a readable length. */
function quoteName(name: string): string {
  if (name.length <= NAME_IN_MESSAGE) return quoteJsonString(name);
  return quoteJsonString(name.substring(0, NAME_IN_MESSAGE)) + "...";
}

/** A config rule the JSON Schema cannot state, failing like `checkConfig`. */
function configRule(instancePath: string, keyword: string, message: string): HandlerResult {
  const errors = new Array<SchemaError>();
  errors.push(new SchemaError(instancePath, "", keyword, message));
  const details = JsonValue.object();
  details.set("errors", schemaErrorsJson(errors));
  const where = instancePath.length > 0 ? "config" + instancePath : "config";
  return HandlerResult.fail(
    "config_invalid",
    "Cannot run the handler as its config is invalid: " + where + " " + message,
    false,
    details,
  );
}

/** The selected values and, parallel to them, the step each came from. */
class Selection {
  values: Array<JsonValue> = new Array<JsonValue>();
  from: Array<string> = new Array<string>();
  /** Dependency names read, in order. */
  steps: Array<string> = new Array<string>();
  failure: HandlerResult | null = null;
}

/** Checks the rules between fields; null when the config is usable. */
function checkRules(config: JsonValue, mode: string): HandlerResult | null {
  const reducer = config.get("reducer");
  if (mode == "reduce" && reducer == null) {
    return configRule(
      "",
      "required",
      "must have required property 'reducer' when mode is \"reduce\"",
    );
  }
  if (mode != "reduce" && reducer != null) {
    return configRule("/reducer", "mode", 'is only allowed when mode is "reduce"');
  }
  const steps = config.get("steps");
  if (steps != null) {
    const items = steps.items!;
    for (let i = 1; i < items.length; i++) {
      for (let j = 0; j < i; j++) {
        if (items[j].str == items[i].str) {
          return configRule(
            "/steps/" + i.toString(),
            "uniqueItems",
            "must not repeat step " + quoteName(items[i].str) + " (also at /steps/" +
              j.toString() + ")",
          );
        }
      }
    }
  }
  return null;
}

/** The dependency names to read, or the failure (missing steps, bad deps). */
function selectSteps(config: JsonValue, deps: JsonValue, out: Selection): void {
  const listed = config.get("steps");
  if (listed == null) {
    if (deps.isObject()) {
      const keys = deps.keys!;
      for (let i = 0; i < keys.length; i++) out.steps.push(keys[i]);
    }
    return;
  }
  const missingMode = config.get("missing");
  const skip = missingMode != null && missingMode.str == "skip";
  const missing = new Array<JsonValue>();
  const names = listed.items!;
  for (let i = 0; i < names.length; i++) {
    const name = names[i].str;
    if (deps.isObject() && deps.has(name)) out.steps.push(name);
    else missing.push(names[i]);
  }
  if (missing.length == 0 || skip) return;
  const details = JsonValue.object();
  details.set("missing", JsonValue.array(missing));
  const more = missing.length > 1 ? " (and " + (missing.length - 1).toString() + " more)" : "";
  out.failure = HandlerResult.fail(
    "dependency_missing",
    "Cannot aggregate step " + quoteName(missing[0].str) + more +
      " as it is not among the step's dependency results",
    false,
    details,
  );
}

/** Applies `path` to each dependency result; null filter = identity. */
function selectValues(
  deps: JsonValue,
  filter: ConfigFilter | null,
  source: string,
  out: Selection,
): void {
  for (let i = 0; i < out.steps.length; i++) {
    const name = out.steps[i];
    const result = deps.get(name)!;
    if (filter == null) {
      out.values.push(result);
      out.from.push(name);
      continue;
    }
    const run = runConfigFilter(filter, source, result);
    const failure = run.failure;
    if (failure != null) {
      const details = failure.error!.details;
      if (details != null) details.set("step", JsonValue.string(name));
      out.failure = failure;
      return;
    }
    const outputs = run.outputs;
    for (let k = 0; k < outputs.length; k++) {
      out.values.push(outputs[k]);
      out.from.push(name);
    }
  }
}

function typeFailure(mode: string, expected: string, sel: Selection, i: i32): HandlerResult {
  const value = sel.values[i];
  const details = JsonValue.object();
  details.set("step", JsonValue.string(sel.from[i]));
  details.set("index", JsonValue.number(f64(i)));
  details.set("type", JsonValue.string(value.typeName()));
  details.set("expected", JsonValue.string(expected));
  const article = expected == "object" || expected == "array" ? "an " : "a ";
  return HandlerResult.fail(
    "aggregate_type",
    "Cannot " + mode + " value " + i.toString() + " (from step " + quoteName(sel.from[i]) +
      ") as it is " + value.typeName() + ", not " + article + expected,
    false,
    details,
  );
}

function merge(sel: Selection): HandlerResult {
  const out = JsonValue.object();
  for (let i = 0; i < sel.values.length; i++) {
    const v = sel.values[i];
    if (!v.isObject()) return typeFailure("merge", "object", sel, i);
    const keys = v.keys!;
    const vals = v.vals!;
    for (let k = 0; k < keys.length; k++) out.set(keys[k], vals[k]);
  }
  return HandlerResult.ok(out);
}

function concat(sel: Selection): HandlerResult {
  const items = new Array<JsonValue>();
  for (let i = 0; i < sel.values.length; i++) {
    const v = sel.values[i];
    if (!v.isArray()) return typeFailure("concat", "array", sel, i);
    const src = v.items!;
    for (let k = 0; k < src.length; k++) items.push(src[k]);
  }
  return HandlerResult.ok(JsonValue.array(items));
}

function sum(sel: Selection): HandlerResult {
  let total: f64 = 0;
  for (let i = 0; i < sel.values.length; i++) {
    const v = sel.values[i];
    if (!v.isNumber()) return typeFailure("sum", "number", sel, i);
    total += v.num;
  }
  if (total != total || total == Infinity || total == -Infinity) {
    const details = JsonValue.object();
    details.set("count", JsonValue.number(f64(sel.values.length)));
    return HandlerResult.fail(
      "aggregate_overflow",
      "Cannot sum " + sel.values.length.toString() +
        " values as the total is beyond the largest JSON number",
      false,
      details,
    );
  }
  return HandlerResult.ok(JsonValue.number(total));
}

/** min (`sign` -1) or max (`sign` 1); the first of equal values wins. */
function extreme(sel: Selection, sign: i32): HandlerResult {
  const mode = sign < 0 ? "min" : "max";
  let best: JsonValue | null = null;
  for (let i = 0; i < sel.values.length; i++) {
    const v = sel.values[i];
    if (!v.isNumber()) return typeFailure(mode, "number", sel, i);
    if (best == null || (sign < 0 ? v.num < best.num : v.num > best.num)) best = v;
  }
  return HandlerResult.ok(best == null ? JsonValue.null() : best);
}

function reduce(filter: ConfigFilter, source: string, sel: Selection): HandlerResult {
  const run = runConfigFilter(filter, source, JsonValue.array(sel.values));
  if (run.failure != null) return run.failure!;
  if (run.outputs.length != 1) {
    const details = JsonValue.object();
    details.set("field", JsonValue.string("config.reducer"));
    details.set("filter", JsonValue.string(source));
    return HandlerResult.fail(
      "jq_cardinality",
      "Cannot use config.reducer as it produced " + run.outputs.length.toString() +
        " outputs; expected exactly one",
      false,
      details,
    );
  }
  return HandlerResult.ok(run.outputs[0]);
}

function combine(
  mode: string,
  reducer: ConfigFilter | null,
  reducerSource: string,
  sel: Selection,
): HandlerResult {
  if (mode == "merge") return merge(sel);
  if (mode == "concat") return concat(sel);
  if (mode == "sum") return sum(sel);
  if (mode == "min") return extreme(sel, -1);
  if (mode == "max") return extreme(sel, 1);
  if (mode == "count") return HandlerResult.ok(JsonValue.number(f64(sel.values.length)));
  return reduce(reducer!, reducerSource, sel);
}

/**
 * Runs `aggregate` on a step envelope.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "../../native/portable_runtime.ts";
 * import { fromJs, toJs } from "../../native/js_bridge.ts";
 * import { handle } from "./aggregate.ts";
 *
 * const r = handle(fromJs({
 *   deps: { batch_001: { n: 2 }, batch_002: { n: 3 } },
 *   config: { mode: "sum", path: ".n" },
 * }));
 * const out = toJs(r.value!) as { result: number; count: number; steps: string[] };
 * assert.ok(out.result === 5 && out.count === 2 && out.steps.length === 2);
 * ```
 */
export function handle(envelope: JsonValue): HandlerResult {
  const env = new Envelope(envelope);
  const config = env.config();
  const bad = checkConfig(CONFIG_SCHEMA_JSON, config);
  if (bad != null) return bad;
  const mode = config.get("mode")!.str;
  const broken = checkRules(config, mode);
  if (broken != null) return broken;

  // Compile before reading deps, so a bad filter fails even with no deps.
  const pathValue = config.get("path");
  const pathSource = pathValue != null ? pathValue.str : ".";
  let filter: ConfigFilter | null = null;
  if (pathSource != ".") {
    filter = compileConfigFilter("config.path", pathSource);
    if (filter.failure != null) return filter.failure!;
  }
  let reducer: ConfigFilter | null = null;
  const reducerSource = mode == "reduce" ? config.get("reducer")!.str : "";
  if (mode == "reduce") {
    reducer = compileConfigFilter("config.reducer", reducerSource);
    if (reducer.failure != null) return reducer.failure!;
  }

  const deps = env.deps();
  if (!deps.isNull() && !deps.isObject()) {
    return HandlerResult.fail(
      "envelope_invalid",
      "Cannot read the dependency results as deps is " + deps.typeName() + ", not an object",
      false,
      null,
    );
  }
  const sel = new Selection();
  selectSteps(config, deps, sel);
  if (sel.failure != null) return sel.failure!;
  selectValues(deps, filter, pathSource, sel);
  if (sel.failure != null) return sel.failure!;

  const combined = combine(mode, reducer, reducerSource, sel);
  if (combined.error != null) return combined;
  const names = new Array<JsonValue>();
  for (let i = 0; i < sel.steps.length; i++) names.push(JsonValue.string(sel.steps[i]));
  const result = JsonValue.object();
  result.set("result", combined.value!);
  result.set("count", JsonValue.number(f64(sel.values.length)));
  result.set("steps", JsonValue.array(names));
  return HandlerResult.ok(result);
}
